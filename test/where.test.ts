import { strict as assert } from 'node:assert';
import Database from 'better-sqlite3';
import { compileWhere, parseDate, parseDuration, type WhereContext } from '../src/query/where.js';
import { ErrorCode, GitRunError } from '../src/errors/index.js';
// The index's own schema, so that query plans are checked against the indexes it really has.
import { SCHEMA } from '../src/index/db.js';

const NOW = new Date('2026-11-21T12:00:00.000Z');
const CTX: WhereContext = {
  params: ['lr', 'opt', 'batch', 'my lr', "it's", 'flag', "x'); DROP TABLE runs; --"],
  metrics: ['acc', 'val.loss', 'loss'],
  now: NOW,
};
const HOSTILE_NAME = "'; DROP TABLE runs; --";
const HOSTILE_NOTES = `back\\slash "dq" 'sq' naïve ☃`;


/** Ten runs, labelled r01..r10; each id is its two hex digits repeated (r01: a1a1...). */
interface Fixture {
  hex: string;
  kind?: 'run' | 'group';
  status: string;
  created: string;
  started?: string;
  ended?: string;
  duration?: number;
  parent?: string;
  name?: string;
  notes?: string;
  creator?: string;
  host?: string;
  commit?: string;
  tree?: string;
  seed?: number;
  exit?: number;
  command?: string;
  params?: Record<string, unknown>;
  metrics?: Record<string, number>;
  tags?: string[];
}
const id = (hex: string) => hex.repeat(20);
const RUNS: Record<string, Fixture> = {
  r01: {
    hex: 'a1', status: 'succeeded', created: '2026-11-01T09:00:00.000Z', started: '2026-11-01T09:00:05.000Z', ended: '2026-11-01T09:02:05.000Z', duration: 120,
    name: 'baseline', notes: 'first try', creator: 'Ada Lovelace <ada@example.org>', host: 'local', commit: 'c0ffee' + 'a'.repeat(34), tree: 'deadbeef'.repeat(5),
    seed: 1, exit: 0, command: 'python train.py --lr 0.1',
    params: { lr: 0.1, opt: 'adam', batch: 10, 'my lr': 'x y' }, metrics: { acc: 0.91, 'val.loss': 0.25 }, tags: ['best', 'baseline'],
  },
  r02: {
    hex: 'b2', status: 'failed', created: '2026-11-05T10:00:00.000Z', started: '2026-11-05T10:00:00.000Z', ended: '2026-11-05T10:00:30.000Z', duration: 30,
    name: 'lr sweep small', creator: 'Bob <bob@example.org>', host: 'gpu-1', commit: 'c0ffee' + 'b'.repeat(34), seed: 2, exit: 1, command: 'python train.py --lr 0.01',
    params: { lr: 0.01, opt: 'sgd', batch: 9 }, metrics: { acc: 0.5, loss: 2.5 }, tags: ['sweep'],
  },
  r03: { hex: 'c3', status: 'running', created: '2026-11-20T12:00:00.000Z', started: '2026-11-20T12:00:10.000Z', host: 'gpu-1', seed: 3, command: 'python train.py', params: { lr: 0.3, opt: 'adam' } },
  r04: { hex: 'd4', status: 'queued', created: '2026-11-21T11:55:00.000Z', creator: 'Ada Lovelace <ada@example.org>', host: 'local' },
  r05: { hex: 'e5', kind: 'group', status: 'succeeded', created: '2026-11-10T00:00:00.000Z', duration: 10, name: 'grid', host: 'local', tags: ['sweep'] },
  r06: { hex: 'f6', status: 'succeeded', created: '2026-11-10T00:00:01.000Z', duration: 4, parent: id('e5'), host: 'local', exit: 0, params: { lr: 9, batch: 9 }, metrics: { acc: 0.7 } },
  r07: { hex: '07', status: 'failed', created: '2026-11-10T00:00:02.000Z', duration: 6, parent: id('e5'), host: 'local', exit: 2, params: { lr: 10 }, metrics: { acc: 0.65 } },
  r08: { hex: '18', status: 'succeeded', created: '2026-10-15T08:00:00.000Z', duration: 3600, host: 'local', params: { lr: '0.10', opt: 'adam' }, metrics: { acc: 0.88, 'val.loss': 0.3 }, tags: ['baseline'] },
  r09: {
    hex: '29', status: 'cancelled', created: '2026-11-19T00:00:00.000Z', name: HOSTILE_NAME, notes: HOSTILE_NOTES, creator: 'Zoë <z@example.org>', host: 'local',
    params: { "it's": 1, opt: `a"b'c` }, tags: ['weird tag', 'ünï'],
  },
  r10: { hex: '3a', status: 'lost', created: '2026-11-18T23:00:00.000Z', host: 'local', params: { lr: 'auto', flag: true } },
};
const LABEL = new Map(Object.entries(RUNS).map(([label, r]) => [id(r.hex), label]));
const ALL = Object.keys(RUNS);
const except = (...labels: string[]) => ALL.filter((l) => !labels.includes(l));

function paramText(v: unknown): { text: string; num: number | null } {
  if (typeof v === 'number') return { text: String(v), num: v };
  if (typeof v === 'string') return { text: v, num: v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : null };
  if (typeof v === 'boolean') return { text: String(v), num: null };
  return { text: JSON.stringify(v), num: null };
}

