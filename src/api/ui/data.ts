/**
 * What the web page (`git run ui`) shows, as plain JSON-able values: served
 * from the derived index (a page of the runs table never reads git), the run
 * page and the diff from git through the same functions as the CLI.
 */
import type { Repo } from '../../git/repo.js';
import type { RunIndex, TableRow } from '../../index/db.js';
import { diffTrees } from '../../git/plumbing.js';
import { resolveRun } from '../../store/runs.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';
import { getRun, selectRuns } from '../query.js';
import { runToJson, type RunJson } from '../json.js';
import { streamLogs } from '../follow.js';
import { compareValues } from '../compare.js';
import { canonicalJson, isFinal } from '../../core/record.js';
import { metricHistories, type MetricHistory } from '../metrics-history.js';

export interface RunsPageQuery {
  where?: string;
  /** Only this group's children; otherwise top-level runs and groups (and children too when filtered by `where`). */
  parent?: string;
  /** name, status, duration, created, param:NAME, metric:NAME. */
  sort?: string;
  desc?: boolean;
  offset?: number;
  limit?: number;
}

export interface RunsPage {
  /** Runs the query selects in all (the page is a slice of them). */
  total: number;
  offset: number;
  /** The param and metric names the page's rows have, in the index's order. */
  params: string[];
  metrics: string[];
  rows: TableRow[];
}

/** A selection's ordered ids by query, kept while the refs do not move: paging and sorting 100,000 runs selects once. */
export class Selections {
  private cache = new Map<string, string[]>();
  private stamp = '';

  async ids(repo: Repo, index: RunIndex, stamp: string, q: RunsPageQuery): Promise<string[]> {
    if (stamp !== this.stamp) {
      this.cache.clear();
      this.stamp = stamp;
    }
    const key = JSON.stringify([q.where ?? '', q.parent ?? '', q.sort ?? '', !!q.desc]);
    let ids = this.cache.get(key);
    if (!ids) {
      ids = await selectRuns(repo, { ...(q.where ? { where: q.where } : {}), ...(q.parent ? { parent: q.parent } : q.where ? {} : { children: false }) }, index);
      if (q.sort) ids = sortIds(index, ids, q.sort, !!q.desc);
      else if (q.desc === false) ids = [...ids].reverse();
      if (this.cache.size > 20) this.cache.clear();
      this.cache.set(key, ids);
    }
    return ids;
  }
}

const SORTABLE = ['name', 'status', 'duration'] as const;

/** Ids sorted by a column (runs without a value last, either way), ties in the selection's order (newest first). */
function sortIds(index: RunIndex, ids: string[], sort: string, desc: boolean): string[] {
  if (sort === 'created') return desc ? ids : [...ids].reverse();
  const m = /^(param|metric):(.+)$/s.exec(sort);
  const column = m ? (m[1] === 'param' ? { param: m[2]! } : { metric: m[2]! }) : (SORTABLE as readonly string[]).includes(sort) ? (sort as (typeof SORTABLE)[number]) : null;
  if (!column) throw new GitRunError(ErrorCode.BadOption, `cannot sort by '${sort}'`, `sort by created, ${SORTABLE.join(', ')}, param:NAME or metric:NAME`);
  const values = new Map(index.columnValues(column));
  const order = new Map(ids.map((id, i) => [id, i]));
  return [...ids].sort((a, b) => {
    const x = values.get(a) ?? null;
    const y = values.get(b) ?? null;
    if (x === null || y === null) return x === y ? order.get(a)! - order.get(b)! : x === null ? 1 : -1;
    const c = compareValues(x, y);
    return c ? (desc ? -c : c) : order.get(a)! - order.get(b)!;
  });
}

export async function runsPage(repo: Repo, index: RunIndex, selections: Selections, stamp: string, q: RunsPageQuery): Promise<RunsPage> {
  const ids = await selections.ids(repo, index, stamp, q);
  const offset = Math.max(0, Math.min(q.offset ?? 0, Math.max(0, ids.length - 1)));
  const rows = index.tableRows(ids.slice(offset, offset + Math.min(Math.max(q.limit ?? 100, 1), 1000)));
  const seen = (pick: (r: TableRow) => Array<[string, unknown]>) => {
    const names: string[] = [];
    const set = new Set<string>();
    for (const r of rows) for (const [n] of pick(r)) if (!set.has(n)) set.add(n), names.push(n);
    return names.sort();
  };
  return { total: ids.length, offset, params: seen((r) => r.params), metrics: seen((r) => r.metrics), rows };
}

