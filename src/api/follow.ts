/**
 * Reading a run's logs, live or recorded. While a run is active on this
 * host its output is read from the files the command writes; once it is
 * recorded, from git. Offsets carry over, so following a run from start to
 * end prints every byte exactly once even when the files are removed after
 * the record is written (--leave none).
 */
import type { Repo } from '../git/repo.js';
import { readBlob, revParse } from '../git/objects.js';
import { RunRef } from '../git/refs.js';
import { readRun, type RunView } from '../store/runs.js';
import { executorFor, type Executor } from '../executors/index.js';
import { isFinal } from '../core/record.js';

export type Stream = 'stdout' | 'stderr';
export type Sink = (stream: Stream, chunk: Buffer) => void;

/** A recorded log (empty while the run is active). */
export async function recordedLog(repo: Repo, view: RunView, stream: Stream): Promise<Buffer> {
  return (await readBlob(repo, `${view.tip}:logs/${stream}`)) ?? Buffer.alloc(0);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What one look at an active run found: whether its command has ended, and how long to wait before the next look. */
export interface Look {
  ended: boolean;
  pollMs: number;
}

/**
 * The one follow cadence (`logs -f`, `metrics -f`, the UI's live views): the
 * run read, then looked at (`look`: read what it wrote since) until it is
 * recorded as ended, then `recorded` once with its final view. Between looks
 * the ref is checked often once the command has ended, rarely before; the
 * run is checked where it runs about once a second (at once when its
 * command ended somewhere only a look there can record). Without `follow`,
 * one look. Returns the last view read.
 */
export async function followRun(
  repo: Repo,
  id: string,
  opts: { follow: boolean; stopped?: () => boolean },
  look: (view: RunView, executor: Executor) => Promise<Look>,
  recorded: (view: RunView) => Promise<void>,
): Promise<RunView> {
  let view = await readRun(repo, id);
  const ref = new RunRef(id).name;
  let lastRefCheck = 0;
  let lastRefresh = Date.now();
  for (;;) {
    if (isFinal(view.status)) {
      await recorded(view);
      return view;
    }
    const executor = executorFor(view);
    const got = await look(view, executor);
    if (!opts.follow || opts.stopped?.()) return view;
    const now = Date.now();
    if (got.ended || now - lastRefCheck > 250) {
      lastRefCheck = now;
      const tip = await revParse(repo, ref);
      if (tip !== view.tip) {
        view = await readRun(repo, id);
        continue;
      }
    }
    if (now - lastRefresh > 1000 || (got.ended && !executor.checksLocally)) {
      lastRefresh = now;
      if (await executor.refresh(repo, view)) view = await readRun(repo, id);
    }
    await sleep(got.pollMs);
  }
}

export interface FollowOptions {
  streams: Stream[];
  /** Keep reading until the run is recorded as ended. */
  follow: boolean;
  /** Stop early (e.g. on Ctrl-C); the current view is returned. */
  stopped?: () => boolean;
}

/** Emit the run's output; with follow, until it ends. Returns the last view read. */
export async function streamLogs(repo: Repo, id: string, sink: Sink, opts: FollowOptions): Promise<RunView> {
  const offsets: Record<Stream, number> = { stdout: 0, stderr: 0 };
  return followRun(
    repo,
    id,
    opts,
    async (view, executor) => {
      // Live output from wherever the run runs (its files here, or its host).
      const live = await executor.readLive(repo, view, offsets);
      for (const s of ['stdout', 'stderr'] as const) {
        if (live[s].length && opts.streams.includes(s)) sink(s, live[s]);
        offsets[s] += live[s].length;
      }
      return { ended: live.ended, pollMs: live.pollMs };
    },
    async (view) => {
      for (const s of opts.streams) {
        const all = await recordedLog(repo, view, s);
        if (all.length > offsets[s]) sink(s, all.subarray(offsets[s]));
        offsets[s] = all.length;
      }
    },
  );
}
