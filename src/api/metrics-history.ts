/**
 * A run's metric histories (decision 0020) as series, for charts (`git run
 * ui`) and `git run logs -f --metrics`: a finished run's from git (the
 * metrics.jsonl blob recorded at the top of its finished commit), a live
 * run's from its run directory, wherever it runs, through the executor.
 */
import type { Repo } from '../git/repo.js';
import { CatFileBatch } from '../git/gateway.js';
import { parseTree } from '../git/loose.js';
import { RunRef } from '../git/refs.js';
import { POINTER_MAX, POINTER_VERSION } from '../git/lfs.js';
import { readHistory, readRun, type RunView } from '../store/runs.js';
import { executorFor } from '../executors/index.js';
import { isFinal, lfsOutputsOf, mayBeLfsOutput } from '../core/record.js';
import { HISTORY_FILE, MAX_HISTORY_BYTES, brokenCounter, downsample, historyFileOf, scanHistory, type HistoryErrors, type HistorySeries } from '../core/metrics.js';
import { getRun } from './query.js';
import { followRun } from './follow.js';

export interface MetricHistory {
  series: Array<{ name: string; steps: number[]; values: number[] }>;
  /** Broken lines skipped. */
  broken: number;
  /** Read from a run that has not ended (more points may come). */
  live: boolean;
}

/** A full run id is read as is (no name lookup, no look at its host): what a page polling a run passes. */
const FULL_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export async function metricHistory(repo: Repo, runId: string, opts: { names?: string[]; maxPoints?: number } = {}): Promise<MetricHistory> {
  let view = FULL_ID.test(runId) ? await readRun(repo, runId) : await getRun(repo, runId);
  let live = false;
  let data: Buffer | null = null;
  if (!isFinal(view.status)) {
    const got = await readLiveHistory(repo, view);
    if (got.ended) {
      // Ended while we looked: its record may be written already, with the whole history.
      const again = await readRun(repo, view.id);
      if (isFinal(again.status)) view = again;
      else (data = got.data), (live = true);
    } else (data = got.data), (live = true);
  }
  if (!live) data = await recordedHistory(repo, view);
  const only = opts.names ? new Set(opts.names) : undefined;
  const { series, errors } = seriesOf(data ?? Buffer.alloc(0), !live, only);
  const max = opts.maxPoints;
  return { series: max !== undefined && max > 0 ? series.map((s) => downsample(s, max)) : series, broken: errors?.lines ?? 0, live };
}

/**
 * Many runs' histories at once (a sweep's children): every finished run's
 * history blob is read through one cat-file process for all of them (one
 * metricHistory per run starts about three git processes: 600 for a
 * 200-child sweep). A run still going, or whose history is kept in Git LFS
 * (its blob reads as a pointer), goes through metricHistory. `known`: runs
 * whose tip and status the caller has (the UI's index): no tree read for
 * them. A run that is not found fails as metricHistory does.
 */
export async function metricHistories(
  repo: Repo,
  runIds: readonly string[],
  opts: { names?: string[]; maxPoints?: number; known?: ReadonlyMap<string, { tip: string; final: boolean }> } = {},
): Promise<Map<string, MetricHistory>> {
  const out = new Map<string, MetricHistory>();
  const only = opts.names ? new Set(opts.names) : undefined;
  const one = { ...(opts.names ? { names: opts.names } : {}), ...(opts.maxPoints !== undefined ? { maxPoints: opts.maxPoints } : {}) };
  const max = opts.maxPoints;
  const batch = new CatFileBatch(repo.processOptions());
  try {
    for (const id of runIds) {
      if (out.has(id)) continue;
      let blob: { data: Buffer } | null | undefined;
      const k = opts.known?.get(id);
      if (k) blob = k.final ? await batch.read(`${k.tip}:${HISTORY_FILE}`) : undefined;
      else if (FULL_ID.test(id)) {
        // The run's top tree: a finished run has its result.json there, and its history beside it.
        const root = await batch.read(`${new RunRef(id).name}^{tree}`);
        const entries = root?.type === 'tree' ? parseTree(root.data, repo.objectFormat) : null;
        if (entries?.some((e) => e.name === 'result.json')) {
          const h = entries.find((e) => e.name === HISTORY_FILE && e.mode !== '040000' && e.mode !== '120000');
          blob = h ? await batch.read(h.oid) : null;
        }
      }
      if (blob === null) out.set(id, { series: [], broken: 0, live: false });
      else if (blob && !looksLikePointer(blob.data)) {
        const { series, errors } = seriesOf(blob.data, true, only);
        out.set(id, { series: max !== undefined && max > 0 ? series.map((x) => downsample(x, max)) : series, broken: errors?.lines ?? 0, live: false });
      } else out.set(id, await metricHistory(repo, id, one));
    }
  } finally {
    batch.close();
  }
  return out;
}

