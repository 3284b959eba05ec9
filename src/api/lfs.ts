/**
 * Big outputs as Git LFS objects, for the verbs that move runs (decision
 * 0019): sending the content of a set of runs' outputs to a remote so that
 * a teammate's pull can fetch it when it is read. `git run push` calls
 * pushLfsObjects after the refs went (src/api/share.ts).
 */
import type { Repo } from '../git/repo.js';
import { lfsPointersInRuns, mayHoldLfsContent, pushLfsPointers } from '../git/lfs.js';
import { getRun } from './query.js';

/**
 * Send the LFS content of these runs' outputs to `remote` (a remote's name
 * or URL, as `git lfs push` takes it). Content this clone never had (a
 * pulled run not read here) is counted in `absent`, not an error: the clone
 * that made it pushed it.
 */
export async function pushLfsObjects(repo: Repo, remote: string, runs: readonly string[]): Promise<{ pushed: number; absent: number }> {
  if (!(await mayHoldLfsContent(repo))) return { pushed: 0, absent: 0 };
  const ids = await Promise.all(runs.map((r) => (/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(r) ? r : getRun(repo, r).then((v) => v.id))));
  return pushLfsPointers(repo, remote, await lfsPointersInRuns(repo, ids));
}
