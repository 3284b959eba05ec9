/**
 * Metrics: what a run wrote to `metrics.json` in its working directory, kept
 * as written (the same blob, at the top of the finished commit) and read as
 * flat numbers: nested objects join their keys with '.', so
 * {"val": {"acc": 0.9}} is the metric `val.acc`. Only finite numbers are
 * metrics; strings, booleans, nulls and arrays are left in the file but are
 * not metrics (an array has no single value to compare or average).
 */

export const METRICS_FILE = 'metrics.json';

/** Metric names are the run's data: a null-prototype object, so that `__proto__` or `constructor` is a metric like any other. */
export type Metrics = Record<string, number>;

export function flattenMetrics(value: unknown, prefix = '', out: Metrics = Object.create(null) as Metrics): Metrics {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return out;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'number' && Number.isFinite(v)) out[name] = v;
    else if (v && typeof v === 'object' && !Array.isArray(v)) flattenMetrics(v, name, out);
  }
  return out;
}

/** The metrics of a metrics.json, or why it has none (never fatal to a run). */
export function parseMetrics(text: string): { metrics: Metrics } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { error: `metrics.json is not JSON (${(e as Error).message}): no metrics recorded` };
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return { error: 'metrics.json is not a JSON object: no metrics recorded' };
  return { metrics: flattenMetrics(json) };
}

/**
 * Metric histories (decision 0020): a run appends JSON lines to
 * `metrics.jsonl` ($GIT_RUN_METRICS) in its working directory, one object a
 * line: {"step": 10, "loss": 0.31, "val": {"acc": 0.8}}. Names flatten as in
 * metrics.json; "step" (a finite number) places the line's points, and a line
 * without one takes its line number. A line that is not a JSON object (or is
 * cut short: a killed run's last line) is counted and skipped, never fatal.
 * Everything is bounded, since the file is the run's (or a remote's) data.
 */
export const HISTORY_FILE = 'metrics.jsonl';
/** The summary of a history, written at the top of the finished commit next to the history itself. */
export const SUMMARY_FILE = 'metrics-summary.json';
/** A longer line is broken, unread: no metric line is anywhere near this. */
export const MAX_LINE = 64 * 1024;
/** Distinct names kept per run; points of further names count as broken lines. */
export const MAX_NAMES = 10_000;
/** A history beyond this is not read at all (kept as an output, reported). */
export const MAX_HISTORY_BYTES = 512 * 1024 * 1024;

export interface MetricStats {
  last: number;
  lastStep: number;
  min: number;
  minStep: number;
  max: number;
  maxStep: number;
  count: number;
}

export interface HistoryErrors {
  /** Broken lines: skipped. */
  lines: number;
  /** The first one, as `line N: why` (the run's text: escape it before printing). */
  first: string;
}

export interface HistorySummary {
  stats: Map<string, MetricStats>;
  errors: HistoryErrors | null;
}

export interface HistorySeries {
  name: string;
  steps: number[];
  values: number[];
}

const shorten = (s: string, n = 120) => (s.length > n ? `${s.slice(0, n)}...` : s);

/**
 * Walk a history's complete lines from `buf` (start at `lineNo` + 1), calling
 * `point` for each point. `final`: the buffer ends the file, so a last line
 * without its newline is read too (a live reader leaves it for later).
 * Returns the bytes consumed and the line count, so a live reader continues.
 */
export function scanHistory(
  buf: Buffer,
  opts: { lineNo?: number; final: boolean; names?: Set<string>; broken: (line: number, why: string) => void; point: (name: string, step: number, value: number, line: number) => void },
): { consumed: number; lineNo: number } {
  let lineNo = opts.lineNo ?? 0;
  const names = opts.names ?? new Set<string>();
  let at = 0;
  while (at < buf.length) {
    let nl = buf.indexOf(10, at);
    if (nl < 0) {
      if (!opts.final) break;
      nl = buf.length;
    }
    lineNo++;
    const len = nl - at;
    const start = at;
    at = nl + 1;
    if (len > MAX_LINE) {
      opts.broken(lineNo, `longer than ${MAX_LINE} bytes`);
      continue;
    }
    const text = buf.toString('utf8', start, start + len);
    if (!text.trim()) continue;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      opts.broken(lineNo, nl === buf.length && opts.final ? `cut short or not JSON (${(e as Error).message})` : `not JSON (${(e as Error).message})`);
      continue;
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      opts.broken(lineNo, 'not a JSON object');
      continue;
    }
    const flat = flattenMetrics(json);
    const rawStep = Object.hasOwn(json, 'step') ? (json as Record<string, unknown>).step : undefined;
    if (rawStep !== undefined && !(typeof rawStep === 'number' && Number.isFinite(rawStep))) {
      opts.broken(lineNo, `"step" is not a finite number (${shorten(JSON.stringify(rawStep) ?? String(rawStep), 40)})`);
      continue;
    }
    const step = rawStep === undefined ? lineNo : (rawStep as number);
    let dropped = false;
    for (const [name, value] of Object.entries(flat)) {
      if (name === 'step') continue;
      if (!names.has(name)) {
        if (names.size >= MAX_NAMES) {
          dropped = true;
          continue;
        }
        names.add(name);
      }
      opts.point(name, step, value, lineNo);
    }
    if (dropped) opts.broken(lineNo, `more than ${MAX_NAMES} metric names: the new ones are left out`);
  }
  return { consumed: Math.min(at, buf.length), lineNo };
}

/** Collects broken lines: their count and the first one. */
export function brokenCounter(): { errors: () => HistoryErrors | null; broken: (line: number, why: string) => void } {
  let lines = 0;
  let first = '';
  return {
    broken: (line, why) => {
      if (!lines++) first = `line ${line}: ${why}`;
    },
    errors: () => (lines ? { lines, first } : null),
  };
}

