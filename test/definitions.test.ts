import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, gitRun, ok, showJson, git, runIds, writeFiles } from './helpers.js';

/** A script that prints what it received: argv, its parameter variables, and the params file. */
const ECHO = `const fs=require('fs');const env={};for(const[k,v]of Object.entries(process.env))if(k.startsWith('GIT_RUN_PARAM_')||k==='GIT_RUN_SEED')env[k]=v;
process.stdout.write(JSON.stringify({argv:process.argv.slice(2),env,file:JSON.parse(fs.readFileSync(process.env.GIT_RUN_PARAMS,'utf8'))}))`;

const json = async (repo: string, args: string[]) => JSON.parse((await ok(['submit', '--json', ...args], { cwd: repo })).stdout);

describe('run definitions and sweeps', () => {
  it("reproduces Accio's example: a log range times a list times repeat 3 makes 36 children under one group", async () => {
    const repo = makeRepo('accio', { 'run.json': JSON.stringify({
      command: ['true'],
      repeat: 3,
      name: 'My brand new experiment',
      tags: ['brand', 'new'],
      params: { epsilon: { from: 0.00001, to: 1, log: true }, uri: { values: ['/path/to/my/dataset', '/path/to/another/dataset'] } },
    }) });
    const g = await json(repo, ['run.json']);
    assert.equal(g.kind, 'group');
    assert.equal(g.children.length, 36);
    assert.equal(g.status, 'succeeded');
    assert.equal(g.name, 'My brand new experiment');
    assert.deepEqual(g.tags, ['brand', 'new']);
    const kids = await Promise.all(g.children.map((id: string) => showJson(repo, id)));
    const eps = [...new Set(kids.map((k) => k.params.epsilon))].sort((a, b) => a - b);
    assert.deepEqual(eps, [0.00001, 0.0001, 0.001, 0.01, 0.1, 1]);
    assert.equal(new Set(kids.map((k) => k.params.uri)).size, 2);
    for (const k of kids) {
      assert.equal(k.parent, g.id);
      assert.equal(k.name, `epsilon=${k.params.epsilon} uri=${k.params.uri} #${k.repetition}`);
      assert.deepEqual(k.tags, ['brand', 'new'], 'children show their parent metadata');
    }
    assert.equal(runIds(repo).length, 37);
  });

  it('ranges are inclusive, with clean decimals; log2 and steps in powers', async () => {
    const repo = makeRepo('ranges', { 'd.json': JSON.stringify({ command: ['true'], params: { a: { from: 0.1, to: 0.3, step: 0.1 }, b: { from: 1, to: 16, log2: true, step: 2 }, c: { value: 'x' }, d: 5 } }) });
    const g = await json(repo, ['d.json']);
    const kids = await Promise.all(g.children.map((id: string) => showJson(repo, id)));
    assert.deepEqual([...new Set(kids.map((k) => k.params.a))].sort(), [0.1, 0.2, 0.3]);
    assert.deepEqual([...new Set(kids.map((k) => k.params.b))].sort((x, y) => x - y), [1, 4, 16]);
    assert.ok(kids.every((k) => k.params.c === 'x' && k.params.d === 5));
  });

  it('parameters and the seed reach the command as placeholders, environment variables and a params file', async () => {
    const repo = makeRepo('channels', { 'echo.js': ECHO, 'd.json': JSON.stringify({ command: ['node', 'echo.js', '--lr', '{lr}', 'seed={seed}', '{{lr}}', '{not a placeholder}'], params: { lr: { values: [0.5] }, 'model.name': 'resnet' }, seed: 7 }) });
    await ok(['submit', 'd.json'], { cwd: repo });
    const id = runIds(repo)[0]!;
    const j = await showJson(repo, id);
    assert.equal(j.seed, 7, 'a single run uses the given seed directly');
    const got = JSON.parse((await ok(['logs', id], { cwd: repo })).stdout);
    assert.deepEqual(got.argv, ['--lr', '0.5', 'seed=7', '{lr}', '{not a placeholder}']);
    assert.deepEqual(got.env, { GIT_RUN_PARAM_lr: '0.5', GIT_RUN_PARAM_model_name: 'resnet', GIT_RUN_SEED: '7' });
    assert.deepEqual(got.file.params, { lr: 0.5, 'model.name': 'resnet' });
    assert.equal(got.file.seed, 7);
    assert.deepEqual(j.outputs, [], 'the params file is not an output');
  });

  it('parameters named __proto__, constructor and prototype are parameters like any other, end to end', async () => {
    // Written as text: these are keys of the JSON document, whatever JavaScript makes of them.
    const d = '{"command": ["node", "echo.js", "{__proto__}", "{constructor}", "{prototype}"], "params": {"__proto__": {"values": [1, 2]}, "constructor": "c", "prototype": {"value": "p"}}, "env": {"__proto__": "e"}, "seed": 3}';
    const repo = makeRepo('proto-names', { 'echo.js': ECHO, 'd.json': d, 'plain.json': '{"command": ["true"]}' });
    await ok(['submit', 'd.json'], { cwd: repo });
    const children = [];
    for (const id of runIds(repo)) {
      const j = await showJson(repo, id);
      if (j.kind !== 'group') children.push(j);
    }
    assert.equal(children.length, 2);
    for (const j of children) {
      assert.deepEqual(Object.keys(j.params).sort(), ['__proto__', 'constructor', 'prototype']);
      const got = JSON.parse((await ok(['logs', j.id], { cwd: repo })).stdout);
      const v = String(j.params['__proto__']);
      assert.ok(['1', '2'].includes(v));
      assert.deepEqual(got.argv, [v, 'c', 'p']);
      assert.deepEqual(Object.entries(got.env).sort(), [['GIT_RUN_PARAM___proto__', v], ['GIT_RUN_PARAM_constructor', 'c'], ['GIT_RUN_PARAM_prototype', 'p'], ['GIT_RUN_SEED', String(j.seed)]]);
      assert.deepEqual(Object.keys(got.file.params).sort(), ['__proto__', 'constructor', 'prototype']);
    }
    // name=value sets them too; a definition without them refuses them by name.
    await ok(['submit', 'd.json', '__proto__=9', 'constructor=k'], { cwd: repo });
    const single = (await Promise.all(runIds(repo).map((id) => showJson(repo, id)))).find((j) => j.params['__proto__'] === 9)!;
    assert.deepEqual(JSON.parse((await ok(['logs', single.id], { cwd: repo })).stdout).argv, ['9', 'k', 'p']);
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      const r = await gitRun(['submit', 'plain.json', `${name}=1`], { cwd: repo });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`error: plain\\.json has no parameter '${name}'`));
    }
  });

  it('fuzz: thousands of random parameter values arrive byte-exact through all three channels', async function () {
    this.timeout(120000);
    const repo = makeRepo('fuzz', { 'echo.js': ECHO });
    const pieces = ['"', "'", '$(id)', '`id`', '\n', ' ', '\t', '-', '--', '\\', '{', '}', '{x}', '%s', ';', '|', '&', '*', '?', '~', '!', 'é', 'ß', '漢', '🙂', '\u202e', '\r', '=', 'a', 'Z', '0', '.', '\u0001', '\u007f'];
    let seed = 12345;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    let total = 0;
    let differences = 0;
    for (let batch = 0; batch < 12; batch++) {
      const values: string[] = [];
      for (let i = 0; i < 200; i++) values.push(Array.from({ length: 1 + rnd(12) }, () => pieces[rnd(pieces.length)]).join(''));
      const args = values.flatMap((v, i) => ['-p', `p${i}=${v}`]);
      const r = await ok(['-q', ...args, '--', 'node', 'echo.js', ...values.map((_, i) => `{p${i}}`)], { cwd: repo });
      const got = JSON.parse(r.stdout);
      values.forEach((v, i) => {
        total++;
        const fromFile = got.file.params[`p${i}`];
        if (got.argv[i] !== v || got.env[`GIT_RUN_PARAM_p${i}`] !== v || String(fromFile) !== v) differences++;
      });
    }
    assert.equal(total, 2400);
    assert.equal(differences, 0);
  });

  it('seeds: a seeded sweep derives the same child seeds every time; without a seed one is generated and recorded', async () => {
    const repo = makeRepo('seeds', { 'd.json': JSON.stringify({ command: ['true'], params: { x: { values: [1, 2] } }, repeat: 2, seed: 99 }) });
    const a = await json(repo, ['d.json']);
    const seedsA = (await Promise.all(a.children.map((id: string) => showJson(repo, id)))).map((k) => k.seed);
    assert.equal(new Set(seedsA).size, 4, 'each child has its own seed');
    const b = await json(repo, ['d.json', '--force', '--force-ignores-success']);
    const seedsB = (await Promise.all(b.children.map((id: string) => showJson(repo, id)))).map((k) => k.seed);
    assert.deepEqual(seedsB, seedsA);
    const unseeded = makeRepo('unseeded', { 'd.json': JSON.stringify({ command: ['true'], params: { x: { values: [1, 2] } } }) });
    const u = await json(unseeded, ['d.json']);
    assert.ok(Number.isInteger(u.seed), 'the generated group seed is recorded');
    const again = await json(unseeded, ['d.json', '--seed', String(u.seed)]);
    const s1 = (await Promise.all(u.children.map((id: string) => showJson(unseeded, id)))).map((k) => k.seed);
    assert.deepEqual(again.children, u.children, 'resubmitting with the recorded seed reuses those runs');
    assert.equal(s1.length, 2);
  });

  it('memoization: an identical seeded sweep executes nothing and creates no duplicate; --force reruns failed ones; --force-ignores-success all', async () => {
    const repo = makeRepo('memo', { 'fail.js': 'process.exit(Number(process.argv[2]) === 2 ? 1 : 0)', 'd.json': JSON.stringify({ command: ['node', 'fail.js', '{x}'], params: { x: { values: [1, 2, 3] } }, seed: 5 }) });
    const first = await gitRun(['submit', '--json', 'd.json'], { cwd: repo });
    assert.equal(first.code, 1, 'one child failed');
    const g1 = JSON.parse(first.stdout);
    const refs = runIds(repo).length;
    const again = await gitRun(['submit', '--json', 'd.json'], { cwd: repo });
    const g2 = JSON.parse(again.stdout);
    assert.equal(g2.id, g1.id, 'the identical group is reused');
    assert.equal(runIds(repo).length, refs, 'nothing new');
    const forced = await gitRun(['submit', '--json', '--force', 'd.json'], { cwd: repo });
    const g3 = JSON.parse(forced.stdout);
    assert.notEqual(g3.id, g1.id);
    const kept = g3.children.filter((c: string) => g1.children.includes(c));
    assert.equal(kept.length, 2, 'the two succeeded children are reused');
    assert.equal(runIds(repo).length, refs + 2, 'a new group and one rerun child');
    const all = await gitRun(['submit', '--json', '--no-skip', '--force-ignores-success', 'd.json'], { cwd: repo });
    const g4 = JSON.parse(all.stdout);
    assert.equal(g4.children.filter((c: string) => [...g1.children, ...g3.children].includes(c)).length, 0);
    // Extending a sweep runs only the new combination: the definition file is not part of the run key's code (decision 0013).
    const file = 'd.json';
    writeFileSync(path.join(repo, file), JSON.stringify({ command: ['node', 'fail.js', '{x}'], params: { x: { values: [1, 2, 3, 4] } }, seed: 5 }));
    const before = runIds(repo).length;
    const g5 = JSON.parse((await gitRun(['submit', '--json', file], { cwd: repo })).stdout);
    assert.equal(g5.children.length, 4);
    assert.equal(runIds(repo).length, before + 2, 'a new group and the one new child');
  });

  it('a seeded single run is reused: its output is replayed, and --force runs it again', async () => {
    const repo = makeRepo('memo-single', { 'a.txt': 'a' });
    const r1 = await gitRun(['--seed', '3', '--', 'node', '-e', 'console.log("hello")'], { cwd: repo });
    assert.equal(r1.stdout, 'hello\n');
    const r2 = await gitRun(['--seed', '3', '--', 'node', '-e', 'console.log("hello")'], { cwd: repo });
    assert.equal(r2.code, 0);
    assert.equal(r2.stdout, 'hello\n');
    assert.match(r2.stderr, /reusing run [0-9a-f]{12}/);
    assert.equal(runIds(repo).length, 1);
    await ok(['-q', '--seed', '3', '--force', '--force-ignores-success', '--', 'node', '-e', 'console.log("hello")'], { cwd: repo });
    assert.equal(runIds(repo).length, 2);
    writeFiles(repo, { 'a.txt': 'changed code' });
    await ok(['-q', '--seed', '3', '--', 'node', '-e', 'console.log("hello")'], { cwd: repo });
    assert.equal(runIds(repo).length, 3, 'other code, another run');
  });

  it('a reused submission keeps its metadata: the name, notes and tags it gives are applied to the reused run or group, and said', async () => {
    const repo = makeRepo('reuse-meta', { 'a.txt': 'a', 'd.json': JSON.stringify({ command: ['true'], params: { x: { values: [1, 2] } }, seed: 4 }) });
    await ok(['--seed', '3', '--', 'echo', 'hi'], { cwd: repo });
    const [id] = runIds(repo);
    const r = await ok(['--seed', '3', '--name', 'second', '--tag', 't2', '--', 'echo', 'hi'], { cwd: repo });
    assert.equal(r.stdout, 'hi\n');
    assert.match(r.stderr, /git-run: reusing run /);
    assert.match(r.stderr, /git-run: named it "second", tagged it t2 \(as git run edit would\)/);
    assert.deepEqual(runIds(repo), [id]);
    const j = await showJson(repo, id!);
    assert.equal(j.name, 'second');
    assert.deepEqual(j.tags, ['t2']);
    // The same again has nothing new to apply.
    const again = await ok(['--seed', '3', '--name', 'second', '--tag', 't2', '--', 'echo', 'hi'], { cwd: repo });
    assert.doesNotMatch(again.stderr, /named it|tagged it/);
    // A group reused whole.
    await ok(['submit', 'd.json'], { cwd: repo });
    const s = await ok(['submit', 'd.json', '--name', 'grp', '--tags', 'g1,g2'], { cwd: repo });
    assert.match(s.stderr, /all reused from an identical group\nnamed it "grp", tagged it g1, g2 \(as git run edit would\)/);
    const group = (await Promise.all(runIds(repo).map((x) => showJson(repo, x)))).find((v) => v.kind === 'group')!;
    assert.equal(group.name, 'grp');
    assert.deepEqual(group.tags, ['g1', 'g2']);
  });

  it('run_args: .runconfig defaults < definition < per-child overrides < this submission; unknown ones kept', async () => {
    const repo = makeRepo('runargs', {
      '.runconfig': JSON.stringify({ defaults: { leave: 'all', partition: 'cpu', mem: '1G' } }),
      'd.json': JSON.stringify({ command: ['true'], params: { x: { values: [1, 2] } }, run_args: { mem: '2G', time: '10' }, overrides: [{ params: { x: 2 }, run_args: { mem: '8G' } }] }),
    });
    const g = await json(repo, ['d.json', '--run-arg', 'time=20', '--leave', 'none']);
    const [k1, k2] = await Promise.all(g.children.map((id: string) => showJson(repo, id)));
    assert.equal(k1.runArgs.partition, 'cpu');
    assert.equal(k1.runArgs.mem, '2G');
    assert.equal(k2.runArgs.mem, '8G', 'the runner level overrides the dataset level');
    assert.equal(k1.runArgs.time, 20, 'the temporary level wins');
    assert.equal(k1.runArgs.leave, 'none');
    assert.equal(k1.runArgs.skip, true);
    assert.equal(k1.runArgs.asynchronous, true);
    const spec = JSON.parse(git(repo, 'show', `${k1.id}:run.json`));
    assert.deepEqual(spec.runArgsFrom.temporary, { time: 20, leave: 'none' });
    assert.equal(spec.runArgsFrom.dataset.time, '10', 'the definition keeps its own value: temporary args are not saved into it');
  });

  it('asynchronous: false runs children one after another; max_parallel 2 runs them together', async () => {
    const repo = makeRepo('sequential', { 'd.json': JSON.stringify({ command: ['sleep', '0.3'], params: { x: { values: [1, 2, 3] } } }) });
    const span = async (g: any) => {
      const kids = await Promise.all(g.children.map((id: string) => showJson(repo, id)));
      return kids.map((k) => [Date.parse(k.startedAt), Date.parse(k.endedAt)] as const).sort((a, b) => a[0] - b[0]);
    };
    const seq = await span(await json(repo, ['d.json', '--sequential']));
    for (let i = 1; i < seq.length; i++) assert.ok(seq[i]![0] >= seq[i - 1]![1], 'no overlap');
    const par = await span(await json(repo, ['d.json', '--max-parallel', '2']));
    assert.ok(par[1]![0] < par[0]![1], 'the first two overlap');
  });

  it('the short form: an experiment of .runconfig with name=value and flags', async () => {
    const repo = makeRepo('experiment', {
      'echo.js': ECHO,
      '.runconfig': JSON.stringify({ experiments: { base: { command: ['node', 'echo.js', '{lr}', '{data}'], params: { lr: 0.1, data: 'a' }, name: 'from config', tags: ['x'] } } }),
    });
    await ok(['submit', 'base', 'lr=0.01', 'data=-b c', '--name', 'from flags', '--tags', 'p,q'], { cwd: repo });
    const id = runIds(repo)[0]!;
    const j = await showJson(repo, id);
    assert.deepEqual(j.params, { lr: 0.01, data: '-b c' });
    assert.equal(j.name, 'from flags');
    assert.deepEqual(j.tags, ['p', 'q']);
    assert.deepEqual(JSON.parse((await ok(['logs', id], { cwd: repo })).stdout).argv, ['0.01', '-b c']);
  });

  it('editing a child edits its parent; a child keeps its generated name', async () => {
    const repo = makeRepo('edit-child', { 'd.json': JSON.stringify({ command: ['true'], params: { x: { values: [1, 2] } }, name: 'parent' }) });
    const g = await json(repo, ['d.json']);
    await ok(['edit', g.children[0], '--name', 'renamed', '--tag', 't', '--notes', 'n'], { cwd: repo });
    const parent = await showJson(repo, g.id);
    assert.equal(parent.name, 'renamed');
    assert.deepEqual(parent.tags, ['t']);
    const child = await showJson(repo, g.children[1]);
    assert.equal(child.name, 'x=2');
    assert.equal(child.notes, 'n');
    assert.deepEqual(child.tags, ['t']);
    assert.match(child.createdAt, /^\d{4}-/);
    assert.equal(child.creator, 'Ada Tester <ada@example.test>');
  });

  it('git run init writes a starter .runconfig that works, and will not overwrite one', async () => {
    const repo = makeRepo('init', { 'train.py': 'import sys\nprint(sys.argv[1:])\n' });
    await ok(['init'], { cwd: repo });
    const r = await gitRun(['init'], { cwd: repo });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exists already/);
    await ok(['init', '--force'], { cwd: repo });
    // The starter experiment runs as it is (python3 train.py --lr {lr}, two values).
    const g = JSON.parse((await ok(['submit', '--json', 'example'], { cwd: repo })).stdout);
    assert.equal(g.children.length, 2);
    assert.equal(g.status, 'succeeded');
  });

  it('piped output stays plain; --json is one object', async () => {
    const repo = makeRepo('plain', { 'd.json': JSON.stringify({ command: ['true'], params: { x: { values: [1, 2] } } }) });
    const r = await ok(['submit', 'd.json'], { cwd: repo });
    assert.doesNotMatch(r.stdout + r.stderr, /\x1b|\r/);
    assert.match(r.stdout, /2 succeeded/);
    const j = await ok(['submit', '--json', 'd.json'], { cwd: repo });
    assert.equal(j.stdout.trim().split('\n').length, 1);
  });

  it('-d returns at once and a detached supervisor runs the children', async () => {
    const repo = makeRepo('submit-detach', { 'd.json': JSON.stringify({ command: ['sleep', '0.2'], params: { x: { values: [1, 2, 3] } } }) });
    const id = (await ok(['submit', '-d', 'd.json'], { cwd: repo })).stdout.trim();
    const w = await ok(['wait', id], { cwd: repo });
    assert.match(w.stdout, /succeeded/);
    const g = await showJson(repo, id);
    assert.equal(g.status, 'succeeded');
    for (const c of g.children) assert.equal((await showJson(repo, c)).status, 'succeeded');
  });
});


