/**
 * A remote run's outputs as git objects (decision 0023): when the host has
 * git, the files the run created or changed (the same list as the tar path's)
 * go into the host's object store, <remote_dir>/store.git, as a tree O under
 * a commit C (fixed author and date: the same outputs make the same commit),
 * kept by refs/outputs/<run id>. What comes back is a thin pack of C against
 * the earlier outputs commits this clone also holds, so a checkpoint that
 * differs little from the last one, or a repeated file, costs little.
 *
 * The host is not trusted: the pack goes into a quarantine
 * (src/git/pack-receive.ts); the commit must hold the tree the host named,
 * the tree must be complete and hold exactly the files the host listed, each
 * path, link, mode and size passes the tar path's checks (src/git/ingest.ts),
 * then the rule of outputs (src/git/outputs.ts) makes the outputs tree. Only
 * then does anything reach the user's object store.
 */
import { Readable } from 'node:stream';
import type { Repo } from '../../git/repo.js';
import { DEFAULT_LIMITS, checkEntryPath, checkLinkTarget, type IngestLimits } from '../../git/ingest.js';
import { outputsFromCandidates, refusedOutputs, type Candidate, type OutputRules } from '../../git/outputs.js';
import { PackRefused, packedTree, presentObjects, receivePack, type Quarantine } from '../../git/pack-receive.js';
import { readBlob } from '../../git/objects.js';
import type { HostShell } from '../../transport/shell.js';
import { shQuote } from '../../util/shell.js';
import type { RunView } from '../../store/runs.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';
import { initStore, outputRef, storePath } from './store.js';


/** Earlier outputs commits offered as bases, most recent first: a thin pack needs only the last few. */
const MAX_HAVES = 32;

/** Above this, an answer gets a stream of its own rather than the control shell (as the tar path). */
const SMALL = 16 * 2 ** 20;

export interface ObjectsResult {
  /** The outputs tree (null: none), or 'fallback' when the tar path must be taken (an output for LFS). */
  tree: string | null | 'fallback';
  /** Bytes of pack that came back. */
  bytes: number;
}

/** The shell words that name the store in "$S" (relative paths from $HOME) and define g, the store's git with settings a host's config must not change. */
const storeWords = (base: string) =>
  [
    `S=${shQuote(storePath(base))}; case "$S" in /*) ;; *) S="$HOME/$S" ;; esac`,
    // No filters, no end-of-line conversion, the executable bit and links as they are: the bytes the run wrote.
    // Loose objects uncompressed: pack-objects compresses them again for the wire anyway (a 20 MB output: 0.13 s of CPU instead of 0.7).
    `g() { git -c gc.auto=0 -c maintenance.auto=false -c core.fileMode=true -c core.symlinks=true -c core.autocrlf=false -c core.safecrlf=false -c core.fsmonitor=false -c core.bigFileThreshold=2g -c core.looseCompression=0 --git-dir="$S" "$@"; }`,
  ].join('\n');

/** The store made on first use (./store.ts: two runs making it at once are harmless). */
const ensureStore = [
  `{ ${initStore('"$S"')}; } || exit 1`,
  // The user's attributes (a filter=lfs in the run's .gitattributes, a host's global lfs filter) must not change what is stored: info/attributes comes first.
  `a='* -text -eol -filter -ident -working-tree-encoding'`,
  `[ "$(cat "$S/info/attributes" 2>/dev/null)" = "$a" ] || { mkdir -p "$S/info" && printf '%s\\n' "$a" > "$S/info/attributes.$$" && mv -f "$S/info/attributes.$$" "$S/info/attributes"; } || exit 1`,
].join('\n');

const IDENT = ['GIT_AUTHOR_NAME=git-run', 'GIT_AUTHOR_EMAIL=git-run@localhost', "GIT_AUTHOR_DATE='@0 +0000'", 'GIT_COMMITTER_NAME=git-run', 'GIT_COMMITTER_EMAIL=git-run@localhost', "GIT_COMMITTER_DATE='@0 +0000'"].join(' ');

