import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, gitRun, ok, showJson, git, runIds, nodeCmd, writeFiles } from './helpers.js';

describe('git run -- <command>', () => {
  it('streams output, passes the exit code on, and records the run', async () => {
    const repo = makeRepo('basic', { 'train.py': 'print("x")\n' });
    const r = await gitRun(['--', ...nodeCmd('console.log("out line"); console.error("err line"); process.exit(3)')], { cwd: repo });
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'out line\n');
    assert.match(r.stderr, /^err line\n/);
    assert.match(r.stderr, /git-run: run [0-9a-f]{12} failed \(exit 3/);
    const [id] = runIds(repo);
    const j = await showJson(repo, id!);
    assert.equal(j.id, id);
    assert.equal(j.status, 'failed');
    assert.equal(j.exitCode, 3);
    assert.deepEqual(j.command.slice(1), ['-e', 'console.log("out line"); console.error("err line"); process.exit(3)']);
    assert.equal(j.code.commit, git(repo, 'rev-parse', 'HEAD'));
    assert.equal(j.code.tree, git(repo, 'rev-parse', 'HEAD^{tree}'));
    assert.equal(j.code.dirty, false);
    assert.equal(j.host, 'local');
    assert.ok(Number.isInteger(j.seed));
    assert.match(j.key, /^[0-9a-f]{64}$/);
    for (const f of ['name', 'notes', 'tags', 'params', 'parent', 'children', 'createdAt', 'startedAt', 'endedAt', 'outputs', 'upstream', 'downstream', 'metrics', 'runArgs']) {
      assert.ok(f in j, `show --json has ${f}`);
    }
    assert.equal(git(repo, 'show', `refs/runs/${id}:logs/stdout`), 'out line');
    assert.equal(git(repo, 'show', `refs/runs/${id}:logs/stderr`), 'err line');
  });

  it('succeeds with exit 0 and keeps stdout byte-exact', async () => {
    const repo = makeRepo('exit0', { 'a.txt': 'a' });
    const r = await ok(['-q', '--', ...nodeCmd('process.stdout.write(Buffer.from([0,1,2,255,10,13]))')], { cwd: repo });
    assert.deepEqual([...r.stdoutBytes], [0, 1, 2, 255, 10, 13]);
    assert.equal(r.stderr, '');
    const [id] = runIds(repo);
    assert.deepEqual([...Buffer.from(git(repo, 'cat-file', 'blob', `refs/runs/${id}:logs/stdout`), 'latin1')].length > 0, true);
  });

  it('--json: stdout is the JSON alone, the command\'s own output goes to stderr', async () => {
    const repo = makeRepo('json-stdout', { 'a.txt': 'a' });
    const r = await ok(['--json', '--', 'sh', '-c', 'echo out; echo err >&2'], { cwd: repo });
    const j = JSON.parse(r.stdout);
    assert.equal(j.status, 'succeeded');
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.match(r.stderr, /^out$/m);
    assert.match(r.stderr, /^err$/m);
    // The record keeps each stream as the command wrote it.
    assert.equal(git(repo, 'cat-file', 'blob', `refs/runs/${j.id}:logs/stdout`), 'out');
  });

  it('records the state chain submitted -> started -> finished, with the code as a subtree', async () => {
    const repo = makeRepo('chain', { 'src/model.py': 'w = 1\n' });
    await ok(['-q', '--', 'true'], { cwd: repo });
    const [id] = runIds(repo);
    const chain = git(repo, 'log', '--format=%H %s', `refs/runs/${id}`).split('\n');
    assert.equal(chain.length, 3);
    assert.match(chain[2]!, new RegExp(`^${id} submitted: true`));
    assert.match(chain[1]!, / started on /);
    assert.match(chain[0]!, / succeeded \(exit 0\)/);
    assert.equal(git(repo, 'rev-parse', `${id}:code`), git(repo, 'rev-parse', 'HEAD^{tree}'));
    assert.deepEqual(git(repo, 'ls-tree', '--name-only', `refs/runs/${id}`).split('\n').sort(), ['code', 'key-env.json', 'logs', 'result.json', 'run.json', 'state.json']);
    const result = JSON.parse(git(repo, 'show', `refs/runs/${id}:result.json`));
    assert.equal(result.status, 'succeeded');
    assert.equal(result.exitCode, 0);
  });

  it('passes arguments byte-exact, without a shell', async () => {
    const repo = makeRepo('argv', { 'a.txt': 'a' });
    const hostile = ['$(touch pwned)', '`id`', "it's \"quoted\"", 'line1\nline2', '-leading-dash', '--', ' spaced  out ', 'ünïcødé ✓', '*', '; rm -rf /', ''];
    const r = await ok(['-q', '--', ...nodeCmd('process.stdout.write(JSON.stringify(process.argv.slice(1)))'), ...hostile], { cwd: repo });
    assert.deepEqual(JSON.parse(r.stdout), hostile);
    assert.equal(existsSync(path.join(repo, 'pwned')), false);
  });

  it('takes its own options only before the command', async () => {
    const repo = makeRepo('opts-split', { 'args.js': 'process.stdout.write(JSON.stringify(process.argv.slice(2)))' });
    const r = await ok(['--name', 'mine', '-q', process.execPath, 'args.js', '--name', 'theirs', '-d'], { cwd: repo });
    assert.deepEqual(JSON.parse(r.stdout), ['--name', 'theirs', '-d']);
    const j = await showJson(repo, runIds(repo)[0]!);
    assert.equal(j.name, 'mine');
  });

  it('gives the command its seed and run id in the environment', async () => {
    const repo = makeRepo('env', { 'a.txt': 'a' });
    const r = await ok(['-q', '--seed', '1234', '--', ...nodeCmd('process.stdout.write(process.env.GIT_RUN_SEED + " " + process.env.GIT_RUN_ID)')], { cwd: repo });
    const [seed, id] = r.stdout.split(' ');
    assert.equal(seed, '1234');
    assert.equal(id, runIds(repo)[0]);
    assert.equal((await showJson(repo, id!)).seed, 1234);
  });

  it('records a signal death as such and exits 128+n', async () => {
    const repo = makeRepo('signal', { 'a.txt': 'a' });
    const r = await gitRun(['--', ...nodeCmd('process.kill(process.pid, "SIGKILL")')], { cwd: repo });
    assert.equal(r.code, 137);
    const j = await showJson(repo, runIds(repo)[0]!);
    assert.equal(j.status, 'failed');
    assert.equal(j.signal, 'SIGKILL');
    assert.equal(j.exitCode, null);
    assert.match(r.stderr, /killed by SIGKILL/);
  });

  it('records a command that does not exist as failed with exit 127 and says so', async () => {
    const repo = makeRepo('notfound', { 'a.txt': 'a' });
    const r = await gitRun(['--', 'no-such-program-xyz', '--flag'], { cwd: repo });
    assert.equal(r.code, 127);
    assert.match(r.stderr, /no-such-program-xyz: command not found/);
    const [id] = runIds(repo);
    const j = await showJson(repo, id!);
    assert.equal(j.status, 'failed');
    assert.equal(j.exitCode, 127);
    assert.match(j.error, /command not found: no-such-program-xyz/);
    assert.match(git(repo, 'show', `refs/runs/${id}:logs/stderr`), /command not found/);
  });

  it('records outputs: created and changed files, not unchanged ones', async () => {
    const repo = makeRepo('outputs', { 'data/in.txt': 'input\n', 'keep.txt': 'same\n', 'script.js': 'x' });
    const src = `const fs=require('fs');fs.mkdirSync('results',{recursive:true});fs.writeFileSync('results/model.txt','weights');fs.writeFileSync('data/in.txt','changed\\n');fs.writeFileSync('keep.txt','same\\n');fs.unlinkSync('script.js');`;
    await ok(['-q', '--', ...nodeCmd(src)], { cwd: repo });
    const j = await showJson(repo, runIds(repo)[0]!);
    assert.deepEqual(j.outputs.map((o: any) => o.path).sort(), ['data/in.txt', 'results/model.txt']);
    const model = j.outputs.find((o: any) => o.path === 'results/model.txt');
    assert.equal(model.size, 7);
    assert.equal(model.oid, git(repo, 'rev-parse', `refs/runs/${j.id}:outputs/results/model.txt`));
    assert.equal(git(repo, 'cat-file', 'blob', model.oid), 'weights');
  });

  it('records outputs that .gitignore would hide (results/ is commonly ignored)', async () => {
    const repo = makeRepo('ignored-outputs', { '.gitignore': 'results/\n*.log\n', 'a.txt': 'a' });
    await ok(['-q', '--', ...nodeCmd(`const fs=require('fs');fs.mkdirSync('results');fs.writeFileSync('results/r.bin','r');fs.writeFileSync('train.log','l')`)], { cwd: repo });
    const j = await showJson(repo, runIds(repo)[0]!);
    assert.deepEqual(j.outputs.map((o: any) => o.path).sort(), ['results/r.bin', 'train.log']);
  });

  it('runs in the same subdirectory of the snapshot as the user stood in', async () => {
    const repo = makeRepo('subdir', { 'exp/one/conf.txt': 'conf', 'top.txt': 't' });
    const r = await ok(['-q', '--', ...nodeCmd(`const fs=require('fs');process.stdout.write(fs.readFileSync('conf.txt','utf8'));fs.writeFileSync('out.txt','o')`)], { cwd: path.join(repo, 'exp/one') });
    assert.equal(r.stdout, 'conf');
    const j = await showJson(repo, runIds(repo)[0]!);
    assert.equal(j.cwd, 'exp/one/');
    assert.deepEqual(j.outputs.map((o: any) => o.path), ['exp/one/out.txt']);
    assert.equal(existsSync(path.join(repo, 'exp/one/out.txt')), false, 'the work tree is untouched');
  });

  it('--leave decides what stays of the run directory', async () => {
    const repo = makeRepo('leave', { 'a.txt': 'a' });
    const runsDir = path.join(repo, '.git/git-run/runs');
    await ok(['-q', '--', 'true'], { cwd: repo });
    const none = runIds(repo)[0]!;
    assert.equal(existsSync(path.join(runsDir, none)), false, '--leave none (default) removes it');
    await ok(['-q', '--leave', 'all', '--', ...nodeCmd(`require('fs').writeFileSync('o.txt','o')`)], { cwd: repo });
    const all = runIds(repo).find((i) => i !== none)!;
    assert.equal(readFileSync(path.join(runsDir, all, 'work/o.txt'), 'utf8'), 'o');
    assert.equal(readFileSync(path.join(runsDir, all, 'work/a.txt'), 'utf8'), 'a');
    assert.equal((await showJson(repo, all)).runArgs.leave, 'all');
  });

  it('--local-dir puts run directories elsewhere', async () => {
    const repo = makeRepo('localdir', { 'a.txt': 'a' });
    const elsewhere = path.join(repo, '..', path.basename(repo) + '-runs');
    await ok(['-q', '--leave', 'all', '--local-dir', elsewhere, '--', 'true'], { cwd: repo });
    const id = runIds(repo)[0]!;
    assert.ok(existsSync(path.join(elsewhere, id, 'work/a.txt')));
  });

  it('applies .fetchignore to outputs, and with only .sendignore fetches only new files', async () => {
    const repo = makeRepo('fetchignore', { 'a.txt': 'a', 'big.bin': 'big' });
    writeFiles(repo, { '.fetchignore': '*.ckpt\ncache/\n' });
    const mk = `const fs=require('fs');fs.writeFileSync('m.ckpt','c');fs.mkdirSync('cache');fs.writeFileSync('cache/x','x');fs.writeFileSync('r.txt','r');fs.writeFileSync('a.txt','changed')`;
    await ok(['-q', '--', ...nodeCmd(mk)], { cwd: repo });
    let j = await showJson(repo, runIds(repo)[0]!);
    assert.deepEqual(j.outputs.map((o: any) => o.path).sort(), ['a.txt', 'r.txt']);
    assert.equal(j.runArgs.fetch_ignore, '.fetchignore');

    const repo2 = makeRepo('sendignore-only', { 'a.txt': 'a', 'big.bin': 'big' });
    writeFiles(repo2, { '.sendignore': 'big.bin\n' });
    await ok(['-q', '--', ...nodeCmd(`const fs=require('fs');fs.writeFileSync('r.txt','r');fs.writeFileSync('a.txt','changed')`)], { cwd: repo2 });
    j = await showJson(repo2, runIds(repo2)[0]!);
    assert.deepEqual(j.outputs.map((o: any) => o.path), ['r.txt'], 'a.txt was sent, so it is not fetched back');
    assert.throws(() => git(repo2, 'rev-parse', `refs/runs/${j.id}:code/big.bin`));
  });
});

describe('git run through git', () => {
  it('works as `git run` once git-run is on PATH', async () => {
    const { symlinkSync } = await import('node:fs');
    const { execFileSync } = await import('node:child_process');
    const { CLI, tmpdir } = await import('./helpers.js');
    const bin = tmpdir('bin');
    symlinkSync(CLI, path.join(bin, 'git-run'));
    const repo = makeRepo('via-git', { 'a.txt': 'hello' });
    const out = execFileSync('git', ['run', '-q', '--', 'cat', 'a.txt'], { cwd: repo, encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    assert.equal(out, 'hello');
    assert.equal(runIds(repo).length, 1);
  });
});
