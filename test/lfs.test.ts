import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { startSshd, sshdAvailable, type Sshd } from './sshd.js';
import path from 'node:path';
import { repoAt, pushLfsObjects } from 'git-run';
import { execFileSync } from 'node:child_process';
import { ENV, git, gitRun, makeRepo, ok, refState, runIds, tmpdir, writeFiles, nodeCmd } from './helpers.js';

/** Bytes a run writes (the same function in the test and in the run): incompressible enough, deterministic. */
const BYTES = `(n)=>{const b=Buffer.alloc(n);for(let i=0;i+4<=n;i+=4)b.writeUInt32LE((i*2654435761)>>>0,i);return b}`;
const bytes = (n: number): Buffer => (eval(BYTES) as (n: number) => Buffer)(n);
const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
/** A run command writing `file` of `n` bytes (and a small file beside it). */
const writes = (file: string, n: number) => nodeCmd(`const fs=require('fs');fs.mkdirSync(require('path').dirname(${JSON.stringify(file)}),{recursive:true});fs.writeFileSync(${JSON.stringify(file)},(${BYTES})(${n}));fs.writeFileSync('small.txt','small')`);

const MiB = 1024 * 1024;

/** The `outputs/` entries of a run's tip: path -> [oid, size]. */
function outputsTree(repo: string, id: string): Map<string, { oid: string; size: number }> {
  const out = new Map<string, { oid: string; size: number }>();
  let listing = '';
  try {
    listing = git(repo, 'ls-tree', '-r', '-l', `refs/runs/${id}:outputs`);
  } catch {
    return out; // a run without outputs
  }
  for (const line of listing.split('\n')) {
    const m = /^\d+ blob (\S+) +(\d+)\t(.*)$/.exec(line);
    if (m) out.set(m[3]!, { oid: m[1]!, size: Number(m[2]) });
  }
  return out;
}

const lfsObject = (repo: string, oid: string) => path.join(repo, '.git', 'lfs', 'objects', oid.slice(0, 2), oid.slice(2, 4), oid);

/** The largest blob in the object database (loose or packed): a checkpoint that went into git shows here. */
function largestBlob(repo: string): number {
  const all = git(repo, 'cat-file', '--batch-all-objects', '--batch-check=%(objecttype) %(objectsize)');
  return Math.max(0, ...all.split('\n').filter((l) => l.startsWith('blob ')).map((l) => Number(l.split(' ')[1])));
}

/** A PATH like the suite's, but without git-lfs: every other program of its directories is linked into one. */
function pathWithoutLfs(): string {
  const bin = path.join(tmpdir('no-lfs-bin'), 'bin');
  mkdirSync(bin);
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      if (n === 'git-lfs' || existsSync(path.join(bin, n))) continue;
      symlinkSync(path.join(dir, n), path.join(bin, n));
    }
  }
  return bin;
}

/**
 * Rewrite a run's record as another clone could have (a forged push): its
 * result.json says that `paths` are Git LFS outputs. A new commit on the
 * run's tip, the ref moved to it.
 */
function claimLfs(repo: string, id: string, paths: string[]): void {
  const ref = `refs/runs/${id}`;
  const result = JSON.parse(git(repo, 'cat-file', 'blob', `${ref}:result.json`)) as Record<string, unknown>;
  const blob = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: repo, env: ENV, input: JSON.stringify({ ...result, lfsOutputs: paths }) }).toString().trim();
  const entries = git(repo, 'ls-tree', ref).split('\n').map((l) => (l.endsWith('\tresult.json') ? `100644 blob ${blob}\tresult.json` : l));
  const tree = execFileSync('git', ['mktree'], { cwd: repo, env: ENV, input: entries.join('\n') + '\n' }).toString().trim();
  const commit = git(repo, 'commit-tree', tree, '-p', ref, '-m', 'forged');
  git(repo, 'update-ref', ref, commit);
}

