import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, gitRun, ok, showJson, git, runIds, until, sleep, nodeCmd } from './helpers.js';

/** A command that prints `tick N` every 100 ms, N times, then exits with `code`. */
const ticker = (n: number, code = 0) => nodeCmd(`let i=0;const t=setInterval(()=>{console.log('tick '+(++i));if(i>=${n}){clearInterval(t);process.exit(${code})}},100)`);

describe('run lifecycle', () => {
  it('-d prints the id at once; wait blocks until the end and reports failure', async () => {
    const repo = makeRepo('detach', { 'a.txt': 'a' });
    // The first run ticks only once the test lets it (a file appears), so it is still running when status looks, whatever the load.
    const go = path.join(repo, '.git', 'go');
    const held = nodeCmd(`const fs=require('fs');const w=setInterval(()=>{if(!fs.existsSync(${JSON.stringify(go)}))return;clearInterval(w);let i=0;const t=setInterval(()=>{console.log('tick '+(++i));if(i>=10){clearInterval(t);process.exit(0)}},100)},50)`);
    const a = (await ok(['-d', '--', ...held], { cwd: repo })).stdout.trim();
    const b = (await ok(['-d', '--', ...ticker(3, 4)], { cwd: repo })).stdout.trim();
    assert.match(a, /^[0-9a-f]{40}$/);
    // -d returned while its command cannot have ended (it waits for a file the test has not written): it did not wait.
    assert.ok(['queued', 'running'].includes((await showJson(repo, a)).status));
    const st = await ok(['status'], { cwd: repo });
    assert.match(st.stdout, new RegExp(a.slice(0, 12)));
    writeFileSync(go, '');
    const w = await gitRun(['wait', a.slice(0, 7), b.slice(0, 7)], { cwd: repo });
    assert.equal(w.code, 1, 'one run failed');
    assert.match(w.stdout, new RegExp(`${a.slice(0, 12)} succeeded`));
    assert.match(w.stdout, new RegExp(`${b.slice(0, 12)} failed`));
    assert.equal((await ok(['wait', a], { cwd: repo })).code, 0);
    assert.equal((await ok(['status'], { cwd: repo })).stdout, '');
    assert.equal((await ok(['logs', a], { cwd: repo })).stdout, Array.from({ length: 10 }, (_, i) => `tick ${i + 1}\n`).join(''));
  });

  it('logs -f streams a running run to its end, every line exactly once', async () => {
    const repo = makeRepo('follow', { 'a.txt': 'a' });
    const id = (await ok(['-d', '--', ...ticker(15)], { cwd: repo })).stdout.trim();
    await sleep(300);
    const f = await ok(['logs', '-f', id], { cwd: repo });
    assert.equal(f.stdout, Array.from({ length: 15 }, (_, i) => `tick ${i + 1}\n`).join(''));
    const e = await ok(['logs', '--stderr', id], { cwd: repo });
    assert.equal(e.stdout, '');
  });

  it('cancel stops a running run and records it as cancelled', async () => {
    const repo = makeRepo('cancel', { 'a.txt': 'a' });
    const id = (await ok(['-d', '--', 'sleep', '30'], { cwd: repo })).stdout.trim();
    await until('running', async () => (await showJson(repo, id)).status === 'running');
    const c = await ok(['cancel', id.slice(0, 10)], { cwd: repo });
    assert.match(c.stdout, /cancelled/);
    const j = await showJson(repo, id);
    assert.equal(j.status, 'cancelled');
    assert.equal(j.signal, 'SIGTERM');
    assert.equal((await gitRun(['wait', id], { cwd: repo })).code, 1);
  });

  it('cancel reaches the whole process group, and SIGKILLs what ignores SIGTERM', async () => {
    const repo = makeRepo('cancel-group', { 'a.txt': 'a' });
    const stubborn = nodeCmd(`process.on('SIGTERM',()=>{});require('child_process').spawn('sleep',['60'],{stdio:'inherit'});console.log('child started');setInterval(()=>{},1000)`);
    const id = (await ok(['-d', '--', ...stubborn], { cwd: repo })).stdout.trim();
    await until('child started', async () => (await gitRun(['logs', id], { cwd: repo })).stdout.includes('child started'));
    const pid = JSON.parse(git(repo, 'show', `refs/runs/${id}:state.json`)).handle.supervisorPid;
    const c = await ok(['cancel', '--grace', '1', id], { cwd: repo });
    assert.match(c.stdout, /cancelled/);
    const j = await showJson(repo, id);
    assert.equal(j.status, 'cancelled');
    assert.equal(j.signal, 'SIGKILL');
    assert.ok(pid > 0);
  });

  it('Ctrl-C on a foreground run cancels it, records it, and exits 130', async () => {
    const repo = makeRepo('ctrl-c', { 'a.txt': 'a' });
    let sent = false;
    const r = await gitRun(['--', ...ticker(300)], {
      cwd: repo,
      onSpawn: (child) => {
        child.stdout!.on('data', (d: Buffer) => {
          if (!sent && d.toString().includes('tick 2')) {
            sent = true;
            child.kill('SIGINT');
          }
        });
      },
    });
    assert.equal(r.code, 130);
    assert.match(r.stderr, /cancelling run/);
    const j = await showJson(repo, runIds(repo)[0]!);
    assert.equal(j.status, 'cancelled');
  });

  it('a run whose supervisor dies without an exit record becomes lost, never failed or succeeded', async () => {
    const repo = makeRepo('lost', { 'a.txt': 'a' });
    const id = (await ok(['-d', '--leave', 'all', '--', 'sleep', '30'], { cwd: repo })).stdout.trim();
    await until('running', async () => (await showJson(repo, id)).status === 'running');
    const state = JSON.parse(git(repo, 'show', `refs/runs/${id}:state.json`));
    await until('command started', () => existsSync(path.join(state.handle.controlDir, 'pid')));
    const cmd = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(path.join(state.handle.controlDir, 'pid'), 'utf8')));
    process.kill(state.handle.supervisorPid, 'SIGKILL');
    assert.equal((await showJson(repo, id)).status, 'running', 'the command is still alive');
    process.kill(-cmd.pid, 'SIGKILL');
    await until('lost', async () => (await showJson(repo, id)).status === 'lost');
    const j = await showJson(repo, id);
    assert.equal(j.exitCode, null);
    assert.match(j.error, /supervisor stopped/);
  });

  /** A command that waits for `go` to appear, writes made.txt, then exits with `code`. */
  const heldUntil = (go: string, code: number) => ['sh', '-c', `while [ ! -e "$1" ]; do sleep 0.05; done; echo made > made.txt; exit ${code}`, 'held', go];
  /** The run's state directory once its command has started, and its supervisor's pid. */
  const startedRun = async (repo: string, id: string) => {
    await until('running', async () => (await showJson(repo, id)).status === 'running');
    const { handle } = JSON.parse(git(repo, 'show', `refs/runs/${id}:state.json`));
    await until('command started', () => existsSync(path.join(handle.controlDir, 'pid')));
    return { dir: handle.controlDir as string, supervisor: handle.supervisorPid as number };
  };
  const gone = (pid: number) => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  };

  for (const code of [0, 5]) {
    it(`a -d run whose supervisor is SIGKILLed while the command runs is recorded with the command's true exit (${code}) once it ends`, async () => {
      const repo = makeRepo(`sup-killed-${code}`, { 'a.txt': 'a' });
      const go = path.join(repo, '.git', 'go');
      const id = (await ok(['-d', '--', ...heldUntil(go, code)], { cwd: repo })).stdout.trim();
      const { dir, supervisor } = await startedRun(repo, id);
      process.kill(supervisor, 'SIGKILL');
      await until('the supervisor is gone', () => gone(supervisor));
      // The command outlives its supervisor: still running, never lost.
      assert.match((await ok(['status'], { cwd: repo })).stdout, new RegExp(`${id.slice(0, 12)} running`));
      assert.equal((await showJson(repo, id)).status, 'running');
      writeFileSync(go, '');
      // wait records the end from the wrapper's exit.json: nothing else is left to tell it.
      const w = await gitRun(['wait', id], { cwd: repo });
      assert.equal(w.code, code === 0 ? 0 : 1);
      const j = await showJson(repo, id);
      assert.equal(j.status, code === 0 ? 'succeeded' : 'failed');
      assert.equal(j.exitCode, code);
      assert.equal(j.signal, null);
      assert.deepEqual(j.outputs.map((o: any) => o.path), ['made.txt']);
      assert.ok(!existsSync(dir), 'the run directory is removed once recorded (--leave none)');
      assert.equal((await ok(['status'], { cwd: repo })).stdout, '');
    });
  }

  it('an empty exit.json (the wrapper between its open and its one write) is not an end: the run stays running and gets its true exit', async () => {
    const repo = makeRepo('sup-empty-exit', { 'a.txt': 'a' });
    const go = path.join(repo, '.git', 'go');
    const id = (await ok(['-d', '--', ...heldUntil(go, 4)], { cwd: repo })).stdout.trim();
    const { dir, supervisor } = await startedRun(repo, id);
    process.kill(supervisor, 'SIGKILL');
    await until('the supervisor is gone', () => gone(supervisor));
    writeFileSync(path.join(dir, 'exit.json'), '');
    // Readers that took the file's existence for the end would record it now (lost, or failed without a status).
    assert.match((await ok(['status'], { cwd: repo })).stdout, new RegExp(`${id.slice(0, 12)} running`));
    assert.equal((await showJson(repo, id)).status, 'running');
    writeFileSync(go, '');
    assert.equal((await gitRun(['wait', id], { cwd: repo })).code, 1);
    const j = await showJson(repo, id);
    assert.equal(j.status, 'failed');
    assert.equal(j.exitCode, 4);
  });

  it('a run whose command ended while its live supervisor has not recorded it yet is not counted as running', async () => {
    const repo = makeRepo('sup-stopped', { 'a.txt': 'a', '.runconfig': JSON.stringify({ hosts: { local: { type: 'local', max_parallel: 2 } } }) });
    const go = path.join(repo, '.git', 'go');
    const id = (await ok(['-d', '--', ...heldUntil(go, 0)], { cwd: repo })).stdout.trim();
    const { dir, supervisor } = await startedRun(repo, id);
    assert.match((await ok(['status'], { cwd: repo })).stdout, /local: 1\/2 running, 0 queued/);
    // The supervisor is held still (alive, it is the one to record the end) while the command ends.
    process.kill(supervisor, 'SIGSTOP');
    try {
      writeFileSync(go, '');
      await until('the wrapper wrote exit.json', () => existsSync(path.join(dir, 'exit.json')));
      const st = (await ok(['status'], { cwd: repo })).stdout;
      assert.match(st, /local: 0\/2 running, 1 ended \(being recorded\), 0 queued/);
    } finally {
      process.kill(supervisor, 'SIGCONT');
    }
    assert.equal((await ok(['wait', id], { cwd: repo })).code, 0);
    assert.equal((await showJson(repo, id)).exitCode, 0);
  });

  it('the wrapper leaves the command its signals, output and exit status as a direct child would have them', async () => {
    const repo = makeRepo('wrapper-exact', { 'a.txt': 'a' });
    // No signal is ignored (a background job of sh would have SIGINT and SIGQUIT ignored; node resets them, grep does not).
    const ignored = /^SigIgn:\s*([0-9a-f]+)$/m.exec((await ok(['-q', '--', 'grep', '^SigIgn', '/proc/self/status'], { cwd: repo })).stdout);
    assert.ok(ignored);
    assert.equal(BigInt(`0x${ignored[1]}`), 0n);
    // stdin is empty, the arguments arrive as given, stdout, stderr and the exit status are the command's.
    const probe = nodeCmd(`const fs=require('fs');let i='';try{i=fs.readFileSync(0,'utf8')}catch{};process.stdout.write(JSON.stringify({stdin:i,argv:process.argv.slice(1)}));process.stderr.write('e\\n');process.exit(7)`);
    const r = await gitRun(['--', ...probe, 'a b', '$HOME', ''], { cwd: repo });
    assert.equal(r.code, 7);
    assert.deepEqual(JSON.parse(r.stdout), { stdin: '', argv: ['a b', '$HOME', ''] });
    assert.match(r.stderr, /^e\n/);
    // echo is /bin/echo, not the shell's builtin (which would turn \n into a newline in dash).
    assert.equal((await ok(['-q', '--', 'echo', 'a\\nb'], { cwd: repo })).stdout, 'a\\nb\n');
    const notExec = await gitRun(['--', './a.txt'], { cwd: repo });
    assert.equal(notExec.code, 126);
    assert.match(notExec.stderr, /git-run: \.\/a\.txt: permission denied/);
  });

});
