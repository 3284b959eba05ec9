/**
 * Inputs as files, for every executor: each input of a run (RunSpec.inputs)
 * expanded into the files it places, and the content cache on this machine
 * that holds each file's bytes once per content id:
 *
 *   <git-common-dir>/git-run/inputs/<oid>     a file's bytes, read-only (0444)
 *   <git-common-dir>/git-run/inputs/<oid>.x   the same bytes, executable (0555)
 *
 * An entry is filled once (a reflink where the file system can, else a
 * copy), written beside and renamed into place, so a reader never sees half
 * of one. Artifacts and stored inputs come from git objects; a work-tree
 * input from the work tree, checked on the way: a file whose bytes are no
 * longer those recorded at submission fails the run rather than feed it
 * other data.
 */
import crypto from 'node:crypto';
import { chmodSync, closeSync, constants, copyFileSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Repo } from '../git/repo.js';
import { blobToFile, treeFiles } from '../git/content.js';
import { copyLfsContent, pointersAmong, POINTER_MAX, POINTER_VERSION } from '../git/lfs.js';
import { NotData, StatCache, worktreeContent } from '../git/statcache.js';
import { adjustSharedPerm, sharedPerm } from '../git/shared.js';
import { ErrorCode, GitRunError, isNoSpace, diskFull } from '../errors/index.js';
import { lfsOutputsOf, type RunInput, type RunResult, type RunSpec } from '../core/record.js';
import { readBlob } from '../git/objects.js';
import { RunRef } from '../git/refs.js';
import { normalizeDest } from '../core/inputs.js';

/** One file an input places. */
export interface InputFile {
  /** Where it goes, relative to the run directory's top. */
  path: string;
  oid: string;
  mode: string;
  /** The input it belongs to. */
  input: RunInput;
  /** A work-tree file it is read from (absolute) when the cache lacks it; null: from git objects. */
  worktree: string | null;
  /** The blob's size when known (a file from git): one small enough may be a Git LFS pointer. */
  size?: number;
  /** From a run whose record lists its Git LFS outputs: whether this file is one (else, unknown: its bytes say). */
  lfs?: boolean;
}

/** Resolved inputs only: records older than staging hold plain text, which places nothing. */
export const resolvedInputs = (spec: RunSpec): RunInput[] => (spec.inputs ?? []).filter((i): i is RunInput => typeof i === 'object' && i !== null);

export const contentCacheDir = (repo: Repo): string => path.join(repo.stateDir, 'inputs');

/**
 * The cache entry's name for a file's content and mode. `decoded`: the entry
 * holds what the blob gives once read as a Git LFS pointer (the content when
 * it is one), named apart from the blob's own bytes: a run's copy of a
 * pointer file has the same blob id as the big output it points to.
 */
export const cacheName = (oid: string, mode: string, decoded = false): string => `${oid}${decoded ? '.lfs' : ''}${mode === '100755' ? '.x' : ''}`;

/**
 * Whether a file's blob is read as a Git LFS pointer when it is one: a file from git small enough, unless its run's
 * record says it is not one. A work-tree file is always its own bytes, and so named: a copy of a pointer there must
 * not share an entry with the content an artifact's pointer decodes to.
 */
const mayDecode = (f: InputFile): boolean => f.worktree === null && f.size !== undefined && f.lfs !== false && f.size > POINTER_VERSION.length && f.size <= POINTER_MAX;

/** The cache entry of an input file. */
export const cacheNameOf = (f: InputFile): string => cacheName(f.oid, f.mode, mayDecode(f));

const changed = (i: RunInput, why: string) =>
  new GitRunError(ErrorCode.BadInput, `input ${JSON.stringify(i.path)} changed since the run was submitted: ${why}`, `the run did not start rather than use other data; submit it again to use the work tree's ${JSON.stringify(i.worktree ?? i.path)} as it is now`, { path: i.path });

/**
 * Every file the run's inputs place. A directory from the work tree is
 * walked again (its files' ids come from the stat cache) and must still have
 * the recorded tree id.
 */
export async function inputFiles(repo: Repo, spec: RunSpec): Promise<InputFile[]> {
  // A record from another clone is not trusted to stay inside the run directory (or the work tree): checked before anything is read.
  for (const i of resolvedInputs(spec)) {
    checkRecorded(i, i.path, '.git-run');
    if (i.worktree !== undefined) checkRecorded(i, i.worktree, null);
  }
  const out = await expand(repo, spec);
  for (const f of out) checkRecorded(f.input, f.path, '.git-run');
  return out;
}

