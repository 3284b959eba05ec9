import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { metricHistory, metricHistories, repoAt, closeConnections } from 'git-run';
import { startSshd, sshdAvailable, type Sshd } from './sshd.js';
import { makeRepo, ok, gitRun, showJson, git, runIds, tmpdir, until, refused, refState } from './helpers.js';

/** A shell script that appends the given lines to $GIT_RUN_METRICS. */
export const appendLines = (lines: string[]) => lines.map((l) => `printf '%s\\n' '${l}' >> "$GIT_RUN_METRICS"`).join('\n') + '\n';

describe('metric histories (metrics.jsonl)', function () {
  this.timeout(180000);

  it('the history is recorded with the run, its last values are metrics, metrics.json wins where both have a name; $GIT_RUN_METRICS names the file', async () => {
    const repo = makeRepo('hist-basic', {
      'sub/train.sh':
        'printf "%s" "$GIT_RUN_METRICS" > where.txt\n' +
        appendLines(['{"step": 10, "loss": 0.9, "val": {"acc": 0.5}}', '{"step": 20, "loss": 0.2}', '{"step": 30, "loss": 0.4, "val": {"acc": 0.7}}']) +
        `printf '%s' '{"loss": 0.35, "test": 0.66}' > metrics.json\n`,
    });
    await ok(['-q', '--', 'sh', 'train.sh'], { cwd: `${repo}/sub` });
    const id = runIds(repo)[0]!;
    const where = git(repo, 'cat-file', 'blob', `refs/runs/${id}:outputs/sub/where.txt`);
    assert.match(where, /^\/.*\/work\/sub\/metrics\.jsonl$/, 'an absolute path in the directory the command runs in');
    const j = await showJson(repo, id);
    assert.deepEqual(j.metrics, { loss: 0.35, 'val.acc': 0.7, test: 0.66 });
    assert.equal(j.metricsErrors, null);
    // The same blob at the top of the finished commit as among the outputs.
    assert.equal(git(repo, 'rev-parse', `refs/runs/${id}:metrics.jsonl`), git(repo, 'rev-parse', `refs/runs/${id}:outputs/sub/metrics.jsonl`));
    const h = await metricHistory(await repoAt(repo), id);
    assert.equal(h.live, false);
    assert.equal(h.broken, 0);
    assert.deepEqual(h.series, [
      { name: 'loss', steps: [10, 20, 30], values: [0.9, 0.2, 0.4] },
      { name: 'val.acc', steps: [10, 30], values: [0.5, 0.7] },
    ]);
    const only = await metricHistory(await repoAt(repo), id.slice(0, 8), { names: ['val.acc'] });
    assert.deepEqual(only.series.map((s) => s.name), ['val.acc']);
  });

  it('metricHistories reads many runs as metricHistory reads each: finished with a history and without, one still running; an unknown run fails the same', async () => {
    const flag = path.join(tmpdir('hist-many-flag'), 'go');
    const repo = makeRepo('hist-many', {
      'a.sh': appendLines(['{"step": 1, "loss": 0.5}', '{"step": 2, "loss": 0.25, "acc": 0.5}']),
      'b.sh': 'true\n',
      'c.sh': appendLines(['{"step": 1, "loss": 2}']) + `while [ ! -e '${flag}' ]; do sleep 0.05; done\n` + appendLines(['{"step": 2, "loss": 1}']),
    });
    await ok(['-q', '--', 'sh', 'a.sh'], { cwd: repo });
    await ok(['-q', '--', 'sh', 'b.sh'], { cwd: repo });
    const live = (await ok(['-d', '--', 'sh', 'c.sh'], { cwd: repo })).stdout.trim();
    const r = await repoAt(repo);
    const ids = runIds(repo);
    assert.equal(ids.length, 3);
    // The live run's first point is there once its command has written it: waited for, not assumed.
    const many = await until('the live run\'s first point', async () => {
      const m = await metricHistories(r, ids, { maxPoints: 100 });
      return m.get(live)?.series[0]?.values.length ? m : null;
    }, 60000);
    assert.deepEqual([...many.keys()].sort(), [...ids].sort());
    assert.deepEqual(many.get(live), { series: [{ name: 'loss', steps: [1], values: [2] }], broken: 0, live: true });
    for (const id of ids.filter((x) => x !== live)) assert.deepEqual(many.get(id), await metricHistory(r, id, { maxPoints: 100 }), `run ${id}`);
    const finished = [...many.values()].filter((h) => !h.live);
    assert.deepEqual(finished.map((h) => h.series.length).sort(), [0, 2], 'one finished run with two series, one without a history');
    writeFileSync(flag, '');
    await ok(['wait', live], { cwd: repo });
    const after = (await metricHistories(r, [live], { names: ['loss'] })).get(live);
    assert.deepEqual(after, { series: [{ name: 'loss', steps: [1, 2], values: [2, 1] }], broken: 0, live: false });
    const alone = await metricHistory(r, 'f'.repeat(40)).then(() => null, (e: Error) => e.message);
    assert.ok(alone, 'an unknown run fails metricHistory');
    await assert.rejects(metricHistories(r, [...ids, 'f'.repeat(40)]), (e: Error) => e.message === alone);
  });

  it('without "step" a point takes its line number; non-numbers and non-finite numbers are no points', async () => {
    const repo = makeRepo('hist-steps', { 'run.sh': appendLines(['{"a": 1}', '', '{"a": 2, "b": "x", "c": null, "d": [1], "e": true}', '{"a": 1e400}']) });
    await ok(['-q', '--', 'sh', 'run.sh'], { cwd: repo });
    const id = runIds(repo)[0]!;
    const h = await metricHistory(await repoAt(repo), id);
    assert.deepEqual(h.series, [{ name: 'a', steps: [1, 3], values: [1, 2] }]);
    assert.equal(h.broken, 0, 'an empty line and a line without numbers are not broken');
    assert.deepEqual((await showJson(repo, id)).metrics, { a: 2 });
  });

  it('broken lines are counted, skipped and reported (show and --json); the run still succeeds', async () => {
    const repo = makeRepo('hist-broken', {
      'run.sh': appendLines(['{"step": 1, "loss": 0.5}', 'not json', '[1, 2]', '{"step": "x", "loss": 1}', '{"step": 5, "loss": 0.25}']) + `printf '%s' '{"step": 6, "lo' >> "$GIT_RUN_METRICS"\n`,
    });
    const r = await gitRun(['--', 'sh', 'run.sh'], { cwd: repo });
    assert.equal(r.code, 0, r.stderr);
    const id = runIds(repo)[0]!;
    const j = await showJson(repo, id);
    assert.equal(j.status, 'succeeded');
    assert.deepEqual(j.metrics, { loss: 0.25 });
    assert.equal(j.metricsErrors.lines, 4);
    assert.match(j.metricsErrors.first, /^line 2: not JSON/);
    const shown = (await ok(['show', id], { cwd: repo })).stdout;
    assert.match(shown, /^Metrics history: 4 broken lines skipped \(line 2: not JSON/m);
    const h = await metricHistory(await repoAt(repo), id);
    assert.equal(h.broken, 4);
    assert.deepEqual(h.series, [{ name: 'loss', steps: [1, 5], values: [0.5, 0.25] }]);
  });

  it('a hostile history is bounded and safe: a huge line, a million lines, __proto__, control characters in names', async () => {
    const big = `'{"x": "' + 'a'.repeat(200000) + '"}'`;
    const gen = [
      "const fs = require('fs'); const out = fs.openSync(process.env.GIT_RUN_METRICS, 'a');",
      "let s = ''; for (let i = 1; i <= 1000000; i++) { s += '{\"n\":' + i + '}\\n'; if (s.length > 1e6) { fs.writeSync(out, s); s = ''; } }",
      `s += ${big} + '\\n'; s += JSON.stringify({ step: 2e6, __proto__x: 1 }).replace('__proto__x', '__proto__') + '\\n';`,
      "s += JSON.stringify({ step: 2e6 + 1, ['a\\u001b[31mred\\u0007']: 7, constructor: 3 }) + '\\n'; fs.writeSync(out, s);",
    ].join('\n');
    const repo = makeRepo('hist-hostile', { 'gen.js': gen });
    const r = await gitRun(['--', process.execPath, 'gen.js'], { cwd: repo });
    assert.equal(r.code, 0, r.stderr);
    const id = runIds(repo)[0]!;
    const j = await showJson(repo, id);
    assert.equal(j.metrics.n, 1000000);
    assert.ok(Object.hasOwn(j.metrics, '__proto__'), 'a metric like any other');
    assert.equal(Object.getOwnPropertyDescriptor(j.metrics, '__proto__')!.value, 1);
    assert.equal(j.metrics['a\u001b[31mred\u0007'], 7);
    assert.equal(j.metrics.constructor, 3);
    assert.equal(j.metricsErrors.lines, 1);
    assert.match(j.metricsErrors.first, /^line 1000001: longer than 65536 bytes$/);
    const shown = (await ok(['show', id], { cwd: repo })).stdout;
    assert.ok(!shown.includes('\u001b') && !shown.includes('\u0007'), 'control characters are escaped');
    const h = await metricHistory(await repoAt(repo), id, { maxPoints: 400 });
    const n = h.series.find((s) => s.name === 'n')!;
    assert.ok(n.steps.length <= 400 && n.steps.length >= 100, `downsampled to ${n.steps.length}`);
    assert.equal(n.steps[0], 1);
    assert.equal(n.steps.at(-1), 1000000);
    assert.equal(n.values.at(-1), 1000000);
    assert.deepEqual(h.series.map((s) => s.name).sort(), ['__proto__', 'a\u001b[31mred\u0007', 'constructor', 'n'].sort());
  });

  it("queries and formats use a metric's min, max, count and last over its history; a metric named like a statistic stays reachable", async () => {
    const repo = makeRepo('hist-query', {
      'a.sh': appendLines(['{"loss": 0.9}', '{"loss": 0.15}', '{"loss": 0.3}']),
      'b.sh': appendLines(['{"loss": 0.5}', '{"loss": 0.25}']),
      'c.sh': appendLines(['{"acc": 0.5, "acc.min": 0.05}', '{"acc": 0.7, "acc.min": 0.04}']),
    });
    const run = async (f: string) => JSON.parse((await ok(['--json', '--', 'sh', f], { cwd: repo })).stdout).id as string;
    const a = await run('a.sh');
    const b = await run('b.sh');
    const c = await run('c.sh');
    const where = async (w: string) => (await ok(['log', '--format', '%H', '--where', w], { cwd: repo })).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(await where('metrics.loss.min < 0.2'), [a]);
    assert.deepEqual(await where('metrics.loss.max > 0.6'), [a]);
    assert.deepEqual(await where('metrics.loss.last = 0.25'), [b]);
    assert.deepEqual(await where('metrics.loss = 0.25'), [b]);
    assert.deepEqual(await where('metrics.loss.count = 2'), [b]);
    assert.deepEqual(await where('metrics.loss.min >= 0.15 and metrics.loss.max <= 0.9'), [a, b].sort());
    // acc.min is a metric of its own: its name wins; the quoted form names acc's statistic.
    assert.deepEqual(await where('metrics.acc.min = 0.04'), [c]);
    assert.deepEqual(await where('metrics."acc".min = 0.5'), [c]);
    assert.deepEqual(await where('metrics."acc".min = 0.04'), []);
    assert.deepEqual(await where('metrics.acc.min.max = 0.05'), [c]);
    const f = await ok(['log', '--format', '%H %(metric:loss) %(metric:loss.min) %(metric:loss.max) %(metric.count:loss) %(metric:acc.min) %(metric.min:acc)'], { cwd: repo });
    const lines = f.stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(lines, [`${a} 0.3 0.15 0.9 3  `, `${b} 0.25 0.25 0.5 2  `, `${c}     0.04 0.5`].sort());
    const r = await gitRun(['log', '--where', 'metrics.loss.mean < 1'], { cwd: repo });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown metric 'loss\.mean'/);
  });
});

