import assert from 'node:assert/strict';
import { SUBCOMMAND_NAMES, parseRunArgv } from '../src/cli/run-args.js';
import { registeredNames } from '../src/cli/app.js';
import { makeRepo, gitRun, refState } from './helpers.js';

describe('command line parsing', () => {
  it('knows every registered subcommand without loading clipanion', () => {
    assert.deepEqual([...SUBCOMMAND_NAMES].sort(), registeredNames().sort());
  });

  it('splits git-run options from the command', () => {
    const p = parseRunArgv(['-dq', '--name=a b', '--tag', 'x,y', '--tag=z', '--seed', '-1', 'python', '-d', '--name', 'n']);
    assert.equal(p.detach, true);
    assert.equal(p.quiet, true);
    assert.equal(p.run.name, 'a b');
    assert.deepEqual(p.run.tags, ['x', 'y', 'z']);
    assert.equal(p.run.seed, '-1');
    assert.deepEqual(p.run.command, ['python', '-d', '--name', 'n']);
    assert.deepEqual(parseRunArgv(['--', '--weird-program', 'x']).run.command, ['--weird-program', 'x']);
    assert.deepEqual(parseRunArgv(['--', 'show']).run.command, ['show']);
  });

  it('refuses an unknown option before the command instead of running it', async () => {
    const repo = makeRepo('unknown-opt', { 'a.txt': 'a' });
    const before = refState(repo);
    for (const [args, msg] of [
      [['--nmae', 'x', '--', 'true'], /unknown option '--nmae' for git run/],
      [['-dx', 'true'], /unknown option '-x'/],
      [['--name'], /option '--name' needs a value/],
      [['--detach=yes', 'true'], /takes no value/],
      [['log', '--bogus'], /Unsupported option name/],
      [['show'], /Not enough positional arguments/],
    ] as const) {
      const r = await gitRun([...args], { cwd: repo });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, msg);
      assert.match(r.stderr, /\nhint: /);
    }
    assert.equal(refState(repo), before);
  });

  it('prints help for git run, git run help and a subcommand', async () => {
    const repo = makeRepo('help', { 'a.txt': 'a' });
    for (const args of [['--help'], ['help'], []]) {
      const r = await gitRun(args, { cwd: repo });
      assert.equal(r.code, 0);
      assert.match(r.stdout, /run a command and record it in the repository/);
    }
    assert.match((await gitRun(['log', '--help'], { cwd: repo })).stdout, /List runs, newest first/);
  });
});
