import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createCipheriv, randomBytes } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { makeRepo, gitRun, git, runIds, nodeCmd } from './helpers.js';
import { startSshd, sshdAvailable, onHost, type Sshd } from './sshd.js';
import { openRepo } from '../src/git/repo.js';
import { receivePack, PackRefused } from '../src/git/pack-receive.js';

const result = (repo: string, id: string) => JSON.parse(git(repo, 'cat-file', 'blob', `refs/runs/${id}:result.json`));
const outputsOf = (repo: string, id: string) => {
  const r = spawnSync('git', ['rev-parse', '-q', '--verify', `refs/runs/${id}:outputs`], { cwd: repo, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
};
/** Quarantines left in the user's object store (there must be none). */
const quarantines = (repo: string) => readdirSync(path.join(repo, '.git', 'objects')).filter((n) => n.startsWith('tmp_objdir'));

/** One run; `failing`: it must exit non-zero (else zero). */
async function runOne(repo: string, args: string[], failing = false): Promise<string> {
  const before = runIds(repo);
  const r = await gitRun(['-q', ...args], { cwd: repo, env: { SSH_AUTH_SOCK: '' } });
  if (failing) assert.notEqual(r.code, 0, r.stderr);
  else assert.equal(r.code, 0, r.stderr);
  const made = runIds(repo).filter((i) => !before.includes(i));
  assert.equal(made.length, 1);
  return made[0]!;
}

/** A node script writing `mib` MiB of incompressible bytes (AES-CTR of zeros), the range [at, at + len) from another key. */
const checkpoint = (file: string, mib: number, at = 0, len = 0) =>
  nodeCmd(
    `const c=require('crypto');const n=${mib}*1048576;const b=c.createCipheriv('aes-128-ctr',Buffer.alloc(16,1),Buffer.alloc(16)).update(Buffer.alloc(n));` +
      `if(${len}>0)c.createCipheriv('aes-128-ctr',Buffer.alloc(16,2),Buffer.alloc(16)).update(Buffer.alloc(${len})).copy(b,${at});require('fs').writeFileSync(${JSON.stringify(file)},b)`,
  );

describe('outputs returned as objects over SSH (a real sshd on 127.0.0.1)', function () {
  let sshd: Sshd;
  before(async function () {
    if (!sshdAvailable(this)) return;
    sshd = await startSshd();
  });
  after(() => sshd?.stop());

  const remoteRepo = (label: string, files: Record<string, string> = {}, extra: Record<string, unknown> = {}) => {
    const remoteDir = `/tmp/git-run-remote-${label}-${process.pid}`;
    const profile = { type: 'ssh', host: 'testhost', ssh_config: sshd.config, remote_dir: remoteDir };
    const repo = makeRepo(label, {
      ...files,
      '.runconfig': JSON.stringify({ ...extra, hosts: { box: { ...profile, outputs_objects: true }, tarbox: { ...profile, outputs_objects: false } } }),
    });
    return { repo, remoteDir };
  };

  it('files, an executable, a symlink and nested directories come back as objects: the same outputs tree as the tar path', async () => {
    const { repo, remoteDir } = remoteRepo('objout-same', { 'code.txt': 'code\n', 'link-to-code': '' });
    const script = 'mkdir -p a/b/c && echo deep > a/b/c/f.txt && printf "#!/bin/sh\\necho hi\\n" > run.sh && chmod +x run.sh && ln -s ../../code.txt a/b/ln && ln -s c/f.txt a/b/ln2 && echo changed > code.txt && printf "" > empty && echo same > dup1 && echo same > dup2';
    const viaObjects = await runOne(repo, ['--host', 'box', '--', 'sh', '-c', script]);
    const viaTar = await runOne(repo, ['--host', 'tarbox', '--', 'sh', '-c', script]);
    assert.equal(result(repo, viaObjects).outputsTransfer, 'objects');
    assert.equal(result(repo, viaTar).outputsTransfer, 'tar');
    assert.equal(result(repo, viaObjects).status, 'succeeded');
    const tree = outputsOf(repo, viaObjects);
    assert.ok(tree, 'the run has outputs');
    assert.equal(tree, outputsOf(repo, viaTar), 'the same outputs tree either way');
    const listing = git(repo, 'ls-tree', '-r', `refs/runs/${viaObjects}:outputs`);
    assert.match(listing, /^100755 blob \S+\trun\.sh$/m);
    assert.match(listing, /^120000 blob \S+\ta\/b\/ln$/m);
    assert.equal(git(repo, 'cat-file', 'blob', `refs/runs/${viaObjects}:outputs/a/b/ln`), '../../code.txt');
    assert.equal(git(repo, 'cat-file', 'blob', `refs/runs/${viaObjects}:outputs/a/b/c/f.txt`), 'deep');
    // The host's store keeps the outputs reachable under the run's id; nothing is left in a quarantine here.
    assert.match(onHost(sshd, `git --git-dir=${remoteDir}/store.git for-each-ref --format='%(refname)' refs/outputs/`), new RegExp(`refs/outputs/${viaObjects}`));
    assert.deepEqual(quarantines(repo), []);
    assert.equal(spawnSync('git', ['fsck', '--connectivity-only', '--no-dangling'], { cwd: repo }).status, 0);
  });

  it('a second run whose 8 MiB output differs in 256 KiB fetches about the changed part; a repeated output fetches nothing', async () => {
    const { repo } = remoteRepo('objout-delta', { 'README.md': 'x\n' }, { large_output: 'off' });
    const first = await runOne(repo, ['--host', 'box', '--', ...checkpoint('ck.bin', 8)]);
    const r1 = result(repo, first);
    assert.equal(r1.outputsTransfer, 'objects');
    assert.ok(r1.outputBytesFetched > 8 * 2 ** 20, `the first checkpoint comes whole (${r1.outputBytesFetched} bytes)`);
    const second = await runOne(repo, ['--host', 'box', '--', ...checkpoint('ck.bin', 8, 3 * 2 ** 20, 256 * 1024)]);
    const r2 = result(repo, second);
    assert.equal(r2.outputsTransfer, 'objects');
    assert.ok(r2.outputBytesFetched < 2 * 256 * 1024, `about the changed part (${r2.outputBytesFetched} bytes for 262144 changed)`);
    assert.ok(r2.outputBytesFetched > 256 * 1024, 'the changed part itself came');
    // The content is right, byte for byte.
    const local = execFileSync('git', ['cat-file', 'blob', `refs/runs/${second}:outputs/ck.bin`], { cwd: repo, maxBuffer: 64 * 2 ** 20 });
    const expect = createCipheriv('aes-128-ctr', Buffer.alloc(16, 1), Buffer.alloc(16)).update(Buffer.alloc(8 * 2 ** 20));
    createCipheriv('aes-128-ctr', Buffer.alloc(16, 2), Buffer.alloc(16)).update(Buffer.alloc(256 * 1024)).copy(expect, 3 * 2 ** 20);
    assert.ok(local.equals(expect), 'the received checkpoint is the one written');
    // The first checkpoint again (another command, same bytes): nothing to fetch.
    const third = await runOne(repo, ['--host', 'box', '--', 'sh', '-c', '"$0" "$@"; true', ...checkpoint('ck.bin', 8)]);
    assert.ok(result(repo, third).outputBytesFetched < 4096, `a repeated output costs ~0 bytes (${result(repo, third).outputBytesFetched})`);
    assert.equal(outputsOf(repo, third), outputsOf(repo, first));
    assert.deepEqual(quarantines(repo), []);
  });

  it('gc --host drops refs/outputs of runs whose directories are gone, and the objects only they held; --dry-run drops nothing', async () => {
    const { repo, remoteDir } = remoteRepo('objout-gc', { 'README.md': 'x\n' });
    const id = await runOne(repo, ['--host', 'box', '--', 'sh', '-c', 'echo kept-until-gc > out.txt']);
    const store = `${remoteDir}/store.git`;
    const refs = () => onHost(sshd, `git --git-dir=${store} for-each-ref --format='%(refname)' refs/outputs/`).trim();
    assert.equal(refs(), `refs/outputs/${id}`);
    const blob = git(repo, 'rev-parse', `refs/runs/${id}:outputs/out.txt`);
    const dry = JSON.parse((await gitRun(['gc', '--host', 'box', '--prune', 'now', '--dry-run', '--json'], { cwd: repo, env: { SSH_AUTH_SOCK: '' } })).stdout);
    assert.ok(dry.removed.other >= 1, JSON.stringify(dry));
    assert.equal(refs(), `refs/outputs/${id}`, 'a dry run drops nothing');
    const r = await gitRun(['gc', '--host', 'box', '--prune', 'now'], { cwd: repo, env: { SSH_AUTH_SOCK: '' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(refs(), '', 'the ref of a run whose directory is gone went');
    assert.notEqual(spawnSync('git', ['--git-dir', store, 'cat-file', '-e', blob]).status, 0, 'and the objects only it held');
    assert.equal(git(repo, 'cat-file', 'blob', `refs/runs/${id}:outputs/out.txt`), 'kept-until-gc', 'the run here keeps its outputs');
  });

  it('small outputs keep the tar path by default (one small output is no slower); a host profile can turn objects off', async () => {
    const remoteDir = `/tmp/git-run-remote-objout-default-${process.pid}`;
    const repo = makeRepo('objout-default', { '.runconfig': JSON.stringify({ hosts: { box: { type: 'ssh', host: 'testhost', ssh_config: sshd.config, remote_dir: remoteDir } } }) });
    const id = await runOne(repo, ['--host', 'box', '--', 'sh', '-c', 'echo 1 > out.txt']);
    assert.equal(result(repo, id).outputsTransfer, 'tar');
    assert.equal(git(repo, 'cat-file', 'blob', `refs/runs/${id}:outputs/out.txt`), '1');
  });
});

describe('outputs as objects from a hostile host (a real sshd whose git lies)', function () {
  let sshd: Sshd;
  let fake: string;
  before(async function () {
    if (!sshdAvailable(this)) return;
    fake = mkdtempSync(path.join(os.tmpdir(), 'git-run-fakegit-'));
    mkdirSync(path.join(fake, 'bin'));
    // The host's git, except that write-tree answers with the tree in $fake/tree when there is one.
    const real = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    writeFileSync(path.join(fake, 'bin', 'git'), `#!/bin/sh\nfor a in "$@"; do if [ "$a" = write-tree ] && [ -f ${fake}/tree ]; then cat ${fake}/tree; exit 0; fi; done\nexec ${real} "$@"\n`);
    chmodSync(path.join(fake, 'bin', 'git'), 0o755);
    sshd = await startSshd(undefined, { setEnv: { PATH: `${fake}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` } });
  });
  after(() => {
    sshd?.stop();
    if (fake) rmSync(fake, { recursive: true, force: true });
  });

  /** A tree object written as given (git's own tools refuse such names): entries of mode, name, oid. */
  const rawTree = (store: string, entries: Array<[string, string, string]>) => {
    // Sorted as git sorts (a tree whose entries are not is refused by index-pack before our own checks).
    const sorted = [...entries].sort((a, b) => (a[1] < b[1] ? -1 : 1));
    const body = Buffer.concat(sorted.map(([mode, name, oid]) => Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(oid, 'hex')])));
    return execFileSync('git', ['--git-dir', store, 'hash-object', '--literally', '-t', 'tree', '-w', '--stdin'], { input: body, encoding: 'utf8' }).trim();
  };
  const blob = (store: string, data: string) => execFileSync('git', ['--git-dir', store, 'hash-object', '-w', '--stdin'], { input: data, encoding: 'utf8' }).trim();

  const cases: Array<[string, (store: string) => string, RegExp]> = [
    ['a ".." entry', (s) => rawTree(s, [['40000', '..', rawTree(s, [['100644', 'x', blob(s, 'x')]])]]), /refused/],
    ['a ".git" entry', (s) => rawTree(s, [['40000', '.GIT', rawTree(s, [['100644', 'config', blob(s, '[core]\n')]])]]), /refused/],
    ['a link out of the tree', (s) => rawTree(s, [['120000', 'out.txt', blob(s, '../../../../etc/passwd')]]), /leaves the run directory/],
    ['a gitlink', (s) => rawTree(s, [['160000', 'out.txt', '1'.repeat(40)]]), /gitlink/],
    ['a file the host did not list', (s) => rawTree(s, [['100644', 'out.txt', blob(s, '1\n')], ['100644', 'extra', blob(s, 'sneaked in\n')]]), /not among the files the host listed/],
  ];
  for (const [what, make, message] of cases) {
    it(`refuses ${what}: the run is not succeeded, nothing reaches the object store or refs`, async () => {
      const remoteDir = `/tmp/git-run-remote-objout-hostile-${what.replace(/\W+/g, '')}-${process.pid}`;
      const repo = makeRepo('objout-hostile', { '.runconfig': JSON.stringify({ hosts: { box: { type: 'ssh', host: 'testhost', ssh_config: sshd.config, remote_dir: remoteDir, outputs_objects: true } } }) });
      const store = `${remoteDir}/store.git`;
      execFileSync('git', ['init', '-q', '--bare', store]);
      const tree = make(store);
      writeFileSync(path.join(fake, 'tree'), tree + '\n');
      try {
        const refsBefore = git(repo, 'for-each-ref').split('\n').length;
        const id = await runOne(repo, ['--host', 'box', '--', 'sh', '-c', 'echo 1 > out.txt'], true);
        const r = result(repo, id);
        assert.notEqual(r.status, 'succeeded');
        assert.match(r.error, message);
        assert.equal(outputsOf(repo, id), null, 'no outputs recorded');
        assert.notEqual(spawnSync('git', ['cat-file', '-e', tree], { cwd: repo }).status, 0);
        assert.deepEqual(quarantines(repo), []);
        assert.equal(git(repo, 'for-each-ref').split('\n').length, refsBefore + 1, 'only the run ref');
      } finally {
        rmSync(path.join(fake, 'tree'), { force: true });
        rmSync(remoteDir, { recursive: true, force: true });
      }
    });
  }
});

describe('receiving a pack into a quarantine (src/git/pack-receive.ts)', () => {
  const packOf = (repo: string) => {
    const c = git(repo, 'rev-parse', 'HEAD');
    return execFileSync('git', ['pack-objects', '--stdout', '--revs', '-q'], { cwd: repo, input: c + '\n' });
  };
  it('cuts off a pack over its byte cap or naming too many objects, and leaves nothing', async () => {
    const src = makeRepo('objout-pack-src', { 'a.txt': randomBytes(25000).toString('hex'), 'b.txt': 'y\n' });
    const pack = packOf(src);
    const dest = makeRepo('objout-pack-dest', { 'README.md': 'x\n' });
    const repo = await openRepo(dest);
    for (const [caps, why] of [
      [{ maxBytes: 1000, maxObjects: 100 }, /more than 1000 bytes/],
      [{ maxBytes: 10 ** 9, maxObjects: 2 }, /objects, over the cap of 2/],
    ] as const) {
      let stopped = false;
      await assert.rejects(
        receivePack(repo, Readable.from([pack.subarray(0, 600), pack.subarray(600)]), caps, () => (stopped = true)),
        (e: unknown) => e instanceof PackRefused && e.hostile && why.test(e.message),
      );
      assert.ok(stopped, 'the sender is told to stop');
      assert.deepEqual(quarantines(dest), []);
    }
    // Within the caps: the objects arrive only on migrate().
    const q = await receivePack(repo, Readable.from([pack]), { maxBytes: 10 ** 9, maxObjects: 100 }, () => undefined);
    const head = git(src, 'rev-parse', 'HEAD');
    assert.notEqual(spawnSync('git', ['cat-file', '-e', head], { cwd: dest }).status, 0, 'not in the store before migrate');
    await q.migrate();
    assert.equal(spawnSync('git', ['cat-file', '-e', head], { cwd: dest }).status, 0);
    assert.deepEqual(quarantines(dest), []);
    assert.ok(!existsSync(path.join(dest, '.git', 'objects', 'tmp_objdir')));
  });
});
