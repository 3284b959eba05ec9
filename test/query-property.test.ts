/**
 * Query results stay exactly right whichever way the index answers them
 * (issue 16: a driver from the (name, value) indexes, the newest runs first,
 * or the walk of every run): many seeded random --where expressions and
 * --param / --tag / --status options, over runs with missing params, text
 * and numbers mixed, ties in creation time, compared with a brute-force
 * evaluation in plain JavaScript of the rules src/query/where.ts states.
 * Deterministic: the same seed gives the same runs and expressions.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { RunIndex, type SelectStep } from '../src/index/db.js';
import { selectRuns, type RunQuery } from '../src/api/query.js';
import type { Repo } from '../src/git/repo.js';
// mulberry32, seeded: a failure can be replayed.
import { prng as rng } from '../bench/lib.js';

const SEED = 16_2026;
const RUNS = 600;
const EXPRESSIONS = 400;


type Value = number | string;
interface FakeRun {
  id: string;
  created: string;
  status: string;
  params: Map<string, Value>;
  metrics: Map<string, number>;
  tags: string[];
}

const STATUSES = ['succeeded', 'failed', 'lost', 'running', 'queued', 'cancelled'];
const LR: Value[] = [0.001, 0.01, 0.1, 0.3, 1, '0.10', '0.3', 'auto', ' 1 '];
const OPT: Value[] = ['adam', 'sgd', 'Adam', 'adamw', 10, '10', 'a b'];
const TAGS = ['best', 'sweep', 'old', 'x y'];

function makeRuns(r: () => number): FakeRun[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const runs: FakeRun[] = [];
  for (let i = 0; i < RUNS; i++) {
    const id = Array.from({ length: 40 }, () => '0123456789abcdef'[Math.floor(r() * 16)]).join('');
    // Few distinct instants: many runs share a creation time (ordered by id then).
    const created = new Date(Date.UTC(2026, 10, 1) + Math.floor(r() * 200) * 60_000).toISOString();
    const params = new Map<string, Value>();
    // lr is rare on purpose for some values (0.3: selective), missing for some runs.
    if (r() < 0.9) params.set('lr', r() < 0.02 ? 0.3 : pick(LR.filter((v) => v !== 0.3)));
    if (r() < 0.7) params.set('opt', pick(OPT));
    if (r() < 0.5) params.set('batch', Math.floor(r() * 8) * 16);
    const metrics = new Map<string, number>();
    if (r() < 0.75) metrics.set('acc', Math.round(r() * 100) / 100);
    if (r() < 0.1) metrics.set('loss', Math.round(r() * 1000) / 100);
    const tags = TAGS.filter(() => r() < 0.15);
    runs.push({ id, created, status: r() < 0.01 ? 'queued' : pick(STATUSES.filter((s) => s !== 'queued')), params, metrics, tags });
  }
  return runs;
}

/** As the index stores a param: its text, and its number when it reads as one. */
const numOf = (v: Value): number | null => (typeof v === 'number' ? v : v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : null);
const textOf = (v: Value): string => (typeof v === 'number' ? String(v) : v);

// ---- expressions: a tree, printed for --where and evaluated here --------------------------------------

type Op = '=' | '!=' | '<' | '<=' | '>' | '>=';
type Lit = { num: number } | { text: string };
type Expr =
  | { k: 'and' | 'or'; a: Expr; b: Expr }
  | { k: 'not'; a: Expr }
  | { k: 'param'; name: string; op: Op; v: Lit }
  | { k: 'param-in'; name: string; neg: boolean; vs: Lit[] }
  | { k: 'param-contains'; name: string; neg: boolean; s: string }
  | { k: 'metric'; name: string; op: Op; x: number }
  | { k: 'metric-in'; name: string; neg: boolean; xs: number[] }
  | { k: 'tag'; neg: boolean; vs: string[] }
  | { k: 'status'; neg: boolean; vs: string[] };

const OPS: Op[] = ['=', '!=', '<', '<=', '>', '>='];
const cmp = <T extends number | string>(a: T, op: Op, b: T): boolean =>
  op === '=' ? a === b : op === '!=' ? a !== b : op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const litText = (l: Lit) => ('num' in l ? String(l.num) : quote(l.text));

