/**
 * Finding runs: by name (a unique id prefix), all of them, or the active
 * ones. Reading a run on this host also checks it is still alive, so a run
 * whose supervisor died is finished (or marked lost) by whoever looks first.
 */
import { openRepo, type Repo } from '../git/repo.js';
import { listRunRefs, readRun, resolveRun, RunReader, type RunView } from '../store/runs.js';
import { thisHost } from '../util/process.js';
import { colorBool, gitPager, revList as gitRevList } from '../git/plumbing.js';
import { checksLocally, describeRun, refreshRun as refresh, type LiveState } from '../executors/index.js';
import { isFinal, STATUSES, canonicalJson, type Status } from '../core/record.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { complete } from './groups.js';

export async function repoAt(cwd?: string): Promise<Repo> {
  return openRepo(cwd ?? process.cwd());
}

/** Read a run and make its status current. */
export async function getRun(repo: Repo, name: string): Promise<RunView> {
  const id = await resolveRun(repo, name);
  let view = await readRun(repo, id);
  if (!view.children && !isFinal(view.status) && (await refresh(repo, view))) view = await readRun(repo, id);
  return complete(repo, view);
}

export interface ListOptions {
  limit?: number;
  status?: Status[];
}

export function parseStatuses(s: string | undefined): Status[] | undefined {
  if (!s) return undefined;
  const list = s.split(',').map((x) => x.trim()).filter(Boolean);
  for (const x of list) {
    if (!(STATUSES as readonly string[]).includes(x)) {
      throw new GitRunError(ErrorCode.BadOption, `unknown status '${x}'`, `use one of: ${STATUSES.join(', ')} (comma-separated)`);
    }
  }
  return list as Status[];
}

/** Runs, newest first (through the index), each unfinished one checked where it runs (a remote host is asked) and recorded if it ended. */
export async function listRuns(repo: Repo, opts: ListOptions = {}): Promise<RunView[]> {
  const ids = await selectRuns(repo, { ...(opts.status ? { status: opts.status } : {}), ...(opts.limit !== undefined ? { limit: opts.limit } : {}) });
  const views = await getRuns(repo, ids);
  // Checked a few at a time: the looks at one remote host then go together (one scheduler call for all of a host's runs).
  // Runs of this machine one after another, as before (a look is cheap, and an end recorded here writes git).
  const check = async (v: RunView) => (!v.children && !isFinal(v.status) && (await refresh(repo, v).catch(() => false)) ? complete(repo, await readRun(repo, v.id)) : v);
  const remote = (v: RunView) => !v.children && !isFinal(v.status) && !!v.state && !checksLocally(v.state.handle.executor);
  const checked = await mapLimit(views, REFRESH_WIDTH, async (v) => (remote(v) ? check(v) : v));
  for (const [i, v] of views.entries()) if (!remote(v)) checked[i] = await check(v);
  return checked.filter((now) => !opts.status || opts.status.includes(now.status));
}

const REFRESH_WIDTH = 16;

