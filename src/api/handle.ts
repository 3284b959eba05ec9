/**
 * Runhouse's Run, over runs recorded in git: load a run by id or name, look
 * at its status, logs, result, inputs and lineage, cancel it; getOrRun and
 * getOrCall reuse a run with the same key (memoization) or start one.
 *
 *   import { Run, getOrRun, getOrCall } from 'git-run';
 *   const prep = await Run.load('prepare data', { cwd: '/path/to/repo' });
 *   const out = (await prep.refresh()).status === 'succeeded' ? await prep.result() : null;
 *   const text = await getOrCall({ cwd, command: ['python3', 'train.py'], seed: 7 });
 *
 * A Run holds what was read at load or refresh (`status`, `record`): call
 * refresh() to see a running run move on. Logs and results are read from git
 * (a run's logs are recorded when it ends); they are text (UTF-8), as
 * Runhouse's are. Lineage links are plain records ({run, path, oid, dest}),
 * not loaded Runs: a run may have 10,000 downstream runs; Run.load(link.run)
 * follows one.
 */
import type { Repo } from '../git/repo.js';
import type { RunView } from '../store/runs.js';
import { isFinal, type Status } from '../core/record.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { getRun, openIndex, repoAt } from './query.js';
import { recordedLog } from './follow.js';
import { cancelRuns, waitFor } from './control.js';
import { startRun, type RunOptions } from './run.js';
import { downstreamOf, upstreamOf, type DownstreamEntry, type UpstreamEntry } from './lineage.js';

export interface LoadOptions {
  /** A directory of the repository (default: the process's working directory). */
  cwd?: string;
}

/** What a run was given: its parameters, seed and inputs (as `show --json` has them). */
export interface RunInputs {
  params: Record<string, unknown>;
  seed: number;
  inputs: UpstreamEntry[];
}

export class Run {
  private constructor(
    readonly repo: Repo,
    private view: RunView,
    /** True when getOrRun found a run with the same key instead of starting one. */
    readonly reused = false,
  ) {}

  /** The run an id prefix or a name names (a name only when exactly one run has it: an ambiguous name is a GitRunError listing the candidates). */
  static async load(nameOrId: string, opts: LoadOptions = {}): Promise<Run> {
    const repo = await repoAt(opts.cwd);
    return new Run(repo, await getRun(repo, nameOrId));
  }

  /** @internal getOrRun's: a run just submitted or reused. */
  static async fromSubmission(repo: Repo, id: string, reused: boolean): Promise<Run> {
    return new Run(repo, await getRun(repo, id), reused);
  }

  get id(): string {
    return this.view.id;
  }

  /** Its name (a group's or run's metadata name, a child's generated name), as last read. */
  get name(): string | null {
    return this.view.meta.name;
  }

  /** As last read (load, refresh, wait, cancel). */
  get status(): Status {
    return this.view.status;
  }

  /** Everything recorded about the run, as last read. */
  get record(): RunView {
    return this.view;
  }

  /** Read the run again (its status made current: a run whose supervisor died is finished by whoever looks). */
  async refresh(): Promise<this> {
    this.view = await getRun(this.repo, this.view.id);
    return this;
  }

  /** Wait until the run has ended (at most `timeoutMs`), then refresh. */
  async wait(timeoutMs = Infinity): Promise<this> {
    await waitFor(this.repo, this.view.id, timeoutMs);
    return this.refresh();
  }

  /** Its recorded standard output ('' while it runs: logs are recorded when it ends). */
  async stdout(): Promise<string> {
    return (await recordedLog(this.repo, this.view, 'stdout')).toString('utf8');
  }

  async stderr(): Promise<string> {
    return (await recordedLog(this.repo, this.view, 'stderr')).toString('utf8');
  }

  /**
   * What it produced, as Runhouse's result(): its stdout, or its stderr when
   * it did not succeed (failed, cancelled, lost). Refreshes first; a run that
   * has not ended has no result yet (a GitRunError: wait() first).
   */
  async result(): Promise<string> {
    await this.refresh();
    if (!isFinal(this.view.status)) {
      throw new GitRunError(ErrorCode.RunNotFinished, `run ${this.view.id.slice(0, 12)} has not finished (${this.view.status})`, 'wait for it first: await run.wait(), or use getOrCall', { run: this.view.id });
    }
    return this.view.status === 'succeeded' ? this.stdout() : this.stderr();
  }

  /** Its parameters, seed and inputs (from its record). */
  inputs(): RunInputs {
    return { params: this.view.spec.params, seed: this.view.spec.seed, inputs: upstreamOf(this.view.spec.inputs) };
  }

  /** What it consumed: {run, path, oid, dest} from another run's outputs, {worktree, oid, path} from the work tree (text for an old record's unchecked inputs). */
  upstream(): UpstreamEntry[] {
    return upstreamOf(this.view.spec.inputs);
  }

  /** The runs that consumed its outputs: {run, path (what they took), dest, oid}, oldest first. */
  async downstream(): Promise<DownstreamEntry[]> {
    const index = await openIndex(this.repo);
    try {
      return downstreamOf(index, this.view.id);
    } finally {
      index.close();
    }
  }

  /** Cancel it (SIGTERM to its process group, SIGKILL after `graceMs`) and read it again. */
  async cancel(graceMs = 5000): Promise<this> {
    await cancelRuns(this.repo, [this.view.id], graceMs);
    return this.refresh();
  }
}

/**
 * The run with the same key (code, command, parameters, seed, inputs...) if
 * one is running or has succeeded, else a new one started in the background:
 * Runhouse's get_or_run. Give a seed: without one each call draws a new
 * random seed, so a new key, and always starts a run.
 */
export async function getOrRun(spec: RunOptions): Promise<Run> {
  const s = await startRun(spec);
  return Run.fromSubmission(s.repo, s.id, s.reused);
}

/** getOrRun, then wait for it and return its result (stdout, or stderr when it did not succeed): Runhouse's get_or_call. */
export async function getOrCall(spec: RunOptions): Promise<string> {
  const run = await getOrRun(spec);
  await run.wait();
  return run.result();
}
