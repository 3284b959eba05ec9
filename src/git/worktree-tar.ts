/**
 * Sending a snapshot's files from the work tree instead of the object store.
 *
 * `git archive` inflates every blob: for the benchmark's 200 MiB tree that is
 * 0.4 s of CPU the transfer waits on, while the same bytes usually sit in the
 * work tree, in the page cache. The snapshot's index (kept by takeSnapshot)
 * holds each file's stat data as it was when hashed, so git's own rule
 * decides: where `git diff-files` finds a file unchanged (stat data; a racily
 * clean entry is compared by content), its bytes are the blob's, and GNU tar
 * may read them. The check runs before and after the read; GNU tar itself
 * fails on a file that changes while it reads it.
 *
 * Anything that could make the work tree's bytes differ from the blobs sends
 * the caller back to `git archive`: attributes (filters, eol, ident,
 * encodings) or core.autocrlf, assume-unchanged or skip-worktree entries, no
 * GNU tar of at least 1.29 (for --verbatim-files-from), no kept index.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type { Repo } from './repo.js';
import { snapshotIndexPath } from './snapshot.js';

let gnuTar: Promise<boolean> | null = null;

/** GNU tar 1.29 or later on PATH (asked once per process). */
function hasGnuTar(): Promise<boolean> {
  gnuTar ??= new Promise((resolve) => {
    const p = spawn('tar', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', () => resolve(false));
    p.on('close', (code) => {
      const m = /^tar \(GNU tar\) (\d+)\.(\d+)/.exec(out);
      resolve(code === 0 && !!m && (Number(m[1]) > 1 || Number(m[2]) >= 29));
    });
  });
  return gnuTar;
}

/** Whether any attribute or setting could make checked-out bytes differ from the blobs. */
async function mayFilter(repo: Repo, paths: string[]): Promise<boolean> {
  if (paths.some((p) => p === '.gitattributes' || p.endsWith('/.gitattributes'))) return true;
  if (existsSync(path.join(repo.commonDir, 'info', 'attributes'))) return true;
  const cfg = await repo.git(['config', '-z', '--get-regexp', '^core\\.(autocrlf|attributesfile)$'], { okCodes: [0, 1] });
  for (const entry of cfg.stdout.toString().split('\0').filter(Boolean)) {
    const [key, value = ''] = entry.split('\n');
    if (key === 'core.attributesfile') return true;
    if (key === 'core.autocrlf' && value !== 'false') return true;
  }
  const xdg = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return existsSync(path.join(xdg, 'git', 'attributes'));
}

export interface WorktreeArchive {
  /** The tar stream. */
  stream: Readable;
  /** After the stream ended: true when tar read every file whole and the work tree still matches the snapshot. */
  verify(): Promise<boolean>;
  /** Stop early (the transfer failed). */
  kill(): void;
}

/** A tar stream of `tree` read from the work tree, or null when only `git archive` can be trusted to give its bytes. */
export async function worktreeArchive(repo: Repo, tree: string): Promise<WorktreeArchive | null> {
  const index = snapshotIndexPath(repo, tree);
  if (!repo.topLevel || !existsSync(index) || !(await hasGnuTar())) return null;
  // Only a shortcut: a kept index git cannot read means git archive, not an error.
  return start(repo, repo.topLevel, index).catch(() => null);
}

async function start(repo: Repo, top: string, index: string): Promise<WorktreeArchive | null> {
  const env = { GIT_INDEX_FILE: index };
  const unchanged = async () => (await repo.git(['diff-files', '--quiet'], { env, okCodes: [0, 1] })).code === 0;
  // -v: a lower-case tag is assume-unchanged, S skip-worktree; only plain entries (H) qualify.
  const listing = (await repo.git(['ls-files', '-z', '-s', '-v'], { env })).stdout.toString();
  const paths: string[] = [];
  for (const line of listing.split('\0')) {
    if (!line) continue;
    const m = /^(\S) (\d{6}) [0-9a-f]+ (\d)\t(.*)$/s.exec(line);
    if (!m || m[1] !== 'H' || m[3] !== '0') return null;
    if (m[2] === '160000') continue; // a submodule: git archive sends an empty directory, no file
    paths.push(m[4]!);
  }
  if ((await mayFilter(repo, paths)) || !(await unchanged())) return null;
  // An argument vector, names from stdin NUL-separated and taken verbatim (a name may start with '-').
  const tar: ChildProcessWithoutNullStreams = spawn(
    'tar',
    ['-c', '-f', '-', '--format=gnu', '--owner=0', '--group=0', '--numeric-owner', '--null', '--no-recursion', '--verbatim-files-from', '-T', '-'],
    { cwd: top, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  tar.stderr.resume();
  const exited = new Promise<number | null>((resolve) => {
    tar.on('error', () => resolve(null));
    tar.on('close', (code) => resolve(code));
  });
  tar.stdin.on('error', () => undefined);
  tar.stdin.end(paths.length ? paths.join('\0') + '\0' : '');
  // Piped at once: node resumes (and so discards) a child's unread stdout
  // when the child exits, and a small tree is written before anyone reads.
  // The PassThrough holds it, and holds tar back by backpressure meanwhile.
  const stream = tar.stdout.pipe(new PassThrough());
  return {
    stream,
    // tar exits 1 when a file changed while it was read, 2 on a fatal error.
    verify: async () => (await exited) === 0 && (await unchanged()),
    kill: () => tar.kill('SIGKILL'),
  };
}
