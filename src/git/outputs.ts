/**
 * A run directory as git sees it. The snapshot is checked out with a private
 * index whose stat cache then lets the outputs step hash only the files the
 * run created or changed, even in a 20,000-file tree.
 *
 * The user's own config must not change what a run directory holds: sparse
 * checkout would drop files, fsmonitor would answer for the wrong directory,
 * .gitignore would hide outputs (results/ is commonly ignored). So these
 * commands switch those off and name every ignore rule explicitly.
 */
import { promises as fs, lstatSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Repo } from './repo.js';
import { copyIndexFile, tempPath } from './snapshot.js';
import { emptyTree, lsTree } from './objects.js';
import { CatFileBatch, type Env } from './gateway.js';
import { readBlob } from './objects.js';
import { lfsAvailable, storeLfsFile, writeLfsOutputPointer } from './lfs.js';
import { largeOutputOf } from '../core/config.js';
import { mkdirShared, sharedPermFor } from './shared.js';
import { ErrorCode, GitRunError } from '../errors/index.js';

/**
 * The one rule for what a run leaves in its directory, for every executor
 * (decision 0009). A symbolic link is an output like a file: stored as a
 * link, its target as text, never followed. But a link whose target, resolved
 * through the links of the same tree (the code's and the outputs'), leaves
 * the run directory or enters a .git directory refuses the run's outputs
 * whole, as does a path with a .git component in any spelling that some file
 * system takes for .git (any case, 8.3's git~1, NTFS's trailing dots and
 * spaces): the run is then not recorded as succeeded, and says why.
 */
export const refusedOutputs = (entry: string, why: string) =>
  new GitRunError(ErrorCode.HostileArchive, `the outputs were refused: ${JSON.stringify(entry)}: ${why}`, 'nothing of them was kept; the run is not recorded as succeeded. Check what the run writes into its directory.', { entry, why });

/** A name that git (or a file system it runs on) takes for .git. */
export function isDotGit(name: string): boolean {
  const n = name.toLowerCase().replace(/[. ]+$/, '');
  return n === '.git' || n === 'git~1';
}

/** Links resolved one after another before the chain counts as a loop (Linux's own limit). */
const MAX_LINKS = 40;

/**
 * Where a link's target leads, resolved through `links` (path -> target) as
 * the kernel would resolve it: null when it leaves the directory (an absolute
 * target, `..` past the top, a loop), else the path inside it.
 */
export function resolveLink(links: ReadonlyMap<string, string>, link: string, seen = 0): string | null {
  const target = links.get(link)!;
  if (!target || target.startsWith('/') || target.includes('\0')) return null;
  const stack = link.split('/').slice(0, -1);
  const rest = target.split('/');
  let hops = seen;
  while (rest.length) {
    const c = rest.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (!stack.length) return null;
      stack.pop();
      continue;
    }
    stack.push(c);
    const here = stack.join('/');
    if (links.has(here)) {
      if (++hops > MAX_LINKS) return null;
      const t = links.get(here)!;
      if (!t || t.startsWith('/')) return null;
      // Continue from the link's own directory with its target, then what was left.
      stack.pop();
      rest.unshift(...t.split('/'));
    }
  }
  return stack.join('/');
}

/** Throw refusedOutputs for the first output that breaks the rule. `links`: every link of the tree, outputs and code. */
export function checkOutputs(paths: Iterable<string>, links: ReadonlyMap<string, string>): void {
  for (const p of paths) {
    if (p.split('/').some(isDotGit)) throw refusedOutputs(p, 'a ".git" entry (in one of its spellings)');
  }
  for (const [link, target] of links) {
    if (target.startsWith('/')) throw refusedOutputs(link, `a symlink to the absolute path ${JSON.stringify(target)}`);
    const to = resolveLink(links, link);
    if (to === null) throw refusedOutputs(link, `a symlink to ${JSON.stringify(target)} leaves the run directory`);
    if (to.split('/').some(isDotGit)) throw refusedOutputs(link, 'a symlink into a ".git" directory');
  }
}

