/**
 * One watcher per host per process: every run of that host this process
 * follows (a supervisor's sweep, `wait`, `status`, the daemon) is looked at
 * in the same rounds. A round is one shell step that reads the exit files of
 * all of them; Slurm is asked (one call: `squeue` for all of the user's jobs,
 * or `sacct` for the jobs squeue stopped listing) only when its word is due:
 * every 60 s for the runs followed here (the first 1 s after the first
 * watch), and sooner when an exit file says a signal ended the command (time
 * limit, scancel, requeue), a cancel marker appears, or a job squeue no
 * longer lists needs a second look. Whatever the number of jobs and however
 * often they end, a process makes at most 2 such calls per host in any 60 s
 * (a cancel asked through git-run may add one: the user's act, like the
 * submission's sbatch). Exit files are read every 0.5 s, backing off to 5 s
 * while nothing changes: they, not Slurm, tell most ends.
 * (docs/decisions/0016-slurm.md)
 */
import type { HostShell } from '../../transport/shell.js';
import { shQuote } from '../../util/shell.js';
import { parseSacct, parseSqueue, phaseOf, SACCT_FORMAT, SQUEUE_FORMAT, type JobInfo, type Phase } from './state.js';

/** A run to watch: where its directory is, which job is its, and the job name that proves it (ids are recycled). */
export interface Watched {
  id: string;
  runDir: string;
  job: string;
  name: string;
  /** When Slurm took the job (squeue's %V at submission), or null: what tells our record in accounting when the name is not there. */
  submitted: string | null;
}

/** How a run's job ended, as far as the host and Slurm say. */
export interface JobEnd {
  /** The exit file's code; null when the job left none. */
  exit: number | null;
  /** The command was ended by Slurm's SIGTERM (noted by the batch script). */
  signalled: boolean;
  /** A cancel was asked for through git-run (the marker in the run directory). */
  cancelMarker: boolean;
  /** Slurm's last word on the job (null: Slurm does not know it, or was not asked). */
  slurm: JobInfo | null;
}

/** What is live of a run: Slurm's state and reason (PENDING, Priority...). */
export interface LiveJob {
  phase: Phase;
  state: string;
  reason: string | null;
}

interface Files {
  exit: number | null;
  signal: boolean;
  cancel: boolean;
  attempt: string | null;
  present: boolean;
}

interface Entry {
  w: Watched;
  /** Someone waits for its end: the process stays alive while it is watched. */
  keep: boolean;
  resolve: Array<(e: JobEnd) => void>;
  reject: Array<(e: unknown) => void>;
  live: LiveJob | null;
  /** Slurm's final word, waiting for one more look at the exit file. */
  slurmEnd: JobInfo | null;
  /** squeue rounds in a row that did not list the job as ours. */
  missing: number;
  /** sacct was asked since squeue stopped listing the job: 'unknown' when it has no record of it under our name. */
  acct: null | 'asked' | 'unknown';
  /** The attempt whose exit file Slurm said is not the end (a requeue): not asked about again. */
  judged: string | null;
  cancelSeen: boolean;
  /** When a one-off look last asked (an entry nobody waits for is dropped a minute later). */
  lastLook: number;
  /** When a round last read Slurm's word on it (a fresh or cached answer), or null. */
  seenAt: number | null;
}

const EXIT_MIN = 500;
const EXIT_MAX = 5000;
/** The first look at Slurm after a process starts following runs (is the job there, pending or running?). */
const SQUEUE_FIRST = 1000;
/** Then Slurm is asked this often while nothing calls for its word sooner (exit files tell most ends). */
const SQUEUE_EVERY = 60_000;
/**
 * The budget of scheduler calls (squeue, sacct) of one process for one host:
 * at most CALLS_PER_WINDOW in any CALLS_WINDOW, and CALLS_GAP apart (a job
 * squeue stopped listing is looked at again at least that much later: one
 * answer does not call a job lost). Half of it is left free by the regular
 * polls, for what calls for Slurm's word sooner.
 */
const CALLS_WINDOW = 60_000;
const CALLS_PER_WINDOW = 2;
const CALLS_GAP = 2000;
/**
 * How long squeue's answer serves one-off looks (`status`, `show`, `wait`'s
 * once-a-second look) when no run is followed here: one `git run status`
 * over many runs is then one squeue per host, and a `wait` nobody else
 * follows for asks twice a minute.
 */
