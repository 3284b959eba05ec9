import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, ok, showJson, git, tmpdir, until, daemonPidOf as pidOf, aliveProcess as alive } from './helpers.js';
import { slurmAvailable, slurmCluster, type SlurmCluster } from './slurmd.js';

/**
 * The daemon with a Slurm profile on a real one-node cluster
 * (test/slurmd.ts), killed at the worst moments: a restarted daemon
 * reattaches from what git holds and records every end once, and a daemon
 * killed between sbatch and the start record does not submit again.
 * GIT_RUN_FAILPOINT=slurm:after-sbatch (src/core/failpoint.ts) makes the
 * armed daemon SIGKILL itself right after sbatch answered.
 */
describe('the daemon with a Slurm profile (a real cluster on 127.0.0.1)', function () {
  this.timeout(300000);
  let slurm: SlurmCluster;
  const repos: string[] = [];
  const dirs: string[] = [];
  before(async function () {
    if (!slurmAvailable(this)) return;
    slurm = await slurmCluster();
  });
  afterEach(() => {
    for (const r of repos.splice(0)) {
      const pid = pidOf(r);
      if (alive(pid)) process.kill(pid!, 'SIGKILL');
    }
  });
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const env = () => ({ SLURM_CONF: slurm.conf });
  async function startDaemon(repo: string, extra: Record<string, string> = {}): Promise<number> {
    await ok(['daemon', 'start'], { cwd: repo, env: { ...env(), ...extra } });
    return pidOf(repo)!;
  }
  /** A repository whose definition d.json runs a sweep of n on the cluster; each child appends its id to a trace (twice if it ran twice) once the flag file exists. */
  function setup(label: string, n: number) {
    const dir = `/tmp/git-run-slurm-daemon-${label}-${process.pid}`;
    const work = tmpdir(`slurm-daemon-${label}`);
    const trace = path.join(work, 'trace');
    const flag = path.join(work, 'go');
    dirs.push(dir);
    const repo = makeRepo(`slurm-daemon-${label}`, {
      '.runconfig': JSON.stringify({ hosts: { here: { type: 'slurm', remote_dir: dir, max_parallel: 8 } } }),
      'd.json': JSON.stringify({
        command: ['sh', '-c', `while [ ! -e ${flag} ]; do sleep 0.1; done; echo "$GIT_RUN_ID" >> ${trace}; echo done > out.txt`],
        host: 'here',
        params: { k: { values: Array.from({ length: n }, (_, i) => i) } },
      }),
    });
    repos.push(repo);
    return { repo, trace, flag };
  }
  /** Each run's ref: submitted, started at most once, ended at most once. */
  function recordedOnce(repo: string, id: string): void {
    const msgs = git(repo, 'log', '--format=%s', `refs/runs/${id}`).split('\n');
    assert.ok(msgs.filter((m) => m.startsWith('started')).length <= 1, `${id} started once: ${msgs.join(' | ')}`);
    assert.ok(msgs.filter((m) => /^(succeeded|failed|cancelled|lost)/.test(m)).length <= 1, `${id} ended once: ${msgs.join(' | ')}`);
  }
  const ourJobs = (ids: string[]) =>
    slurm
      .cmd('squeue', ['-h', '-t', 'all', '-o', '%i %j'])
      .split('\n')
      .filter((l) => ids.some((id) => l.endsWith(` git-run-${id}`)));

  it('SIGKILLed while its Slurm jobs run: the restarted daemon reattaches from the job ids in git and records every end once', async () => {
    const n = 3;
    const { repo, trace, flag } = setup('killed', n);
    const pid = await startDaemon(repo);
    const group = JSON.parse((await ok(['submit', '-d', '--json', 'd.json'], { cwd: repo, env: env() })).stdout);
    const ids = group.children as string[];
    assert.equal(ids.length, n);
    const jobs = await until('every child recorded with its job, started by the daemon', async () => {
      const all = await Promise.all(ids.map((id) => showJson(repo, id)));
      return all.every((j) => j.job?.id) ? all.map((j) => j.job.id as string) : null;
    }, 120000);
    for (const id of ids) assert.equal(JSON.parse(git(repo, 'show', `refs/runs/${id}:state.json`)).handle.supervisor.pid, pid, 'the daemon follows it');
    // Dispatched together (one pass, slots for all): one sbatch, one job array.
    assert.equal(new Set(jobs.map((j) => j.split('_')[0])).size, 1, `one array: ${jobs.join(' ')}`);
    process.kill(pid, 'SIGKILL');
    await until('the daemon is gone', () => !alive(pid), 30000);
    // The jobs end while no daemon runs: nobody records them until one is back.
    writeFileSync(flag, '');
    await until('every job ended in Slurm', () => jobs.every((j) => /^(COMPLETED|FAILED|CANCELLED)$/.test(slurm.job(j)?.get('JobState') ?? '')), 120000);
    // Read from git alone (a `show` would reattach and record it itself): nobody recorded the ends.
    const last = (id: string) => git(repo, 'log', '-1', '--format=%s', `refs/runs/${id}`);
    for (const id of ids) assert.match(last(id), /^started/, 'not recorded without a daemon');
    await startDaemon(repo);
    await until('the restarted daemon recorded every child', () => ids.every((id) => !/^started/.test(last(id))), 120000);
    for (const id of ids) {
      const j = await showJson(repo, id);
      assert.equal(j.status, 'succeeded', JSON.stringify(j));
      assert.deepEqual(j.outputs.map((o: any) => o.path), ['out.txt']);
      recordedOnce(repo, id);
    }
    assert.deepEqual(readFileSync(trace, 'utf8').trim().split('\n').sort(), [...ids].sort(), 'each ran once');
    await ok(['daemon', 'stop'], { cwd: repo });
  });

  it('SIGKILLed between sbatch and the start record: the restarted daemon finds the job by the run id and does not submit it again', async () => {
    const n = 2;
    const { repo, trace, flag } = setup('after-sbatch', n);
    const pid = await startDaemon(repo, { GIT_RUN_FAILPOINT: 'slurm:after-sbatch' });
    const group = JSON.parse((await ok(['submit', '-d', '--json', 'd.json'], { cwd: repo, env: env() })).stdout);
    const ids = group.children as string[];
    await until('the daemon died right after sbatch', () => !alive(pid), 120000);
    // What it submitted is in Slurm's queue; git still says queued: the start was never recorded.
    const before = ourJobs(ids);
    assert.ok(before.length >= 1, 'a job was submitted');
    // Dispatched together: one array for both, so the next daemon finds both through its map.
    assert.equal(new Set(before.map((l) => l.split(' ')[0]!.replace(/_.*$/, ''))).size, 1, before.join('\n'));
    for (const id of ids) assert.equal((await showJson(repo, id)).status, 'queued');
    await startDaemon(repo);
    await until('every child recorded with its job', async () => (await Promise.all(ids.map((id) => showJson(repo, id)))).every((j) => j.job?.id), 120000);
    writeFileSync(flag, '');
    await until('every child recorded', async () => (await Promise.all(ids.map((id) => showJson(repo, id)))).every((j) => j.status === 'succeeded' || j.status === 'failed' || j.status === 'lost'), 120000);
    const views = await Promise.all(ids.map((id) => showJson(repo, id)));
    for (const j of views) {
      assert.equal(j.status, 'succeeded', JSON.stringify(j));
      recordedOnce(repo, j.id);
    }
    // The job the dead daemon submitted is the one recorded, and no run has a second job (one base id per name).
    const base = (job: string) => job.replace(/_.*$/, '');
    const recordedJobs = new Set(views.map((j) => base(String(j.job.id))));
    for (const l of before) assert.ok(recordedJobs.has(base(l.split(' ')[0]!)), `${l} is a recorded run's job (${[...recordedJobs].join(' ')})`);
    const byName = new Map<string, Set<string>>();
    for (const l of ourJobs(ids)) {
      const [job, name] = l.split(' ') as [string, string];
      byName.set(name, (byName.get(name) ?? new Set()).add(base(job)));
    }
    for (const [name, jobs] of byName) assert.equal(jobs.size, 1, `${name}: one job, not ${[...jobs].join(' ')}`);
    assert.deepEqual(readFileSync(trace, 'utf8').trim().split('\n').sort(), [...ids].sort(), 'each ran once');
    await ok(['daemon', 'stop'], { cwd: repo });
  });
});