/** The targets of the links among `entries` (mode 120000), read from their blobs. */
async function linkTargets(repo: Repo, entries: Array<{ path: string; mode: string; oid: string }>): Promise<Map<string, string>> {
  const links = entries.filter((e) => e.mode === '120000');
  const out = new Map<string, string>();
  if (!links.length) return out;
  const batch = new CatFileBatch(repo.processOptions());
  try {
    for (const l of links) out.set(l.path, (await batch.read(l.oid))?.data.toString('utf8') ?? '');
  } finally {
    batch.close();
  }
  return out;
}

const RUN_DIR_CONFIG = ['-c', 'core.sparseCheckout=false', '-c', 'core.fsmonitor=false', '-c', 'core.untrackedCache=false', '-c', 'core.splitIndex=false'];

export interface RunDirectory {
  /** The directory the run works in. */
  workDir: string;
  /** Private index describing workDir as checked out. */
  indexFile: string;
}

function dirEnv(d: RunDirectory): Env {
  return { GIT_INDEX_FILE: d.indexFile, GIT_WORK_TREE: d.workDir };
}

/** Check the tree out into an empty directory. */
export async function materialize(repo: Repo, d: RunDirectory, tree: string): Promise<void> {
  mkdirShared(await sharedPermFor(repo, d.workDir), d.workDir);
  await repo.git([...RUN_DIR_CONFIG, 'read-tree', '--reset', '-u', tree], { cwd: d.workDir, env: dirEnv(d) });
}

export interface OutputRules {
  /** The .fetchignore in force, if any: its globs reject files. */
  fetchIgnoreFile: string | null;
  /** True when a .sendignore was in force and no .fetchignore: then files that
   * were sent are not fetched back (Runaway's rule), only new files are. */
  onlyNew: boolean;
  /** A top-level directory that is the tool's, never an output. */
  exclude?: string;
  /** Work on a copy of the run's index: needed when another process may collect the same run. */
  privateIndex?: boolean;
  /** The run's input files: those it left as they were are no outputs, nor is one rewritten with the same bytes; one it changed is. */
  inputs?: { unchanged: ReadonlySet<string>; oids: ReadonlyMap<string, string> };
  /** Store files at or above .runconfig's "large_output" as Git LFS objects when git-lfs is installed (decision 0019). */
  largeOutputs?: boolean;
}

/**
 * The run's "large_output": read from the run directory's .runconfig (the
 * snapshot's, checked out there: no git process) unless the run changed it,
 * then from the snapshot itself.
 */
async function largeOutputLimit(repo: Repo, workDir: string, codeTree: string, changed: readonly string[]): Promise<number | null> {
  if (!changed.includes('.runconfig')) {
    try {
      return largeOutputOf(readFileSync(path.join(workDir, '.runconfig'), 'utf8'));
    } catch {
      return largeOutputOf(null);
    }
  }
  const blob = await readBlob(repo, `${codeTree}:.runconfig`);
  return largeOutputOf(blob ? blob.toString('utf8') : null);
}

/**
 * The size from which a remote run's outputs become LFS objects: null when
 * none can (outputs of `total` bytes in all stay below the snapshot's
 * "large_output", or git-lfs is missing). Asked only when there are outputs.
 */
export async function lfsThresholdFor(repo: Repo, codeTree: string, total: number): Promise<number | null> {
  if (total <= 0) return null;
  const blob = await readBlob(repo, `${codeTree}:.runconfig`);
  const limit = largeOutputOf(blob ? blob.toString('utf8') : null);
  if (limit === null || total < limit) return null;
  return (await lfsAvailable(repo)) ? limit : null;
}

/**
 * The files among `names` at or above the run's threshold, stored as LFS
 * objects: their `mode pointer-blob\tpath` entries. Nothing when none is
 * that large (the usual run: a stat per file, no process) or git-lfs is
 * missing (then they stay ordinary blobs, as before).
 */
