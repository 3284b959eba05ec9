import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, gitRun, git, runIds, showJson, until } from './helpers.js';
import { slurmAvailable, slurmCluster, type SlurmCluster } from './slurmd.js';

/**
 * `git run gc --host <slurm profile>` on a real one-node cluster
 * (test/slurmd.ts): the ssh executor's clean-up on the login node, plus the
 * arrays' directories; whatever a job still in Slurm's queue uses stays,
 * this repository's or another's.
 */
describe('git run gc --host on a Slurm profile (a real cluster on 127.0.0.1)', function () {
  this.timeout(300000);
  let slurm: SlurmCluster;
  const dir = `/tmp/git-run-slurm-gc-${process.pid}`;
  before(async function () {
    if (!slurmAvailable(this)) return;
    slurm = await slurmCluster();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const profile = { '.runconfig': JSON.stringify({ hosts: { here: { type: 'slurm', remote_dir: dir } } }) };
  const run = (repo: string, args: string[]) => gitRun(args, { cwd: repo, env: { SLURM_CONF: slurm.conf } });
  const runOk = async (repo: string, args: string[]) => {
    const r = await run(repo, args);
    assert.equal(r.code, 0, `git run ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  const treeOf = (repo: string, id: string) => JSON.parse(git(repo, 'cat-file', 'blob', `${id}:run.json`)).code.tree as string;
  const listing = () => ['code', 'runs', 'arrays'].flatMap((d) => (existsSync(path.join(dir, d)) ? readdirSync(path.join(dir, d)).map((f) => `${d}/${f}`) : [])).sort();
  // --begin keeps a job pending for an hour, whatever the machine's speed.
  const pending = ['--run-arg', 'sbatch=["--begin=now+3600"]'];
  const recordedWithJob = (repo: string, id: string) => until(`${id.slice(0, 12)} recorded with its job`, async () => (await showJson(repo, id)).job?.id as string | undefined, 120000);

  it('removes what no queued job uses (a finished run left whole, an old array, its code); keeps what pending jobs use, a second repository\'s too; --dry-run removes nothing', async () => {
    const repo = makeRepo('slurm-gc', { ...profile, 'sweep.json': JSON.stringify({ command: ['true'], params: { x: { values: [1, 2] } } }) });
    // Finished: a run left whole (--leave all), and a sweep whose array directory stays behind.
    await runOk(repo, ['-q', '--host', 'here', '--leave', 'all', '--', 'true']);
    const stale = runIds(repo)[0]!;
    const staleTree = treeOf(repo, stale);
    const old = JSON.parse((await runOk(repo, ['submit', 'sweep.json', '--host', 'here', '--json'])).stdout.trim().split('\n').pop()!);
    assert.equal(old.status, 'succeeded', JSON.stringify(old));
    const oldArray = old.children[0] as string;
    assert.equal((await showJson(repo, oldArray)).job.name, `git-run-${oldArray}`);
    // Pending on another tree: a sweep (one array) of this repository...
    writeFileSync(path.join(repo, 'b.txt'), 'b\n');
    const group = (await runOk(repo, ['submit', 'sweep.json', '-d', '--host', 'here', ...pending])).stdout.trim().split('\n').pop()!;
    const kids: string[] = await until('the group lists its children', async () => {
      const c = (await showJson(repo, group)).children as string[] | undefined;
      return c?.length === 2 ? c : null;
    }, 60000);
    for (const k of kids) await recordedWithJob(repo, k);
    const liveTree = treeOf(repo, kids[0]!);
    // ...and a run of another repository sharing the directory (this one knows nothing of it).
    const other = makeRepo('slurm-gc-other', { ...profile, 'c.txt': 'c\n' });
    const foreign = (await runOk(other, ['-d', '--host', 'here', ...pending, '--', 'true'])).stdout.trim();
    await recordedWithJob(other, foreign);
    const foreignTree = treeOf(other, foreign);
    assert.equal(new Set([staleTree, liveTree, foreignTree]).size, 3);

    const before = listing();
    for (const p of [`runs/${stale}`, `arrays/${oldArray}`, `code/${staleTree}`, `arrays/${kids[0]}`, `runs/${kids[0]}`, `runs/${kids[1]}`, `code/${liveTree}`, `runs/${foreign}`, `code/${foreignTree}`]) assert.ok(before.includes(p), `${p} in\n${before.join('\n')}`);

    try {
      // (.trash: what --leave moved aside, when a run's end removed its directory.)
      // (store.git/: the host's object store, decision 0022, whose refs of trees no run keeps go too; test/gc-host-ssh.test.ts checks it.)
      const removed = (r: { paths: string[] }) => r.paths.filter((p) => p !== '.trash' && !p.startsWith('store.git/')).sort();
      const dry = JSON.parse((await runOk(repo, ['gc', '--host', 'here', '--prune', 'now', '--dry-run', '--json'])).stdout);
      assert.deepEqual(listing(), before, 'a dry run removes nothing');
      const gone = [`runs/${stale}`, `arrays/${oldArray}`, `code/${staleTree}`, `code/${staleTree}.ok`].sort();
      assert.deepEqual(removed(dry), gone, JSON.stringify(dry));

      const done = JSON.parse((await runOk(repo, ['gc', '--host', 'here', '--prune', 'now', '--json'])).stdout);
      assert.deepEqual(removed(done), gone);
      assert.deepEqual(listing(), before.filter((p) => !gone.includes(p)), 'exactly those went');
      const again = JSON.parse((await runOk(repo, ['gc', '--host', 'here', '--prune', 'now', '--json'])).stdout);
      assert.deepEqual(removed(again), [], 'nothing more to remove');

      // The pending jobs never noticed: cancelled, they are recorded as such; then their leftovers go too.
      await runOk(repo, ['cancel', group]);
      await runOk(other, ['cancel', foreign]);
      for (const [r, id] of [...kids.map((k) => [repo, k] as const), [other, foreign] as const]) {
        await until(`${id.slice(0, 12)} recorded cancelled`, async () => (await showJson(r, id)).status === 'cancelled', 120000);
      }
      await until('the queue is empty of our jobs', () => !/git-run-/.test(slurm.cmd('squeue', ['-h', '-o', '%j'])), 60000);
      await runOk(repo, ['gc', '--host', 'here', '--prune', 'now']);
      assert.deepEqual(listing().filter((p) => !p.startsWith('code/')), [], 'no run or array directory left');
    } finally {
      // The cluster is shared with the next tests: no job of ours stays pending for an hour.
      const jobs = await Promise.all([...kids.map((k) => showJson(repo, k)), showJson(other, foreign)]);
      slurm.cmd('scancel', [...new Set(jobs.map((j) => String(j.job.id).split('_')[0]!))]);
    }
  });

  it('refuses to guess when Slurm cannot be asked: nothing removed, a clear error', async () => {
    const repo = makeRepo('slurm-gc-down', profile);
    const d = `${dir}/runs/${'a'.repeat(40)}`;
    await import('node:fs').then((fs) => fs.mkdirSync(d, { recursive: true }));
    // A controller that does not answer: a slurm.conf pointing at a port nobody listens on.
    const conf = `${dir}-bad.conf`;
    writeFileSync(conf, (await import('node:fs')).readFileSync(slurm.conf, 'utf8').replace(/^SlurmctldPort=.*$/m, 'SlurmctldPort=1'));
    const r = await gitRun(['gc', '--host', 'here', '--prune', 'now'], { cwd: repo, env: { SLURM_CONF: conf } });
    rmSync(conf, { force: true });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /Slurm's queue on this machine could not be read .*nothing was removed/);
    assert.ok(existsSync(d), 'the run directory stays');
  });
});