function makeDb(): Database.Database {
  const db = new Database(':memory:');
  db.exec(SCHEMA);
  const run = db.prepare(`INSERT INTO runs (id, tip, key, kind, status, created_at, started_at, ended_at, duration, parent, name, notes, creator, host, source_commit, tree, seed, exit_code, command) VALUES (@id, @tip, @key, @kind, @status, @created, @started, @ended, @duration, @parent, @name, @notes, @creator, @host, @commit, @tree, @seed, @exit, @command)`);
  const param = db.prepare('INSERT INTO params VALUES (?, ?, ?, ?)');
  const metric = db.prepare('INSERT INTO metrics (run, name, num, min, max, count) VALUES (?, ?, ?, ?, ?, 1)');
  const tag = db.prepare('INSERT INTO tags VALUES (?, ?)');
  for (const r of Object.values(RUNS)) {
    const rid = id(r.hex);
    run.run({
      id: rid, tip: rid, key: 'k' + r.hex, kind: r.kind ?? 'run', status: r.status, created: r.created, started: r.started ?? null, ended: r.ended ?? null,
      duration: r.duration ?? null, parent: r.parent ?? null, name: r.name ?? null, notes: r.notes ?? null, creator: r.creator ?? null, host: r.host ?? null,
      commit: r.commit ?? null, tree: r.tree ?? null, seed: r.seed ?? null, exit: r.exit ?? null, command: r.command ?? null,
    });
    for (const [k, v] of Object.entries(r.params ?? {})) {
      const { text, num } = paramText(v);
      param.run(rid, k, text, num);
    }
    for (const [k, v] of Object.entries(r.metrics ?? {})) metric.run(rid, k, v, v, v);
    for (const t of r.tags ?? []) tag.run(rid, t);
  }
  return db;
}

