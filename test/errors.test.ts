import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, gitRun, ok, refState, runIds, tmpdir, git, writeFiles } from './helpers.js';

/** Run, expect exit 2 with the message, and no ref or note written. */
async function refused(repo: string, args: string[], message: RegExp, cwd = repo) {
  const before = refState(repo);
  const r = await gitRun(args, { cwd });
  assert.equal(r.code, 2, `exit 2, got ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, /^error: /);
  assert.match(r.stderr, message);
  assert.match(r.stderr, /\nhint: /);
  assert.equal(refState(repo), before, 'nothing was written');
  return r;
}

describe('bad input gets a clear error and writes nothing', () => {
  it('outside a git repository', async () => {
    const dir = tmpdir('norepo');
    const r = await gitRun(['--', 'true'], { cwd: dir, env: { GIT_CEILING_DIRECTORIES: path.dirname(dir) } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /error: not a git repository/);
    assert.match(r.stderr, /hint: .*git init/);
    const l = await gitRun(['log'], { cwd: dir, env: { GIT_CEILING_DIRECTORIES: path.dirname(dir) } });
    assert.equal(l.code, 2);
  });

  it('an unknown run id, a malformed one, and an ambiguous prefix', async () => {
    const repo = makeRepo('ids', { 'a.txt': 'a' });
    await ok(['-q', '--', 'true'], { cwd: repo });
    const real = runIds(repo)[0]!;
    await refused(repo, ['show', 'deadbeef'], /no run matches 'deadbeef'/);
    await refused(repo, ['show', 'xyz!'], /'xyz!' is not a run id/);
    await refused(repo, ['show', 'ab'], /'ab' is not a run id, nor the name of a run\nhint: name a run by 4 or more hex digits of its id, or by its name/);
    // Two refs sharing a prefix (made by hand: real ids rarely collide in 4 digits).
    const tip = git(repo, 'rev-parse', `refs/runs/${real}`);
    git(repo, 'update-ref', `refs/runs/abcd${'0'.repeat(36)}`, tip);
    git(repo, 'update-ref', `refs/runs/abcd${'1'.repeat(36)}`, tip);
    const r = await refused(repo, ['cat', 'abcd:a.txt'], /'abcd' is ambiguous: it names 2 runs/);
    assert.match(r.stderr, /hint: give more digits/);
    await refused(repo, ['wait', real, 'ffff'], /no run matches 'ffff'/);
    await refused(repo, ['cancel', 'ffff'], /no run matches 'ffff'/);
  });

  it('no command', async () => {
    const repo = makeRepo('nocmd', { 'a.txt': 'a' });
    await refused(repo, ['--'], /no command to run/);
    await refused(repo, ['-d'], /no command to run/);
  });

  it('a run directory that cannot be made', async () => {
    const repo = makeRepo('rundir', { 'a.txt': 'a' });
    const file = path.join(tmpdir('blocker'), 'plainfile');
    writeFileSync(file, 'not a directory');
    const r = await refused(repo, ['--local-dir', path.join(file, 'runs'), '--name', 'x', '--', 'true'], /cannot create the run directory/);
    assert.match(r.stderr, /--local-dir/);
  });

  it('a .sendignore with an invalid pattern names the file and line', async () => {
    const repo = makeRepo('badignore', { 'a.txt': 'a' });
    writeFiles(repo, { '.sendignore': '# fine\n*.pyc\nresults/[abc\nfoo\\\n' });
    const r = await refused(repo, ['--', 'true'], /\.sendignore has 2 invalid patterns/);
    assert.match(r.stderr, /\.sendignore:3: "results\/\[abc": an unclosed "\[" character class/);
    assert.match(r.stderr, /\.sendignore:4: .*trailing backslash/);
  });

  it('an invalid .fetchignore, and a missing --send-ignore file', async () => {
    const repo = makeRepo('badfetch', { 'a.txt': 'a' });
    writeFiles(repo, { '.fetchignore': '!\n' });
    await refused(repo, ['--', 'true'], /\.fetchignore has an invalid pattern/);
    await refused(repo, ['--send-ignore', 'nope.ignore', '--fetch-ignore', '/dev/null', '--', 'true'], /cannot read the ignore file .*nope\.ignore/);
  });

  it('bad option values', async () => {
    const repo = makeRepo('badopts', { 'a.txt': 'a' });
    await refused(repo, ['--leave', 'some', '--', 'true'], /invalid --leave: expected "none", "code" or "all", got a string \("some"\)/);
    await refused(repo, ['--seed', '-1', '--', 'true'], /invalid seed '-1'/);
    await refused(repo, ['--seed', 'abc', '--', 'true'], /invalid seed 'abc'/);
    await refused(repo, ['log', '--status', 'done'], /unknown status 'done'/);
    await refused(repo, ['log', '-n', 'x'], /-n takes a whole number/);
  });

  it('cat of a path the run did not produce', async () => {
    const repo = makeRepo('catmissing', { 'a.txt': 'a' });
    await ok(['-q', '--', ...['node', '-e', `require('fs').writeFileSync('out.txt','o')`]], { cwd: repo });
    const id = runIds(repo)[0]!;
    const r = await refused(repo, ['cat', `${id.slice(0, 8)}:nope.txt`], /did not produce 'nope.txt'.*its outputs are: out\.txt/);
    assert.match(r.stderr, /git run show/);
    await refused(repo, ['cat', id.slice(0, 8)], /does not name a file of a run/);
    await refused(repo, ['checkout', id.slice(0, 8), 'nope', '--to', path.join(tmpdir('co'), 'x')], /has no file at 'nope'/);
  });

  it('checkout refuses a non-empty destination', async () => {
    const repo = makeRepo('conotempty', { 'a.txt': 'a' });
    await ok(['-q', '--', 'true'], { cwd: repo });
    const dest = tmpdir('dest');
    writeFileSync(path.join(dest, 'mine.txt'), 'mine');
    await refused(repo, ['checkout', runIds(repo)[0]!, '--to', dest], /exists and is not empty/);
  });
});
