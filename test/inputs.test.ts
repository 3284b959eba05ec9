import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync, statSync, mkdirSync, utimesSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, gitRun, ok, showJson, git, runIds, refused, refState, writeFiles, nodeCmd, until } from './helpers.js';
import { normalizeDest, overlapping, parseInput, parseInputEntry, inputsEnv } from '../src/core/inputs.js';

/** The run made last (refs sorted by the spec commit's date are ties within a second: compare before and after). */
function newRun(repo: string, before: string[]): string {
  const made = runIds(repo).filter((id) => !before.includes(id));
  assert.equal(made.length, 1, `one new run, got ${made.length}`);
  return made[0]!;
}

async function runOk(repo: string, args: string[]): Promise<{ id: string; stdout: string }> {
  const before = runIds(repo);
  const r = await ok(['-q', ...args], { cwd: repo });
  return { id: newRun(repo, before), stdout: r.stdout };
}

/** Exit 2, an error and a hint matching these, nothing else on stderr, and nothing written. */
async function refusedLike(repo: string, args: string[], message: RegExp, hint: RegExp): Promise<void> {
  const before = refState(repo);
  const r = await gitRun(args, { cwd: repo });
  assert.equal(r.code, 2, `exit 2, got ${r.code}: ${r.stderr}`);
  const [first, second, ...rest] = r.stderr.split('\n');
  assert.match(first!, message);
  assert.match(second!, hint);
  assert.deepEqual(rest, ['']);
  assert.equal(refState(repo), before, 'nothing was written');
}

/** A run that writes out/data.txt and out/dir/{a,sub/b}. */
const PREPARE = nodeCmd(
  "const fs=require('fs');fs.mkdirSync('out/dir/sub',{recursive:true});fs.writeFileSync('out/data.txt','prepared\\n');fs.writeFileSync('out/dir/a','A');fs.writeFileSync('out/dir/sub/b','B')",
);

/** A command that prints a file and $GIT_RUN_INPUTS. */
const READ = (file: string) => nodeCmd(`const fs=require('fs');process.stdout.write(fs.readFileSync(${JSON.stringify(file)},'utf8')+'|'+process.env.GIT_RUN_INPUTS)`);

describe('inputs: the syntax (src/core/inputs.ts)', () => {
  it('reads <run>:<path>, a work-tree path, and dest=', () => {
    assert.deepEqual(parseInput('abcd1234:out/a.bin'), { request: { text: 'abcd1234:out/a.bin', dest: null, artifact: { run: 'abcd1234', path: 'out/a.bin' }, source: 'abcd1234:out/a.bin', store: false } });
    assert.deepEqual(parseInput('data/x.bin'), { request: { text: 'data/x.bin', dest: null, artifact: null, source: 'data/x.bin', store: false } });
    const d = parseInput('data/train.bin=prep:out/train.bin');
    assert.ok('request' in d);
    assert.equal(d.request.dest, 'data/train.bin');
    assert.deepEqual(d.request.artifact, { run: 'prep', path: 'out/train.bin' });
    // A colon after a slash is a path's, not a run's.
    assert.equal((parseInput('dir/a:b') as { request: { artifact: unknown } }).request.artifact, null);
    assert.ok('problem' in parseInput('=x'));
    assert.ok('problem' in parseInput('x='));
    assert.ok('problem' in parseInput('a\0b'));
  });

  it('reads the object form of a definition and refuses what it is not', () => {
    const o = parseInputEntry({ path: 'in/a', from: 'abcd:out/a', store: true });
    assert.ok('request' in o);
    assert.equal(o.request.dest, 'in/a');
    assert.equal(o.request.store, true);
    assert.deepEqual(o.request.artifact, { run: 'abcd', path: 'out/a' });
    for (const bad of [{ from: 3 }, { path: 'x' }, { from: 'a', store: 'yes' }, { from: 'a', other: 1 }, 42, null, ['a']]) assert.ok('problem' in parseInputEntry(bad), JSON.stringify(bad));
  });

  it('normalizes destinations and refuses absolute, .., .git and its own directory', () => {
    assert.deepEqual(normalizeDest('./a//b/', '.git-run'), { path: 'a/b' });
    for (const d of ['/abs', '../up', 'a/../../b', '.', '.git/x', 'a/.GIT', '.git-run/p']) assert.ok('problem' in normalizeDest(d, '.git-run'), d);
  });

  it('finds two inputs at one path or one inside another', () => {
    assert.equal(overlapping(['a', 'b', 'a.x']), null);
    assert.deepEqual(overlapping(['a/b', 'a']), ['a/b', 'a']);
    assert.deepEqual(overlapping(['x', 'x']), ['x', 'x']);
    assert.equal(inputsEnv([{ path: 'a', oid: '1', type: 'blob', worktree: 'a' }]), '[{"path":"a","oid":"1","type":"blob","worktree":"a"}]');
  });
});

