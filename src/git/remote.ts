/**
 * Remotes: what `git run push`, `pull` and `remote` ask of git. Every
 * transfer names its refs with explicit refspecs (never the remote's
 * configured ones) and never forces a ref that holds data: run refs and the
 * notes ref only ever move forward on either side.
 * https://git-scm.com/docs/git-push https://git-scm.com/docs/git-fetch
 */
import crypto from 'node:crypto';
import type { Repo } from './repo.js';
import { spawnGit, CatFileBatch } from './gateway.js';
import { NOTES_REF, RUNS_PREFIX } from './refs.js';

/** Where a fetch or merge keeps its temporary notes refs: under refs/notes/ because `git notes --ref` only takes such names. */
const TMP_NOTES_PREFIX = 'refs/notes/git-run-tmp/';
/** Where `git run remote` makes plain `git fetch` put a remote's notes (never over the local ones: they are merged by `git run pull`). */
export const remoteNotesRef = (remote: string): string => `refs/notes/remotes/${remote}/runs`;

export interface RemoteRef {
  ref: string;
  oid: string;
}

/** The configured remotes' names. */
export async function remoteNames(repo: Repo): Promise<string[]> {
  const r = await repo.git(['remote']);
  return r.stdout.toString('utf8').split('\n').filter(Boolean);
}

/** The remote of the current branch's upstream, or null (detached HEAD, no upstream). */
export async function branchRemote(repo: Repo): Promise<string | null> {
  const b = await repo.git(['symbolic-ref', '-q', '--short', 'HEAD'], { okCodes: [1, 128] });
  if (b.code !== 0) return null;
  const branch = b.stdout.toString('utf8').trim();
  const r = await repo.git(['config', '--get', `branch.${branch}.remote`], { okCodes: [1] });
  const name = r.stdout.toString('utf8').trim();
  return r.code === 0 && name && name !== '.' ? name : null;
}

export interface TransferFailure {
  code: number;
  stderr: string;
}

/**
 * `git ls-remote` of the run refs and the notes ref. Throws nothing: a
 * remote that cannot be reached or refuses is returned as a failure (the
 * caller says it in the user's words).
 */
export async function listRemoteRuns(repo: Repo, remote: string): Promise<{ runs: RemoteRef[]; notes: string | null } | TransferFailure> {
  const r = await repo.git(['ls-remote', '--refs', remote, `${RUNS_PREFIX}*`, NOTES_REF], { okCodes: [1, 2, 128] });
  if (r.code !== 0) return { code: r.code, stderr: r.stderr };
  const runs: RemoteRef[] = [];
  let notes: string | null = null;
  for (const line of r.stdout.toString('utf8').split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const oid = line.slice(0, tab);
    const ref = line.slice(tab + 1);
    if (ref === NOTES_REF) notes = oid;
    else if (ref.startsWith(RUNS_PREFIX)) runs.push({ ref, oid });
  }
  return { runs, notes };
}

export interface TransferOptions {
  /** Called with git's progress text (stderr, as it comes) when progress is wanted. */
  progress?: (chunk: string) => void;
}

/** Run a transfer, streaming stderr to `progress` (and keeping it for the error). */
function transfer(repo: Repo, args: string[], opts: TransferOptions & { input?: string }): Promise<{ code: number; stdout: string; stderr: string }> {
  const full = opts.progress ? [args[0]!, '--progress', ...args.slice(1)] : [args[0]!, '--quiet', ...args.slice(1)];
  return new Promise((resolve, reject) => {
    // ssh and credential prompts reach the user's terminal as with git itself (core.sshCommand, the agent, a passphrase).
    const child = spawnGit(full, repo.processOptions());
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      err += d;
      opts.progress?.(d);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: out, stderr: err }));
  });
}

/**
 * Fetch these objects (tips the remote advertised, from listRemoteRuns) by
 * id, without writing any ref: the caller checks each run ref and moves it
 * by compare-and-swap. Ids go through stdin: 10,000 of them do not fit a
 * command line everywhere. A tip is fetchable by id under every protocol
 * version, since the remote advertises it.
 */
export async function fetchObjects(repo: Repo, remote: string, oids: string[], opts: TransferOptions): Promise<{ ok: true } | TransferFailure> {
  if (!oids.length) return { ok: true };
  const r = await transfer(repo, ['fetch', '--no-tags', '--no-write-fetch-head', '--no-auto-gc', '--no-recurse-submodules', '--stdin', remote], { ...opts, input: oids.join('\n') + '\n' });
  return r.code === 0 ? { ok: true } : { code: r.code, stderr: r.stderr };
}

