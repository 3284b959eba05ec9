/**
 * Small git questions the library asks, each a named command line: the
 * rest of git-run never builds git's argument vectors itself (the lint holds
 * it to that), so what git is asked is all here and in the other src/git/
 * modules.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Repo } from './repo.js';
import { spawnGit } from './gateway.js';

/** `git rev-list` of revisions (HEAD when none), limited to paths after `--` when given; the error git gave when it refuses the range. */
export async function revList(repo: Repo, revisions: string[], paths: string[] | null): Promise<{ commits: string[] } | { error: string }> {
  const r = await repo.git(['rev-list', ...(revisions.length ? revisions : ['HEAD']), ...(paths ? ['--', ...paths] : [])], { okCodes: [128] });
  if (r.code !== 0) return { error: /fatal: (.*)/.exec(r.stderr)?.[1] ?? r.stderr.trim() };
  return { commits: r.stdout.toString().split('\n').filter(Boolean) };
}

/** The pager git would use (`git var GIT_PAGER`: core.pager, GIT_PAGER, PAGER); null when git cannot say. */
export async function gitPager(repo: Repo): Promise<string | null> {
  const r = await repo.git(['var', 'GIT_PAGER'], { okCodes: [1, 128] });
  return r.code === 0 ? r.stdout.toString().trim() : null;
}

/** `git config --get-colorbool <name>` for output to a terminal or not; null when git cannot say. */
export async function colorBool(repo: Repo, name: string, toTerminal: boolean, cwd?: string): Promise<boolean | null> {
  const r = await repo.git(['config', '--get-colorbool', name, toTerminal ? 'true' : 'false'], { okCodes: [1, 128], ...(cwd ? { cwd } : {}) });
  return r.code === 0 ? r.stdout.toString().trim() === 'true' : null;
}

/** `git archive --format=tar` of a tree, as a running process (its stdout the archive). */
export function archiveTree(repo: Repo, tree: string): ChildProcessWithoutNullStreams {
  return spawnGit(['archive', '--format=tar', tree], repo.processOptions());
}

/** `git diff <args> <a> <b> -- <paths>` between two trees, its output as bytes. `cwd`: where pathspecs are read from. */
export async function diffTrees(repo: Repo, a: string, b: string, args: string[], paths: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): Promise<Buffer> {
  const r = await repo.git(['diff', ...args, a, b, '--', ...paths], { ...(opts.cwd ? { cwd: opts.cwd } : {}), ...(opts.env ? { env: opts.env } : {}) });
  return r.stdout;
}

/** A private index file (never the user's): fill it, list it, check it out elsewhere. */
export const privateIndex = {
  /** Replace its content with a tree. */
  readTree: async (repo: Repo, indexFile: string, treeish: string): Promise<void> => {
    await repo.git(['read-tree', treeish], { env: { GIT_INDEX_FILE: indexFile } });
  },
  /** Add entries (mode, object, path) over what it holds. */
  add: async (repo: Repo, indexFile: string, entries: Array<{ mode: string; oid: string; path: string }>): Promise<void> => {
    if (!entries.length) return;
    await repo.git(['update-index', '-z', '--index-info'], { env: { GIT_INDEX_FILE: indexFile }, input: entries.map((o) => `${o.mode} ${o.oid}\t${o.path}\0`).join('') });
  },
  /** Its paths, from the top of the tree. */
  list: async (repo: Repo, indexFile: string): Promise<string[]> =>
    (await repo.git(['ls-files', '-z', '--full-name'], { env: { GIT_INDEX_FILE: indexFile } })).stdout.toString('utf8').split('\0').filter(Boolean),
  /** Write these paths of it under `target` (whatever sparse-checkout the repository has). */
  checkoutTo: async (repo: Repo, indexFile: string, paths: string[], target: string): Promise<void> => {
    await repo.git(['-c', 'core.sparseCheckout=false', 'checkout-index', '-z', '--stdin', '-f', `--prefix=${target}/`], {
      env: { GIT_INDEX_FILE: indexFile, GIT_WORK_TREE: target },
      input: paths.map((f) => f + '\0').join(''),
      cwd: target,
    });
  },
};
