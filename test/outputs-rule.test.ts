import assert from 'node:assert/strict';
/**
 * One rule for links and .git in outputs, for every executor (decision 0009):
 * the same commands, run locally and on a real sshd, are refused (the run not
 * succeeded, the reason recorded, no outputs kept) or kept the same way.
 */
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, gitRun, ok, showJson, runIds, tmpdir } from './helpers.js';
import { startSshd, sshdAvailable, type Sshd } from './sshd.js';

/** [what, shell command, the refusal's reason (null: kept, with these outputs)] */
const CASES: Array<[string, string, RegExp | string[]]> = [
  ['a chained link climbs out through a link met earlier', 'mkdir sub; ln -s .. sub/up; ln -s sub/up/.. e; echo x > fine', /^the outputs were refused: "e": a symlink to "sub\/up\/\.\." leaves the run directory$/],
  ['a link to an absolute path', 'ln -s /etc/passwd leak', /^the outputs were refused: "leak": a symlink to the absolute path "\/etc\/passwd"$/],
  ['a chain of ..', 'ln -s ../../../../.. up', /^the outputs were refused: "up": a symlink to "\.\.\/\.\.\/\.\.\/\.\.\/\.\." leaves the run directory$/],
  ['a link into .git', 'mkdir d; ln -s ../.git/config d/c', /^the outputs were refused: "d\/c": a symlink into a "\.git" directory$/],
  ['.git', 'mkdir .git; echo x > .git/f', /^the outputs were refused: "\.git(\/f)?": a "\.git" entry \(in one of its spellings\)$/],
  ['.GIT', 'mkdir .GIT; echo x > .GIT/f', /^the outputs were refused: "\.GIT(\/f)?": a "\.git" entry \(in one of its spellings\)$/],
  ['git~1', 'mkdir -p sub/git~1; echo x > sub/git~1/f', /^the outputs were refused: "sub\/git~1(\/f)?": a "\.git" entry \(in one of its spellings\)$/],
  ['links that stay inside are kept as links', 'mkdir s; ln -s .. s/up; ln -s s/up d; ln -s s/../fine f; echo x > fine', ['d', 'f', 'fine', 's/up']],
];

function remoteConfig(sshd: Sshd, label: string, objects: boolean): string {
  // ssh-objects: the outputs come back as git objects (decision 0023), meeting the same rule.
  return JSON.stringify({ hosts: { box: { type: 'ssh', host: 'testhost', ssh_config: sshd.config, remote_dir: `/tmp/git-run-remote-${label}-${process.pid}`, ...(objects ? { outputs_objects: true } : {}) } } });
}

describe('outputs: one rule for links and .git, for every executor', function () {
  let sshd: Sshd | null = null;
  before(async function () {
    if (sshdAvailable(this)) sshd = await startSshd();
  });
  after(() => sshd?.stop());

  for (const where of ['local', 'ssh', 'ssh-objects'] as const) {
    for (const [what, cmd, expect] of CASES) {
      it(`${where}: ${what}`, async function () {
        if (where !== 'local' && !sshd) return this.skip();
        const label = `rule-${where}-${what}`.replace(/[^a-z0-9]+/gi, '-').slice(0, 40);
        const repo = makeRepo(label, where !== 'local' ? { '.runconfig': remoteConfig(sshd!, label, where === 'ssh-objects') } : { 'a.txt': 'a' });
        const r = await gitRun(['-q', ...(where !== 'local' ? ['--host', 'box'] : []), '--', 'sh', '-c', cmd], { cwd: repo, env: { SSH_AUTH_SOCK: '' } });
        const j = await showJson(repo, runIds(repo)[0]!);
        if (Array.isArray(expect)) {
          assert.equal(r.code, 0, r.stderr);
          assert.equal(j.status, 'succeeded');
          assert.deepEqual(j.outputs.map((o: any) => o.path), expect);
          // Checked out, the links are links with their targets as text, and each resolves inside the destination.
          const dest = path.join(tmpdir('rule-checkout'), 'D');
          await ok(['checkout', j.id, '--to', dest], { cwd: repo });
          for (const o of expect) {
            const p = path.join(dest, o);
            if (!lstatSync(p).isSymbolicLink()) continue;
            assert.equal(readlinkSync(p), { d: 's/up', f: 's/../fine', 's/up': '..' }[o]);
            const real = realpathSync(p);
            assert.ok(real === realpathSync(dest) || real.startsWith(realpathSync(dest) + path.sep), `${o} -> ${real} stays in ${dest}`);
          }
        } else {
          assert.equal(r.code, 1, `not a success: ${r.stderr}`);
          assert.equal(j.status, 'failed');
          assert.match(j.error, expect);
          assert.deepEqual(j.outputs, [], 'nothing of the outputs kept');
        }
      });
    }
  }
});
