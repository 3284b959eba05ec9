import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, gitRun, ok, refused, runIds, tmpdir, until, showJson } from './helpers.js';

/**
 * A run is named by a unique prefix of its id or, when exactly one run has
 * it, by its name: every command that names a run takes either, through the
 * one resolver (store/runs.ts resolveRun).
 */
describe('run names: every command that names a run takes its name', function () {
  this.timeout(180000);

  const newRun = async (repo: string, args: string[]): Promise<string> => {
    const before = new Set(runIds(repo));
    await ok(args, { cwd: repo });
    return runIds(repo).find((i) => !before.has(i))!;
  };

  it('show, logs, cat, checkout, wait, diff and edit by name; cancel by name', async () => {
    const repo = makeRepo('names-all', { 'a.txt': 'a\n' });
    const prep = await newRun(repo, ['-q', '--name', 'prepare data', '--', 'sh', '-c', 'echo said; echo out > out.txt']);
    const other = await newRun(repo, ['-q', '--name', 'other', '--', 'true']);
    assert.equal((await showJson(repo, 'prepare data')).id, prep);
    assert.equal((await ok(['logs', 'prepare data'], { cwd: repo })).stdout, 'said\n');
    assert.equal((await ok(['cat', 'prepare data:out.txt'], { cwd: repo })).stdout, 'out\n');
    const to = path.join(tmpdir('names-checkout'), 'd');
    await ok(['checkout', 'prepare data', '--to', to], { cwd: repo });
    assert.equal(readFileSync(path.join(to, 'out.txt'), 'utf8'), 'out\n');
    assert.match((await ok(['wait', 'prepare data', 'other'], { cwd: repo })).stdout, new RegExp(prep.slice(0, 12)));
    await ok(['diff', 'prepare data', 'other'], { cwd: repo });
    await ok(['edit', 'other', '--name', 'renamed'], { cwd: repo });
    assert.equal((await showJson(repo, 'renamed')).id, other);
    await refused(repo, ['show', 'other'], "'other' is not a run id, nor the name of a run", 'name a run by 4 or more hex digits of its id, or by its name; list runs with `git run log --oneline`');

    // A run that is still running, cancelled by its name.
    const marker = path.join(tmpdir('names-started'), 'started');
    const long = (await ok(['-d', '--name', 'long one', '--', 'sh', '-c', `touch ${marker}; sleep 120`], { cwd: repo })).stdout.trim();
    await until('the run to start', () => existsSync(marker), 60000);
    await ok(['cancel', '--grace', '1', 'long one'], { cwd: repo });
    assert.equal((await showJson(repo, long)).status, 'cancelled');
  });

  it('an ambiguous name is refused, listing each run with its creation time; an id prefix still names one', async () => {
    const repo = makeRepo('names-ambiguous', { 'a.txt': 'a\n' });
    const a = await newRun(repo, ['-q', '--name', 'twin', '--', 'true']);
    const b = await newRun(repo, ['-q', '--name', 'twin', '--', 'sh', '-c', 'exit 0']);
    const [ja, jb] = [await showJson(repo, a), await showJson(repo, b)];
    const [first, second] = ja.createdAt <= jb.createdAt ? [ja, jb] : [jb, ja];
    for (const cmd of [['show', 'twin'], ['logs', 'twin'], ['cat', 'twin:a.txt'], ['wait', 'twin'], ['cancel', 'twin']]) {
      await refused(
        repo,
        cmd,
        `the name 'twin' is ambiguous: 2 runs have it (${first.id.slice(0, 12)} created ${first.createdAt}, ${second.id.slice(0, 12)} created ${second.createdAt})`,
        'name the run by its id (or a unique prefix of it), or rename one with `git run edit <id> --name <name>`',
      );
    }
    assert.equal((await showJson(repo, a.slice(0, 10))).id, a);
  });

  it('names like __proto__, constructor and prototype are names like any other', async () => {
    const repo = makeRepo('names-proto', { 'a.txt': 'a\n' });
    const ids = new Map<string, string>();
    for (const n of ['__proto__', 'constructor', 'prototype']) ids.set(n, await newRun(repo, ['-q', '--name', n, '--', 'sh', '-c', `echo ${n}`]));
    for (const n of ['__proto__', 'constructor', 'prototype']) {
      assert.equal((await showJson(repo, n)).id, ids.get(n));
      assert.equal((await ok(['logs', n], { cwd: repo })).stdout, `${n}\n`);
    }
    await refused(repo, ['show', 'toString'], "'toString' is not a run id, nor the name of a run", /^hint: name a run by/);
  });

  it('control characters in a name are printed escaped in errors; the name still resolves', async () => {
    const repo = makeRepo('names-control', { 'a.txt': 'a\n' });
    const evil = 'x\x1b[2Jy\nz';
    const a = await newRun(repo, ['-q', '--name', evil, '--', 'true']);
    assert.equal((await showJson(repo, evil)).id, a);
    await newRun(repo, ['-q', '--name', evil, '--', 'sh', '-c', 'true']);
    const r = await gitRun(['show', evil], { cwd: repo });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: the name 'x\\e\[2Jy\\nz' is ambiguous: 2 runs have it/);
    assert.doesNotMatch(r.stderr, /\x1b/);
    const missing = await gitRun(['show', 'no\x07such'], { cwd: repo });
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr.split('\n')[0], "error: 'no\\x07such' is not a run id, nor the name of a run");
  });

  it('a name that is also a hex prefix of an id: the id wins; a hex name no id starts with is a name', async () => {
    const repo = makeRepo('names-hex', { 'a.txt': 'a\n' });
    const a = await newRun(repo, ['-q', '--', 'true']);
    const prefix = a.slice(0, 6);
    const b = await newRun(repo, ['-q', '--name', prefix, '--', 'sh', '-c', 'true']);
    assert.equal((await showJson(repo, prefix)).id, a, 'the id prefix wins over the name');
    // A hex word that starts no id (the first digit differs from every run's) names the run that has it.
    const ids = runIds(repo);
    const free = [...'0123456789abcdef'].find((d) => !ids.some((i) => i.startsWith(d)))!;
    const hexName = `${free}${free}${free}${free}`;
    await ok(['edit', b, '--name', hexName], { cwd: repo });
    assert.equal((await showJson(repo, hexName)).id, b);
    // And refs/runs/<id> names a run by its id only.
    await refused(repo, ['show', `refs/runs/${hexName}`], `no run matches 'refs/runs/${hexName}'`, 'list runs with `git run log --oneline`');
  });
});
