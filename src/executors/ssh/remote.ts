/**
 * The ssh executor (Runaway's remote execution, with the snapshot's tree
 * hash as the key of the code cache). Remote layout, under remote_dir
 * (default ~/.git-run):
 *
 *   code/<tree>/         the code, sent only when missing or found incomplete
 *   code/<tree>.ok       "<files> <bytes>": written after the copy was checked
 *   <run_dir>/<id>/      one per run (run_dir defaults to "runs"):
 *     work/              a copy of code/<tree>; the command runs here
 *     stdout stderr      the command's output
 *     wrapper            the process group of the shell that waits for the command
 *     pid                the command's own process group (setsid)
 *     exit               its exit status, written atomically (write, rename)
 *     manifest           size, mtime and path of every file before the run
 *     tree               the code tree it uses (for --leave none)
 *     cancel             present when a cancel was asked for
 *
 * Every remote step is a POSIX shell script in which each value from outside
 * (paths, parameters, the command) is single-quoted. The command runs under
 * setsid, detached from the connection, so it survives a dropped link or a
 * killed client; any later process can reattach from the handle in the run's
 * state commit and finish the record.
 */
import { Readable, Transform } from 'node:stream';
import type { Repo } from '../../git/repo.js';
import { archiveTree } from '../../git/plumbing.js';
import { lsTree } from '../../git/objects.js';
import { ingestTar } from '../../git/ingest.js';
import { worktreeArchive, type WorktreeArchive } from '../../git/worktree-tar.js';
import { packTree, sharedTrees } from '../../git/pack-send.js';
import { CODE_REFS, codeRef, initStore, storePath } from './store.js';
import { lfsThresholdFor, outputsFromCandidates } from '../../git/outputs.js';
import { fetchOutputsAsObjects } from './outputs-objects.js';
import { connection } from '../../transport/ssh.js';
import type { HostShell } from '../../transport/shell.js';
import { shQuote } from '../../util/shell.js';
import { readRun, recordEnd, recordStart, type RunView } from '../../store/runs.js';
import { paramEnvName } from '../../core/sweep.js';
import { historyFileOf } from '../../core/metrics.js';
import { isFinal, type RunHandle, type RunResult, type RunState } from '../../core/record.js';
import { bootId, isAlive, processStart, thisHost } from '../../util/process.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';
import { failpoint } from '../../core/failpoint.js';
import { PARAMS_DIR, controlDirFor, discardControlDir, fetchIgnoreCopy } from '../rundir.js';
import { finalStatus, type ObservedOutputs } from '../status.js';
import type { Started, StartOptions } from '../executor.js';
import { existsSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { inputsEnv } from '../../core/inputs.js';
import { cacheNameOf, contentCacheDir, fillContentCache, inputFiles, resolvedInputs } from '../inputs.js';

/** An ssh run's handle: where its directory is on which host. */
export interface RemoteHandle extends RunHandle {
  executor: 'ssh';
  profile: string;
  alias: string;
  runDir: string;
  codeDir: string;
  /** The local process driving the run, while it lives: nobody else may call it lost. */
  supervisor: { host: string; pid: number; start: string | null; bootId: string | null };
}


export interface RemotePaths {
  base: string;
  code: string;
  marker: string;
  run: string;
}

export function remotePaths(view: RunView): RemotePaths {
  const a = view.spec.runArgs;
  const base = typeof a.remote_dir === 'string' && a.remote_dir ? a.remote_dir.replace(/\/+$/, '') : '.git-run';
  const runs = typeof a.run_dir === 'string' && a.run_dir ? a.run_dir : 'runs';
  const tree = view.spec.code.tree;
  return { base, code: `${base}/code/${tree}`, marker: `${base}/code/${tree}.ok`, run: `${base}/${runs}/${view.id}` };
}

/** Files (and symlinks) of a tree: what a complete copy must hold. `ls-tree -r` reads trees only
 * (with -l it would open every blob for its size: 230 ms for 20,000 files). */
async function treeFileCount(repo: Repo, tree: string): Promise<number> {
  return (await lsTree(repo, tree, { recursive: true })).filter((e) => e.type === 'blob').length;
}

/** A remote script printing "<files> <bytes>" of a directory (symlinks count their target's length, as in git).
 * %.0f, not %d: mawk (Debian's awk) caps %d at 2^31-1, which broke trees over 2 GiB. */
const measure = (dir: string) => `find ${dir} \\( -type f -o -type l \\) -printf '%s\\n' | awk '{n++; s+=$1} END {printf "%d %.0f\\n", n, s}'`;

/** Every step starts from the run directory, relative paths taken from $HOME. */
export const prologue = (view: RunView) => `R=${shQuote(remotePaths(view).run)}; case "$R" in /*) ;; *) R="$HOME/$R" ;; esac`;

/**
 * A remote script that succeeds when the cached copy of the tree is complete:
 * its marker ("<files> <bytes>", written when it arrived whole) names the
 * tree's file count, and the copy still measures what the marker says.
 */
function cacheValid(p: RemotePaths, files: number): string {
  return `{ m=$(cat ${shQuote(p.marker)} 2>/dev/null) && [ "\${m%% *}" = ${files} ] && [ -d ${shQuote(p.code)} ] && [ "$(${measure(shQuote(p.code))})" = "$m" ]; }`;
}

/**
 * `source` through a counter that reports each chunk's length as it passes: counted on the way through, since a
 * 'data' listener on the source would start it flowing before the channel is there.
 */
function counted(source: Readable, onChunk: (bytes: number) => void): Readable {
  return source.pipe(
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        onChunk(chunk.length);
        cb(null, chunk);
      },
    }),
  );
}

export interface Transfer {
  /** Bytes of code sent (0 when the remote had the tree). */
  sent: number;
  /** How the code got there (the run record's codeTransfer), when it had to be put there. */
  via?: CodeTransfer;
}

/** How the code reached the host: from its object store or a pack of what it lacked, or a tar stream (a first copy, which then fills the store; or a host without git). */
export type CodeTransfer = 'objects' | 'tar' | 'tar (host has no git)';

/** The host's object store as a shell variable S (decision 0022); the path relative to $HOME unless absolute. */
export const storeVar = (view: RunView) => `S=${shQuote(storePath(remotePaths(view).base))}; case "$S" in /*) ;; *) S="$HOME/$S" ;; esac`;

/** The host's answer about git and its store, asked in the round trip that checks the code cache: "git yes|no", then "recent <tree>" (newest refs first) and "ref <tree>" lines. */
const storeProbe = (view: RunView) =>
  `${storeVar(view)}; if command -v git >/dev/null 2>&1; then echo "git yes"; ls -t "$S/${CODE_REFS}" 2>/dev/null | head -n 16 | sed 's/^/recent /'; git --git-dir="$S" for-each-ref --format='ref %(refname:lstrip=2)' ${CODE_REFS} 2>/dev/null | head -n 10000; else echo "git no"; fi`;

