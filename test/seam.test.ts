import assert from 'node:assert/strict';
import { existsSync, rmSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, ok, showJson, until, git } from './helpers.js';
import { finalStatus, type Observed } from '../src/executors/status.js';

/** Every executor derives a run's final status here: the table of docs/decisions/0008-executor-seam.md. */
describe('a run\'s final status, from what its executor observed', () => {
  const exit = (code: number | null, more: Partial<{ signal: string; error: string; note: string }> = {}) => ({ code, signal: more.signal ?? null, error: more.error ?? null, note: more.note ?? null });
  const base: Observed = { started: true, exit: exit(0), cancelRequested: false, outputs: { collected: true } };
  const rows: Array<[string, Partial<Observed>, string, string | null | RegExp]> = [
    ['a clean exit with its outputs', {}, 'succeeded', null],
    ['a clean exit whose outputs could not be collected', { outputs: { collected: false, reason: 'its outputs could not be collected: work/ is gone' } }, 'failed', 'its outputs could not be collected: work/ is gone'],
    ['a non-zero exit', { exit: exit(3) }, 'failed', null],
    ['a non-zero exit, outputs missing too', { exit: exit(3), outputs: { collected: false, reason: 'the outputs were refused' } }, 'failed', 'the outputs were refused'],
    ['a clean exit with no word on its outputs', { outputs: null }, 'failed', 'its outputs were not collected'],
    ['a non-zero exit with an error', { exit: exit(127, { error: 'command not found: x' }) }, 'failed', 'command not found: x'],
    ['a shell\'s 128+n, with the executor\'s note', { exit: exit(137, { note: 'exit 137: killed by signal 9?' }) }, 'failed', 'exit 137: killed by signal 9?'],
    ['a signal', { exit: exit(null, { signal: 'SIGKILL' }) }, 'failed', null],
    ['exit 0 with an error (it could not start)', { exit: exit(0, { error: 'could not start: x' }) }, 'failed', 'could not start: x'],
    ['cancelled, then killed', { exit: exit(null, { signal: 'SIGTERM' }), cancelRequested: true }, 'cancelled', 'cancelled'],
    ['cancelled, non-zero exit', { exit: exit(143), cancelRequested: true }, 'cancelled', 'cancelled'],
    ['cancelled before it started (an exit record says so)', { exit: exit(null, { error: 'cancelled before it started' }), cancelRequested: true, outputs: null }, 'cancelled', 'cancelled before it started'],
    ['a cancel after a clean exit does not rewrite history', { cancelRequested: true }, 'succeeded', null],
    ['a cancel after a clean exit whose outputs are missing', { cancelRequested: true, outputs: { collected: false, reason: 'gone' } }, 'failed', 'gone'],
    ['no exit record, never started, cancel asked', { started: false, exit: null, outputs: null, cancelRequested: true }, 'cancelled', 'cancelled before it started'],
    ['no exit record, started, cancel asked', { exit: null, outputs: null, cancelRequested: true }, 'lost', 'the exit status was never recorded'],
    ['no exit record', { exit: null, outputs: null }, 'lost', 'the exit status was never recorded'],
    ['no exit record, with the executor\'s reason', { exit: null, outputs: null, lostReason: 'its supervisor stopped' }, 'lost', 'its supervisor stopped'],
  ];
  for (const [what, change, status, error] of rows) {
    it(`${what}: ${status}`, () => {
      const r = finalStatus({ ...base, ...change });
      assert.equal(r.status, status);
      if (error instanceof RegExp) assert.match(r.error ?? '', error);
      else assert.equal(r.error, error);
    });
  }
  it('never says succeeded without collected outputs, whatever else was observed', () => {
    for (const code of [0, 1, null]) {
      for (const cancelRequested of [false, true]) {
        for (const started of [false, true]) {
          for (const outputs of [null, { collected: false as const, reason: 'x' }]) {
            const r = finalStatus({ started, exit: code === null ? null : exit(code), cancelRequested, outputs });
            assert.notEqual(r.status, 'succeeded', JSON.stringify({ code, cancelRequested, started, outputs }));
          }
        }
      }
    }
  });
});

describe('outputs that cannot be collected never make a run succeeded (local)', () => {
  for (const gone of ['work', 'index']) {
    it(`the supervisor dies after exit.json; its run directory's ${gone} is removed; the next look records failed, with the reason`, async () => {
      const repo = makeRepo(`outputs-gone-${gone}`, { 'a.txt': 'a' });
      // The supervisor kills itself (SIGKILL) where it would collect the outputs: exit.json is written by then.
      const id = (await ok(['-d', '--', 'sh', '-c', 'echo made > out.txt'], { cwd: repo, env: { GIT_RUN_FAILPOINT: 'outputs' } })).stdout.trim();
      const dir = path.join(repo, '.git', 'git-run', 'runs', id);
      await until('exit.json written and the supervisor gone', () => {
        if (!existsSync(path.join(dir, 'exit.json'))) return null;
        const sup = JSON.parse(readFileSync(path.join(dir, 'supervisor'), 'utf8')) as { pid: number };
        try {
          process.kill(sup.pid, 0);
          return null;
        } catch {
          return true;
        }
      });
      assert.ok(existsSync(path.join(dir, 'work', 'out.txt')), 'the command ran');
      rmSync(path.join(dir, gone), { recursive: true, force: true });
      const j = await showJson(repo, id);
      assert.equal(j.status, 'failed');
      assert.equal(j.exitCode, 0);
      assert.match(JSON.stringify(j), new RegExp(`its outputs could not be collected: its run directory's ${gone === 'work' ? 'work/' : 'index'} is gone`));
      const shown = await ok(['show', id], { cwd: repo });
      assert.match(shown.stdout, /failed/);
      assert.match(shown.stdout + shown.stderr, /its outputs could not be collected/);
      // result.json in the run's commit says so too.
      const result = JSON.parse(git(repo, 'show', `refs/runs/${id}:result.json`));
      assert.equal(result.status, 'failed');
      assert.match(result.error, /could not be collected/);
    });
  }
});
