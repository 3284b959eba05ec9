/**
 * Runs side by side: one row per run (a group stands for its children), the
 * params that vary among them and their metrics as columns, sorted by any
 * column. Nothing here prints: the CLI renders the table, JSON or CSV.
 */
import type { Repo } from '../git/repo.js';
import { resolveRun, type RunView } from '../store/runs.js';
import { canonicalJson, isFinal, type Status } from '../core/record.js';
import { closest } from '../core/definition.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { getRun, getRuns, queryRuns } from './query.js';

export interface CompareRow {
  id: string;
  status: Status;
  name: string | null;
  createdAt: string;
  /** Every column's param, null where the run has none. */
  params: Record<string, unknown>;
  /** Every column's metric, null where the run has none. */
  metrics: Record<string, number | null>;
}

export interface Comparison {
  /** Param columns, in the order the runs first name them. */
  params: string[];
  /** Metric columns: the ones asked for, or every metric in the order the runs first name them. */
  metrics: string[];
  rows: CompareRow[];
}

export interface CompareOptions {
  /** Every param, not only those that vary among the runs. */
  allParams?: boolean;
  /** Only these metrics, in this order. */
  metrics?: string[];
  /** A column (id, status, name, created, param:NAME, metric:NAME); a leading '-' sorts descending. Default: creation time. */
  sort?: string;
  /** A --where expression: alone, the runs it selects; with runs named, only those of them it selects. */
  where?: string;
}

const FIXED = ['id', 'status', 'name', 'created'];

/** The runs these ids stand for: each run itself, a group its children; each once, in order. */
async function expand(repo: Repo, ids: string[]): Promise<RunView[]> {
  const first = await getRuns(repo, ids);
  const wanted: string[] = [];
  for (const v of first) for (const id of v.children ? v.children.map((c) => c.id) : [v.id]) if (!wanted.includes(id)) wanted.push(id);
  const byId = new Map(first.filter((v) => !v.children).map((v) => [v.id, v]));
  const missing = wanted.filter((id) => !byId.has(id));
  for (const v of missing.length ? await getRuns(repo, missing) : []) byId.set(v.id, v);
  const views: RunView[] = [];
  // A run still going is checked against its process, as `show` would.
  for (const id of wanted) {
    const v = byId.get(id)!;
    views.push(isFinal(v.status) ? v : await getRun(repo, id));
  }
  return views;
}

/** Order of first appearance across the runs. */
function keysOf(records: Array<Record<string, unknown>>): string[] {
  const seen = new Set<string>();
  for (const r of records) for (const k of Object.keys(r)) seen.add(k);
  return [...seen];
}

/** A sort column parsed: which value and which direction. */
export interface SortKey {
  column: string;
  descending: boolean;
  value: (v: RunView) => unknown;
}

/** `param:lr`, `-metric:acc`, `created`...; `params.lr` / `metrics.acc` (as --where writes them) too. */
export function parseSort(spec: string, params: string[], metrics: string[]): SortKey {
  const descending = spec.startsWith('-');
  const raw = descending ? spec.slice(1) : spec;
  const m = /^(params?|metrics?)[:.](.+)$/.exec(raw);
  const family = m ? (m[1]!.startsWith('param') ? 'param' : 'metric') : null;
  const name = m ? m[2]! : raw;
  const column = family ? `${family}:${name}` : raw;
  if (family === 'param' && params.includes(name)) return { column, descending, value: (v) => v.spec.params[name] };
  if (family === 'metric' && metrics.includes(name)) return { column, descending, value: (v) => v.metrics?.[name] };
  if (!family && FIXED.includes(raw)) {
    const value = raw === 'id' ? (v: RunView) => v.id : raw === 'status' ? (v: RunView) => v.status : raw === 'name' ? (v: RunView) => v.meta.name : (v: RunView) => v.spec.createdAt;
    return { column, descending, value };
  }
  const columns = [...FIXED, ...params.map((p) => `param:${p}`), ...metrics.map((x) => `metric:${x}`)];
  // A bare name that is a param or metric: say which prefix it needs.
  const prefixed = !family ? columns.filter((c) => c === `param:${raw}` || c === `metric:${raw}`) : [];
  const near = prefixed.length ? prefixed.join("' or '") : closest(column, columns);
  const list = columns.length > 16 ? `${columns.slice(0, 16).join(', ')}, ...` : columns.join(', ');
  throw new GitRunError(
    ErrorCode.UnknownField,
    `unknown --sort column '${raw}'${family && !(family === 'param' ? params : metrics).length ? ` (none of these runs has any ${family}s)` : ''}`,
    `${near ? `did you mean '${descending ? '-' : ''}${near}'? ` : ''}columns: ${list}; a leading '-' sorts descending (--sort=-metric:acc)`,
    { column: raw, columns },
  );
}