interface HostStore {
  git: boolean;
  /** Trees the store has refs for, the most recent first. */
  trees: string[];
}

/** The host's word, read as hostile: only well-formed lines count. */
function parseStore(lines: string[]): HostStore {
  const trees: string[] = [];
  let git = false;
  for (const l of lines) {
    if (l === 'git yes') git = true;
    const m = /^(?:recent|ref) ([0-9a-f]{40}(?:[0-9a-f]{24})?)$/.exec(l);
    if (m && !trees.includes(m[1]!)) trees.push(m[1]!);
  }
  return { git, trees };
}

/** What to do to put the tree in a directory of the host: check it out of the store, send a pack of what the store lacks, or send a tar stream. */
type CodePlan = { mode: 'store' } | { mode: 'pack'; haves: string[] } | { mode: 'tar'; git: boolean };

/** At most this many trees the host has are named as a pack's bases (each is walked). */
const MAX_HAVES = 16;

async function planCode(repo: Repo, tree: string, host: HostStore): Promise<CodePlan> {
  if (!host.git) return { mode: 'tar', git: false };
  if (host.trees.includes(tree)) return { mode: 'store' };
  const haves = (await sharedTrees(repo, host.trees.slice(0, 4 * MAX_HAVES))).slice(0, MAX_HAVES);
  // A store with nothing in common (a first copy): the tar stream is the fastest way (decision 0022); the store is filled from it on the host.
  return haves.length ? { mode: 'pack', haves } : { mode: 'tar', git: true };
}

/** The exit status by which a host step says its object store failed it (an object missing or damaged, a pack refused): the code goes again by tar, into a new store. */
const STORE_FAILED = 4;

/**
 * Check the tree out of the store into the directory X (a shell word), with
 * a private index file next to it. git reads every object it writes out,
 * and fails on one missing, one whose zlib stream or size does not check,
 * so a damaged store never yields a wrong tree silently; the caller repairs.
 */
function materialize(tree: string, dir: string, index: string): string {
  return [
    `GIT_INDEX_FILE=${index} git --git-dir="$S" read-tree ${tree} && GIT_INDEX_FILE=${index} git --git-dir="$S" --work-tree=${dir} checkout-index -a -f; c=$?; rm -f ${index}`,
    `if [ $c != 0 ]; then rm -rf ${dir}; echo "the object store $S on the host could not give tree ${tree}" >&2; exit ${STORE_FAILED}; fi`,
    // The ref keeps the tree in the store, and its file's time says it was used now (gc --host's grace).
    `git --git-dir="$S" update-ref ${codeRef(tree)} ${tree} 2>/dev/null || true`,
  ].join('\n');
}

/** Receive a pack into the store (made on first use); a pack refused (a base missing, a full disk) is the store failing. */
const receivePack = () =>
  `${initStore('"$S"')} && git --git-dir="$S" index-pack --stdin --fix-thin >/dev/null || { echo "the host's object store $S refused the pack" >&2; exit ${STORE_FAILED}; }`;

/**
 * After a first copy came by tar into X: fill the store from it in the
 * background, so that the next run of this tree (or of one like it) sends
 * nothing (or only what changed). A hard-linked copy is made now, before the
 * run can change anything; the job adds it to the store and keeps it only
 * when `write-tree` gives exactly the tree's id: that is the arrival check
 * (a file the run changed meanwhile, an attribute that rewrites content:
 * another id, nothing kept).
 */
function fillStore(tree: string, dir: string, base: string): string {
  const job = [
    'F=$1; S=$2; t=$3; echo $$ > "$F/pid"',
    initStore('"$S"'),
    'cd "$F/w" || exit 1',
    'GIT_INDEX_FILE="$F/index" git -c core.compression=1 -c core.looseCompression=1 --git-dir="$S" --work-tree="$F/w" add -A -f . || exit 1',
    'w=$(GIT_INDEX_FILE="$F/index" git --git-dir="$S" write-tree) || exit 1',
    `[ "$w" = "$t" ] && git --git-dir="$S" update-ref ${CODE_REFS}"$t" "$t"`,
  ].join('\n');
  return `if command -v git >/dev/null 2>&1 && B=${shQuote(base)} && case "$B" in /*) ;; *) B="$HOME/$B" ;; esac && F=$(mktemp -d "$B/.fill-XXXXXXXX") && cp -al ${dir} "$F/w"; then setsid sh -c ${shQuote(`( ${job} ); rm -rf "$1"`)} sh "$F" "$S" ${tree} </dev/null >/dev/null 2>&1 & fi`;
}

/**
 * Put the tree into the directory X on the host: `before` makes X (empty),
 * the code arrives by the plan, `after` checks and finishes (its failure
 * discards). A store that fails (damaged, cleaned meanwhile, refusing the
 * pack) is moved away and the code goes again by tar, which starts a new one.
 */
async function codeInto(conn: HostShell, repo: Repo, view: RunView, plan: CodePlan, step: { before: string; after: string; discard: string; dir: string; index: string }, onBytes?: (n: number) => void, prepared?: WorktreeArchive | null): Promise<Transfer> {
  const tree = view.spec.code.tree;
  const script = (get: string) => [step.before, storeVar(view), get, step.after].join('\n');
  if (plan.mode !== 'tar') {
    prepared?.kill();
    let sent = 0;
    const pack = plan.mode === 'pack' ? packTree(repo, tree, plan.haves) : null;
    try {
      const body = script(`${pack ? `${receivePack()}\n` : ''}${materialize(tree, step.dir, step.index)}`);
      if (pack) {
        await conn.run(
          body,
          counted(pack.stream, (n) => {
            sent += n;
            onBytes?.(sent);
          }),
        );
        const packed = await pack.done;
        if (packed.code !== 0) throw new GitRunError(ErrorCode.Git, `git pack-objects of tree ${tree} failed (exit ${packed.code}): ${packed.stderr.trim()}`, 'check the repository with `git fsck`');
      } else await conn.run(body);
      return { sent, via: 'objects' };
    } catch (e) {
      pack?.kill();
      if (!(e instanceof GitRunError) || e.data.exitCode !== STORE_FAILED) throw e;
      // Repair: the store goes (a cache); the tree goes whole, as a first copy.
      const trash = `T=${shQuote(`${remotePaths(view).base}/.trash`)}; case "$T" in /*) ;; *) T="$HOME/$T" ;; esac`;
      await conn.run(`${storeVar(view)}; ${trash}; ${step.discard}; if [ -e "$S" ]; then mkdir -p "$T" && d=$(mktemp -d "$T/XXXXXXXX") && mv "$S" "$d/" && (setsid rm -rf -- "$d" </dev/null >/dev/null 2>&1 &); fi; true`);
      const again = await sendTree(conn, repo, view, script(`tar -x -f - -C ${step.dir} || exit 1\n${fillStore(tree, step.dir, remotePaths(view).base)}`), step.discard, onBytes);
      return { sent: sent + again, via: 'tar' };
    }
  }
  const fill = plan.git ? `\n${fillStore(tree, step.dir, remotePaths(view).base)}` : '';
  const sent = await sendTree(conn, repo, view, script(`tar -x -f - -C ${step.dir} || exit 1${fill}`), step.discard, onBytes, prepared);
  return { sent, via: plan.git ? 'tar' : 'tar (host has no git)' };
}

