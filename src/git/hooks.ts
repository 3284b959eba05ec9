/**
 * The git command lines the post-commit hook needs, named: where hooks live,
 * what a commit is (its parents, the files it changed, its committer time)
 * and what made it (HEAD's reflog).
 */
import path from 'node:path';
import type { Repo } from './repo.js';

/** The directory git runs hooks from: core.hooksPath, or .git/hooks (https://git-scm.com/docs/git-rev-parse#Documentation/git-rev-parse.txt---git-pathltpathgt). */
export async function hooksPath(repo: Repo): Promise<string> {
  const dir = await repo.text(['rev-parse', '--git-path', 'hooks']);
  return path.resolve(repo.topLevel ?? repo.gitDir, dir);
}

/** HEAD's symbolic ref ('refs/heads/main'), or '' for a detached HEAD. */
export async function headSymbolicRef(repo: Repo): Promise<string> {
  return (await repo.git(['symbolic-ref', '-q', 'HEAD'], { okCodes: [1] })).stdout.toString('utf8').trim();
}

/** How many parents a commit has (0 for a root commit). */
export async function parentCount(repo: Repo, sha: string): Promise<number> {
  return (await repo.text(['rev-list', '--parents', '-n', '1', sha])).split(' ').length - 1;
}

/** The subject of HEAD's reflog entry that made `sha` ("commit (merge): ...", "rebase (pick): ..."), '' when none of the last 20 did. */
export async function reflogSubject(repo: Repo, sha: string): Promise<string> {
  const r = await repo.git(['log', '-g', '-n', '20', '--format=%H %gs', 'HEAD'], { okCodes: [128] });
  const entry = r.stdout.toString('utf8').split('\n').find((l) => l.startsWith(sha + ' '));
  return entry?.slice(sha.length + 1) ?? '';
}

/** Whether the commit changed a file matching the pathspecs, relative to its first parent (a root commit: any of its files). */
export async function changesMatch(repo: Repo, sha: string, root: boolean, pathspecs: string[]): Promise<boolean> {
  const range = root ? ['--root', sha] : [`${sha}^1`, sha];
  const r = await repo.git(['diff-tree', '-r', '--name-only', '--no-commit-id', '-z', ...range, '--', ...pathspecs]);
  return r.stdout.length > 0;
}

/** Committer times (seconds) of commits. */
export async function committerTimes(repo: Repo, shas: string[]): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  const out = await repo.text(['show', '-s', '--format=%H %ct', ...shas]);
  for (const line of out.split('\n')) {
    const [h, t] = line.split(' ');
    if (h) times.set(h, Number(t));
  }
  return times;
}

/** Whether `a` is an ancestor of `b` (or the same commit). */
export async function isAncestor(repo: Repo, a: string, b: string): Promise<boolean> {
  return (await repo.git(['merge-base', '--is-ancestor', a, b], { okCodes: [1] })).code === 0;
}