/** fn over items, at most `width` at once, results in order. */
async function mapLimit<T, U>(items: T[], width: number, fn: (item: T) => Promise<U>): Promise<U[]> {
  const out: U[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

/** Many runs by full id, through one reader (a sweep's children), completed. */
export async function getRuns(repo: Repo, ids: string[]): Promise<RunView[]> {
  const tips = new Map((await listRunRefs(repo)).map((r) => [r.id, r.tip]));
  const reader = new RunReader(repo, ids.length > 20);
  const known = new Map<string, RunView>();
  try {
    const read = async (id: string) => {
      const tip = tips.get(id);
      if (!tip) throw new GitRunError(ErrorCode.RunNotFound, `no run ${id}`, 'it may have been deleted; list runs with `git run log --oneline`');
      const v = await reader.read(id, tip);
      known.set(id, v);
      return v;
    };
    const views = await Promise.all(ids.map(read));
    // Parents and children that complete these views, once each.
    const more = new Set<string>();
    for (const v of views) {
      if (v.spec.parent && !known.has(v.spec.parent)) more.add(v.spec.parent);
      for (const c of v.children ?? []) if (!known.has(c.id)) more.add(c.id);
    }
    await Promise.all([...more].filter((id) => tips.has(id)).map(read));
    return Promise.all(views.map((v) => complete(repo, v, known)));
  } finally {
    reader.close();
  }
}

/** Queued and running runs, newest first, each checked where it runs: what has ended is recorded and left out. */
export async function activeRuns(repo: Repo): Promise<RunView[]> {
  return listRuns(repo, { status: ['queued', 'running'] });
}

/** What each started run's host says of it now (a job still in a scheduler's queue, and why), by run id; runs whose host says nothing more are left out. */
export async function liveStates(repo: Repo, views: RunView[]): Promise<Map<string, LiveState>> {
  const out = new Map<string, LiveState>();
  // Asked together: an executor batches what it asks of one host.
  const states = await Promise.all(views.map((v) => (v.status === 'running' ? describeRun(repo, v) : Promise.resolve(null))));
  views.forEach((v, i) => states[i] && out.set(v.id, states[i]!));
  return out;
}

/** What `git run log` selects by (every field optional; repeated values of one field are alternatives, as git's). */
export interface RunQuery {
  /** A --where expression (src/query/where.ts). */
  where?: string;
  status?: Status[];
  /** Dates in any form parseDate accepts. */
  since?: string;
  until?: string;
  /** Regular expressions on the creator ("Name <email>"), as git log --author. */
  author?: string[];
  /** Regular expressions on the name and the notes, as git log --grep. */
  grep?: string[];
  tags?: string[];
  hosts?: string[];
  /** name=value: the param equals the value (as a number when both are numbers). All must hold. */
  params?: Array<[string, string]>;
  /** Only the children of this group (a run name). */
  parent?: string;
  /** false: leave out the children of groups. */
  children?: boolean;
  /** A revision range (and pathspecs): runs whose source commit git rev-list gives. */
  revisions?: string[];
  paths?: string[];
  /** The paths came after `--` (otherwise git tells revisions from paths itself). */
  dashDash?: boolean;
  limit?: number;
}

type Index = import('../index/db.js').RunIndex;
type Condition = import('../index/db.js').Condition;
type SelectStep = import('../index/db.js').SelectStep;

/** The index, synced, with every local run on this host checked for liveness first. `onProgress`: runs read so far of a long (re)build. */
export async function openIndex(repo: Repo, onProgress?: (done: number, total: number) => void): Promise<Index> {
  // Loaded on first use: the native SQLite module has no place on the path of a plain `git run`.
  const { RunIndex } = await import('../index/db.js');
  const index = RunIndex.open(repo);
  try {
    await index.sync(repo, onProgress ? { onProgress } : {});
    // A run whose supervisor here died is finished (or marked lost) by whoever looks first.
    let moved = false;
    for (const r of index.unfinished()) {
      if (!checksLocally(r.executor) || r.handleHost !== thisHost()) continue;
      const v = await readRun(repo, r.id).catch(() => null);
      if (v && !isFinal(v.status) && (await refresh(repo, v))) moved = true;
    }
    if (moved) await index.sync(repo);
    return index;
  } catch (e) {
    index.close();
    throw e;
  }
}

/** Ids of the runs a query selects, newest first. */
export async function selectRuns(repo: Repo, q: RunQuery, index?: Index, opts: { explain?: SelectStep[]; tuning?: { probe?: number; window?: number } } = {}): Promise<string[]> {
  const own = !index;
  // Loaded on first use: the query language has no place on the path of a plain `git run` (decision 0024).
  const { compileWhere, parseDate } = await import('../query/where.js');
  const idx = index ?? (await openIndex(repo));
  try {
    const conditions: Condition[] = [];
    const any = (sqls: string[], args: Array<string | number>) => conditions.push({ sql: sqls.join(' OR '), args });
    if (q.where) conditions.push(compileWhere(q.where, { ...idx.names() }));
    // (+column in an EXISTS: see row() in src/query/where.ts.)
    // Each option's condition comes with its driver (a superset of its runs, from an index: see RunIndex.select).
    const drive = (sql: string, args: Array<string | number>) => (conditions[conditions.length - 1]!.drivers = [{ sql, args }]);
    if (q.status?.length) {
      any(q.status.map(() => 'r.status = ?'), q.status);
      drive(`SELECT s.id AS run FROM runs s WHERE s.status IN (${q.status.map(() => '?').join(', ')})`, q.status);
    }
    if (q.since) conditions.push({ sql: 'r.created_at >= ?', args: [dateOption('--since', q.since, parseDate)] });
    if (q.until) conditions.push({ sql: 'r.created_at <= ?', args: [dateOption('--until', q.until, parseDate)] });
    if (q.author?.length) any(q.author.map(() => 'r.creator REGEXP ?'), q.author.map((a) => regexOption('--author', a)));
    if (q.grep?.length) {
      const res = q.grep.map((g) => regexOption('--grep', g));
      any(res.map(() => '(r.name REGEXP ? OR r.notes REGEXP ?)'), res.flatMap((g) => [g, g]));
    }
    if (q.tags?.length) {
      any(q.tags.map(() => 'EXISTS (SELECT 1 FROM tags t WHERE t.run = r.id AND t.tag = ?)'), q.tags);
      drive(`SELECT t.run AS run FROM tags t WHERE t.tag IN (${q.tags.map(() => '?').join(', ')})`, q.tags);
    }
    if (q.hosts?.length) any(q.hosts.map(() => 'r.host = ?'), q.hosts);
    for (const [name, value] of q.params ?? []) {
      const n = value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : null;
      conditions.push(
        n === null
          ? {
              sql: 'EXISTS (SELECT 1 FROM params p WHERE p.run = r.id AND p.name = ? AND +p.text = ?)',
              args: [name, value],
              drivers: [{ sql: 'SELECT p.run AS run FROM params p WHERE p.name = ? AND p.text = ?', args: [name, value] }],
            }
          : {
              sql: 'EXISTS (SELECT 1 FROM params p WHERE p.run = r.id AND p.name = ? AND (+p.num = ? OR +p.text = ?))',
              args: [name, n, value],
              // Each half from its own index (an OR in one SELECT would read the name's every row).
              drivers: [{ sql: 'SELECT p.run AS run FROM params p WHERE p.name = ? AND p.num = ? UNION SELECT p.run AS run FROM params p WHERE p.name = ? AND p.text = ?', args: [name, n, name, value] }],
            },
      );
    }
    if (q.parent) conditions.push({ sql: 'r.parent = ?', args: [await resolveRun(repo, q.parent)] });
    if (q.children === false) conditions.push({ sql: 'r.parent IS NULL', args: [] });
    let commits: string[] | undefined;
    if (q.revisions?.length || q.paths?.length || q.dashDash) commits = await revList(repo, q.revisions ?? [], q.paths ?? [], !!q.dashDash);
    return idx.select({ conditions, ...(commits ? { commits } : {}), ...(q.limit !== undefined ? { limit: q.limit } : {}), ...(opts.explain ? { explain: opts.explain } : {}), ...(opts.tuning ? { tuning: opts.tuning } : {}) });
  } finally {
    if (own) idx.close();
  }
}

/** The runs a query selects, read from git (newest first), completed. */
export async function queryRuns(repo: Repo, q: RunQuery): Promise<RunView[]> {
  return getRuns(repo, await selectRuns(repo, q));
}

function dateOption(option: string, value: string, parseDate: (value: string) => string): string {
  try {
    return parseDate(value);
  } catch (e) {
    if (e instanceof GitRunError) throw new GitRunError(ErrorCode.BadDate, `${option}: ${e.message}`, e.hint);
    throw e;
  }
}

function regexOption(option: string, value: string): string {
  try {
    new RegExp(value);
    return value;
  } catch (e) {
    throw new GitRunError(ErrorCode.BadOption, `${option} '${value}' is not a valid regular expression: ${(e as Error).message}`, 'escape special characters with a backslash, e.g. --grep "lr\\\\(0.1\\\\)"');
  }
}

/** The commits of a revision range limited to paths, with git's own semantics (git rev-list). */
async function revList(repo: Repo, revisions: string[], paths: string[], dashDash: boolean): Promise<string[]> {
  for (const r of revisions) {
    if (r.startsWith('-')) throw new GitRunError(ErrorCode.BadRevision, `'${r}' is not a revision`, 'give a revision range like main~10..main, before any `--`');
  }
  const r = await gitRevList(repo, revisions, dashDash ? paths : null);
  if ('error' in r) {
    throw new GitRunError(ErrorCode.BadRevision, `unknown revision or range: ${r.error}`, 'use a revision git knows (a branch, a tag, a commit, main~10..main); `git log --oneline` lists them');
  }
  return r.commits;
}

/**
 * The views of many runs (by id, in that order), read from git through one
 * reader, a chunk at a time so that output can start at once: a group's
 * status as the index has it (from its children), a child's metadata from
 * its parent (read once).
 */
export async function* readViews(repo: Repo, index: Index, ids: string[], chunk = 200): AsyncGenerator<RunView[]> {
  const reader = new RunReader(repo, ids.length > 500);
  const parents = new Map<string, RunView | null>();
  try {
    for (let i = 0; i < ids.length; i += chunk) {
      const rows = index.rows(ids.slice(i, i + chunk));
      const views = await Promise.all(rows.map((r) => reader.read(r.id, r.tip)));
      for (let j = 0; j < views.length; j++) {
        const v = views[j]!;
        if (v.children) views[j] = { ...v, status: rows[j]!.status };
        const pid = v.spec.parent;
        if (pid) {
          if (!parents.has(pid)) {
            const [p] = index.rows([pid]);
            parents.set(pid, p ? await reader.read(p.id, p.tip).catch(() => null) : null);
          }
          const p = parents.get(pid);
          if (p) views[j] = { ...views[j]!, meta: { ...p.meta, name: v.spec.name ?? p.meta.name } };
        }
      }
      yield views;
    }
  } finally {
    reader.close();
  }
}

/** What `git run log --oneline` prints of a run. */
export interface RunLine {
  id: string;
  status: Status;
  command: string[];
  name: string | null;
}

/**
 * The one-line listing of these runs (in that order) from the index's rows
 * alone, without starting git: the rows are what readViews would read from
 * the same tips and notes (the index stores a run's status, command and
 * name as it folds them from its commit and note, a child's own name and its
 * group's). Null when the rows cannot say exactly what readViews would give:
 * a run without a row, a status or command of a shape we never write, a
 * child whose group has no row or is itself a child. The caller then reads
 * from git (test/log-lines.test.ts checks both print the same).
 */
export function readLines(index: Index, ids: string[]): RunLine[] | null {
  const rows = index.lineRows(ids);
  if (rows.length !== ids.length) return null;
  const out: RunLine[] = [];
  for (const r of rows) {
    if (!(STATUSES as readonly string[]).includes(r.status) || r.command === null) return null;
    let command: unknown;
    try {
      command = JSON.parse(r.command);
    } catch {
      return null;
    }
    if (!Array.isArray(command) || !command.every((a) => typeof a === 'string')) return null;
    let name = r.name;
    if (r.parent !== null) {
      // readViews gives a child its group's metadata, with its own name when it has one.
      if (r.parentId === null || r.parentParent !== null) return null;
      name = r.name ?? r.parentName;
    }
    out.push({ id: r.id, status: r.status as Status, command: command as string[], name });
  }
  return out;
}

/** The pager git would use for this repository (core.pager, GIT_PAGER, PAGER), or null for none. */
export async function pagerCommand(repo: Repo): Promise<string | null> {
  const p = (await gitPager(repo)) ?? 'less';
  return p && p !== 'cat' ? p : null;
}

/** Whether to color output, as git decides it (color.ui and the given setting: always, never, auto). */
export async function colorWanted(repo: Repo, when: string | undefined, toTerminal: boolean): Promise<boolean> {
  if (when === 'always') return true;
  if (when === 'never') return false;
  if (when !== undefined && when !== 'auto') throw new GitRunError(ErrorCode.BadOption, `--color takes always, never or auto, not '${when}'`, 'e.g. --color=always');
  if (when === 'auto') return toTerminal;
  return (await colorBool(repo, 'color.ui', toTerminal)) ?? toTerminal;
}

/** What `--group-by` groups runs by: a parameter's value, or the seed. */
export type GroupKey = { param: string } | 'seed';

export interface MetricSummary {
  count: number;
  mean: number;
  std: number;
  min: number;
  max: number;
}

/** One cell of a grouping: the key's values (null where a run lacks the param), its runs, their metrics. */
export interface GroupCell {
  values: Array<string | null>;
  count: number;
  metrics: Map<string, MetricSummary>;
}

/**
 * Metric statistics of runs grouped by one or more keys: one cell per
 * combination of values that occurs (every key counts; a run without a
 * param is grouped under null for it). Keys are matched as own properties:
 * a param named `__proto__` is a param.
 */
export async function groupRuns(repo: Repo, index: Index, ids: string[], keys: GroupKey[]): Promise<GroupCell[]> {
  const cells = new Map<string, { values: Array<string | null>; count: number; samples: Map<string, number[]> }>();
  for await (const views of readViews(repo, index, ids)) {
    for (const v of views) {
      const values = keys.map((k) => (k === 'seed' ? String(v.spec.seed) : Object.hasOwn(v.spec.params, k.param) ? paramText(v.spec.params[k.param]) : null));
      const id = JSON.stringify(values);
      let c = cells.get(id);
      if (!c) cells.set(id, (c = { values, count: 0, samples: new Map() }));
      c.count++;
      for (const [m, x] of Object.entries(v.metrics ?? {})) {
        let l = c.samples.get(m);
        if (!l) c.samples.set(m, (l = []));
        l.push(x);
      }
    }
  }
  return [...cells.values()].map((c) => {
    const metrics = new Map<string, MetricSummary>();
    for (const [name, l] of c.samples) {
      const mean = l.reduce((s, x) => s + x, 0) / l.length;
      // The sample standard deviation (n - 1), as a spread of repeated runs; 0 for one run.
      const std = l.length > 1 ? Math.sqrt(l.reduce((s, x) => s + (x - mean) ** 2, 0) / (l.length - 1)) : 0;
      metrics.set(name, { count: l.length, mean, std, min: Math.min(...l), max: Math.max(...l) });
    }
    return { values: c.values, count: c.count, metrics };
  });
}

/** A param value as text, as the index and `--param` write it. */
const paramText = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : canonicalJson(v));