/**
 * Send the run's tree as a tar stream into a remote script (`receive`), from
 * the work tree when git's stat check vouches for it (src/git/worktree-tar.ts),
 * else from `git archive`. When the work tree turns out to have changed
 * during the read, `discard` runs on the host and the tree goes again from
 * `git archive`. The caller makes the received copy live afterwards, so a
 * copy that failed the check is never used.
 */
async function sendTree(conn: HostShell, repo: Repo, view: RunView, receive: string, discard: string, onBytes?: (n: number) => void, prepared?: WorktreeArchive | null): Promise<number> {
  let sent = 0;
  const count = (source: Readable) =>
    counted(source, (n) => {
      sent += n;
      onBytes?.(sent);
    });
  const fromWorkTree = prepared === undefined ? await worktreeArchive(repo, view.spec.code.tree) : prepared;
  if (fromWorkTree) {
    const ok = await conn.run(receive, count(fromWorkTree.stream)).then(
      () => true,
      (e: unknown) => {
        fromWorkTree.kill();
        // The host refused what came: a work tree that changed under tar is retried below; anything else is an error.
        if (e instanceof GitRunError && typeof e.data.exitCode === 'number') return false;
        throw e;
      },
    );
    if (ok && (await fromWorkTree.verify())) return sent;
    await conn.run(discard);
    sent = 0;
  }
  const archive = archiveTree(repo, view.spec.code.tree);
  let archiveErr = '';
  archive.stderr.on('data', (d: Buffer) => (archiveErr += d.toString()));
  const archived = new Promise<number | null>((resolve) => archive.on('close', (c: number | null) => resolve(c)));
  await conn.run(receive, count(archive.stdout));
  const code = await archived;
  if (code !== 0) {
    await conn.run(discard);
    throw new GitRunError(ErrorCode.Git, `git archive of tree ${view.spec.code.tree} failed (exit ${code}): ${archiveErr.trim()}`, 'check the repository with `git fsck`');
  }
  return sent;
}

/**
 * Make sure the remote has a complete copy of the tree in its code cache,
 * putting it there only when it does not (a partial or damaged copy is
 * replaced): from the host's object store, a pack of what the store lacks,
 * or a tar stream.
 */
export async function ensureCode(conn: HostShell, repo: Repo, view: RunView, onBytes?: (n: number) => void): Promise<Transfer> {
  const p = remotePaths(view);
  const files = await treeFileCount(repo, view.spec.code.tree);
  const answer = (await conn.run(`${cacheValid(p, files)} && echo present || echo missing\n${storeProbe(view)}`)).toString().trim().split('\n');
  if (answer[0] === 'present') return { sent: 0 };
  const plan = await planCode(repo, view.spec.code.tree, parseStore(answer.slice(1)));
  const tmp = shQuote(`${p.code}.tmp-${process.pid}-${Date.now()}`);
  const t = await codeInto(conn, repo, view, plan, {
    before: `rm -rf ${tmp} && mkdir -p ${tmp} || exit 1`,
    after: [
      `got=$(${measure(tmp)})`,
      `if [ "\${got%% *}" != ${files} ]; then echo "incomplete copy: \${got%% *} of ${files} files" >&2; rm -rf ${tmp}; exit 3; fi`,
      `printf '%s\\n' "$got" > ${tmp}.got`,
    ].join('\n'),
    discard: `rm -rf ${tmp} ${tmp}.got`,
    dir: tmp,
    index: `${tmp}.index`,
  }, onBytes);
  // Checked: now the copy becomes the cache, its measure the marker.
  await conn.run(`rm -rf ${shQuote(p.code)} && mv ${tmp} ${shQuote(p.code)} && mv ${tmp}.got ${shQuote(p.marker)}`);
  return t;
}

/** One transfer per host and tree at a time in this process: parallel children of a sweep share it. */
const transfers = new Map<string, Promise<Transfer>>();

export function ensureCodeOnce(conn: HostShell, repo: Repo, view: RunView, onBytes?: (n: number) => void): Promise<Transfer> {
  const key = `${conn.target.alias}\0${remotePaths(view).code}`;
  let p = transfers.get(key);
  if (!p) {
    p = ensureCode(conn, repo, view, onBytes);
    transfers.set(key, p);
    // Later runs check again (the copy may have been removed by --leave none).
    void p.finally(() => transfers.delete(key)).catch(() => undefined);
    return p;
  }
  return p.then(() => ({ sent: 0 }));
}

/** The command's environment as quoted `NAME=value` words for `env` (R holds the run directory); the Slurm executor's job uses it too. */
export function envAssignments(view: RunView): string[] {
  const env: Record<string, string> = { ...view.spec.env };
  for (const [k, v] of Object.entries(view.spec.params)) env[paramEnvName(k)] = typeof v === 'string' ? v : String(v);
  env.GIT_RUN_ID = view.id;
  env.GIT_RUN_SEED = String(view.spec.seed);
  env.PYTHONUNBUFFERED = '1';
  env.GIT_RUN_INPUTS = inputsEnv(resolvedInputs(view.spec));
  return Object.entries(env).map(([k, v]) => shQuote(`${k}=${v}`)).concat(`"GIT_RUN_DIR=$R/work"`, `"GIT_RUN_PARAMS=$R/work/${PARAMS_DIR}/params.json"`, `"GIT_RUN_METRICS=$R/work/"${shQuote(view.spec.cwd + historyFileOf(view.spec))}`);
}

/** The start of a run directory: the tree marker first, so that from now on --leave none of another run keeps this code. */
const markTree = (view: RunView) => `mkdir -p "$R" && printf '%s\\n' ${shQuote(view.spec.code.tree)} > "$R/tree"`;

/** What is in "$R/work" before the run (size, mtime, path): outputs are what differs afterwards. */
export const MANIFEST = `(cd "$R/work" && find . \\( -type f -o -type l \\) -printf '%s %T@ %P\\0' | sort -z) > "$R/manifest"`;

