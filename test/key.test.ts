import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, gitRun, ok, showJson, git, runIds, writeFiles, refState, ENV } from './helpers.js';
import { commandBaseEnv, keyEnvironment, looksLikeCredential, compareKeyParts } from '../src/core/key.js';
import type { KeyParts } from '../src/core/record.js';

/** Every git object of the repository, as text (what a push would carry). */
const allObjects = (repo: string): string => execFileSync('git', ['cat-file', '--batch-all-objects', '--batch'], { cwd: repo, env: ENV, maxBuffer: 1 << 28 }).toString('latin1');

/** `git run --seed 5 -q -- sh -c 'echo ran'`, with extra variables: the run's id and whether it was reused. */
async function run(repo: string, env: Record<string, string> = {}, extra: string[] = []): Promise<{ id: string; reused: boolean; stderr: string }> {
  const r = await ok(['--seed', '5', ...extra, '--', 'sh', '-c', 'echo ran'], { cwd: repo, env });
  const id = (await ok(['log', '-n1', '--format=%H'], { cwd: repo })).stdout.trim();
  return { id, reused: /reusing run/.test(r.stderr), stderr: r.stderr };
}

describe('the run key: environment, deps, what does not count', function () {
  this.timeout(120000);

  it('reruns when a variable the command sees changes, reuses when only session variables do', async () => {
    const repo = makeRepo('key-env', { 'prepare.py': 'print(1)\n' });
    const a = await run(repo);
    assert.equal((await run(repo)).reused, true, 'same environment: reused');
    // The case: N_CHARS changes the data, so it must not reuse a run made without it.
    const b = await run(repo, { N_CHARS: '80000' });
    assert.equal(b.reused, false);
    assert.notEqual(b.id, a.id);
    assert.equal((await run(repo, { N_CHARS: '80000' })).reused, true);
    assert.equal((await run(repo, { N_CHARS: '90000' })).reused, false);
    // A terminal, an ssh agent, a shell level cannot change a result.
    assert.equal((await run(repo, { N_CHARS: '90000', TERM: 'xterm-kitty', SSH_AUTH_SOCK: '/tmp/x', SHLVL: '7', OLDPWD: '/' })).reused, true);
  });

  it('never stores a value: names with keyed hashes; credential-looking names are left out and named', async () => {
    const repo = makeRepo('key-secret', { 'a.txt': 'a' });
    const secret = 'hunter2-4f1b9c';
    const plain = 'plain-value-8d2e71';
    const r1 = await run(repo, { HF_TOKEN: secret, DATA_VARIANT: plain });
    const objects = allObjects(repo);
    assert.ok(!objects.includes(secret), 'the token is in no object');
    assert.ok(!objects.includes(plain), 'a plain value is in no object either');
    const env = JSON.parse(git(repo, 'show', `${r1.id}:key-env.json`)) as Record<string, string>;
    assert.match(env.DATA_VARIANT!, /^[0-9a-f]{32}$/);
    assert.ok(!('HF_TOKEN' in env));
    const spec = JSON.parse(git(repo, 'show', `${r1.id}:run.json`));
    assert.ok(spec.keyParts.envLeftOut.includes('HF_TOKEN'));
    // A new token does not rerun; `why` names it as left out.
    assert.equal((await run(repo, { HF_TOKEN: 'other', DATA_VARIANT: plain })).reused, true);
    const r2 = await run(repo, { HF_TOKEN: 'other', DATA_VARIANT: 'x' });
    assert.equal(r2.reused, false);
    const why = (await ok(['why', r2.id], { cwd: repo })).stdout;
    assert.match(why, /environment: changed DATA_VARIANT/);
    assert.match(why, /not in the key: HF_TOKEN \(looks like a credential/);
    assert.ok(!why.includes(plain) && !why.includes('hunter2'));
    // The hash is keyed: the same value hashes differently under another key (another user's, an attacker's guess list).
    const other = await ok(['--seed', '5', '--', 'sh', '-c', 'echo ran'], { cwd: repo, env: { HF_TOKEN: 'other', DATA_VARIANT: 'x', GIT_RUN_ENV_KEY_FILE: path.join(repo, '.git', 'other-key') } });
    assert.doesNotMatch(other.stderr, /reusing run/);
  });

  it('.runconfig env_ignore leaves a variable out; env_include keeps a credential-looking one', async () => {
    const repo = makeRepo('key-config', { '.runconfig': JSON.stringify({ env_ignore: ['WANDB_*'], env_include: ['AUTH_MODE'] }) });
    await run(repo, { WANDB_RUN_GROUP: 'a', AUTH_MODE: 'x' });
    assert.equal((await run(repo, { WANDB_RUN_GROUP: 'b', AUTH_MODE: 'x' })).reused, true, 'an ignored variable');
    assert.equal((await run(repo, { WANDB_RUN_GROUP: 'b', AUTH_MODE: 'y' })).reused, false, 'an included one');
    writeFiles(repo, { '.runconfig': JSON.stringify({ env_ignore: 'WANDB_*' }) });
    const before = refState(repo);
    const bad = await gitRun(['--', 'true'], { cwd: repo });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /env_ignore: expected an array of variable names/);
    assert.equal(refState(repo), before);
  });

  it('a run the daemon starts sees the environment it was submitted from (the one its key hashed)', async () => {
    const repo = makeRepo('key-daemon', { 'a.txt': 'a' });
    await ok(['daemon', 'start'], { cwd: repo });
    try {
      const r = await ok(['-d', '--seed', '1', '--', 'sh', '-c', 'echo "v=$SUBMITTED_VALUE"'], { cwd: repo, env: { SUBMITTED_VALUE: 'from-the-shell' } });
      const id = r.stdout.trim();
      await ok(['wait', id], { cwd: repo });
      assert.equal((await ok(['logs', id], { cwd: repo })).stdout, 'v=from-the-shell\n');
      // The copy (values can be secrets) is gone once the command has it.
      const dir = path.join(repo, '.git', 'git-run', 'runs', id);
      assert.ok(!existsSync(path.join(dir, 'environ.json')));
    } finally {
      await gitRun(['daemon', 'stop'], { cwd: repo });
    }
  });

  it('`git run` and `git-run` key the same: the exec path git puts before PATH is undone', async () => {
    const repo = makeRepo('key-git-exec-path', { 'a.txt': 'a' });
    const first = await run(repo);
    const exec = execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim();
    // What git sets when it starts `git-run` as `git run`.
    const again = await run(repo, { GIT_EXEC_PATH: exec, PATH: `${exec}:${ENV.PATH}` });
    assert.equal(again.reused, true);
    assert.equal(again.id, first.id);
    // The command sees the user's PATH, not git's.
    const r = await ok(['-q', '--', 'sh', '-c', 'echo "$PATH"'], { cwd: repo, env: { GIT_EXEC_PATH: exec, PATH: `${exec}:${ENV.PATH}` } });
    assert.equal(r.stdout.trim(), ENV.PATH);
  });

  it('deps: the key covers only those paths; a README edit reuses, a code edit reruns; a dep matching nothing is refused', async () => {
    const repo = makeRepo('key-deps', { 'train.py': 'print(1)\n', 'model/net.py': 'w = 1\n', 'README.md': 'hello\n' });
    const deps = ['--dep', 'train.py', '--dep', 'model/'];
    const whole = async () => (await ok(['--seed', '5', '--', 'sh', '-c', 'echo whole'], { cwd: repo })).stderr;
    await whole();
    const a = await run(repo, {}, deps);
    writeFiles(repo, { 'README.md': 'hello, edited\n', 'notes.txt': 'new file\n' });
    const b = await run(repo, {}, deps);
    assert.equal(b.reused, true, 'a README edit does not rerun a run with deps');
    // Without deps the whole snapshot is the code.
    assert.doesNotMatch(await whole(), /reusing/);
    writeFiles(repo, { 'model/net.py': 'w = 2\n' });
    const c = await run(repo, {}, deps);
    assert.equal(c.reused, false);
    const why = (await ok(['why', c.id], { cwd: repo })).stdout;
    assert.match(why, new RegExp(`compared with the earlier run ${a.id.slice(0, 12)}`));
    assert.match(why, /the code selected by deps changed/);
    assert.match(why, /model\/net\.py \| 2 \+-/);
    assert.doesNotMatch(why, /README/);
    // The whole snapshot is still recorded.
    assert.equal(git(repo, 'show', `${c.id}:code/README.md`), 'hello, edited');
    // From a subdirectory, deps are relative to it, as git's pathspecs are.
    const sub = await ok(['--seed', '5', '--dep', 'net.py', '--dep', ':/train.py', '--', 'sh', '-c', 'echo ran'], { cwd: path.join(repo, 'model') });
    void sub;
    const subSpec = JSON.parse(git(repo, 'show', `${(await ok(['log', '-n1', '--format=%H'], { cwd: repo })).stdout.trim()}:run.json`));
    assert.deepEqual(subSpec.keyParts.deps, ['model/net.py', 'train.py']);
    const before = refState(repo);
    const bad = await gitRun(['--dep', 'trian.py', '--', 'true'], { cwd: repo });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /error: the dep 'trian.py' matches nothing in the snapshot/);
    assert.match(bad.stderr, /hint: deps are pathspecs/);
    assert.equal(refState(repo), before);
  });

  it('deps in a definition; .runconfig entries that do not apply and a definition\'s metadata never change the key', async () => {
    const def = { command: ['sh', '-c', 'echo trained'], seed: 3, deps: ['train.py'], name: 'first', tags: ['a'] };
    const repo = makeRepo('key-definition', {
      'train.py': 'print(1)\n',
      'exp/train.json': JSON.stringify(def),
      '.runconfig': JSON.stringify({ experiments: { other: { command: ['true'] } } }),
    });
    const first = await ok(['submit', 'exp/train.json'], { cwd: repo });
    const id = runIds(repo)[0]!;
    void first;
    // New metadata in the definition file, another experiment and a new host profile in .runconfig.
    writeFiles(repo, {
      'exp/train.json': JSON.stringify({ ...def, name: 'renamed', notes: 'now with notes', tags: ['b'] }),
      '.runconfig': JSON.stringify({ experiments: { other: { command: ['false'] }, third: { command: ['true'] } }, hosts: { gpu: { type: 'local', max_parallel: 2 } } }),
    });
    const again = await ok(['submit', 'exp/train.json'], { cwd: repo });
    assert.match(again.stderr, /1 reused/);
    assert.deepEqual(runIds(repo), [id]);
    // The new name was applied to the reused run, as `git run edit` would.
    assert.equal((await showJson(repo, id)).name, 'renamed');
    // Without deps, the same holds for the whole snapshot: only .runconfig and the definition file are left out of it.
    const { deps: _d, ...whole } = def;
    writeFiles(repo, { 'whole.json': JSON.stringify(whole) });
    await ok(['submit', 'whole.json'], { cwd: repo });
    writeFiles(repo, { 'whole.json': JSON.stringify({ ...whole, notes: 'edited' }), '.runconfig': JSON.stringify({ experiments: {} }) });
    assert.match((await ok(['submit', 'whole.json'], { cwd: repo })).stderr, /1 reused/);
    writeFiles(repo, { 'train.py': 'print(2)\n' });
    assert.doesNotMatch((await ok(['submit', 'whole.json'], { cwd: repo })).stderr, /reused/);
  });

  it('why: parameters, seed, code with a diffstat; nothing earlier; a group', async () => {
    const repo = makeRepo('key-why', { 'train.py': 'lr = 1\n' });
    const a = await ok(['-q', '--seed', '1', '-p', 'lr=0.1', '--', 'sh', '-c', 'echo {lr}'], { cwd: repo });
    void a;
    const [first] = runIds(repo);
    const none = (await ok(['why', first!], { cwd: repo })).stdout;
    assert.match(none, /there was nothing to reuse/);
    writeFiles(repo, { 'train.py': 'lr = 2\n' });
    await ok(['-q', '--seed', '2', '-p', 'lr=0.1', '--', 'sh', '-c', 'echo {lr}'], { cwd: repo });
    const second = (await ok(['log', '-n1', '--format=%H'], { cwd: repo })).stdout.trim();
    const text = (await ok(['why', second], { cwd: repo })).stdout;
    assert.match(text, /seed: 1 -> 2/);
    assert.match(text, /the code changed/);
    assert.match(text, /train\.py \| 2 \+-/);
    const j = JSON.parse((await ok(['why', '--json', second], { cwd: repo })).stdout);
    assert.equal(j.against.id, first);
    assert.deepEqual(j.differences.map((d: { part: string }) => d.part).sort(), ['code', 'seed']);
    // A definition's runs are compared by experiment (their commands differ by the substituted values): a parameter, old -> new.
    writeFiles(repo, { 'train.json': JSON.stringify({ command: ['sh', '-c', 'echo {lr}'], params: { lr: 0.1 }, seed: 3 }) });
    await ok(['submit', 'train.json', '-q'], { cwd: repo });
    await ok(['submit', 'train.json', 'lr=0.5', '-q'], { cwd: repo });
    const third = (await ok(['log', '-n1', '--format=%H'], { cwd: repo })).stdout.trim();
    assert.match((await ok(['why', third], { cwd: repo })).stdout, /parameters: lr 0\.1 -> 0\.5/);
    const bad = await gitRun(['why', 'zzzz'], { cwd: repo });
    assert.equal(bad.code, 2);
  });

  it('--dry-run says what would run and what would be reused, and why, and writes nothing', async () => {
    const repo = makeRepo('key-dry-run', { 'train.py': 'print(1)\n', 'sweep.json': JSON.stringify({ command: ['sh', '-c', 'echo {lr}'], params: { lr: { values: [1, 2] } }, seed: 4 }) });
    await ok(['-q', '--seed', '9', '--', 'sh', '-c', 'echo x'], { cwd: repo });
    const objects = () => git(repo, 'count-objects', '-v');
    const files = () => readdirSync(path.join(repo, '.git', 'git-run'), { recursive: true }).filter((f) => !String(f).startsWith('index.sqlite')).sort().join('\n');
    const before = [refState(repo), objects(), files()];
    const same = await ok(['--dry-run', '--seed', '9', '--', 'sh', '-c', 'echo x'], { cwd: repo });
    assert.match(same.stdout, /^would reuse run [0-9a-f]{12} \(succeeded\): sh -c 'echo x' \(seed 9\)$/m);
    const changed = await ok(['-n', '--seed', '9', '--', 'sh', '-c', 'echo x'], { cwd: repo, env: { EXTRA: '1' } });
    assert.match(changed.stdout, /^would run: sh -c 'echo x' \(seed 9\)$/m);
    assert.match(changed.stdout, /environment: new EXTRA/);
    assert.match(changed.stdout, /nothing was written \(--dry-run\)/);
    const sweep = await ok(['submit', 'sweep.json', '--dry-run'], { cwd: repo });
    assert.match(sweep.stdout, /^2 runs: 2 would run, 0 would be reused/m);
    const j = JSON.parse((await ok(['submit', 'sweep.json', '--dry-run', '--json'], { cwd: repo })).stdout);
    assert.equal(j.children.length, 2);
    assert.deepEqual([refState(repo), objects(), files()], before, 'no ref, object or run directory');
    // Then for real, and the dry run sees the reuse.
    await ok(['submit', 'sweep.json', '-q'], { cwd: repo });
    assert.match((await ok(['submit', 'sweep.json', '--dry-run'], { cwd: repo })).stdout, /2 runs: 0 would run, 2 would be reused/);
  });

  it('rerun: reused when nothing changed, run on changed code, --same-code runs the recorded snapshot', async () => {
    const repo = makeRepo('key-rerun', { 'train.py': 'print("v1")\n' });
    await ok(['-q', '--seed', '7', '-p', 'lr=0.1', '--', 'python3', 'train.py'], { cwd: repo });
    const [id] = runIds(repo);
    const same = await ok(['rerun', id!], { cwd: repo });
    assert.match(same.stderr, new RegExp(`reusing run ${id!.slice(0, 12)}`));
    assert.equal(same.stdout, 'v1\n');
    writeFiles(repo, { 'train.py': 'print("v2")\n' });
    const again = await ok(['rerun', id!], { cwd: repo });
    assert.equal(again.stdout, 'v2\n');
    const newest = (await ok(['log', '-n1', '--format=%H'], { cwd: repo })).stdout.trim();
    const j = await showJson(repo, newest);
    assert.equal(j.seed, 7);
    assert.deepEqual(j.params, { lr: 0.1 });
    assert.match((await ok(['why', newest], { cwd: repo })).stdout, /the code changed/);
    const old = await ok(['rerun', '--same-code', id!], { cwd: repo });
    assert.match(old.stderr, /reusing run/);
    const forced = await ok(['rerun', '--same-code', '--force', '--force-ignores-success', id!], { cwd: repo });
    assert.equal(forced.stdout, 'v1\n');
    assert.doesNotMatch(forced.stderr, /reusing/);
    assert.match((await ok(['rerun', '--dry-run', id!], { cwd: repo })).stdout, /would reuse run/);
  });
});

