/**
 * Acting on runs: cancel, wait, and editing metadata.
 */
import type { Repo } from '../git/repo.js';
import { readRun, type RunView } from '../store/runs.js';
import { revParse } from '../git/objects.js';
import { RunRef } from '../git/refs.js';
import { refreshRun as refresh, cancelRunsAt } from '../executors/index.js';
import { isFinal } from '../core/record.js';
import { getRun } from './query.js';
import { complete } from './groups.js';

/** Cancel runs by name; returns their views once recorded. */
export async function cancelRuns(repo: Repo, names: string[], graceMs = 5000): Promise<RunView[]> {
  const views = [];
  for (const n of names) views.push(await getRun(repo, n)); // resolve all first: one bad name cancels nothing
  // A group is cancelled through its unfinished children, all at once where the executor can (one scancel for a Slurm array).
  const targets: RunView[] = [];
  for (const v of views) {
    if (!v.children) targets.push(v);
    else for (const c of v.children) if (!c.reused) targets.push(await readRun(repo, c.id));
  }
  await cancelRunsAt(repo, targets.filter((v) => !isFinal(v.status)), graceMs);
  const out: RunView[] = [];
  for (const v of views) out.push(await waitFor(repo, v.id, graceMs + 5000));
  return out;
}

/** Wait until a run is recorded as ended (or the timeout passes). */
export async function waitFor(repo: Repo, id: string, timeoutMs = Infinity): Promise<RunView> {
  const deadline = Date.now() + timeoutMs;
  let view = await readRun(repo, id);
  if (view.children) {
    // A group ends when its children have.
    for (const c of view.children) await waitFor(repo, c.id, Math.max(0, deadline - Date.now()));
    return complete(repo, view);
  }
  let lastRefresh = 0;
  while (!isFinal(view.status) && Date.now() < deadline) {
    if (Date.now() - lastRefresh > 1000) {
      lastRefresh = Date.now();
      await refresh(repo, view);
    }
    await new Promise((r) => setTimeout(r, 50));
    // One cheap ref lookup per poll; the run is read again only when it moved.
    if ((await revParse(repo, new RunRef(id).name)) !== view.tip) view = await readRun(repo, id);
  }
  return view;
}

/** Wait for all runs; they are resolved before waiting starts. */
export async function waitRuns(repo: Repo, names: string[], onEnd?: (v: RunView) => void): Promise<RunView[]> {
  const views = [];
  for (const n of names) views.push(await getRun(repo, n));
  return Promise.all(
    views.map(async (v) => {
      const done = await waitFor(repo, v.id);
      onEnd?.(done);
      return done;
    }),
  );
}