describe('big outputs through Git LFS', function () {
  this.timeout(300000);

  it('an output that is a copy of a pointer file is read as the bytes the run wrote (show, cat, checkout, export, a bundle imported, an input); a big output beside it still reads as its content', async () => {
    const repo = makeRepo('lfs-literal', { '.runconfig': JSON.stringify({ large_output: '4KiB' }) });
    const big = bytes(64 * 1024);
    const copy = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(big)}\nsize ${big.length}\n`;
    const ghost = `version https://git-lfs.github.com/spec/v1\noid sha256:${'b'.repeat(64)}\nsize 10\n`;
    const cmd = nodeCmd(`const fs=require('fs');fs.writeFileSync('big.bin',(${BYTES})(${big.length}));fs.writeFileSync('copy.ptr',${JSON.stringify(copy)});fs.mkdirSync('d');fs.writeFileSync('d/ghost.ptr',${JSON.stringify(ghost)})`);
    await ok(['-q', '--', ...cmd], { cwd: repo });
    const id = runIds(repo)[0]!;
    const tree = outputsTree(repo, id);
    assert.equal(tree.get('copy.ptr')!.oid, tree.get('big.bin')!.oid, 'the copy has the very bytes of the big output\'s pointer');
    assert.deepEqual(JSON.parse(git(repo, 'cat-file', 'blob', `refs/runs/${id}:result.json`)).lfsOutputs, ['big.bin'], 'the record names the one output git-lfs stored');

    const shown = JSON.parse((await ok(['show', '--json', id], { cwd: repo })).stdout);
    assert.deepEqual(shown.outputs.map((o: { path: string; size: number }) => [o.path, o.size]), [['big.bin', big.length], ['copy.ptr', copy.length], ['d/ghost.ptr', ghost.length]]);
    assert.equal((await ok(['cat', `${id}:copy.ptr`], { cwd: repo })).stdout, copy);
    assert.equal((await ok(['cat', `${id}:d/ghost.ptr`], { cwd: repo })).stdout, ghost);
    assert.equal(sha256((await ok(['cat', `${id}:big.bin`], { cwd: repo })).stdoutBytes), sha256(big));

    const co = path.join(tmpdir('lfs-literal-co'), 'out');
    await ok(['checkout', id, '--to', co], { cwd: repo });
    assert.equal(readFileSync(path.join(co, 'copy.ptr'), 'utf8'), copy);
    assert.equal(readFileSync(path.join(co, 'd/ghost.ptr'), 'utf8'), ghost);
    assert.equal(sha256(readFileSync(path.join(co, 'big.bin'))), sha256(big));

    const dir = path.join(tmpdir('lfs-literal-export'), 'x');
    await ok(['export', id, dir], { cwd: repo });
    assert.equal(readFileSync(path.join(dir, id, 'outputs/copy.ptr'), 'utf8'), copy);
    assert.equal(readFileSync(path.join(dir, id, 'outputs/d/ghost.ptr'), 'utf8'), ghost);
    assert.equal(sha256(readFileSync(path.join(dir, id, 'outputs/big.bin'))), sha256(big));

    // A bundle: the ghost's "content" exists nowhere, and is not asked for.
    const file = path.join(tmpdir('lfs-literal-bundle'), 'runs.bundle');
    await ok(['export', id, file], { cwd: repo });
    const other = makeRepo('lfs-literal-import', { 'a.txt': 'a\n' });
    await ok(['import', file], { cwd: other });
    assert.equal((await ok(['cat', `${id}:d/ghost.ptr`], { cwd: other })).stdout, ghost);
    assert.equal((await ok(['cat', `${id}:copy.ptr`], { cwd: other })).stdout, copy);
    assert.equal(sha256((await ok(['cat', `${id}:big.bin`], { cwd: other })).stdoutBytes), sha256(big));

    // Inputs from the run: a file and a directory, placed as the run wrote them.
    const reader = nodeCmd(`const fs=require('fs');process.stdout.write(JSON.stringify([fs.readFileSync('p','utf8'),fs.readFileSync('dd/ghost.ptr','utf8'),require('crypto').createHash('sha256').update(fs.readFileSync('b')).digest('hex')]))`);
    const next = await ok(['-q', '-i', `p=${id}:copy.ptr`, '-i', `dd=${id}:d`, '-i', `b=${id}:big.bin`, '--', ...reader], { cwd: repo });
    assert.deepEqual(JSON.parse(next.stdout), [copy, ghost, sha256(big)]);
    // The copy and the big output share a blob id: the input cache keeps the pointer's bytes and the content apart.
    const oid = tree.get('copy.ptr')!.oid;
    const cache = readdirSync(path.join(repo, '.git', 'git-run', 'inputs'));
    assert.ok(cache.includes(oid) && cache.includes(`${oid}.lfs`), `cache entries: ${cache.join(' ')}`);
    assert.equal(readFileSync(path.join(repo, '.git', 'git-run', 'inputs', oid), 'utf8'), copy);
  });

  it('a 20 MiB checkpoint is a pointer in the outputs tree and content in git-lfs\'s store; cat, checkout, diff and an input read it; git gc keeps it', async () => {
    const repo = makeRepo('lfs-20mib', { 'train.py': 'code\n' });
    await ok(['-q', '--', ...writes('ckpt/model.bin', 20 * MiB)], { cwd: repo });
    const id = runIds(repo)[0]!;
    const want = bytes(20 * MiB);
    const tree = outputsTree(repo, id);
    const ptr = tree.get('ckpt/model.bin')!;
    assert.ok(ptr.size < 200, `a pointer, not the content (${ptr.size} bytes)`);
    const text = git(repo, 'cat-file', 'blob', ptr.oid);
    assert.equal(text, `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(want)}\nsize ${20 * MiB}`);
    assert.equal(tree.get('small.txt')!.size, 5, 'a small output stays an ordinary blob');
    assert.ok(existsSync(lfsObject(repo, sha256(want))), 'the content is in .git/lfs/objects');
    assert.ok(largestBlob(repo) < MiB, 'the checkpoint never entered the object database');
    assert.equal(git(repo, 'status', '--porcelain'), '', 'the work tree and index are untouched');
    assert.equal(existsSync(path.join(repo, '.gitattributes')), false);

    const shown = JSON.parse((await ok(['show', '--json', id], { cwd: repo })).stdout);
    assert.deepEqual(shown.outputs.map((o: { path: string; size: number }) => [o.path, o.size]), [['ckpt/model.bin', 20 * MiB], ['small.txt', 5]], 'show tells the content\'s size');
    const cat = await ok(['cat', `${id.slice(0, 8)}:ckpt/model.bin`], { cwd: repo });
    assert.equal(sha256(cat.stdoutBytes), sha256(want));

    const dest = path.join(tmpdir('lfs-co'), 'out');
    await ok(['checkout', id.slice(0, 8), '--to', dest], { cwd: repo });
    assert.equal(sha256(readFileSync(path.join(dest, 'ckpt/model.bin'))), sha256(want));
    assert.equal(readFileSync(path.join(dest, 'small.txt'), 'utf8'), 'small');

    // An input from the run: the next run reads the content, not the pointer.
    const reader = nodeCmd(`const b=require('fs').readFileSync('m.bin');process.stdout.write(require('crypto').createHash('sha256').update(b).digest('hex')+' '+b.length)`);
    const next = await ok(['-q', '-i', `m.bin=${id.slice(0, 8)}:ckpt/model.bin`, '--', ...reader], { cwd: repo });
    assert.equal(next.stdout, `${sha256(want)} ${20 * MiB}`);

    // diff tells the content's size, and that the content differs.
    await ok(['-q', '--', ...writes('ckpt/model.bin', 20 * MiB + 4)], { cwd: repo });
    const ids = runIds(repo);
    const other = ids.find((x) => x !== id && outputsTree(repo, x).get('ckpt/model.bin')?.oid !== ptr.oid && outputsTree(repo, x).has('ckpt/model.bin'))!;
    const d = JSON.parse((await ok(['diff', '--json', id, other], { cwd: repo })).stdout);
    const changed = JSON.stringify(d.outputs);
    assert.match(changed, /ckpt\/model\.bin/);
    assert.match(changed, new RegExp(String(20 * MiB + 4)), `the content's size: ${changed}`);

    git(repo, 'gc', '--prune=now', '--quiet');
    assert.equal(sha256((await ok(['cat', `${id.slice(0, 8)}:ckpt/model.bin`], { cwd: repo })).stdoutBytes), sha256(want), 'gc kept it');
  });

  it('without git-lfs on PATH a big output is an ordinary blob, as before', async () => {
    const repo = makeRepo('lfs-absent', { '.runconfig': JSON.stringify({ large_output: '4KiB' }) });
    const env = { PATH: pathWithoutLfs() };
    assert.notEqual((await gitRun(['--', 'git', 'lfs', 'version'], { cwd: repo, env })).code, 0, 'git-lfs is out of reach');
    await ok(['-q', '--', ...writes('big.bin', 64 * 1024)], { cwd: repo, env });
    const id = runIds(repo).find((x) => outputsTree(repo, x).has('big.bin'))!;
    assert.equal(outputsTree(repo, id).get('big.bin')!.size, 64 * 1024);
    assert.equal(existsSync(path.join(repo, '.git', 'lfs')), false);
    assert.equal(sha256((await ok(['cat', `${id}:big.bin`], { cwd: repo, env })).stdoutBytes), sha256(bytes(64 * 1024)));
  });

  it('large_output: a size with a unit; "off" keeps blobs; a bad one is refused before anything is written', async () => {
    const repo = makeRepo('lfs-threshold', { '.runconfig': JSON.stringify({ large_output: '8KiB' }) });
    await ok(['-q', '--', ...nodeCmd(`const fs=require('fs');fs.writeFileSync('under.bin',Buffer.alloc(8191,1));fs.writeFileSync('at.bin',Buffer.alloc(8192,2))`)], { cwd: repo });
    const t = outputsTree(repo, runIds(repo)[0]!);
    assert.equal(t.get('under.bin')!.size, 8191, 'below the threshold: a blob');
    assert.ok(t.get('at.bin')!.size < 200, 'at the threshold: a pointer');

    writeFiles(repo, { '.runconfig': JSON.stringify({ large_output: 'off' }) });
    git(repo, 'add', '.runconfig');
    git(repo, 'commit', '-q', '-m', 'off');
    await ok(['-q', '--', ...writes('big.bin', 20 * 1024)], { cwd: repo });
    const off = runIds(repo).find((x) => outputsTree(repo, x).has('big.bin'))!;
    assert.equal(outputsTree(repo, off).get('big.bin')!.size, 20 * 1024);

    for (const bad of ['10', '10 parsecs', 10485760, '-1MiB', '0B']) {
      writeFiles(repo, { '.runconfig': JSON.stringify({ large_output: bad }) });
      const before = refState(repo);
      const r = await gitRun(['-q', '--', 'true'], { cwd: repo });
      assert.equal(r.code, 2, `${JSON.stringify(bad)}: ${r.stderr}`);
      assert.match(r.stderr, /large_output: expected a size with a unit such as "10MiB"/);
      assert.match(r.stderr, /^hint: /m);
      assert.equal(refState(repo), before, 'nothing written');
    }
  });

  it('hostile pointers: content that does not match its oid, a malformed pointer (exit 2, nothing printed)', async () => {
    const repo = makeRepo('lfs-hostile', { '.runconfig': JSON.stringify({ large_output: '4KiB' }) });
    await ok(['-q', '--', ...writes('big.bin', 64 * 1024)], { cwd: repo });
    const id = runIds(repo)[0]!;
    const obj = lfsObject(repo, sha256(bytes(64 * 1024)));
    writeFileSync(obj, Buffer.alloc(64 * 1024, 7));
    const r = await gitRun(['cat', `${id}:big.bin`], { cwd: repo });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: the content of [0-9a-f]{12}:big\.bin does not match its Git LFS pointer/);
    const dest = path.join(tmpdir('lfs-hostile-co'), 'out');
    const co = await gitRun(['checkout', id, '--to', dest], { cwd: repo });
    assert.equal(co.code, 2, co.stderr);
    assert.equal(existsSync(dest), false, 'nothing checked out');

    // A pointer-shaped output whose oid would be a path: refused, never followed.
    const bad = 'version https://git-lfs.github.com/spec/v1\noid sha256:../../../../etc/passwd\nsize 10\n';
    await ok(['-q', '--', ...nodeCmd(`require('fs').writeFileSync('p.bin',${JSON.stringify(bad)})`)], { cwd: repo });
    const pid = runIds(repo).find((x) => outputsTree(repo, x).has('p.bin'))!;
    // Written by the run, it is just its bytes; a record from elsewhere that calls it a Git LFS output is where it is read as a pointer.
    assert.equal((await ok(['cat', `${pid}:p.bin`], { cwd: repo })).stdout, bad);
    claimLfs(repo, pid, ['p.bin']);
    const m = await gitRun(['cat', `${pid}:p.bin`], { cwd: repo });
    assert.equal(m.code, 2, m.stderr);
    assert.equal(m.stdout, '');
    assert.match(m.stderr, /^error: [0-9a-f]{12}:p\.bin is a malformed Git LFS pointer/);
    const huge = 'version https://git-lfs.github.com/spec/v1\noid sha256:' + 'a'.repeat(64) + '\nsize 99999999999999999999\n';
    await ok(['-q', '--', ...nodeCmd(`require('fs').writeFileSync('q.bin',${JSON.stringify(huge)})`)], { cwd: repo });
    const qid = runIds(repo).find((x) => outputsTree(repo, x).has('q.bin'))!;
    claimLfs(repo, qid, ['q.bin']);
    assert.equal((await gitRun(['cat', `${qid}:q.bin`], { cwd: repo })).code, 2);
  });

  it('git run push moves the LFS objects to a bare repository; a second clone\'s pull fetches the content only when it is read; a forged copy is refused', async () => {
    const repo = makeRepo('lfs-push', { '.runconfig': JSON.stringify({ large_output: '4KiB' }) });
    await ok(['-q', '--', ...writes('out/big.bin', 256 * 1024)], { cwd: repo });
    const id = runIds(repo)[0]!;
    const oid = sha256(bytes(256 * 1024));
    const bare = path.join(tmpdir('lfs-bare'), 'remote.git');
    git(repo, 'init', '-q', '--bare', bare);
    git(repo, 'remote', 'add', 'origin', bare);
    git(repo, 'push', '-q', 'origin', 'main');
    await ok(['push', 'origin', id], { cwd: repo });
    assert.ok(existsSync(path.join(bare, 'lfs', 'objects', oid.slice(0, 2), oid.slice(2, 4), oid)), 'git run push sent the object');

    const clone = path.join(tmpdir('lfs-clone'), 'c');
    git(repo, 'clone', '-q', bare, clone);
    await ok(['pull', 'origin'], { cwd: clone });
    assert.deepEqual(runIds(clone), [id]);
    assert.equal(existsSync(lfsObject(clone, oid)), false, 'the pull did not carry the content');
    const cat = await ok(['cat', `${id}:out/big.bin`], { cwd: clone, env: { GIT_TERMINAL_PROMPT: '0' } });
    assert.equal(sha256(cat.stdoutBytes), oid);
    assert.ok(existsSync(lfsObject(clone, oid)), 'read once, now local');
    // The library's call, from the clone: the object is there, sent again (git-lfs skips what the remote has).
    assert.deepEqual(await pushLfsObjects(await repoAt(clone), 'origin', [id]), { pushed: 1, absent: 0 });

    // A forged copy on the remote: the clone that reads it refuses it.
    const third = path.join(tmpdir('lfs-forged'), 'c');
    git(repo, 'clone', '-q', bare, third);
    await ok(['pull', 'origin'], { cwd: third });
    writeFileSync(path.join(bare, 'lfs', 'objects', oid.slice(0, 2), oid.slice(2, 4), oid), Buffer.alloc(256 * 1024, 9));
    const forged = await gitRun(['cat', `${id}:out/big.bin`], { cwd: third, env: { GIT_TERMINAL_PROMPT: '0' } });
    assert.equal(forged.code, 2, forged.stderr);
    assert.equal(forged.stdout, '');
    assert.match(forged.stderr, /^error: the content of [0-9a-f]{12}:out\/big\.bin (does not match its Git LFS pointer|\(Git LFS object [0-9a-f]{12}, 262144 bytes\) is not in this repository and could not be fetched)/);
  });
});

