import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, gitRun, ok, showJson, git, runIds, writeFiles, tmpdir, until, daemonPidOf as pidOf, aliveProcess as alive } from './helpers.js';
import { startSshd, sshdAvailable, type Sshd } from './sshd.js';

/** Every run appends "<run id>" to this file when it starts: a run executed twice shows twice. Parameters: s (seconds to sleep), w (a file to wait for), x (the exit code). */
const TRACE = `echo "$GIT_RUN_ID" >> "$TRACE"; sleep "\${GIT_RUN_PARAM_s:-0}"; while [ -n "\${GIT_RUN_PARAM_w:-}" ] && [ ! -e "$GIT_RUN_PARAM_w" ]; do sleep 0.05; done; echo done > out.txt; exit "\${GIT_RUN_PARAM_x:-0}"\n`;


async function startDaemon(repo: string, env: Record<string, string> = {}): Promise<number> {
  await ok(['daemon', 'start'], { cwd: repo, env });
  return pidOf(repo)!;
}

async function stopDaemon(repo: string): Promise<void> {
  if (alive(pidOf(repo))) await ok(['daemon', 'stop'], { cwd: repo });
}

/** The runs of a repository with their start order, each checked to be recorded exactly once. */
async function recorded(repo: string) {
  const views = await Promise.all(runIds(repo).map((id) => showJson(repo, id)));
  for (const v of views) {
    // One chain: submitted, started at most once, finished at most once.
    const msgs = git(repo, 'log', '--format=%s', `refs/runs/${v.id}`).split('\n');
    assert.ok(msgs.filter((m) => m.startsWith('started')).length <= 1, `${v.id} started once`);
    assert.ok(msgs.filter((m) => /^(succeeded|failed|cancelled|lost)/.test(m)).length <= 1, `${v.id} finished once`);
  }
  return views;
}

