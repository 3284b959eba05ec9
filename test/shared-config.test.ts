/**
 * core.sharedRepository read from the config files without starting git
 * (src/git/config-files.ts): it must agree with `git config --get` wherever
 * it answers, leave to git what it cannot settle, and the launch path must
 * no longer start `git config`.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeRepo, ok, git, tmpdir, ENV } from './helpers.js';
import { sharedRepositoryFromFiles, scanConfig } from '../src/git/config-files.js';

/** What git itself says, in the form sharedRepositoryFromFiles answers (null: set nowhere). */
function gitSays(repo: string, env: NodeJS.ProcessEnv): string | null {
  try {
    return execFileSync('git', ['config', '--get', 'core.sharedRepository'], { cwd: repo, env, encoding: 'utf8' }).replace(/\n$/, '');
  } catch (e) {
    if ((e as { status?: number }).status === 1) return null;
    throw e;
  }
}

describe('core.sharedRepository from the config files', () => {
  const cases: Array<[string, string]> = [
    ['plain', '[core]\n\tsharedRepository = group\n'],
    ['header and key on one line, a comment', '[core] sharedRepository = all ; shared\n'],
    ['case of section and key', '[CORE]\n\tSHAREDREPOSITORY=0640\n'],
    ['no value (true)', '[core]\n\tsharedRepository\n'],
    ['empty value', '[core]\n\tsharedRepository =\n'],
    ['quoted, with inner blanks and escapes', '[core]\n\tsharedRepository = "  gr\\"oup " # c\n'],
    ['the last one wins', '[core]\n\tsharedRepository = group\n[user]\n\tname = x\n[core]\n\tsharedRepository = 0664\n'],
    ['a subsection is another section', '[core "x"]\n\tsharedRepository = group\n[core.y]\n\tsharedRepository = all\n'],
    ['other keys only', '[core]\n\tbare = false\n\tsharedRepositoryX = group\n'],
    ['CRLF lines', '[core]\r\n\tsharedRepository = everybody\r\n'],
  ];
  for (const [label, text] of cases) {
    for (const level of ['repository', 'global'] as const) {
      it(`agrees with git config --get: ${label} (${level} file)`, () => {
        const repo = makeRepo(`shcfg-${level}-${label.replace(/\W+/g, '-')}`);
        const global = path.join(tmpdir('shcfg-home'), 'gitconfig');
        writeFileSync(global, level === 'global' ? text : '');
        if (level === 'repository') writeFileSync(path.join(repo, '.git', 'config'), readFileSync(path.join(repo, '.git', 'config'), 'utf8') + text);
        const env = { ...ENV, GIT_CONFIG_GLOBAL: global, GIT_CONFIG_NOSYSTEM: '1' };
        assert.equal(sharedRepositoryFromFiles(path.join(repo, '.git'), env), gitSays(repo, env));
      });
    }
  }

  it('the repository file wins over the global one; set nowhere is null', () => {
    const repo = makeRepo('shcfg-levels');
    const global = path.join(tmpdir('shcfg-levels-home'), 'gitconfig');
    writeFileSync(global, '[core]\n\tsharedRepository = group\n');
    const env = { ...ENV, GIT_CONFIG_GLOBAL: global, GIT_CONFIG_NOSYSTEM: '1' };
    git(repo, 'config', 'core.sharedRepository', 'umask');
    assert.equal(sharedRepositoryFromFiles(path.join(repo, '.git'), env), 'umask');
    git(repo, 'config', '--unset', 'core.sharedRepository');
    assert.equal(sharedRepositoryFromFiles(path.join(repo, '.git'), env), 'group');
    writeFileSync(global, '');
    assert.equal(sharedRepositoryFromFiles(path.join(repo, '.git'), env), null);
  });

  it('leaves to git what it cannot settle: includes, git -c, worktree config, continued lines', () => {
    const repo = makeRepo('shcfg-ask');
    const common = path.join(repo, '.git');
    const base = { ...ENV, GIT_CONFIG_GLOBAL: path.join(tmpdir('shcfg-ask-home'), 'none'), GIT_CONFIG_NOSYSTEM: '1' };
    assert.equal(sharedRepositoryFromFiles(common, base), null);
    assert.equal(sharedRepositoryFromFiles(common, { ...base, GIT_CONFIG_PARAMETERS: "'core.sharedrepository'='group'" }), undefined);
    assert.equal(sharedRepositoryFromFiles(common, { ...base, GIT_CONFIG_COUNT: '1' }), undefined);
    git(repo, 'config', 'include.path', '/nonexistent');
    assert.equal(sharedRepositoryFromFiles(common, base), undefined);
    assert.equal(scanConfig('[includeIf "gitdir:/x/"]\n\tpath = y\n')?.includes, true);
    assert.equal(scanConfig('[extensions]\n\tworktreeConfig = true\n')?.worktreeConfig, true);
    assert.equal(scanConfig('[core]\n\tsharedRepository = gr\\\noup\n'), undefined);
  });
});

describe('core.sharedRepository on the launch path', () => {
  let umask = 0;
  before(() => {
    umask = process.umask(0o077);
  });
  after(() => {
    process.umask(umask);
  });
  const mode = (p: string) => statSync(p).mode & 0o7777;
  const traced = (trace: string) => readFileSync(trace, 'utf8').split('\n').filter((l) => /trace: built-in: git config/.test(l));

  it('a run starts no git config process, and a global setting is honoured as git honours it', async () => {
    const repo = makeRepo('shcfg-launch');
    const home = tmpdir('shcfg-launch-home');
    const global = path.join(home, 'gitconfig');
    writeFileSync(global, '[core]\n\tsharedRepository = group\n');
    const trace = path.join(home, 'trace');
    await ok(['-q', '--leave', 'all', '--', 'sh', '-c', 'echo x > out.txt'], { cwd: repo, env: { GIT_CONFIG_GLOBAL: global, GIT_TRACE: trace } });
    assert.deepEqual(traced(trace), []);
    const runs = path.join(repo, '.git', 'git-run', 'runs');
    // git's own fan-out directory under the same setting and umask: drwxrws---.
    assert.equal(mode(runs), 0o2770);
  });

  it('an include in the repository config is left to git, and honoured', async () => {
    const repo = makeRepo('shcfg-include');
    const home = tmpdir('shcfg-include-home');
    const inc = path.join(home, 'shared.inc');
    writeFileSync(inc, '[core]\n\tsharedRepository = group\n');
    git(repo, 'config', 'include.path', inc);
    const trace = path.join(home, 'trace');
    await ok(['-q', '--', 'true'], { cwd: repo, env: { GIT_TRACE: trace } });
    assert.equal(traced(trace).length, 1, 'asked git once');
    assert.equal(mode(path.join(repo, '.git', 'git-run', 'runs')), 0o2770);
  });
});