describe('inputs: runs that consume other runs\' outputs', () => {
  it('places an artifact at its path and in $GIT_RUN_INPUTS; the spec commit\'s parent is the upstream\'s finishing commit', async () => {
    const repo = makeRepo('inputs-artifact', { 'README.md': 'x\n' });
    const prep = await runOk(repo, ['--', ...PREPARE]);
    const prepTip = git(repo, 'rev-parse', `refs/runs/${prep.id}`);
    const train = await runOk(repo, ['-i', `${prep.id.slice(0, 8)}:out/data.txt`, '--', ...READ('out/data.txt')]);
    const [content, env] = train.stdout.split('|');
    assert.equal(content, 'prepared\n');
    const blob = git(repo, 'rev-parse', `refs/runs/${prep.id}:outputs/out/data.txt`);
    assert.deepEqual(JSON.parse(env!), [{ path: 'out/data.txt', oid: blob, type: 'blob', from: { run: prep.id, path: 'out/data.txt' } }]);
    const spec = JSON.parse(git(repo, 'cat-file', 'blob', `${train.id}:run.json`));
    assert.deepEqual(spec.inputs, [{ path: 'out/data.txt', oid: blob, type: 'blob', mode: '100644', size: 9, from: { run: prep.id, path: 'out/data.txt' } }]);
    // Lineage is the commit graph.
    assert.equal(git(repo, 'rev-parse', `${train.id}^@`), prepTip);
    // An input the run did not change is no output.
    assert.equal(git(repo, 'ls-tree', '-r', '--name-only', `refs/runs/${train.id}`, '--', 'outputs'), '');
  });

  it('places a directory artifact, with dest= elsewhere, read-only', async () => {
    const repo = makeRepo('inputs-dir', { 'README.md': 'x\n' });
    const prep = await runOk(repo, ['--', ...PREPARE]);
    const list = nodeCmd(
      "const fs=require('fs');const w=(p)=>fs.statSync(p).mode&0o777;process.stdout.write([fs.readFileSync('data/d/a','utf8'),fs.readFileSync('data/d/sub/b','utf8'),w('data/d/a').toString(8),fs.readFileSync('t.txt','utf8')].join(','))",
    );
    const r = await runOk(repo, ['-i', `data/d=${prep.id}:out/dir`, '-i', `t.txt=${prep.id}:./out/data.txt`, '--', ...list]);
    assert.equal(r.stdout, 'A,B,444,prepared\n');
    const spec = JSON.parse(git(repo, 'cat-file', 'blob', `${r.id}:run.json`));
    assert.equal(spec.inputs[0].type, 'tree');
    assert.equal(spec.inputs[0].oid, git(repo, 'rev-parse', `refs/runs/${prep.id}:outputs/out/dir`));
    assert.equal(spec.inputs[0].size, 2);
    assert.equal(git(repo, 'rev-parse', `${r.id}^@`), git(repo, 'rev-parse', `refs/runs/${prep.id}`));
  });

  it('an input the run changed is an output, one rewritten with the same bytes is not; the upstream\'s record is untouched', async () => {
    const repo = makeRepo('inputs-changed', { 'README.md': 'x\n' });
    const prep = await runOk(repo, ['--', ...PREPARE]);
    // As root, 0444 does not stop a write: the content cache must not be harmed either way.
    const edit = nodeCmd("const fs=require('fs');fs.rmSync('out/data.txt');fs.writeFileSync('out/data.txt','changed\\n');fs.rmSync('out/dir/a');fs.writeFileSync('out/dir/a','A');fs.chmodSync('out/dir/sub/b',0o644);fs.appendFileSync('out/dir/sub/b','+');fs.writeFileSync('out/dir/new','N')");
    const r = await runOk(repo, ['-i', `${prep.id}:out/data.txt`, '-i', `${prep.id}:out/dir`, '--', ...edit]);
    assert.deepEqual(git(repo, 'ls-tree', '-r', '--name-only', `refs/runs/${r.id}`, '--', 'outputs').split('\n'), ['outputs/out/data.txt', 'outputs/out/dir/new', 'outputs/out/dir/sub/b']);
    assert.equal(git(repo, 'show', `refs/runs/${r.id}:outputs/out/dir/sub/b`), 'B+');
    // The next run gets the recorded bytes again (the entry written in place through its link was dropped from the cache).
    const again = await runOk(repo, ['-i', `${prep.id}:out/dir`, '--', ...READ('out/dir/sub/b')]);
    assert.equal(again.stdout.split('|')[0], 'B');
  });

  it('git gc --prune=now keeps the upstream alive while a downstream run exists', async () => {
    const repo = makeRepo('inputs-gc', { 'README.md': 'x\n' });
    const prep = await runOk(repo, ['--', ...PREPARE]);
    const blob = git(repo, 'rev-parse', `refs/runs/${prep.id}:outputs/out/data.txt`);
    const train = await runOk(repo, ['-i', `${prep.id}:out/data.txt`, '--', 'true']);
    git(repo, 'update-ref', '-d', `refs/runs/${prep.id}`);
    git(repo, 'reflog', 'expire', '--expire=now', '--all');
    git(repo, 'gc', '-q', '--prune=now');
    const graph = git(repo, 'log', '--graph', '--format=%H %s', `refs/runs/${train.id}`);
    assert.match(graph, new RegExp(`${prep.id} submitted`));
    assert.equal(git(repo, 'cat-file', 'blob', blob), 'prepared');
  });
});

