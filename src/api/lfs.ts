/**
 * Big outputs as Git LFS objects, for the verbs that move runs (decision
 * 0019): which LFS objects a set of runs holds, and sending them to a remote
 * so that a teammate's pull can fetch them when they are read. `git run push`
 * calls pushLfsObjects after the refs went.
 */
import type { Repo } from '../git/repo.js';
import { lfsPointersInRuns, mayHoldLfsContent, pointersAmong, pushLfsPointers, type LfsPointer } from '../git/lfs.js';
import { onRunsTransferred } from './share.js';
import { outputsOf } from '../store/runs.js';
import { getRun } from './query.js';

/** The LFS pointers among the outputs of these runs (names or ids). */
export async function lfsPointersOf(repo: Repo, runs: readonly string[]): Promise<LfsPointer[]> {
  const out: LfsPointer[] = [];
  for (const name of runs) {
    const view = await getRun(repo, name);
    const files = (await outputsOf(repo, view.tip)).filter((o) => o.mode === '100644' || o.mode === '100755');
    out.push(...(await pointersAmong(repo, files, (p) => `${view.id.slice(0, 12)}:${p}`)).values());
  }
  return out;
}

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

// `git run push` sends the LFS content of the runs it pushed (after their
// refs); a pull fetches nothing of it: content is fetched when it is read.
onRunsTransferred(async (repo, remote, runs, direction) => {
  if (direction === 'push' && runs.length) await pushLfsObjects(repo, remote, runs);
});
