import assert from 'node:assert/strict';
/**
 * core.sharedRepository: what git-run creates inside .git gets the modes git
 * gives its own files under the same setting and umask (compared with a
 * repository where git alone made them), so a group can read every run.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, ok, git, runIds } from './helpers.js';

const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8).padStart(4, '0');

/** Modes of what git alone creates with this setting: a loose object and its fan-out directory, a directory under refs, a file (the index). */
function gitsOwn(setting: string): { object: string; dir: string; file: string } {
  const ref = makeRepo(`shared-ref-${setting}`);
  git(ref, 'config', 'core.sharedRepository', setting);
  const oid = git(ref, 'hash-object', '-w', '--stdin');
  git(ref, 'update-ref', 'refs/x/y', git(ref, 'commit-tree', git(ref, 'mktree'), '-m', 'x'));
  git(ref, 'update-index', '--add', '--cacheinfo', `100644,${oid},f`);
  const objects = path.join(ref, '.git', 'objects');
  return {
    object: mode(path.join(objects, oid.slice(0, 2), oid.slice(2))),
    dir: mode(path.join(objects, oid.slice(0, 2))),
    file: mode(path.join(ref, '.git', 'index')),
  };
}

describe('core.sharedRepository', () => {
  let umask = 0;
  before(() => {
    umask = process.umask(0o077);
  });
  after(() => {
    process.umask(umask);
  });

  for (const setting of ['group', 'true', 'all', 'everybody', 'umask', 'false', '0640', '0660', '0664', '2']) {
    it(`${setting}: objects, fan-out directories, git-run/ and the index have git's modes (umask 077)`, async () => {
      const want = gitsOwn(setting);
      const repo = makeRepo(`shared-${setting}`);
      git(repo, 'config', 'core.sharedRepository', setting);
      git(repo, 'commit', '-q', '--allow-empty', '-m', 'first');
      await ok(['-q', '--name', 'n', '--', 'sh', '-c', 'echo out > out.txt'], { cwd: repo });
      await ok(['log'], { cwd: repo });
      const id = runIds(repo)[0]!;
      const objects = path.join(repo, '.git', 'objects');
      const run = git(repo, 'rev-list', '--objects', `refs/runs/${id}`, 'refs/notes/runs')
        .split('\n')
        .map((l) => l.split(' ')[0]!);
      let seen = 0;
      for (const oid of run) {
        const file = path.join(objects, oid.slice(0, 2), oid.slice(2));
        assert.equal(mode(file), want.object, `object ${oid}`);
        assert.equal(mode(path.dirname(file)), want.dir, `directory of ${oid}`);
        seen++;
      }
      assert.ok(seen >= 10, `the run's objects are loose (${seen})`);
      const state = path.join(repo, '.git', 'git-run');
      assert.equal(mode(state), want.dir, 'git-run/');
      for (const d of ['tmp']) assert.equal(mode(path.join(state, d)), want.dir, `git-run/${d}`);
      for (const f of readdirSync(state).filter((f) => f.startsWith('index.sqlite'))) assert.equal(mode(path.join(state, f)), want.file, f);
    });
  }
});