export const ONE_SHOT_FRESH = 30_000;
/** Scripts longer than this go on standard input (one argument may not exceed 128 KiB). */
const ARG_LIMIT = 100_000;
/** Shell steps that fail in a row before the watched runs are given up (they stay running, for a later process). */
const MAX_FAILURES = 5;

const runScript = (shell: HostShell, script: string) => (script.length < ARG_LIMIT ? shell.exec(script) : shell.exec('sh -s', script));

export class HostWatcher {
  private entries = new Map<string, Entry>();
  private running = false;
  private wake: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private exitWait = EXIT_MIN;
  /** When the regular look at Slurm is due (0: not yet planned). */
  private nextSqueue = 0;
  /** When a call that was due had to wait for the budget, the time it may be made (else Infinity). */
  private deferredTo = Infinity;
  /** When the scheduler calls of the last CALLS_WINDOW were made. */
  private callTimes: number[] = [];
  /** A cancel was sent from this process: the next call is not held back by the budget. */
  private kicked = false;
  private lastFree = -Infinity;
  /** The host's slurm.conf was read for whether accounting is on (once per process). */
  private probed = false;
  private squeueCache: { at: number; jobs: Map<string, JobInfo> } | null = null;
  private accounting: boolean | null = null;
  private failures = 0;
  /** Looks waiting for the next round to start (a round already under way may not include their run). */
  private roundWaiters: Array<() => void> = [];
  /** Ends seen in this process, by run id (a later look gets the same answer). */
  private finished = new Map<string, JobEnd>();
  /** Scheduler calls made (squeue, sacct): the benchmark counts them. */
  schedulerCalls = 0;

  constructor(readonly shell: HostShell) {}