/** A recorded path that is not canonical (absolute, '..', '.git', empty parts) is refused. */
function checkRecorded(i: RunInput, p: string, reserved: string | null): void {
  // The work tree has no directory of ours: '/' never names a first component.
  const n = normalizeDest(p, reserved ?? '/');
  if ('path' in n && n.path === p) return;
  throw new GitRunError(ErrorCode.BadInput, `input ${JSON.stringify(i.path)}: the recorded path ${JSON.stringify(p)} would leave the run directory or the work tree`, 'this record was not written by git-run as it is; submit the run again', { path: p });
}

async function expand(repo: Repo, spec: RunSpec): Promise<InputFile[]> {
  const out: InputFile[] = [];
  let cache: StatCache | null = null;
  const records = new Map<string, ReadonlySet<string> | null>();
  // Whether an artifact's file is a Git LFS output, by its run's record (a run may have written a copy of a pointer file); undefined: unknown.
  const lfsFlag = async (i: RunInput, sub: string | null): Promise<{ lfs?: boolean }> => {
    if (!i.from) return {};
    if (!records.has(i.from.run)) records.set(i.from.run, await lfsRecordOfRun(repo, i.from.run));
    const record = records.get(i.from.run)!;
    return record ? { lfs: record.has(sub === null ? i.from.path : `${i.from.path}/${sub}`) } : {};
  };
  for (const i of resolvedInputs(spec)) {
    const fromGit = !!i.from || !!i.stored;
    if (i.type === 'blob') {
      out.push({ path: i.path, oid: i.oid, mode: i.mode, input: i, worktree: fromGit ? null : path.join(repo.topLevel ?? '', i.worktree ?? i.path), ...(typeof i.size === 'number' ? { size: i.size } : {}), ...(await lfsFlag(i, null)) });
      continue;
    }
    if (fromGit) {
      for (const f of await treeFiles(repo, i.oid)) out.push({ path: `${i.path}/${f.path}`, oid: f.oid, mode: f.mode, input: i, worktree: null, size: f.size, ...(await lfsFlag(i, f.path)) });
      continue;
    }
    cache ??= StatCache.load(repo);
    const abs = path.join(repo.topLevel ?? '', i.worktree ?? i.path);
    let content;
    try {
      content = await worktreeContent(cache, repo.objectFormat, abs);
    } catch (e) {
      if (e instanceof NotData || (e as NodeJS.ErrnoException).code) throw changed(i, (e as Error).message);
      throw e;
    }
    if (content.oid !== i.oid) throw changed(i, `the directory ${JSON.stringify(i.worktree)} now has other content`);
    for (const f of content.files) out.push({ path: `${i.path}/${f.path}`, oid: f.oid, mode: f.mode, input: i, worktree: f.abs });
  }
  await cache?.save(repo);
  return out;
}

/**
 * Copy a work-tree file into `tmp` and check it holds the recorded bytes: a
 * reflink (instant, shares blocks until either side is written) then one
 * hash of the copy; else one pass that copies and hashes together.
 */
function copyChecked(format: string, from: string, tmp: string, oid: string): boolean {
  const alg = format === 'sha256' ? 'sha256' : 'sha1';
  try {
    copyFileSync(from, tmp, constants.COPYFILE_FICLONE_FORCE);
    const size = statSync(tmp).size;
    const h = crypto.createHash(alg).update(`blob ${size}\0`);
    const fd = openSync(tmp, 'r');
    try {
      const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
      for (let n; (n = readSync(fd, buf, 0, buf.length, null)); ) h.update(buf.subarray(0, n));
    } finally {
      closeSync(fd);
    }
    return h.digest('hex') === oid;
  } catch (e) {
    if (isNoSpace(e)) throw e;
    // No reflink on this file system: copy and hash in one pass.
  }
  const size = statSync(from).size;
  const h = crypto.createHash(alg).update(`blob ${size}\0`);
  const src = openSync(from, 'r');
  const dst = openSync(tmp, 'w');
  let total = 0;
  try {
    const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
    for (let n; (n = readSync(src, buf, 0, buf.length, null)); ) {
      h.update(buf.subarray(0, n));
      writeSync(dst, buf, 0, n);
      total += n;
    }
  } finally {
    closeSync(src);
    closeSync(dst);
  }
  return total === size && h.digest('hex') === oid;
}