describe('metrics_file in .runconfig', function () {
  this.timeout(180000);

  it('names the history file (relative to the run directory): $GIT_RUN_METRICS points there and it is recorded', async () => {
    const repo = makeRepo('hist-config', {
      '.runconfig': JSON.stringify({ metrics_file: 'out/curve.jsonl' }),
      'run.sh': 'mkdir -p out\nprintf "%s" "$GIT_RUN_METRICS" > where.txt\n' + appendLines(['{"loss": 2}', '{"loss": 1}']),
    });
    await ok(['-q', '--', 'sh', 'run.sh'], { cwd: repo });
    const id = runIds(repo)[0]!;
    assert.match(git(repo, 'cat-file', 'blob', `refs/runs/${id}:outputs/where.txt`), /\/work\/out\/curve\.jsonl$/);
    assert.deepEqual((await showJson(repo, id)).metrics, { loss: 1 });
    assert.equal(git(repo, 'rev-parse', `refs/runs/${id}:metrics.jsonl`), git(repo, 'rev-parse', `refs/runs/${id}:outputs/out/curve.jsonl`));
    assert.deepEqual((await metricHistory(await repoAt(repo), id)).series, [{ name: 'loss', steps: [1, 2], values: [2, 1] }]);
  });

  for (const [bad, why] of [
    ['../up.jsonl', /must stay inside the run directory/],
    ['/tmp/abs.jsonl', /must be relative/],
    ['.git/x', /cannot be inside a \.git directory/],
    ['metrics.json', /is metrics\.json, the final metrics/],
  ] as const) {
    it(`refuses metrics_file ${JSON.stringify(bad)} with exit 2, writing nothing`, async () => {
      const repo = makeRepo('hist-config-bad', { '.runconfig': JSON.stringify({ metrics_file: bad }), 'a.txt': 'a' });
      const before = refState(repo);
      const r = await gitRun(['--', 'true'], { cwd: repo });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /metrics_file: /);
      assert.match(r.stderr, why);
      assert.equal(refState(repo), before);
    });
  }
});

