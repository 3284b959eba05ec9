/**
 * Small control files (pid files, exit records, the daemon's state) that
 * several processes read while one writes: a reader sees all of a file or
 * none of it.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/** Write a small file so that readers see either nothing or all of it. */
export async function writeAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/** A small JSON control file, or null when it is absent or half-written. */
export async function readJsonFile<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}
