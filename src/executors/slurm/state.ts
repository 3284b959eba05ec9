/**
 * What Slurm says about jobs, parsed strictly (a scheduler's answers are the
 * host's, not ours), and Slurm's states mapped onto git-run's. Pure.
 */

/** A job as git-run names it: a plain job id, or an array's id and one task index. */
export interface JobRef {
  /** The job id sbatch printed (an array's own id for an array task). */
  job: string;
  /** The array task index; null for a job that is no array. */
  task: number | null;
}

export const jobText = (j: JobRef): string => (j.task === null ? j.job : `${j.job}_${j.task}`);

/** One job as squeue (or scontrol, or sacct) shows it. */
export interface JobInfo {
  state: string;
  reason: string | null;
  name: string;
  /** "code:signal" as Slurm records it, when known. */
  exitCode?: string | null;
  restarts?: number;
  /** When Slurm took the job ("2026-12-07T20:05:33", the controller's local time), from sacct. */
  submit?: string | null;
}

/** How git-run sees a Slurm state. */
export type Phase =
  /** Waiting for resources (PENDING, and a requeued job waiting again). */
  | 'queued'
  | 'running'
  /** Ended by itself: the exit file has the code. */
  | 'completed'
  | 'failed'
  | 'cancelled'
  /** Something git-run does not know: keep watching. */
  | 'unknown';

const QUEUED = ['PENDING', 'REQUEUED', 'REQUEUE_FED', 'REQUEUE_HOLD', 'RESV_DEL_HOLD', 'SUSPENDED', 'PREEMPTED', 'CONFIGURING', 'RESIZING', 'SPECIAL_EXIT', 'STOPPED'];
const RUNNING = ['RUNNING', 'COMPLETING', 'SIGNALING', 'STAGE_OUT', 'RESIZING'];
export const FAILED_STATES = ['FAILED', 'OUT_OF_MEMORY', 'TIMEOUT', 'NODE_FAIL', 'BOOT_FAIL', 'DEADLINE'];

/** PREEMPTED and the requeue states do not end a run: the job comes back (with requeue) or Slurm says more later. */
export function phaseOf(state: string): Phase {
  const s = state.replace(/[+]$/, '').split(' ')[0]!.toUpperCase();
  if (QUEUED.includes(s)) return s === 'PREEMPTED' ? 'unknown' : 'queued';
  if (RUNNING.includes(s)) return 'running';
  if (s === 'COMPLETED') return 'completed';
  if (FAILED_STATES.includes(s)) return 'failed';
  if (s === 'CANCELLED' || s === 'REVOKED') return 'cancelled';
  return 'unknown';
}

/** Words for a failed state, for the run's error. */
export function stateWords(state: string): string {
  const words: Record<string, string> = {
    TIMEOUT: 'the time limit was reached',
    OUT_OF_MEMORY: 'the job ran out of memory',
    NODE_FAIL: 'a node of the job failed',
    BOOT_FAIL: 'a node of the job failed to boot',
    DEADLINE: 'the job reached its deadline',
    FAILED: 'the job failed',
    CANCELLED: 'the job was cancelled',
  };
  return `Slurm: ${state}${words[state] ? ` (${words[state]})` : ''}`;
}

/** Expand "0,2-5%2" (an array's pending tasks as squeue writes them) into task indexes; null for something else. */
export function expandTasks(text: string): number[] | null {
  const body = text.replace(/%\d+$/, '');
  const out: number[] = [];
  for (const part of body.split(',')) {
    const m = /^(\d{1,7})(?:-(\d{1,7}))?(?::(\d{1,7}))?$/.exec(part);
    if (!m) return null;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    const step = m[3] === undefined ? 1 : Number(m[3]);
    if (b < a || step < 1 || b - a > 1_000_000) return null;
    for (let i = a; i <= b; i += step) out.push(i);
  }
  return out;
}

