/**
 * What every executor (where commands run) offers the rest of git-run
 * (DESIGN.md section 3). An executor is a folder under src/executors/ and one
 * line in the registry (./index.ts); src/api/ and the daemon reach executors
 * only through this interface and the registry, never by a host type.
 *
 * A run's life through it: the submission checks the host profile and
 * reaches the host (checkProfile, reach), then publishes the run, queued or
 * already started (startedAtPublish). Whoever runs it prepares its code
 * ahead of its turn (prepareCode), starts it (start: record the start, place
 * code and inputs, start the command detached), waits for the command
 * (Started.ended) and finishes it (Started.finish: collect the outputs,
 * record the end with the status from ./status.ts, clean up). Any later
 * process can look at it from the handle in its state commit (refresh,
 * readLive) and cancel it.
 */
import type { Repo } from '../git/repo.js';
import type { RunView } from '../store/runs.js';
import type { HostProfile, RunSpec, RunState } from '../core/record.js';

export type Stream = 'stdout' | 'stderr';

export interface ProfileCheck {
  /** What a run records of the profile (RunSpec.hostProfile); null: nothing (the run is local). */
  record: HostProfile | null;
  /** The profile's other keys: run_args at the dataset level. */
  runArgs: Record<string, unknown>;
}

export interface StartOptions {
  /** The command's output as it arrives (the foreground streams it). */
  output?: (stream: Stream, chunk: Buffer) => void;
  /** Bytes of code sent so far (a progress bar). */
  transfer?: (bytes: number) => void;
  /** Resolves when the run should be cancelled (Ctrl-C, a cancelled sweep). */
  cancelled?: Promise<unknown>;
  /** What prepareCode returned for this run, if it was called. */
  prepared?: Promise<void> | null;
}

/** A run this process started: wait for `ended`, then call `finish` once. */
export interface Started {
  /** The run as recorded when it started. */
  view: RunView;
  /** Settles when the command has ended: the host has room again. Rejects when it can no longer be followed (the run stays running for a later process). */
  ended: Promise<void>;
  /** Collect the outputs, record the end, apply --leave; the final view. */
  finish(): Promise<RunView>;
}

/** New output of a live run from the given offsets. */
export interface LiveOutput {
  stdout: Buffer;
  stderr: Buffer;
  /** The command has ended (its record may not be written yet). */
  ended: boolean;
  /** How long to wait before the next look: a local file is cheap to read, a host is a round trip away. */
  pollMs: number;
}

/** A started run as its host sees it now. */
export interface LiveState {
  status: 'queued' | 'running';
  /** Why it waits (a scheduler's reason: Priority, Resources...). */
  reason: string | null;
  /** The host's own name for the state (PENDING, RUNNING...). */
  state: string;
}

export interface Executor {
  /** The host profile type this executor serves ("type" in .runconfig). */
  readonly type: string;
  /** Checking a run needs no network (a look at this machine's processes): `log`, `status` do it for every unfinished run. */
  readonly checksLocally: boolean;
  /** The code travels to another machine (the snapshot then keeps its index, so the work tree's files can be sent). */
  readonly sendsCode: boolean;

  /** Check a profile of .runconfig (its keys other than type and max_parallel); throws GitRunError for a bad one. `top`: the work tree's top (relative paths). */
  checkProfile(name: string, profile: Record<string, unknown>, top: string): ProfileCheck;
  /** At submission, before anything is written: reach the host (and check its key), so a bad host writes nothing. Null: nothing to reach. */
  reach(profile: HostProfile | null): Promise<unknown> | null;
  /** The state to publish a run with when the submitting process starts it at once (the foreground fast path); null when this executor cannot. */
  startedAtPublish(runStateDir: string): RunState | null;

  /** Put the run's code where it will run, ahead of its turn; null when there is nothing to do ahead. */
  prepareCode(repo: Repo, view: RunView): Promise<void> | null;
  /**
   * Place the run's inputs (RunSpec.inputs) where the command will find
   * them, read-only, from a content cache filled once per content id
   * (src/executors/inputs.ts; decision 0012). A work-tree input whose bytes
   * are no longer the recorded ones fails the run with the reason. start
   * calls it once the code is in place and before the command starts; an
   * executor built on another (Slurm on ssh) reuses that one's staging and
   * code cache.
   */
  stageInputs(repo: Repo, view: RunView): Promise<void>;
  /** Record the start and start the command. Null when the run is not this process's to run (cancelled while queued, or someone else started it). */
  start(repo: Repo, view: RunView, opts?: StartOptions): Promise<Started | null>;