function catchError(f: () => unknown): GitRunError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof GitRunError, `expected a GitRunError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

/** Compile, check the error: code, message, column, the caret under that column, and the first hint line. */
function fails(expr: string, code: ErrorCode, message: RegExp, column: number, hint?: RegExp): GitRunError {
  const e = catchError(() => compileWhere(expr, CTX));
  assert.equal(e.code, code, `${expr}: ${e.message}`);
  assert.match(e.message, message);
  assert.ok(e.message.endsWith(` at column ${column} of --where`), `${expr}: column ${column} in '${e.message}'`);
  assert.equal(e.data.column, column);
  const lines = e.hint!.split('\n');
  assert.equal(lines.length, 3, e.hint);
  assert.equal(lines[1], `  ${expr}`);
  assert.equal(lines[2], `${' '.repeat(column + 1)}^`);
  if (hint) assert.match(lines[0]!, hint);
  return e;
}

describe('--where expressions', () => {
  let db: Database.Database;
  before(() => {
    db = makeDb();
  });
  after(() => db.close());

  /** The labels of the runs an expression selects, sorted. */
  function sel(expr: string, ctx: WhereContext = CTX): string[] {
    const { sql, args } = compileWhere(expr, ctx);
    assert.equal(sql.split('?').length - 1, args.length, `one argument per placeholder in ${sql}`);
    const rows = db.prepare(`SELECT id FROM runs r WHERE ${sql} ORDER BY created_at DESC LIMIT 50`).all(...args) as Array<{ id: string }>;
    return rows.map((r) => LABEL.get(r.id)!).sort();
  }
  const expect = (expr: string, labels: string[]) => assert.deepEqual(sel(expr), [...labels].sort(), expr);

  describe('compiled SQL', () => {
    it('a comparison on a param is an EXISTS keyed by the run, with every value a parameter', () => {
      assert.deepEqual(compileWhere('params.lr > 0.1', CTX), {
        sql: 'EXISTS (SELECT 1 FROM params p WHERE p.run = r.id AND p.name = ? AND +p.num > ?)',
        args: ['lr', 0.1],
        drivers: [{ sql: 'SELECT p.run AS run FROM params p WHERE p.name = ? AND p.num > ?', args: ['lr', 0.1] }],
      });
      assert.deepEqual(compileWhere("params.opt = 'adam'", CTX), {
        sql: 'EXISTS (SELECT 1 FROM params p WHERE p.run = r.id AND p.name = ? AND +p.text = ?)',
        args: ['opt', 'adam'],
        drivers: [{ sql: 'SELECT p.run AS run FROM params p WHERE p.name = ? AND p.text = ?', args: ['opt', 'adam'] }],
      });
      assert.deepEqual(compileWhere('metrics.val.loss <= 1e-3', CTX), {
        sql: 'EXISTS (SELECT 1 FROM metrics m WHERE m.run = r.id AND m.name = ? AND +m.num <= ?)',
        args: ['val.loss', 0.001],
        drivers: [{ sql: 'SELECT m.run AS run FROM metrics m WHERE m.name = ? AND m.num <= ?', args: ['val.loss', 0.001] }],
      });
      assert.deepEqual(compileWhere('status = failed', CTX), { sql: 'r.status = ?', args: ['failed'], drivers: [{ sql: 'SELECT s.id AS run FROM runs s WHERE s.status IN (?)', args: ['failed'] }] });
      assert.deepEqual(compileWhere('tags contains best', CTX), {
        sql: 'EXISTS (SELECT 1 FROM tags t WHERE t.run = r.id AND t.tag = ?)',
        args: ['best'],
        drivers: [{ sql: 'SELECT t.run AS run FROM tags t WHERE t.tag IN (?)', args: ['best'] }],
      });
      // No driver where the condition holds for runs without such a row (!=, not, a negated list) or has no index.
      for (const e of ['params.lr != 1', 'not params.lr > 1', 'params.lr not in (1, 2)', 'metrics.acc != 1', 'tags != best', 'name = x', 'params.lr > 1 or name = x']) {
        assert.deepEqual(compileWhere(e, CTX).drivers, [], e);
      }
      // and: any side's; or: the union of both sides'.
      assert.equal(compileWhere('params.lr > 1 and name = x and metrics.acc > 0.5', CTX).drivers.length, 2);
      assert.deepEqual(compileWhere('params.lr > 1 or tags = best', CTX).drivers, [
        { sql: 'SELECT run FROM (SELECT p.run AS run FROM params p WHERE p.name = ? AND p.num > ?) UNION SELECT run FROM (SELECT t.run AS run FROM tags t WHERE t.tag IN (?))', args: ['lr', 1, 'best'] },
      ]);
      assert.deepEqual(compileWhere('name = x', CTX), { sql: '(r.name IS NOT NULL AND r.name = ?)', args: ['x'], drivers: [] });
    });

    it('precedence: not binds tighter than and, and tighter than or', () => {
      const s = (e: string) => compileWhere(e, CTX).sql.replace(/r\.(status|kind|id) = \?/g, '$1');
      assert.equal(s('status = failed or kind = run and id = x'), '(status OR (kind AND id))');
      assert.equal(s('status = failed and kind = run or id = x'), '((status AND kind) OR id)');
      assert.equal(s('not status = failed and kind = run'), '(NOT (status) AND kind)');
      assert.equal(s('not (status = failed and kind = run)'), 'NOT ((status AND kind))');
      assert.equal(s('(status = failed or kind = run) and id = x'), '((status OR kind) AND id)');
      assert.equal(s('status = failed or kind = run or id = x'), '(status OR kind OR id)');
      assert.equal(s('! status = failed && kind = run || id = x'), '((NOT (status) AND kind) OR id)');
      assert.equal(s('NOT status = failed AND kind = run OR id = x'), s('not status = failed and kind = run or id = x'));
      assert.equal(s('((((status = failed))))'), 'status');
    });

    it('arguments come in the order of their placeholders', () => {
      const { args } = compileWhere("params.lr in (1, 'a', 2) and metrics.acc > 0.5 or tags in (x, y) and created > '2026-11-01T00:00:00Z'", CTX);
      assert.deepEqual(args, ['lr', 1, 2, 'a', 'acc', 0.5, 'x', 'y', '2026-11-01T00:00:00.000Z']);
    });

    it('never puts a user value in the SQL text', () => {
      for (const [expr, value] of [
        [`name = '\\'; DROP TABLE runs; --'`, HOSTILE_NAME],
        [`notes contains "\\" OR 1=1 --"`, '" OR 1=1 --'],
        [`params.opt = 'x\\' OR 1=1 --'`, "x' OR 1=1 --"],
        [`params["x'); DROP TABLE runs; --"] = 1`, "x'); DROP TABLE runs; --"],
        [`tags in ('a)', "b'")`, "b'"],
        [`command contains 'exec('`, 'exec('],
      ] as const) {
        const { sql, args } = compileWhere(expr, CTX);
        assert.ok(!sql.includes(value), `${sql} holds ${value}`);
        assert.ok(!/DROP|--|OR 1|'/.test(sql), sql);
        assert.ok(args.includes(value), `${JSON.stringify(args)} holds ${value}`);
      }
    });
  });

  describe('selecting runs', () => {
    it('status, kind, case-insensitive keywords and values', () => {
      expect('status = failed', ['r02', 'r07']);
      expect('status == "failed"', ['r02', 'r07']);
      expect('Status = FAILED', ['r02', 'r07']);
      expect('status in (failed, lost)', ['r02', 'r07', 'r10']);
      expect('status not in (succeeded, failed, lost)', ['r03', 'r04', 'r09']);
      expect('status != succeeded', ['r02', 'r03', 'r04', 'r07', 'r09', 'r10']);
      expect('status <> succeeded', ['r02', 'r03', 'r04', 'r07', 'r09', 'r10']);
      expect('kind = group', ['r05']);
      expect('kind != group AND status = succeeded', ['r01', 'r06', 'r08']);
    });

    it('and, or, not, parentheses and their synonyms', () => {
      expect('status = failed or status = lost and params.lr = auto', ['r02', 'r07', 'r10']);
      expect('(status = failed or status = lost) and params.lr = auto', ['r10']);
      expect('status = succeeded and not tags contains best', ['r05', 'r06', 'r08']);
      expect('not status = succeeded and kind = run', ['r02', 'r03', 'r04', 'r07', 'r09', 'r10']);
      expect('not (status = succeeded and kind = run)', ['r02', 'r03', 'r04', 'r05', 'r07', 'r09', 'r10']);
      expect('status = failed || status = lost && !(params.lr = auto)', ['r02', 'r07']);
      expect('STATUS = failed AND Params.lr > 1', ['r07']);
      expect('not not status = lost', ['r10']);
      expect('!!(status = lost)', ['r10']);
      expect('status=failed&&!params.lr<1', ['r07']);
    });

    it('numbers compare as numbers, strings as text', () => {
      expect('params.lr = 0.1', ['r01', 'r08']);
      expect('params.lr = 0.10', ['r01', 'r08']);
      expect('params.lr = 1e-1', ['r01', 'r08']);
      expect("params.lr = '0.1'", ['r01']);
      expect('params.lr == "0.10"', ['r08']);
      expect('params.lr > 0.05', ['r01', 'r03', 'r06', 'r07', 'r08']);
      expect('params.lr < 10', ['r01', 'r02', 'r03', 'r06', 'r08']);
      expect("params.lr < '10'", ['r01', 'r02', 'r03', 'r08']);
      expect('params.lr >= -1', ['r01', 'r02', 'r03', 'r06', 'r07', 'r08']);
      expect('params.batch > 9', ['r01']);
      expect("params.batch > '9'", []);
      expect('params.opt = adam', ['r01', 'r03', 'r08']);
      expect('param.opt != adam', ['r02', 'r09']);
      expect('params.flag = true', ['r10']);
      expect('params.flag = 1', []);
    });

    it('in, not in and contains on params', () => {
      expect('params.lr in (0.1, auto)', ['r01', 'r08', 'r10']);
      expect('params.lr in (9)', ['r06']);
      expect('params.lr not in (0.1, 9, 10)', ['r02', 'r03', 'r10']);
      expect("params.lr not in ('0.1', auto)", ['r02', 'r03', 'r06', 'r07', 'r08']);
      expect("params.lr contains '0.1'", ['r01', 'r08']);
      expect('params.lr contains 0', ['r01', 'r02', 'r03', 'r07', 'r08']);
      expect('params.lr not contains 0', ['r06', 'r10']);
      expect('params.opt contains "\\"b\'"', ['r09']);
    });

    it('a run without the param, metric or value never matches a comparison on it; not complements exactly', () => {
      expect('params.lr != 0.1', ['r02', 'r03', 'r06', 'r07', 'r10']);
      expect('not params.lr = 0.1', except('r01', 'r08'));
      expect('not params.lr > 0.1', ['r01', 'r02', 'r04', 'r05', 'r08', 'r09', 'r10']);
      expect('params.lr > 0.1 or not params.lr > 0.1', ALL);
      expect('metrics.acc != 0.5', ['r01', 'r06', 'r07', 'r08']);
      expect('not metrics.acc >= 0.5', ['r03', 'r04', 'r05', 'r09', 'r10']);
      expect('name != baseline', ['r02', 'r05', 'r09']);
      expect('not name = baseline', except('r01'));
      expect('parent != e5e5', []);
      expect('not parent = e5e5', except('r06', 'r07'));
      expect('seed != 1', ['r02', 'r03']);
      expect('not seed = 1', except('r01'));
      expect('ended > @0', ['r01', 'r02']);
      expect('not ended > @0', except('r01', 'r02'));
      expect('command not contains "--lr"', ['r03']);
      expect('not command contains "--lr"', except('r01', 'r02'));
      expect('notes not in (x)', ['r01', 'r09']);
    });

    it('metrics, with dotted and quoted names', () => {
      expect('metrics.acc > 0.8', ['r01', 'r08']);
      expect('metric.acc <= 0.65', ['r02', 'r07']);
      expect('metrics.acc > 9.1e-1', []);
      expect('metrics.acc >= 9.1e-1', ['r01']);
      expect('metrics.val.loss < 0.3', ['r01']);
      expect('metrics["val.loss"] = 0.3', ['r08']);
      expect("metrics.'val.loss' = 0.3", ['r08']);
      expect('metrics.acc in (0.5, 0.7)', ['r02', 'r06']);
      expect('metrics.acc not in (0.5, 0.7)', ['r01', 'r07', 'r08']);
      expect('metrics.loss > 2', ['r02']);
    });

    it('quoted param names', () => {
      expect("params.\"my lr\" = 'x y'", ['r01']);
      expect("params['my lr'] contains x", ['r01']);
      expect('params[ "my lr" ] contains x', ['r01']);
      expect(`params."it's" = 1`, ['r09']);
      expect(`params['it\\'s'] >= 1`, ['r09']);
      expect(`params["x'); DROP TABLE runs; --"] = 1`, []);
    });

    it('tags', () => {
      expect('tags contains sweep', ['r02', 'r05']);
      expect('tag = baseline', ['r01', 'r08']);
      expect('tags in (best, sweep)', ['r01', 'r02', 'r05']);
      expect('tags not in (best, sweep)', ['r03', 'r04', 'r06', 'r07', 'r08', 'r09', 'r10']);
      expect('tags != sweep', except('r02', 'r05'));
      expect('tags not contains sweep', except('r02', 'r05'));
      expect("tags contains 'weird tag'", ['r09']);
      expect('tags contains ünï', ['r09']);
      expect('tags contains swe', []);
    });

    it('text fields: name, notes, host, author, command, contains is a case-sensitive substring', () => {
      expect('name contains sweep', ['r02']);
      expect('name = baseline', ['r01']);
      expect("name = 'lr sweep small'", ['r02']);
      expect('notes contains try', ['r01']);
      expect('host = gpu-1', ['r02', 'r03']);
      expect('host != local', ['r02', 'r03']);
      expect('author contains Ada', ['r01', 'r04']);
      expect('author contains ada', ['r01', 'r04']);
      expect('creator contains ADA', []);
      expect("creator = 'Bob <bob@example.org>'", ['r02']);
      expect("command contains '--lr 0.1'", ['r01']);
      expect('name > h', ['r02']);
      expect("name contains '%'", []);
      expect("name contains '_'", []);
    });

    it('ids and object names match by a prefix of 4 or more hex digits', () => {
      expect('id = a1a1', ['r01']);
      expect('id = A1A1A1', ['r01']);
      expect(`id = ${id('a1')}`, ['r01']);
      expect('id = a1', []);
      expect('id in (a1a1, b2b2b2)', ['r01', 'r02']);
      expect('id not in (a1a1, b2b2b2)', except('r01', 'r02'));
      expect('id != a1a1', except('r01'));
      expect('id = 0707', ['r07']);
      expect('parent = e5e5', ['r06', 'r07']);
      expect('commit = c0ffee', ['r01', 'r02']);
      expect('commit = c0ffeea', ['r01']);
      expect('tree = deadbeefdeadbeef', ['r01']);
      expect('commit contains ffee', ['r01', 'r02']);
    });

    it('seed, exit code and duration need numbers; durations take units', () => {
      expect('seed = 1', ['r01']);
      expect('seed >= 2', ['r02', 'r03']);
      expect('exit_code != 0', ['r02', 'r07']);
      expect('exitCode = 0', ['r01', 'r06']);
      expect('exit_code in (1, 2)', ['r02', 'r07']);
      expect('duration > 1m', ['r01', 'r08']);
      expect('duration >= 30', ['r01', 'r02', 'r08']);
      expect('duration < 0.5h', ['r01', 'r02', 'r05', 'r06', 'r07']);
      expect("duration > '5m'", ['r08']);
      expect('duration = 1h', ['r08']);
      expect('duration in (4s, 6)', ['r06', 'r07']);
      expect('not duration > 1m', except('r01', 'r08'));
    });

    it('time fields take dates, relative times and unix times', () => {
      expect("created > '3 days ago'", ['r03', 'r04', 'r09', 'r10']);
      expect("created >= '5 minutes ago'", ['r04']);
      expect("created > '5 minutes ago'", []);
      expect("date > '1 hour ago'", ['r04']);
      expect("created >= '2026-11-10T00:00:01Z'", ['r03', 'r04', 'r06', 'r07', 'r09', 'r10']);
      expect('createdAt = 2026-11-10T00:00:00.000Z', ['r05']);
      expect("created = '2026-11-10 01:00:00+01:00'", ['r05']);
      expect('created < 2026-10-20', ['r08']);
      expect('created < @1767225600', []);
      expect('created > @1767225600', ALL);
      expect('started >= 2026-11-20T00:00Z', ['r03']);
      expect('startedAt < 2026-11-02T00:00Z', ['r01']);
      expect("ended > '2026-11-01T09:02:00Z'", ['r01', 'r02']);
      expect('endedAt < now', ['r01', 'r02']);
      // Local midnight: which runs fall after it depends on the machine's zone.
      const today = new Date(NOW);
      today.setHours(0, 0, 0, 0);
      assert.deepEqual(compileWhere('created >= today', CTX).args, [today.toISOString()]);
      expect('created >= today', ALL.filter((l) => RUNS[l]!.created >= today.toISOString()));
    });

    it('hostile values are plain data', () => {
      expect(`name = '\\'; DROP TABLE runs; --'`, ['r09']);
      expect(`name = "'; DROP TABLE runs; --"`, ['r09']);
      expect(`name contains ';'`, ['r09']);
      expect(`notes contains '\\\\'`, ['r09']);
      expect(`notes contains '\\"dq\\"'`, ['r09']);
      expect(`notes contains "'sq'"`, ['r09']);
      expect(`notes contains 'naïve ☃'`, ['r09']);
      expect(`notes contains '\\u2603'`, ['r09']);
      expect(`notes = ${JSON.stringify(HOSTILE_NOTES)}`, ['r09']);
      expect(`params.opt = 'a"b\\'c'`, ['r09']);
      expect(`params.opt = "a\\"b'c"`, ['r09']);
      expect(`params.opt = 'x\\' OR 1=1 --'`, []);
      expect(`author = 'Zoë <z@example.org>'`, ['r09']);
      assert.equal((db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n, 10);
    });

    it('deep nesting and many conditions still run in SQLite', () => {
      expect(`${'('.repeat(60)}status = lost${')'.repeat(60)}`, ['r10']);
      expect(`${'not '.repeat(100)}status = lost`, ['r10']);
      const many = Array.from({ length: 300 }, (_, i) => `seed = ${i + 1}`).join(' or ');
      expect(many, ['r01', 'r02', 'r03']);
      const list = `params.lr in (${Array.from({ length: 2000 }, (_, i) => i + 1).join(', ')})`;
      expect(list, ['r06', 'r07']);
    });

    it('params and metrics are looked up by their primary key', () => {
      const { sql, args } = compileWhere('params.lr > 0.1 and metrics.acc > 0.5 and tags contains best', CTX);
      const plan = (db.prepare(`EXPLAIN QUERY PLAN SELECT id FROM runs r WHERE ${sql} ORDER BY created_at DESC LIMIT 50`).all(...args) as Array<{ detail: string }>).map((r) => r.detail);
      for (const t of ['p', 'm', 't']) assert.ok(plan.some((d) => new RegExp(`^SEARCH ${t} (EXISTS )?USING PRIMARY KEY \\(run=\\? AND`).test(d)), plan.join('\n'));
      // Runs are walked in created_at order, so LIMIT stops early.
      assert.ok(plan.includes('SCAN r USING COVERING INDEX runs_created'), plan.join('\n'));
      assert.ok(!plan.some((d) => /SCAN (p|m|t)\b/.test(d)), plan.join('\n'));
      assert.ok(!plan.some((d) => /TEMP B-TREE/.test(d)), plan.join('\n'));
    });
  });

  describe('errors name the column and show a caret', () => {
    it('an empty expression', () => {
      fails('', ErrorCode.BadExpression, /^empty expression/, 1, /write a condition/);
      fails('   ', ErrorCode.BadExpression, /^empty expression/, 1);
    });

    it('unbalanced parentheses', () => {
      fails('(status = failed', ErrorCode.BadExpression, /'\(' is never closed/, 1, /add a '\)'/);
      fails('((status = failed)', ErrorCode.BadExpression, /'\(' is never closed/, 1);
      fails('status = failed)', ErrorCode.BadExpression, /'\)' without a matching '\('/, 16);
      fails('(status = failed))', ErrorCode.BadExpression, /'\)' without a matching '\('/, 18);
      fails('status in (failed, lost', ErrorCode.BadExpression, /never closed/, 11);
      fails('(status = failed x)', ErrorCode.BadExpression, /expected '\)' or and \/ or, found 'x'/, 18, /close the '\(' at column 1/);
      fails('()', ErrorCode.BadExpression, /empty parentheses/, 2);
    });

    it('trailing garbage', () => {
      fails('status = failed running', ErrorCode.BadExpression, /unexpected 'running' after a complete condition/, 17, /join conditions with and \/ or/);
      fails("name = a 'b'", ErrorCode.BadExpression, /unexpected 'b' after/, 10);
    });

    it('a missing operand', () => {
      fails('status =', ErrorCode.BadExpression, /missing value after '='/, 9, /put a value there/);
      fails('status = and kind = run', ErrorCode.BadExpression, /missing value after '=' \(found the keyword 'and'\)/, 10, /quote it/);
      fails('status = )', ErrorCode.BadExpression, /missing value after '=', found '\)'/, 10);
      fails('and status = failed', ErrorCode.BadExpression, /missing condition before 'and'/, 1);
      fails('status = failed and', ErrorCode.BadExpression, /missing condition after 'and'/, 20);
      fails('status = failed or or kind = run', ErrorCode.BadExpression, /missing condition after 'or'/, 20);
      fails('status = failed && (kind = run ||)', ErrorCode.BadExpression, /missing condition after '\|\|'/, 34);
      fails('not', ErrorCode.BadExpression, /missing condition after 'not'/, 4);
      fails('params.lr', ErrorCode.BadExpression, /missing operator after 'params.lr'/, 10, /compare with =/);
      fails('status in (failed, )', ErrorCode.BadExpression, /missing value after ','/, 20);
      fails('0.1 < params.lr', ErrorCode.BadExpression, /expected a field, found '0.1'/, 1, /starts with a field/);
    });

    it('strings: unterminated, bad escapes', () => {
      fails("name = 'abc", ErrorCode.BadExpression, /unterminated string: no closing '/, 8, /close the string/);
      fails('name = "abc\\"', ErrorCode.BadExpression, /unterminated string: no closing "/, 8);
      fails("name = 'C:\\data'", ErrorCode.BadExpression, /unknown escape '\\d'/, 11, /\\\\ for a backslash/);
    });

    it('bad numbers', () => {
      fails('params.lr > 1.2.3', ErrorCode.BadExpression, /bad number '1.2.3'/, 13, /quote it: '1.2.3'/);
      fails('metrics.acc > 1e', ErrorCode.BadExpression, /bad number '1e'/, 15);
      fails('seed = 12abc', ErrorCode.BadExpression, /bad number '12abc'/, 8);
      fails('metrics.acc > 1e999', ErrorCode.BadExpression, /out of range/, 15);
      fails('metrics.acc > high', ErrorCode.BadExpression, /metrics.acc is a number, not 'high'/, 15);
      fails("seed = '1'", ErrorCode.BadExpression, /seed is a number, not the text '1'/, 8);
      fails('name = a/b', ErrorCode.BadExpression, /unexpected character '\/'/, 9, /quotes/);
    });

    it('unknown operators and operators that do not apply', () => {
      fails('params.lr =~ 0.1', ErrorCode.BadExpression, /unknown operator '=~'/, 11, /compare with =, !=/);
      fails('status === failed', ErrorCode.BadExpression, /unknown operator '==='/, 8);
      fails('params.lr => 1', ErrorCode.BadExpression, /unknown operator '=>'/, 11);
      fails('status like fail', ErrorCode.BadExpression, /unknown operator 'like'/, 8);
      fails('status ~ fail', ErrorCode.BadExpression, /unknown operator '~'/, 8);
      fails('status failed', ErrorCode.BadExpression, /expected an operator after 'status', found 'failed'/, 8);
      fails('status not failed', ErrorCode.BadExpression, /expected 'in' or 'contains' after 'not', found 'failed'/, 12);
      fails('tags < x', ErrorCode.BadExpression, /'<' does not apply to tags/, 6, /use =, !=, in, not in, contains/);
      fails('metrics.acc contains 9', ErrorCode.BadExpression, /'contains' does not apply to metrics.acc/, 13);
      fails('status > failed', ErrorCode.BadExpression, /'>' does not apply to status/, 8);
      fails('seed contains 1', ErrorCode.BadExpression, /'contains' does not apply to seed/, 6);
      fails('metrics.acc > metrics.loss', ErrorCode.BadExpression, /cannot compare with another field/, 15);
    });

    it('in without a list', () => {
      fails('status in failed', ErrorCode.BadExpression, /'in' needs a list in parentheses, found 'failed'/, 11, /status in \(a, b, c\)/);
      fails('status not in', ErrorCode.BadExpression, /'not in' needs a list in parentheses, found the end/, 14);
      fails('status in ()', ErrorCode.BadExpression, /empty list after 'in'/, 12);
      fails('status in (failed lost)', ErrorCode.BadExpression, /expected ',' or '\)' in the list, found 'lost'/, 19);
    });

    it('unknown status and kind', () => {
      fails('status = faild', ErrorCode.BadExpression, /unknown status 'faild'/, 10, /did you mean failed\? status is one of queued, running, succeeded, failed, cancelled, lost/);
      fails('status in (failed, wat)', ErrorCode.BadExpression, /unknown status 'wat'/, 20, /status is one of/);
      fails('kind = grop', ErrorCode.BadExpression, /unknown kind 'grop'/, 8, /did you mean group\?/);
    });

    it('bad dates', () => {
      fails("created > 'last tuesday'", ErrorCode.BadDate, /bad date 'last tuesday'/, 11, /3 days ago/);
      fails('created > 2026-13-01', ErrorCode.BadDate, /bad date '2026-13-01' \(no month 13\)/, 11);
      fails('started < 2026-02-30', ErrorCode.BadDate, /no day 30/, 11);
      fails('created > 3', ErrorCode.BadDate, /a bare number is not a date/, 11, /@3 for a unix time/);
      fails("created > '3 fortnights ago'", ErrorCode.BadDate, /unknown unit 'fortnights'/, 11);
      fails('created contains 2026', ErrorCode.BadExpression, /'contains' does not apply to created/, 9);
    });

    it('bad durations', () => {
      fails('duration > 5q', ErrorCode.BadExpression, /bad duration '5q'/, 12, /90s, 5m, 2h/);
      fails("duration > 'forever'", ErrorCode.BadExpression, /bad duration 'forever'/, 12);
    });

    it('unknown fields suggest the closest known name', () => {
      fails('acc > 0.9', ErrorCode.UnknownField, /unknown field 'acc'/, 1, /did you mean metrics.acc\? params and metrics are named with their prefix/);
      fails('lr > 1', ErrorCode.UnknownField, /unknown field 'lr'/, 1, /did you mean params.lr\?/);
      fails('status = failed and statsu = failed', ErrorCode.UnknownField, /unknown field 'statsu'/, 21, /did you mean status\?/);
      fails('params.lrr > 1', ErrorCode.UnknownField, /unknown param 'lrr'/, 1, /did you mean params.lr\? \(known params: lr, opt/);
      fails('params.acc > 1', ErrorCode.UnknownField, /unknown param 'acc'/, 1, /did you mean metrics.acc\?/);
      fails('metrics.accuracy > 1', ErrorCode.UnknownField, /unknown metric 'accuracy'/, 1, /^known metrics: acc, val.loss, loss$/);
      fails('metrics.val.los < 1', ErrorCode.UnknownField, /unknown metric 'val.los'/, 1, /did you mean metrics.val.loss\?/);
      fails('params.mylr = 1', ErrorCode.UnknownField, /unknown param 'mylr'/, 1, /did you mean params."my lr"\?/);
      fails('wibble = 1', ErrorCode.UnknownField, /unknown field 'wibble'/, 1, /^fields are params.NAME, metrics.NAME, status/);
      fails('params = 1', ErrorCode.BadExpression, /'params' needs a name/, 7);
      const e = catchError(() => compileWhere('params.lr > 1', { params: [], metrics: [] }));
      assert.equal(e.code, ErrorCode.UnknownField);
      assert.match(e.hint!, /^no run records any params yet/);
    });

    it('columns count characters, not UTF-16 units; tabs stay in the caret line; lines are named', () => {
      fails("notes = '😀' x", ErrorCode.BadExpression, /unexpected 'x'/, 13);
      const tab = catchError(() => compileWhere('\tstatus ~ x', CTX));
      assert.match(tab.message, /at column 9 of --where$/);
      assert.equal(tab.hint!.split('\n')[2], '  \t       ^');
      const multi = catchError(() => compileWhere('status = failed\nand nme = x', CTX));
      assert.equal(multi.code, ErrorCode.UnknownField);
      assert.match(multi.message, /unknown field 'nme' at line 2, column 5 of --where$/);
      assert.deepEqual(multi.hint!.split('\n').slice(1), ['  and nme = x', '      ^']);
    });

    it('nesting too deep is refused rather than overflowing', () => {
      const e = catchError(() => compileWhere(`${'('.repeat(5000)}status = lost${')'.repeat(5000)}`, CTX));
      assert.equal(e.code, ErrorCode.BadExpression);
      assert.match(e.message, /nested more than 100 deep/);
      const many = Array.from({ length: 301 }, (_, i) => `seed = ${i}`).join(' or ');
      assert.match(catchError(() => compileWhere(many, CTX)).message, /more than 300 conditions/);
    });
  });
});

describe('parseDate', () => {
  const local = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => new Date(y, mo - 1, d, h, mi, s).toISOString();

  it('dates and times without a zone are local time', () => {
    assert.equal(parseDate('2026-11-01'), local(2026, 11, 1));
    assert.equal(parseDate('2026-11-01T10:00'), local(2026, 11, 1, 10));
    assert.equal(parseDate('2026-11-01 10:00:00'), local(2026, 11, 1, 10));
    assert.equal(parseDate(' 2026-11-01t10:00:30 '), local(2026, 11, 1, 10, 0, 30));
    assert.equal(parseDate('2026-02-28T23:59:59.5'), new Date(2026, 1, 28, 23, 59, 59, 500).toISOString());
    assert.equal(parseDate('2028-02-29'), local(2028, 2, 29));
  });

  it('with a zone, an instant', () => {
    assert.equal(parseDate('2026-11-01T10:00:00Z'), '2026-11-01T10:00:00.000Z');
    assert.equal(parseDate('2026-11-21T07:32:00.123Z'), '2026-11-21T07:32:00.123Z');
    assert.equal(parseDate('2026-11-01T10:00:00.123456z'), '2026-11-01T10:00:00.123Z');
    assert.equal(parseDate('2026-11-01T10:00:00+02:00'), '2026-11-01T08:00:00.000Z');
    assert.equal(parseDate('2026-11-01T10:00-0530'), '2026-11-01T15:30:00.000Z');
    assert.equal(parseDate('2026-11-01 10:00 +01'), '2026-11-01T09:00:00.000Z');
  });

  it('relative to now', () => {
    const now = new Date('2026-11-21T12:34:56.789Z');
    assert.equal(parseDate('now', now), now.toISOString());
    assert.equal(parseDate('NOW', now), now.toISOString());
    const midnight = new Date(now);
    midnight.setHours(0, 0, 0, 0);
    assert.equal(parseDate('today', now), midnight.toISOString());
    const yesterday = new Date(midnight);
    yesterday.setDate(yesterday.getDate() - 1);
    assert.equal(parseDate('yesterday', now), yesterday.toISOString());
    assert.equal(parseDate('3 days ago', now), '2026-11-18T12:34:56.789Z');
    assert.equal(parseDate('2 weeks ago', now), '2026-11-07T12:34:56.789Z');
    assert.equal(parseDate('5 minutes ago', now), '2026-11-21T12:29:56.789Z');
    assert.equal(parseDate('1 hour ago', now), '2026-11-21T11:34:56.789Z');
    assert.equal(parseDate('1.5 hours ago', now), '2026-11-21T11:04:56.789Z');
    assert.equal(parseDate('30s ago', now), '2026-11-21T12:34:26.789Z');
    assert.equal(parseDate('2d ago', now), '2026-11-19T12:34:56.789Z');
    const monthAgo = new Date(now);
    monthAgo.setMonth(monthAgo.getMonth() - 1);
    assert.equal(parseDate('1 month ago', now), monthAgo.toISOString());
    const yearAgo = new Date(now);
    yearAgo.setFullYear(yearAgo.getFullYear() - 1);
    assert.equal(parseDate('1 year ago', now), yearAgo.toISOString());
  });

  it('a month ago from the 31st is the end of the month before', () => {
    const now = new Date(2026, 2, 31, 12); // March 31, local
    assert.equal(parseDate('1 month ago', now), new Date(2026, 1, 28, 12).toISOString());
  });

  it('unix time', () => {
    assert.equal(parseDate('@1700000000'), '2023-11-14T22:13:20.000Z');
    assert.equal(parseDate('@0'), '1970-01-01T00:00:00.000Z');
    assert.equal(parseDate('@1700000000.5'), '2023-11-14T22:13:20.500Z');
  });

  it('refuses anything else, naming the value and the accepted forms', () => {
    for (const bad of ['', 'tomorrow', 'last tuesday', '2026-13-01', '2026-02-29', '2026-11-31', '2026-11-01T24:00', '2026-11-01T10:60', '2026-1-1', '11/01/2026', '3 fortnights ago', '1.5 months ago', '@abc', '@99999999999999', '2026-11-01T10:00+15:00', '1700000000']) {
      const e = catchError(() => parseDate(bad));
      assert.equal(e.code, ErrorCode.BadDate, bad);
      assert.ok(e.message.includes(`'${bad}'`), e.message);
      assert.match(e.hint!, /2026-11-01T10:00.*now, today, yesterday.*3 days ago.*@1700000000/);
    }
  });
});

describe('parseDuration', () => {
  it('seconds, or a number with a unit', () => {
    assert.equal(parseDuration('90'), 90);
    assert.equal(parseDuration('90s'), 90);
    assert.equal(parseDuration('5m'), 300);
    assert.equal(parseDuration('2h'), 7200);
    assert.equal(parseDuration('1d'), 86400);
    assert.equal(parseDuration('1.5h'), 5400);
    assert.equal(parseDuration('0.5'), 0.5);
    assert.equal(parseDuration(' 2 h '), 7200);
    assert.equal(parseDuration('1w'), 604800);
  });

  it('refuses anything else', () => {
    for (const bad of ['', 'h', '5x', '-5m', '5 minutes', '1.5.h', '1h30m', 'Infinity', '5M']) {
      const e = catchError(() => parseDuration(bad));
      assert.equal(e.code, ErrorCode.BadExpression, bad);
      assert.ok(e.message.includes(`'${bad}'`), e.message);
      assert.match(e.hint!, /90s, 5m, 2h, 1d, 1.5h/);
    }
  });
});