/** With the code in "$R/work": note what is there (unless done already), write the parameters, start the command detached, print "started <pid>". */
function startScript(view: RunView, manifestDone = false): string {
  const params = JSON.stringify({ params: view.spec.params, seed: view.spec.seed, id: view.id, name: view.spec.name ?? null }, null, 2) + '\n';
  const cwd = view.spec.cwd.replace(/\/+$/, '');
  // The wrapper (its own session) starts the command in a session of its own
  // too, so a cancel (which signals the command's group) leaves the wrapper
  // alive to write the exit status; `wait` gives 128+n for a signal.
  const wrapper = 'R=$1; shift; setsid "$@" >"$R/stdout" 2>"$R/stderr" </dev/null & echo $! >"$R/pid"; wait $!; c=$?; echo "$c" >"$R/exit.tmp" && mv "$R/exit.tmp" "$R/exit"';
  const setup = [
    ...(manifestDone ? [] : [MANIFEST]),
    `mkdir -p "$R/work/${PARAMS_DIR}" && printf '%s' ${shQuote(params)} > "$R/work/${PARAMS_DIR}/params.json"`,
    `mkdir -p "$R/work/"${shQuote(cwd || '.')} && cd "$R/work/"${shQuote(cwd || '.')}`,
  ];
  return [
    `${setup.join(' && ')} || exit 1`,
    // setsid: its own session and process group, cut off from this connection;
    // no descriptor of the step's is kept open by the wrapper.
    `setsid sh -c ${shQuote(wrapper)} sh "$R" env ${envAssignments(view).join(' ')} ${view.spec.command.map(shQuote).join(' ')} </dev/null >/dev/null 2>&1 &`,
    'pid=$!',
    'echo "$pid" > "$R/wrapper"',
    'echo "started $pid"',
  ].join('\n');
}

function startedPid(out: Buffer): number {
  const last = out.toString().trim().split('\n').pop() ?? '';
  const m = /^started (\d{1,10})$/.exec(last);
  const pid = m ? Number(m[1]) : NaN;
  if (!(pid > 1)) throw new GitRunError(ErrorCode.SshFailed, `the remote did not report a process id (got ${JSON.stringify(last.slice(0, 80))})`, 'check that setsid exists on the host');
  return pid;
}

/**
 * Put the code in a new run directory and start the command, in as few
 * round trips as the host allows: one step when the host has the tree
 * cached; otherwise one stream that sends the tree and starts the command.
 * A single run that leaves nothing behind (--leave none, not part of a
 * sweep) has no use for the cache: the tree is unpacked straight into its
 * run directory, with no copy. Other runs fill the cache (shared by a
 * sweep's children, kept by --leave code) and copy from it.
 */
export async function launchRemote(conn: HostShell, repo: Repo, view: RunView, onBytes?: (n: number) => void, inputs: RemoteInputs = { place: '', count: 0, sent: 0 }): Promise<Transfer & { pid: number }> {
  const p = remotePaths(view);
  // Inputs are placed before the manifest is taken: one the run leaves alone is then no output.
  const place = inputs.place ? ` && ${inputs.place}` : '';
  const fromCache = `${markTree(view)} && rm -rf "$R/work" && cp -a ${shQuote(p.code)} "$R/work"${place}`;
  // Three things at once: counting the tree's files, asking the host for its
  // cached copy (what the marker says, if the copy still measures that) and
  // about git and its object store, and getting the work tree's tar stream
  // ready in case it is needed.
  const check = `m=$(cat ${shQuote(p.marker)} 2>/dev/null) && [ -d ${shQuote(p.code)} ] && [ "$(${measure(shQuote(p.code))})" = "$m" ] && echo "cached $m" || echo missing\n${storeProbe(view)}`;
  const [files, answer, prepared] = await Promise.all([treeFileCount(repo, view.spec.code.tree), conn.run(check), worktreeArchive(repo, view.spec.code.tree)]);
  const lines = answer.toString().trim().split('\n');
  const cached = /^cached (\d+) \d+$/.exec(lines[0] ?? '');
  if (cached && Number(cached[1]) === files) {
    prepared?.kill();
    return { sent: 0, pid: startedPid(await conn.run(`${prologue(view)}\n${fromCache} || exit 1\n${startScript(view)}`)) };
  }
  const direct = (view.spec.runArgs.leave ?? 'none') === 'none' && !view.spec.parent;
  if (direct) {
    // Put straight into the run directory; one scan makes the manifest and counts the files.
    const plan = await planCode(repo, view.spec.code.tree, parseStore(lines.slice(1)));
    const step = {
      before: `${prologue(view)}\n${markTree(view)} && rm -rf "$R/work" && mkdir -p "$R/work" || exit 1`,
      after: [
        `true${place} && ${MANIFEST} || exit 1`,
        `got=$(tr -cd '\\0' < "$R/manifest" | wc -c); got=$((got - ${inputs.count}))`,
        `if [ "$got" != ${files} ]; then echo "incomplete copy: $got of ${files} files" >&2; rm -rf "$R/work"; exit 3; fi`,
      ].join('\n'),
      discard: `${prologue(view)}; rm -rf "$R/work"`,
      dir: '"$R/work"',
      index: '"$R/code.index"',
    };
    if (plan.mode === 'store') {
      // The host has the tree: checking it out and starting the command are one step.
      prepared?.kill();
      try {
        const out = await conn.run([step.before, storeVar(view), materialize(view.spec.code.tree, step.dir, step.index), step.after, startScript(view, true)].join('\n'));
        return { sent: 0, via: 'objects', pid: startedPid(out) };
      } catch (e) {
        if (!(e instanceof GitRunError) || e.data.exitCode !== STORE_FAILED) throw e;
        // codeInto repairs (the store failed before anything started).
      }
    }
    const t = await codeInto(conn, repo, view, plan, step, onBytes, plan.mode === 'store' ? null : prepared);
    return { ...t, pid: startedPid(await conn.run(`${prologue(view)}\n${startScript(view, true)}`)) };
  }
  prepared?.kill();
  const t = await ensureCodeOnce(conn, repo, view, onBytes);
  const out = await conn.run(`${prologue(view)}\n${fromCache} || exit 1\n${startScript(view)}`);
  return { ...t, pid: startedPid(out) };
}

export interface Poll {
  /** The exit status, once written. */
  exit: number | null;
  /** Whether the command's process group is still alive. */
  alive: boolean;
  /** Whether a cancel was asked for. */
  cancelled: boolean;
  stdout: Buffer;
  stderr: Buffer;
}