describe('inputs: work-tree paths', () => {
  it('a gitignored file reaches the run, identified by content; a change changes the recorded id; the user\'s file is untouched', async () => {
    const repo = makeRepo('inputs-worktree', { '.gitignore': '*.bin\n', 'README.md': 'x\n' });
    mkdirSync(path.join(repo, 'sub'));
    writeFileSync(path.join(repo, 'data.bin'), 'first');
    const a = await runOk(repo, ['-i', 'data.bin', '--', ...READ('data.bin')]);
    assert.equal(a.stdout.split('|')[0], 'first');
    const oid = git(repo, 'hash-object', '--no-filters', 'data.bin');
    const spec = JSON.parse(git(repo, 'cat-file', 'blob', `${a.id}:run.json`));
    assert.deepEqual(spec.inputs, [{ path: 'data.bin', oid, type: 'blob', mode: '100644', size: 5, worktree: 'data.bin' }]);
    assert.equal(git(repo, 'rev-parse', `${a.id}^@`), '', 'no upstream run: no parent');
    // Not written into the objects (only its id is recorded).
    assert.throws(() => git(repo, 'cat-file', '-e', oid));
    // The command removes and rewrites it, and writes into another in place: the user's file stays as it was.
    const rw = nodeCmd("const fs=require('fs');fs.rmSync('data.bin');fs.writeFileSync('data.bin','mine');fs.chmodSync('x.bin',0o644);fs.appendFileSync('x.bin','!')");
    const b = await runOk(repo, ['-i', 'data.bin', '-i', 'x.bin=data.bin', '--', ...rw]);
    assert.equal(readFileSync(path.join(repo, 'data.bin'), 'utf8'), 'first');
    assert.equal(git(repo, 'show', `refs/runs/${b.id}:outputs/data.bin`), 'mine');
    assert.equal(git(repo, 'show', `refs/runs/${b.id}:outputs/x.bin`), 'first!');
    writeFileSync(path.join(repo, 'data.bin'), 'second');
    // From a subdirectory: the path is relative to it, and so is the destination.
    const sub = await ok(['-q', '-i', '../data.bin', '-i', 'here.bin=../data.bin', '--', ...READ('here.bin')], { cwd: path.join(repo, 'sub') });
    assert.equal(sub.stdout.split('|')[0], 'second');
    const last = runIds(repo).map((id) => JSON.parse(git(repo, 'cat-file', 'blob', `${id}:run.json`))).find((s) => s.cwd === 'sub/');
    assert.deepEqual(last.inputs.map((i: { path: string; oid: string }) => [i.path, i.oid]), [['data.bin', git(repo, 'hash-object', 'data.bin')], ['sub/here.bin', git(repo, 'hash-object', 'data.bin')]]);
  });

  it('a directory from the work tree, and --store-inputs keeps its content reachable', async () => {
    const repo = makeRepo('inputs-worktree-dir', { '.gitignore': 'data/\n', 'README.md': 'x\n' });
    // Names that sort differently as files and as trees ('a' as a tree sorts as 'a/', after 'a-b' and 'a.txt'), and an executable.
    writeFiles(repo, { 'data/a.txt': 'A', 'data/deep/b.txt': 'B', 'data/a/x': 'X', 'data/a-b': 'AB', 'data/run.sh': '#!/bin/sh\n' });
    chmodSync(path.join(repo, 'data/run.sh'), 0o755);
    const a = await runOk(repo, ['--seed', '1', '-i', 'data', '--', ...READ('data/deep/b.txt')]);
    assert.equal(a.stdout.split('|')[0], 'B');
    // The id git would give the directory: add it to a scratch index and write the tree.
    const idx = path.join(repo, '.git', 'scratch-index');
    const env = { ...process.env, GIT_INDEX_FILE: idx };
    const { execFileSync } = await import('node:child_process');
    execFileSync('git', ['add', '-f', 'data'], { cwd: repo, env });
    const tree = execFileSync('git', ['write-tree', '--prefix=data/'], { cwd: repo, env, encoding: 'utf8' }).trim();
    const spec = JSON.parse(git(repo, 'cat-file', 'blob', `${a.id}:run.json`));
    assert.equal(spec.inputs[0].oid, tree);
    assert.equal(spec.inputs[0].type, 'tree');
    const s = await runOk(repo, ['--store-inputs', '-i', 'data', '--', ...READ('data/a.txt')]);
    assert.equal(git(repo, 'rev-parse', `${s.id}:inputs/data`), tree);
    assert.equal(JSON.parse(git(repo, 'cat-file', 'blob', `${s.id}:run.json`)).inputs[0].stored, true);
    assert.equal(git(repo, 'show', `refs/runs/${s.id}:inputs/data/deep/b.txt`), 'B');
  });

  it('the stat cache: an unchanged file is not read again; a racy one is; a damaged cache is rewritten; staging refuses bytes that are not the recorded ones', async () => {
    const repo = makeRepo('inputs-statcache', { '.gitignore': '*.bin\n', 'README.md': 'x\n' });
    const data = path.join(repo, 'data.bin');
    writeFileSync(data, 'real bytes');
    const old = new Date(Date.now() - 3600_000);
    utimesSync(data, old, old);
    const real = git(repo, 'hash-object', 'data.bin');
    await runOk(repo, ['-i', 'data.bin', '--', 'true']);
    const cacheFile = path.join(repo, '.git', 'git-run', 'input-stat.json');
    const cache = JSON.parse(readFileSync(cacheFile, 'utf8'));
    const key = Object.keys(cache.entries)[0]!;
    assert.equal(cache.entries[key][5], real);
    // Put another id in the cache: a submission that trusts the cache records it (so it did not read the file).
    const fake = 'f'.repeat(40);
    cache.entries[key][5] = fake;
    writeFileSync(cacheFile, JSON.stringify(cache));
    utimesSync(cacheFile, new Date(), new Date());
    // Staging would look for the fake id's bytes: submit detached and read the record.
    const before = runIds(repo);
    const d = await ok(['-d', '-i', 'data.bin', '--', 'true'], { cwd: repo });
    const id = newRun(repo, before);
    assert.equal(d.stdout.trim(), id);
    assert.equal(JSON.parse(git(repo, 'cat-file', 'blob', `${id}:run.json`)).inputs[0].oid, fake);
    // Its bytes are not the recorded ones: the run fails, saying why, rather than run on other data.
    await ok(['wait', id], { cwd: repo }).catch(() => undefined);
    const failed = await showJson(repo, id);
    assert.equal(failed.status, 'failed');
    assert.match(failed.error, /changed since the run was submitted/);
    // Racy: a file whose mtime is not older than the cache file is hashed again.
    const future = new Date(Date.now() + 3600_000);
    utimesSync(data, future, future);
    const cache2 = JSON.parse(readFileSync(cacheFile, 'utf8'));
    const k2 = Object.keys(cache2.entries)[0]!;
    const st = statSync(data, { bigint: true });
    cache2.entries[k2] = [Number(st.size), String(st.mtimeNs), String(st.ctimeNs), String(st.ino), String(st.dev), fake];
    writeFileSync(cacheFile, JSON.stringify(cache2));
    const r = await runOk(repo, ['-i', 'data.bin', '--', 'true']);
    assert.equal(JSON.parse(git(repo, 'cat-file', 'blob', `${r.id}:run.json`)).inputs[0].oid, real);
    // A damaged cache is ignored and rewritten.
    writeFileSync(cacheFile, '{"v":1,"format":"sha1","entries":{"x": [1,');
    utimesSync(data, old, old);
    const r2 = await runOk(repo, ['-i', 'data.bin', '--', 'true']);
    assert.equal(JSON.parse(git(repo, 'cat-file', 'blob', `${r2.id}:run.json`)).inputs[0].oid, real);
    assert.equal(Object.values(JSON.parse(readFileSync(cacheFile, 'utf8')).entries as Record<string, string[]>)[0]![5], real);
  });

});