/** Last, min, max and count of every metric of a complete history. */
export function summarizeHistory(buf: Buffer): HistorySummary {
  const stats = new Map<string, MetricStats>();
  const c = brokenCounter();
  scanHistory(buf, {
    final: true,
    broken: c.broken,
    point: (name, step, value) => {
      const s = stats.get(name);
      if (!s) {
        stats.set(name, { last: value, lastStep: step, min: value, minStep: step, max: value, maxStep: step, count: 1 });
        return;
      }
      s.last = value;
      s.lastStep = step;
      s.count++;
      if (value < s.min) (s.min = value), (s.minStep = step);
      if (value > s.max) (s.max = value), (s.maxStep = step);
    },
  });
  return { stats, errors: c.errors() };
}

/**
 * At most about `maxPoints` points of a series: per bucket of consecutive
 * points its first, last, min and max (in order), so a curve keeps its
 * spikes; the series' first and last points always stay.
 */
export function downsample(s: HistorySeries, maxPoints: number): HistorySeries {
  const n = s.steps.length;
  if (!(maxPoints >= 1) || n <= maxPoints) return s;
  const buckets = Math.max(1, Math.floor(maxPoints / 4));
  const size = Math.ceil(n / buckets);
  const keep: number[] = [];
  for (let b = 0; b * size < n; b++) {
    const lo = b * size;
    const hi = Math.min(n, lo + size) - 1;
    let mi = lo;
    let ma = lo;
    for (let i = lo; i <= hi; i++) {
      if (s.values[i]! < s.values[mi]!) mi = i;
      if (s.values[i]! > s.values[ma]!) ma = i;
    }
    for (const i of [...new Set([lo, mi, ma, hi])].sort((a, b) => a - b)) keep.push(i);
  }
  return { name: s.name, steps: keep.map((i) => s.steps[i]!), values: keep.map((i) => s.values[i]!) };
}

/** The summary as stored (JSON: a plain object of names, errors). */
export function summaryJson(sum: HistorySummary): string {
  const metrics: Record<string, MetricStats> = Object.create(null) as Record<string, MetricStats>;
  for (const [k, v] of sum.stats) metrics[k] = v;
  return JSON.stringify({ format: 1, metrics, errors: sum.errors }) + '\n';
}

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** A stored summary read back: anything malformed (another clone's hand-made file) is left out, never trusted. */
export function parseSummary(text: string): Map<string, MetricStats> {
  const out = new Map<string, MetricStats>();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return out;
  }
  const m = (json as { metrics?: unknown } | null)?.metrics;
  if (!m || typeof m !== 'object' || Array.isArray(m)) return out;
  for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
    const s = v as Partial<MetricStats> | null;
    if (!s || typeof s !== 'object') continue;
    const { last, lastStep, min, minStep, max, maxStep, count } = s;
    if ([last, lastStep, min, minStep, max, maxStep, count].every(finite)) out.set(k, { last, lastStep, min, minStep, max, maxStep, count } as MetricStats);
  }
  return out;
}

/**
 * A run's metrics from both files: the history's last values, then
 * metrics.json's on top (it wins: a run writes it once, at the end, with the
 * values it means as final, such as a test score after the last step).
 */
export function mergeMetrics(stats: Map<string, MetricStats> | null, json: Metrics | null): Metrics | null {
  if (!stats?.size) return json;
  const out: Metrics = Object.create(null) as Metrics;
  for (const [k, s] of stats) out[k] = s.last;
  if (json) for (const [k, v] of Object.entries(json)) out[k] = v;
  return out;
}

/** The stats of every metric: a metric only metrics.json holds counts as one value. */
export function metricStats(stats: Map<string, MetricStats> | null, json: Metrics | null): Map<string, MetricStats> {
  const out = new Map<string, MetricStats>();
  for (const [k, s] of stats ?? []) out.set(k, { ...s });
  for (const [k, v] of Object.entries(json ?? {})) {
    const s = out.get(k);
    if (s) s.last = v;
    else out.set(k, { last: v, lastStep: 0, min: v, minStep: 0, max: v, maxStep: 0, count: 1 });
  }
  return out;
}

/** The history file a run writes (`metrics_file` of .runconfig, else metrics.jsonl), relative to its working directory. */
export function historyFileOf(spec: { metricsFile?: string }): string {
  return spec.metricsFile ?? HISTORY_FILE;
}

/** A "metrics_file" setting: a relative path inside the run directory, or why not. */
export function checkHistoryFile(v: unknown): string | null {
  if (typeof v !== 'string' || !v) return 'expected a file name such as "metrics.jsonl" (a relative path inside the run directory)';
  if (v.includes('\0') || /[\x00-\x1f\x7f]/.test(v)) return 'contains a control character';
  if (v.startsWith('/')) return 'must be relative to the run\'s working directory, not absolute';
  const parts = v.split('/');
  if (parts.some((p) => p === '..' || p === '.' || p === '')) return 'must stay inside the run directory: no "..", "." or empty parts';
  if (parts.some((p) => p.toLowerCase().replace(/[. ]+$/, '') === '.git')) return 'cannot be inside a .git directory';
  if (v === METRICS_FILE) return 'is metrics.json, the final metrics: name the history differently (e.g. "metrics.jsonl")';
  return null;
}

/** A recorded result's metricsErrors, checked (result.json may come from another clone). */
export function historyErrorsOf(x: unknown): HistoryErrors | null {
  const e = x as Partial<HistoryErrors> | null | undefined;
  if (!e || typeof e !== 'object' || typeof e.first !== 'string' || !(Number.isSafeInteger(e.lines) && (e.lines as number) >= 0)) return null;
  return { lines: e.lines as number, first: shorten(e.first, 300) };
}
