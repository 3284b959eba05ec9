/**
 * Which executor a run belongs to, and the operations every executor
 * offers, dispatched: check a run (and finish its record if it ended),
 * cancel it.
 */
import type { Repo } from '../git/repo.js';
import type { RunView } from '../store/runs.js';
import { cancel as cancelLocal, refresh as refreshLocal } from './local.js';
import { cancelRemote, connectionFor, refreshRemote } from './ssh.js';

/** Runs on an ssh host (a profile of type ssh, not run --on-local). */
export const isRemote = (v: RunView): boolean => v.spec.hostProfile?.type === 'ssh' && v.spec.runArgs.on_local !== true;

export function refreshRun(repo: Repo, view: RunView): Promise<boolean> {
  return isRemote(view) ? refreshRemote(repo, view) : refreshLocal(repo, view);
}

export async function cancelRun(repo: Repo, view: RunView, graceMs: number): Promise<void> {
  if (!isRemote(view)) return cancelLocal(repo, view, graceMs);
  if (!view.state) return cancelLocal(repo, view, graceMs); // not started: the local marker stops it
  await cancelRemote(await connectionFor(view), view, graceMs / 1000);
}