describe('the daemon and its queue', function () {
  this.timeout(120000);
  const repos: string[] = [];
  afterEach(async () => {
    for (const r of repos.splice(0)) {
      const pid = pidOf(r);
      if (alive(pid)) process.kill(pid!, 'SIGKILL');
    }
  });

  const queueRepo = (label: string, maxParallel: number) => {
    const trace = path.join(tmpdir(`${label}-trace`), 'trace');
    const repo = makeRepo(label, {
      'job.sh': TRACE,
      '.runconfig': JSON.stringify({ hosts: { local: { type: 'local', max_parallel: maxParallel } } }),
    });
    repos.push(repo);
    return { repo, trace, env: { TRACE: trace } };
  };

  it('start, status, log, stop; one daemon per repository; clear errors', async () => {
    const { repo } = queueRepo('daemon-basic', 2);
    const stopped = await gitRun(['daemon', 'stop'], { cwd: repo });
    assert.equal(stopped.code, 2);
    assert.match(stopped.stderr, /no git-run daemon runs for this repository/);
    const pid = await startDaemon(repo);
    assert.ok(alive(pid));
    const again = await gitRun(['daemon', 'start'], { cwd: repo });
    assert.equal(again.code, 2);
    assert.match(again.stderr, new RegExp(`already runs for this repository \\(pid ${pid}`));
    assert.match((await ok(['daemon', 'status'], { cwd: repo })).stdout, new RegExp(`^daemon: running \\(pid ${pid}`));
    assert.match((await ok(['daemon', 'log'], { cwd: repo })).stdout, new RegExp(`daemon ${pid} started`));
    const bad = await gitRun(['daemon', 'restart'], { cwd: repo });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown daemon action 'restart'/);
    await ok(['daemon', 'stop'], { cwd: repo });
    assert.ok(!alive(pid));
    assert.match((await ok(['daemon', 'status'], { cwd: repo })).stdout, /^daemon: not running/);
  });

  it('holds runs beyond max_parallel as queued and starts them first come, first served per child across groups', async () => {
    const { repo, trace, env } = queueRepo('daemon-fair', 1);
    writeFileSync(path.join(repo, 'a.json'), JSON.stringify({ command: ['sh', 'job.sh'], name: 'A', params: { k: { values: [1, 2, 3] } } }));
    writeFileSync(path.join(repo, 'b.json'), JSON.stringify({ command: ['sh', 'job.sh'], name: 'B', params: { k: { values: [1, 2, 3] } } }));
    await startDaemon(repo, env);
    // A first run that lasts until the test lets it go (a file appears), so that everything else queues
    // behind it whatever the machine's load: waiting on a sleep made this test read a moment it cannot control.
    const go = path.join(path.dirname(trace), 'go');
    await ok(['-d', '-p', `w=${go}`, '--', 'sh', 'job.sh'], { cwd: repo, env });
    const first = runIds(repo)[0]!;
    await until('the first run started by the daemon', async () => (await showJson(repo, first)).status === 'running' || null, 60000);
    const a = JSON.parse((await ok(['submit', '-d', '--json', 'a.json'], { cwd: repo, env })).stdout);
    const b = JSON.parse((await ok(['submit', '-d', '--json', 'b.json'], { cwd: repo, env })).stdout);
    const status = (await ok(['status'], { cwd: repo })).stdout;
    assert.match(status, /local: 1\/1 running, 6 queued/);
    writeFileSync(go, '');
    await until('all ran', () => existsSync(trace) && readFileSync(trace, 'utf8').trim().split('\n').length === 7, 60000);
    await until('all recorded', async () => (await recorded(repo)).filter((v) => v.kind === 'run').every((v) => v.status === 'succeeded') || null, 30000);
    const order = readFileSync(trace, 'utf8').trim().split('\n').slice(1);
    const tag = (id: string) => `${a.children.includes(id) ? 'A' : 'B'}${(a.children.includes(id) ? a.children : b.children).indexOf(id) + 1}`;
    assert.deepEqual(order.map(tag), ['A1', 'B1', 'A2', 'B2', 'A3', 'B3']);
    // Never two at once on a host of max_parallel 1.
    const spans = (await recorded(repo)).filter((v) => v.kind === 'run').map((v) => [Date.parse(v.startedAt), Date.parse(v.endedAt)] as const).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i]![0] >= spans[i - 1]![1], 'runs did not overlap');
  });

  for (const point of ['daemon:before-dispatch', 'daemon:after-dispatch', 'outputs', 'record']) {
    it(`SIGKILLed at ${point}: after a restart every run is recorded once, none ran twice, the order is kept`, async () => {
      const { repo, trace, env } = queueRepo(`daemon-crash-${point.replace(/\W/g, '-')}`, 1);
      // The daemon is armed: the first time it reaches the point it dies.
      await startDaemon(repo, { ...env, GIT_RUN_FAILPOINT: point });
      const pid = pidOf(repo)!;
      // Three runs queued at once (a sweep), so their order is known.
      writeFileSync(path.join(repo, 'd.json'), JSON.stringify({ command: ['sh', 'job.sh'], params: { k: { values: [1, 2, 3] } } }));
      const ids: string[] = JSON.parse((await ok(['submit', '-d', '--json', 'd.json'], { cwd: repo, env })).stdout).children;
      await until('the daemon died at the crash point', () => !alive(pid) || null, 30000);
      await startDaemon(repo, env);
      await until('all finished', async () => (await recorded(repo)).every((v) => ['succeeded', 'lost'].includes(v.status)) || null, 60000);
      const views = await recorded(repo);
      const lines = readFileSync(trace, 'utf8').trim().split('\n');
      assert.equal(new Set(lines).size, lines.length, `no run executed twice: ${lines.join(' ')}`);
      assert.deepEqual(lines, ids.filter((id) => lines.includes(id)), 'in submission order');
      for (const v of views) assert.equal(v.status, 'succeeded', `${v.id}: ${v.error}`);
      assert.deepEqual(lines, ids, 'each ran once, in order');
      assert.equal(lines.length, 3);
      await stopDaemon(repo);
    });
  }

  it('SIGKILLed while its runs\' commands run: they finish, and the next look records their true exit codes', async () => {
    const { repo, trace, env } = queueRepo('daemon-killed-running', 2);
    const go = path.join(path.dirname(trace), 'go');
    writeFileSync(path.join(repo, 'k.json'), JSON.stringify({ command: ['sh', 'job.sh'], params: { x: { values: [0, 3] }, w: go } }));
    const pid = await startDaemon(repo, env);
    const ids: string[] = JSON.parse((await ok(['submit', '-d', '--json', 'k.json'], { cwd: repo, env })).stdout).children;
    const dirs = await Promise.all(
      ids.map(async (id) => {
        await until(`${id} started by the daemon`, async () => (await showJson(repo, id)).status === 'running' || null, 60000);
        const dir = JSON.parse(git(repo, 'show', `refs/runs/${id}:state.json`)).handle.controlDir as string;
        await until(`${id}'s command started`, () => existsSync(path.join(dir, 'pid')) || null);
        return dir;
      }),
    );
    process.kill(pid, 'SIGKILL');
    await until('the daemon is gone', () => !alive(pid) || null);
    writeFileSync(go, '');
    await until('both commands ended', () => dirs.every((d) => existsSync(path.join(d, 'exit.json'))) || null, 60000);
    // No daemon and no supervisor is left: wait records them from their exit records.
    const w = await gitRun(['wait', ...ids], { cwd: repo });
    assert.equal(w.code, 1, 'one failed');
    const views = await recorded(repo);
    const byId = new Map(views.map((v) => [v.id, v]));
    assert.deepEqual(ids.map((id) => [byId.get(id)!.status, byId.get(id)!.exitCode]), [['succeeded', 0], ['failed', 3]]);
    for (const id of ids) assert.deepEqual(byId.get(id)!.outputs.map((o: any) => o.path), ['out.txt']);
  });

  it('schedules: fire against a branch tip, overlapping ticks are skipped, bad expressions and branches are reported', async () => {
    // The scheduled run lasts until the test lets it go (a file appears): later ticks overlap it whatever the load.
    const go = path.join(tmpdir('daemon-cron-go'), 'go');
    const repo = makeRepo('daemon-cron', {
      'slow.sh': `while [ ! -e '${go}' ]; do sleep 0.05; done\n`,
      '.runconfig': JSON.stringify({
        experiments: {
          tick: { command: ['sh', 'slow.sh'], on: { schedule: '* * * * * *', branch: 'main' } },
          broken: { command: ['true'], on: { schedule: '61 * * * *' } },
          nobranch: { command: ['true'], on: { schedule: '* * * * * *', branch: 'nope' } },
        },
      }),
    });
    repos.push(repo);
    const head = git(repo, 'rev-parse', 'HEAD');
    writeFiles(repo, { 'slow.sh': 'echo uncommitted\n' });
    await startDaemon(repo);
    await until('a scheduled run', () => runIds(repo).length >= 1 || null, 60000);
    const log = await until('a tick skipped and the unknown branch reported', async () => {
      const text = (await ok(['daemon', 'log'], { cwd: repo })).stdout;
      return /schedule tick: tick at .* skipped/.test(text) && /schedule nobranch: tick at/.test(text) ? text : null;
    }, 60000);
    assert.match(log, /schedule not started: experiments\.broken\.on\.schedule: '61 \* \* \* \*' is not a valid cron expression/);
    assert.match(log, /schedule nobranch: tick at .*: unknown branch 'nope': nothing submitted/);
    assert.match(log, /schedule tick: tick at .* skipped: the runs of the tick at .* have not ended/);
    const views = await Promise.all(runIds(repo).map((id) => showJson(repo, id)));
    assert.equal(views.length, 1, 'one run while the first had not ended');
    assert.equal(views[0]!.code.commit, head, 'the branch tip, not the work tree');
    assert.equal(views[0]!.code.dirty, false);
    const st = (await ok(['daemon', 'status'], { cwd: repo })).stdout;
    assert.match(st, /schedule tick: '\* \* \* \* \* \*' on main, last tick/);
    assert.match(st, /problem: experiments\.broken\.on\.schedule/);
    writeFileSync(go, '');
    await stopDaemon(repo);
  });

  it('reports ticks missed while no daemon ran, and keeps its last good .runconfig when it breaks', async () => {
    const repo = makeRepo('daemon-missed', {
      '.runconfig': JSON.stringify({ experiments: { nightly: { command: ['true'], on: { schedule: '0 * * * *', branch: 'main' } } } }),
    });
    repos.push(repo);
    const dir = path.join(repo, '.git', 'git-run', 'daemon');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'schedules.json'), JSON.stringify({ ticks: {}, aliveAt: new Date(Date.now() - 5 * 3600_000).toISOString() }));
    await startDaemon(repo);
    await until('the report', async () => /schedule nightly: MISSED [45] tick\(s\) while no daemon ran/.test((await ok(['daemon', 'log'], { cwd: repo })).stdout) || null);
    writeFileSync(path.join(repo, '.runconfig'), '{ "hosts": ');
    await until('the error logged', async () => /\.runconfig is broken; keeping the last good configuration/.test((await ok(['daemon', 'log'], { cwd: repo })).stdout) || null);
    assert.ok(alive(pidOf(repo)), 'still running');
    await stopDaemon(repo);
  });

  it('without a daemon, a detached submission that takes its host past max_parallel says so', async () => {
    const { repo, trace, env } = queueRepo('nodaemon-max-parallel', 1);
    const go = path.join(path.dirname(trace), 'go');
    const first = await ok(['-d', '-p', `w=${go}`, '--', 'sh', 'job.sh'], { cwd: repo, env });
    assert.doesNotMatch(first.stderr, /max_parallel/);
    const id = first.stdout.trim();
    await until('the first run running', async () => (await showJson(repo, id)).status === 'running' || null, 60000);
    const second = await ok(['-d', '--', 'sh', 'job.sh'], { cwd: repo, env });
    assert.match(second.stderr, /git-run: host local already runs 1 and this starts 1, beyond its max_parallel 1: without a daemon, max_parallel holds within one submission only \(`git run daemon start` queues detached runs until there is room\)/);
    writeFileSync(go, '');
    const other = second.stdout.trim();
    await until('both recorded', async () => ((await showJson(repo, id)).status === 'succeeded' && (await showJson(repo, other)).status === 'succeeded') || null, 60000);
  });

  it('without a daemon nothing waits: detached runs have their own supervisors', async () => {
    const { repo, env } = queueRepo('daemon-none', 1);
    const id = (await ok(['-d', '--', 'sh', 'job.sh'], { cwd: repo, env })).stdout.trim();
    await ok(['wait', id], { cwd: repo });
    assert.equal((await showJson(repo, id)).status, 'succeeded');
  });
});

