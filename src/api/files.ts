/**
 * A run's files as the run left its directory: its outputs over its code
 * snapshot. `<run>:<path>` names one of them (cat), and checkout writes some
 * or all of them to a directory of the user's choosing.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Repo } from '../git/repo.js';
import { tempPath } from '../git/snapshot.js';
import { readBlob } from '../git/objects.js';
import { privateIndex } from '../git/plumbing.js';
import { lfsContentFile, parsePointer, pointersAmong, readLfsContent } from '../git/lfs.js';
import { outputsOf, type RunView } from '../store/runs.js';
import { lfsOutputsOf, mayBeLfsOutput } from '../core/record.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { getRun } from './query.js';

/** Split `<run>:<path>`; the path is relative to the top of the run directory. */
export function parseRunPath(spec: string): { run: string; path: string } {
  const i = spec.indexOf(':');
  if (i < 0 || i === spec.length - 1) {
    throw new GitRunError(ErrorCode.BadOption, `'${spec}' does not name a file of a run`, 'write it as <run>:<path>, e.g. 3f2a9c:results/model.txt');
  }
  return { run: spec.slice(0, i), path: spec.slice(i + 1).replace(/^\.?\/+/, '') };
}

export async function catRunFile(repo: Repo, spec: string): Promise<{ view: RunView; data: Buffer; from: 'outputs' | 'code' }> {
  const { run, path: p } = parseRunPath(spec);
  const view = await getRun(repo, run);
  const out = await readBlob(repo, `${view.tip}:outputs/${p}`);
  if (out) {
    // A big output is a Git LFS pointer: its content is what the run wrote. Only those the record names (a run may write a copy of a pointer file).
    const where = `${view.id.slice(0, 12)}:${p}`;
    const pointer = mayBeLfsOutput(lfsOutputsOf(view.result), p) ? parsePointer(out, where) : null;
    return { view, data: pointer ? await readLfsContent(repo, pointer, where) : out, from: 'outputs' };
  }
  const code = await readBlob(repo, `${view.tip}:code/${p}`);
  if (code) return { view, data: code, from: 'code' };
  const outputs = await outputsOf(repo, view.tip);
  const listing = outputs.length ? `; its outputs are: ${outputs.slice(0, 10).map((o) => o.path).join(', ')}${outputs.length > 10 ? ', ...' : ''}` : '; it has no outputs';
  throw new GitRunError(
    ErrorCode.PathNotInRun,
    `run ${view.id.slice(0, 12)} did not produce '${p}' and its code has no such file${view.result ? listing : ' (it has not finished)'}`,
    'see what a run produced with `git run show <run>`',
    { run: view.id, path: p },
  );
}

export interface CheckoutResult {
  view: RunView;
  dest: string;
  files: number;
}

/** Write the run's files (all, or those under `sub`) into `dest`, which must be empty or absent. */
export async function checkoutRun(repo: Repo, name: string, sub: string | null, dest: string, force = false): Promise<CheckoutResult> {
  const view = await getRun(repo, name);
  const target = path.resolve(dest);
  await checkDestination(target);
  const existing = await fs.readdir(target).catch(() => null);
  if (existing && existing.length && !force) {
    throw new GitRunError(ErrorCode.DestinationNotEmpty, `${target} exists and is not empty`, 'choose a new directory with --to <dir>, or pass --force to write into it', { dest: target });
  }
  const index = await tempPath(repo, 'checkout');
  try {
    // Code first, then outputs over it: the directory as the run left it.
    await privateIndex.readTree(repo, index, `${view.tip}:code`);
    const outputs = await outputsOf(repo, view.tip);
    await privateIndex.add(repo, index, outputs);
    const all = await privateIndex.list(repo, index);
    const p = sub ? sub.replace(/^\.?\/+/, '').replace(/\/+$/, '') : '';
    const chosen = p ? all.filter((f) => f === p || f.startsWith(p + '/')) : all;
    if (!chosen.length) {
      throw new GitRunError(ErrorCode.PathNotInRun, `run ${view.id.slice(0, 12)} has no file at '${sub}'`, 'see its files with `git run show <run>`', { run: view.id, path: sub });
    }
    // Big outputs' content checked before a file is written.
    const lfs = await lfsContentOf(repo, view, outputs, new Set(chosen));
    await fs.mkdir(target, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
      throw new GitRunError(ErrorCode.DestinationNotEmpty, `cannot make ${target}: ${e.message}`, 'choose a directory you can write to with --to <dir>', { dest: target });
    });
    await privateIndex.checkoutTo(repo, index, chosen, target);
    await placeLfsContent(lfs, target);
    const count = chosen.length;
    return { view, dest: target, files: count };
  } finally {
    await fs.rm(index, { force: true });
  }
}

/**
 * The Git LFS content of the chosen outputs that are pointers: each fetched
 * when missing and verified before anything is written, so that a bad
 * pointer or missing content leaves no half-written directory. Returns what
 * to copy over the pointers once checked out.
 */
export async function lfsContentOf(repo: Repo, view: RunView, outputs: ReadonlyArray<{ path: string; oid: string; size: number; mode: string }>, chosen: ReadonlySet<string>, prefix = ''): Promise<Array<{ path: string; file: string; mode: number }>> {
  const record = lfsOutputsOf(view.result);
  // `outputs/` is the export's prefix; the record names paths in the outputs tree.
  const files = outputs.filter((o) => chosen.has(o.path) && (o.mode === '100644' || o.mode === '100755') && mayBeLfsOutput(record, prefix && o.path.startsWith(prefix) ? o.path.slice(prefix.length) : o.path));
  const where = (p: string) => `${view.id.slice(0, 12)}:${p}`;
  const pointers = await pointersAmong(repo, files, where);
  const out: Array<{ path: string; file: string; mode: number }> = [];
  for (const f of files) {
    const pointer = pointers.get(f.oid);
    if (pointer) out.push({ path: f.path, file: await lfsContentFile(repo, pointer, where(f.path)), mode: f.mode === '100755' ? 0o755 : 0o644 });
  }
  return out;
}

/** Put LFS content over the pointers a checkout wrote under `target`. */
export async function placeLfsContent(content: ReadonlyArray<{ path: string; file: string; mode: number }>, target: string): Promise<void> {
  for (const c of content) {
    const dest = path.join(target, c.path);
    const tmp = `${dest}.git-run-lfs-${process.pid}`;
    await fs.copyFile(c.file, tmp);
    await fs.chmod(tmp, c.mode);
    await fs.rename(tmp, dest);
  }
}

/** The destination is absent or a directory (a link to one will do); anything else is refused before anything is written. */
async function checkDestination(target: string): Promise<void> {
  let link = true;
  await fs.lstat(target).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw new GitRunError(ErrorCode.DestinationNotEmpty, `cannot write to ${target}: ${e.code === 'ENOTDIR' ? 'a part of that path is not a directory' : e.message}`, 'choose a new directory with --to <dir>', { dest: target });
    link = false;
  });
  if (!link) return;
  const st = await fs.stat(target).catch(() => null);
  if (!st) {
    throw new GitRunError(ErrorCode.DestinationNotEmpty, `${target} is a symbolic link to nothing (${await fs.readlink(target).catch(() => '?')})`, 'remove the link, or choose a new directory with --to <dir>', { dest: target });
  }
  if (!st.isDirectory()) {
    throw new GitRunError(ErrorCode.DestinationNotEmpty, `${target} exists and is not a directory`, 'choose a new directory with --to <dir>', { dest: target });
  }
}
