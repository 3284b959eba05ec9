import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync, existsSync, readlinkSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startSshd, sshdAvailable, onHost, type Sshd } from './sshd.js';
import { CLI, ROOT, ENV, makeRepo, gitRun, ok, refState, refused, runIds, showJson, nodeCmd, tmpdir } from './helpers.js';

/** Run the CLI with a reader that goes away after the first chunk of stdout. */
function closeEarly(args: string[], cwd: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stdout.once('data', () => child.stdout.destroy());
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr: err }));
  });
}

describe('rough edges of the command line (issue 10)', () => {
  it('a mistyped subcommand is an error naming the closest one; a planned one needs --; a command on PATH still runs', async () => {
    const repo = makeRepo('mistyped', { 'a.txt': 'a' });
    await refused(repo, ['lgo'], "'lgo' is not a git-run subcommand nor a command on PATH", 'did you mean `git run log`? to run a command of that name anyway: git run -- lgo');
    await refused(repo, ['shwo', 'abcd'], "'shwo' is not a git-run subcommand nor a command on PATH", 'did you mean `git run show`? to run a command of that name anyway: git run -- shwo');
    await refused(repo, ['zzzzqqqq'], "'zzzzqqqq' is not a git-run subcommand nor a command on PATH", 'to run a command of that name anyway: git run -- zzzzqqqq');
    // `rm` is on PATH, and git-run's own subcommand: it must not delete the file.
    writeFileSync(path.join(repo, 'victim'), 'x');
    await refused(repo, ['rm', 'victim'], "'victim' is not a run id, nor the name of a run", 'name a run by 4 or more hex digits of its id, or by its name; list runs with `git run log --oneline`');
    await refused(repo, ['-q', 'ui'], "'ui' is reserved for a git-run subcommand", "to run the command 'ui', put it after `--`: git run -- ui ...");
    assert.ok(existsSync(path.join(repo, 'victim')));
    assert.deepEqual(runIds(repo), []);
    // After --, any word is a command; a word on PATH or a path runs as before.
    const r = await gitRun(['--', 'lgo'], { cwd: repo });
    assert.equal(r.code, 127);
    assert.equal(runIds(repo).length, 1);
    await ok(['true'], { cwd: repo });
    writeFileSync(path.join(repo, 'go.sh'), '#!/bin/sh\necho went\n', { mode: 0o755 });
    assert.match((await ok(['./go.sh'], { cwd: repo })).stdout, /went/);
    assert.equal(runIds(repo).length, 3);
  });

  it("log takes git's count forms: -1, -n1, -n 1, --max-count=1", async () => {
    const repo = makeRepo('count-forms', { 'a.txt': 'a' });
    await ok(['--name', 'one', '--', 'true'], { cwd: repo });
    await ok(['--name', 'two', '--', 'true'], { cwd: repo });
    for (const form of [['-1'], ['-n1'], ['-n', '1'], ['--max-count=1'], ['--max-count', '1']]) {
      const out = (await ok(['log', ...form, '--format', '%(name)'], { cwd: repo })).stdout;
      assert.equal(out, 'two\n', form.join(' '));
    }
    assert.equal((await ok(['log', '-2', '--format', '%(name)'], { cwd: repo })).stdout, 'two\none\n');
  });

  it('ends quietly when its reader goes away, and a foreground run is still recorded', async function () {
    this.timeout(120000);
    const repo = makeRepo('epipe', { 'big.txt': 'y\n'.repeat(400000) });
    const id = (await ok(['-d', '--', 'true'], { cwd: repo })).stdout.trim();
    await ok(['wait', id], { cwd: repo });
    // More than a pipe buffer of output, read one chunk of: the writer meets a closed pipe.
    await ok(['edit', id, '--notes', 'n'.repeat(99) + '\n'.repeat(1) + 'x'.repeat(100000)], { cwd: repo });
    for (let i = 0; i < 4; i++) {
      for (const args of [['show', id], ['cat', `${id}:big.txt`]]) {
        const r = await closeEarly(args, repo);
        assert.equal(r.stderr, '', `${args[0]}: ${r.stderr}`);
        assert.ok(r.code === 0 || r.code === 141, `${args[0]} exit ${r.code}`);
      }
    }
    const before = runIds(repo).length;
    const r = await closeEarly(['--', ...nodeCmd('process.stdout.write("y\\n".repeat(1000000))')], repo);
    assert.doesNotMatch(r.stderr, /EPIPE|internal error|at /);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /succeeded/);
    const ids = runIds(repo);
    assert.equal(ids.length, before + 1);
    const last = ids.find((x) => x !== id)!;
    assert.equal((await showJson(repo, last)).status, 'succeeded');
  });

  it('a foreground submission whose reader went away still runs and records every child', async () => {
    const repo = makeRepo('epipe-submit', { 'sweep.json': JSON.stringify({ command: ['sh', '-c', 'echo {n}'], params: { n: { values: [1, 2, 3] } } }) });
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, 'submit', 'sweep.json'], { cwd: repo, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
      // Both readers gone before the first line is written.
      child.stdout.destroy();
      child.stderr.destroy();
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr: '' }));
    });
    assert.ok(r.code === 0 || r.code === 141, `exit ${r.code}`);
    const ids = runIds(repo);
    assert.equal(ids.length, 4, 'the group and its three children');
    for (const id of ids) assert.equal((await showJson(repo, id)).status, 'succeeded');
  });

  it('submit takes -q and run takes --json, as each other does', async () => {
    const repo = makeRepo('output-options', { 'sweep.json': JSON.stringify({ command: ['sh', '-c', 'test {n} != 2'], params: { n: { values: [1, 2] } } }) });
    const q = await gitRun(['submit', '-q', 'sweep.json'], { cwd: repo });
    assert.equal(q.code, 1);
    assert.equal(q.stderr, '');
    const lines = q.stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'only the run that did not succeed');
    assert.match(lines[0]!, /^[0-9a-f]{12} failed +n=2$/);
    const fg = await ok(['--json', '--name', 'j', '--', 'true'], { cwd: repo });
    assert.equal(fg.stderr, '');
    const o = JSON.parse(fg.stdout);
    assert.equal(o.status, 'succeeded');
    assert.equal(o.name, 'j');
    const d = JSON.parse((await ok(['-d', '--json', '--', 'true'], { cwd: repo })).stdout);
    assert.match(d.id, /^[0-9a-f]{40}$/);
  });

  it('show <group> lists its children: id, status, name or params, a metric', async () => {
    const repo = makeRepo('show-group', {
      'sweep.json': JSON.stringify({ command: ['sh', '-c', 'echo "{\\"acc\\": {n}}" > metrics.json'], params: { n: { values: [1, 2, 3] } } }),
    });
    const r = await gitRun(['submit', 'sweep.json', '--json'], { cwd: repo });
    const g = JSON.parse(r.stdout);
    const out = (await ok(['show', g.id], { cwd: repo })).stdout;
    assert.match(out, /\nChildren \(3\):\n/);
    for (const n of [1, 2, 3]) assert.match(out, new RegExp(`\\n  [0-9a-f]{12} succeeded n=${n}  acc=${n}\\n`));
  });

  it('--group-by takes several keys: one row per cell with count, mean, std, min, max', async function () {
    this.timeout(180000); // a sweep of eight runs
    const repo = makeRepo('group-by-many', {
      'sweep.json': JSON.stringify({ command: ['sh', '-c', 'echo "{\\"acc\\": $(( {a} * 10 + {b} + $GIT_RUN_SEED % 2 ))}" > metrics.json'], params: { a: { values: [1, 2] }, b: { values: [3, 4] } }, repeat: 2, seed: 1 }),
    });
    const r = await gitRun(['submit', 'sweep.json', '--json'], { cwd: repo });
    const g = JSON.parse(r.stdout);
    const rows = (await ok(['log', '--parent', g.id, '--group-by', 'param:a', '--group-by', 'param:b', '--json'], { cwd: repo })).stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((x) => [x.a, x.b, x.runs]), [['1', '3', 2], ['1', '4', 2], ['2', '3', 2], ['2', '4', 2]]);
    for (const x of rows) {
      const base = Number(x.a) * 10 + Number(x.b);
      const m = x.metrics.acc;
      assert.ok(m.min >= base && m.max <= base + 1 && m.mean >= m.min && m.mean <= m.max && m.count === 2, JSON.stringify(x));
    }
    const table = (await ok(['log', '--parent', g.id, '--group-by', 'param:a', '--group-by', 'param:b'], { cwd: repo })).stdout;
    assert.match(table, /^a +b +runs +acc \(mean ± std \[min, max\]\)\n/);
    assert.match(table, /\n2 +4 +2 +2[45](\.5)? ± /);
    assert.equal(table.trim().split('\n').length, 5);
  });
});

