import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
// Through the package's public entry point, as a user imports it (package.json's exports, self-referenced).
import { Run, getOrRun, getOrCall, GitRunError, ErrorCode } from 'git-run';
import { makeRepo, ok, runIds, tmpdir, until } from './helpers.js';
import { writeRun } from './lineage-fixture.js';

describe("the library: Runhouse's Run", function () {
  this.timeout(180000);

  it('getOrCall runs once and returns the result; the same spec again reuses the run', async () => {
    const repo = makeRepo('api-get-or-call', { 'say.sh': 'echo "hello $1"\n' });
    const spec = { cwd: repo, command: ['sh', 'say.sh', '{who}'], params: ['who=world'], seed: 7 };
    assert.equal(await getOrCall(spec), 'hello world\n');
    assert.equal(runIds(repo).length, 1);
    const again = await getOrRun(spec);
    assert.equal(again.reused, true);
    assert.equal(again.id, runIds(repo)[0]);
    assert.equal(await getOrCall(spec), 'hello world\n');
    assert.equal(runIds(repo).length, 1, 'nothing new was run');
    const other = await getOrRun({ ...spec, params: ['who=you'] });
    assert.equal(other.reused, false);
    assert.equal(await (await other.wait()).result(), 'hello you\n');
  });

  it('Run.load by name or id: status, stdout, stderr, result (stderr when it failed), inputs', async () => {
    const repo = makeRepo('api-load', { 'a.txt': 'a\n' });
    await ok(['-q', '--name', 'good', '--seed', '3', '-p', 'lr=0.1', '-p', '__proto__=x', '--', 'sh', '-c', 'echo out; echo err >&2'], { cwd: repo });
    const bad = (await ok(['-d', '--name', 'bad', '--', 'sh', '-c', 'echo partial; echo broke >&2; exit 3'], { cwd: repo })).stdout.trim();
    const good = await Run.load('good', { cwd: repo });
    assert.equal(good.status, 'succeeded');
    assert.equal(good.name, 'good');
    assert.equal(await good.stdout(), 'out\n');
    assert.equal(await good.stderr(), 'err\n');
    assert.equal(await good.result(), 'out\n');
    const inputs = good.inputs();
    assert.equal(inputs.seed, 3);
    assert.deepEqual(inputs.inputs, []);
    assert.equal(inputs.params.lr, 0.1);
    assert.ok(Object.hasOwn(inputs.params, '__proto__'), 'a param named __proto__ is a param');
    const b = await (await Run.load(bad.slice(0, 8), { cwd: repo })).wait();
    assert.equal(b.status, 'failed');
    assert.equal(await b.result(), 'broke\n');
    assert.equal((await Run.load(good.id, { cwd: repo })).id, good.id);
  });

  it('an ambiguous or unknown name is a GitRunError', async () => {
    const repo = makeRepo('api-ambiguous', { 'a.txt': 'a\n' });
    await ok(['-q', '--name', 'twin', '--', 'true'], { cwd: repo });
    await ok(['-q', '--name', 'twin', '--', 'sh', '-c', 'true'], { cwd: repo });
    await assert.rejects(Run.load('twin', { cwd: repo }), (e: unknown) => e instanceof GitRunError && e.code === ErrorCode.RunAmbiguous && (e.data.candidates as string[]).length === 2);
    await assert.rejects(Run.load('nobody', { cwd: repo }), (e: unknown) => e instanceof GitRunError && e.code === ErrorCode.RunNotFound);
  });

  it('refresh sees a run move on; result() before it ends is an error; cancel', async () => {
    const repo = makeRepo('api-cancel', { 'a.txt': 'a\n' });
    const marker = path.join(tmpdir('api-started'), 'started');
    const run = await getOrRun({ cwd: repo, command: ['sh', '-c', `touch ${marker}; sleep 120`], name: 'long' });
    await until('the run to start', () => existsSync(marker), 60000);
    assert.equal((await run.refresh()).status, 'running');
    await assert.rejects(run.result(), (e: unknown) => e instanceof GitRunError && e.code === ErrorCode.RunNotFinished);
    await run.cancel(500);
    assert.equal(run.status, 'cancelled');
    assert.equal((await Run.load('long', { cwd: repo })).status, 'cancelled');
  });

  it('upstream and downstream: plain links, followed with Run.load', async () => {
    const repo = makeRepo('api-lineage', { 'a.txt': 'a\n' });
    await ok(['-q', '--name', 'prepare', '--', 'sh', '-c', 'echo d > data.bin'], { cwd: repo });
    const P = runIds(repo)[0]!;
    const T = await writeRun(repo, P, { name: 'train', inputs: [{ run: P, path: 'data.bin', dest: 'in/data.bin' }] });
    const prep = await Run.load('prepare', { cwd: repo });
    const train = await Run.load('train', { cwd: repo });
    const oid = (await prep.downstream())[0]!.oid;
    assert.deepEqual(train.upstream(), [{ run: P, path: 'data.bin', oid, dest: 'in/data.bin' }]);
    assert.deepEqual(train.inputs().inputs, train.upstream());
    assert.deepEqual(await prep.downstream(), [{ run: T, path: 'data.bin', dest: 'in/data.bin', oid }]);
    assert.deepEqual(await train.downstream(), []);
    const link = train.upstream()[0] as { run: string };
    assert.equal((await Run.load(link.run, { cwd: repo })).name, 'prepare');
  });
});