describe('git run logs -f --metrics', function () {
  this.timeout(180000);

  it('prints the points of a live local run as they arrive, each line once, and ends with the run', async () => {
    const flag = path.join(tmpdir('hist-flag'), 'go');
    const repo = makeRepo('hist-follow', {
      'train.sh': appendLines(['{"step": 1, "loss": 0.5, "acc": 0.25}']) + `while [ ! -e '${flag}' ]; do sleep 0.05; done\n` + appendLines(['{"step": 2, "loss": 0.125}', 'broken']) + `printf '%s' '{"step": 3, "loss": 0.0625}' >> "$GIT_RUN_METRICS"\n`,
    });
    const id = (await ok(['-d', '--', 'sh', 'train.sh'], { cwd: repo })).stdout.trim();
    await follows(repo, id, flag, ['1 loss=0.5 acc=0.25', '2 loss=0.125', '3 loss=0.0625']);
    const j = await gitRun(['logs', '--metrics', '--json', id], { cwd: repo });
    assert.deepEqual(j.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)), [
      { step: 1, values: { loss: 0.5, acc: 0.25 } },
      { step: 2, values: { loss: 0.125 } },
      { step: 3, values: { loss: 0.0625 } },
    ]);
    assert.match(j.stderr, /^warning: metrics line 3 skipped: not JSON/m);
  });

  it('refuses --json without --metrics and --stderr with it', async () => {
    const repo = makeRepo('hist-logs-bad', { 'a.txt': 'a' });
    await ok(['-q', '--', 'true'], { cwd: repo });
    const id = runIds(repo)[0]!;
    await refused(repo, ['logs', '--json', id], '--json needs --metrics (the output itself is printed as it is)', 'git run logs --metrics --json <run>');
    await refused(repo, ['logs', '--metrics', '--stderr', id], '--stderr and --metrics cannot be combined', "choose one: the run's stderr, or its metric history");
  });
});

