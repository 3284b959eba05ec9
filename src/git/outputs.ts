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
import { promises as fs, copyFileSync } from 'node:fs';
import type { Repo } from './repo.js';
import { tempPath } from './snapshot.js';
import { emptyTree, lsTree } from './objects.js';
import type { Env } from './gateway.js';

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
  await fs.mkdir(d.workDir, { recursive: true });
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
    copyFileSync(d.indexFile, own);
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
  if (!listed.stdout.length) return null;
  await repo.git([...cfg, 'update-index', '-z', '--add', '--remove', '--stdin'], { cwd: d.workDir, env, input: listed.stdout });
  const after = await repo.text([...cfg, 'write-tree'], { cwd: d.workDir, env });
  // What really differs from the code (a touched but identical file is not an output).
  const diff = (await repo.git(['diff-tree', '-z', '-r', '--no-renames', '--raw', codeTree, after])).stdout.toString('utf8');
  const parts = diff.split('\0');
  const entries: string[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    // ":100644 100644 <old> <new> M" then the path
    const [, newMode, , newOid, status] = parts[i]!.slice(1).split(' ');
    const file = parts[i + 1]!;
    if (status === 'D') continue;
    if (rules.exclude && (file === rules.exclude || file.startsWith(rules.exclude + '/'))) continue;
    if (rules.onlyNew && status !== 'A') continue;
    entries.push(`${newMode} ${newOid}\t${file}\0`);
  }
  return outputsTree(repo, entries, rules);
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
  const code = new Map((await lsTree(repo, codeTree, { recursive: true })).map((e) => [e.name, e]));
  const entries: string[] = [];
  for (const c of candidates) {
    if (rules.exclude && (c.path === rules.exclude || c.path.startsWith(rules.exclude + '/'))) continue;
    const before = code.get(c.path);
    if (before && before.oid === c.oid && before.mode === c.mode) continue;
    if (rules.onlyNew && before) continue;
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