export interface RunPage {
  run: RunJson;
  /** Environment variable names the definition declared (values may be secrets: not shown). */
  envNames: string[];
  /** `git diff --stat` and the patch of the snapshot against its commit (a dirty run), capped; null when clean or without a commit. */
  codeDiff: { stat: string; patch: string; truncated: boolean } | null;
  /** Its group's children as table rows (a group), or null. */
  children: TableRow[] | null;
}

const PATCH_CAP = 512 * 1024;

/** A run by any name `git run show` takes; GitRunError RunNotFound when there is none. */
export async function runPage(repo: Repo, index: RunIndex, name: string): Promise<RunPage> {
  const view = await getRun(repo, name);
  const run = await runToJson(repo, view, index);
  let codeDiff: RunPage['codeDiff'] = null;
  if (view.spec.code.commit && view.spec.code.dirty) {
    const stat = (await diffTrees(repo, view.spec.code.commit, view.spec.code.tree, ['--stat', '--no-color', '--no-ext-diff'], [])).toString('utf8');
    const patch = await diffTrees(repo, view.spec.code.commit, view.spec.code.tree, ['--no-color', '--no-ext-diff'], []);
    codeDiff = { stat, patch: patch.subarray(0, PATCH_CAP).toString('utf8'), truncated: patch.length > PATCH_CAP };
  }
  const children = view.children ? index.tableRows(view.children.map((c) => c.id)) : null;
  return { run, envNames: Object.keys(view.spec.env ?? {}), codeDiff, children };
}

const LOG_CAP = 256 * 1024;

/** The run's output so far (live from where it runs, or as recorded), its last LOG_CAP bytes of each stream. */
export async function runLogs(repo: Repo, name: string): Promise<{ stdout: string; stderr: string; truncated: boolean; status: string }> {
  const id = await resolveRun(repo, name);
  const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  const view = await streamLogs(repo, id, (s, chunk) => out[s].push(chunk), { streams: ['stdout', 'stderr'], follow: false });
  const tail = (l: Buffer[]) => {
    const b = Buffer.concat(l);
    return { text: b.subarray(Math.max(0, b.length - LOG_CAP)).toString('utf8'), cut: b.length > LOG_CAP };
  };
  const o = tail(out.stdout);
  const e = tail(out.stderr);
  return { stdout: o.text, stderr: e.text, truncated: o.cut || e.cut, status: view.status };
}

/** A sweep's children with their params and metrics (for the charts), oldest first: the group `id`'s. */
export function sweepOf(index: RunIndex, id: string): { id: string; name: string | null; rows: TableRow[] } {
  const [group] = index.tableRows([id]);
  const kids = index.select({ conditions: [{ sql: 'r.parent = ?', args: [id] }] }).reverse();
  return { id, name: group?.name ?? null, rows: index.tableRows(kids) };
}

/** Selected runs side by side: every param of any of them, whether it differs, each run's value (null: absent). */
export async function comparison(index: RunIndex, ids: string[]): Promise<{ rows: TableRow[]; params: Array<{ name: string; differs: boolean }>; metrics: string[] }> {
  const rows = index.tableRows(ids);
  const names = [...new Set(rows.flatMap((r) => r.params.map(([n]) => n)))].sort();
  const params = names.map((name) => {
    const values = rows.map((r) => {
      const p = r.params.find(([n]) => n === name);
      return p ? canonicalJson(p[1]) : null;
    });
    return { name, differs: new Set(values).size > 1 };
  });
  const metrics = [...new Set(rows.flatMap((r) => r.metrics.map(([n]) => n)))].sort();
  return { rows, params, metrics };
}

/** Many runs' metric histories (a sweep's children) at once, their tips and status from the index: one cat-file process for every finished one (metricHistories). */
export async function historiesOf(repo: Repo, index: RunIndex, ids: string[], opts: { names?: string[]; maxPoints: number }): Promise<Record<string, MetricHistory>> {
  const rows = index.rows(ids);
  const known = new Map(rows.map((r) => [r.id, { tip: r.tip, final: isFinal(r.status) }]));
  const got = await metricHistories(repo, rows.map((r) => r.id), { maxPoints: opts.maxPoints, known, ...(opts.names ? { names: opts.names } : {}) });
  const out: Record<string, MetricHistory> = Object.create(null);
  for (const [id, h] of got) out[id] = h;
  return out;
}
