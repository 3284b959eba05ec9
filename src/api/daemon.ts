/**
 * The daemon: one per repository (src/daemon/lock.ts). It holds the queue,
 * watches running runs and fires schedules. Everything it knows is in git:
 * it can die at any moment, and a restart resumes from the refs.
 *
 * The queue: runs submitted while a daemon lives are published `queued`
 * with `dispatch: "daemon"` in their spec, and nobody starts them but the
 * daemon. Each host profile takes up to its max_parallel runs at once
 * (running ones started by anyone count). Order, as Accio schedules: first
 * come, first served per child, so that every submitted group progresses at
 * once: a child's place is (its index in its group, its submission time), so
 * the first children of all groups go before the second ones. The order
 * derives from immutable records: a restart keeps it.
 *
 * Exactly once: a run starts only through the compare-and-swap of its
 * start commit, so two dispatchers (a daemon and its restarted self) cannot
 * both start it; a run this process supervised that lost its supervisor is
 * finished or marked lost by whoever looks next (the restarted daemon).
 */
import { branchExists, currentBranch } from '../git/branches.js';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isAlive } from '../util/process.js';
import { writeAtomic } from '../util/files.js';
import { openRepo, type Repo } from '../git/repo.js';
import { RefUpdater } from '../git/transaction.js';
import { mkdirShared, sharedPerm } from '../git/shared.js';
import { RunReader, readRun, type RunView } from '../store/runs.js';
import { acquireDaemonLock, daemonDir, daemonLogFile, daemonRecord } from '../daemon/lock.js';
import { armFailpoint, failpoint } from '../core/failpoint.js';
import { isFinal, type GroupChild } from '../core/record.js';
import { loadRunConfig } from './context.js';
import type { RunConfig } from '../core/config.js';
import { openIndex } from './query.js';
import { prepareSubmission } from './submit.js';
import { executorFor, launchDaemon, type Executor } from '../executors/index.js';
import { cronProblem, firings, Schedules, type ScheduleSpec } from './schedule.js';
import { ErrorCode, GitRunError } from '../errors/index.js';

export interface DaemonOptions {
  /** A line for the daemon's log (the CLI writes it with a time stamp). */
  log: (line: string) => void;
  /** Milliseconds between looks at the queue when nothing wakes it (default 250). */
  interval?: number;
}

interface ScheduleState {
  /** Per experiment: the last tick that submitted, and its runs. */
  ticks: Record<string, { at: string; runs: string[] }>;
  /** The last time the daemon was seen alive (missed ticks are counted from here). */
  aliveAt: string | null;
}

const stateFile = (repo: Repo) => path.join(daemonDir(repo), 'schedules.json');

function readState(repo: Repo): ScheduleState {
  try {
    return JSON.parse(readFileSync(stateFile(repo), 'utf8')) as ScheduleState;
  } catch {
    return { ticks: {}, aliveAt: null };
  }
}