/** Point a new temporary notes ref at `oid` (a fetched notes tip), for `git notes merge`, which takes ref names. */
export async function temporaryNotesRef(repo: Repo, oid: string): Promise<string> {
  const ref = `${TMP_NOTES_PREFIX}${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  await repo.git(['update-ref', ref, oid, '']);
  return ref;
}

/** Fetch only the remote's notes tip into a temporary ref (push, when the remote's notes moved). */
export async function fetchNotes(repo: Repo, remote: string, opts: TransferOptions): Promise<{ notesRef: string } | TransferFailure> {
  const notesRef = `${TMP_NOTES_PREFIX}${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const r = await transfer(repo, ['fetch', '--no-tags', '--no-write-fetch-head', '--no-auto-gc', '--no-recurse-submodules', remote, `+${NOTES_REF}:${notesRef}`], opts);
  if (r.code !== 0) {
    await dropTemporaryRef(repo, notesRef);
    return { code: r.code, stderr: r.stderr };
  }
  return { notesRef };
}

export async function dropTemporaryRef(repo: Repo, ref: string): Promise<void> {
  if (!ref.startsWith(TMP_NOTES_PREFIX)) return;
  await repo.git(['update-ref', '--no-deref', '-d', ref], { okCodes: [1, 128] });
}

/**
 * Merge the notes commit `theirs` into `ours` the way `git notes merge -s
 * cat_sort_uniq` does (a note both sides changed keeps the sorted union of
 * both sides' lines: metadata notes are one JSON event per line, time first,
 * so that is every edit in time order). Done on a temporary notes ref, since
 * `git notes merge` moves its ref without naming the old value; the caller
 * moves refs/notes/runs from `ours` to the result by compare-and-swap.
 * https://git-scm.com/docs/git-notes#_notes_merge_strategies
 */
export async function mergeNotes(repo: Repo, ours: string, theirsRef: string, ident: { name: string; email: string }): Promise<string> {
  const work = `${TMP_NOTES_PREFIX}merge-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  await repo.git(['update-ref', work, ours, '']);
  try {
    const who = { GIT_COMMITTER_NAME: ident.name, GIT_COMMITTER_EMAIL: ident.email, GIT_AUTHOR_NAME: ident.name, GIT_AUTHOR_EMAIL: ident.email };
    await repo.git(['notes', `--ref=${work}`, 'merge', '-q', '-s', 'cat_sort_uniq', theirsRef], { env: who });
    return (await repo.text(['rev-parse', '--verify', `${work}^{commit}`]));
  } finally {
    await dropTemporaryRef(repo, work);
  }
}

/** Is `a` an ancestor of (or equal to) `b`? False when either is missing here. */
export async function isAncestor(repo: Repo, a: string, b: string): Promise<boolean> {
  return (await repo.git(['merge-base', '--is-ancestor', a, b], { okCodes: [1, 128] })).code === 0;
}

/**
 * Push refspecs in one atomic `git push`: all of them land or none does.
 * Returns the refs the remote rejected (from --porcelain) with the reason.
 */
export async function pushRefs(repo: Repo, remote: string, refspecs: string[], opts: TransferOptions): Promise<{ ok: true } | (TransferFailure & { rejected: Array<{ ref: string; reason: string }> })> {
  const r = await transfer(repo, ['push', '--porcelain', '--atomic', '--no-verify', remote, ...refspecs], opts);
  if (r.code === 0) return { ok: true };
  const rejected: Array<{ ref: string; reason: string }> = [];
  for (const line of r.stdout.split('\n')) {
    // "!\trefs/runs/x:refs/runs/x\t[rejected] (fetch first)"
    const m = /^!\t[^:]*:([^\t]*)\t(.*)$/.exec(line);
    if (m) rejected.push({ ref: m[1]!, reason: m[2]! });
  }
  return { code: r.code, stderr: r.stderr, rejected };
}

/** The refspecs `git run remote` adds to a remote's configuration: runs both ways (never forced), notes pushed
 * without force and fetched beside the local ones. */
export function shareRefspecs(remote: string): { fetch: string[]; push: string[] } {
  return { fetch: [`${RUNS_PREFIX}*:${RUNS_PREFIX}*`, `+${NOTES_REF}:${remoteNotesRef(remote)}`], push: [`${RUNS_PREFIX}*:${RUNS_PREFIX}*`, `${NOTES_REF}:${NOTES_REF}`] };
}

/** The values of a multi-valued config entry of the repository's own config file. */
export async function configValues(repo: Repo, key: string): Promise<string[]> {
  const r = await repo.git(['config', '--local', '--get-all', key], { okCodes: [1] });
  return r.stdout.toString('utf8').split('\n').filter(Boolean);
}

export async function addConfigValue(repo: Repo, key: string, value: string): Promise<void> {
  await repo.git(['config', '--local', '--add', key, value]);
}

/** Remove exactly this value of a multi-valued entry (git config takes a regular expression: the value is escaped). */
export async function removeConfigValue(repo: Repo, key: string, value: string): Promise<void> {
  const re = `^${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
  await repo.git(['config', '--local', '--unset-all', key, re], { okCodes: [5] });
}

/** The remote's URL as configured (null: not a configured remote). */
export async function remoteUrl(repo: Repo, remote: string): Promise<string | null> {
  const r = await repo.git(['config', '--get', `remote.${remote}.url`], { okCodes: [1] });
  return r.code === 0 ? r.stdout.toString('utf8').trim() : null;
}

/** Which of these objects this repository lacks (one `cat-file --batch-check`). */
export async function missingObjects(repo: Repo, oids: string[]): Promise<Set<string>> {
  if (!oids.length) return new Set();
  const r = await repo.git(['cat-file', '--batch-check=%(objectname)'], { input: oids.join('\n') + '\n' });
  const missing = new Set<string>();
  for (const line of r.stdout.toString('utf8').split('\n')) if (line.endsWith(' missing')) missing.add(line.slice(0, -' missing'.length));
  return missing;
}

/** How many state commits a run's chain has at most above its spec commit (submitted -> started -> finished, and a few to spare). */
const MAX_CHAIN = 16;

/** How a remote's tip of a run stands to the one here. */
export type TipCheck = { bad: string } | { move: 'new' | 'forward' | 'behind' | 'diverged' };

/**
 * Check that each ref from a remote holds a run: `tip` is a commit whose
 * first-parent chain reaches the spec commit `id` within a few steps, both
 * carry run.json and it is the same blob (a run's spec never changes); and
 * say how it stands to `mine`, the run's tip here (a run's states are one
 * first-parent chain: `mine` on the tip's chain is a move forward, the tip
 * on mine's a remote that is behind). Two git processes whatever the number
 * of refs: one `cat-file --batch-check` for the run.json ids (not their
 * bytes), one `cat-file --batch` for the commits of the chains, read a
 * level at a time (10,000 runs: a handful of round trips, no process per run).
 */
export async function checkRunTips(repo: Repo, refs: ReadonlyArray<{ id: string; tip: string; mine?: string | undefined }>): Promise<Map<string, TipCheck>> {
  const out = new Map<string, TipCheck>();
  if (!refs.length) return out;
  const specs = refs.flatMap((r) => [`${r.id}:run.json`, `${r.tip}:run.json`]);
  // A full object id is never looked up as a ref name too (a stat of refs/ per line otherwise).
  const check = await repo.git(['-c', 'core.warnAmbiguousRefs=false', 'cat-file', '--batch-check=%(objectname) %(objecttype)'], { input: specs.join('\n') + '\n' });
  const lines = check.stdout.toString('utf8').split('\n');
  const blobAt = (i: number): string | null => {
    const [oid, type] = (lines[i] ?? '').split(' ');
    return type === 'blob' && oid ? oid : null;
  };
  const live: Array<{ id: string; tip: string; mine?: string | undefined }> = [];
  refs.forEach((r, i) => {
    const [spec, tip] = [blobAt(2 * i), blobAt(2 * i + 1)];
    if (!spec || !tip) out.set(r.id, { bad: `${!tip ? 'its tip' : 'its id'} is not a commit holding run.json` });
    else if (spec !== tip) out.set(r.id, { bad: 'its tip records another run.json than its spec commit' });
    else live.push(r);
  });
  const batch = new CatFileBatch(repo.processOptions());
  try {
    const firstParent = async (at: string): Promise<string | undefined> => {
      const c = await batch.read(at);
      return c?.type === 'commit' ? /^parent ([0-9a-f]+)$/m.exec(c.data.toString('utf8').split('\n\n')[0]!)?.[1] : undefined;
    };
    /** The first-parent chain from `from` down to `id` (both included), or null when it does not get there within MAX_CHAIN. */
    const chain = async (from: string, id: string): Promise<string[] | null> => {
      const seen = [from];
      let at = from;
      for (let i = 0; i < MAX_CHAIN && at !== id; i++) {
        const parent = await firstParent(at);
        if (!parent) break;
        at = parent;
        seen.push(at);
      }
      return at === id ? seen : null;
    };
    await Promise.all(
      live.map(async ({ id, tip, mine }) => {
        const theirs = await chain(tip, id);
        if (!theirs) return out.set(id, { bad: 'its tip does not descend from its spec commit' });
        if (!mine) return out.set(id, { move: 'new' });
        if (theirs.includes(mine)) return out.set(id, { move: 'forward' });
        const ours = await chain(mine, id);
        return out.set(id, { move: ours?.includes(tip) ? 'behind' : 'diverged' });
      }),
    );
  } finally {
    batch.close();
  }
  return out;
}

/** An object's type ('commit', 'blob'...), null when missing. */
export async function objectType(repo: Repo, oid: string): Promise<string | null> {
  const r = await repo.git(['cat-file', '-t', oid], { okCodes: [1, 128] });
  return r.code === 0 ? r.stdout.toString('utf8').trim() : null;
}
