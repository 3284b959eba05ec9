/**
 * Runs whose supervisor is gone and that only a look at another host can
 * finish (local ones are checked by every openIndex, the daemon's queue
 * refresh included): the daemon reattaches to them every few seconds, in the
 * background, so that a host that is down does not hold up the queue.
 */
import type { Repo } from '../../git/repo.js';
import { readRun } from '../../store/runs.js';
import { isFinal } from '../../core/record.js';
import { executorFor } from '../../executors/index.js';
import { openIndex } from '../query.js';

export async function watchRemoteRuns(repo: Repo, inflight: (id: string) => boolean, log: (line: string) => void): Promise<void> {
  const index = await openIndex(repo);
  let running: string[];
  try {
    running = index.workload().flatMap((w) => w.running);
  } finally {
    index.close();
  }
  for (const id of running) {
    if (inflight(id)) continue;
    const v = await readRun(repo, id).catch(() => null);
    if (!v || v.children || isFinal(v.status)) continue;
    const executor = executorFor(v);
    if (executor.checksLocally) continue;
    try {
      if (await executor.refresh(repo, v)) log(`run ${id.slice(0, 12)}: finished (reattached)`);
    } catch (e) {
      log(`run ${id.slice(0, 12)}: cannot reach its host yet: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