describe('the run key, unit', () => {
  it('leaves session and credential-looking names out, and keys the rest', () => {
    const env = commandBaseEnv({ PATH: '/usr/lib/git-core:/bin', GIT_EXEC_PATH: '/usr/lib/git-core', TERM: 'x', HF_TOKEN: 's', LR: '1', __proto__: 'p', constructor: 'c' } as Record<string, string>, { DECLARED: 'd' });
    assert.equal(env.get('PATH'), '/bin');
    assert.ok(!env.has('GIT_EXEC_PATH'));
    const k = Buffer.alloc(32, 1);
    const { hashed, leftOut } = keyEnvironment(env, { ignore: [], include: [] }, k);
    assert.deepEqual([...leftOut.keys()].sort(), ['HF_TOKEN', 'TERM']);
    assert.ok(hashed.has('LR') && hashed.has('DECLARED') && hashed.has('constructor') && hashed.has('PYTHONUNBUFFERED'));
    const other = keyEnvironment(env, { ignore: [], include: [] }, Buffer.alloc(32, 2)).hashed;
    assert.notEqual(other.get('LR'), hashed.get('LR'));
    for (const n of ['GITHUB_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'OPENAI_API_KEY', 'DB_PASSWORD', 'WANDB_API_KEY', 'HF_TOKEN']) assert.ok(looksLikeCredential(n), n);
    for (const n of ['PATH', 'LR', 'TOKENIZERS_PARALLELISM', 'PWD', 'CUDA_VISIBLE_DEVICES', 'BYPASS_CACHE']) assert.ok(!looksLikeCredential(n), n);
  });

  it('names each differing part', () => {
    const base: KeyParts = { v: 2, code: 't', deps: null, command: ['a'], cwd: '', params: { lr: 1 }, seed: 1, inputs: [{ path: 'd', oid: 'aaaa' }], env: 'e', envLeftOut: [], runArgs: {} };
    assert.deepEqual(compareKeyParts(base, base), []);
    const d = compareKeyParts(base, { ...base, params: { lr: 2, bs: 3 }, inputs: [{ path: 'd', oid: 'bbbb' }], runArgs: { partition: 'gpu' } });
    assert.deepEqual(d.map((x) => x.part), ['params', 'inputs', 'runArgs']);
    assert.match(d[0]!.text, /bs \(unset\) -> 3, lr 1 -> 2/);
  });
});
