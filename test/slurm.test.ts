import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, symlinkSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { makeRepo, gitRun, ok, showJson, git, runIds, refState, until } from './helpers.js';
import { startSshd, sshdAvailable, type Sshd } from './sshd.js';
import { slurmAvailable, slurmCluster, type SlurmCluster } from './slurmd.js';

/**
 * The Slurm executor against a real one-node cluster (test/slurmd.ts), from
 * this machine and over the real sshd. Cases run one after another on the
 * shared cluster; the time-limit job (a minute at least, Slurm's smallest
 * limit) is started first and checked later, so its minute overlaps the rest.
 */
describe('the Slurm executor (a real cluster on 127.0.0.1)', function () {
  this.timeout(300000);
  let slurm: SlurmCluster;
  let sshd: Sshd;
  const remoteDir = (label: string) => `/tmp/git-run-slurm-${label}-${process.pid}`;
  const cleanup: string[] = [];
  before(async function () {
    if (!slurmAvailable(this) || !sshdAvailable(this)) return;
    slurm = await slurmCluster();
    sshd = await startSshd(undefined, { setEnv: { SLURM_CONF: slurm.conf } });
  });
  after(() => {
    sshd?.stop();
    for (const d of cleanup) rmSync(d, { recursive: true, force: true });
  });

  /** A repository with two Slurm profiles: "here" submits from this machine, "login" over ssh. */
  const clusterRepo = (label: string, files: Record<string, string> = {}, profile: Record<string, unknown> = {}) => {
    const dir = remoteDir(label);
    cleanup.push(dir);
    const repo = makeRepo(`slurm-${label}`, {
      ...files,
      '.runconfig': JSON.stringify({
        hosts: {
          here: { type: 'slurm', remote_dir: dir, ...profile },
          login: { type: 'slurm', host: 'testhost', ssh_config: sshd.config, remote_dir: dir, ...profile },
        },
      }),
    });
    return { repo, dir };
  };
  const env = () => ({ SLURM_CONF: slurm.conf, SSH_AUTH_SOCK: '' });
  const run = (repo: string, args: string[], extra: NodeJS.ProcessEnv = {}, onSpawn?: (c: ChildProcess) => void) => gitRun(args, { cwd: repo, env: { ...env(), ...extra }, ...(onSpawn ? { onSpawn } : {}) });
  const runOk = async (repo: string, args: string[]) => {
    const r = await run(repo, args);
    assert.equal(r.code, 0, `git run ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  /** The run's job as Slurm's controller sees it. */
  const jobState = (job: string) => slurm.job(job)?.get('JobState') ?? null;

  /** A run started in the foreground and killed (SIGKILL) once its job is recorded: nobody follows it any more. */
  async function startAndKill(repo: string, args: string[]): Promise<{ id: string; job: string }> {
    let child: ChildProcess | null = null;
    const done = run(repo, args, {}, (c) => (child = c));
    const id = await until('the run is published', () => runIds(repo)[0], 60000);
    const job = await until('the run is recorded with its job', async () => (await showJson(repo, id)).job?.id as string | undefined, 60000);
    child!.kill('SIGKILL');
    await done;
    return { id, job };
  }

  let timeLimit: { repo: string; id: string } | null = null;
  it('starts a run that exceeds its time limit (checked below, after the other cases)', async () => {
    const { repo } = clusterRepo('timeout');
    const r = await runOk(repo, ['-d', '--host', 'here', '--run-arg', 'time=1', '--', 'sh', '-c', 'echo begun; sleep 600']);
    timeLimit = { repo, id: r.stdout.trim() };
  });

  it('runs a command as a job from this machine and over ssh: output streamed, exit code kept, job and script recorded, outputs collected', async () => {
    const { repo } = clusterRepo('basic', { 'train.sh': 'echo "out $1 $GIT_RUN_PARAM_lr"; echo err >&2; mkdir -p res; echo model > res/m.txt; exit 3\n' });
    const [here, login] = await Promise.all([
      run(repo, ['--host', 'here', '--run-arg', 'time=5', '--run-arg', 'mem=100M', '-p', 'lr=0.5', '--', 'sh', 'train.sh', 'a b']),
      run(repo, ['--host', 'login', '--', 'sh', '-c', 'echo "$SLURM_JOB_ID" > job.txt; echo fine']),
    ]);
    assert.equal(here.code, 3, here.stderr);
    assert.equal(here.stdout, 'out a b 0.5\n');
    assert.match(here.stderr, /^err\n/);
    assert.equal(login.code, 0, login.stderr);
    assert.equal(login.stdout, 'fine\n');
    const views = await Promise.all(runIds(repo).map((id) => showJson(repo, id)));
    const failed = views.find((v) => v.host === 'here')!;
    const fine = views.find((v) => v.host === 'login')!;
    assert.equal(failed.status, 'failed');
    assert.equal(failed.exitCode, 3);
    assert.deepEqual(failed.outputs.map((o: any) => o.path), ['res/m.txt']);
    assert.match(failed.job.id, /^\d+$/);
    assert.equal(failed.job.name, `git-run-${failed.id}`, 'the job carries the run id');
    assert.match(failed.job.script, /^#SBATCH --mem=100M$/m);
    assert.match(failed.job.script, /^#SBATCH --time=5$/m);
    assert.equal(jobState(failed.job.id), 'FAILED', "Slurm's own state agrees");
    assert.equal(fine.status, 'succeeded');
    assert.equal((await ok(['cat', `${fine.id}:job.txt`], { cwd: repo })).stdout.trim(), fine.job.id, 'the command ran inside that job');
    const shown = (await ok(['show', fine.id], { cwd: repo })).stdout;
    assert.match(shown, new RegExp(`^Job: +${fine.job.id} \\(git-run-${fine.id}\\)$`, 'm'));
  });

  it('a sweep is one job array, never more than max_parallel of it running at once', async () => {
    const { repo } = clusterRepo('sweep', {
      'sweep.json': JSON.stringify({ command: ['sh', '-c', 'date +%s%N > start.txt; sleep 2; date +%s%N > end.txt'], params: { x: { values: [1, 2, 3, 4, 5] } }, max_parallel: 2 }),
    });
    const r = await runOk(repo, ['submit', 'sweep.json', '--host', 'here', '--json']);
    const group = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(group.status, 'succeeded', r.stdout);
    const children = await Promise.all(group.children.map((id: string) => showJson(repo, id)));
    const arrays = new Set(children.map((c) => c.job.id.split('_')[0]));
    assert.equal(arrays.size, 1, `one array: ${children.map((c) => c.job.id).join(' ')}`);
    assert.deepEqual(children.map((c) => Number(c.job.id.split('_')[1])).sort(), [0, 1, 2, 3, 4]);
    assert.match(slurm.job(children[0].job.id)?.get('ArrayTaskThrottle') ?? '', /^2$/, 'submitted with %2');
    // The times each child wrote: at no moment were more than two running.
    const spans = await Promise.all(
      children.map(async (c) => {
        const read = async (f: string) => BigInt((await ok(['cat', `${c.id}:${f}`], { cwd: repo })).stdout.trim());
        return [await read('start.txt'), await read('end.txt')] as const;
      }),
    );
    for (const [s] of spans) {
      const overlapping = spans.filter(([a, b]) => a <= s && s < b).length;
      assert.ok(overlapping <= 2, `${overlapping} children running at once`);
    }
  });

  it('cancels a pending job and a running one (scancel), both recorded cancelled; status shows the queued one with its reason', async () => {
    const { repo } = clusterRepo('cancel');
    const pending = (await runOk(repo, ['-d', '--host', 'here', '--run-arg', 'sbatch=["--begin=now+3600"]', '--', 'true'])).stdout.trim();
    const running = (await runOk(repo, ['-d', '--host', 'login', '--', 'sh', '-c', 'echo up; sleep 300'])).stdout.trim();
    await until('the pending run shows as queued with its reason', async () => {
      const s = (await run(repo, ['status'])).stdout;
      return s.split('\n').some((l) => l.startsWith(pending.slice(0, 12)) && /\(queued: PENDING, BeginTime\)/.test(l));
    }, 60000);
    const pendingJob = (await showJson(repo, pending)).job.id;
    // Detached: its supervisor records the job id once sbatch has answered, which may be later than the other's.
    const runningJob = (await until('the second job id recorded', async () => (await showJson(repo, running)).job?.id as string | undefined, 60000))!;
    await until('the second job runs', () => jobState(runningJob) === 'RUNNING', 60000);
    const c1 = await run(repo, ['cancel', pending]);
    assert.equal(c1.code, 0, c1.stderr);
    const c2 = await run(repo, ['cancel', running]);
    assert.equal(c2.code, 0, c2.stderr);
    for (const [id, job] of [[pending, pendingJob], [running, runningJob]] as const) {
      await until(`${id.slice(0, 12)} recorded`, async () => (await showJson(repo, id)).status !== 'running', 60000);
      const j = await showJson(repo, id);
      assert.equal(j.status, 'cancelled', JSON.stringify(j));
      assert.match(j.error, /CANCELLED/);
      assert.equal(jobState(job), 'CANCELLED');
    }
  });

  it('a requeued job (scontrol requeue) does not end its run; the run ends once, with the second attempt', async () => {
    const { repo, dir } = clusterRepo('requeue');
    const id = (await runOk(repo, ['-d', '--host', 'here', '--', 'sh', '-c', 'echo "attempt ${SLURM_RESTART_COUNT:-0}"; [ -n "$SLURM_RESTART_COUNT" ] || sleep 300'])).stdout.trim();
    const job = await until('the job is recorded', async () => (await showJson(repo, id)).job?.id as string | undefined, 60000);
    await until('the first attempt runs', () => existsSync(`${dir}/runs/${id}/stdout`) && readFileSync(`${dir}/runs/${id}/stdout`, 'utf8') === 'attempt 0\n', 60000);
    slurm.cmd('scontrol', ['requeue', job]);
    // A requeued job waits (BeginTime) before it may start again: let it start now.
    await until('the job is pending again', () => jobState(job) === 'PENDING', 60000);
    assert.equal((await showJson(repo, id)).status, 'running', 'the requeue did not end the run');
    slurm.cmd('scontrol', ['update', `JobId=${job}`, 'StartTime=now']);
    const w = await run(repo, ['wait', id]);
    assert.equal(w.code, 0, w.stderr);
    const j = await showJson(repo, id);
    assert.equal(j.status, 'succeeded');
    assert.equal((await ok(['logs', id], { cwd: repo })).stdout, 'attempt 1\n');
    assert.equal(git(repo, 'rev-list', '--count', `refs/runs/${id}`), '3', 'submitted, started, ended: the end recorded once');
  });

  it('a killed client: the job goes on, and `git run wait` reattaches from the job id in git and records the end', async () => {
    const { repo, dir } = clusterRepo('killed');
    // The command waits for a file the test makes once the client is dead.
    const flag = `${dir}-go`;
    cleanup.push(flag);
    const { id, job } = await startAndKill(repo, ['--host', 'login', '--', 'sh', '-c', `while [ ! -e ${flag} ]; do sleep 0.1; done; echo done > out.txt`]);
    assert.equal((await showJson(repo, id)).status, 'running', 'the job goes on without its client');
    writeFileSync(flag, '');
    const w = await run(repo, ['wait', id]);
    assert.equal(w.code, 0, w.stderr);
    const j = await showJson(repo, id);
    assert.equal(j.status, 'succeeded', JSON.stringify(j));
    assert.deepEqual(j.outputs.map((o: any) => o.path), ['out.txt']);
    assert.equal(j.job.id, job);
  });

  it("logs -f follows a job's output while it runs, every line once, and ends when the run ends", async () => {
    const { repo, dir } = clusterRepo('follow');
    // The second line waits for a file the test makes once the first has been seen: the follow is live, not a replay.
    const flag = `${dir}-go`;
    cleanup.push(flag);
    const id = (await runOk(repo, ['-d', '--host', 'here', '--', 'sh', '-c', `echo first; while [ ! -e ${flag} ]; do sleep 0.1; done; echo second`])).stdout.trim();
    let seen = '';
    const following = run(repo, ['logs', '-f', id], {}, (c) => void c.stdout?.on('data', (d: Buffer) => (seen += d.toString())));
    await until('logs -f shows the first line while the job runs', () => seen.includes('first\n'), 120000);
    assert.equal((await showJson(repo, id)).status, 'running');
    writeFileSync(flag, '');
    const f = await following;
    assert.equal(f.code, 0, f.stderr);
    assert.equal(f.stdout, 'first\nsecond\n');
    assert.equal((await showJson(repo, id)).status, 'succeeded');
  });

  it('refuses bad resources and what Slurm refuses, exit 2, nothing written', async () => {
    const { repo } = clusterRepo('bad');
    const cases: Array<[string[], RegExp, NodeJS.ProcessEnv?]> = [
      [['--run-arg', 'memory=1G'], /unknown resource 'memory': did you mean 'mem'\?/],
      [['--run-arg', 'time=1h'], /time "1h" is not a Slurm time/],
      [['--run-arg', 'mem=lots'], /mem "lots" is not a Slurm memory size/],
      [['--run-arg', 'sbatch=["--output=/tmp/x"]'], /sbatch option "--output=\/tmp\/x" is set by git-run itself/],
      [['--run-arg', 'sbatch=["--x y"]'], /holds a blank/],
      [['--run-arg', 'partition=nosuch'], /Slurm refuses these resources on this machine: .*invalid partition specified: nosuch/],
    ];
    for (const host of ['here', 'login']) {
      for (const [args, message] of cases) {
        const before = refState(repo);
        const r = await run(repo, ['--host', host, ...args, '--', 'true']);
        assert.equal(r.code, 2, `${host} ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
        assert.match(r.stderr, host === 'login' ? new RegExp(message.source.replace('this machine', 'testhost')) : message);
        assert.match(r.stderr, /^hint: /m);
        assert.equal(refState(repo), before, 'nothing was written');
      }
    }
    // sbatch missing on the host: a PATH with everything but Slurm's commands.
    const bin = mkdtempSync(path.join(os.tmpdir(), 'git-run-noslurm-'));
    cleanup.push(bin);
    for (const d of (process.env.PATH ?? '').split(':').filter(Boolean)) {
      for (const f of existsSync(d) ? readdirSync(d) : []) {
        if (!['sbatch', 'squeue', 'scancel', 'scontrol', 'sacct'].includes(f) && !existsSync(path.join(bin, f))) symlinkSync(path.join(d, f), path.join(bin, f));
      }
    }
    const before = refState(repo);
    const r = await run(repo, ['--host', 'here', '--', 'true'], { PATH: bin });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^error: sbatch is not on PATH on this machine/);
    assert.equal(refState(repo), before, 'nothing was written');
  });

  it('a time limit reached is failed, with TIMEOUT recorded', async () => {
    assert.ok(timeLimit, 'started above');
    const w = await run(timeLimit.repo, ['wait', timeLimit.id]);
    assert.notEqual(w.code, 0);
    const j = await showJson(timeLimit.repo, timeLimit.id);
    assert.equal(j.status, 'failed', JSON.stringify(j));
    assert.match(j.error, /Slurm: TIMEOUT \(the time limit was reached\)/);
    assert.equal((await ok(['logs', timeLimit.id], { cwd: timeLimit.repo })).stdout, 'begun\n');
  });

  it('a recycled job id (cluster state wiped) is never taken for ours; without accounting the run becomes lost', async () => {
    const { repo } = clusterRepo('recycled');
    await slurm.wipe();
    const { id, job } = await startAndKill(repo, ['--host', 'here', '--run-arg', 'sbatch=["--begin=now+3600"]', '--', 'true']);
    await slurm.wipe();
    // Someone else's job now has the same id (ids restart at 1; sbatch --test-only takes one too, so submit until it comes).
    let other = '';
    for (let i = 0; i < 20 && other !== job; i++) {
      if (other) slurm.cmd('scancel', [other]);
      other = slurm.cmd('sbatch', ['--parsable', '--output=/dev/null', '--job-name=someone-else', '--wrap', 'sleep 120']).trim();
    }
    assert.equal(other, job, 'the id repeats');
    const w = await run(repo, ['wait', id]);
    assert.notEqual(w.code, 0);
    const j = await showJson(repo, id);
    assert.equal(j.status, 'lost', JSON.stringify(j));
    assert.match(j.error, new RegExp(`Slurm no longer knows job ${job} as ours`));
    // Left alone: not cancelled. Running or still pending (the node may not be back from the wipe yet).
    assert.match(jobState(other) ?? '', /^(RUNNING|PENDING)$/, 'the other job was left alone');
    slurm.cmd('scancel', [other]);
  });
});