describe('hostile or odd input (issue 11)', () => {
  it('control characters in names, notes, tags and params are escaped in text output; --json stays exact', async function () {
    this.timeout(180000); // ten commands
    const repo = makeRepo('control-chars', { 'a.txt': 'a' });
    const evil = '\x1b[2Jcleared\nrun 0000000000000000000000000000000000000000 (succeeded)';
    const title = '\x1b]0;owned\x07';
    const a = (await ok(['-d', '--name', evil, '--notes', `line\n${title}`, '--tag', `t${title}`, '-p', `k=${title}`, '--', 'sh', '-c', 'sleep 30', title], { cwd: repo })).stdout.trim();
    const b = (await ok(['-d', '--name', 'plain', '--', 'true'], { cwd: repo })).stdout.trim();
    await ok(['wait', b], { cwd: repo });
    const clean = (s: string, what: string) => assert.doesNotMatch(s, /[\x00-\x08\x0b-\x1f\x7f]/, `${what} prints a control character: ${JSON.stringify(s)}`);
    const outputs: Array<[string, string]> = [
      ['status', (await ok(['status'], { cwd: repo })).stdout],
      ['log --oneline', (await ok(['log', '--oneline'], { cwd: repo })).stdout],
      ['log', (await ok(['log'], { cwd: repo })).stdout],
      ['log --format', (await ok(['log', '--format', '%(name)|%(notes)|%(tags)|%(param:k)|%(command)'], { cwd: repo })).stdout],
      ['show', (await ok(['show', a], { cwd: repo })).stdout],
      ['compare', (await ok(['compare', a, b], { cwd: repo })).stdout],
      ['diff', (await ok(['diff', a, b], { cwd: repo })).stdout],
    ];
    for (const [what, out] of outputs) {
      clean(out, what);
      assert.match(out, /\\e\[2Jcleared|\\e\]0;owned\\x07/, `${what} shows the escapes`);
      if (what !== 'log') assert.doesNotMatch(out, /\nrun 0000000000/, `${what}: no forged line`);
    }
    const forged = outputs.find(([w]) => w === 'log')![1];
    assert.equal(forged.match(/^run [0-9a-f]{40}/gm)!.length, 2, 'only real run headers start a line');
    const j = await showJson(repo, a);
    assert.equal(j.name, evil);
    assert.equal(j.params.k, title);
    await ok(['cancel', a], { cwd: repo });
  });

  it('arguments that are not valid UTF-8 are refused, in -p and in the command, naming the argument', async () => {
    const repo = makeRepo('bytes', { 'a.txt': 'a' });
    // A shell passes the bytes as they are; node's own spawn would encode a string.
    const run = (args: string) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const c = spawn('sh', ['-c', `"${process.execPath}" "${CLI}" ${args}`], { cwd: repo, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '';
        c.stderr.on('data', (d: Buffer) => (err += d.toString()));
        c.on('close', (code) => resolve({ code, stderr: err }));
      });
    const before = refState(repo);
    const p = await run(`-p "$(printf 'a=\\377\\376')" -- true`);
    assert.equal(p.code, 2);
    assert.equal(p.stderr.split('\n')[0], "error: argument 2 is not valid UTF-8: 'a=\\xff\\xfe'");
    assert.match(p.stderr, /\nhint: /);
    const c = await run(`-- echo "$(printf 'x\\351y')"`);
    assert.equal(c.code, 2);
    assert.equal(c.stderr.split('\n')[0], "error: argument 3 is not valid UTF-8: 'x\\xe9y'");
    assert.equal(refState(repo), before, 'nothing written');
    // Valid UTF-8 beyond ASCII arrives exact.
    await ok(['-p', 'w=naïve ☃', '--', 'true'], { cwd: repo });
    const [id] = runIds(repo);
    assert.equal((await showJson(repo, id!)).params.w, 'naïve ☃');
  });

  it('%(param:NAME) and %(metric:NAME) read own keys only: __proto__ and constructor of a run without them print nothing', async () => {
    const repo = makeRepo('proto-format', { 'a.txt': 'a' });
    await ok(['-p', 'lr=1', '--', 'true'], { cwd: repo });
    const f = await ok(['log', '-1', '--format', '[%(param:__proto__)][%(param:constructor)][%(metric:__proto__)][%(param:lr)]'], { cwd: repo });
    assert.equal(f.stdout, '[][][][1]\n');
    // A field name that is a prototype's is unknown, not a crash.
    for (const field of ['__proto__', 'constructor', 'toString']) {
      const r = await gitRun(['log', '--format', `%(${field})`], { cwd: repo });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`unknown field '%\\(${field}\\)'`));
    }
  });

  it('parameter and run_arg names __proto__, constructor, prototype are data, through show --json and --format', async () => {
    const repo = makeRepo('proto-keys', { 'a.txt': 'a' });
    const names = ['__proto__', 'constructor', 'prototype'];
    await ok([...names.flatMap((n, i) => ['-p', `${n}=${i + 1}`]), ...names.flatMap((n, i) => ['--run-arg', `${n}=x${i}`]), '--', 'true'], { cwd: repo });
    const [id] = runIds(repo);
    const j = await showJson(repo, id!);
    for (const [i, n] of names.entries()) {
      assert.ok(Object.hasOwn(j.params, n), `param ${n} kept: ${JSON.stringify(j.params)}`);
      assert.equal(j.params[n], i + 1);
      assert.ok(Object.hasOwn(j.runArgs, n), `run_arg ${n} kept: ${JSON.stringify(j.runArgs)}`);
      assert.equal(j.runArgs[n], `x${i}`);
    }
    const f = (await ok(['log', '-1', '--format', names.map((n) => `%(param:${n})`).join(' ')], { cwd: repo })).stdout;
    assert.equal(f, '1 2 3\n');
  });

  it('checkout --to a dangling link, a file, or through a file: clear errors, exit 2, nothing written', async () => {
    const repo = makeRepo('checkout-dest', { 'a.txt': 'a' });
    await ok(['--', 'true'], { cwd: repo });
    const [id] = runIds(repo);
    const d = tmpdir('checkout-dest-out');
    symlinkSync(path.join(d, 'nowhere'), path.join(d, 'dangling'));
    writeFileSync(path.join(d, 'file'), 'keep');
    await refused(repo, ['checkout', id!, '--to', path.join(d, 'dangling')], `${path.join(d, 'dangling')} is a symbolic link to nothing (${path.join(d, 'nowhere')})`, 'remove the link, or choose a new directory with --to <dir>');
    await refused(repo, ['checkout', id!, '--to', path.join(d, 'file')], `${path.join(d, 'file')} exists and is not a directory`, 'choose a new directory with --to <dir>');
    await refused(repo, ['checkout', id!, '--to', path.join(d, 'file', 'sub')], `cannot write to ${path.join(d, 'file', 'sub')}: a part of that path is not a directory`, 'choose a new directory with --to <dir>');
    assert.equal(readlinkSync(path.join(d, 'dangling')), path.join(d, 'nowhere'));
    assert.ok(!existsSync(path.join(d, 'nowhere')));
    // A link to an empty directory is a directory.
    mkdirSync(path.join(d, 'empty'));
    symlinkSync(path.join(d, 'empty'), path.join(d, 'to-empty'));
    await ok(['checkout', id!, '--to', path.join(d, 'to-empty')], { cwd: repo });
    assert.ok(existsSync(path.join(d, 'empty', 'a.txt')));
  });
});