/** Whether a blob starts as a Git LFS pointer does (its run's record then says whether it is one: metricHistory reads it). */
const looksLikePointer = (data: Buffer): boolean => data.length <= POINTER_MAX && data.subarray(0, POINTER_VERSION.length).equals(Buffer.from(POINTER_VERSION));

/** The recorded history of a finished run (empty when it wrote none, or it cannot be read). */
export async function recordedHistory(repo: Repo, view: RunView): Promise<Buffer> {
  const e = view.entries.find((x) => x.name === HISTORY_FILE && x.type === 'blob');
  if (!e) return Buffer.alloc(0);
  const r = await readHistory(repo, e.oid, `the metrics history of run ${view.id.slice(0, 12)}`, mayBeLfsOutput(lfsOutputsOf(view.result), view.spec.cwd + historyFileOf(view.spec)));
  return 'data' in r ? r.data : Buffer.alloc(0);
}

/** A live run's history file from `offset`, read to its current end (bounded); `ended`: its command has ended. */
export async function readLiveHistory(repo: Repo, view: RunView, offset = 0): Promise<{ data: Buffer; ended: boolean }> {
  const ex = executorFor(view);
  if (!ex.readFile || !view.state) return { data: Buffer.alloc(0), ended: false };
  const rel = view.spec.cwd + historyFileOf(view.spec);
  const parts: Buffer[] = [];
  let at = offset;
  let ended = false;
  for (;;) {
    const want = MAX_HISTORY_BYTES - (at - offset);
    if (want <= 0) break;
    const r = await ex.readFile(repo, view, rel, at, want);
    ended = r.ended;
    if (!r.data.length) break;
    parts.push(r.data);
    at += r.data.length;
  }
  return { data: Buffer.concat(parts), ended };
}

/** Every point of a history, per metric in order of first appearance (only `only` when given). `final`: a last line without its newline counts. */
export function seriesOf(buf: Buffer, final: boolean, only?: ReadonlySet<string>): { series: HistorySeries[]; errors: HistoryErrors | null } {
  const byName = new Map<string, HistorySeries>();
  const c = brokenCounter();
  scanHistory(buf, {
    final,
    broken: c.broken,
    point: (name, step, value) => {
      if (only && !only.has(name)) return;
      let s = byName.get(name);
      if (!s) byName.set(name, (s = { name, steps: [], values: [] }));
      s.steps.push(step);
      s.values.push(value);
    },
  });
  return { series: [...byName.values()], errors: c.errors() };
}

/** One line of a history as it arrives: its step and its points (a null-prototype object: names are the run's data). */
export interface MetricLine {
  step: number;
  values: Record<string, number>;
}

/**
 * Emit a run's history line by line; with `follow`, new lines as the run
 * writes them, until it ends (then the rest from its record: the recorded
 * blob holds the same bytes, so every line is emitted once). Broken lines are
 * skipped and passed to `broken`. Returns the last view read.
 */
export async function followMetrics(
  repo: Repo,
  id: string,
  sink: (line: MetricLine) => void,
  opts: { follow: boolean; stopped?: () => boolean; broken?: (line: number, why: string) => void },
): Promise<RunView> {
  let consumed = 0;
  let lineNo = 0;
  let pending: Buffer = Buffer.alloc(0);
  const emit = (buf: Buffer, final: boolean) => {
    let cur: { line: number; step: number; values: Record<string, number> } | null = null;
    const flush = () => cur && sink({ step: cur.step, values: cur.values });
    const r = scanHistory(buf, {
      lineNo,
      final,
      broken: (line, why) => opts.broken?.(line, why),
      point: (name, step, value, line) => {
        if (cur?.line !== line) {
          flush();
          cur = { line, step, values: Object.create(null) as Record<string, number> };
        }
        cur.values[name] = value;
      },
    });
    flush();
    lineNo = r.lineNo;
    consumed += r.consumed;
    return r.consumed;
  };
  return followRun(
    repo,
    id,
    opts,
    async (view, executor) => {
      const got = await readLiveHistory(repo, view, consumed + pending.length);
      const buf = pending.length ? Buffer.concat([pending, got.data]) : got.data;
      const used = emit(buf, false);
      pending = buf.subarray(used);
      return { ended: got.ended, pollMs: executor.checksLocally ? 100 : 500 };
    },
    async (view) => {
      const all = await recordedHistory(repo, view);
      if (all.length > consumed) emit(all.subarray(consumed), true);
    },
  );
}
