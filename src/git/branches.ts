/**
 * Branches as the daemon's schedules name them: the branch HEAD is on, and
 * whether a branch exists (its tip a commit).
 */
import type { Repo } from './repo.js';

/** The short name of HEAD's branch, or 'HEAD' when it is detached. */
export async function currentBranch(repo: Repo): Promise<string> {
  return repo.text(['symbolic-ref', '--short', 'HEAD']).catch(() => 'HEAD');
}

/** Whether refs/heads/<branch> names a commit. */
export async function branchExists(repo: Repo, branch: string): Promise<boolean> {
  return (await repo.git(['rev-parse', '-q', '--verify', `refs/heads/${branch}^{commit}`], { okCodes: [1, 128] })).code === 0;
}
