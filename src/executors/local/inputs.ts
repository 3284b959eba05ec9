/**
 * Inputs of a local run: each file hard-linked from the content cache
 * (../inputs.ts) into the run directory, read-only; copied where a link
 * cannot be made (another file system for local_dir). What was placed is
 * noted in the control directory (inputs.json: path, inode, size, mtime),
 * so that when the run ends an input it left as it was is not taken for an
 * output, and one it changed is.
 */
import { chmodSync, constants, copyFileSync, linkSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Repo } from '../../git/repo.js';
import type { RunView } from '../../store/runs.js';
import { writeAtomic } from '../../util/files.js';
import { sharedPermFor } from '../../git/shared.js';
import { cacheNameOf, fillContentCache, inputFiles } from '../inputs.js';

interface Placed {
  path: string;
  oid: string;
  ino: string;
  size: number;
  mtimeNs: string;
  /** The cache file it is a link of (null: a copy). */
  cache: string | null;
}

const placedFile = (controlDir: string) => path.join(controlDir, 'inputs.json');

/** Place the run's inputs under `workDir` (Executor.stageInputs for local runs). */
export async function stageLocalInputs(repo: Repo, view: RunView, workDir: string, controlDir: string): Promise<void> {
  const files = await inputFiles(repo, view.spec);
  if (!files.length) return;
  const cache = await fillContentCache(repo, files);
  const placed: Placed[] = [];
  for (const f of files) {
    const from = cache.get(cacheNameOf(f))!;
    const to = path.join(workDir, f.path);
    mkdirSync(path.dirname(to), { recursive: true });
    rmSync(to, { force: true });
    let linked = true;
    try {
      linkSync(from, to);
    } catch {
      // EXDEV (local_dir on another file system), EMLINK, or a file system without links: a copy.
      linked = false;
      copyFileSync(from, to, constants.COPYFILE_FICLONE);
      chmodSync(to, f.mode === '100755' ? 0o555 : 0o444);
    }
    const st = statSync(to, { bigint: true });
    placed.push({ path: f.path, oid: f.oid, ino: String(st.ino), size: Number(st.size), mtimeNs: String(st.mtimeNs), cache: linked ? from : null });
  }
  await writeAtomic(placedFile(controlDir), JSON.stringify(placed), await sharedPermFor(repo, controlDir));
}

export interface InputsAfterRun {
  /** Input files the run left as they were: not outputs. */
  unchanged: Set<string>;
  /** Each input file's content id: a file rewritten with the same bytes is no output either. */
  oids: Map<string, string>;
}

/**
 * Which inputs the run left alone, by inode, size and mtime. A changed file
 * that is still the cache's inode was written in place through the link: the
 * cache entry no longer holds its content id's bytes and is dropped (the next
 * run that needs it fills it again).
 */
export function inputsAfterRun(workDir: string, controlDir: string): InputsAfterRun {
  const out: InputsAfterRun = { unchanged: new Set(), oids: new Map() };
  let placed: Placed[];
  try {
    placed = JSON.parse(readFileSync(placedFile(controlDir), 'utf8')) as Placed[];
  } catch {
    return out;
  }
  for (const p of placed) {
    out.oids.set(p.path, p.oid);
    let st;
    try {
      st = lstatSync(path.join(workDir, p.path), { bigint: true });
    } catch {
      continue; // removed: deletions are not outputs
    }
    if (String(st.ino) === p.ino && Number(st.size) === p.size && String(st.mtimeNs) === p.mtimeNs && st.isFile()) {
      out.unchanged.add(p.path);
      continue;
    }
    const cached = p.cache ? statSync(p.cache, { bigint: true, throwIfNoEntry: false }) : undefined;
    if (p.cache && cached && String(cached.ino) === p.ino) rmSync(p.cache, { force: true });
  }
  return out;
}