const rank = (x: unknown) => (typeof x === 'number' ? 0 : typeof x === 'boolean' ? 1 : typeof x === 'string' ? 2 : 3);

/** Values of one column: numbers numerically, then booleans, then text. */
export function compareValues(x: unknown, y: unknown): number {
  const rx = rank(x);
  const ry = rank(y);
  if (rx !== ry) return rx - ry;
  if (rx === 0) return (x as number) - (y as number);
  const sx = rx === 3 ? canonicalJson(x) : String(x);
  const sy = ry === 3 ? canonicalJson(y) : String(y);
  return sx < sy ? -1 : sx > sy ? 1 : 0;
}

/** The comparison of the runs `names` stand for. */
export async function compareRuns(repo: Repo, names: string[], opts: CompareOptions = {}): Promise<Comparison> {
  if (!names.length && opts.where === undefined) {
    throw new GitRunError(
      ErrorCode.BadOption,
      'git run compare needs at least one run',
      "name runs or groups by a prefix of their id (git run compare 3f2a9c 7d8e1b), or select them with --where (git run compare --where 'metrics.acc > 0.9')",
    );
  }
  const ids: string[] = [];
  for (const n of names) ids.push(await resolveRun(repo, n));
  const selected = opts.where !== undefined ? (await queryRuns(repo, { where: opts.where })).map((v) => v.id) : null;
  let views: RunView[];
  if (!selected) views = await expand(repo, ids);
  else if (!names.length) views = await expand(repo, selected);
  else {
    const keep = new Set(selected);
    views = (await expand(repo, ids)).filter((v) => keep.has(v.id));
  }
  return compareViews(views, opts);
}

export function compareViews(views: RunView[], opts: CompareOptions = {}): Comparison {
  const allParams = keysOf(views.map((v) => v.spec.params));
  const allMetrics = keysOf(views.map((v) => v.metrics ?? {}));
  const params = opts.allParams
    ? allParams
    : allParams.filter((k) => {
        const values = views.map((v) => (Object.hasOwn(v.spec.params, k) ? canonicalJson(v.spec.params[k]) : undefined));
        return values.some((x) => x !== values[0]);
      });
  for (const m of views.length ? opts.metrics ?? [] : []) {
    if (!allMetrics.includes(m)) {
      const near = closest(m, allMetrics);
      throw new GitRunError(
        ErrorCode.UnknownField,
        `no run among these has a metric '${m}'`,
        allMetrics.length ? `${near ? `did you mean '${near}'? ` : ''}their metrics: ${allMetrics.join(', ')}` : 'none of these runs recorded metrics (a run writes them to metrics.json in its working directory)',
        { metric: m },
      );
    }
  }
  const metrics = opts.metrics?.length ? [...new Set(opts.metrics)] : allMetrics;
  let sorted = views.map((v, i) => ({ v, i }));
  // Nothing selected: nothing to sort, and no column to check the name against.
  const key = opts.sort !== undefined && views.length ? parseSort(opts.sort, allParams, allMetrics) : null;
  const value = key ? key.value : (v: RunView) => v.spec.createdAt;
  const dir = key?.descending ? -1 : 1;
  sorted = sorted.sort((p, q) => {
    const x = value(p.v);
    const y = value(q.v);
    // Missing values last in either direction; ties keep the order the runs were named in.
    const mx = x === undefined || x === null;
    const my = y === undefined || y === null;
    if (mx || my) return mx && my ? p.i - q.i : mx ? 1 : -1;
    return dir * compareValues(x, y) || p.i - q.i;
  });
  const rows = sorted.map(({ v }) => ({
    id: v.id,
    status: v.status,
    name: v.meta.name,
    createdAt: v.spec.createdAt,
    params: Object.fromEntries(params.map((k) => [k, Object.hasOwn(v.spec.params, k) ? v.spec.params[k] : null])),
    metrics: Object.fromEntries(metrics.map((k) => [k, v.metrics && Object.hasOwn(v.metrics, k) ? v.metrics[k]! : null])),
  }));
  return { params, metrics, rows };
}
