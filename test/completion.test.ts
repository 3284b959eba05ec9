/**
 * Shell completion's sub-subcommands (`git run daemon <TAB>`), in bash
 * through git's own completion, and in zsh: the script parses (`zsh -n`) and
 * its function, run by a real zsh with compadd recording what it is given,
 * offers the same words.
 */
import assert from 'node:assert/strict';
import { existsSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { makeRepo, ok, tmpdir, CLI, ENV } from './helpers.js';
import { actionsOf } from '../src/cli/commands/completion.js';

const gitCompletion = '/usr/share/bash-completion/completions/git';
const hasZsh = () => spawnSync('zsh', ['-c', 'true']).status === 0;

describe('completion of sub-subcommands', function () {
  this.timeout(120000);
  let repo: string;
  let bin: string;
  before(async () => {
    repo = makeRepo('completion-actions', { '.runconfig': JSON.stringify({ experiments: { baseline: { command: ['true'] } } }) });
    // `git run` as git finds it: git-run on PATH.
    bin = tmpdir('completion-actions-bin');
    symlinkSync(CLI, path.join(bin, 'git-run'));
    writeFileSync(path.join(bin, 'git-run.bash'), (await ok(['completion', 'bash'], { cwd: repo })).stdout);
    writeFileSync(path.join(bin, 'git-run.zsh'), (await ok(['completion', 'zsh'], { cwd: repo })).stdout);
  });
  const env = () => ({ ...ENV, PATH: `${bin}:${ENV.PATH}` });

  it('reads the choices from the usage line', () => {
    assert.deepEqual(actionsOf('git run daemon', 'git run daemon <start|stop|status|run|log>'), ['start', 'stop', 'status', 'run', 'log']);
    assert.deepEqual(actionsOf('git run completion', 'git run completion [bash|zsh]'), ['bash', 'zsh']);
    assert.deepEqual(actionsOf('git run show', 'git run show [--json] <run>'), []);
    assert.deepEqual(actionsOf('git run cat', 'git run cat <run:path>'), []);
  });

  it('bash: daemon, hook and completion take their words, once, and options still complete', function () {
    if (!existsSync(gitCompletion)) {
      if (process.env.CI) throw new Error(`${gitCompletion} is missing: git's bash completion ships with the git package`);
      this.skip();
    }
    const complete = (...words: string[]) => {
      const src = `source ${gitCompletion}; source ${bin}/git-run.bash
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; COMP_LINE="\${COMP_WORDS[*]}"; COMP_POINT=\${#COMP_LINE}
__git_wrap__git_main; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = spawnSync('bash', ['--norc', '--noprofile', '-c', src], { cwd: repo, encoding: 'utf8', env: env() });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean).sort();
    };
    assert.deepEqual(complete('git', 'run', 'daemon', ''), ['log', 'run', 'start', 'status', 'stop']);
    assert.deepEqual(complete('git', 'run', 'daemon', 'st'), ['start', 'status', 'stop']);
    assert.deepEqual(complete('git', 'run', 'hook', 'un'), ['uninstall']);
    assert.deepEqual(complete('git', 'run', 'hook', ''), ['install', 'log', 'post-commit', 'uninstall']);
    assert.deepEqual(complete('git', 'run', 'completion', ''), ['bash', 'zsh']);
    assert.deepEqual(complete('git', 'run', 'daemon', 'log', ''), [], 'one word only');
    assert.deepEqual(complete('git', 'run', 'daemon', 'log', '--js'), ['--json']);
    assert.deepEqual(complete('git', 'run', 'submit', ''), ['baseline'], 'others unchanged');
  });

  it('zsh: the script parses, and its function offers the same words', function () {
    if (!hasZsh()) {
      if (process.env.CI) throw new Error('zsh is missing: .ci/run installs it');
      this.skip();
    }
    const parsed = spawnSync('zsh', ['-n', path.join(bin, 'git-run.zsh')], { encoding: 'utf8' });
    assert.equal(parsed.status, 0, parsed.stderr);
    // zsh's completion system would call _git-run with words and CURRENT set; compadd records what it is offered.
    const complete = (...words: string[]) => {
      const src = `compdef() { : }
compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@" }
source ${bin}/git-run.zsh
words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; PREFIX='${words[words.length - 1]}'
_git-run`;
      const r = spawnSync('zsh', ['-f', '-c', src], { cwd: repo, encoding: 'utf8', env: env() });
      // A completion function returns 1 when it offered nothing: only errors count.
      assert.equal(r.stderr, '');
      assert.ok(r.status === 0 || r.status === 1, `zsh exited ${r.status}`);
      // compadd itself filters by PREFIX; the recorder does it here.
      return r.stdout.split('\n').filter((s) => s && s.startsWith(words[words.length - 1]!)).sort();
    };
    assert.deepEqual(complete('git-run', 'daemon', ''), ['log', 'run', 'start', 'status', 'stop']);
    assert.deepEqual(complete('git-run', 'hook', 'un'), ['uninstall']);
    assert.deepEqual(complete('git-run', 'daemon', 'log', ''), []);
    assert.deepEqual(complete('git-run', 'daemon', 'log', '--js'), ['--json']);
    assert.deepEqual(complete('git-run', 'lo'), ['log', 'logs']);
    assert.deepEqual(complete('git-run', 'submit', ''), ['baseline']);
  });
});
