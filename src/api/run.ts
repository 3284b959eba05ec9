/**
 * Running what was submitted: one run or a group's children, here (the
 * foreground, streaming output or showing progress) or by a detached
 * supervisor. The submission itself is api/submit.ts.
 */
import type { Repo } from '../git/repo.js';
import { readRun, readRuns, type RunView } from '../store/runs.js';
import { streamLogs, type Sink } from './follow.js';
import { prepareSubmission, type SubmitOptions, type Submission, type SubmittedChild } from './submit.js';
import { openIndex } from './query.js';
import { daemonPid } from '../daemon/lock.js';
import { controlDirFor, executorFor, launchSupervisor, type Started } from '../executors/index.js';
import { RefUpdater } from '../git/transaction.js';
import { sharedPermFor } from '../git/shared.js';
import { armFailpoint } from '../core/failpoint.js';
import os from 'node:os';
import type { LeaveMode, MetadataEvent } from '../core/record.js';

/** The simple form: one command, as `git run -- <command>` takes it. */
export interface RunOptions {
  cwd?: string;
  command: string[];
  /** `name=value` parameters: {name} placeholders, GIT_RUN_PARAM_<name>, .git-run/params.json. */
  params?: string[];
  name?: string;
  notes?: string;
  tags?: string[];
  seed?: number | string;
  leave?: LeaveMode;
  localDir?: string;
  sendIgnore?: string;
  fetchIgnore?: string;
  /** Other run_args for this run only (force, skip, custom ones...). */
  runArgs?: Record<string, unknown>;
  /** A host profile of .runconfig (default: local). */
  host?: string;
  /** Pathspecs the result depends on (`--dep`): the key's code part covers only these. */
  deps?: string[];
  /** Inputs: `[dest=]<run>:<path>` or `[dest=]<work-tree path>`, relative to `cwd` (src/core/inputs.ts). */
  inputs?: string[];
  /** Keep work-tree inputs' content in git objects. */
  storeInputs?: boolean;
}

export function toSubmitOptions(o: RunOptions): SubmitOptions {
  const runArgs: Record<string, unknown> = { ...o.runArgs };
  if (o.leave !== undefined) runArgs.leave = o.leave;
  if (o.localDir !== undefined) runArgs.local_dir = o.localDir;
  if (o.sendIgnore !== undefined) runArgs.send_ignore = o.sendIgnore;
  if (o.fetchIgnore !== undefined) runArgs.fetch_ignore = o.fetchIgnore;
  return {
    command: o.command,
    assignments: o.params ?? [],
    runArgs,
    ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.notes !== undefined ? { notes: o.notes } : {}),
    ...(o.tags !== undefined ? { tags: o.tags } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.host !== undefined ? { host: o.host } : {}),
    ...(o.deps?.length ? { deps: o.deps } : {}),
    ...(o.inputs?.length ? { inputs: o.inputs } : {}),
    ...(o.storeInputs ? { storeInputs: true } : {}),
  };
}

export interface Submitted {
  id: string;
  repo: Repo;
  /** Set when an identical run (same key) was reused instead of started. */
  reused: boolean;
  beyondMaxParallel: Submission['beyondMaxParallel'];
}

/** The id a submission is known by: its group, or its single run. */
const mainId = (s: Submission) => s.group?.id ?? s.children[0]!.id;

/** Submit and return at once: a detached supervisor runs what is new. */
export async function submitDetached(opts: SubmitOptions): Promise<Submission> {
  const s = await prepareSubmission(opts, { queueIfDaemon: true });
  const fresh = s.children.filter((c) => c.view);
  // A daemon runs: it starts the new runs in their turn.
  const pid = daemonPid(s.repo);
  if (pid !== null && fresh.some((c) => c.view!.spec.dispatch === 'daemon')) {
    nudgeDaemon(pid);
    return s;
  }
  const dir = fresh[0]?.controlDir;
  if (dir) launchSupervisor(s.repo, s.group?.id ?? fresh[0]!.id, dir, await sharedPermFor(s.repo, dir));
  if (fresh.length) s.beyondMaxParallel = await beyondMaxParallel(s, fresh.length);
  return s;
}

/**
 * Without a daemon, each detached submission's supervisor keeps its own
 * children within max_parallel but knows nothing of other submissions: when
 * this one takes its host past max_parallel, the caller is told (the daemon
 * is what holds it across submissions).
 */
