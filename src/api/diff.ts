/**
 * What differs between two runs, section by section: code (git's own diff of
 * the two snapshot trees), command and cwd, params, seed, env, run_args,
 * host, metrics, outputs and result. A section that is equal is left out
 * unless `all` asks for every one. Nothing here prints: the CLI renders.
 */
import path from 'node:path';
import type { Repo } from '../git/repo.js';
import { colorBool, diffTrees } from '../git/plumbing.js';
import { pointersAmong } from '../git/lfs.js';
import { listRunRefs, outputsOf, type RunView } from '../store/runs.js';
import { canonicalJson, lfsOutputsOf, mayBeLfsOutput, type Status } from '../core/record.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { getRun } from './query.js';

export interface CodeSide {
  tree: string;
  commit: string | null;
  dirty: boolean;
}

export interface ChangedFile {
  path: string;
  /** git's status letter: A added, D deleted, M modified, T type changed. */
  status: string;
  /** Lines added and deleted; null for a binary file. */
  added: number | null;
  deleted: number | null;
}

export interface CodeDiff {
  a: CodeSide;
  b: CodeSide;
  /** The files that differ (within the pathspecs), renames as a deletion and an addition. */
  files: ChangedFile[];
  /** `git diff --stat` of the two trees, as git prints it. */
  stat: string;
  /** `git diff` of the two trees (only when asked for). */
  patch?: string;
}

export interface Pair<T> {
  a: T;
  b: T;
}

/** A keyed section (params, env, run_args): what b added, removed, changed. */
export interface KeyedDiff {
  added: Record<string, unknown>;
  removed: Record<string, unknown>;
  changed: Record<string, Pair<unknown>>;
  /** Only when every section is asked for. */
  unchanged?: Record<string, unknown>;
}

export interface MetricDiff {
  a: number | null;
  b: number | null;
  /** b - a, null when either is missing. */
  delta: number | null;
  /** (b - a) / |a| in percent; null when either is missing or a is 0. */
  percent: number | null;
}

export interface OutputFile {
  path: string;
  oid: string;
  size: number;
}

export interface OutputsDiff {
  added: OutputFile[];
  removed: OutputFile[];
  changed: Array<{ path: string; a: { oid: string; size: number }; b: { oid: string; size: number } }>;
  unchanged?: OutputFile[];
}

export interface ResultSide {
  status: Status;
  exitCode: number | null;
  signal: string | null;
  /** Milliseconds from start to end; null until the run has both. */
  duration: number | null;
}

/** Sections in the order they are shown; absent ones were equal. */
export interface RunDiff {
  a: { id: string; name: string | null };
  b: { id: string; name: string | null };
  code?: CodeDiff;
  command?: Pair<string[]>;
  cwd?: Pair<string>;
  params?: KeyedDiff;
  seed?: Pair<number>;
  env?: KeyedDiff;
  runArgs?: KeyedDiff;
  host?: Pair<string>;
  metrics?: Record<string, MetricDiff>;
  outputs?: OutputsDiff;
  result?: Pair<ResultSide>;
}

export const DIFF_SECTIONS = ['code', 'command', 'cwd', 'params', 'seed', 'env', 'runArgs', 'host', 'metrics', 'outputs', 'result'] as const;

export interface DiffOptions {
  /** Include every section, equal or not (and the unchanged entries of keyed ones). */
  all?: boolean;
  /** Also produce the full patch of the code. */
  patch?: boolean;
  /** Pathspecs limiting the code diff, relative to where the user stands. */
  paths?: string[];
  /** The output is a terminal: git's stat and patch are colored if git's color.diff setting says so. */
  terminal?: boolean;
  /** Terminal width for git's stat. */
  columns?: number;
}

/** Float noise out of a difference: 0.95 - 0.9 is 0.05, not 0.04999999999999993. */
const clean = (x: number) => Number(x.toPrecision(12));

const same = (x: unknown, y: unknown) => canonicalJson(x) === canonicalJson(y);

