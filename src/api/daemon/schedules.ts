/**
 * The daemon's schedules (decision 0007): which experiments of .runconfig
 * have one, firing their ticks (a tick while the previous tick's runs have
 * not ended is skipped and logged), the ticks missed while no daemon ran,
 * and the state kept between daemons (.git/git-run/daemon/schedules.json).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Repo } from '../../git/repo.js';
import { branchExists, currentBranch } from '../../git/branches.js';
import { writeAtomic } from '../../util/files.js';
import { daemonDir } from '../../daemon/lock.js';
import { readRun } from '../../store/runs.js';
import { isFinal } from '../../core/record.js';
import type { RunConfig } from '../../core/config.js';
import { prepareSubmission } from '../submit.js';
import { cronProblem, firings, Schedules, type ScheduleSpec } from '../schedule.js';

export interface ScheduleState {
  /** Per experiment: the last tick that submitted, and its runs. */
  ticks: Record<string, { at: string; runs: string[] }>;
  /** The last time the daemon was seen alive (missed ticks are counted from here). */
  aliveAt: string | null;
}

const stateFile = (repo: Repo) => path.join(daemonDir(repo), 'schedules.json');

export function readScheduleState(repo: Repo): ScheduleState {
  try {
    return JSON.parse(readFileSync(stateFile(repo), 'utf8')) as ScheduleState;
  } catch {
    return { ticks: {}, aliveAt: null };
  }
}

/** The schedules of a configuration, and what is wrong with the others. */
export function schedulesOf(config: RunConfig): { specs: ScheduleSpec[]; problems: string[] } {
  const specs: ScheduleSpec[] = [];
  const problems: string[] = [];
  for (const [name, exp] of Object.entries(config.experiments)) {
    const on = (exp as { on?: { schedule?: unknown; branch?: unknown } }).on;
    if (!on || on.schedule === undefined) continue;
    if (typeof on.schedule !== 'string') {
      problems.push(`experiments.${name}.on.schedule: a cron expression (text), like "0 3 * * *"`);
      continue;
    }
    const bad = cronProblem(on.schedule);
    if (bad) {
      problems.push(`experiments.${name}.on.schedule: '${on.schedule}' is not a valid cron expression: ${bad}`);
      continue;
    }
    if (on.branch !== undefined && typeof on.branch !== 'string') {
      problems.push(`experiments.${name}.on.branch: a branch name (text)`);
      continue;
    }
    specs.push({ experiment: name, expression: on.schedule, branch: (on.branch as string | undefined) ?? null });
  }
  return { specs, problems };
}

/** The schedules a daemon runs: follows the configuration, submits each tick queued. */
export class DaemonSchedules {
  private readonly state: ScheduleState;
  private readonly tasks = new Schedules((s, at) => void this.tick(s, at));
  /** Experiments whose tick is being submitted: a tick that fires meanwhile overlaps it (its runs are not recorded in state yet). */
  private readonly submitting = new Map<string, string>();
  private lastProblems = '';
  private lastSpecs = '';
  stopping = false;

  constructor(
    private readonly repo: Repo,
    private readonly cwd: string,
    private readonly perm: number,
    private readonly log: (line: string) => void,
    /** A tick queued runs: the daemon looks at its queue. */
    private readonly submitted: () => void,
  ) {
    this.state = readScheduleState(repo);
  }

  /** Follow the configuration; the first time, report the ticks that fell while no daemon ran (not run late). */
  apply(config: RunConfig): void {
    const found = schedulesOf(config);
    const sig = JSON.stringify(found);
    const first = this.lastSpecs === '';
    if (sig === this.lastSpecs) return;
    this.lastSpecs = sig;
    const { specs, problems } = found;
    // Said once per change of the configuration, not on every look.
    if (problems.join('\n') !== this.lastProblems) for (const p of problems) this.log(`schedule not started: ${p}`);
    this.lastProblems = problems.join('\n');
    if (first && this.state.aliveAt) {
      for (const s of specs) {
        const missed = firings(s.expression, new Date(this.state.aliveAt), new Date());
        if (missed.length) this.log(`schedule ${s.experiment}: MISSED ${missed.length} tick(s) while no daemon ran, from ${missed[0]!.toISOString()} to ${missed[missed.length - 1]!.toISOString()}`);
      }
    }
    this.tasks.update(specs);
  }

  /** Record that the daemon is alive now (missed ticks are counted from the last such record). */
  async alive(): Promise<void> {
    this.state.aliveAt = new Date().toISOString();
    await this.save();
  }

  stop(): void {
    this.tasks.stop();
  }

  private save(): Promise<void> {
    return writeAtomic(stateFile(this.repo), JSON.stringify(this.state, null, 2), this.perm).catch(() => undefined);
  }

  private async tick(s: ScheduleSpec, at: Date): Promise<void> {
    if (this.stopping) return;
    const busy = this.submitting.get(s.experiment);
    if (busy) {
      this.log(`schedule ${s.experiment}: tick at ${at.toISOString()} skipped: the runs of the tick at ${busy} have not ended`);
      return;
    }
    this.submitting.set(s.experiment, at.toISOString());
    try {
      await this.submit(s, at);
    } finally {
      this.submitting.delete(s.experiment);
    }
  }

  private async submit(s: ScheduleSpec, at: Date): Promise<void> {
    const prev = this.state.ticks[s.experiment];
    if (prev?.runs.length) {
      const views = await Promise.all(prev.runs.map((id) => readRun(this.repo, id).catch(() => null)));
      if (views.some((v) => v && !v.children && !isFinal(v.status))) {
        this.log(`schedule ${s.experiment}: tick at ${at.toISOString()} skipped: the runs of the tick at ${prev.at} have not ended`);
        return;
      }
    }
    try {
      const branch = s.branch ?? (await currentBranch(this.repo));
      if (!(await branchExists(this.repo, branch))) {
        this.log(`schedule ${s.experiment}: tick at ${at.toISOString()}: unknown branch '${branch}': nothing submitted`);
        return;
      }
      const sub = await prepareSubmission({ cwd: this.repo.topLevel ?? this.cwd, target: s.experiment, commit: `refs/heads/${branch}` }, { queueIfDaemon: true });
      const runs = sub.children.map((c) => c.id);
      this.state.ticks[s.experiment] = { at: at.toISOString(), runs };
      await this.save();
      this.log(`schedule ${s.experiment}: tick at ${at.toISOString()}: ${runs.length} run(s) of ${branch} (${sub.group?.id.slice(0, 12) ?? runs[0]?.slice(0, 12)}) queued`);
      this.submitted();
    } catch (e) {
      this.log(`schedule ${s.experiment}: tick at ${at.toISOString()} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