async function largeAsLfs(repo: Repo, workDir: string, codeTree: string, names: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const sizes = names.map((n) => ({ n, st: lstatSafe(path.join(workDir, n)) }));
  const largest = Math.max(0, ...sizes.map((s) => (s.st?.isFile() ? s.st.size : 0)));
  if (!largest) return out;
  const limit = await largeOutputLimit(repo, workDir, codeTree, names);
  if (limit === null || largest < limit) return out;
  if (!(await lfsAvailable(repo))) return out;
  for (const { n, st } of sizes) {
    if (!st?.isFile() || st.size < limit) continue;
    const pointer = await storeLfsFile(repo, path.join(workDir, n));
    const oid = await writeLfsOutputPointer(repo, n, pointer);
    out.set(n, `${st.mode & 0o100 ? '100755' : '100644'} ${oid}\t${n}\0`);
  }
  return out;
}

/**
 * The outputs of a finished run as a tree (null when there are none): files
 * created or changed in the run directory, by the transfer rules.
 */
export async function collectOutputs(repo: Repo, d: RunDirectory, codeTree: string, rules: OutputRules): Promise<string | null> {
  // The supervisor is the only process that collects while it lives. Anyone
  // else (finishing a dead supervisor's run) works on a copy of the run's
  // index (the stat cache comes with it), so that two such processes each see
  // the directory against the checkout, not against the other's update.
  if (rules.privateIndex === false) return collectWith(repo, d, codeTree, rules);
  const own = await tempPath(repo, 'collect');
  try {
    copyIndexFile(d.indexFile, own);
    return await collectWith(repo, { ...d, indexFile: own }, codeTree, rules);
  } finally {
    await fs.rm(own, { force: true });
  }
}

async function collectWith(repo: Repo, d: RunDirectory, codeTree: string, rules: OutputRules): Promise<string | null> {
  const env = dirEnv(d);
  const cfg = RUN_DIR_CONFIG;
  // Untracked files not rejected by .fetchignore, and tracked ones whose stat changed.
  const exclude = rules.fetchIgnoreFile ? [`--exclude-from=${rules.fetchIgnoreFile}`] : [];
  // The tool's own directory (the params file) is never a candidate: skipping it here saves three git processes per run.
  if (rules.exclude) exclude.push(`--exclude=/${rules.exclude}/`);
  const listed = await repo.git([...cfg, 'ls-files', '-z', '--others', '--modified', ...exclude], { cwd: d.workDir, env });
  // git itself skips what it takes for .git (update-index ignores the other spellings): refused here, as for every executor.
  // A directory named exactly .git is never listed: looked for where outputs are.
  let names = listed.stdout.toString('utf8').split('\0').filter(Boolean);
  // Untouched inputs are not hashed again (a 1 GiB input costs nothing here).
  const unchanged = rules.inputs?.unchanged;
  if (unchanged?.size) names = names.filter((n) => !unchanged.has(n));
  const dirs = new Set(['', ...names.map((n) => path.posix.dirname(n)).map((d) => (d === '.' ? '' : d))]);
  for (const dir of dirs) {
    if (lstatSafe(path.join(d.workDir, dir, '.git'))) throw refusedOutputs(dir ? `${dir}/.git` : '.git', 'a ".git" entry (in one of its spellings)');
  }
  checkOutputs(names, new Map());
  // Big files go to git-lfs's store, never into the object database: only their pointers are indexed.
  const large = rules.largeOutputs ? await largeAsLfs(repo, d.workDir, codeTree, names) : new Map<string, string>();
  if (large.size) names = names.filter((n) => !large.has(n));
  const list = unchanged?.size || large.size ? Buffer.from(names.map((n) => n + '\0').join('')) : listed.stdout;
  if (!list.length && !large.size) return null;
  if (list.length) await repo.git([...cfg, 'update-index', '-z', '--add', '--remove', '--stdin'], { cwd: d.workDir, env, input: list });
  if (large.size) await repo.git([...cfg, 'update-index', '-z', '--index-info'], { cwd: d.workDir, env, input: [...large.values()].join('') });
  const after = await repo.text([...cfg, 'write-tree'], { cwd: d.workDir, env });
  // What really differs from the code (a touched but identical file is not an output).
  const diff = (await repo.git(['diff-tree', '-z', '-r', '--no-renames', '--raw', codeTree, after])).stdout.toString('utf8');
  const parts = diff.split('\0');
  const entries: string[] = [];
  const kept: Array<{ path: string; mode: string; oid: string }> = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    // ":100644 100644 <old> <new> M" then the path
    const [, newMode, , newOid, status] = parts[i]!.slice(1).split(' ');
    const file = parts[i + 1]!;
    if (status === 'D') continue;
    if (rules.exclude && (file === rules.exclude || file.startsWith(rules.exclude + '/'))) continue;
    if (rules.onlyNew && status !== 'A') continue;
    if (rules.inputs?.oids.get(file) === newOid) continue;
    entries.push(`${newMode} ${newOid}\t${file}\0`);
    kept.push({ path: file, mode: newMode!, oid: newOid! });
  }
  if (kept.some((e) => e.mode === '120000')) checkOutputs([], await treeLinks(repo, codeTree, kept));
  return outputsTree(repo, entries, rules);
}