/** A blob's bytes into `tmp`; a Git LFS pointer's content (verified) when the blob is one (a big output of an upstream run). */
async function blobOrLfsToFile(repo: Repo, f: InputFile, tmp: string): Promise<void> {
  const where = `input ${JSON.stringify(f.path)}${f.input.from ? ` (from run ${f.input.from.run.slice(0, 12)})` : ''}`;
  const pointer = !mayDecode(f) || f.size === undefined ? undefined : (await pointersAmong(repo, [{ oid: f.oid, size: f.size, path: f.path }], () => where)).get(f.oid);
  if (pointer) await copyLfsContent(repo, pointer, where, tmp, 0o644);
  else await blobToFile(repo, f.oid, tmp, 0o644);
}

/** The Git LFS record of a run's outputs (null: an older run without one, or the run is gone here). */
async function lfsRecordOfRun(repo: Repo, run: string): Promise<ReadonlySet<string> | null> {
  try {
    const blob = await readBlob(repo, `${new RunRef(run).name}:result.json`);
    return blob ? lfsOutputsOf(JSON.parse(blob.toString('utf8')) as RunResult) : null;
  } catch {
    // Not a run id, or not JSON (a record from elsewhere): unknown, the bytes say.
    return null;
  }
}

/**
 * Make sure the content cache holds every file's bytes; returns the cache
 * file of each (by cacheName). A work-tree file that no longer holds the
 * recorded bytes fails with the reason (nothing is left half-written).
 */
export async function fillContentCache(repo: Repo, files: readonly InputFile[]): Promise<Map<string, string>> {
  const dir = contentCacheDir(repo);
  const perm = await sharedPerm(repo);
  if (mkdirSync(dir, { recursive: true })) adjustSharedPerm(perm, dir);
  const out = new Map<string, string>();
  for (const f of files) {
    const name = cacheNameOf(f);
    const final = path.join(dir, name);
    out.set(name, final);
    if (existsSync(final)) continue;
    const tmp = path.join(dir, `tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
    try {
      if (f.worktree) {
        let ok: boolean;
        try {
          ok = copyChecked(repo.objectFormat, f.worktree, tmp, f.oid);
        } catch (e) {
          if (isNoSpace(e)) throw diskFull(dir);
          throw changed(f.input, `${JSON.stringify(f.input.worktree ?? f.path)} cannot be read: ${(e as Error).message}`);
        }
        if (!ok) throw changed(f.input, `${JSON.stringify(f.input.worktree ?? f.path)} no longer holds the bytes recorded (${f.oid.slice(0, 12)})`);
      } else await blobOrLfsToFile(repo, f, tmp);
      // Read-only: a command that writes into its input in place must chmod it first.
      chmodSync(tmp, f.mode === '100755' ? 0o555 : 0o444);
      adjustSharedPerm(perm, tmp);
      renameSync(tmp, final);
    } catch (e) {
      rmSync(tmp, { force: true });
      if (isNoSpace(e)) throw diskFull(dir);
      throw e;
    }
  }
  return out;
}

/** The cache entries (content id, `.x` when executable) a run's inputs place. */
export async function inputCacheNames(repo: Repo, spec: RunSpec): Promise<string[]> {
  return [...new Set((await inputFiles(repo, spec)).map(cacheNameOf))];
}

const ENTRY = /^([0-9a-f]{40}|[0-9a-f]{64})(\.lfs)?(\.x)?$/;

/**
 * Remove content cache entries whose content id is not in `keepOf()` and that
 * nothing changed since `beforeMs` (an entry just filled or linked may be
 * about to be placed by a run submitted meanwhile). Anything else in the
 * directory (an entry being written) is left alone. The bytes counted are
 * those actually freed: an entry still linked from a run directory frees
 * nothing.
 */
export async function pruneInputCache(repo: Repo, keepOf: () => Promise<ReadonlySet<string>>, beforeMs: number): Promise<{ removed: number; bytes: number }> {
  const dir = contentCacheDir(repo);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { removed: 0, bytes: 0 };
  }
  // What to keep is worked out only when there is a cache to prune (it reads every unfinished run).
  if (!names.length) return { removed: 0, bytes: 0 };
  const keep = await keepOf();
  let removed = 0;
  let bytes = 0;
  for (const name of names) {
    const m = ENTRY.exec(name);
    if (!m || keep.has(m[1]!)) continue;
    const file = path.join(dir, name);
    try {
      const st = lstatSync(file);
      if (!st.isFile() || Math.max(st.ctimeMs, st.mtimeMs) >= beforeMs) continue;
      rmSync(file, { force: true });
      removed++;
      if (st.nlink === 1) bytes += st.size;
    } catch {
      /* gone meanwhile */
    }
  }
  return { removed, bytes };
}
