import assert from 'node:assert/strict';
/**
 * A full disk under the repository (a small tmpfs, mounted by the test: it
 * needs root, as CI and the development machines have): the run says so
 * (exit 2, no stack trace), queries answer from the index without writing,
 * and once space is freed the run is recorded lost, never succeeded.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { gitRun, ok, git, runIds, tmpdir } from './helpers.js';

describe('a full disk', function () {
  let mnt: string | null = null;
  before(function () {
    const dir = path.join(tmpdir('disk-full'), 'mnt');
    mkdirSync(dir);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'pipe' });
      mnt = dir;
    } catch (e) {
      if (process.env.CI) throw new Error(`CI must be able to mount a small tmpfs (as root): ${(e as Error).message}`);
      this.skip();
    }
  });
  after(() => {
    if (mnt) execFileSync('umount', [mnt]);
  });

  it('a run that fills it: exit 2 saying so, queries still answer, and the run is recorded lost once space is freed', async () => {
    const repo = path.join(mnt!, 'repo');
    mkdirSync(repo);
    git(repo, 'init', '-q', '-b', 'main');
    git(repo, 'commit', '-q', '--allow-empty', '-m', 'first');
    await ok(['-q', '--name', 'small', '--', 'true'], { cwd: repo });
    const [small] = runIds(repo);
    // The index exists (queries made it) before the disk fills: without one there is nothing to answer from.
    await ok(['log'], { cwd: repo });
    const r = await gitRun(['--', 'sh', '-c', 'head -c 20000000 /dev/zero > fill.bin'], { cwd: repo });
    assert.equal(r.code, 2, r.stderr);
    const [first, second, ...rest] = r.stderr.split('\n');
    assert.match(first!, /^error: no space left on the device that holds \//);
    assert.match(second!, /^hint: free some space \(or raise the quota\) and run the command again; a run that was under way is recorded as lost once it is looked at, never as succeeded$/);
    assert.deepEqual(rest, ['']);
    // Still full: queries answer from the index as it is.
    for (const args of [['log', '--format', '%H %(status)'], ['log', '--format', '%H', '--where', 'status = succeeded'], ['status']]) {
      const q = await gitRun(args, { cwd: repo });
      assert.equal(q.code, 0, `${args.join(' ')}: ${q.stderr}`);
      if (args[0] === 'log') assert.match(q.stdout, new RegExp(`^${small}`, 'm'));
    }
    const big = runIds(repo).find((id) => id !== small)!;
    assert.ok(big, 'the run was published before the disk filled');
    // Space freed: the run is finished by the next reader, honestly.
    const runs = path.join(repo, '.git', 'git-run', 'runs');
    for (const d of readdirSync(runs)) rmSync(path.join(runs, d, 'work', 'fill.bin'), { force: true });
    const after = (await ok(['log', '--format', '%H %(status)'], { cwd: repo })).stdout;
    assert.equal(after, `${big} lost\n${small} succeeded\n`);
  });
});
