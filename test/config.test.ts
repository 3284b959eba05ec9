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

  it('the run_args a run shows agree with what applied: skip and force, remote_dir on a local run, the send_ignore in force', async () => {
    const repo = makeRepo('applied-args', {
      'a.txt': 'a',
      'x.log': 'left out by .sendignore',
      'secret.txt': 'left out by the profile\'s ignore file',
      '.sendignore': '*.log\n',
      'remote.ignore': 'secret.txt\n',
      'd.json': JSON.stringify({ command: ['true'], skip: false }),
      '.runconfig': JSON.stringify({ defaults: { remote_dir: '/srv/runs' }, hosts: { far: { type: 'ssh', host: 'far', send_ignore: 'remote.ignore' } } }),
    });
    const newest = async () => {
      const ids = runIds(repo);
      const views = await Promise.all(ids.map((id) => showJson(repo, id)));
      return views.sort((a, b) => String(a.createdAt).localeCompare(String(b.createdAt))).at(-1)!;
    };
    const tree = (j: Record<string, any>) => spawnSync('git', ['ls-tree', '--name-only', j.code.tree], { cwd: repo, encoding: 'utf8' }).stdout.split('\n');

    await ok(['submit', 'd.json'], { cwd: repo });
    const noSkip = await newest();
    assert.equal(noSkip.runArgs.skip, false);
    assert.equal(noSkip.runArgs.force, true, '"skip": false is force');
    assert.equal('remote_dir' in noSkip.runArgs, false, 'a local run has no remote_dir');
    assert.equal(noSkip.runArgs.send_ignore, '.sendignore');
    assert.equal(tree(noSkip).includes('x.log'), false);

    await ok(['--host', 'far', '--on-local', '--', 'true'], { cwd: repo });
    const onLocal = await newest();
    assert.equal(onLocal.runArgs.on_local, true);
    assert.equal('remote_dir' in onLocal.runArgs, false, '--on-local runs here: no remote_dir');
    assert.equal(onLocal.runArgs.send_ignore, 'remote.ignore', "the host profile's ignore file applied");
    assert.equal(tree(onLocal).includes('secret.txt'), false);
    assert.equal(tree(onLocal).includes('x.log'), true);
    assert.equal(onLocal.runArgs.skip, true);
    assert.equal(onLocal.runArgs.force, false);
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

  it('the README quick start: the demo prepares data, trains on its exact output, shows the link, a reuse, a rerun and why', function () {
    if (spawnSync('python3', ['--version']).status !== 0) {
      if (process.env.CI) throw new Error('python3 is missing in CI: .ci/run must install it');
      this.skip();
    }
    const target = path.join(tmpdir('demo'), 'repo');
    const r = spawnSync(process.execPath, [path.join(ROOT, 'fixtures/demo/run-demo.mjs'), target], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /test accuracy 0\.\d+/);
    assert.match(r.stdout, /\(succeeded\)/);
    assert.match(r.stdout, /^Metrics: (?:loss=\S+ )?accuracy=0\.\d+ final_loss=\d/m, 'the demo\'s metrics.json is recorded as its metrics');
    assert.match(r.stdout, /^ {2}metrics\.jsonl /m, 'its loss history is recorded with it');
    assert.match(r.stdout, /^\$ git run compare [0-9a-f]{12} --sort=param:lr$/m, 'the sweep ran and is compared');
    assert.match(r.stdout, /:metrics\.json/);
    assert.match(r.stdout, /"accuracy"/);
    // The training's spec commit has the prepare run's finishing commit as parent: plain git shows it.
    assert.match(r.stdout, /\* [0-9a-f]+ submitted: python3 train\.py[^]*\* [0-9a-f]+ succeeded \(exit 0\)\n\* [0-9a-f]+ started on [^]*\* [0-9a-f]+ submitted: python3 prepare\.py/);
    assert.match(r.stdout, /^downstream:\n {2}-> [0-9a-f]{12} succeeded demo: data\/samples\.csv as data\/samples\.csv \([0-9a-f]{12}\)$/m, 'lineage shows the training downstream of the prepare run');
    assert.match(r.stdout, /^Upstream:\n {2}data\/samples\.csv {2}<- [0-9a-f]{12}:data\/samples\.csv/m, 'show lists the upstream artifact');
    assert.match(r.stderr, /reusing run [0-9a-f]{12}/, 'the same training is reused');
    assert.match(r.stdout, /environment: new DEMO_NOISE/, 'why names the variable');
    assert.match(r.stdout, /wrote 400 samples \(noise 0\.9\)/, 'the changed variable reran the prepare step');
  });
});
