/**
 * Every run, whatever its executor, has a state directory on the machine
 * that submitted it, by default <git-common-dir>/git-run/runs/<id>/: the
 * copy of the .fetchignore in force at submission, the cancel marker of a
 * run not started yet, the detached supervisor's pid. The local executor
 * also runs the command there (./local/supervise.ts lists its files).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Repo } from '../git/repo.js';
import { mkdirShared } from '../git/shared.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import type { LeaveMode } from '../core/record.js';

/** The run_args the state directory depends on. */
export interface RunDirArgs {
  local_dir?: string;
  leave?: LeaveMode;
  /** Names of the ignore files that were in force at submission (null: none). */
  send_ignore?: string | null;
  fetch_ignore?: string | null;
}

/** Where a run finds its parameters as JSON, inside its run directory; never an output. */
export const PARAMS_DIR = '.git-run';

export function controlDirFor(repo: Repo, id: string, runArgs: RunDirArgs): string {
  const base = runArgs.local_dir ? path.resolve(repo.topLevel ?? repo.gitDir, runArgs.local_dir) : path.join(repo.stateDir, 'runs');
  return path.join(base, id);
}

/** Copy of the .fetchignore in force at submission: editing it later does not change this run. */
export const fetchIgnoreCopy = (dir: string): string => path.join(dir, 'fetchignore');
/** The submitter's environment (JSON, mode 0600) for a run another process (the daemon) starts: the run key hashed this one. Removed when the command has started. */
export const environCopy = (dir: string): string => path.join(dir, 'environ.json');
/** Present when a cancel was asked for. */
export const cancelMarker = (dir: string): string => path.join(dir, 'cancel');
/** {"pid", "start"} of the detached supervisor, written before the run starts. */
export const supervisorFile = (dir: string): string => path.join(dir, 'supervisor');

/** Create the state directory, proving it is writable, before the run is published (`perm`: core.sharedRepository, see sharedPermFor). */
export async function prepareControlDir(dir: string, perm = 0): Promise<void> {
  try {
    // A new directory: if it can be made, it can be written (or the file system is read-only, which mkdir reports).
    mkdirShared(perm, dir);
  } catch (e) {
    throw new GitRunError(
      ErrorCode.RunDirNotWritable,
      `cannot create the run directory ${dir}: ${(e as Error).message}`,
      'choose a writable place with --local-dir <dir> (or local_dir in .runconfig)',
      { dir },
    );
  }
}

/** Undo prepareControlDir when the run could not be published, or when a remote run is recorded. */
export async function discardControlDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}
