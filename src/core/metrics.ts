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