describe('inputs: several submissions at once', () => {
  it('git run submit -i adds to the definition\'s inputs; submissions at once each record the right ids and leave a valid stat cache', async () => {
    const repo = makeRepo('inputs-concurrent', { '.gitignore': '*.bin\n', 'README.md': 'x\n' });
    const names = ['a.bin', 'b.bin', 'c.bin', 'd.bin'];
    for (const n of names) writeFileSync(path.join(repo, n), `content of ${n}`);
    writeFileSync(path.join(repo, 'def.json'), JSON.stringify({ command: ['true'], inputs: ['a.bin'] }));
    const results = await Promise.all([
      ...names.slice(1).map((n) => gitRun(['-q', '-i', n, '--', 'true'], { cwd: repo })),
      gitRun(['submit', '-q', 'def.json', '-i', 'in/b.bin=b.bin'], { cwd: repo }),
    ]);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const specs = runIds(repo).map((id) => JSON.parse(git(repo, 'cat-file', 'blob', `${id}:run.json`)));
    assert.equal(specs.length, 4);
    for (const spec of specs) for (const i of spec.inputs) assert.equal(i.oid, git(repo, 'hash-object', i.worktree));
    const fromDef = specs.find((sp) => sp.inputs.length === 2);
    assert.deepEqual(fromDef.inputs.map((i: { path: string }) => i.path), ['a.bin', 'in/b.bin']);
    // Only a hint: writers may overwrite each other's entries, never leave a file that does not parse.
    const cache = JSON.parse(readFileSync(path.join(repo, '.git', 'git-run', 'input-stat.json'), 'utf8'));
    assert.ok(Object.keys(cache.entries).length >= 1);
    for (const [file, e] of Object.entries(cache.entries as Record<string, string[]>)) assert.equal(e[5], git(repo, 'hash-object', file));
  });
});

