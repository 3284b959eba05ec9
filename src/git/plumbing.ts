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
export async function colorBool(repo: Repo, name: string, toTerminal: boolean): Promise<boolean | null> {
  const r = await repo.git(['config', '--get-colorbool', name, toTerminal ? 'true' : 'false'], { okCodes: [1, 128] });
  return r.code === 0 ? r.stdout.toString().trim() === 'true' : null;
}

/** `git archive --format=tar` of a tree, as a running process (its stdout the archive). */
export function archiveTree(repo: Repo, tree: string): ChildProcessWithoutNullStreams {
  return spawnGit(['archive', '--format=tar', tree], repo.processOptions());
}