async function beyondMaxParallel(s: Submission, fresh: number): Promise<Submission['beyondMaxParallel']> {
  const host = s.children.find((c) => c.view)!.view!.spec.host;
  const index = await openIndex(s.repo);
  try {
    const running = index.workload().find((w) => w.host === host)?.running.filter((id) => !s.children.some((c) => c.id === id)).length ?? 0;
    const starting = s.sequential ? 1 : Math.min(fresh, s.maxParallel);
    return running + starting > s.maxParallel ? { host, running, starting, maxParallel: s.maxParallel } : null;
  } finally {
    index.close();
  }
}

/**
 * Submit for later, as hooks and schedules do: to the daemon's queue when a
 * daemon runs for this repository, else to detached supervisors at once.
 */
export async function submitInBackground(opts: SubmitOptions): Promise<Submission> {
  return submitDetached(opts);
}

function nudgeDaemon(pid: number): void {
  try {
    process.kill(pid, 'SIGUSR2');
  } catch {
    /* gone: the next daemon finds the queue in git */
  }
}

export async function startRun(opts: RunOptions): Promise<Submitted> {
  return startSubmission(toSubmitOptions(opts));
}

/** startRun for any submission of one run (`rerun` makes one from a record). */
export async function startSubmission(sub: SubmitOptions): Promise<Submitted> {
  const s = await submitDetached(sub);
  return { id: mainId(s), repo: s.repo, reused: !!s.children[0]!.reused, beyondMaxParallel: s.beyondMaxParallel ?? null };
}

export interface ForegroundOptions {
  /** The command's output as it is written. */
  sink: Sink;
  /** Resolves when the caller wants the run cancelled (Ctrl-C). */
  cancelled?: Promise<unknown>;
  /** Called once the run is published (or found), before it starts. */
  onSubmitted?: (id: string, reused: boolean, metadataApplied?: MetadataEvent | null, matched?: 'run key' | 'portable key') => void;
  /** Bytes of code sent to a remote host so far. */
  transfer?: (bytes: number) => void;
}

/**
 * One command, supervised in this process while its output streams: no
 * second process to start, so a short command costs little more than
 * itself. When an identical run exists (same code, command, parameters and
 * seed) it is reused: its output is replayed, or followed if it is running.
 */
export async function runForeground(opts: RunOptions, fg: ForegroundOptions): Promise<{ view: RunView; reused: boolean }> {
  return runSubmissionHere(toSubmitOptions(opts), fg);
}

/** runForeground for any submission of one run (`rerun` makes one from a record). */
export async function runSubmissionHere(sub: SubmitOptions, fg: ForegroundOptions): Promise<{ view: RunView; reused: boolean; matched?: 'run key' | 'portable key' }> {
  const s = await prepareSubmission(sub, { startHere: true });
  const c = s.children[0]!;
  const matched = c.reused ? (c.reused.portable ? 'portable key' : 'run key') : undefined;
  fg.onSubmitted?.(c.id, !!c.reused, s.metadataApplied ?? null, matched);
  if (c.reused) {
    const view = await streamLogs(s.repo, c.id, fg.sink, { streams: ['stdout', 'stderr'], follow: true });
    return { view, reused: true, matched: matched! };
  }
  const started = await executorFor(c.view!).start(s.repo, c.view!, {
    output: fg.sink,
    prepared: c.materialized ?? null,
    ...(fg.transfer ? { transfer: fg.transfer } : {}),
    ...(fg.cancelled ? { cancelled: fg.cancelled } : {}),
  });
  if (!started) return { view: await readRun(s.repo, c.id), reused: false }; // cancelled before it started, by another process
  await started.ended;
  return { view: await started.finish(), reused: false };
}

/** Run one run here from start to recorded end; null when it was not this process's to run. */
async function runHere(repo: Repo, view: RunView): Promise<RunView | null> {
  const started = await executorFor(view).start(repo, view);
  if (!started) return null;
  await started.ended;
  return started.finish();
}

export interface Progress {
  total: number;
  reused: number;
  done: number;
  running: number;
  failed: number;
  /** The child that just changed. */
  child?: RunView;
}

/**
 * Run a submission's new children here, at most `maxParallel` commands at
 * once (one at a time when asynchronous is false), first come first served.
 * Each slot works as a pipeline: the next child is checked out while the
 * current one runs, and a finished child is recorded while the next one
 * runs, so the slot's time goes to commands, not to bookkeeping.
 */