describe('the Slurm executor with accounting (sacct)', function () {
  this.timeout(300000);
  let slurm: SlurmCluster;
  before(async function () {
    if (!slurmAvailable(this, { accounting: true })) return;
    slurm = await slurmCluster({ accounting: true });
  });

  it("fills in what squeue no longer shows: a job cancelled by someone else, then forgotten by the controller, is recorded cancelled", async () => {
    const dir = `/tmp/git-run-slurm-acct-${process.pid}`;
    const repo = makeRepo('slurm-acct', { '.runconfig': JSON.stringify({ hosts: { here: { type: 'slurm', remote_dir: dir } } }) });
    const env = { SLURM_CONF: slurm.conf };
    let child: ChildProcess | null = null;
    const done = gitRun(['--host', 'here', '--run-arg', 'sbatch=["--begin=now+3600"]', '--', 'true'], { cwd: repo, env, onSpawn: (c) => (child = c) });
    const id = await until('the run is published', () => runIds(repo)[0], 60000);
    const job = await until('the job is recorded', async () => (await showJson(repo, id)).job?.id as string | undefined, 60000);
    child!.kill('SIGKILL');
    await done;
    slurm.cmd('scancel', [job]);
    await until('accounting has the cancel', () => /CANCELLED/.test(slurm.cmd('sacct', ['-n', '-P', '-X', '-j', job, '-o', 'State'])), 60000);
    await slurm.wipe();
    assert.equal(slurm.job(job), null, 'the controller forgot the job');
    const w = await gitRun(['wait', id], { cwd: repo, env });
    assert.notEqual(w.code, 0);
    const j = await showJson(repo, id);
    assert.equal(j.status, 'cancelled', JSON.stringify(j));
    assert.match(j.error, /Slurm: CANCELLED/);
    rmSync(dir, { recursive: true, force: true });
  });
});