/** Store the listed files ("$R/changed") as commit C; print "objects C O", the earlier outputs commits (most recent first), "end", then the list itself. */
function storeScript(prologue: string, base: string, id: string): string {
  return [
    prologue,
    storeWords(base),
    ensureStore,
    `cd "$R/work" || exit 1`,
    `export GIT_INDEX_FILE="$R/objects.index"; rm -f "$GIT_INDEX_FILE"`,
    `g --work-tree="$R/work" update-index --add -z --stdin < "$R/changed" || exit 1`,
    `t=$(g write-tree) && c=$(env ${IDENT} git -c gc.auto=0 --git-dir="$S" commit-tree --no-gpg-sign -m outputs "$t" </dev/null) && g update-ref ${shQuote(outputRef(id))} "$c" || exit 1`,
    `rm -f "$GIT_INDEX_FILE"; unset GIT_INDEX_FILE`,
    `echo "objects $c $t"`,
    // Loose refs by age (a cache: packed ones are not offered).
    `(cd "$S/refs/outputs" 2>/dev/null && ls -t | grep -v -x -e ${shQuote(id)} | head -n ${MAX_HAVES} | while IFS= read -r f; do head -n 1 "$f" | head -c 80; echo; done)`,
    `echo end`,
    `cat "$R/changed"`,
  ].join('\n');
}

const HEX = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** The host's answer, parsed strictly. */
function parseStore(alias: string, out: Buffer): { commit: string; tree: string; haves: string[]; list: string[] } {
  const bad = (why: string) => new GitRunError(ErrorCode.SshFailed, `collecting outputs as objects on ${alias}: ${why}`, 'check the object store under remote_dir on the host (store.git), or turn the objects path off with "outputs_objects": false');
  const endAt = out.indexOf('\nend\n');
  if (endAt < 0) throw bad('the host did not answer as expected');
  const lines = out.subarray(0, endAt).toString('latin1').split('\n');
  const m = /^objects ([0-9a-f]{40,64}) ([0-9a-f]{40,64})$/.exec(lines[0] ?? '');
  if (!m || !HEX.test(m[1]!) || !HEX.test(m[2]!)) throw bad('no commit and tree named');
  const haves = lines.slice(1).filter((l) => HEX.test(l) && l !== m[1]);
  const list = out
    .subarray(endAt + 5)
    .toString('utf8')
    .split('\0')
    .filter((p) => p !== '');
  return { commit: m[1]!, tree: m[2]!, haves, list };
}

/**
 * The objects path. `rules` are the tar path's; `lfsAbove` the size from
 * which an output is an LFS object (then 'fallback': the tar path stores it
 * as it arrives, decision 0019).
 */