/** Host profile -> how many runs it takes at once (its max_parallel, else this machine's CPUs). */
function capacity(config: RunConfig, host: string): number {
  const m = config.hosts[host]?.max_parallel;
  return typeof m === 'number' && m > 0 ? m : os.cpus().length;
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

/** Run the daemon until SIGTERM/SIGINT (or stop()); resolves when it has stopped. */
export async function runDaemon(cwd: string, opts: DaemonOptions): Promise<void> {
  const repo = await openRepo(cwd);
  const perm = await sharedPerm(repo);
  const release = acquireDaemonLock(repo, perm);
  // Armed here only: processes the daemon starts do not inherit the crash point.
  armFailpoint(process.env.GIT_RUN_FAILPOINT ?? null);
  delete process.env.GIT_RUN_FAILPOINT;
  const log = opts.log;
  log(`daemon ${process.pid} started in ${repo.topLevel ?? repo.gitDir}`);
  let stopping = false;
  let wake: (() => void) | null = null;
  const nudge = () => wake?.();
  const onStop = () => {
    if (!stopping) log('stopping: no new dispatch; waiting for the runs it supervises');
    stopping = true;
    nudge();
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  // A submission: look at the queue in git again.
  const onSubmitted = () => {
    refreshWanted = true;
    nudge();
  };
  process.on('SIGUSR2', onSubmitted);

  const inflight = new Map<string, { host: string; done: Promise<void> }>();
  const ranks = new Map<string, Map<string, number>>();
  let config: RunConfig = { defaults: {}, hosts: {}, experiments: {} };
  let configError: string | null = null;
  const state = readState(repo);
  let lastWatch = 0;
  let watching: Promise<void> | null = null;
  let lastAlive = 0;

  const reloadConfig = async () => {
    try {
      const next = await loadRunConfig(repo);
      if (configError) log('.runconfig is valid again');
      configError = null;
      config = next;
    } catch (e) {
      const msg = e instanceof GitRunError ? e.message.split('\n').join('; ') : String(e);
      // Keep the last good configuration: a half-edited file must not stop the queue.
      if (msg !== configError) log(`.runconfig is broken; keeping the last good configuration: ${msg}`);
      configError = msg;
    }
  };

  const saveState = () => writeAtomic(stateFile(repo), JSON.stringify(state, null, 2), perm).catch(() => undefined);

  /** Experiments whose tick is being submitted: a tick that fires meanwhile overlaps it (its runs are not recorded in state yet). */
  const submitting = new Map<string, string>();
  const tick = async (s: ScheduleSpec, at: Date) => {
    if (stopping) return;
    const busy = submitting.get(s.experiment);
    if (busy) {
      log(`schedule ${s.experiment}: tick at ${at.toISOString()} skipped: the runs of the tick at ${busy} have not ended`);
      return;
    }
    submitting.set(s.experiment, at.toISOString());
    try {
      await tickNow(s, at);
    } finally {
      submitting.delete(s.experiment);
    }
  };
  const tickNow = async (s: ScheduleSpec, at: Date) => {
    const prev = state.ticks[s.experiment];
    if (prev?.runs.length) {
      const views = await Promise.all(prev.runs.map((id) => readRun(repo, id).catch(() => null)));
      if (views.some((v) => v && !v.children && !isFinal(v.status))) {
        log(`schedule ${s.experiment}: tick at ${at.toISOString()} skipped: the runs of the tick at ${prev.at} have not ended`);
        return;
      }
    }
    try {
      const branch = s.branch ?? (await currentBranch(repo));
      if (!(await branchExists(repo, branch))) {
        log(`schedule ${s.experiment}: tick at ${at.toISOString()}: unknown branch '${branch}': nothing submitted`);
        return;
      }
      const sub = await prepareSubmission({ cwd: repo.topLevel ?? cwd, target: s.experiment, commit: `refs/heads/${branch}` }, { queueIfDaemon: true });
      const runs = sub.children.map((c) => c.id);
      state.ticks[s.experiment] = { at: at.toISOString(), runs };
      await saveState();
      log(`schedule ${s.experiment}: tick at ${at.toISOString()}: ${runs.length} run(s) of ${branch} (${sub.group?.id.slice(0, 12) ?? runs[0]?.slice(0, 12)}) queued`);
      nudge();
    } catch (e) {
      log(`schedule ${s.experiment}: tick at ${at.toISOString()} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const schedules = new Schedules((s, at) => void tick(s, at));

  let lastProblems = '';
  const applySchedules = (first: boolean) => {
    const { specs, problems } = schedulesOf(config);
    // Said once per change of the configuration, not on every look.
    if (problems.join('\n') !== lastProblems) for (const p of problems) log(`schedule not started: ${p}`);
    lastProblems = problems.join('\n');
    if (first && state.aliveAt) {
      // Ticks that fell while no daemon ran are reported, not run late.
      for (const s of specs) {
        const missed = firings(s.expression, new Date(state.aliveAt), new Date());
        if (missed.length) log(`schedule ${s.experiment}: MISSED ${missed.length} tick(s) while no daemon ran, from ${missed[0]!.toISOString()} to ${missed[missed.length - 1]!.toISOString()}`);
      }
    }
    schedules.update(specs);
  };

  /** The place of a queued child in dispatch order: its index in its group (0 for a single run). */
  const rankOf = async (reader: RunReader, id: string, parent: string | null, parentTip: string | undefined): Promise<number> => {
    if (!parent) return 0;
    let r = ranks.get(parent);
    if (!r) {
      const kids = parentTip ? await reader.readObject(`${parentTip}:children.json`) : null;
      const list = kids ? (JSON.parse(kids.data.toString('utf8')) as GroupChild[]) : [];
      r = new Map(list.map((c, i) => [c.id, i]));
      ranks.set(parent, r);
    }
    return r.get(id) ?? 0;
  };

  /**
   * The queue in memory, in dispatch order, refreshed from the index when a
   * submission wakes the daemon (SIGUSR2) and every two seconds; between
   * refreshes a freed slot takes the next run at once, as xargs would.
   */
  type Pending = { id: string; tip: string; host: string; parent: string | null; createdAt: string; rank: number };
  let pending: Pending[] = [];
  /** Running runs of each host that this daemon did not start (counted against max_parallel). */
  let others = new Map<string, number>();
  let refreshWanted = true;
  let lastRefresh = 0;
  const recording = new Set<Promise<void>>();
  /** Runs this daemon started that the index may still show running. */
  const ours = new Set<string>();
  /** Runs checked out ahead of their turn, and the views read for them. */
  const prepared = new Map<string, Promise<void>>();
  const views = new Map<string, RunView>();
  let reader: RunReader | null = null;
  const readerOf = () => (reader ??= new RunReader(repo));

  const refreshQueue = async () => {
    const index = await openIndex(repo);
    try {
      const queued = index.queuedForDaemon().filter((q) => !inflight.has(q.id));
      const tips = new Map(index.rows([...new Set(queued.flatMap((q) => (q.parent ? [q.id, q.parent] : [q.id])))]).map((r) => [r.id, r.tip]));
      const list: Pending[] = [];
      for (const q of queued) {
        const tip = tips.get(q.id);
        if (!tip) continue;
        list.push({ ...q, tip, rank: await rankOf(readerOf(), q.id, q.parent, q.parent ? tips.get(q.parent) : undefined) });
      }
      list.sort((a, b) => a.rank - b.rank || (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
      pending = list;
      // Runs this daemon started are counted by inflight while their command runs, and not at all once it
      // has ended (their slot is free), though the index may still say running (a record being written, or
      // written after the index looked). An id is forgotten once the index no longer says running.
      const workload = index.workload();
      const stillRunning = new Set(workload.flatMap((w) => w.running));
      for (const id of ours) if (!stillRunning.has(id) && !inflight.has(id)) ours.delete(id);
      others = new Map(workload.map((w) => [w.host, w.running.filter((id) => !inflight.has(id) && !ours.has(id)).length]));
    } finally {
      index.close();
    }
  };

  const used = (host: string) => (others.get(host) ?? 0) + [...inflight.values()].filter((f) => f.host === host).length;

  /** Run one queued run: locally its slot frees when the command exits; the record is written in the background. */
  const start = async (q: Pending): Promise<void> => {
    failpoint('daemon:before-dispatch');
    const view = views.get(q.id) ?? (await readerOf().read(q.id, q.tip));
    views.delete(q.id);
    if (view.status !== 'queued') return;
    let freed!: () => void;
    const done = new Promise<void>((resolve) => (freed = resolve)).finally(() => {
      inflight.delete(q.id);
      // The freed slot takes the next run now, not at the loop's next turn.
      void dispatchSoon();
    });
    inflight.set(q.id, { host: q.host, done });
    ours.add(q.id);
    log(`dispatched ${q.id.slice(0, 12)} on ${q.host}${q.parent ? ` (child ${q.rank + 1} of ${q.parent.slice(0, 12)})` : ''}`);
    const fail = (e: unknown) => log(`run ${q.id.slice(0, 12)}: ${e instanceof Error ? e.message : String(e)}`);
    // Dispatched: the start is not recorded yet.
    failpoint('daemon:after-dispatch');
    const code = prepared.get(q.id) ?? null;
    prepared.delete(q.id);
    let executor: Executor;
    try {
      executor = executorFor(view);
    } catch (e) {
      fail(e); // a host type this version does not know
      return freed();
    }
    const starting = executor.start(repo, view, { prepared: code }).then(
      (started) => {
        if (!started) return freed(); // someone else started (or cancelled) it: compare-and-swap
        void started.ended.then(
          () => {
            freed();
            const rec = started.finish().then(() => undefined, fail);
            recording.add(rec);
            void rec.finally(() => recording.delete(rec));
          },
          (e: unknown) => {
            // It can no longer be followed from here (a dropped connection): the watch reattaches later.
            fail(e);
            freed();
          },
        );
      },
      (e: unknown) => {
        fail(e);
        freed();
      },
    );
    // A start on this machine is quick: awaited, so runs start in the queue's order. One that
    // reaches a host may wait on it (a connect timeout) and must not hold up the queue.
    if (executor.checksLocally) await starting;
  };

  /** One dispatch at a time: the loop and freed slots both ask for one. */
  let dispatching: Promise<void> | null = null;
  let again = false;
  const dispatchSoon = async (): Promise<void> => {
    if (dispatching) {
      again = true;
      return dispatching;
    }
    dispatching = (async () => {
      do {
        again = false;
        try {
          await dispatch();
        } catch (e) {
          log(`error: ${e instanceof Error ? e.message : String(e)}`);
        }
      } while (again && !stopping);
    })().finally(() => (dispatching = null));
    return dispatching;
  };

  const dispatch = async () => {
    if (stopping) return;
    if (refreshWanted || Date.now() - lastRefresh > 2000) {
      refreshWanted = false;
      lastRefresh = Date.now();
      await refreshQueue();
    }
    const rest: Pending[] = [];
    for (const q of pending) {
      if (stopping || inflight.has(q.id) || used(q.host) >= capacity(config, q.host)) {
        if (!inflight.has(q.id)) rest.push(q);
        continue;
      }
      await start(q);
    }
    pending = rest;
    // Check the next runs out ahead of their turn (one per slot), as a sweep does: a freed slot then only has to start.
    const ahead = new Map<string, number>();
    for (const q of pending) {
      const n = ahead.get(q.host) ?? 0;
      if (n >= capacity(config, q.host)) continue;
      ahead.set(q.host, n + 1);
      if (prepared.has(q.id)) continue;
      const view = views.get(q.id) ?? (await readerOf().read(q.id, q.tip));
      views.set(q.id, view);
      if (view.status !== 'queued') continue;
      const m = executorFor(view).prepareCode(repo, view);
      if (!m) continue;
      m.catch(() => undefined); // a failure is recorded when the run starts
      prepared.set(q.id, m);
    }
  };

  /** Finish runs whose supervisor is gone: local ones are checked by openIndex; remote ones need a look at the host. */
  const watch = async () => {
    const index = await openIndex(repo);
    let running: Array<{ id: string }>;
    try {
      running = index.workload().flatMap((w) => w.running.map((id) => ({ id })));
    } finally {
      index.close();
    }
    for (const { id } of running) {
      if (inflight.has(id)) continue;
      const v = await readRun(repo, id).catch(() => null);
      if (!v || v.children || isFinal(v.status)) continue;
      const executor = executorFor(v);
      if (executor.checksLocally) continue;
      try {
        if (await executor.refresh(repo, v)) log(`run ${id.slice(0, 12)}: finished (reattached)`);
      } catch (e) {
        log(`run ${id.slice(0, 12)}: cannot reach its host yet: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  };

  // Every ref update of the daemon's runs through one long-lived git process.
  repo.refUpdater = new RefUpdater(repo);
  try {
    await reloadConfig();
    applySchedules(true);
    let last = '';
    for (;;) {
      if (stopping) break;
      await reloadConfig();
      const sig = JSON.stringify(schedulesOf(config));
      if (sig !== last) {
        if (last) applySchedules(false);
        last = sig;
      }
      try {
        await dispatchSoon();
        if (Date.now() - lastWatch > 5000 && !watching) {
          lastWatch = Date.now();
          // In the background: a host that is down (a connect timeout) must not hold up the queue.
          watching = watch()
            .catch((e: unknown) => log(`error: ${e instanceof Error ? e.message : String(e)}`))
            .finally(() => (watching = null));
        }
      } catch (e) {
        log(`error: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (Date.now() - lastAlive > 30_000) {
        lastAlive = Date.now();
        state.aliveAt = new Date().toISOString();
        await saveState();
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, opts.interval ?? 250);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
    schedules.stop();
    if (inflight.size) log(`waiting for ${inflight.size} run(s) to end`);
    await Promise.all([...inflight.values()].map((f) => f.done));
    await Promise.all([...recording]);
    await watching;
    state.aliveAt = new Date().toISOString();
    await saveState();
    log('daemon stopped');
  } finally {
    schedules.stop();
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGUSR2', onSubmitted);
    (reader as RunReader | null)?.close();
    repo.refUpdater?.close();
    repo.refUpdater = null;
    release();
  }
}

/** `git run daemon start`: a detached daemon for this repository; resolves once it holds the lock. */
export async function startDaemon(cwd: string): Promise<{ pid: number; logFile: string }> {
  const repo = await openRepo(cwd);
  const other = daemonRecord(repo);
  if (other) throw new GitRunError(ErrorCode.DaemonRunning, `a git-run daemon already runs for this repository (pid ${other.pid}, since ${other.startedAt})`, 'see it with `git run daemon status`; stop it with `git run daemon stop`');
  const perm = await sharedPerm(repo);
  mkdirShared(perm, daemonDir(repo));
  const logFile = daemonLogFile(repo);
  const pid = launchDaemon(repo, logFile, perm);
  for (let i = 0; i < 200; i++) {
    const r = daemonRecord(repo);
    if (r && r.pid === pid) return { pid, logFile };
    if (pid && !isAlive(pid)) break;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new GitRunError(ErrorCode.DaemonNotRunning, 'the daemon did not start', `its log says why: \`git run daemon log\` (${logFile})`);
}

/** `git run daemon stop`: SIGTERM, then wait (up to `timeoutMs`) for it to finish the runs it supervises. */
export async function stopDaemon(cwd: string, timeoutMs = 30_000): Promise<{ pid: number; stopped: boolean }> {
  const repo = await openRepo(cwd);
  const r = daemonRecord(repo);
  if (!r) throw new GitRunError(ErrorCode.DaemonNotRunning, 'no git-run daemon runs for this repository', 'start one with `git run daemon start`');
  process.kill(r.pid, 'SIGTERM');
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!isAlive(r.pid, r.start)) return { pid: r.pid, stopped: true };
    await new Promise((res) => setTimeout(res, 50));
  }
  return { pid: r.pid, stopped: false };
}

export interface DaemonStatus {
  running: boolean;
  pid: number | null;
  since: string | null;
  logFile: string;
  /**
   * Per host profile: running runs, runs whose command has ended but whose end is still being recorded by
   * their live supervisor (`ending`: not in `running`, they no longer hold a slot), queued runs, the oldest
   * queued one's creation time, and the host's capacity.
   */
  hosts: Array<{ host: string; running: number; ending: number; queued: number; oldestQueued: string | null; maxParallel: number }>;
  /** Schedules of .runconfig, with what the daemon state says of their last tick. */
  schedules: Array<{ experiment: string; expression: string; branch: string | null; lastTick: string | null }>;
  problems: string[];
}

/** How many of these running runs have a command that has ended on this machine (an exit record, the end not yet in git). */
async function commandsEnded(repo: Repo, ids: string[]): Promise<number> {
  let n = 0;
  for (const id of ids) {
    const v = await readRun(repo, id).catch(() => null);
    if (!v || isFinal(v.status)) continue;
    const executor = executorFor(v);
    // Only a look at this machine: a remote host is the daemon's to watch, not a status line's.
    if (!executor.checksLocally) continue;
    const far = Number.MAX_SAFE_INTEGER;
    if ((await executor.readLive(repo, v, { stdout: far, stderr: far })).ended) n++;
  }
  return n;
}

export async function daemonStatus(cwd: string): Promise<DaemonStatus> {
  const repo = await openRepo(cwd);
  const r = daemonRecord(repo);
  let config: RunConfig = { defaults: {}, hosts: {}, experiments: {} };
  const problems: string[] = [];
  try {
    config = await loadRunConfig(repo);
  } catch (e) {
    problems.push(e instanceof Error ? e.message : String(e));
  }
  const index = await openIndex(repo);
  let workload: ReturnType<typeof index.workload>;
  try {
    workload = index.workload();
  } finally {
    index.close();
  }
  const hosts: DaemonStatus['hosts'] = [];
  for (const w of workload) {
    const ended = await commandsEnded(repo, w.running);
    hosts.push({ host: w.host, running: w.running.length - ended, ending: ended, queued: w.queued, oldestQueued: w.oldestQueued, maxParallel: capacity(config, w.host) });
  }
  const state = readState(repo);
  const { specs, problems: sp } = schedulesOf(config);
  return {
    running: !!r,
    pid: r?.pid ?? null,
    since: r?.startedAt ?? null,
    logFile: daemonLogFile(repo),
    hosts,
    schedules: specs.map((s) => ({ ...s, lastTick: state.ticks[s.experiment]?.at ?? null })),
    problems: [...problems, ...sp],
  };
}

/** The daemon's log, whole or its last `lines` lines. */
export async function daemonLog(cwd: string, lines?: number): Promise<string> {
  const repo = await openRepo(cwd);
  let text = '';
  try {
    text = readFileSync(daemonLogFile(repo), 'utf8');
  } catch {
    return '';
  }
  if (lines === undefined) return text;
  const all = text.split('\n');
  if (all[all.length - 1] === '') all.pop();
  return all.slice(-lines).join('\n') + (all.length ? '\n' : '');
}