describe('big outputs of a run on an ssh host (a real sshd on 127.0.0.1)', function () {
  this.timeout(300000);
  let sshd: Sshd;
  before(async function () {
    if (!sshdAvailable(this)) return;
    sshd = await startSshd();
  });
  after(() => sshd?.stop());

  it('arrive as LFS objects: the pointer in the outputs tree, the content in the store, never in the object database', async () => {
    const remoteDir = `/tmp/git-run-remote-lfs-${process.pid}`;
    const repo = makeRepo('lfs-ssh', { '.runconfig': JSON.stringify({ large_output: '4KiB', hosts: { box: { type: 'ssh', host: 'testhost', ssh_config: sshd.config, remote_dir: remoteDir } } }) });
    try {
      await ok(['-q', '--host', 'box', '--', 'sh', '-c', `head -c ${256 * 1024} /dev/zero | tr '\\0' y > big.bin && echo s > small.txt`], { cwd: repo, env: { SSH_AUTH_SOCK: '' } });
      const id = runIds(repo)[0]!;
      assert.equal(JSON.parse(git(repo, 'cat-file', 'blob', `refs/runs/${id}:result.json`)).status, 'succeeded');
      const want = Buffer.alloc(256 * 1024, 'y');
      const t = outputsTree(repo, id);
      assert.ok(t.get('big.bin')!.size < 200, 'a pointer');
      assert.equal(t.get('small.txt')!.size, 2);
      assert.ok(existsSync(lfsObject(repo, sha256(want))));
      assert.ok(largestBlob(repo) < 256 * 1024, 'the content never entered the object database');
      assert.equal(sha256((await ok(['cat', `${id}:big.bin`], { cwd: repo })).stdoutBytes), sha256(want));
    } finally {
      rmSync(remoteDir, { recursive: true, force: true });
    }
  });
});