export async function runChildren(s: Submission, onProgress: (p: Progress) => void = () => undefined, cancelled?: Promise<unknown>): Promise<RunView[]> {
  const queue = s.children.filter((c): c is SubmittedChild & { view: RunView } => !!c.view);
  const p: Progress = { total: s.children.length, reused: s.children.length - queue.length, done: 0, running: 0, failed: 0 };
  let stop = false;
  void cancelled?.then(() => (stop = true));
  const results: RunView[] = [];
  const width = s.sequential ? 1 : Math.max(1, s.maxParallel);
  let next = 0;
  const take = () => {
    if (next >= queue.length) return null;
    const c = queue[next++]!;
    // Code put in place ahead of its turn (where the executor can); the start record is written when it starts.
    return { c, prepared: c.materialized ?? executorFor(c.view).prepareCode(s.repo, c.view) };
  };
  const recording: Array<Promise<void>> = [];
  const record = async (started: Started) => {
    const view = await started.finish();
    p.done++;
    if (view.status !== 'succeeded') p.failed++;
    results.push(view);
    onProgress({ ...p, child: view });
  };
  const slot = async () => {
    let item = take();
    while (item) {
      const { c, prepared } = item;
      prepared?.catch(() => undefined);
      const executor = executorFor(c.view);
      if (stop) await executor.requestCancel(s.repo, c.view);
      const started = await executor.start(s.repo, c.view, { prepared, ...(cancelled ? { cancelled } : {}) });
      item = take();
      if (!started) {
        results.push(await readRun(s.repo, c.id));
        continue;
      }
      p.running++;
      onProgress({ ...p });
      try {
        await started.ended;
      } finally {
        p.running--;
      }
      recording.push(record(started));
    }
  };
  // An executor that starts many runs at once (a scheduler's job array) gets them all, with max_parallel.
  const many = queue.length > 1 ? executorFor(queue[0]!.view) : null;
  const together = many?.startMany && queue.every((c) => executorFor(c.view) === many) ? many.startMany.bind(many) : null;
  const all = async (startMany: NonNullable<typeof together>) => {
    if (stop) return Promise.all(queue.map(async (c) => (await many!.requestCancel(s.repo, c.view), results.push(await readRun(s.repo, c.id)))));
    const started = await startMany(s.repo, queue.map((c) => c.view), { maxParallel: width, ...(cancelled ? { cancelled } : {}) });
    p.running = started.filter(Boolean).length;
    onProgress({ ...p });
    await Promise.all(
      started.map(async (st, i) => {
        if (!st) return void results.push(await readRun(s.repo, queue[i]!.id));
        try {
          await st.ended;
        } finally {
          p.running--;
        }
        await record(st);
      }),
    );
  };
  // Ref updates of the whole sweep go through one long-lived git process.
  const own = !s.repo.refUpdater;
  if (own) s.repo.refUpdater = new RefUpdater(s.repo);
  try {
    if (together) await all(together);
    else await Promise.all(Array.from({ length: Math.min(width, queue.length) }, slot));
    await Promise.all(recording);
  } finally {
    if (own) {
      s.repo.refUpdater?.close();
      s.repo.refUpdater = null;
    }
  }
  return results;
}

/** The detached supervisor's work for a run or a group: run whatever of it is still queued. */
export async function superviseById(repo: Repo, id: string): Promise<void> {
  // A crash point for tests, armed as the daemon arms its own; what this process starts is not armed.
  armFailpoint(process.env.GIT_RUN_FAILPOINT ?? null);
  delete process.env.GIT_RUN_FAILPOINT;
  const view = await readRun(repo, id);
  if (!view.children) {
    await runHere(repo, view);
    return;
  }
  const children = await readRuns(repo, view.children.filter((c) => !c.reused).map((c) => c.id));
  const queued = children.filter((c) => c.status === 'queued');
  const maxParallel = typeof view.spec.runArgs.max_parallel === 'number' ? view.spec.runArgs.max_parallel : os.cpus().length;
  await runChildren({
    repo,
    group: view,
    groupReused: false,
    children: queued.map((v) => ({ id: v.id, reused: null, view: v, controlDir: controlDirFor(repo, v.id, v.spec.runArgs) })),
    maxParallel,
    sequential: view.spec.runArgs.asynchronous === false,
  });
}
