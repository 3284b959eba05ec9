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
    const t0 = Date.now();
    const a = (await ok(['-d', '--', ...held], { cwd: repo })).stdout.trim();
    const b = (await ok(['-d', '--', ...ticker(3, 4)], { cwd: repo })).stdout.trim();
    assert.ok(Date.now() - t0 < 8000);
    assert.match(a, /^[0-9a-f]{40}$/);
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

  it('a run whose exit record exists but was never recorded in git is finished by the next reader', async () => {
    const repo = makeRepo('reattach', { 'a.txt': 'a' });
    // The command outlives its supervisor: kill the supervisor first, then let the command end by itself
    // and write the exit record as the supervisor would have (exit.json is the executor's contract).
    const id = (await ok(['-d', '--leave', 'all', '--', ...nodeCmd(`require('fs').writeFileSync('made.txt','m');setTimeout(()=>{},1500)`)], { cwd: repo })).stdout.trim();
    await until('running', async () => (await showJson(repo, id)).status === 'running');
    const state = JSON.parse(git(repo, 'show', `refs/runs/${id}:state.json`));
    const fs = await import('node:fs');
    const dir = state.handle.controlDir;
    await until('command started', () => fs.existsSync(path.join(dir, 'pid')));
    process.kill(state.handle.supervisorPid, 'SIGKILL');
    await until('command ended', () => {
      const { pid } = JSON.parse(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    fs.writeFileSync(path.join(dir, 'exit.json'), JSON.stringify({ exitCode: 0, signal: null, error: null, endedAt: new Date().toISOString() }));
    const j = await showJson(repo, id);
    assert.equal(j.status, 'succeeded');
    assert.deepEqual(j.outputs.map((o: any) => o.path), ['made.txt']);
    assert.ok(existsSync(path.join(dir, 'work')), '--leave all keeps it');
  });
});
