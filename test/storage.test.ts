import assert from 'node:assert/strict';
import { makeRepo, gitRun, ok, showJson, git, runIds } from './helpers.js';

describe('storage in git', () => {
  it('16 runs started at once are all recorded, none lost, no lock errors', async () => {
    const repo = makeRepo('concurrent', { 'a.txt': 'a' });
    const rs = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        gitRun(['-q', '--name', `run ${i}`, '--tag', `t${i},all`, '--', 'node', '-e', `require('fs').writeFileSync('out.txt','${i}');console.log(${i})`], { cwd: repo }),
      ),
    );
    for (const [i, r] of rs.entries()) {
      assert.equal(r.code, 0, `run ${i}: ${r.stderr}`);
      assert.equal(r.stdout, `${i}\n`);
      assert.equal(r.stderr, '', 'nothing surfaced to the user');
    }
    const ids = runIds(repo);
    assert.equal(ids.length, 16);
    const seen = new Set<string>();
    for (const id of ids) {
      const j = await showJson(repo, id);
      assert.equal(j.status, 'succeeded');
      const i = Number(git(repo, 'cat-file', 'blob', j.outputs[0].oid));
      assert.equal(j.name, `run ${i}`, 'each run kept its own name');
      assert.deepEqual(j.tags, ['all', `t${i}`]);
      seen.add(String(i));
    }
    assert.equal(seen.size, 16);
    git(repo, 'fsck', '--no-progress', '--strict');
  });

  it('metadata lives in line-oriented notes on the spec commit, editable later', async () => {
    const repo = makeRepo('notes', { 'a.txt': 'a' });
    await ok(['-q', '--name', 'baseline', '--notes', 'first try', '--tag', 'a,b', '--', 'true'], { cwd: repo });
    const id = runIds(repo)[0]!;
    const note = git(repo, 'notes', '--ref=runs', 'show', id).split('\n');
    assert.equal(note.length, 1);
    const ev = JSON.parse(note[0]!);
    assert.deepEqual(ev.set, { name: 'baseline', notes: 'first try' });
    assert.deepEqual(ev.tag, ['a', 'b']);
    assert.equal(ev.by, 'Ada Tester <ada@example.test>');
    await ok(['edit', id.slice(0, 6), '--name', 'renamed', '--untag', 'a', '--tag', 'c'], { cwd: repo });
    const j = await showJson(repo, id);
    assert.equal(j.name, 'renamed');
    assert.equal(j.notes, 'first try');
    assert.deepEqual(j.tags, ['b', 'c']);
    assert.equal(git(repo, 'notes', '--ref=runs', 'show', id).split('\n').length, 2);
    // The run itself did not change.
    assert.equal(git(repo, 'rev-parse', `${id}^{tree}`), git(repo, 'rev-parse', `${id}^{tree}`));
  });

  it('notes from two clones merge with cat_sort_uniq without losing an edit', async () => {
    const repo = makeRepo('notes-merge', { 'a.txt': 'a' });
    await ok(['-q', '--name', 'orig', '--', 'true'], { cwd: repo });
    const id = runIds(repo)[0]!;
    const clone = makeRepo('notes-clone');
    git(clone, 'fetch', '-q', repo, 'refs/runs/*:refs/runs/*', 'refs/notes/runs:refs/notes/runs');
    await ok(['edit', id, '--tag', 'from-clone'], { cwd: clone });
    await ok(['edit', id, '--notes', 'from origin'], { cwd: repo });
    git(repo, 'fetch', '-q', clone, 'refs/notes/runs:refs/notes/clone-runs');
    git(repo, 'notes', '--ref=runs', 'merge', '-q', '-s', 'cat_sort_uniq', 'refs/notes/clone-runs');
    const j = await showJson(repo, id);
    assert.equal(j.name, 'orig');
    assert.equal(j.notes, 'from origin');
    assert.deepEqual(j.tags, ['from-clone']);
  });

  it('git gc --prune=now loses no run, log, output or code', async () => {
    const repo = makeRepo('gc', { 'a.txt': 'a' });
    await ok(['-q', '--name', 'kept', '--', 'node', '-e', `require('fs').writeFileSync('o.bin','out');require('fs').writeFileSync('a.txt','uncommitted')`], { cwd: repo });
    const id = runIds(repo)[0]!;
    // Make the code snapshot unreachable from any branch: it must survive through the run's ref alone.
    git(repo, 'reset', '-q', '--hard');
    git(repo, 'reflog', 'expire', '--expire=now', '--all');
    git(repo, 'gc', '-q', '--prune=now');
    git(repo, 'fsck', '--no-progress', '--strict', '--no-dangling');
    const j = await showJson(repo, id);
    assert.equal(j.status, 'succeeded');
    assert.equal(j.name, 'kept');
    assert.equal((await ok(['cat', `${id}:o.bin`], { cwd: repo })).stdout, 'out');
    assert.equal((await ok(['cat', `${id}:a.txt`], { cwd: repo })).stdout, 'uncommitted');
    assert.equal(git(repo, 'show', `${id}:code/a.txt`), 'a', 'the code as it was when the run started');
  });

  it('log lists runs newest first; --oneline, -n, --status, --json', async () => {
    const repo = makeRepo('log', { 'a.txt': 'a' });
    await ok(['-q', '--name', 'first', '--', 'true'], { cwd: repo });
    await gitRun(['-q', '--', 'false'], { cwd: repo });
    await ok(['-q', '--name', 'third', '--', 'true'], { cwd: repo });
    const ids = (await ok(['log', '--json'], { cwd: repo })).stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(ids.map((j) => j.name), ['third', null, 'first']);
    const one = (await ok(['log', '--oneline', '-n', '2'], { cwd: repo })).stdout.trim().split('\n');
    assert.equal(one.length, 2);
    assert.match(one[0]!, /^[0-9a-f]{12} succeeded\s+true\s+\(third\)$/);
    assert.match(one[1]!, /^[0-9a-f]{12} failed\s+false$/);
    const failed = (await ok(['log', '--status', 'failed', '--oneline'], { cwd: repo })).stdout.trim().split('\n');
    assert.equal(failed.length, 1);
    const full = (await ok(['log'], { cwd: repo })).stdout;
    assert.match(full, /^run [0-9a-f]{40} \(succeeded\)\nCommand: true\nCode: {4}tree [0-9a-f]{12} on commit [0-9a-f]{12}\nAuthor: {2}Ada Tester <ada@example.test>\n/);
    assert.match(full, /\n {4}third\n/);
  });
});
