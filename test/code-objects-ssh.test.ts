import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { chmodSync, readdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeRepo, ok, gitRun, showJson, git, runIds, until, tmpdir } from './helpers.js';
import { startSshd, sshdAvailable, onHost, type Sshd } from './sshd.js';

/** Code as git objects in the host's store (decision 0022), against a real sshd. */
describe('code sent as git objects to an ssh host (a real sshd on 127.0.0.1)', function () {
  this.timeout(300000);
  let sshd: Sshd;
  before(async function () {
    if (!sshdAvailable(this)) return;
    sshd = await startSshd();
  });
  after(() => sshd?.stop());
  const env = { SSH_AUTH_SOCK: '' };

  /** Random (incompressible) content: what a pack holds of it is its size. */
  const random = (n: number) => crypto.randomBytes(n).toString('base64').slice(0, n);

  const setup = (label: string) => {
    const remoteDir = `/tmp/git-run-remote-${label}-${process.pid}`;
    onHost(sshd, `rm -rf ${remoteDir}`);
    const files: Record<string, string> = {
      '.runconfig': JSON.stringify({ hosts: { box: { type: 'ssh', host: 'testhost', ssh_config: sshd.config, remote_dir: remoteDir } } }),
      'run.sh': '#!/bin/sh\necho hi\n',
    };
    for (let d = 0; d < 4; d++) for (let f = 0; f < 10; f++) files[`d${d}/f${f}.txt`] = random(4000);
    const repo = makeRepo(label, files);
    return { repo, remoteDir, store: `${remoteDir}/store.git` };
  };

  /** The command: every file of the run directory (but git-run's own) with its git blob id and mode, as `ls-tree -r` would list them. */
  const listing = ['sh', '-c', `find . \\( -type f -o -type l \\) ! -path './.git-run/*' -printf '%P\\n' | LC_ALL=C sort | while read -r f; do if [ -L "$f" ]; then echo "120000 $(printf %s "$(readlink "$f")" | git hash-object --stdin)	$f"; else if [ -x "$f" ]; then m=100755; else m=100644; fi; echo "$m $(git hash-object --no-filters "$f")	$f"; fi; done`];
  /** What the run directory must hold: exactly the tree's files. */
  const expected = (repo: string, tree: string) =>
    git(repo, 'ls-tree', '-r', tree)
      .split('\n')
      .map((l) => l.replace(/ blob /, ' '))
      .sort((a, b) => (a.split('\t')[1]! < b.split('\t')[1]! ? -1 : 1))
      .join('\n');

  /** One run with --leave none (nothing stays but the store); its record and what its run directory held. */
  const runOnce = async (repo: string, leave = 'none') => {
    const before = new Set(runIds(repo));
    const r = await ok(['--host', 'box', '--leave', leave, '--', ...listing], { cwd: repo, env });
    const id = runIds(repo).find((i) => !before.has(i))!;
    const j = await showJson(repo, id);
    assert.equal(j.status, 'succeeded');
    return { j, out: r.stdout.trim(), tree: j.code.tree as string };
  };
  const hasRef = (store: string, tree: string) => onHost(sshd, `git --git-dir=${store} rev-parse -q --verify refs/code/${tree} || true`).trim() === tree;
  const filled = (store: string, tree: string) => until(`the host's store to hold tree ${tree.slice(0, 8)}`, () => hasRef(store, tree), 120000);

  it('fills the store from the first copy; an unchanged tree sends 0 bytes; a changed, renamed or deleted file sends only what changed', async () => {
    const { repo, store } = setup('obj-flow');
    const first = await runOnce(repo);
    assert.equal(first.out, expected(repo, first.tree), 'the run directory holds exactly the tree');
    assert.equal(first.j.codeTransfer, 'tar', 'a first copy goes by tar');
    assert.ok(first.j.codeBytesSent > 160000, `${first.j.codeBytesSent}`);
    await filled(store, first.tree);

    const same = await runOnce(repo);
    assert.equal(same.tree, first.tree);
    assert.equal(same.j.codeBytesSent, 0, 'an unchanged tree with --leave none sends nothing');
    assert.equal(same.j.codeTransfer, 'objects');
    assert.equal(same.out, expected(repo, same.tree));

    // One changed file: a pack of it and the trees above it.
    const changed = random(29000);
    writeFileSync(path.join(repo, 'd1/f3.txt'), changed);
    const edit = await runOnce(repo);
    assert.notEqual(edit.tree, first.tree);
    assert.equal(edit.j.codeTransfer, 'objects');
    assert.ok(edit.j.codeBytesSent > 20000 && edit.j.codeBytesSent < 2 * 29000 + 65536, `a changed 29 KB file sent ${edit.j.codeBytesSent} bytes`);
    assert.equal(edit.out, expected(repo, edit.tree));
    assert.match(edit.out, /\td1\/f3\.txt$/m);

    // A renamed file: only trees travel (the blob is there).
    renameSync(path.join(repo, 'd2/f0.txt'), path.join(repo, 'd2/renamed.txt'));
    const moved = await runOnce(repo);
    assert.equal(moved.j.codeTransfer, 'objects');
    assert.ok(moved.j.codeBytesSent > 0 && moved.j.codeBytesSent < 4000, `a rename sent ${moved.j.codeBytesSent} bytes`);
    assert.equal(moved.out, expected(repo, moved.tree));
    assert.doesNotMatch(moved.out, /\td2\/f0\.txt$/m);

    // A deleted file, an executable bit and a symlink.
    unlinkSync(path.join(repo, 'd3/f9.txt'));
    chmodSync(path.join(repo, 'run.sh'), 0o755);
    symlinkSync('d0/f1.txt', path.join(repo, 'link'));
    const deleted = await runOnce(repo);
    assert.equal(deleted.j.codeTransfer, 'objects');
    assert.ok(deleted.j.codeBytesSent < 4000, `a deletion sent ${deleted.j.codeBytesSent} bytes`);
    assert.equal(deleted.out, expected(repo, deleted.tree));
    assert.doesNotMatch(deleted.out, /\td3\/f9\.txt$/m);
    assert.match(deleted.out, /^120000 .*\tlink$/m);

    // The default --leave (code) keeps a checkout in code/<tree>, filled from the store too.
    writeFileSync(path.join(repo, 'd0/f0.txt'), random(3000));
    const kept = await runOnce(repo, 'code');
    assert.equal(kept.j.codeTransfer, 'objects');
    assert.ok(kept.j.codeBytesSent > 0 && kept.j.codeBytesSent < 10000, `${kept.j.codeBytesSent}`);
    assert.equal(kept.out, expected(repo, kept.tree));
    const again = await runOnce(repo, 'code');
    assert.equal(again.j.codeBytesSent, 0);
    assert.equal(again.out, expected(repo, again.tree));
  });

  /** A loose object file of the store for one of the tree's blobs. */
  const looseBlob = (repo: string, store: string, tree: string) => {
    const oid = git(repo, 'rev-parse', `${tree}:d0/f5.txt`);
    const file = `${store}/objects/${oid.slice(0, 2)}/${oid.slice(2)}`;
    assert.equal(onHost(sshd, `test -f ${file} && echo yes || echo no`).trim(), 'yes', `the store holds ${oid} loose`);
    return file;
  };

  it('repairs a damaged store (an object deleted, a bit flipped, the objects gone) and never runs in a wrong tree', async () => {
    const { repo, store } = setup('obj-damage');
    const first = await runOnce(repo);
    await filled(store, first.tree);

    // An object deleted.
    onHost(sshd, `rm -f ${looseBlob(repo, store, first.tree)}`);
    const r1 = await runOnce(repo);
    assert.equal(r1.out, expected(repo, r1.tree), 'the right tree, after a repair');
    assert.equal(r1.j.codeTransfer, 'tar', 'repaired by sending the tree again');
    await filled(store, first.tree);

    // One bit of an object file flipped (in its zlib stream: git notices it reading).
    const file = looseBlob(repo, store, first.tree);
    onHost(sshd, `chmod u+w ${file} && n=$(($(wc -c < ${file}) / 2)) && b=$(od -An -tu1 -j $n -N1 ${file} | tr -d ' ') && printf "$(printf '\\\\%03o' $((b ^ 4)))" | dd of=${file} bs=1 seek=$n conv=notrunc status=none`);
    const r2 = await runOnce(repo);
    assert.equal(r2.out, expected(repo, r2.tree), 'the right tree, never the flipped one');
    assert.equal(r2.j.codeTransfer, 'tar');
    await filled(store, first.tree);

    // Cleaned while its refs still said it had the tree (as between the check and the checkout).
    onHost(sshd, `rm -rf ${store}/objects/??`);
    const r3 = await runOnce(repo);
    assert.equal(r3.out, expected(repo, r3.tree));
    assert.equal(r3.j.codeTransfer, 'tar');
    await filled(store, first.tree);
    const r4 = await runOnce(repo);
    assert.equal(r4.j.codeBytesSent, 0, 'the store works again');
  });

  it('a pack the host refuses and a full disk on the host: the run fails with the host\'s message, nothing succeeded', async function () {
    // remote_dir on a 1 MiB tmpfs (root, as in test/disk-full.test.ts; CI runs as root).
    const mnt = path.join(tmpdir('obj-full'), 'mnt');
    execFileSync('mkdir', ['-p', mnt]);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'pipe' });
    } catch (e) {
      if (process.env.CI) throw new Error(`CI must be able to mount a small tmpfs (as root): ${(e as Error).message}`);
      this.skip();
    }
    try {
      const remoteDir = path.join(mnt, 'remote');
      const repo = makeRepo('obj-full', { 'a.txt': random(2000), '.runconfig': JSON.stringify({ hosts: { box: { type: 'ssh', host: 'testhost', ssh_config: sshd.config, remote_dir: remoteDir } } }) });
      const small = await runOnce(repo);
      await filled(`${remoteDir}/store.git`, small.tree);
      // A file bigger than the disk: the pack is refused (index-pack cannot write it), the tar stream that repairs too.
      writeFileSync(path.join(repo, 'big.txt'), random(3 * 2 ** 20));
      const before = new Set(runIds(repo));
      const r = await gitRun(['--host', 'box', '--leave', 'none', '--', 'true'], { cwd: repo, env });
      assert.notEqual(r.code, 0, r.stderr);
      const id = runIds(repo).find((i) => !before.has(i))!;
      const j = await showJson(repo, id);
      assert.equal(j.status, 'failed');
      // The host's own words (GNU tar says "Wrote only N of M bytes" or "No space left on device").
      assert.match(j.error, /^could not start on box: .*(No space left on device|Wrote only \d+ of \d+ bytes)/, j.error);
      assert.match(r.stderr, /No space left on device|Wrote only/);
    } finally {
      execFileSync('umount', ['-l', mnt]);
    }
  });

  it('falls back to tar on a host without git, and says so in the run record', async () => {
    // A host whose sessions have a PATH with every tool but git.
    const bin = tmpdir('nogit-bin');
    for (const dir of ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
      let names: string[] = [];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const n of names) if (!n.startsWith('git')) try { symlinkSync(path.join(dir, n), path.join(bin, n)); } catch { /* the first one found wins, as on PATH */ }
    }
    const noGit = await startSshd(undefined, { setEnv: { PATH: bin } });
    try {
      assert.equal(onHost(noGit, 'command -v git || echo none').trim(), 'none', 'the host has no git on its PATH');
      const remoteDir = `/tmp/git-run-remote-obj-nogit-${process.pid}`;
      onHost(noGit, `rm -rf ${remoteDir}`);
      const repo = makeRepo('obj-nogit', { 'a.txt': 'a\n', '.runconfig': JSON.stringify({ hosts: { box: { type: 'ssh', host: 'testhost', ssh_config: noGit.config, remote_dir: remoteDir } } }) });
      for (let i = 0; i < 2; i++) {
        await ok(['-q', '--host', 'box', '--leave', 'none', '--', 'cat', 'a.txt'], { cwd: repo, env });
      }
      for (const id of runIds(repo)) {
        const j = await showJson(repo, id);
        assert.equal(j.status, 'succeeded');
        assert.equal(j.codeTransfer, 'tar (host has no git)');
        assert.ok(j.codeBytesSent > 0);
      }
      assert.equal(onHost(noGit, `test -e ${remoteDir}/store.git && echo yes || echo no`).trim(), 'no', 'no store without git');
    } finally {
      noGit.stop();
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
