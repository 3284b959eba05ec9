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
import { readFileSync } from 'node:fs';
import { isAlive } from '../util/process.js';
import { openRepo, type Repo } from '../git/repo.js';
import { RefUpdater } from '../git/transaction.js';
import { mkdirShared, sharedPerm } from '../git/shared.js';
import { readRun } from '../store/runs.js';
import { acquireDaemonLock, daemonDir, daemonLogFile, daemonRecord } from '../daemon/lock.js';
import { armFailpoint } from '../core/failpoint.js';
import { isFinal } from '../core/record.js';
import { loadRunConfig } from './context.js';
import type { RunConfig } from '../core/config.js';
import { openIndex } from './query.js';
import { executorFor, launchDaemon } from '../executors/index.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { capacity, ConfigWatch } from './daemon/config.js';
import { DaemonSchedules, readScheduleState, schedulesOf } from './daemon/schedules.js';
import { Dispatcher } from './daemon/dispatch.js';
import { watchRemoteRuns } from './daemon/watch.js';

export { schedulesOf };

export interface DaemonOptions {
  /** A line for the daemon's log (the CLI writes it with a time stamp). */
  log: (line: string) => void;
  /** Milliseconds between looks at the queue when nothing wakes it (default 250). */
  interval?: number;
}

/**
 * Run the daemon until SIGTERM/SIGINT (or stop()); resolves when it has
 * stopped. The loop: reload .runconfig (./daemon/config.ts), follow its
 * schedules (./daemon/schedules.ts), dispatch (./daemon/dispatch.ts, whose
 * choice is ./daemon/queue.ts), every 5 s reattach to remote runs whose
 * supervisor died (./daemon/watch.ts), every 30 s say it is alive; sleep
 * until the interval passes or something wakes it.
 */
export async function runDaemon(cwd: string, opts: DaemonOptions): Promise<void> {
  const repo = await openRepo(cwd);
  const perm = await sharedPerm(repo);
  const release = acquireDaemonLock(repo, perm);
  // Armed here only: processes the daemon starts do not inherit the crash point.
  armFailpoint(process.env.GIT_RUN_FAILPOINT ?? null);
  delete process.env.GIT_RUN_FAILPOINT;
  const log = opts.log;
  log(`daemon ${process.pid} started in ${repo.topLevel ?? repo.gitDir}`);

  let wake: (() => void) | null = null;
  const nudge = () => wake?.();
  const config = new ConfigWatch(repo, log);
  const dispatcher = new Dispatcher(repo, (host) => config.capacity(host), log);
  const schedules = new DaemonSchedules(repo, cwd, perm, log, nudge);
  let stopping = false;
  const onStop = () => {
    if (!stopping) log('stopping: no new dispatch; waiting for the runs it supervises');
    stopping = dispatcher.stopping = schedules.stopping = true;
    nudge();
  };
  // A submission: look at the queue in git again.
  const onSubmitted = () => {
    dispatcher.wanted();
    nudge();
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGUSR2', onSubmitted);

  let lastWatch = 0;
  let watching: Promise<void> | null = null;
  let lastAlive = 0;
  // Every ref update of the daemon's runs through one long-lived git process.
  repo.refUpdater = new RefUpdater(repo);
  try {
    for (;;) {
      if (stopping) break;
      await config.reload();
      schedules.apply(config.config);
      try {
        await dispatcher.soon();
        if (Date.now() - lastWatch > 5000 && !watching) {
          lastWatch = Date.now();
          watching = watchRemoteRuns(repo, (id) => dispatcher.has(id), log)
            .catch((e: unknown) => log(`error: ${e instanceof Error ? e.message : String(e)}`))
            .finally(() => (watching = null));
        }
      } catch (e) {
        log(`error: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (Date.now() - lastAlive > 30_000) {
        lastAlive = Date.now();
        await schedules.alive();
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
    await dispatcher.drain();
    await watching;
    await schedules.alive();
    log('daemon stopped');
  } finally {
    schedules.stop();
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGUSR2', onSubmitted);
    dispatcher.close();
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
  const state = readScheduleState(repo);
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