/** The squeue format git-run asks for: job id as written (array notation), state, reason, name last (it may hold '|'). */
export const SQUEUE_FORMAT = '%i|%T|%r|%j';

/**
 * Parse `squeue -h -o '%i|%T|%r|%j'`: every job listed, an array's pending
 * part (`123_[4-9%2]`) expanded to its tasks. Lines that do not parse are
 * skipped: they are not ours to read.
 */
export function parseSqueue(text: string): Map<string, JobInfo> {
  const jobs = new Map<string, JobInfo>();
  for (const line of text.split('\n')) {
    const m = /^(\d{1,12})(?:_(\d{1,7}|\[([0-9,\-:%]+)\]))?\|([A-Z_]{1,32})\|([^|\n]{0,200})\|(.{0,300})$/.exec(line.trim());
    if (!m) continue;
    const info: JobInfo = { state: m[4]!, reason: m[5] && m[5] !== 'None' ? m[5] : null, name: m[6]! };
    if (m[3] !== undefined) {
      for (const t of expandTasks(m[3]) ?? []) jobs.set(`${m[1]}_${t}`, info);
    } else if (m[2] !== undefined) jobs.set(`${m[1]}_${m[2]}`, info);
    else jobs.set(m[1]!, info);
  }
  return jobs;
}

/** Parse `scontrol -o show job <id>` lines (one per job, or per array task): by "<ArrayJobId>_<ArrayTaskId>" or "<JobId>". */
export function parseScontrol(text: string): Map<string, JobInfo> {
  const jobs = new Map<string, JobInfo>();
  for (const line of text.split('\n')) {
    const field = (k: string) => new RegExp(`(?:^| )${k}=(\\S*)`).exec(line)?.[1] ?? null;
    const id = field('JobId');
    const state = field('JobState');
    if (!id || !/^\d{1,12}$/.test(id) || !state || !/^[A-Z_]{1,32}$/.test(state)) continue;
    // JobName is the one field that may hold blanks: it runs to the next " UserId=".
    const name = /(?:^| )JobName=(.*?) UserId=/.exec(line)?.[1] ?? field('JobName') ?? '';
    const arrayJob = field('ArrayJobId');
    const task = field('ArrayTaskId');
    const reason = field('Reason');
    const restarts = Number(field('Restarts') ?? '0');
    const info: JobInfo = { state, reason: reason && reason !== 'None' ? reason : null, name, exitCode: field('ExitCode'), restarts: Number.isInteger(restarts) ? restarts : 0 };
    if (arrayJob && task && /^\d{1,7}$/.test(task)) jobs.set(`${arrayJob}_${task}`, info);
    else if (arrayJob && task) for (const t of expandTasks(task) ?? []) jobs.set(`${arrayJob}_${t}`, info);
    else jobs.set(id, info);
  }
  return jobs;
}

/**
 * Parse `sacct -n -P -X -o JobID,State,ExitCode,Submit,JobName`: every record
 * of a job id, oldest first (a requeued job has several; a recycled id
 * belongs to several jobs, told apart by name, or by submit time for a job
 * that never started: accounting names those "allocation").
 */
export const SACCT_FORMAT = 'JobID,State,ExitCode,Submit,JobName';

export function parseSacct(text: string): Map<string, JobInfo[]> {
  const jobs = new Map<string, JobInfo[]>();
  for (const line of text.split('\n')) {
    const m = /^(\d{1,12}(?:_\d{1,7})?)\|([A-Z_]{1,32})(?: by \d+)?\|(\d{1,3}:\d{1,3})\|([0-9T:-]{0,32})\|(.{0,300})$/.exec(line.trim());
    if (!m) continue;
    jobs.set(m[1]!, [...(jobs.get(m[1]!) ?? []), { state: m[2]!, reason: null, name: m[5]!, exitCode: m[3]!, submit: m[4] || null }]);
  }
  return jobs;
}
