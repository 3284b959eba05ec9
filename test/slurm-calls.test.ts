import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { makeRepo, gitRun, git, runIds, showJson, tmpdir, until } from './helpers.js';
import { slurmAvailable, slurmCluster, type SlurmCluster } from './slurmd.js';

/**
 * How many scheduler calls git-run makes for many Slurm runs (issue 13):
 * wrappers named scancel and squeue, first on git-run's PATH, log each call
 * and hand it to the real command, on a real one-node cluster (test/slurmd.ts).
 */
describe('Slurm scheduler calls for many runs (a real cluster on 127.0.0.1)', function () {
  this.timeout(300000);
  let slurm: SlurmCluster;
  let bin: string;
  let log: string;
  const cleanup: string[] = [];
  before(async function () {
    if (!slurmAvailable(this)) return;
    slurm = await slurmCluster();
    const root = tmpdir('slurm-calls');
    bin = path.join(root, 'bin');
    log = path.join(root, 'calls.log');
    mkdirSync(bin);
    writeFileSync(log, '');
    for (const name of ['scancel', 'squeue']) {
      const real = ['/usr/bin', '/usr/local/bin'].map((d) => path.join(d, name)).find((p) => existsSync(p));
      assert.ok(real, `${name} not found`);
      // CALLS_LOG (when set) takes one command's calls apart from its supervisors'. Each line ends with when (@seconds).
      writeFileSync(path.join(bin, name), `#!/bin/sh\nprintf '%s %s @%s\\n' ${name} "$*" "$(date +%s.%N)" >> "\${CALLS_LOG:-${log}}"\nexec ${real} "$@"\n`);
      chmodSync(path.join(bin, name), 0o755);
    }
  });
  after(() => {
    for (const d of cleanup) rmSync(d, { recursive: true, force: true });
  });

  const sweepRepo = (label: string, n: number, command: string[], extra: Record<string, unknown> = {}) => {
    const dir = `/tmp/git-run-slurm-calls-${label}-${process.pid}`;
    cleanup.push(dir);
    return makeRepo(`slurm-calls-${label}`, {
      'sweep.json': JSON.stringify({ command, params: { x: { values: Array.from({ length: n }, (_, i) => i) } }, ...extra }),
      '.runconfig': JSON.stringify({ hosts: { here: { type: 'slurm', remote_dir: dir } } }),
    });
  };
  const run = (repo: string, args: string[], env: NodeJS.ProcessEnv = {}) => gitRun(args, { cwd: repo, env: { SLURM_CONF: slurm.conf, PATH: `${bin}:${process.env.PATH}`, ...env } });
  const calls = (name: string, file = log) => readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith(`${name} `));
  /** When each logged call was made (ms). */
  const times = (lines: string[]) => lines.map((l) => Number(/ @(\d+\.\d+)$/.exec(l)?.[1]) * 1000);
  /** The most calls within any `ms` (a sliding window). */
  const most = (at: number[], ms: number) => Math.max(0, ...at.map((t) => at.filter((u) => u >= t && u - t < ms).length));
  /** Submit a sweep in the background; its group and children once every child is recorded with its job. */
  async function submitted(repo: string, n: number, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ group: string; children: Array<{ id: string; job: string }> }> {
    const r = await run(repo, ['submit', 'sweep.json', '-d', '--host', 'here', ...extra], env);
    assert.equal(r.code, 0, r.stderr);
    const group = r.stdout.trim().split('\n').pop()!;
    const ids = await until('the group lists its children', async () => ((await showJson(repo, group)).children as string[] | undefined)?.length === n && (await showJson(repo, group)).children, 60000);
    const children = await until(
      'every child is recorded with its job',
      async () => {
        const all = await Promise.all(ids.map(async (id: string) => ({ id, job: (await showJson(repo, id)).job?.id as string | undefined })));
        return all.every((c) => c.job) ? (all as Array<{ id: string; job: string }>) : null;
      },
      120000,
    );
    return { group, children };
  }

  it('`git run cancel <group>` of a sweep calls scancel once for the whole array; every child ends cancelled', async () => {
    const repo = sweepRepo('cancel', 4, ['sleep', '300']);
    const { group, children } = await submitted(repo, 4);
    assert.equal(new Set(children.map((c) => c.job.split('_')[0])).size, 1, 'one array');
    const before = calls('scancel').length;
    const c = await run(repo, ['cancel', group]);
    assert.equal(c.code, 0, c.stderr);
    for (const { id } of children) await until(`${id.slice(0, 12)} recorded`, async () => (await showJson(repo, id)).status !== 'running', 120000);
    for (const { id } of children) {
      const j = await showJson(repo, id);
      assert.equal(j.status, 'cancelled', JSON.stringify(j));
    }
    assert.equal(slurm.cmd('squeue', ['-h', '-o', '%i']).trim(), '', 'no job left in the queue');
    const made = calls('scancel').slice(before);
    assert.equal(made.length, 1, `scancel calls:\n${made.join('\n')}`);
    for (const { job } of children) assert.ok(made[0]!.split(' ').includes(job), `${job} in ${made[0]}`);
  });

  it('`git run status` over many Slurm runs of one host makes ONE squeue call, followed or not, and shows every queued one with its reason', async () => {
    const n = 8;
    const repo = sweepRepo('status', n, ['true']);
    // --begin keeps every job pending for an hour, whatever the machine's speed: the test controls the state.
    const { group, children } = await submitted(repo, n, ['--run-arg', 'sbatch=["--begin=now+3600"]']);
    let k = 0;
    /** One status, its own calls counted apart; it must make exactly one squeue call, whatever it shows. */
    const status = async () => {
      const own = path.join(path.dirname(log), `status-${k++}.log`);
      writeFileSync(own, '');
      const t0 = Date.now();
      const r = await run(repo, ['status'], { CALLS_LOG: own });
      const took = Date.now() - t0;
      assert.equal(r.code, 0, r.stderr);
      const made = readFileSync(own, 'utf8').split('\n').filter((l) => l.startsWith('squeue '));
      // An answer serves a process for ONE_SHOT_FRESH (30 s): a status slowed past that by a loaded machine may ask once more per 30 s, never per run.
      const allowed = 1 + Math.floor(took / 30_000);
      assert.ok(made.length >= 1 && made.length <= allowed, `squeue calls of one status over ${n} runs (${took} ms, at most ${allowed}):\n${made.join('\n')}`);
      return r.stdout;
    };
    const allQueued = (out: string) => children.every(({ id }) => out.split('\n').some((l) => l.startsWith(id.slice(0, 12)) && /\(queued: PENDING, BeginTime\)/.test(l)));
    // Followed by their supervisor (alive): status only asks what each job is doing.
    await until('status shows every child queued (BeginTime)', async () => allQueued(await status()), 60000);
    // Nobody follows them any more: status also looks for their ends (the exit files), still with one squeue.
    const sup = JSON.parse(git(repo, 'show', `refs/runs/${children[0]!.id}:state.json`)).handle.supervisor.pid as number;
    process.kill(sup, 'SIGKILL');
    await until('the supervisor is gone', () => { try { process.kill(sup, 0); return false; } catch { return true; } }, 60000);
    await until('status (nobody following) shows every child queued (BeginTime)', async () => allQueued(await status()), 60000);
    const c = await run(repo, ['cancel', group]);
    assert.equal(c.code, 0, c.stderr);
    // Nobody follows them: a `show` that can ask Slurm records what `cancel` did not yet (scancel's effect may lag it).
    const shown = async (id: string) => JSON.parse((await run(repo, ['show', '--json', id])).stdout) as Record<string, any>;
    for (const { id } of children) await until(`${id.slice(0, 12)} recorded`, async () => (await shown(id)).status === 'cancelled', 120000);
  });

  it('while jobs end and start all the time, the supervisor asks Slurm at most twice in any minute (the submission left out); wait adds nothing', async () => {
    // 16 children of 5 s, 2 at a time: for 40 s or more (longer on a loaded machine) a job ends and another starts every few seconds.
    const n = 16;
    const repo = sweepRepo('churn', n, ['sleep', '5'], { max_parallel: 2 });
    const supLog = path.join(path.dirname(log), 'churn-supervisor.log');
    const waitLog = path.join(path.dirname(log), 'churn-wait.log');
    writeFileSync(supLog, '');
    writeFileSync(waitLog, '');
    // The detached supervisor inherits the submission's CALLS_LOG: its calls are counted apart.
    const { group, children } = await submitted(repo, n, [], { CALLS_LOG: supLog });
    // From here on every child has its job: what the supervisor asks now is the watching, not the submission.
    const from = Date.now();
    const w = await run(repo, ['wait', group], { CALLS_LOG: waitLog });
    assert.equal(w.code, 0, w.stderr);
    for (const { id } of children) assert.equal((await showJson(repo, id)).status, 'succeeded', id);
    const watching = times(calls('squeue', supLog)).filter((t) => t >= from);
    const waiting = times(calls('squeue', waitLog));
    const minutes = (Date.now() - from) / 60000;
    // The budget is 2 calls in any 60 s; counted over 55 s windows, as the log's times lag the decisions by a process start.
    assert.ok(most(watching, 55000) <= 2, `supervisor: ${watching.length} squeue calls in ${minutes.toFixed(2)} min, ${most(watching, 55000)} within 55 s:\n${calls('squeue', supLog).join('\n')}`);
    assert.ok(most(waiting, 55000) <= 2, `wait: ${waiting.length} squeue calls:\n${calls('squeue', waitLog).join('\n')}`);
  });

  it('`git run wait` on a job the controller forgot (no accounting) calls it lost after two squeue answers a few seconds apart', async () => {
    const dir = `/tmp/git-run-slurm-calls-vanish-${process.pid}`;
    cleanup.push(dir);
    const repo = makeRepo('slurm-calls-vanish', { '.runconfig': JSON.stringify({ hosts: { here: { type: 'slurm', remote_dir: dir } } }) });
    let child: ChildProcess | null = null;
    const env = { SLURM_CONF: slurm.conf, PATH: `${bin}:${process.env.PATH}` };
    // --begin keeps the job pending (no exit file can appear); the client, its only follower, is killed.
    const done = gitRun(['--host', 'here', '--run-arg', 'sbatch=["--begin=now+3600"]', '--', 'true'], { cwd: repo, env, onSpawn: (c) => (child = c) });
    const id = await until('the run is published', () => runIds(repo)[0], 60000);
    const job = await until('the run is recorded with its job', async () => (await showJson(repo, id)).job?.id as string | undefined, 60000);
    child!.kill('SIGKILL');
    await done;
    await slurm.wipe();
    assert.equal(slurm.job(job), null, 'the controller forgot the job');
    const own = path.join(path.dirname(log), 'vanish-wait.log');
    writeFileSync(own, '');
    const w = await run(repo, ['wait', id], { CALLS_LOG: own });
    assert.notEqual(w.code, 0);
    const j = await showJson(repo, id);
    assert.equal(j.status, 'lost', JSON.stringify(j));
    assert.match(j.error, new RegExp(`Slurm no longer knows job ${job} as ours`));
    // Absent from one answer, then from a second one a gap (2 s) later: lost. (It was 10 s or more: one answer served 10 s.)
    const at = times(calls('squeue', own));
    // (A third or more: squeue failed right after the controller's restart, which concludes nothing; not one a second either.)
    assert.ok(at.length >= 2 && at.length <= 6, `squeue calls of wait:\n${calls('squeue', own).join('\n')}`);
    assert.ok(at.at(-1)! - at.at(-2)! < 8000, `the two looks were ${((at.at(-1)! - at.at(-2)!) / 1000).toFixed(1)} s apart:\n${calls('squeue', own).join('\n')}`);
  });
});
