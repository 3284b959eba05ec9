import assert from 'node:assert/strict';
import { makeRepo, ok, gitRun, showJson, git, runIds, writeFiles } from './helpers.js';

describe('metrics', () => {
  it('a run that writes metrics.json gets its numbers recorded, nested names joined with dots', async () => {
    const repo = makeRepo('metrics-basic', {
      'train.sh': `printf '%s' '{"acc": 0.91, "loss": 0.23, "val": {"acc": 0.88, "loss": {"final": 0.3}}, "epochs": [1, 2], "note": "x", "ok": true}' > metrics.json\n`,
    });
    await ok(['-q', '--', 'sh', 'train.sh'], { cwd: repo });
    const id = runIds(repo)[0]!;
    const j = await showJson(repo, id);
    assert.deepEqual(j.metrics, { acc: 0.91, loss: 0.23, 'val.acc': 0.88, 'val.loss.final': 0.3 });
    // Kept as written: the same blob at the top of the finished commit and among the outputs.
    assert.equal(git(repo, 'rev-parse', `refs/runs/${id}:metrics.json`), git(repo, 'rev-parse', `refs/runs/${id}:outputs/metrics.json`));
    const shown = (await ok(['show', id], { cwd: repo })).stdout;
    assert.match(shown, /^Metrics: acc=0\.91 loss=0\.23 val\.acc=0\.88 val\.loss\.final=0\.3$/m);
  });

  it('metrics.json in the directory the command ran in, not elsewhere', async () => {
    const repo = makeRepo('metrics-cwd', { 'sub/keep.txt': 'k', 'sub/run.sh': `echo '{"a": 1}' > metrics.json; mkdir -p ../other; echo '{"b": 2}' > ../other/metrics.json\n` });
    await ok(['-q', '--', 'sh', 'run.sh'], { cwd: `${repo}/sub` });
    assert.deepEqual((await showJson(repo, runIds(repo)[0]!)).metrics, { a: 1 });
  });

  it('a broken metrics.json records no metrics, says why, and does not fail the run', async () => {
    const repo = makeRepo('metrics-broken', { 'run.sh': `echo '{"acc": 0.9' > metrics.json\n` });
    const r = await gitRun(['--', 'sh', 'run.sh'], { cwd: repo });
    assert.equal(r.code, 0);
    const id = runIds(repo)[0]!;
    const j = await showJson(repo, id);
    assert.equal(j.status, 'succeeded');
    assert.deepEqual(j.metrics, {});
    assert.deepEqual(j.outputs.map((o: any) => o.path), ['metrics.json'], 'the file is kept as an output');
    assert.match((await ok(['show', id], { cwd: repo })).stdout, /^Metrics: none \(metrics\.json is not JSON/m);
    assert.throws(() => git(repo, 'rev-parse', '--verify', '-q', `refs/runs/${id}:metrics.json`));
  });

  it('a run without metrics.json has empty metrics', async () => {
    const repo = makeRepo('metrics-none', {});
    writeFiles(repo, { 'a.txt': 'a' });
    await ok(['-q', '--', 'true'], { cwd: repo });
    assert.deepEqual((await showJson(repo, runIds(repo)[0]!)).metrics, {});
  });

  it('metric names are data: __proto__, constructor and prototype are metrics like any other', async () => {
    const repo = makeRepo('metrics-proto', {
      'run.sh': `printf '%s' '{"__proto__": 3, "constructor": 4, "prototype": {"x": 5}, "acc": 1}' > metrics.json\n`,
    });
    await ok(['-q', '--', 'sh', 'run.sh'], { cwd: repo });
    const id = runIds(repo)[0]!;
    const j = await showJson(repo, id);
    assert.equal(Object.getPrototypeOf(j.metrics), Object.prototype, 'plain JSON');
    assert.deepEqual(Object.entries(j.metrics), [['__proto__', 3], ['constructor', 4], ['prototype.x', 5], ['acc', 1]]);
    const f = await ok(['log', '--format', '%(metric:__proto__) %(metric:constructor) %(metric:prototype.x) %(metric:acc)'], { cwd: repo });
    assert.equal(f.stdout, '3 4 5 1\n');
    const w = await ok(['log', '--format', '%H', '--where', 'metrics.__proto__ = 3 and metrics.constructor = 4 and metrics.prototype.x = 5'], { cwd: repo });
    assert.equal(w.stdout, `${id}\n`);
    const none = await ok(['log', '--format', '%H', '--where', 'metrics.__proto__ > 3'], { cwd: repo });
    assert.equal(none.stdout, '');
  });
});
