/**
 * The code snapshot: the work tree as git would commit it after `git add -A`
 * (tracked files with their uncommitted edits, plus untracked files that
 * .gitignore does not ignore), minus what .sendignore rejects, written as a
 * tree object. The user's index, HEAD and work tree are never touched: we
 * work on a copy of the index (GIT_INDEX_FILE), which also keeps git's stat
 * cache, so only files that changed since the last `git add` are re-hashed.
 */
import { promises as fs, copyFileSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { Repo } from './repo.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { mkdirShared, sharedPerm } from './shared.js';

export interface Snapshot {
  /** The code's identity. */
  tree: string;
  /** HEAD when the snapshot was taken; null in a repository with no commit yet. */
  commit: string | null;
  /** True when the tree differs from HEAD's tree (uncommitted edits, new files, or ignored files left out). */
  dirty: boolean;
}

/** A private temporary file (an index, a pattern file) next to the real index (same file system). */
export async function tempPath(repo: Repo, label: string): Promise<string> {
  const dir = path.join(repo.stateDir, 'tmp');
  mkdirShared(await sharedPerm(repo), dir);
  return path.join(dir, `${label}-${process.pid}-${crypto.randomBytes(4).toString("hex")}`);
}

/**
 * Copy an index file keeping its timestamp. git trusts an entry's stat data
 * only when the file is older than the index (its racy-timestamp rule; Debian's
 * git compares whole seconds): a copy stamped "now" would make an entry written
 * in the index's own second look clean, and a file changed since in that second,
 * with the same size, would be taken as unchanged. The copy's mtime is the
 * original's, rounded down, so it is never newer.
 */
export function copyIndexFile(from: string, to: string): void {
  copyFileSync(from, to);
  const st = statSync(from);
  const sec = Math.floor(st.mtimeMs / 1000);
  utimesSync(to, sec, sec);
}

/** Where the index of a snapshot is kept (with its stat data) for sending the tree from the work tree. */
export const snapshotIndexPath = (repo: Repo, tree: string): string => path.join(repo.stateDir, 'snapshots', `${tree}.index`);

/** Kept indexes older than this are removed when another is kept. */
const KEEP_INDEX_MS = 24 * 3600 * 1000;

async function keepIndexFor(repo: Repo, index: string, tree: string): Promise<void> {
  const dest = snapshotIndexPath(repo, tree);
  mkdirShared(await sharedPerm(repo), path.dirname(dest));
  await fs.rename(index, dest);
  const dir = path.dirname(dest);
  for (const f of await fs.readdir(dir)) {
    const p = path.join(dir, f);
    const st = await fs.stat(p).catch(() => null);
    if (st && Date.now() - st.mtimeMs > KEEP_INDEX_MS) await fs.rm(p, { force: true });
  }
}

export async function takeSnapshot(repo: Repo, opts: { sendIgnoreFile: string | null; keepIndex?: boolean }): Promise<Snapshot> {
  if (!repo.topLevel) {
    throw new GitRunError(ErrorCode.NotARepository, `${repo.gitDir} is a bare repository: there is no work tree to snapshot`, 'run git-run in a clone with a work tree');
  }
  const index = await tempPath(repo, 'snapshot');
  const env = { GIT_INDEX_FILE: index };
  try {
    try {
      copyIndexFile(path.join(repo.gitDir, 'index'), index);
    } catch (e) {
      // No index yet (a repository with no commit and nothing added): start empty.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    await repo.git(['add', '-A'], { env });
    if (opts.sendIgnoreFile) {
      // git's own matcher applies .gitignore rules to every staged path, tracked ones included.
      const ignored = await repo.git(['ls-files', '-z', '--cached', '--ignored', `--exclude-from=${opts.sendIgnoreFile}`], { env });
      if (ignored.stdout.length) {
        await repo.git(['update-index', '-z', '--force-remove', '--stdin'], { env, input: ignored.stdout });
      }
    }
    const tree = await repo.text(['write-tree'], { env });
    // The index now says exactly what the tree holds, with the stat data of each file.
    if (opts.keepIndex) await keepIndexFor(repo, index, tree);
    const head = await repo.currentHead();
    return { tree, commit: head?.commit ?? null, dirty: tree !== head?.tree };
  } finally {
    await fs.rm(index, { force: true });
  }
}

/**
 * The snapshot of a commit (a run submitted by a hook or a schedule): its
 * tree, minus what .sendignore rejects, without looking at the work tree.
 */
export async function resolveCommit(repo: Repo, commit: string): Promise<string> {
  const r = await repo.git(['rev-parse', '-q', '--verify', '--end-of-options', `${commit}^{commit}`], { okCodes: [1, 128] });
  if (r.code !== 0) throw new GitRunError(ErrorCode.BadRevision, `'${commit}' is not a commit`, 'name a branch, a tag or a commit id');
  return r.stdout.toString().trim();
}

export async function snapshotOfCommit(repo: Repo, commit: string, opts: { sendIgnoreFile: string | null }): Promise<Snapshot> {
  const full = await resolveCommit(repo, commit);
  const tree = await repo.text(['rev-parse', `${full}^{tree}`]);
  if (!opts.sendIgnoreFile) return { tree, commit: full, dirty: false };
  const index = await tempPath(repo, 'commit-snapshot');
  const env = { GIT_INDEX_FILE: index };
  try {
    await repo.git(['read-tree', full], { env });
    const ignored = await repo.git(['ls-files', '-z', '--cached', '--ignored', `--exclude-from=${opts.sendIgnoreFile}`], { env });
    if (!ignored.stdout.length) return { tree, commit: full, dirty: false };
    await repo.git(['update-index', '-z', '--force-remove', '--stdin'], { env, input: ignored.stdout });
    const kept = await repo.text(['write-tree'], { env });
    return { tree: kept, commit: full, dirty: kept !== tree };
  } finally {
    await fs.rm(index, { force: true });
  }
}
