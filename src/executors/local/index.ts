/**
 * The local executor: commands run on this machine, in a run directory
 * outside the work tree (./supervise.ts).
 */
import type { Repo } from '../../git/repo.js';
import type { RunView } from '../../store/runs.js';
import type { Executor, Started } from '../executor.js';
import path from 'node:path';
import { controlDirFor } from '../rundir.js';
import { copyDirToShell } from '../copyin.js';
import { localShell } from '../../transport/shell.js';
import { stageLocalInputs } from './inputs.js';
import { gcLocalHost } from './gc.js';
import { sharedPermFor } from '../../git/shared.js';
import { cancel, endCommand, LogTail, materializeRun, readLive, readWorkFile, refresh, requestCancel, startCommand, startState, type LocalArgs } from './supervise.js';

/** Inputs hard-linked from the content cache into the run directory (./inputs.ts). */
async function stageInputs(repo: Repo, view: RunView): Promise<void> {
  const dir = controlDirFor(repo, view.id, view.spec.runArgs as LocalArgs);
  return stageLocalInputs(repo, view, path.join(dir, 'work'), dir);
}

export const localExecutor: Executor = {
  type: 'local',
  checksLocally: true,
  sendsCode: false,

  checkProfile(_name, profile) {
    // Nothing is recorded of a local profile; "host" and "ssh_config" mean nothing here.
    const { host: _host, ssh_config: _config, ...runArgs } = profile;
    return { record: null, runArgs };
  },
  reach: () => null,
  startedAtPublish: (dir) => startState(dir),

  prepareCode: (repo, view) => materializeRun(repo, view),
  stageInputs,

  async start(repo, view, opts = {}): Promise<Started | null> {
    const dir = controlDirFor(repo, view.id, view.spec.runArgs as LocalArgs);
    void opts.cancelled?.then(async () => requestCancel(dir, await sharedPermFor(repo, dir)));
    const tail = opts.output ? new LogTail(dir, opts.output) : null;
    const started = await startCommand(repo, view, { stage: (v) => stageInputs(repo, v), ...(tail ? { tick: () => tail.poll() } : {}) }, opts.prepared ?? undefined);
    if (!started) return null;
    return {
      view: started.view,
      ended: started.exit.then(() => undefined),
      async finish() {
        const done = await endCommand(repo, started, await started.exit);
        // The last bytes, before --leave removes the files.
        await tail?.poll();
        await done.cleanup();
        return done.view;
      },
    };
  },

  refresh,
  async readLive(repo, view, offsets) {
    const live = readLive(repo, view, offsets);
    return { ...live, pollMs: live.ended ? 10 : 25 };
  },
  readFile: async (repo, view, rel, offset, max) => readWorkFile(repo, view, rel, offset, max),
  cancel: (repo, view, graceMs) => cancel(repo, view, graceMs),
  requestCancel: async (repo, view) => {
    const dir = controlDirFor(repo, view.id, view.spec.runArgs as LocalArgs);
    return requestCancel(dir, await sharedPermFor(repo, dir));
  },
  // A copy on this machine: the same receiving script, through this machine's shell.
  copyIn: (_repo, _profile, localDir, remotePath) => copyDirToShell(localShell(), localDir, remotePath),
  gcHost: gcLocalHost,
};
