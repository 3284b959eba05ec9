/**
 * The registry: which executor serves a host profile's type, and the one
 * module of src/executors/ that the rest of git-run imports (the lint holds
 * src/api/, src/daemon/ and src/cli/ to it). Adding an executor is a folder
 * beside local/ and ssh/ and one line in EXECUTORS.
 */
import type { Repo } from '../git/repo.js';
import type { RunView } from '../store/runs.js';
import type { RunSpec } from '../core/record.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import type { Executor, LiveState } from './executor.js';
import { localExecutor } from './local/index.js';
import { sshExecutor } from './ssh/index.js';
import { slurmExecutor } from './slurm/index.js';

const EXECUTORS: ReadonlyMap<string, Executor> = new Map([localExecutor, sshExecutor, slurmExecutor].map((e) => [e.type, e]));

export type { Executor, Started, StartOptions, LiveOutput, LiveState, ProfileCheck, Stream, HostKeep, HostGcReport } from './executor.js';
export { inputCacheNames, pruneInputCache } from './inputs.js';
export { controlDirFor, prepareControlDir, discardControlDir, fetchIgnoreCopy, environCopy } from './rundir.js';
export { setCliEntry, launchDaemon, launchSupervisor } from './detached.js';
export { finalStatus, type Observed, type FinalStatus } from './status.js';

/** The types .runconfig's host profiles may name. */
export const executorTypes = (): string[] => [...EXECUTORS.keys()];

/** The executor of a host profile's type; a type this version does not know is a user's error, never the local executor. */
export function executorOfType(type: string, profile: string): Executor {
  const e = EXECUTORS.get(type);
  if (!e) {
    throw new GitRunError(ErrorCode.UnknownHost, `host '${profile}' is of type '${type}', which this version cannot run on`, `use a profile of type ${executorTypes().map((t) => `"${t}"`).join(' or ')}`, { host: profile, type });
  }
  return e;
}

/** The executor that runs a spec: its host profile's, unless on_local (run --on-local) keeps it on this machine. */
export function executorForSpec(spec: Pick<RunSpec, 'hostProfile' | 'runArgs' | 'host'>): Executor {
  if (spec.runArgs.on_local === true) return localExecutor;
  return spec.hostProfile ? executorOfType(spec.hostProfile.type, spec.host) : localExecutor;
}

/** The executor of a run. */
export const executorFor = (view: RunView): Executor => executorForSpec(view.spec);

/** The executor that runs a submission to a profile (`record`: what checkProfile returned), with on_local applied. */
export const executorForProfile = (profile: Executor, onLocal: boolean): Executor => (onLocal ? localExecutor : profile);

/** Whether a run of this executor type is checked by a look at this machine (no network); false for a type not known here. */
export const checksLocally = (type: string | null): boolean => (type !== null && EXECUTORS.get(type)?.checksLocally) === true;

/** Look at a run where it runs, and record its end if it ended unrecorded. True when the record changed. */
export const refreshRun = (repo: Repo, view: RunView): Promise<boolean> => executorFor(view).refresh(repo, view);

/** What a started run's host says of it now (a job waiting in a scheduler's queue, and why); null when nothing more than the record. */
export const describeRun = (repo: Repo, view: RunView): Promise<LiveState | null> => executorFor(view).describe?.(repo, view).catch(() => null) ?? Promise.resolve(null);

/** Ask a run to stop, waiting up to graceMs for its end to be recorded. */
export const cancelRun = (repo: Repo, view: RunView, graceMs: number): Promise<void> => executorFor(view).cancel(repo, view, graceMs);

/** Ask runs to stop: those of an executor that stops many at once together (one call), the others one by one (waiting up to graceMs each). */
export async function cancelRunsAt(repo: Repo, views: RunView[], graceMs: number): Promise<void> {
  const byExecutor = new Map<Executor, RunView[]>();
  for (const v of views) {
    const e = executorFor(v);
    byExecutor.set(e, [...(byExecutor.get(e) ?? []), v]);
  }
  for (const [e, vs] of byExecutor) {
    if (e.cancelMany && vs.length > 1) await e.cancelMany(repo, vs);
    else for (const v of vs) await e.cancel(repo, v, graceMs);
  }
}

/** Close what every executor keeps open (ssh connections), so the process can exit. */
export function closeExecutors(): void {
  for (const e of EXECUTORS.values()) e.close?.();
}
