import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeRepo, gitRun, ok, showJson, runIds, refState, writeFiles, tmpdir, ROOT } from './helpers.js';

describe('.runconfig defaults and the demo', () => {
  it('takes run_args defaults from .runconfig; options given to one submission win', async () => {
    const repo = makeRepo('runconfig', { 'a.txt': 'a', '.runconfig': JSON.stringify({ defaults: { leave: 'all', partition: 'gpu' } }) });
    await ok(['-q', '--', 'true'], { cwd: repo });
    const first = runIds(repo)[0]!;
    const j = await showJson(repo, first);
    assert.equal(j.runArgs.leave, 'all');
    assert.equal(j.runArgs.partition, 'gpu', 'unknown run_args are kept for the executor');
    assert.ok(existsSync(path.join(repo, '.git/git-run/runs', first, 'work')));
    await ok(['-q', '--leave', 'none', '--', 'true'], { cwd: repo });
    const second = runIds(repo).find((i) => i !== first)!;
    assert.equal((await showJson(repo, second)).runArgs.leave, 'none');
  });

  it('accepts .runconfig.example as it ships', async () => {
    const { readFileSync } = await import('node:fs');
    const repo = makeRepo('example-config', { 'a.txt': 'a', '.runconfig': readFileSync(path.join(ROOT, '.runconfig.example'), 'utf8') });
    await ok(['-q', '--', 'true'], { cwd: repo });
    const j = await showJson(repo, runIds(repo)[0]!);
    assert.equal(j.runArgs.leave, 'code');
    assert.ok(!Object.keys(j.runArgs).some((k) => k.startsWith('//')), 'comments are not run_args');
  });

  it('refuses an invalid .runconfig and writes nothing', async () => {
    const repo = makeRepo('badconfig', { 'a.txt': 'a' });
    for (const [text, msg] of [
      ['{ not json', /not valid JSON/],
      ['{"defaults": {"leave": "sometimes"}}', /defaults\.leave: expected "none", "code" or "all", got a string \("sometimes"\)/],
      ['{"defaults": {"forse": true}}', /defaults\.forse: unknown run_arg 'forse': did you mean 'force'\?/],
      ['{"hosts": {"big": {"max_parallel": 0}}}', /hosts\.big\.max_parallel: expected a whole number >= 1/],
      ['{"default": {}}', /default: unknown top-level key/],
    ] as const) {
      writeFiles(repo, { '.runconfig': text });
      const before = refState(repo);
      const r = await gitRun(['--', 'true'], { cwd: repo });
      assert.equal(r.code, 2);
      assert.match(r.stderr, msg);
      assert.match(r.stderr, /hint: .*\.runconfig\.example/);
      assert.equal(refState(repo), before);
    }
  });

  it('the README quick start: the demo records a run on the local executor', function () {
    if (spawnSync('python3', ['--version']).status !== 0) {
      if (process.env.CI) throw new Error('python3 is missing in CI: .ci/run must install it');
      this.skip();
    }
    const target = path.join(tmpdir('demo'), 'repo');
    const r = spawnSync(process.execPath, [path.join(ROOT, 'fixtures/demo/run-demo.mjs'), target], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /test accuracy 0\.\d+/);
    assert.match(r.stdout, /\(succeeded\)/);
    assert.match(r.stdout, /^Metrics: accuracy=0\.\d+ final_loss=\d/m, 'the demo\'s metrics.json is recorded as its metrics');
    assert.match(r.stdout, /:metrics\.json/);
    assert.match(r.stdout, /"accuracy"/);
  });
});