describe('the daemon with a remote host (a real sshd on 127.0.0.1)', function () {
  this.timeout(120000);
  let sshd: Sshd;
  before(async function () {
    if (!sshdAvailable(this)) return;
    sshd = await startSshd();
  });
  after(() => sshd?.stop());

  it('SIGKILLed while fetching a remote run\'s outputs: the restarted daemon reattaches and records it once', async () => {
    const trace = path.join(tmpdir('daemon-ssh-trace'), 'trace');
    const remoteDir = `/tmp/git-run-remote-daemon-${process.pid}`;
    const repo = makeRepo('daemon-ssh', {
      'job.sh': TRACE,
      '.runconfig': JSON.stringify({ hosts: { box: { type: 'ssh', host: 'testhost', ssh_config: sshd.config, remote_dir: remoteDir, max_parallel: 1 } } }),
    });
    await startDaemon(repo, { GIT_RUN_FAILPOINT: 'outputs' });
    const pid = pidOf(repo)!;
    // The remote command sees TRACE through the run's env: a definition carries it.
    writeFileSync(path.join(repo, 'd.json'), JSON.stringify({ command: ['sh', 'job.sh'], env: { TRACE: trace }, host: 'box' }));
    const id = JSON.parse((await ok(['submit', '-d', '--json', 'd.json'], { cwd: repo })).stdout).id;
    await until('the daemon died fetching outputs', () => !alive(pid) || null, 30000);
    await startDaemon(repo);
    await until('recorded', async () => (await showJson(repo, id)).status === 'succeeded' || null, 60000);
    const j = await showJson(repo, id);
    assert.deepEqual(j.outputs.map((o: any) => o.path), ['out.txt']);
    assert.equal(readFileSync(trace, 'utf8').trim(), id, 'ran once');
    await recorded(repo);
    await stopDaemon(repo);
  });
});