const lstatSafe = (p: string) => {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
};

/** Every link the run directory has once these outputs are in: the code's, then the outputs' (which replace them). */
async function treeLinks(repo: Repo, codeTree: string, outputs: Array<{ path: string; mode: string; oid: string }>): Promise<Map<string, string>> {
  const code = (await lsTree(repo, codeTree, { recursive: true })).filter((e) => e.mode === '120000').map((e) => ({ path: e.name, mode: e.mode, oid: e.oid }));
  const replaced = new Set(outputs.map((o) => o.path));
  return linkTargets(repo, [...code.filter((c) => !replaced.has(c.path)), ...outputs]);
}

export interface Candidate {
  path: string;
  mode: string;
  oid: string;
}

/**
 * Outputs that came from elsewhere (a remote run's archive): candidates are
 * files the run created or changed by the remote's account; what is really
 * new or different from the code, by the transfer rules, becomes the tree.
 */
export async function outputsFromCandidates(repo: Repo, candidates: Candidate[], codeTree: string, rules: OutputRules): Promise<string | null> {
  if (!candidates.length) return null;
  // The same rule as for a local run, over everything the remote sent (the archive's own checks came first).
  checkOutputs(
    candidates.map((c) => c.path),
    new Map(),
  );
  if (candidates.some((c) => c.mode === '120000')) checkOutputs([], await treeLinks(repo, codeTree, candidates));
  const code = new Map((await lsTree(repo, codeTree, { recursive: true })).map((e) => [e.name, e]));
  const entries: string[] = [];
  for (const c of candidates) {
    if (rules.exclude && (c.path === rules.exclude || c.path.startsWith(rules.exclude + '/'))) continue;
    const before = code.get(c.path);
    if (before && before.oid === c.oid && before.mode === c.mode) continue;
    if (rules.onlyNew && before) continue;
    if (rules.inputs?.oids.get(c.path) === c.oid) continue;
    entries.push(`${c.mode} ${c.oid}\t${c.path}\0`);
  }
  return outputsTree(repo, entries, rules);
}

/** The outputs tree from `mode oid\tpath` entries, minus what .fetchignore rejects. */
async function outputsTree(repo: Repo, entries: string[], rules: OutputRules): Promise<string | null> {
  if (!entries.length) return null;
  const outIndex = await tempPath(repo, 'outputs');
  const oenv = { GIT_INDEX_FILE: outIndex };
  try {
    await repo.git(['update-index', '-z', '--index-info'], { env: oenv, input: entries.join('') });
    if (rules.fetchIgnoreFile) {
      // Changed tracked files (and anything from a remote) meet .fetchignore here.
      const rejected = await repo.git(['ls-files', '-z', '--cached', '--ignored', `--exclude-from=${rules.fetchIgnoreFile}`], { env: oenv });
      if (rejected.stdout.length) await repo.git(['update-index', '-z', '--force-remove', '--stdin'], { env: oenv, input: rejected.stdout });
    }
    const tree = await repo.text(['write-tree'], { env: oenv });
    return tree === (await emptyTree(repo)) ? null : tree;
  } finally {
    await fs.rm(outIndex, { force: true });
  }
}
