/**
 * Small control files (pid files, exit records, the daemon's state) that
 * several processes read while one writes: a reader sees all of a file or
 * none of it.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { diskFull, isNoSpace } from '../errors/index.js';
import { adjustSharedPerm } from '../git/shared.js';

/** Write a small file so that readers see either nothing or all of it (`perm`: core.sharedRepository, see src/git/shared.ts). */
export async function writeAtomic(file: string, data: string, perm = 0): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, data);
    adjustSharedPerm(perm, tmp);
    renameSync(tmp, file);
  } catch (e) {
    // A full disk is the world's doing: said as such (the run is recorded lost once space is freed).
    if (!isNoSpace(e)) throw e;
    rmSync(tmp, { force: true });
    throw diskFull(path.dirname(file));
  }
}

/** A small JSON control file, or null when it is absent or half-written. */
export async function readJsonFile<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}