  /** Follow a run until its job ends. */
  watch(w: Watched): Promise<JobEnd> {
    const done = this.finished.get(w.id);
    if (done) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      const e = this.entryFor(w);
      e.keep = true;
      e.resolve.push(resolve);
      e.reject.push(reject);
      // Runs that join later (a daemon's dispatches, a sweep's next batch) wait for the regular look: no call per run.
      if (!this.nextSqueue) this.nextSqueue = Date.now() + SQUEUE_FIRST;
      this.start();
    });
  }

  /** One look at a run (with any others due): its end if it ended, else null (its live state is then `live(id)`). */
  async look(w: Watched): Promise<JobEnd | null> {
    const done = this.finished.get(w.id);
    if (done) return done;
    const e = this.entryFor(w);
    e.lastLook = Date.now();
    await new Promise<void>((r) => {
      this.roundWaiters.push(r);
      this.start();
      this.kickExit();
    });
    return this.finished.get(w.id) ?? null;
  }

  /** The live state of a watched run, from Slurm's last answer. */
  live(id: string): LiveJob | null {
    const e = this.entries.get(id);
    if (e?.live) return e.live;
    return null;
  }

  /** The live state of a run seen in a round within `ms` (a status that just looked at it), or null: look again. */
  recentLive(id: string, ms: number): LiveJob | null {
    const e = this.entries.get(id);
    return e?.live && e.seenAt !== null && Date.now() - e.seenAt < ms ? e.live : null;
  }

  /** Ask Slurm now (a cancel was just sent). */
  kick(): void {
    this.nextSqueue = Date.now();
    this.kicked = true;
    this.kickExit();
  }

  /** When the next scheduler call may be made: CALLS_PER_WINDOW in any CALLS_WINDOW, CALLS_GAP apart. */
  private allowedAt(now: number): number {
    this.callTimes = this.callTimes.filter((t) => now - t < CALLS_WINDOW);
    const n = this.callTimes.length;
    let at = n ? this.callTimes[n - 1]! + CALLS_GAP : 0;
    if (n >= CALLS_PER_WINDOW) at = Math.max(at, this.callTimes[n - CALLS_PER_WINDOW]! + CALLS_WINDOW);
    return at;
  }

  /** A call made outside the budget (a cancel's), not counted in it: the calls that follow to settle the cancel have their room. */
  private exempt = false;

  private counted(): void {
    this.schedulerCalls++;
    if (!this.exempt) this.callTimes.push(Date.now());
  }

  private kickExit(): void {
    this.exitWait = EXIT_MIN;
    this.wake?.();
  }

  private entryFor(w: Watched): Entry {
    let e = this.entries.get(w.id);
    if (!e) {
      e = { w, keep: false, resolve: [], reject: [], live: null, slurmEnd: null, missing: 0, acct: null, judged: null, cancelSeen: false, lastLook: Date.now(), seenAt: null };
      this.entries.set(w.id, e);
    }
    return e;
  }

  private start(): void {
    if (this.running) return;
    this.running = true;
    void this.loop().finally(() => {
      this.running = false;
      // A look asked for as the loop was ending gets its round.
      if (this.roundWaiters.length) this.start();
    });
  }

  private end(e: Entry, end: JobEnd): void {
    this.entries.delete(e.w.id);
    this.finished.set(e.w.id, end);
    for (const r of e.resolve) r(end);
  }

  private async loop(): Promise<void> {
    // Looks asked for together (a status over many runs) join the first round.
    await new Promise((r) => setImmediate(r));
    while (this.entries.size) {
      // The looks this round answers: those asked for before it started (a later one's run may not be in it).
      const waiters = this.roundWaiters;
      this.roundWaiters = [];
      try {
        await this.round();
        this.failures = 0;
      } catch (err) {
        // The host could not be asked: try again, and give up after a few rounds (the runs stay running for a later process).
        if (++this.failures >= MAX_FAILURES) {
          for (const e of this.entries.values()) for (const r of e.reject) r(err);
          this.entries.clear();
        }
      }
      for (const w of waiters) w();
      if (!this.roundWaiters.length && ![...this.entries.values()].some((e) => e.keep)) break;
      // A look asked for during the round gets the next one at once.
      const wait = this.roundWaiters.length ? 0 : Math.max(0, Math.min(this.exitWait, this.nextSqueue - Date.now(), this.deferredTo - Date.now()));
      await new Promise<void>((r) => {
        this.wake = r;
        this.timer = setTimeout(r, wait);
      });
      if (this.timer) clearTimeout(this.timer);
      this.wake = null;
    }
    // Someone may have asked for a look as the loop ended.
    const waiters = this.roundWaiters;
    this.roundWaiters = [];
    for (const w of waiters) w();
  }

  /** Exit files (and markers) of the given runs, in one step. */
  private async readFiles(list: Entry[]): Promise<Map<string, Files>> {
    const f = 'f() { R=$1; case "$R" in /*) ;; *) R="$HOME/$R" ;; esac; if [ -d "$R" ]; then d=1; else d=0; fi; e=$(cat "$R/exit" 2>/dev/null); a=$(cat "$R/attempt" 2>/dev/null); s=0; [ -e "$R/signal" ] && s=1; k=0; [ -e "$R/cancel" ] && k=1; printf \'%s %s %s %s %s %s\\n\' "$2" "$d" "${e:--}" "$s" "$k" "${a:--}"; }';
    // Once: whether the host's Slurm keeps accounting, from its slurm.conf (no daemon asked). Unreadable
    // (a configless site): not known, and the first sacct tells.
    const probe = this.probed || this.accounting !== null ? [] : ['C=${SLURM_CONF:-/etc/slurm/slurm.conf}; if [ -r "$C" ]; then t=$(sed -n \'s/^[[:space:]]*[Aa]ccounting[Ss]torage[Tt]ype[[:space:]]*=[[:space:]]*\\([^[:space:]#]*\\).*/\\1/p\' "$C" | tail -n 1); printf \'acct %s\\n\' "${t:-none}"; fi'];
    const script = [f, ...probe, ...list.map((e, i) => `f ${shQuote(e.w.runDir)} ${i}`)].join('\n');
    const r = await runScript(this.shell, script);
    if (r.code !== 0) throw new Error(`reading exit files failed (exit ${r.code}): ${r.stderr.trim()}`);
    const out = new Map<string, Files>();
    // The host's answer is parsed strictly: a line that does not fit is not taken.
    if (probe.length) this.probed = true;
    for (const line of r.stdout.toString().split('\n')) {
      // AccountingStorageType absent or accounting_storage/none: sacct has nothing to say here.
      const a = /^acct (\S{0,80})$/.exec(line);
      if (a) {
        if (/(^|\/)none$/.test(a[1]!)) this.accounting = false;
        continue;
      }
      const m = /^(\d{1,7}) ([01]) (-|\d{1,3}) ([01]) ([01]) (-|\d{1,6})$/.exec(line);
      const e = m ? list[Number(m[1])] : undefined;
      if (!m || !e) continue;
      const code = m[3] === '-' ? null : Number(m[3]);
      out.set(e.w.id, { present: m[2] === '1', exit: code !== null && code <= 255 ? code : null, signal: m[4] === '1', cancel: m[5] === '1', attempt: m[6] === '-' ? null : m[6]! });
    }
    return out;
  }

  private async squeue(): Promise<Map<string, JobInfo> | null> {
    this.counted();
    const r = await this.shell.exec(`squeue -h -t all -u "$(id -un)" -o ${shQuote(SQUEUE_FORMAT)}`);
    if (r.code !== 0) return null; // the controller did not answer: nothing is concluded from silence
    const jobs = parseSqueue(r.stdout.toString());
    this.squeueCache = { at: Date.now(), jobs };
    return jobs;
  }

  /** sacct for jobs squeue no longer lists, when the site keeps accounting (asked once per process whether it does). */
  private async sacct(jobs: string[]): Promise<Map<string, JobInfo[]> | null> {
    if (this.accounting === false || !jobs.length) return new Map();
    this.counted();
    const r = await this.shell.exec(`sacct -n -P -X -j ${shQuote(jobs.join(','))} -o ${SACCT_FORMAT}`);
    if (r.code !== 0) {
      // Accounting off (or no sacct): squeue's word is all there is, for the rest of the process.
      // Any other failure (slurmdbd busy or restarting) says nothing: nothing is concluded this round.
      if (/accounting storage is disabled|not found|No such file/i.test(r.stderr) || r.code === 127) {
        this.accounting = false;
        return new Map();
      }
      return null;
    }
    this.accounting = true;
    return parseSacct(r.stdout.toString());
  }

  /**
   * The second look at jobs squeue stopped listing, when the site keeps accounting: its last record under
   * our name (a recycled id also has other jobs' records; a job that never started has no name there, its
   * submit time tells). None: the job is unknown to Slurm, and is over.
   */
  private async askAccounting(ask: Entry[]): Promise<void> {
    const acct = await this.sacct([...new Set(ask.map((e) => e.w.job.split('_')[0]!))]);
    // No answer (slurmdbd busy), or no accounting after all: squeue's next answer is the second look.
    if (!acct || this.accounting === false) return;
    for (const e of ask) {
      const info = (acct.get(e.w.job) ?? []).filter((j) => j.name === e.w.name || (!!e.w.submitted && j.submit === e.w.submitted)).at(-1);
      if (!info) e.acct = 'unknown';
      else {
        e.acct = 'asked';
        if (['completed', 'failed', 'cancelled'].includes(phaseOf(info.state))) e.slurmEnd = info;
      }
    }
  }

  private async round(): Promise<void> {
    for (const e of [...this.entries.values()]) if (!e.keep && Date.now() - e.lastLook > 60_000) this.entries.delete(e.w.id);
    const list = [...this.entries.values()];
    if (!list.length) return;
    const files = await this.readFiles(list);
    let changed = false;
    let needSlurm = false;
    let newCancel = false;
    for (const e of list) {
      const f = files.get(e.w.id);
      if (!f) continue;
      if (f.cancel && !e.cancelSeen) {
        e.cancelSeen = true;
        newCancel = true;
      }
      if (f.exit !== null) {
        // The command ended by itself: the file says all. Ended by a signal: Slurm says why (or that the job comes back).
        if (!f.signal && f.exit <= 128) {
          this.end(e, { exit: f.exit, signalled: false, cancelMarker: f.cancel, slurm: e.live ? { state: e.live.state, reason: e.live.reason, name: e.w.name } : null });
          changed = true;
        } else if (e.judged !== (f.attempt ?? '-')) needSlurm = true;
      }
    }
    const rest = list.filter((e) => this.entries.has(e.w.id));
    if (rest.length) {
      const now = Date.now();
      // Followed runs ask at the regular pace; one-off looks alone take an answer up to ONE_SHOT_FRESH old.
      const following = rest.some((e) => e.keep);
      const due = following ? now >= this.nextSqueue : !this.squeueCache || now - this.squeueCache.at >= ONE_SHOT_FRESH;
      // A job squeue stopped listing: looked at again (sacct when the site keeps accounting, else squeue) a gap later.
      const unsure = rest.filter((e) => e.missing >= 1);
      // Cancelled through git-run and still listed as live (scancel's effect may lag its return): asked again a gap later.
      const cancelling = rest.some((e) => files.get(e.w.id)?.cancel);
      const want = needSlurm || due || unsure.length > 0 || cancelling;
      // A cancel (asked here, or its marker just seen) is the user's act: its one call is not held back (once a window).
      const free = (this.kicked || newCancel) && now - this.lastFree >= CALLS_WINDOW;
      const allowed = free ? now : this.allowedAt(now);
      this.deferredTo = Infinity;
      let jobs: Map<string, JobInfo> | null = null;
      let cached = false;
      if (want && now < allowed) {
        // Over the budget: the call waits; a one-off look meanwhile gets the last answer.
        this.deferredTo = allowed;
        if (!following && this.squeueCache) ((jobs = this.squeueCache.jobs), (cached = true));
      } else if (!want && this.squeueCache) {
        ((jobs = this.squeueCache.jobs), (cached = true));
      } else if (want) {
        this.kicked = false;
        if (free) this.lastFree = now;
        const ask = this.accounting !== false && !needSlurm && !free ? unsure.filter((e) => e.acct === null) : [];
        if (ask.length) {
          // One call: what accounting knows of the jobs squeue stopped listing (squeue's own turn comes later).
          await this.askAccounting(ask);
          if (this.nextSqueue <= now) this.nextSqueue = now + CALLS_GAP;
        } else {
          this.exempt = free;
          jobs = await this.squeue().finally(() => (this.exempt = false));
          this.nextSqueue = Date.now() + SQUEUE_EVERY;
        }
      }
      if (jobs) {
        for (const e of rest) {
          // An array's tasks not listed one by one are in its own record (`123`): ended, it tells theirs (scancel'led while pending).
          const array = e.w.job.includes('_') ? jobs.get(e.w.job.split('_')[0]!) : undefined;
          const info = jobs.get(e.w.job) ?? (array && ['completed', 'failed', 'cancelled'].includes(phaseOf(array.state)) ? array : undefined);
          // A job of that id under another name is not ours: the id was recycled.
          if (!info || info.name !== e.w.name) {
            // Only a fresh answer counts: a job submitted after the cached one was taken is not in it.
            if (!cached) e.missing++;
            continue;
          }
          e.missing = 0;
          e.acct = null;
          e.seenAt = Date.now();
          const phase = phaseOf(info.state);
          e.live = { phase, state: info.state, reason: info.reason };
          if (phase === 'completed' || phase === 'failed' || phase === 'cancelled') e.slurmEnd = info;
          else if (phase === 'queued') {
            // Waiting again (a requeue, a preemption): the exit file is the last attempt's, not the end.
            const f = files.get(e.w.id);
            if (f?.exit !== null && f?.exit !== undefined) e.judged = f.attempt ?? '-';
          }
        }
      }
      // Ended by Slurm's word, or unknown to it (absent from squeue and, with accounting, from sacct too, or absent from two
      // squeue answers a gap apart): the job may have ended between the looks; read its files again.
      // A job cancelled through git-run that a fresh answer no longer lists is over (a pending array task
      // scancel'led leaves no line): one answer suffices, so a one-off look (`show`, `status`) records it too.
      const settle = rest.filter(
        (e) => this.entries.has(e.w.id) && (e.slurmEnd || e.acct === 'unknown' || (e.missing >= 2 && (this.accounting === false || e.acct !== null)) || (e.missing >= 1 && files.get(e.w.id)?.cancel)),
      );
      if (settle.length) {
        const again = await this.readFiles(settle);
        for (const e of settle) {
          const f = again.get(e.w.id);
          this.end(e, { exit: f?.exit ?? null, signalled: !!f?.signal, cancelMarker: !!f?.cancel, slurm: e.slurmEnd });
          changed = true;
        }
      }
    }
    this.exitWait = changed ? EXIT_MIN : Math.min(EXIT_MAX, Math.round(this.exitWait * 1.5));
  }
}

const watchers = new Map<string, HostWatcher>();

/** The watcher of a host (one per process), keyed by the host's alias. */
export function watcherFor(key: string, shell: HostShell): HostWatcher {
  let w = watchers.get(key);
  if (!w || w.shell !== shell) {
    w = new HostWatcher(shell);
    watchers.set(key, w);
  }
  return w;
}