describe('manual and completion (issue 10)', () => {
  it('man/git-run.1 is generated from the command definitions: every subcommand and option, values named; man renders it', async () => {
    const { buildCli } = await import('../src/cli/app.js');
    const page = readFileSync(path.join(ROOT, 'man', 'git-run.1'), 'utf8');
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.deepEqual(pkg.man, ['./man/git-run.1']);
    const roff = (s: string) => s.replace(/\\/g, '\\e').replace(/-/g, '\\-');
    for (const d of buildCli().definitions()) {
      if (d.path !== 'git run') assert.ok(page.includes(`.SS ${roff(d.path)}\n`), `a section for ${d.path}`);
      for (const o of d.options) {
        assert.doesNotMatch(o.definition, /#\d/);
        assert.ok(page.includes(`.B ${roff(o.definition)}\n`), `${d.path}: ${o.definition}`);
      }
    }
    assert.match(page, /\.B \\-\\-name <name>\n/);
    const man = spawnSync('man', ['-l', path.join(ROOT, 'man', 'git-run.1')], { encoding: 'utf8', env: { ...ENV, MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '80' } });
    if (man.error) return; // no man here: the page's content is checked above
    assert.equal(man.status, 0, man.stderr);
    assert.match(man.stdout, /git-run - run a command and record it/);
    assert.match(man.stdout, /git run log/);
    const repo = makeRepo('help-exit', { 'a.txt': 'a' });
    const h = await gitRun(['--help'], { cwd: repo });
    assert.equal(h.code, 0);
    assert.match((await ok(['log', '--help'], { cwd: repo })).stdout, /--max-count <max-count> /);
  });

  it("completion bash plugs into git's completion: subcommands, options, run ids, experiments, hosts", async function () {
    const gitCompletion = '/usr/share/bash-completion/completions/git';
    if (!existsSync(gitCompletion)) {
      if (process.env.CI) throw new Error(`${gitCompletion} is missing: git's bash completion ships with the git package`);
      this.skip();
    }
    const repo = makeRepo('completion', {
      '.runconfig': JSON.stringify({ hosts: { 'gpu-box': { type: 'ssh', host: 'gpu' } }, experiments: { baseline: { command: ['true'] }, bigger: { command: ['true'] } } }),
    });
    const id = (await ok(['-d', '--', 'true'], { cwd: repo })).stdout.trim();
    await ok(['wait', id], { cwd: repo });
    // `git run` as git finds it: git-run on PATH.
    const bin = tmpdir('completion-bin');
    symlinkSync(CLI, path.join(bin, 'git-run'));
    const script = (await ok(['completion', 'bash'], { cwd: repo })).stdout;
    writeFileSync(path.join(bin, 'git-run.bash'), script);
    const complete = (...words: string[]) => {
      const src = `source ${gitCompletion}; source ${bin}/git-run.bash
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; COMP_LINE="\${COMP_WORDS[*]}"; COMP_POINT=\${#COMP_LINE}
__git_wrap__git_main; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = spawnSync('bash', ['--norc', '--noprofile', '-c', src], { cwd: repo, encoding: 'utf8', env: { ...ENV, PATH: `${bin}:${ENV.PATH}` } });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean).sort();
    };
    assert.deepEqual(complete('git', 'run', 'lo'), ['log', 'logs']);
    assert.deepEqual(complete('git', 'run', 'log', '--onel'), ['--oneline']);
    assert.deepEqual(complete('git', 'run', '--na'), ['--name']);
    assert.deepEqual(complete('git', 'run', 'show', id.slice(0, 3)), [id.slice(0, 12)]);
    assert.deepEqual(complete('git', 'run', 'submit', ''), ['baseline', 'bigger']);
    assert.deepEqual(complete('git', 'run', '--host', 'g'), ['gpu-box']);
    const zsh = (await ok(['completion', 'zsh'], { cwd: repo })).stdout;
    assert.match(zsh, /^#compdef git-run\n/);
    assert.match(zsh, /_git-run \(\) \{/);
    await refused(repo, ['completion', 'fish'], "no completion for 'fish'", 'use git run completion bash, or git run completion zsh');
  });
});

describe('the default --leave (a real sshd on 127.0.0.1)', function () {
  let sshd: Sshd;
  before(async function () {
    if (!sshdAvailable(this)) return;
    sshd = await startSshd();
  });
  after(() => sshd?.stop());

  it('is code: a second remote run of unchanged code sends 0 bytes, with no .runconfig defaults and with the one git run init writes', async function () {
    this.timeout(300000); // four remote runs: slow on a loaded machine
    for (const init of [false, true]) {
      const remoteDir = `/tmp/git-run-remote-leave-default-${init}-${process.pid}`;
      const hosts = { box: { type: 'ssh', host: 'testhost', ssh_config: sshd.config, remote_dir: remoteDir } };
      const repo = makeRepo(`leave-default-${init}`, { 'big.txt': 'x'.repeat(100000), '.runconfig': JSON.stringify({ hosts }) });
      if (init) {
        await ok(['init', '--force'], { cwd: repo });
        const starter = JSON.parse(readFileSync(path.join(repo, '.runconfig'), 'utf8'));
        assert.equal(starter.defaults.leave, 'code');
        writeFileSync(path.join(repo, '.runconfig'), JSON.stringify({ ...starter, hosts }));
      }
      await ok(['-q', '--host', 'box', '--', 'true'], { cwd: repo });
      await ok(['-q', '--host', 'box', '--', 'true', 'again'], { cwd: repo });
      const [first, second] = await Promise.all(runIds(repo).map((id) => showJson(repo, id)));
      const sent = [first!, second!].map((j) => j.codeBytesSent).sort((a, b) => a - b);
      assert.equal(sent[0], 0, `the second run sent nothing (${sent})`);
      assert.ok(sent[1] > 100000, `the first sent the code (${sent})`);
      assert.equal(first!.runArgs.leave, 'code');
      onHost(sshd, `rm -rf ${remoteDir}`);
    }
  });
});