export function diffKeyed(a: Record<string, unknown>, b: Record<string, unknown>, all = false): KeyedDiff {
  const d: KeyedDiff = { added: {}, removed: {}, changed: {} };
  if (all) d.unchanged = {};
  for (const [k, v] of Object.entries(a)) {
    if (!(k in b)) d.removed[k] = v;
    else if (!same(v, b[k])) d.changed[k] = { a: v, b: b[k] };
    else if (d.unchanged) d.unchanged[k] = v;
  }
  for (const [k, v] of Object.entries(b)) if (!(k in a)) d.added[k] = v;
  return d;
}

const keyedEqual = (d: KeyedDiff) => !Object.keys(d.added).length && !Object.keys(d.removed).length && !Object.keys(d.changed).length;

export function diffMetrics(a: Record<string, number> | null, b: Record<string, number> | null): Record<string, MetricDiff> {
  const out: Record<string, MetricDiff> = {};
  const ma = a ?? {};
  const mb = b ?? {};
  for (const name of [...new Set([...Object.keys(ma), ...Object.keys(mb)])]) {
    const x = name in ma ? ma[name]! : null;
    const y = name in mb ? mb[name]! : null;
    const delta = x !== null && y !== null ? clean(y - x) : null;
    const percent = delta !== null && x !== 0 ? clean(((y! - x!) / Math.abs(x!)) * 100) : null;
    out[name] = { a: x, b: y, delta, percent };
  }
  return out;
}

function diffOutputs(a: OutputFile[], b: OutputFile[], all: boolean): OutputsDiff {
  const bb = new Map(b.map((o) => [o.path, o]));
  const aa = new Map(a.map((o) => [o.path, o]));
  const d: OutputsDiff = { added: [], removed: [], changed: [] };
  if (all) d.unchanged = [];
  for (const o of a) {
    const other = bb.get(o.path);
    if (!other) d.removed.push(o);
    else if (other.oid !== o.oid) d.changed.push({ path: o.path, a: { oid: o.oid, size: o.size }, b: { oid: other.oid, size: other.size } });
    else d.unchanged?.push(o);
  }
  for (const o of b) if (!aa.has(o.path)) d.added.push(o);
  return d;
}

function resultSide(v: RunView): ResultSide {
  const start = v.result?.startedAt ?? v.state?.startedAt ?? null;
  const end = v.result?.endedAt ?? null;
  return {
    status: v.status,
    exitCode: v.result?.exitCode ?? null,
    signal: v.result?.signal ?? null,
    duration: start && end ? Date.parse(end) - Date.parse(start) : null,
  };
}

async function outputs(repo: Repo, v: RunView): Promise<OutputFile[]> {
  if (!v.result) return [];
  const files = await outputsOf(repo, v.tip);
  // A big output's size is its content's (the pointer says it), not its pointer's; its pointer still names the content.
  const record = lfsOutputsOf(v.result);
  const pointers = await pointersAmong(repo, files.filter((f) => mayBeLfsOutput(record, f.path)), (p) => `${v.id.slice(0, 12)}:${p}`);
  return files.map(({ path: p, oid, size }) => ({ path: p, oid, size: (mayBeLfsOutput(record, p) ? pointers.get(oid)?.size : undefined) ?? size }));
}

/** Parse `git diff --raw --numstat -z --no-renames`. */
function parseRawNumstat(out: string): ChangedFile[] {
  const tokens = out.split('\0');
  const files = new Map<string, ChangedFile>();
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!t) continue;
    if (t.startsWith(':')) {
      const p = tokens[++i]!;
      files.set(p, { path: p, status: t.split(' ')[4]!.slice(0, 1), added: null, deleted: null });
      continue;
    }
    const [add, del, p] = t.split('\t');
    const f = files.get(p!);
    if (f && add !== '-') {
      f.added = Number(add);
      f.deleted = Number(del);
    }
  }
  return [...files.values()];
}

async function diffCode(repo: Repo, a: CodeSide, b: CodeSide, opts: DiffOptions): Promise<CodeDiff> {
  const paths = opts.paths ?? [];
  // Pathspecs mean what they mean to git where the user stands.
  const cwd = repo.topLevel ? path.join(repo.topLevel, repo.prefix) : undefined;
  const raw = await diffTrees(repo, a.tree, b.tree, ['--raw', '--numstat', '-z', '--no-renames'], paths, cwd ? { cwd } : {});
  const files = parseRawNumstat(raw.toString('utf8'));
  let color = false;
  if (opts.terminal) color = (await colorBool(repo, 'color.diff', true, cwd)) === true;
  const env = { COLUMNS: opts.terminal && opts.columns ? String(opts.columns) : undefined };
  const run = async (args: string[]) =>
    files.length ? (await diffTrees(repo, a.tree, b.tree, [color ? '--color=always' : '--no-color', ...args], paths, { env, ...(cwd ? { cwd } : {}) })).toString('utf8') : '';
  const d: CodeDiff = { a, b, files, stat: await run(['--stat']) };
  if (opts.patch) d.patch = await run(['--patch']);
  return d;
}