function genExpr(r: () => number, depth: number): Expr {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  if (depth > 0 && r() < 0.45) {
    const k = pick(['and', 'and', 'or', 'not'] as const);
    if (k === 'not') return { k, a: genExpr(r, depth - 1) };
    return { k, a: genExpr(r, depth - 1), b: genExpr(r, depth - 1) };
  }
  const lit = (): Lit => {
    const v = pick([...LR, ...OPT, 5, 0.3, 'zzz']);
    return typeof v === 'number' ? { num: v } : { text: v };
  };
  switch (pick(['param', 'param', 'param', 'param-in', 'param-contains', 'metric', 'metric', 'metric-in', 'tag', 'status'] as const)) {
    case 'param':
      return { k: 'param', name: pick(['lr', 'opt', 'batch']), op: pick(OPS), v: lit() };
    case 'param-in':
      return { k: 'param-in', name: pick(['lr', 'opt']), neg: r() < 0.4, vs: [lit(), lit(), ...(r() < 0.5 ? [lit()] : [])] };
    case 'param-contains':
      return { k: 'param-contains', name: pick(['lr', 'opt']), neg: r() < 0.4, s: pick(['a', 'dam', '0.', '1', 'zz']) };
    case 'metric':
      return { k: 'metric', name: pick(['acc', 'acc', 'loss']), op: pick(OPS), x: pick([0, 0.5, 0.9, 0.95, 0.99, 1, 2, 5]) };
    case 'metric-in':
      return { k: 'metric-in', name: 'acc', neg: r() < 0.4, xs: [Math.round(r() * 100) / 100, Math.round(r() * 100) / 100] };
    case 'tag':
      return { k: 'tag', neg: r() < 0.4, vs: r() < 0.6 ? [pick(TAGS)] : [pick(TAGS), pick(TAGS)] };
    case 'status':
      return { k: 'status', neg: r() < 0.4, vs: r() < 0.6 ? [pick(STATUSES)] : [pick(STATUSES), pick(STATUSES)] };
  }
}

function print(e: Expr): string {
  switch (e.k) {
    case 'and':
    case 'or':
      return `(${print(e.a)} ${e.k} ${print(e.b)})`;
    case 'not':
      return `not ${print(e.a)}`;
    case 'param':
      return `params.${e.name} ${e.op} ${litText(e.v)}`;
    case 'param-in':
      return `params.${e.name} ${e.neg ? 'not in' : 'in'} (${e.vs.map(litText).join(', ')})`;
    case 'param-contains':
      return `params.${e.name} ${e.neg ? 'not contains' : 'contains'} ${quote(e.s)}`;
    case 'metric':
      return `metrics.${e.name} ${e.op} ${e.x}`;
    case 'metric-in':
      return `metrics.${e.name} ${e.neg ? 'not in' : 'in'} (${e.xs.join(', ')})`;
    case 'tag':
      return e.vs.length === 1 ? `tags ${e.neg ? '!=' : '='} ${quote(e.vs[0]!)}` : `tags ${e.neg ? 'not in' : 'in'} (${e.vs.map(quote).join(', ')})`;
    case 'status':
      return e.vs.length === 1 ? `status ${e.neg ? '!=' : '='} ${e.vs[0]}` : `status ${e.neg ? 'not in' : 'in'} (${e.vs.join(', ')})`;
  }
}

/** The rules of src/query/where.ts, written plainly: a missing param or metric matches no condition on it; not is the complement. */
function holds(e: Expr, run: FakeRun): boolean {
  switch (e.k) {
    case 'and':
      return holds(e.a, run) && holds(e.b, run);
    case 'or':
      return holds(e.a, run) || holds(e.b, run);
    case 'not':
      return !holds(e.a, run);
    case 'param': {
      if (!run.params.has(e.name)) return false;
      const v = run.params.get(e.name)!;
      // A number compares with the param's number (a param that is not one is != every number); text with its text.
      if ('num' in e.v) {
        const n = numOf(v);
        return e.op === '!=' ? n === null || n !== e.v.num : n !== null && cmp(n, e.op, e.v.num);
      }
      return cmp(textOf(v), e.op, e.v.text);
    }
    case 'param-in': {
      if (!run.params.has(e.name)) return false;
      const v = run.params.get(e.name)!;
      const n = numOf(v);
      const inList = e.vs.some((l) => ('num' in l ? n !== null && n === l.num : textOf(v) === l.text));
      return e.neg ? !inList : inList;
    }
    case 'param-contains': {
      if (!run.params.has(e.name)) return false;
      const has = textOf(run.params.get(e.name)!).includes(e.s);
      return e.neg ? !has : has;
    }
    case 'metric': {
      const m = run.metrics.get(e.name);
      return m !== undefined && cmp(m, e.op, e.x);
    }
    case 'metric-in': {
      const m = run.metrics.get(e.name);
      return m !== undefined && (e.neg ? !e.xs.includes(m) : e.xs.includes(m));
    }
    case 'tag': {
      const has = e.vs.some((t) => run.tags.includes(t));
      return e.neg ? !has : has;
    }
    case 'status':
      return e.neg ? !e.vs.includes(run.status) : e.vs.includes(run.status);
  }
}