  /** Look at a run from its handle and record its end if it ended unrecorded (its supervisor died). True when the record changed. */
  refresh(repo: Repo, view: RunView): Promise<boolean>;
  /** New output of a run that is running, from the given offsets. */
  readLive(repo: Repo, view: RunView, offsets: Record<Stream, number>): Promise<LiveOutput>;
  /**
   * Bytes of a file the command writes in its run directory (`rel`: relative
   * to the top of the run's work tree, checked by the caller), from `offset`,
   * at most `max` (less when the file is shorter; empty when it is absent).
   * `ended`: the command has ended. A live run's metrics history is read so.
   * Optional: without it a live run's files cannot be read before its record.
   */
  readFile?(repo: Repo, view: RunView, rel: string, offset: number, max: number): Promise<{ data: Buffer; ended: boolean }>;
  /** Ask a run to stop and wait (up to graceMs) for its end to be recorded. */
  cancel(repo: Repo, view: RunView, graceMs: number): Promise<void>;
  /** Ask several runs of this executor to stop at once (a group's children: one scancel for their array), without waiting. Optional: without it each goes through cancel. */
  cancelMany?(repo: Repo, views: RunView[]): Promise<void>;
  /** Ask a run to stop without waiting: whoever runs it records the end. */
  requestCancel(repo: Repo, view: RunView): Promise<void>;
  /**
   * At submission, after the plan and before anything is written: check what
   * only this executor knows (a scheduler's resources, its own word on them);
   * throws GitRunError (exit 2). Optional: nothing to check.
   */
  preflight?(repo: Repo, specs: RunSpec[]): Promise<void>;
  /**
   * Start several runs of one submission at once (a scheduler's job array)
   * instead of one by one; an entry is null when that run was not this
   * process's to start. `maxParallel`: how many may run at once. Optional:
   * without it each run goes through start.
   */
  startMany?(repo: Repo, views: RunView[], opts?: StartOptions & { maxParallel?: number | null }): Promise<Array<Started | null>>;
  /** What the host says of a started run now (a job still waiting in a scheduler's queue, and why); null when it says nothing more than the record. Optional. */
  describe?(repo: Repo, view: RunView): Promise<LiveState | null>;
  /** Let the process exit: close what this executor keeps open (connections). */
  close?(): void;
  /**
   * Copy a local directory to the host of a profile (`git run export
   * --host`, Runhouse's `to(system)`), at `remotePath` (relative: to the
   * login directory); refused when something is there. Returns the path
   * there. Absent: this executor cannot take a copy.
   */
  copyIn?(repo: Repo, profile: HostProfile | null, localDir: string, remotePath: string): Promise<string>;
  /**
   * `git run gc --host`: remove from the host what no live run in `keep`
   * needs (code caches, input cache entries, run directories), and nothing a
   * run the executor cannot tell is over still uses; report what went.
   * Optional: an executor without it cannot be cleaned this way.
   */
  gcHost?(repo: Repo, profile: string, keep: HostKeep, opts: { dryRun: boolean; graceMs: number }): Promise<HostGcReport>;
}

/** What `gc --host` must leave on a host. */
export interface HostKeep {
  /** The profile as checkProfile made it, and its run_args (remote_dir, run_dir...). */
  profile: HostProfile | null;
  runArgs: Record<string, unknown>;
  /** This repository's runs on the host that are queued or running, with the input cache entries (content ids, `.x` when executable) they place. */
  live: Array<{ view: RunView; inputs: string[] }>;
}

/** What `gc --host` removed (or, dry, would remove). */
export interface HostGcReport {
  host: string;
  /** Code caches (one per tree), run directories, input cache entries, other leftovers (interrupted copies, trash). */
  removed: { code: number; runs: number; inputs: number; other: number };
  /** Run directories kept because their command may still be running (a run of another clone, say). */
  keptRunning: number;
  bytesFreed: number;
  /** The paths removed, relative to the host's git-run directory. */
  paths: string[];
}