/**
 * Compare two runs named by unique prefixes of their ids. `args` are the
 * command line's words: the two runs, then pathspecs (clipanion hides
 * whether they came after `--`, so a word that names a run is taken as a
 * third run, like git's own revision-or-path rule).
 */
export async function diffRuns(repo: Repo, args: string[], opts: DiffOptions = {}): Promise<RunDiff> {
  if (args.length < 2) {
    throw new GitRunError(
      ErrorCode.BadOption,
      `git run diff compares two runs; ${args.length ? `only one was given ('${args[0]}')` : 'none was given'}`,
      'name both: git run diff <a> <b> (list runs with `git run log --oneline`)',
      { runs: args },
    );
  }
  const va = await getRun(repo, args[0]!);
  const vb = await getRun(repo, args[1]!);
  const extra = [...args.slice(2), ...(opts.paths ?? [])];
  const runLike: string[] = [];
  for (const x of extra) if (/^(refs\/runs\/)?[0-9a-f]{4,64}$/.test(x) && (await listRunRefs(repo, `${x.replace(/^refs\/runs\//, '')}*`)).length) runLike.push(x);
  if (runLike.length) {
    const runs = [args[0]!, args[1]!, ...runLike];
    throw new GitRunError(
      ErrorCode.BadOption,
      `git run diff compares exactly two runs; ${runs.length} were given (${runs.join(', ')})`,
      `to see many runs side by side use \`git run compare ${runs.join(' ')}\`; a path that looks like a run id is written ./${runLike[0]}`,
      { runs },
    );
  }
  return diffViews(repo, va, vb, { ...opts, paths: extra });
}

export async function diffViews(repo: Repo, va: RunView, vb: RunView, opts: DiffOptions = {}): Promise<RunDiff> {
  const all = !!opts.all;
  const d: RunDiff = { a: { id: va.id, name: va.meta.name }, b: { id: vb.id, name: vb.meta.name } };
  const sa = va.spec;
  const sb = vb.spec;

  const code = await diffCode(repo, sa.code, sb.code, opts);
  if (all || code.files.length || sa.code.commit !== sb.code.commit || sa.code.dirty !== sb.code.dirty) d.code = code;
  if (all || !same(sa.command, sb.command)) d.command = { a: sa.command, b: sb.command };
  if (all || sa.cwd !== sb.cwd) d.cwd = { a: sa.cwd, b: sb.cwd };
  const params = diffKeyed(sa.params, sb.params, all);
  if (all || !keyedEqual(params)) d.params = params;
  if (all || sa.seed !== sb.seed) d.seed = { a: sa.seed, b: sb.seed };
  const env = diffKeyed(sa.env ?? {}, sb.env ?? {}, all);
  if (all || !keyedEqual(env)) d.env = env;
  const runArgs = diffKeyed(sa.runArgs ?? {}, sb.runArgs ?? {}, all);
  if (all || !keyedEqual(runArgs)) d.runArgs = runArgs;
  if (all || sa.host !== sb.host) d.host = { a: sa.host, b: sb.host };
  const metrics = diffMetrics(va.metrics, vb.metrics);
  if (all || Object.values(metrics).some((m) => m.a !== m.b)) d.metrics = metrics;
  const outs = diffOutputs(await outputs(repo, va), await outputs(repo, vb), all);
  if (all || outs.added.length || outs.removed.length || outs.changed.length) d.outputs = outs;
  const ra = resultSide(va);
  const rb = resultSide(vb);
  // Durations always differ a little: the section is about how the runs ended.
  if (all || ra.status !== rb.status || ra.exitCode !== rb.exitCode || ra.signal !== rb.signal) d.result = { a: ra, b: rb };
  return d;
}