/** One round trip: the exit file, liveness, and new output from the given offsets (at most 1 MiB each). */
export async function pollRemote(conn: HostShell, view: RunView, offsets: { stdout: number; stderr: number }): Promise<Poll> {
  // The length first, then exactly that many bytes (the file only grows); no
  // scratch file, since several readers (a supervisor, \`logs -f\`) poll at once.
  const chunk = (f: string, off: number) =>
    `s=$(wc -c < "$R/${f}" 2>/dev/null) || s=0; n=$((s - ${off})); [ "$n" -lt 0 ] && n=0; [ "$n" -gt 1048576 ] && n=1048576; echo "$n"; tail -c +${off + 1} "$R/${f}" 2>/dev/null | head -c "$n"`;
  const script = [
    prologue(view),
    `[ -d "$R" ] || { echo gone; exit 0; }`,
    `e=$(cat "$R/exit" 2>/dev/null); echo "exit $e"`,
    // Alive while the wrapper lives: it writes the exit status when the command ends.
    `w=$(cat "$R/wrapper" 2>/dev/null); if [ -n "$w" ] && kill -s 0 -- "-$w" 2>/dev/null; then echo alive; else echo dead; fi`,
    `if [ -e "$R/cancel" ]; then echo cancel; else echo go; fi`,
    chunk('stdout', offsets.stdout),
    chunk('stderr', offsets.stderr),
  ].join('; ');
  const out = await conn.run(script);
  // Hostile input: parse strictly.
  let i = 0;
  const line = () => {
    const nl = out.indexOf(10, i);
    if (nl < 0) throw new GitRunError(ErrorCode.SshFailed, 'the remote answered a status poll with something unexpected', 'check the remote run directory');
    const s = out.subarray(i, nl).toString();
    i = nl + 1;
    return s;
  };
  const first = line();
  if (first === 'gone') return { exit: null, alive: false, cancelled: false, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  const m = /^exit (\d{0,3})$/.exec(first);
  if (!m) throw new GitRunError(ErrorCode.SshFailed, `the remote exit status is not a number: ${JSON.stringify(first.slice(0, 40))}`, 'the run directory on the host was altered');
  const exit = m[1] ? Number(m[1]) : null;
  if (exit !== null && exit > 255) throw new GitRunError(ErrorCode.SshFailed, `the remote exit status ${exit} is out of range`, 'the run directory on the host was altered');
  const alive = line() === 'alive';
  const cancelled = line() === 'cancel';
  const take = () => {
    const n = Number(line());
    if (!Number.isInteger(n) || n < 0 || n > 1048576 || i + n > out.length) throw new GitRunError(ErrorCode.SshFailed, 'the remote sent a malformed log chunk', 'check the remote run directory');
    const b = out.subarray(i, i + n);
    i += n;
    return b;
  };
  return { exit, alive, cancelled, stdout: Buffer.from(take()), stderr: Buffer.from(take()) };
}

/** At most this much of a file per round trip (a live metrics history is read in such chunks). */
export const REMOTE_CHUNK = 8 * 1024 * 1024;

/**
 * A file of a live run's work tree on the host, from `offset` (at most
 * `max` bytes, and REMOTE_CHUNK): the length first, then exactly those
 * bytes, parsed strictly (the host's answer is hostile input).
 */
export async function readRemoteFile(conn: HostShell, view: RunView, rel: string, offset: number, max: number): Promise<{ data: Buffer; exit: number | null; gone: boolean }> {
  const off = Math.max(0, Math.floor(offset));
  const cap = Math.max(0, Math.min(Math.floor(max), REMOTE_CHUNK));
  const f = `"$R/work/"${shQuote(rel)}`;
  const script = [
    prologue(view),
    `[ -d "$R" ] || { echo gone; exit 0; }`,
    `e=$(cat "$R/exit" 2>/dev/null); echo "exit $e"`,
    `if [ -f ${f} ] && [ ! -L ${f} ]; then s=$(wc -c < ${f}); else s=0; fi; n=$((s - ${off})); [ "$n" -lt 0 ] && n=0; [ "$n" -gt ${cap} ] && n=${cap}; echo "$n"; [ "$n" -gt 0 ] && tail -c +${off + 1} ${f} 2>/dev/null | head -c "$n"; exit 0`,
  ].join('; ');
  const out = await conn.run(script);
  const bad = () => new GitRunError(ErrorCode.SshFailed, `the host answered a read of ${JSON.stringify(rel)} with something unexpected`, 'check the remote run directory');
  const nl1 = out.indexOf(10);
  if (nl1 < 0) throw bad();
  const first = out.subarray(0, nl1).toString();
  if (first === 'gone') return { data: Buffer.alloc(0), exit: null, gone: true };
  const m = /^exit (\d{0,3})$/.exec(first);
  if (!m) throw bad();
  const nl2 = out.indexOf(10, nl1 + 1);
  if (nl2 < 0) throw bad();
  const n = Number(out.subarray(nl1 + 1, nl2).toString());
  if (!Number.isInteger(n) || n < 0 || n > cap || nl2 + 1 + n > out.length) throw bad();
  return { data: Buffer.from(out.subarray(nl2 + 1, nl2 + 1 + n)), exit: m[1] ? Number(m[1]) : null, gone: false };
}

/** Ask the host to stop a run: SIGTERM to its process group, SIGKILL after the grace period. */
export async function cancelRemote(conn: HostShell, view: RunView, graceSeconds = 5): Promise<void> {
  await conn.run(`${prologue(view)}; date > "$R/cancel"; p=$(cat "$R/pid" 2>/dev/null) || p=$(cat "$R/wrapper" 2>/dev/null) || exit 0; kill -s TERM -- "-$p" 2>/dev/null; (sleep ${Math.max(0, Math.floor(graceSeconds))}; kill -s KILL -- "-$p" 2>/dev/null) >/dev/null 2>&1 </dev/null & exit 0`);
}

/** Outputs up to this size come back through the control shell; larger ones get a stream of their own. */
const SMALL_OUTPUTS = 16 * 2 ** 20;

/** How a run's outputs came back: said once in the run record. */
export interface FetchStats {
  /** 'objects', 'tar', or 'tar (host has no git)' (the words of the code transfer's record, decision 0022). */
  transfer?: string;
  /** Bytes that came back (the pack, or the tar stream). */
  bytes?: number;
}

/**
 * The files the run created or changed (by size and mtime against the
 * manifest): as git objects when the host has git (./outputs-objects.ts,
 * decision 0023), else as a tar stream, ingested.
 */
export async function fetchOutputs(conn: HostShell, repo: Repo, view: RunView, stats: FetchStats = {}): Promise<string | null> {
  // First the list, its total and largest size, and whether the host has git:
  // most runs write little, and then the archive comes back through the
  // control shell with no session to open.
  const list = [
    prologue(view),
    `cd "$R/work"`,
    `find . \\( -type f -o -type l \\) -printf '%s %T@ %P\\0' | sort -z > "$R/after"`,
    `comm -z -13 "$R/manifest" "$R/after" > "$R/changed.long" || exit 1`,
    `sed -z 's/^[^ ]* [^ ]* //' "$R/changed.long" | grep -z -v -e '^${PARAMS_DIR}/' > "$R/changed" || true`,
    `tr '\\0' '\\n' < "$R/changed.long" | awk '{n++; s+=$1; if ($1 > m) m=$1} END {printf "%d %.0f %.0f\\n", n, s, m}'`,
    `if command -v git >/dev/null 2>&1; then echo git; else echo nogit; fi`,
  ].join(' && ');
  const m = /^(\d+) (\d+) (\d+)\n(git|nogit)$/.exec((await conn.run(list)).toString().trim());
  if (!m) throw new GitRunError(ErrorCode.SshFailed, `collecting outputs on ${conn.target.alias}: the host did not say what changed`, 'check that the host has GNU find, sort, comm, sed and tar');
  const [count, total, largest] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const args = view.spec.runArgs;
  // The .fetchignore in force at submission, kept in the run's local control directory.
  const copy = fetchIgnoreCopy(controlDirFor(repo, view.id, args));
  // An input rewritten with the same bytes is no output (one left alone is not among the candidates: it is in the manifest).
  const oids = new Map<string, string>();
  if (resolvedInputs(view.spec).length) for (const f of await inputFiles(repo, view.spec).catch(() => [])) oids.set(f.path, f.oid);
  const rules = {
    fetchIgnoreFile: args.fetch_ignore && existsSync(copy) ? copy : null,
    onlyNew: !!args.send_ignore && !args.fetch_ignore,
    exclude: PARAMS_DIR,
    inputs: { unchanged: new Set<string>(), oids },
  };
  // Big outputs become Git LFS objects as they arrive (decision 0019).
  const lfsAbove = await lfsThresholdFor(repo, view.spec.code.tree, total);
  if (m[4] !== 'nogit' && count > 0 && objectsWanted(args.outputs_objects, total) && (lfsAbove === null || largest < lfsAbove)) {
    const got = await fetchOutputsAsObjects(conn, repo, view, prologue(view), remotePaths(view).base, total, rules, lfsAbove);
    if (got.tree !== 'fallback') {
      stats.transfer = 'objects';
      stats.bytes = got.bytes;
      return got.tree;
    }
  }
  stats.transfer = m[4] === 'nogit' ? 'tar (host has no git)' : 'tar';
  stats.bytes = 0;
  const countBytes = (source: Readable) => counted(source, (n) => (stats.bytes! += n));
  // The shell becomes tar (exec), so the pid it notes is tar's: a refused archive kills it.
  const tar = `${prologue(view)} && cd "$R/work" && echo $$ > "$R/fetch.pid" && exec tar -c -f - --null --no-recursion -T "$R/changed"`;
  let files;
  if (total + 1024 * count <= SMALL_OUTPUTS) {
    files = await ingestTar(repo, countBytes(Readable.from([await conn.run(tar)])), undefined, { lfsAbove });
  } else {
    const ch = await conn.stream(tar);
    let stderr = '';
    ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = ch.exited;
    try {
      files = await ingestTar(repo, countBytes(ch.stdout), undefined, { lfsAbove });
    } catch (e) {
      // Refused at its first bad entry: stop the stream here and the tar there, rather than drain what follows (20 GB took 100 s).
      ch.close();
      await conn.run(`${prologue(view)}; p=$(cat "$R/fetch.pid" 2>/dev/null) && kill -s KILL "$p" 2>/dev/null; rm -f "$R/fetch.pid"; true`).catch(() => undefined);
      throw e;
    }
    const code = await exited;
    if (code !== 0) throw new GitRunError(ErrorCode.SshFailed, `collecting outputs on ${conn.target.alias} failed (exit ${code}): ${stderr.trim()}`, 'check that the host has GNU find, sort, comm, sed and tar');
  }
  return outputsFromCandidates(repo, files, view.spec.code.tree, rules);
}

/**
 * Whether outputs of `total` bytes come back as objects (when the host has
 * git): "outputs_objects" true always, false never; by default from
 * OBJECTS_ABOVE on. Below it the tar stream through the control shell is
 * cheaper than the store's round trip and git processes, and a repeat saves
 * little (decision 0023 has the figures).
 */
function objectsWanted(setting: unknown, total: number): boolean {
  if (setting === true || setting === 'true') return true;
  if (setting === false || setting === 'false') return false;
  return total >= OBJECTS_ABOVE;
}

/** Outputs from this size in all come back as objects by default. */
const OBJECTS_ABOVE = SMALL_OUTPUTS;

export async function fetchLogs(conn: HostShell, view: RunView): Promise<{ stdout: Buffer; stderr: Buffer }> {
  // Both logs in one step: "<bytes of stdout>\n", stdout, then stderr.
  const out = await conn.run(`${prologue(view)}; wc -c < "$R/stdout" 2>/dev/null || echo 0; cat "$R/stdout" "$R/stderr" 2>/dev/null; true`);
  const nl = out.indexOf(10);
  const n = Number(out.subarray(0, Math.max(0, nl)).toString().trim());
  if (nl < 0 || !Number.isInteger(n) || n < 0 || nl + 1 + n > out.length) throw new GitRunError(ErrorCode.SshFailed, `the logs from ${conn.target.alias} are malformed`, 'check the remote run directory');
  return { stdout: Buffer.from(out.subarray(nl + 1, nl + 1 + n)), stderr: Buffer.from(out.subarray(nl + 1 + n)) };
}

/** --leave: none removes the run directory and (when no other run uses it) the cached code; code keeps the code; all keeps both. */
/** Runs of this process using each remote code copy right now (a sweep's children share one). */
const using = new Map<string, number>();
const useKey = (conn: HostShell, view: RunView) => `${conn.target.alias}\0${remotePaths(view).code}`;

export async function leaveRemote(conn: HostShell, view: RunView): Promise<void> {
  const leave = view.spec.runArgs.leave ?? 'none';
  const k = useKey(conn, view);
  const n = (using.get(k) ?? 1) - 1;
  if (n > 0) using.set(k, n);
  else using.delete(k);
  if (leave === 'all') return;
  const p = remotePaths(view);
  // Removal is a rename into <remote_dir>/.trash (instant, same file system)
  // and a detached `rm -rf` there: deleting 20,000 files takes the host
  // 0.3 s that nobody needs to wait for. What a crash left in .trash for an
  // hour is removed by a later clean-up.
  const trash = `T=${shQuote(`${p.base}/.trash`)}; case "$T" in /*) ;; *) T="$HOME/$T" ;; esac; mkdir -p "$T" && d=$(mktemp -d "$T/XXXXXXXX") || exit 1`;
  const drop = (word: string) => `if [ -e ${word} ]; then mv ${word} "$d/" || exit 1; fi`;
  const steps = [prologue(view), trash, drop('"$R"')];
  // --leave none: the cached code goes too, unless a run here still needs it (this process, or another's run directory naming the tree).
  if (n <= 0 && leave === 'none') steps.push(`if ! grep -qsx ${shQuote(view.spec.code.tree)} ${shQuote(p.base)}/*/*/tree; then ${drop(shQuote(p.code))}; rm -f ${shQuote(p.marker)}; fi`);
  steps.push(`setsid sh -c 'rm -rf -- "$1"; find "$2" -mindepth 1 -maxdepth 1 -mmin +60 -exec rm -rf -- {} +' sh "$d" "$T" </dev/null >/dev/null 2>&1 &`);
  await conn.run(steps.join('\n'));
}

/** The ssh host a run is bound to, as recorded at submission. */
export const sshAliasOf = (view: RunView): string => {
  const h = view.spec.hostProfile;
  if (!h || h.type !== 'ssh' || !h.host) throw new GitRunError(ErrorCode.BadHostProfile, `run ${view.id.slice(0, 12)} has no ssh host recorded`, 'this is a bug in git-run');
  return h.host;
};

/** The connection for a run's host (one per host and process). */
export const connectionFor = (view: RunView): Promise<HostShell> => connection(sshAliasOf(view), view.spec.hostProfile?.sshConfig ?? null);

/** A run's inputs on its host: what to run in "$R" to place them, and the bytes sent. */
export interface RemoteInputs {
  /** Shell steps that link each input file from the host's cache into "$R/work" ('' for none). */
  place: string;
  /** Files placed (they count among the run directory's files before the run). */
  count: number;
  /** Bytes of input content sent (0 when the host had it all). */
  sent: number;
}

/** Every file in the host's input cache has this mtime (1 s after the epoch): one written in place through a link is then seen, and filled again. */
const CACHE_MTIME = 1;

/**
 * Put the content of a run's inputs in the host's cache,
 * <remote_dir>/inputs/<oid> (executable: <oid>.x), sending only what it
 * lacks, in one tar stream; each entry is checked (size) before it is moved
 * into place, read-only. Later runs on the host reuse it, like code. Returns
 * the steps that place the files in the run directory (hard links; a copy
 * where a link fails). The Slurm executor reuses it.
 */
export async function stageRemoteInputs(given: HostShell | null, repo: Repo, view: RunView, onBytes?: (n: number) => void): Promise<RemoteInputs> {
  const files = await inputFiles(repo, view.spec);
  if (!files.length) return { place: '', count: 0, sent: 0 };
  const conn = given ?? (await connectionFor(view));
  const local = await fillContentCache(repo, files);
  const names = [...new Set(files.map(cacheNameOf))];
  const sizes = new Map(names.map((n) => [n, statSync(local.get(n)!).size]));
  const dir = `${remotePaths(view).base}/inputs`;
  const home = `I=${shQuote(dir)}; case "$I" in /*) ;; *) I="$HOME/$I" ;; esac`;
  // An entry counts only when it still has its size, its mode and the cache's mtime.
  const check = (n: string) => `[ -f "$I/${n}" ] && [ "$(stat -c '%s %a %Y' "$I/${n}")" = ${shQuote(`${sizes.get(n)} ${n.endsWith('.x') ? 555 : 444} ${CACHE_MTIME}`)} ] && echo ${n}`;
  const answer = (await conn.run(`${home}\n${names.map(check).join('\n')}\ntrue`)).toString();
  // The host's word is taken only for names asked about.
  const present = new Set(answer.split('\n').filter((l) => sizes.has(l)));
  const missing = names.filter((n) => !present.has(n));
  let sent = 0;
  if (missing.length) {
    const receive = [
      home,
      `mkdir -p "$I" && t=$(mktemp -d "$I/.tmp-XXXXXXXX") || exit 1`,
      `tar -x -f - -C "$t" || { rm -rf "$t"; exit 3; }`,
      ...missing.map(
        (n) =>
          `if [ "$(wc -c < "$t/${n}" 2>/dev/null)" != ${sizes.get(n)} ]; then echo "incomplete input ${n}" >&2; rm -rf "$t"; exit 3; fi; chmod ${n.endsWith('.x') ? 555 : 444} "$t/${n}" && touch -d @${CACHE_MTIME} "$t/${n}" && mv -f "$t/${n}" "$I/${n}" || { rm -rf "$t"; exit 3; }`,
      ),
      'rm -rf "$t"',
    ].join('\n');
    const tar = spawn('tar', ['-c', '-f', '-', '-C', contentCacheDir(repo), '--', ...missing], { stdio: ['ignore', 'pipe', 'pipe'] });
    let tarErr = '';
    tar.stderr.on('data', (d: Buffer) => (tarErr += d.toString()));
    const exited = new Promise<number | null>((resolve) => tar.on('close', (c: number | null) => resolve(c)));
    await conn.run(
      receive,
      counted(tar.stdout, (n) => {
        sent += n;
        onBytes?.(sent);
      }),
    );
    const code = await exited;
    if (code !== 0) throw new GitRunError(ErrorCode.Git, `tar of the run's inputs failed (exit ${code}): ${tarErr.trim()}`, 'check the content cache under .git/git-run/inputs');
  }
  const place = files.map((f) => {
    const to = `"$R/work/"${shQuote(f.path)}`;
    const dirOf = f.path.includes('/') ? `mkdir -p "$R/work/"${shQuote(f.path.slice(0, f.path.lastIndexOf('/')))} && ` : '';
    const from = `"$I/${cacheNameOf(f)}"`;
    return `${dirOf}rm -f ${to} && { ln ${from} ${to} 2>/dev/null || cp -p ${from} ${to}; }`;
  });
  return { place: `{ ${home}; ${place.join(' && ')}; }`, count: files.length, sent };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A remote run driven from here: record the start, send the code if the
 * host lacks it, start the command detached, follow it until it ends; the
 * caller then records the end (finish). If this process dies, the command
 * goes on; whoever reads the run next reattaches (refreshRemote).
 */
export async function startRemote(repo: Repo, given: RunView, opts: StartOptions = {}): Promise<Started | null> {
  const alias = sshAliasOf(given);
  const conn = await connectionFor(given);
  const p = remotePaths(given);
  let view: RunView | null = given;
  if (given.status === 'queued') {
    const handle: RemoteHandle = {
      executor: 'ssh',
      profile: given.spec.host,
      alias,
      runDir: p.run,
      codeDir: p.code,
      hostname: conn.target.hostname,
      supervisor: { host: thisHost(), pid: process.pid, start: processStart(process.pid), bootId: bootId() },
    };
    view = await recordStart(repo, given, { status: 'running', startedAt: new Date().toISOString(), handle } as RunState);
    if (!view) {
      // Cancelled while queued: the canceller recorded it.
      await discardControlDir(controlDirFor(repo, given.id, given.spec.runArgs));
      return null;
    }
  }
  const v = view;
  using.set(useKey(conn, v), (using.get(useKey(conn, v)) ?? 0) + 1);
  let sent: number;
  let via: CodeTransfer | undefined;
  let inputsSent = 0;
  try {
    const inputs = await stageRemoteInputs(conn, repo, v).catch((e: unknown) => {
      // A work-tree input whose bytes are no longer those recorded: the run fails, saying why.
      if (e instanceof GitRunError && e.code === ErrorCode.BadInput) throw new GitRunError(e.code, e.message, e.hint, { ...e.data, exitCode: -1 });
      throw e;
    });
    inputsSent = inputs.sent;
    ({ sent, via } = await launchRemote(conn, repo, v, opts.transfer, inputs));
  } catch (e) {
    // A step that ran and failed (the code did not arrive whole, the run
    // directory could not be made) started nothing: the run failed, with the
    // reason. A broken connection leaves the outcome unknown: the run stays
    // as it is, for the next reader to finish or call lost.
    if (!(e instanceof GitRunError) || typeof e.data.exitCode !== 'number') throw e;
    const failed = failToStart(repo, conn, v, e);
    return { view: v, ended: failed.then(() => undefined), finish: () => failed };
  }
  void opts.cancelled?.then(() => cancelRemote(conn, v).catch(() => undefined));
  const ended = (async () => {
    const offsets = { stdout: 0, stderr: 0 };
    for (let wait = 50; ; wait = Math.min(500, wait * 2)) {
      const poll = await pollRemote(conn, v, offsets);
      for (const s of ['stdout', 'stderr'] as const) {
        if (poll[s].length) {
          offsets[s] += poll[s].length;
          opts.output?.(s, poll[s]);
          wait = 50;
        }
      }
      if (poll.exit !== null || !poll.alive) return;
      await sleep(wait);
    }
  })();
  return { view: v, ended, finish: async () => (await ended, finalizeRemote(repo, conn, v, null, sent, inputsSent, via)) };
}

/** Record a run that never started on the host, and clear what it left there. */
async function failToStart(repo: Repo, conn: HostShell, view: RunView, e: GitRunError): Promise<RunView> {
  const result: RunResult = {
    status: 'failed',
    exitCode: null,
    signal: null,
    error: `could not start on ${view.spec.host}: ${typeof e.data.stderr === 'string' && e.data.stderr ? e.data.stderr : e.message}`,
    startedAt: view.state?.startedAt ?? null,
    endedAt: new Date().toISOString(),
    host: { hostname: conn.target.hostname, platform: 'remote', arch: '', release: '' },
    codeBytesSent: 0,
  };
  const done = await recordEnd(repo, view, { result, stdoutData: Buffer.alloc(0), stderrData: Buffer.alloc(0), outputsTree: null });
  await leaveRemote(conn, done ?? view).catch(() => undefined);
  await discardControlDir(controlDirFor(repo, view.id, view.spec.runArgs));
  return done ?? readRun(repo, view.id);
}

/** Record the end of a remote run from what its directory says. */
export async function finalizeRemote(repo: Repo, conn: HostShell, start: RunView, lost: string | null = null, codeBytesSent?: number, inputBytesSent?: number, codeTransfer?: CodeTransfer): Promise<RunView> {
  let view = start;
  for (;;) {
    if (isFinal(view.status)) return view;
    const poll = lost ? null : await pollRemote(conn, view, { stdout: 0, stderr: 0 }).catch(() => null);
    const cancelled = poll ? poll.cancelled : (await conn.exec(`${prologue(view)}; test -e "$R/cancel"`)).code === 0;
    const exitCode: number | null = poll?.exit ?? null;
    let outputsTree: string | null = null;
    let outputs: ObservedOutputs | null = null;
    const fetched: FetchStats = {};
    if (exitCode !== null) {
      failpoint('outputs');
      try {
        outputsTree = await fetchOutputs(conn, repo, view, fetched);
        outputs = { collected: true };
      } catch (e) {
        if (!(e instanceof GitRunError)) throw e;
        outputs = { collected: false, reason: e.message };
      }
    }
    const { status, error } = finalStatus({
      started: !!view.state,
      // The wrapper's shell reports a signal as 128+n; the signal's name is not known here.
      exit: exitCode === null ? null : { code: exitCode, signal: null, error: null, note: exitCode > 128 ? `exit ${exitCode}: killed by signal ${exitCode - 128}?` : null },
      cancelRequested: cancelled,
      outputs,
      lostReason: lost ?? 'the command ended without an exit status on the host',
    });
    const logs = exitCode === null && !poll ? { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) } : await fetchLogs(conn, view);
    const result: RunResult = {
      status,
      exitCode,
      signal: null,
      error,
      startedAt: view.state?.startedAt ?? null,
      endedAt: new Date().toISOString(),
      host: { hostname: conn.target.hostname, platform: 'remote', arch: '', release: '' },
      ...(codeBytesSent !== undefined ? { codeBytesSent } : {}),
      ...(codeTransfer ? { codeTransfer } : {}),
      ...(inputBytesSent !== undefined && resolvedInputs(view.spec).length ? { inputBytesSent } : {}),
      ...(fetched.transfer ? { outputsTransfer: fetched.transfer, outputBytesFetched: fetched.bytes ?? 0 } : {}),
    };
    failpoint('record');
    const done = await recordEnd(repo, view, { result, stdoutData: logs.stdout, stderrData: logs.stderr, outputsTree });
    if (!done) {
      view = await readRun(repo, view.id);
      continue;
    }
    await leaveRemote(conn, done).catch(() => undefined);
    await discardControlDir(controlDirFor(repo, view.id, view.spec.runArgs));
    return done;
  }
}

/** Reattach to a remote run: finish its record if it ended; mark it lost if it vanished. */
export async function refreshRemote(repo: Repo, view: RunView): Promise<boolean> {
  if (isFinal(view.status) || !view.state) return false;
  let conn: HostShell;
  try {
    conn = await connectionFor(view);
  } catch {
    return false; // cannot look: nothing can be said yet
  }
  const poll = await pollRemote(conn, view, { stdout: 0, stderr: 0 });
  if (poll.exit === null && poll.alive) return false;
  // Still being sent or started by a live process here: not ours to judge.
  const sup = (view.state.handle as RemoteHandle).supervisor;
  const supervised = sup && sup.host === thisHost() && (!sup.bootId || sup.bootId === bootId()) && isAlive(sup.pid, sup.start);
  if (supervised) return false;
  await finalizeRemote(repo, conn, view, poll.exit === null ? 'the command is gone from the host and left no exit status' : null);
  return true;
}