describe('submitting the code of a commit', () => {
  it('--commit runs that commit\'s tree with its .runconfig and .sendignore, whatever the work tree holds', async () => {
    const repo = makeRepo('commit-submit', {
      'm.sh': 'cat data.txt; test -e secret.bin && echo LEAKED; true\n',
      'data.txt': 'v1\n',
      'secret.bin': 'x',
      '.sendignore': 'secret.bin\n',
      '.runconfig': JSON.stringify({ experiments: { go: { command: ['sh', 'm.sh'] } } }),
    });
    const c1 = git(repo, 'rev-parse', 'HEAD');
    writeFiles(repo, { 'data.txt': 'v2\n', '.runconfig': JSON.stringify({ experiments: { other: { command: ['true'] } } }) });
    git(repo, 'commit', '-qam', 'c2');
    writeFiles(repo, { 'data.txt': 'dirty\n' });
    const j = JSON.parse((await ok(['submit', '--json', 'go', '--commit', c1.slice(0, 8)], { cwd: repo })).stdout);
    assert.equal(j.code.commit, c1);
    assert.equal(j.code.dirty, true, '.sendignore removed a file of the commit');
    assert.equal((await ok(['logs', j.id], { cwd: repo })).stdout, 'v1\n');
    assert.equal(git(repo, 'ls-tree', '--name-only', j.code.tree).split('\n').includes('secret.bin'), false);
    const bad = await gitRun(['submit', 'go', '--commit', 'nosuchref'], { cwd: repo });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /'nosuchref' is not a commit/);
    assert.equal(runIds(repo).length, 1, 'nothing written for the bad one');
  });
});