/** Newest first, then by id (descending), as git run log orders. */
const newestFirst = (a: FakeRun, b: FakeRun) => (a.created !== b.created ? (a.created < b.created ? 1 : -1) : a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

describe('query results against a brute-force evaluation (seeded random expressions)', function () {
  this.timeout(300_000);
  let dir: string;
  let index: RunIndex;
  let runs: FakeRun[];
  const repo = {} as Repo;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'git-run-query-property-'));
    index = RunIndex.open({ stateDir: dir } as unknown as Repo);
    runs = makeRuns(rng(SEED));
    // Filled as a sync would fill it (the same columns and the same text / number split of params).
    const db = new Database(path.join(dir, 'index.sqlite'));
    const insRun = db.prepare("INSERT INTO runs (id, tip, key, kind, status, created_at, command) VALUES (?, ?, ?, 'run', ?, ?, '[]')");
    const insParam = db.prepare('INSERT INTO params (run, name, text, num) VALUES (?, ?, ?, ?)');
    const insMetric = db.prepare('INSERT INTO metrics (run, name, num, min, max, count) VALUES (?, ?, ?, ?, ?, 1)');
    const insTag = db.prepare('INSERT INTO tags (run, tag) VALUES (?, ?)');
    const insName = db.prepare('INSERT OR IGNORE INTO names (kind, name) VALUES (?, ?)');
    db.transaction(() => {
      for (const r of runs) {
        insRun.run(r.id, r.id, `k${r.id}`, r.status, r.created);
        for (const [k, v] of r.params) insParam.run(r.id, k, textOf(v), numOf(v)), insName.run('param', k);
        for (const [k, v] of r.metrics) insMetric.run(r.id, k, v, v, v), insName.run('metric', k);
        for (const t of r.tags) insTag.run(r.id, t);
      }
    })();
    db.close();
  });
  after(() => {
    index?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // Small thresholds send the same queries down every path: a driver at once, the newest runs first, the intersection, the walk.
  const TUNINGS: Array<{ probe?: number; window?: number } | undefined> = [undefined, { probe: 1, window: 7 }, { probe: 40, window: 100 }, { probe: 1_000_000 }];

  /** Selects through the index with each tuning and limit; returns the paths taken. */
  async function check(label: string, q: RunQuery, expected: FakeRun[]): Promise<Set<string>> {
    const want = [...expected].sort(newestFirst).map((r) => r.id);
    const steps = new Set<string>();
    for (const tuning of TUNINGS) {
      for (const limit of [undefined, 1, 5, 50]) {
        const explain: SelectStep[] = [];
        const got = await selectRuns(repo, { ...q, ...(limit !== undefined ? { limit } : {}) }, index, { explain, ...(tuning ? { tuning } : {}) });
        const exp = limit === undefined ? want : want.slice(0, limit);
        assert.deepEqual(got, exp, `${label} (limit ${limit ?? 'none'}, tuning ${JSON.stringify(tuning ?? 'default')}): ${got.length} runs, expected ${exp.length}; steps ${explain.map((s) => s.step).join(', ')}`);
        for (const s of explain) steps.add(s.step);
      }
    }
    return steps;
  }

  it(`${EXPRESSIONS} random --where expressions select exactly the runs that satisfy them, in order, on every path`, async () => {
    const r = rng(SEED + 1);
    const paths = new Map<string, number>();
    let empty = 0;
    let full = 0;
    for (let i = 0; i < EXPRESSIONS; i++) {
      const e = genExpr(r, 3);
      const where = print(e);
      const expected = runs.filter((run) => holds(e, run));
      if (!expected.length) empty++;
      if (expected.length === runs.length) full++;
      for (const s of await check(`#${i} --where "${where}"`, { where }, expected)) paths.set(s, (paths.get(s) ?? 0) + 1);
    }
    // The test means something only if it reached every path and both kinds of outcome.
    for (const s of ['probe', 'driven', 'window', 'ordered']) assert.ok((paths.get(s) ?? 0) > 10, `path ${s} taken by ${paths.get(s) ?? 0} expressions`);
    assert.ok(empty > 10 && full < EXPRESSIONS / 4, `${empty} expressions matched nothing, ${full} everything`);
  });

  it('--param, --tag and --status (options, with their own drivers) agree with the brute force too', async () => {
    const r = rng(SEED + 2);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    for (let i = 0; i < 60; i++) {
      const q: RunQuery = {};
      const tests: Array<(run: FakeRun) => boolean> = [];
      if (r() < 0.7) {
        const name = pick(['lr', 'opt']);
        const value = String(pick([...LR, ...OPT, '0.30', 'zzz']));
        q.params = [[name, value]];
        // --param name=value: the number when both are numbers, else the text.
        const n = value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : null;
        tests.push((run) => run.params.has(name) && ((n !== null && numOf(run.params.get(name)!) === n) || textOf(run.params.get(name)!) === value));
      }
      if (r() < 0.4) {
        const tags = r() < 0.5 ? [pick(TAGS)] : [pick(TAGS), pick(TAGS)];
        q.tags = tags;
        tests.push((run) => tags.some((t) => run.tags.includes(t)));
      }
      if (r() < 0.4) {
        const st = r() < 0.5 ? [pick(STATUSES)] : [pick(STATUSES), pick(STATUSES)];
        q.status = st as RunQuery['status'];
        tests.push((run) => st.includes(run.status));
      }
      if (r() < 0.3) {
        const e = genExpr(r, 2);
        q.where = print(e);
        tests.push((run) => holds(e, run));
      }
      await check(`options ${JSON.stringify(q)}`, q, runs.filter((run) => tests.every((t) => t(run))));
    }
  });
});
