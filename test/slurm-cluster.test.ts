import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { slurmAvailable, slurmCluster, startSlurmCluster, type SlurmCluster } from './slurmd.js';
import { startSshd, type Sshd } from './sshd.js';

/**
 * GIT_RUN_TEST_SLURM_PORT (a base port, for a machine where only some ports
 * may be used): every port is taken from the base up, the accounting
 * database's included. First in this file: in a mocha process it is the
 * first to start the private mariadbd, which once took slurmctld's port.
 */
describe('the Slurm test cluster on ports from GIT_RUN_TEST_SLURM_PORT, with accounting', function () {
  this.timeout(300000);
  it('starts with distinct ports from the base, and sacct works', async function () {
    if (!slurmAvailable(this, { accounting: true })) return;
    const saved = process.env.GIT_RUN_TEST_SLURM_PORT;
    // A base unlikely to be another process's: 30000..49990, by pid.
    const base = 30000 + (process.pid % 2000) * 10;
    process.env.GIT_RUN_TEST_SLURM_PORT = String(base);
    let slurm: SlurmCluster;
    try {
      slurm = await startSlurmCluster({ accounting: true });
    } finally {
      if (saved === undefined) delete process.env.GIT_RUN_TEST_SLURM_PORT;
      else process.env.GIT_RUN_TEST_SLURM_PORT = saved;
    }
    try {
      const ports = Object.values(slurm.ports) as number[];
      assert.equal(ports.length, 4, JSON.stringify(slurm.ports));
      assert.equal(new Set(ports).size, 4, `distinct: ${JSON.stringify(slurm.ports)}`);
      for (const p of [slurm.ports.slurmctld, slurm.ports.slurmd, slurm.ports.slurmdbd!]) assert.ok(p >= base && p < base + 1000, `${p} from ${base}`);
      const id = slurm.cmd('sbatch', ['--parsable', '--output=/dev/null', '--wrap', 'exit 4']).trim();
      await slurm.waitJobEnd(id);
      const deadline = Date.now() + 60000;
      let line = '';
      while (!/FAILED/.test(line)) {
        assert.ok(Date.now() < deadline, `sacct never showed job ${id} as FAILED: '${line}'\n${slurm.logTail(20)}`);
        await new Promise((r) => setTimeout(r, 200));
        line = slurm.cmd('sacct', ['-n', '-P', '-X', '-j', id, '-o', 'JobID,State,ExitCode']).trim();
      }
      assert.equal(line, `${id}|FAILED|4:0`);
    } finally {
      await slurm.stop();
    }
  });
});

/** The test cluster itself (test/slurmd.ts): what the Slurm executor's tests stand on. */
describe('the Slurm test cluster (slurmctld + slurmd on 127.0.0.1)', function () {
  this.timeout(300000);
  let slurm: SlurmCluster;
  before(async function () {
    if (!slurmAvailable(this)) return;
    slurm = await slurmCluster();
  });

  const submit = (script: string) => slurm.cmd('sbatch', ['--parsable', '--output=/dev/null', '--wrap', script]).trim().split(';')[0];

  it('runs a job to COMPLETED, and exit 7 to FAILED ExitCode=7:0', async () => {
    const good = submit('true');
    const bad = submit('exit 7');
    assert.match(good, /^\d+$/);
    const g = await slurm.waitJobEnd(good);
    assert.equal(g.get('JobState'), 'COMPLETED');
    assert.equal(g.get('ExitCode'), '0:0');
    const b = await slurm.waitJobEnd(bad);
    assert.equal(b.get('JobState'), 'FAILED');
    assert.equal(b.get('ExitCode'), '7:0');
    // Finished jobs stay known to the controller (MinJobAge): the executor reads final states there without sacct.
    assert.equal(slurm.job(good)?.get('JobState'), 'COMPLETED');
    // And jobcomp.txt gets one line a finished job.
    const comp = readFileSync(path.join(slurm.dir, 'jobcomp.txt'), 'utf8');
    assert.match(comp, new RegExp(`JobId=${bad} .*JobState=FAILED`));
  });

  it('runs an array several at a time', async () => {
    const id = slurm.cmd('sbatch', ['--parsable', '--output=/dev/null', '--array=0-5', '--wrap', 'sleep 2']).trim();
    // Two or more running together: the node has CPUs for a sweep's children side by side.
    let most = 0;
    const deadline = Date.now() + 120000;
    for (;;) {
      const running = slurm.cmd('squeue', ['-h', '-j', id, '-t', 'RUNNING', '-o', '%i']).trim().split('\n').filter(Boolean).length;
      most = Math.max(most, running);
      if (most >= 2) break;
      assert.ok(Date.now() < deadline, `never two children running at once\n${slurm.cmd('squeue', [])}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    slurm.cmd('scancel', [id]);
    await slurm.waitQueueEmpty();
  });

  it('wipe clears the controller state so job ids repeat (a recycled id)', async () => {
    await slurm.wipe();
    const first = submit('true');
    await slurm.waitJobEnd(first);
    await slurm.wipe();
    const again = submit('true');
    assert.equal(again, first, 'the same id after a wipe');
    await slurm.waitJobEnd(again);
  });

  it('restart keeps the jobs: a job submitted before it ends after it', async () => {
    const id = submit('sleep 3');
    await slurm.restart();
    const j = await slurm.waitJobEnd(id);
    assert.equal(j.get('JobState'), 'COMPLETED');
  });

  it('is reachable over the real sshd: SLURM_CONF passed to sessions', async () => {
    let sshd: Sshd | undefined;
    try {
      sshd = await startSshd(undefined, { setEnv: { SLURM_CONF: slurm.conf } });
      const out = execFileSync('ssh', ['-F', sshd.config, 'testhost', 'sbatch --parsable --output=/dev/null --wrap "exit 3"'], { encoding: 'utf8' }).trim();
      const j = await slurm.waitJobEnd(out);
      assert.equal(j.get('ExitCode'), '3:0');
    } finally {
      sshd?.stop();
    }
  });
});

describe('the Slurm test cluster with accounting (slurmdbd + mariadbd)', function () {
  this.timeout(300000);
  let slurm: SlurmCluster;
  before(async function () {
    if (!slurmAvailable(this, { accounting: true })) return;
    slurm = await slurmCluster({ accounting: true });
  });

  it('sacct shows a finished job with its state and exit code', async () => {
    const id = slurm.cmd('sbatch', ['--parsable', '--output=/dev/null', '--wrap', 'exit 5']).trim();
    await slurm.waitJobEnd(id);
    // The controller sends the end to slurmdbd asynchronously: poll sacct for it.
    let line = '';
    const deadline = Date.now() + 60000;
    while (!/FAILED/.test(line)) {
      assert.ok(Date.now() < deadline, `sacct never showed job ${id} as FAILED: '${line}'\n${slurm.logTail(20)}`);
      await new Promise((r) => setTimeout(r, 200));
      line = slurm.cmd('sacct', ['-n', '-P', '-X', '-j', id, '-o', 'JobID,State,ExitCode']).trim();
    }
    assert.equal(line, `${id}|FAILED|5:0`);
  });
});
