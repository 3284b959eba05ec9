import assert from 'node:assert/strict';
/**
 * core.sharedRepository: what git-run creates inside .git gets the modes git
 * gives its own files under the same setting and umask (compared with a
 * repository where git alone made them), so a group can read every run.
 */
import { lstatSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, ok, git, runIds, until } from './helpers.js';

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

/** Every directory and file under dir, but what is in a run's work tree (git's checkout and the command's outputs, which git gives the umask's mode too). */
function walk(dir: string, out: { dirs: string[]; files: string[] } = { dirs: [], files: [] }): { dirs: string[]; files: string[] } {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) {
      out.dirs.push(p);
      if (name === 'work' && path.basename(path.dirname(path.dirname(p))) === 'runs') {
        // Only its parameters directory is git-run's.
        const params = path.join(p, '.git-run');
        out.dirs.push(params);
        for (const f of readdirSync(params)) out.files.push(path.join(params, f));
      } else walk(p, out);
    } else out.files.push(p);
  }
  return out;
}

describe('core.sharedRepository: run directories, control files, hook and daemon files', function () {
  // A ceiling, not a measure: a hook's background submission on a loaded machine takes minutes.
  this.timeout(300000);
  let umask = 0;
  before(() => {
    umask = process.umask(0o077);
  });
  after(() => {
    process.umask(umask);
  });

  for (const setting of ['group', null]) {
    it(`${setting ?? 'unset'}: a detached run, a daemon and a hook-submitted commit leave everything under git-run/ with git's modes (umask 077)`, async () => {
      const want = gitsOwn(setting ?? 'umask');
      const experiments = { show: { command: ['sh', '-c', 'cat data.txt'], on: { commit: { branches: ['main'] } } } };
      const repo = makeRepo(`shared-all-${setting ?? 'unset'}`, { '.runconfig': JSON.stringify({ experiments }, null, 2) + '\n', 'data.txt': 'v0\n' });
      if (setting) git(repo, 'config', 'core.sharedRepository', setting);
      const id = (await ok(['-d', '--leave', 'all', '--', 'sh', '-c', 'echo out > out.txt'], { cwd: repo })).stdout.trim();
      await ok(['wait', id], { cwd: repo });
      await ok(['daemon', 'start'], { cwd: repo });
      await ok(['daemon', 'stop'], { cwd: repo });
      await ok(['hook', 'install'], { cwd: repo });
      git(repo, 'commit', '-q', '--allow-empty', '-m', 'hooked');
      const sha = git(repo, 'rev-parse', 'HEAD');
      const hooked = await until('the hook submitted', async () => {
        const lines = (await ok(['hook', 'log', '-n', '0', '--json'], { cwd: repo })).stdout.split('\n').filter(Boolean);
        const e = lines.map((l) => JSON.parse(l) as { commit: string; event: string; runs?: string[] }).find((e) => e.commit === sha && e.event === 'submitted');
        return e?.runs?.[0];
      }, 60000);
      await ok(['wait', hooked], { cwd: repo });
      // The worker has let go of the queue: its lock file is gone (the shim's notes with it).
      await until('the hook worker is done', () => readdirSync(path.join(repo, '.git', 'git-run')).every((f) => !f.startsWith('hook-worker')) || null);

      const state = path.join(repo, '.git', 'git-run');
      const { dirs, files } = walk(state);
      const seen = (p: string) => path.relative(state, p);
      for (const d of ['runs', `runs/${id}`, `runs/${id}/work`, `runs/${id}/work/.git-run`, 'daemon', 'hook-queue', 'hook-submitted', 'hook-submitted/show']) {
        assert.ok(dirs.includes(path.join(state, d)), `git-run/${d} is there (${dirs.map(seen).join(', ')})`);
      }
      for (const f of [`runs/${id}/exit.json`, `runs/${id}/stdout`, `runs/${id}/supervisor`, `runs/${id}/supervisor.log`, `runs/${id}/work/.git-run/params.json`, 'daemon/daemon.log', 'hook.log', `hook-submitted/show/${sha}.json`]) {
        assert.ok(files.includes(path.join(state, f)), `git-run/${f} is there (${files.map(seen).join(', ')})`);
      }
      for (const d of dirs) assert.equal(mode(d), want.dir, `git-run/${seen(d)}`);
      for (const f of files) assert.equal(mode(f), want.file, `git-run/${seen(f)}`);
    });
  }
});