describe('inputs: bad input is refused, nothing written', () => {
  let repo: string;
  let prep: string;
  let failedRun: string;
  before(async () => {
    repo = makeRepo('inputs-errors', { '.gitignore': '*.bin\n', 'README.md': 'x\n', 'code/train.py': 'x\n' });
    prep = (await runOk(repo, ['--', ...PREPARE])).id;
    const f = await gitRun(['-q', '--', 'false'], { cwd: repo });
    assert.equal(f.code, 1);
    failedRun = runIds(repo).find((id) => id !== prep)!;
    writeFileSync(path.join(repo, 'data.bin'), 'd');
  });

  const nothingLeft = () => {
    const runsDir = path.join(repo, '.git', 'git-run', 'runs');
    const ids = runIds(repo);
    for (const d of existsSync(runsDir) ? readdirSync(runsDir) : []) assert.ok(ids.includes(d), `no run directory left for ${d}`);
    const cacheDir = path.join(repo, '.git', 'git-run', 'inputs');
    for (const f of existsSync(cacheDir) ? readdirSync(cacheDir) : []) assert.doesNotMatch(f, /^tmp-/);
  };

  it('an unknown run', async () => {
    await refused(repo, ['-i', 'beefbeef:out/data.txt', '--', 'true'], 'input "beefbeef:out/data.txt": no run matches "beefbeef", and there is no work-tree path "beefbeef:out/data.txt"', /^hint: name a run/);
    nothingLeft();
  });

  it('an ambiguous run', async () => {
    // Two refs whose ids share a prefix (pointing at a real run): which one is meant cannot be told.
    const tip = git(repo, 'rev-parse', `refs/runs/${prep}`);
    git(repo, 'update-ref', `refs/runs/abcd${'1'.repeat(36)}`, tip);
    git(repo, 'update-ref', `refs/runs/abcd${'2'.repeat(36)}`, tip);
    try {
      await refusedLike(repo, ['-i', 'abcd:out/data.txt', '--', 'true'], /^error: input "abcd:out\/data\.txt": 'abcd' is ambiguous: it names 2 runs/, /^hint: give more digits/);
    } finally {
      git(repo, 'update-ref', '-d', `refs/runs/abcd${'1'.repeat(36)}`);
      git(repo, 'update-ref', '-d', `refs/runs/abcd${'2'.repeat(36)}`);
    }
  });

  it('a path that run did not produce', async () => {
    await refused(repo, ['-i', `${prep}:out/nope.txt`, '--', 'true'], `input "${prep}:out/nope.txt": run ${prep.slice(0, 12)} did not produce "out/nope.txt"`, /^hint: its outputs: "out\/data.txt", "out\/dir\/a"/);
  });

  it('a run that failed', async () => {
    await refused(repo, ['-i', `${failedRun}:out/data.txt`, '--', 'true'], `input "${failedRun}:out/data.txt": run ${failedRun.slice(0, 12)} failed: only a run that succeeded gives artifacts`, /^hint: see why/);
  });

  it('a run that has not finished', async () => {
    const before = runIds(repo);
    const r = await gitRun(['-d', '--', ...nodeCmd("const fs=require('fs');while(!fs.existsSync('go'))require('child_process').execFileSync('sleep',['0.05'])")], { cwd: repo });
    assert.equal(r.code, 0, r.stderr);
    const running = newRun(repo, before);
    await until('the run to start', async () => (await showJson(repo, running)).status === 'running');
    try {
      await refusedLike(repo, ['-i', `${running}:out/data.txt`, '--', 'true'], new RegExp(`^error: input "${running}:out/data.txt": run ${running.slice(0, 12)} has not finished \\(it is (queued|running)\\)$`), /^hint: wait for it/);
    } finally {
      const dir = JSON.parse(git(repo, 'cat-file', 'blob', `refs/runs/${running}:state.json`)).handle.controlDir;
      writeFileSync(path.join(dir, 'work', 'go'), '');
      await ok(['wait', running], { cwd: repo });
    }
  });

  it('a work-tree path that does not exist', async () => {
    await refused(repo, ['-i', 'missing.bin', '--', 'true'], 'input "missing.bin": there is no "missing.bin" in the work tree', /^hint: check the path/);
    nothingLeft();
  });

  it('two inputs at one path, or one inside another', async () => {
    await refused(repo, ['-i', 'x=data.bin', '-i', `x=${prep}:out/data.txt`, '--', 'true'], 'two inputs are placed at "x"', /^hint: place each input/);
    await refused(repo, ['-i', 'x=data.bin', '-i', `x/y=${prep}:out/data.txt`, '--', 'true'], 'input "x/y" would be placed inside input "x"', /^hint: place each input/);
  });

  it('an input placed over a file of the code', async () => {
    await refused(repo, ['-i', `code/train.py=${prep}:out/data.txt`, '--', 'true'], 'input "code/train.py" would be placed over a file of the code snapshot', /^hint: place it elsewhere/);
    await refused(repo, ['-i', `README.md/x=${prep}:out/data.txt`, '--', 'true'], 'input "README.md/x" would be placed under "README.md", a file of the code snapshot', /^hint: place it elsewhere/);
    await refused(repo, ['-i', `code=${prep}:out/data.txt`, '--', 'true'], 'input "code" would be placed over a directory of the code snapshot', /^hint: place it elsewhere/);
  });

  it('.. or an absolute destination', async () => {
    await refused(repo, ['-i', `../x=${prep}:out/data.txt`, '--', 'true'], `input "../x=${prep}:out/data.txt": the destination '../x' contains '..': an input is placed inside the run directory`, /^hint: give a relative destination/);
    await refused(repo, ['-i', `/tmp/x=${prep}:out/data.txt`, '--', 'true'], `input "/tmp/x=${prep}:out/data.txt": the destination '/tmp/x' is absolute: an input is placed inside the run directory`, /^hint: give a relative destination/);
  });

  it('a malformed spec, on the command line and in a definition', async () => {
    await refused(repo, ['-i', '=data.bin', '--', 'true'], "invalid --input: input '=data.bin' has an empty destination before '='", /^hint: e\.g\. -i/);
    writeFileSync(path.join(repo, 'def.json'), JSON.stringify({ command: ['true'], inputs: [{ from: 'data.bin', store: 'yes' }] }));
    const before = refState(repo);
    const r = await gitRun(['submit', 'def.json'], { cwd: repo });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /def\.json: inputs\[0\]: "store" must be true or false/);
    assert.equal(refState(repo), before);
  });

  it('a definition\'s inputs are relative to the top, in both forms', async () => {
    writeFileSync(path.join(repo, 'def2.json'), JSON.stringify({ command: READ('../in/d.txt'), inputs: ['data.bin', { path: 'in/d.txt', from: `${prep}:out/data.txt` }] }));
    mkdirSync(path.join(repo, 'sub'), { recursive: true });
    const before = runIds(repo);
    await ok(['submit', '-q', '../def2.json'], { cwd: path.join(repo, 'sub') });
    const id = newRun(repo, before);
    const spec = JSON.parse(git(repo, 'cat-file', 'blob', `${id}:run.json`));
    assert.deepEqual(spec.inputs.map((i: { path: string }) => i.path), ['data.bin', 'in/d.txt']);
    assert.equal(git(repo, 'show', `refs/runs/${id}:logs/stdout`).split('|')[0], 'prepared\n');
  });

  it('output names from another clone are printed escaped', async () => {
    const evil = await runOk(repo, ['--', ...nodeCmd("require('fs').writeFileSync('e\\u001b[31mvil','x')")]);
    const r = await gitRun(['-i', `${evil.id}:nope`, '--', 'true'], { cwd: repo });
    assert.equal(r.code, 2);
    assert.ok(!r.stderr.includes('\u001b'), 'no raw escape reaches the terminal');
    assert.match(r.stderr, /^hint: its outputs: "e\\u001b\[31mvil"/m);
  });

  it('a sweep\'s children and its group record the inputs and have the upstream as parent', async () => {
    writeFileSync(path.join(repo, 'sweep.json'), JSON.stringify({ command: ['true'], params: { x: { values: [1, 2] } }, inputs: [`${prep}:out/data.txt`] }));
    const before = runIds(repo);
    await ok(['submit', '-q', 'sweep.json'], { cwd: repo });
    const made = runIds(repo).filter((i) => !before.includes(i));
    assert.equal(made.length, 3);
    const tip = git(repo, 'rev-parse', `refs/runs/${prep}`);
    for (const id of made) {
      assert.equal(git(repo, 'rev-parse', `${id}^@`), tip);
      assert.equal(JSON.parse(git(repo, 'cat-file', 'blob', `${id}:run.json`)).inputs[0].from.run, prep);
    }
  });

  it('a record from another clone whose input path leaves the run directory places nothing: the run fails, saying why', async () => {
    // A queued run as a hostile clone could push it: its run.json names an input at ../../escape.
    const base = JSON.parse(git(repo, 'cat-file', 'blob', `${prep}:run.json`));
    const blob = git(repo, 'rev-parse', `refs/runs/${prep}:outputs/out/data.txt`);
    const spec = { ...base, command: ['true'], nonce: 'hostile', inputs: [{ path: '../../escape', oid: blob, type: 'blob', mode: '100644', size: 9, from: { run: prep, path: 'out/data.txt' } }] };
    const { execFileSync } = await import('node:child_process');
    const runJson = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: repo, input: JSON.stringify(spec) }).toString().trim();
    const tree = execFileSync('git', ['mktree'], { cwd: repo, input: `100644 blob ${runJson}\trun.json\n040000 tree ${base.code.tree}\tcode\n` }).toString().trim();
    const id = git(repo, 'commit-tree', tree, '-m', 'submitted: true');
    git(repo, 'update-ref', `refs/runs/${id}`, id);
    await gitRun(['__supervise', id], { cwd: repo });
    const j = await showJson(repo, id);
    assert.equal(j.status, 'failed');
    assert.match(j.error, /the recorded path "\.\.\/\.\.\/escape" would leave the run directory/);
    // Where work/../../escape would have been: beside the run directories.
    assert.ok(!existsSync(path.join(repo, '.git', 'git-run', 'runs', 'escape')), 'nothing placed outside the run directory');
  });

  it('an existing path with a colon is a work-tree input when no run matches', async () => {
    writeFileSync(path.join(repo, 'c0ffee:x.bin'), 'colon');
    const r = await runOk(repo, ['-i', 'c0ffee:x.bin', '--', ...READ('c0ffee:x.bin')]);
    assert.equal(r.stdout.split('|')[0], 'colon');
  });
});
