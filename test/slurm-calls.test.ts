import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, gitRun, git, showJson, tmpdir, until } from './helpers.js';
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
      // CALLS_LOG (when set) takes one command's calls apart from its supervisors'.
      writeFileSync(path.join(bin, name), `#!/bin/sh\nprintf '%s %s\\n' ${name} "$*" >> "\${CALLS_LOG:-${log}}"\nexec ${real} "$@"\n`);
      chmodSync(path.join(bin, name), 0o755);
    }
  });
  after(() => {
    for (const d of cleanup) rmSync(d, { recursive: true, force: true });
  });

  const sweepRepo = (label: string, n: number, command: string[]) => {
    const dir = `/tmp/git-run-slurm-calls-${label}-${process.pid}`;
    cleanup.push(dir);
    return makeRepo(`slurm-calls-${label}`, {
      'sweep.json': JSON.stringify({ command, params: { x: { values: Array.from({ length: n }, (_, i) => i) } } }),
      '.runconfig': JSON.stringify({ hosts: { here: { type: 'slurm', remote_dir: dir } } }),
    });
  };
  const run = (repo: string, args: string[], env: NodeJS.ProcessEnv = {}) => gitRun(args, { cwd: repo, env: { SLURM_CONF: slurm.conf, PATH: `${bin}:${process.env.PATH}`, ...env } });
  const calls = (name: string) => readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith(`${name} `));
  /** Submit a sweep in the background; its group and children once every child is recorded with its job. */
  async function submitted(repo: string, n: number, extra: string[] = []): Promise<{ group: string; children: Array<{ id: string; job: string }> }> {
    const r = await run(repo, ['submit', 'sweep.json', '-d', '--host', 'here', ...extra]);
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
      // An answer serves a process for ONE_SHOT_FRESH (10 s): a status slowed past that by a loaded machine may ask once more per 10 s, never per run.
      const allowed = 1 + Math.floor(took / 10_000);
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
    for (const { id } of children) await until(`${id.slice(0, 12)} recorded`, async () => (await showJson(repo, id)).status === 'cancelled', 120000);
  });
});