export async function fetchOutputsAsObjects(conn: HostShell, repo: Repo, view: RunView, prologue: string, base: string, total: number, rules: OutputRules, lfsAbove: number | null, limits: IngestLimits = DEFAULT_LIMITS): Promise<ObjectsResult> {
  const answer = parseStore(conn.target.alias, await conn.run(storeScript(prologue, base, view.id)));
  // Every listed path meets the tar path's checks before anything is asked for.
  if (answer.list.length > limits.maxEntries) throw refusedOutputs('(list)', `more than ${limits.maxEntries} entries`);
  const listed = new Set<string>();
  for (const p of answer.list) listed.add(checkEntryPath(p, limits));
  const present = await presentObjects(repo, [answer.commit, ...answer.haves]);
  const haves = answer.haves.filter((h) => present.has(h));
  let q: Quarantine | null = null;
  try {
    if (!present.has(answer.commit)) {
      try {
        q = await fetchPack(conn, repo, prologue, base, answer.commit, haves, total, limits);
      } catch (e) {
        // A base this clone no longer holds whole (pruned): once more with none, the whole pack.
        if (!(e instanceof PackRefused) || !haves.length || /over the cap|more than/.test(e.message)) throw e;
        q = await fetchPack(conn, repo, prologue, base, answer.commit, [], total, limits);
      }
    }
    const r = q?.repo ?? repo;
    const entries = await packedTree(r, answer.commit, answer.tree);
    if (entries.length > limits.maxEntries) throw refusedOutputs('(pack)', `more than ${limits.maxEntries} entries`);
    let sum = 0;
    const candidates: Candidate[] = [];
    for (const e of entries) {
      const p = checkEntryPath(e.path, limits);
      if (p !== e.path) throw refusedOutputs(e.path, 'a path git would not write');
      if (e.mode === '160000') throw refusedOutputs(p, 'a gitlink (a submodule) is not an output');
      if (e.type !== 'blob' || !['100644', '100755', '120000'].includes(e.mode)) throw refusedOutputs(p, `an entry of mode ${e.mode} is not an output`);
      if (e.size > limits.maxEntryBytes) throw refusedOutputs(p, `${e.size} bytes, over the cap of ${limits.maxEntryBytes}`);
      sum += e.size;
      if (sum > limits.maxTotalBytes) throw refusedOutputs(p, `the outputs pass ${limits.maxTotalBytes} bytes in all`);
      if (!listed.has(p)) throw refusedOutputs(p, 'not among the files the host listed');
      if (e.mode === '120000') checkLinkTarget(p, ((await readBlob(r, e.oid)) ?? Buffer.alloc(0)).toString('utf8'));
      candidates.push({ path: p, mode: e.mode, oid: e.oid });
    }
    if (candidates.length !== listed.size) throw refusedOutputs('(pack)', `the tree holds ${candidates.length} of the ${listed.size} files the host listed`);
    if (lfsAbove !== null && entries.some((e) => e.size >= lfsAbove)) {
      await q?.discard();
      return { tree: 'fallback', bytes: q?.bytes ?? 0 };
    }
    const tree = await outputsFromCandidates(r, candidates, view.spec.code.tree, rules);
    await q?.migrate();
    return { tree, bytes: q?.bytes ?? 0 };
  } catch (e) {
    await q?.discard();
    if (e instanceof PackRefused) {
      if (!e.hostile) throw new GitRunError(ErrorCode.SshFailed, `collecting outputs as objects on ${conn.target.alias}: ${e.message}`, 'try again; the run directory is still on the host');
      throw refusedOutputs('(pack)', e.message);
    }
    throw e;
  }
}

/** A thin pack of `commit` against `haves`, into a quarantine; through the control shell when small. */
async function fetchPack(conn: HostShell, repo: Repo, prologue: string, base: string, commit: string, haves: string[], total: number, limits: IngestLimits): Promise<Quarantine> {
  const revs = [commit, ...haves.map((h) => `^${h}`)];
  // --shallow: the commits offered are bases for deltas even though none is a parent of this one.
  // One thread: the delta search does not depend on how the object list is split between threads.
  const script = [
    prologue,
    storeWords(base),
    `printf '%s\\n' ${revs.join(' ')} > "$R/objects.revs" || exit 1`,
    `echo $$ > "$R/fetch.pid"`,
    `exec git -c gc.auto=0 -c pack.threads=1 --git-dir="$S" pack-objects --stdout --revs --thin --shallow --delta-base-offset -q < "$R/objects.revs"`,
  ].join('\n');
  // The pack holds at most every listed file, its trees and the commit; its bytes the listed bytes plus pack overhead (zlib adds a little to random bytes).
  const caps = { maxBytes: Math.min(limits.maxTotalBytes, total) + Math.ceil(total / 100) + 64 * 1024 + 256 * limits.maxEntries, maxObjects: 2 * limits.maxEntries + 1 };
  if (total <= SMALL) {
    // The whole answer is here already: nothing to stop.
    return receivePack(repo, Readable.from([await conn.run(script)]), caps, () => undefined);
  }
  const ch = await conn.stream(script);
  let stderr = '';
  ch.stderr.on('data', (d: Buffer) => (stderr.length < 4096 ? (stderr += d.toString()) : undefined));
  const kill = async () => {
    ch.close();
    await conn.run(`${prologue}; p=$(cat "$R/fetch.pid" 2>/dev/null) && kill -s KILL "$p" 2>/dev/null; rm -f "$R/fetch.pid"; true`).catch(() => undefined);
  };
  let q: Quarantine;
  try {
    q = await receivePack(repo, ch.stdout, caps, () => void kill());
  } catch (e) {
    await kill();
    throw e;
  }
  const code = await ch.exited;
  if (code !== 0) {
    await q.discard();
    throw new PackRefused(`git pack-objects on the host failed (exit ${code}): ${stderr.trim()}`, false);
  }
  return q;
}