describe('rm and gc free Git LFS content no ref reaches any more (issue 14)', function () {
  this.timeout(300000);

  it('the content of deleted runs goes; content another run, a branch or the index still reaches stays; every remaining run reads', async () => {
    const repo = makeRepo('lfs-free', { '.runconfig': JSON.stringify({ large_output: '4KiB' }), 'train.sh': 'true\n' });
    const made = async (args: string[]): Promise<string> => {
      const before = new Set(runIds(repo));
      await ok(['-q', '--', ...args], { cwd: repo });
      const id = runIds(repo).filter((x) => !before.has(x));
      assert.equal(id.length, 1);
      return id[0]!;
    };
    // Two runs with the same content under different paths (one LFS object), and four with content of their own.
    const sizes = { shared: 8192, own: 8196, branch: 8200, staged: 8204, last: 8208, young: 8212 };
    const a = await made(writes('a.bin', sizes.shared));
    const b = await made(writes('copy/a.bin', sizes.shared));
    const c = await made(writes('c.bin', sizes.own));
    const d = await made(writes('d.bin', sizes.branch));
    const e = await made(writes('e.bin', sizes.staged));
    const oid = (n: number) => sha256(bytes(n));
    for (const n of Object.values(sizes).slice(0, 4)) assert.ok(existsSync(lfsObject(repo, oid(n))), `content of ${n} bytes in the store`);
    // A branch holds a pointer to d's content; the user's index has e's staged (not committed).
    const gitWith = (input: string, ...args: string[]) => execFileSync('git', args, { cwd: repo, env: ENV, input, encoding: 'utf8' }).trim();
    const pointer = (n: number) => gitWith(`version https://git-lfs.github.com/spec/v1\noid sha256:${oid(n)}\nsize ${n}\n`, 'hash-object', '-w', '--stdin');
    const tree = gitWith(`100644 blob ${pointer(sizes.branch)}\td.bin\n`, 'mktree');
    git(repo, 'update-ref', 'refs/heads/keep', git(repo, 'commit-tree', tree, '-m', 'a pointer on a branch'));
    git(repo, 'update-index', '--add', '--cacheinfo', `100644,${pointer(sizes.staged)},e.bin`);
    const staged = git(repo, 'ls-files', '--stage');

    // rm and gc free only content older than their prune date (10 minutes for rm): what is in the store now is made older.
    const hourAgo = Math.floor(Date.now() / 1000) - 3600;
    for (const n of Object.values(sizes).slice(0, 4)) utimesSync(lfsObject(repo, oid(n)), hourAgo, hourAgo);
    // f's content is stored just now (as a run recording the same bytes would have): it stays, and a later gc frees it.
    const f = await made(writes('f.bin', sizes.young));
    const r = await ok(['rm', a, c, d, e, f], { cwd: repo });
    assert.match(r.stdout, /^Git LFS objects: 1 removed, 8\.0 KiB freed$/m, r.stdout);
    assert.ok(existsSync(lfsObject(repo, oid(sizes.young))), 'content younger than the prune date stays');
    assert.equal(existsSync(lfsObject(repo, oid(sizes.own))), false, 'content only the deleted run had is gone');
    assert.ok(existsSync(lfsObject(repo, oid(sizes.shared))), 'content a remaining run has stays');
    assert.ok(existsSync(lfsObject(repo, oid(sizes.branch))), 'content a branch reaches stays');
    assert.ok(existsSync(lfsObject(repo, oid(sizes.staged))), 'content staged in the index stays');
    assert.equal(git(repo, 'ls-files', '--stage'), staged, 'the index is untouched');
    assert.equal(sha256((await ok(['cat', `${b.slice(0, 8)}:copy/a.bin`], { cwd: repo })).stdoutBytes), oid(sizes.shared));

    // gc deletes b (older than the last run): the shared content goes now; the last run's stays.
    const last = await made(writes('last.bin', sizes.last));
    const createdAt = JSON.parse(git(repo, 'cat-file', 'blob', `${last}:run.json`)).createdAt as string;
    const g = await ok(['gc', '--older-than', createdAt, '--prune', 'now'], { cwd: repo });
    assert.match(g.stdout, /^deleted 1 run$/m, g.stdout);
    assert.match(g.stdout, /^Git LFS objects: 2 removed/m, g.stdout);
    assert.deepEqual(runIds(repo), [last]);
    assert.equal(existsSync(lfsObject(repo, oid(sizes.shared))), false);
    assert.equal(existsSync(lfsObject(repo, oid(sizes.young))), false, 'the content rm left for being young, freed by gc');
    assert.ok(existsSync(lfsObject(repo, oid(sizes.branch))) && existsSync(lfsObject(repo, oid(sizes.staged))));
    assert.equal(sha256((await ok(['cat', `${last.slice(0, 8)}:last.bin`], { cwd: repo })).stdoutBytes), oid(sizes.last));
    git(repo, 'fsck', '--strict', '--no-dangling');
    // Nothing more to free: a second gc removes no LFS object.
    assert.doesNotMatch((await ok(['gc', '--prune', 'now'], { cwd: repo })).stdout, /Git LFS/);
  });

  it('content a run stores again is stamped fresh, so a gc at that moment keeps it', async () => {
    const repo = makeRepo('lfs-fresh', { '.runconfig': JSON.stringify({ large_output: '4KiB' }) });
    await ok(['-q', '--', ...writes('a.bin', 8192)], { cwd: repo });
    const file = lfsObject(repo, sha256(bytes(8192)));
    const hourAgo = Math.floor(Date.now() / 1000) - 3600;
    utimesSync(file, hourAgo, hourAgo);
    // The same bytes again: git-lfs finds them stored; git-run stamps them, and a gc deleting the first run keeps them.
    await ok(['-q', '--force', '--force-ignores-success', '--', ...writes('a.bin', 8192)], { cwd: repo });
    assert.ok(statSync(file).mtimeMs > Date.now() - 600_000, 'stamped when stored again');
    // Both runs deleted: the content was stored an hour ago, but stamped again by the second run, so rm keeps it (a run may be recording it).
    const r = await ok(['rm', ...runIds(repo)], { cwd: repo });
    assert.doesNotMatch(r.stdout, /Git LFS objects/);
    assert.ok(existsSync(file));
    // Later, nothing reaching it: gc frees it.
    assert.match((await ok(['gc', '--prune', 'now'], { cwd: repo })).stdout, /^Git LFS objects: 1 removed/m);
    assert.equal(existsSync(file), false);
  });
});
