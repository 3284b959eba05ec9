import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, lstatSync, readlinkSync, symlinkSync, writeFileSync, utimesSync } from 'node:fs';
import os from 'node:os';
import { Readable } from 'node:stream';
import path from 'node:path';
import { openRepo } from '../src/git/repo.js';
import { takeSnapshot, snapshotIndexPath } from '../src/git/snapshot.js';
import { worktreeArchive } from '../src/git/worktree-tar.js';
import { makeRepo, git, writeFiles } from './helpers.js';

/** Unpack a tar stream into a fresh directory with the system tar; returns the directory. */
async function unpack(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'git-run-wt-'));
  execFileSync('tar', ['-x', '-f', '-', '-C', dir], { input: Buffer.concat(chunks) });
  return dir;
}

/** Every file and symlink under dir: path -> content (or '-> target'), and the executable bit. */
function contents(dir: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(path.join(dir, rel))) {
    const p = path.join(rel, name);
    const st = lstatSync(path.join(dir, p));
    if (st.isDirectory()) Object.assign(out, contents(dir, p));
    else if (st.isSymbolicLink()) out[p] = `-> ${readlinkSync(path.join(dir, p))}`;
    else out[p] = `${st.mode & 0o100 ? 'x ' : ''}${readFileSync(path.join(dir, p), 'utf8')}`;
  }
  return out;
}

describe('sending a snapshot from the work tree', () => {
  const files = { 'a.txt': 'alpha\n', 'sub/b.txt': 'beta\n', '-rf': 'dash\n', 'sp ace/ü.txt': 'unicode\n' };

  async function snapshotOf(dir: string) {
    const repo = await openRepo(dir);
    const snap = await takeSnapshot(repo, { sendIgnoreFile: null, keepIndex: true });
    return { repo, snap };
  }

  it('gives the same files as git archive, only the files of the snapshot, names verbatim', async () => {
    const dir = makeRepo('wt-same', files);
    writeFiles(dir, { 'run.sh': 'echo hi\n', 'new-untracked.txt': 'new\n' });
    chmodSync(path.join(dir, 'run.sh'), 0o755);
    symlinkSync('a.txt', path.join(dir, 'link'));
    const { repo, snap } = await snapshotOf(dir);
    writeFiles(dir, { 'after-snapshot.txt': 'not in the tree\n' });
    const wt = await worktreeArchive(repo, snap.tree);
    assert.ok(wt, 'a clean work tree with GNU tar is sent from the work tree');
    // Read late, as the executor does (after asking the host): nothing may be lost meanwhile.
    await new Promise((r) => setTimeout(r, 300));
    const got = contents(await unpack(wt.stream));
    assert.equal(await wt.verify(), true);
    const archived = contents(await unpack(Readable.from([execFileSync('git', ['archive', '--format=tar', snap.tree], { cwd: dir, maxBuffer: 1 << 26 })])));
    assert.deepEqual(got, archived);
    assert.ok(got['-rf'] === 'dash\n' && got['link'] === '-> a.txt' && got['run.sh'] === 'x echo hi\n' && !('after-snapshot.txt' in got));
  });

  it('is refused when a file changed after the snapshot, and fails verification when one changes during the send', async () => {
    const dir = makeRepo('wt-changed', files);
    const { repo, snap } = await snapshotOf(dir);
    writeFiles(dir, { 'a.txt': 'ALPHA\n' });
    assert.equal(await worktreeArchive(repo, snap.tree), null, 'a changed file: git archive must send the tree');
    writeFiles(dir, { 'a.txt': 'alpha\n' });
    const again = await snapshotOf(dir);
    const wt = await worktreeArchive(again.repo, again.snap.tree);
    assert.ok(wt);
    // Same size, other bytes, while the stream is open: the second check catches it.
    writeFiles(dir, { 'sub/b.txt': 'BETA\n' });
    const earlier = new Date(Date.now() - 5000);
    utimesSync(path.join(dir, 'sub/b.txt'), earlier, earlier);
    await unpack(wt.stream);
    assert.equal(await wt.verify(), false);
  });

  it('is refused when attributes or settings could change bytes, or index flags hide changes', async () => {
    const withAttrs = makeRepo('wt-attrs', { ...files, '.gitattributes': '*.txt text eol=crlf\n' });
    let s = await snapshotOf(withAttrs);
    assert.equal(await worktreeArchive(s.repo, s.snap.tree), null, '.gitattributes');
    const crlf = makeRepo('wt-crlf', files);
    git(crlf, 'config', 'core.autocrlf', 'input');
    s = await snapshotOf(crlf);
    assert.equal(await worktreeArchive(s.repo, s.snap.tree), null, 'core.autocrlf');
    const assumed = makeRepo('wt-assume', files);
    git(assumed, 'update-index', '--assume-unchanged', 'a.txt');
    s = await snapshotOf(assumed);
    assert.equal(await worktreeArchive(s.repo, s.snap.tree), null, 'assume-unchanged');
    const noIndex = makeRepo('wt-noindex', files);
    s = await snapshotOf(noIndex);
    writeFileSync(snapshotIndexPath(s.repo, s.snap.tree), 'garbage');
    assert.equal(await worktreeArchive(s.repo, s.snap.tree), null, 'a damaged kept index: git archive');
  });
});