/** `logs -f --metrics` of a run that waits for `flag`: the flag is made once the first line was printed; then every line once, and the command ends with the run. */
async function follows(repo: string, id: string, flag: string, expected: string[]): Promise<void> {
  let out = '';
  let child: ChildProcess | null = null;
  const done = gitRun(['logs', '-f', '--metrics', id], { cwd: repo, onSpawn: (c) => ((child = c), c.stdout!.on('data', (d: Buffer) => (out += d.toString()))) });
  await until('the first point printed while the run waits', () => out.includes(`${expected[0]}\n`), 60000);
  assert.ok(child, 'spawned');
  writeFileSync(flag, '');
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, expected.map((l) => l + '\n').join(''));
  assert.equal((await showJson(repo, id)).status, 'succeeded');
}

describe('metric histories on an ssh host (a real sshd on 127.0.0.1)', function () {
  this.timeout(180000);
  let sshd: Sshd;
  before(async function () {
    if (!sshdAvailable(this)) return;
    sshd = await startSshd();
  });
  // metricHistory ran in this process: its connections to the host must not keep mocha alive.
  after(() => (closeConnections(), sshd?.stop()));

  const remoteRepo = (label: string, files: Record<string, string>) =>
    makeRepo(label, { ...files, '.runconfig': JSON.stringify({ hosts: { box: { type: 'ssh', host: 'testhost', ssh_config: sshd.config, remote_dir: `/tmp/git-run-remote-${label}-${process.pid}` } } }) });

  it('a remote run gets $GIT_RUN_METRICS on the host; its history comes back with the run', async () => {
    const repo = remoteRepo('hist-ssh', { 'sub/train.sh': 'printf "%s" "$GIT_RUN_METRICS" > where.txt\n' + appendLines(['{"step": 1, "loss": 0.5}', '{"step": 2, "loss": 0.25}', 'oops']) });
    const r = await gitRun(['--host', 'box', '--', 'sh', 'train.sh'], { cwd: path.join(repo, 'sub'), env: { SSH_AUTH_SOCK: '' } });
    assert.equal(r.code, 0, r.stderr);
    const id = runIds(repo)[0]!;
    assert.match(git(repo, 'cat-file', 'blob', `refs/runs/${id}:outputs/sub/where.txt`), /^\/tmp\/git-run-remote-hist-ssh-\d+\/.*\/work\/sub\/metrics\.jsonl$/);
    const j = await showJson(repo, id);
    assert.deepEqual(j.metrics, { loss: 0.25 });
    assert.deepEqual(j.metricsErrors, { lines: 1, first: 'line 3: not JSON (Unexpected token \'o\', "oops" is not valid JSON)' });
    const h = await metricHistory(await repoAt(repo), id);
    assert.deepEqual(h, { series: [{ name: 'loss', steps: [1, 2], values: [0.5, 0.25] }], broken: 1, live: false });
  });

  it('logs -f --metrics and metricHistory read a live remote run through the executor', async () => {
    const flag = path.join(tmpdir('hist-ssh-flag'), 'go');
    const repo = remoteRepo('hist-ssh-live', {
      'train.sh': appendLines(['{"step": 10, "loss": 0.5}']) + `while [ ! -e '${flag}' ]; do sleep 0.05; done\n` + appendLines(['{"step": 20, "loss": 0.25}']),
    });
    const id = (await ok(['-d', '--host', 'box', '--', 'sh', 'train.sh'], { cwd: repo, env: { SSH_AUTH_SOCK: '' } })).stdout.trim();
    const live = await until('the first point readable on the host', async () => {
      const h = await metricHistory(await repoAt(repo), id);
      return h.series.length ? h : null;
    }, 60000);
    assert.deepEqual(live, { series: [{ name: 'loss', steps: [10], values: [0.5] }], broken: 0, live: true });
    await follows(repo, id, flag, ['10 loss=0.5', '20 loss=0.25']);
  });
});
