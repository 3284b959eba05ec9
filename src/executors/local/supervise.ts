/**
 * The local executor (the embedded default, Runaway's --on-local).
 *
 * Each run has a control directory (../rundir.ts), by default <git-common-dir>/git-run/runs/<id>/:
 *
 *   work/          the run directory: the snapshot checked out; the command runs here
 *   index          private index of work/, whose stat cache makes output collection cheap
 *   stdout stderr  the command's output, as it is written
 *   supervisor     {"pid", "start"} of the supervisor, written before the run starts
 *   pid            {"pid"} of the wrapper (./wrapper.ts), the leader of the run's process group
 *   exit.json      {"exitCode", "signal", "error", "endedAt"}, written whole: by the wrapper in one write, by git-run by rename
 *                  by the wrapper when the command ends (endedAt null: the file's time), then
 *                  rewritten whole by the supervisor if it is alive
 *   cancel         present when a cancel was asked for
 *
 * A detached supervisor process (`git-run __supervise <id>`, or the daemon)
 * starts the command under a small shell wrapper (./wrapper.ts) that writes
 * exit.json when it ends, and records the end in git. Any later process can
 * finish that record from exit.json if the supervisor died, even while the
 * command still ran, or mark the run lost when nothing can tell how it ended
 * (the whole process group was SIGKILLed, or the machine went down).
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants, openSync, closeSync, promises as fs, existsSync, fstatSync, readFileSync, readSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Repo } from '../../git/repo.js';
import { mkdirShared, openShared, sharedMode, sharedPermFor, writeFileShared } from '../../git/shared.js';
import { collectOutputs, materialize } from '../../git/outputs.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';
import { failpoint } from '../../core/failpoint.js';
import { hostInfo, readRun, recordEnd, recordStart, type RunView } from '../../store/runs.js';
import { isFinal, type RunHandle, type RunResult, type RunState } from '../../core/record.js';
import { paramEnvName } from '../../core/sweep.js';
import { historyFileOf } from '../../core/metrics.js';
import { bootId, groupAlive, isAlive, killGroup, processStart, thisHost } from '../../util/process.js';
import { readJsonFile, writeAtomic } from '../../util/files.js';
import { PARAMS_DIR, cancelMarker, controlDirFor, environCopy, fetchIgnoreCopy, supervisorFile, type RunDirArgs } from '../rundir.js';
import { commandBaseEnv } from '../../core/key.js';
import { finalStatus, type ObservedOutputs } from '../status.js';
import type { Stream } from '../executor.js';
import { inputsEnv } from '../../core/inputs.js';
import { resolvedInputs } from '../inputs.js';
import { inputsAfterRun } from './inputs.js';
import { hasExit, readExit, unstartable, wrapped, type ExitRecord } from './wrapper.js';

export type { ExitRecord };

/** The run_args this executor reads. */
export type LocalArgs = RunDirArgs;

/** Where a local run is found again. */
export interface LocalHandle extends RunHandle {
  executor: 'local';
  bootId: string | null;
  supervisorPid: number;
  /** Process start time (clock ticks since boot), to tell a live supervisor from a recycled pid. */
  supervisorStart: string | null;
  controlDir: string;
}

/** The handle of a run this executor started (null for a remote run). */
export function localHandle(view: RunView): LocalHandle | null {
  const h = view.state?.handle;
  return h && h.executor === 'local' ? (h as LocalHandle) : null;
}

const files = (dir: string) => ({
  work: path.join(dir, 'work'),
  index: path.join(dir, 'index'),
  stdout: path.join(dir, 'stdout'),
  stderr: path.join(dir, 'stderr'),
  supervisor: supervisorFile(dir),
  pid: path.join(dir, 'pid'),
  exit: path.join(dir, 'exit.json'),
  cancel: cancelMarker(dir),
  fetchIgnore: fetchIgnoreCopy(dir),
});

function commandEnv(view: RunView, controlDir: string): NodeJS.ProcessEnv {
  // A run the daemon starts sees the environment it was submitted from: the run key hashed that one (api/submit.ts).
  const stored = readEnviron(controlDir);
  const env: NodeJS.ProcessEnv = Object.fromEntries(commandBaseEnv(stored ?? process.env, view.spec.env));
  for (const [k, v] of Object.entries(view.spec.params)) env[paramEnvName(k)] = typeof v === 'string' ? v : String(v);
  const work = files(controlDir).work;
  env.GIT_RUN_ID = view.id;
  env.GIT_RUN_SEED = String(view.spec.seed);
  env.GIT_RUN_DIR = work;
  env.GIT_RUN_PARAMS = path.join(work, PARAMS_DIR, 'params.json');
  env.GIT_RUN_METRICS = path.join(work, view.spec.cwd, historyFileOf(view.spec));
  env.GIT_RUN_INPUTS = inputsEnv(resolvedInputs(view.spec));
  return env;
}

function readEnviron(controlDir: string): Record<string, string> | null {
  const file = environCopy(controlDir);
  if (!existsSync(file)) return null;
  try {
    const o = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return o && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, string>) : null;
  } catch {
    return null;
  } finally {
    rmSync(file, { force: true });
  }
}

/** The parameters file: {"params", "seed", "id", "name"}. */
function writeParamsFile(view: RunView, controlDir: string, perm: number): void {
  const dir = path.join(files(controlDir).work, PARAMS_DIR);
  mkdirShared(perm, dir);
  writeFileShared(perm, path.join(dir, 'params.json'), JSON.stringify({ params: view.spec.params, seed: view.spec.seed, id: view.id, name: view.spec.name ?? null }, null, 2) + '\n');
}

export interface SuperviseHooks {
  /** Called every few milliseconds while the command runs (the foreground CLI tails the logs here). */
  tick?: () => Promise<void>;
  /** Place the run's inputs once its code is checked out (Executor.stageInputs). */
  stage?: (view: RunView) => Promise<void>;
}

export interface Supervised {
  view: RunView;
  /** Where the logs were written; valid until cleanup(). */
  stdoutFile: string;
  stderrFile: string;
  /** Apply --leave (remove the run directory unless `all`). Call after the last read of the logs. */
  cleanup: () => Promise<void>;
}

/** A run whose command has been started (or failed to start) by this process. */
export interface CommandStarted {
  view: RunView;
  dir: string;
  /** Settles when the command has ended. */
  exit: Promise<ExitRecord>;
}

/**
 * Record the start (unless the run was published already started) and start
 * the command. Null when the run is not this process's to run (cancelled
 * while queued, or another supervisor has it).
 */
export async function startCommand(repo: Repo, given: RunView, hooks: SuperviseHooks = {}, materialized?: Promise<void>): Promise<CommandStarted | null> {
  const dir = controlDirFor(repo, given.id, given.spec.runArgs as LocalArgs);
  const f = files(dir);
  let view: RunView | null = given;
  if (given.status === 'queued') {
    view = await recordStart(repo, given, startState(dir));
    if (!view) return null; // cancelled while queued: the canceller recorded it
  } else if (given.status !== 'running' || localHandle(given)?.supervisorPid !== process.pid) {
    return null; // someone else's
  }
  const failed = (e: unknown): ExitRecord => ({ exitCode: null, signal: null, error: `could not start: ${(e as Error).message}`, endedAt: new Date().toISOString() });
  let exit: Promise<ExitRecord>;
  if (existsSync(f.cancel)) exit = Promise.resolve({ exitCode: null, signal: null, error: 'cancelled before it started', endedAt: new Date().toISOString() });
  else {
    const v = view;
    const perm = await sharedPermFor(repo, dir);
    exit = (materialized ?? materializeRun(repo, v))
      .then(() => hooks.stage?.(v))
      .then(() => runCommand(v, dir, hooks, perm))
      .catch(failed);
  }
  return { view, dir, exit };
}

/** Write exit.json and record the end; cleanup() applies --leave afterwards. */
export async function endCommand(repo: Repo, started: CommandStarted, exit: ExitRecord): Promise<Supervised> {
  const f = files(started.dir);
  await writeAtomic(f.exit, JSON.stringify(exit), await sharedPermFor(repo, started.dir));
  const final = await finalize(repo, started.view, null, { deferCleanup: true });
  const args = started.view.spec.runArgs as LocalArgs;
  return {
    view: final.view,
    stdoutFile: f.stdout,
    stderrFile: f.stderr,
    cleanup: () => (final.recordedHere ? leaveRunDir(started.dir, args) : Promise.resolve()),
  };
}

/** The state a run records when this process starts supervising it. */
export function startState(controlDir: string): RunState {
  const handle: LocalHandle = {
    executor: 'local',
    hostname: thisHost(),
    bootId: bootId(),
    supervisorPid: process.pid,
    supervisorStart: processStart(process.pid),
    controlDir,
  };
  return { status: 'running', startedAt: new Date().toISOString(), handle };
}

/** Check the run's snapshot out into its run directory. */
export function materializeRun(repo: Repo, view: RunView): Promise<void> {
  const f = files(controlDirFor(repo, view.id, view.spec.runArgs as LocalArgs));
  return materialize(repo, { workDir: f.work, indexFile: f.index }, view.spec.code.tree);
}

async function leaveRunDir(dir: string, args: LocalArgs): Promise<void> {
  if ((args.leave ?? 'none') !== 'all') await fs.rm(dir, { recursive: true, force: true });
}

function runCommand(view: RunView, dir: string, hooks: SuperviseHooks, perm: number): Promise<ExitRecord> {
  const f = files(dir);
  const cwd = path.join(f.work, view.spec.cwd);
  return new Promise((resolve) => {
    void Promise.resolve().then(() => {
      mkdirShared(perm, cwd);
      const out = openShared(perm, f.stdout);
      const err = openShared(perm, f.stderr);
      writeParamsFile(view, dir, perm);
      const env = commandEnv(view, dir);
      const program = view.spec.command[0]!;
      const cannot = unstartable(program, env.PATH, cwd);
      if (cannot) {
        closeSync(out);
        closeSync(err);
        void fs.appendFile(f.stderr, `git-run: ${program}: ${cannot.what}\n`).finally(() =>
          resolve({ exitCode: cannot.code, signal: null, error: `${cannot.what}: ${program}`, endedAt: new Date().toISOString() }),
        );
        return;
      }
      // In a shared repository exit.json gets git's shared mode from the wrapper's umask (another member's process reads it).
      const w = wrapped(dir, view.spec.command, perm === 0 ? null : sharedMode(perm, 0o666 & ~process.umask(), false));
      const child = spawn(w.file, w.args, { cwd, env, stdio: ['ignore', out, err], detached: true });
      closeSync(out);
      closeSync(err);
      // The tick timer must not hold the process open after the command ends.
      let timer: NodeJS.Timeout | null = null;
      let ticking = true;
      const tick = async () => {
        if (!ticking || !hooks.tick) return;
        await hooks.tick();
        if (ticking) timer = setTimeout(() => void tick(), 20);
      };
      const done = (r: ExitRecord) => {
        ticking = false;
        if (timer) clearTimeout(timer);
        resolve(r);
      };
      child.on('error', (e: NodeJS.ErrnoException) => {
        const msg = `git-run: /bin/sh: ${e.message}\n`;
        void fs.appendFile(f.stderr, msg).finally(() => done({ exitCode: 126, signal: null, error: `could not start /bin/sh: ${e.message}`, endedAt: new Date().toISOString() }));
      });
      child.on('spawn', () => {
        // The wrapper leads the run's process group: a cancel signals the group through this pid.
        writeFileShared(perm, f.pid, JSON.stringify({ pid: child.pid }));
        // A cancel that came between the start record and now must still win.
        if (existsSync(f.cancel)) killGroup(child.pid!, 'SIGTERM');
        void tick();
      });
      // The wrapper's record when it wrote one; else the wrapper itself was killed (SIGKILL reaches the whole group).
      child.on('exit', (code, signal) => void readExit(f.exit).then((r) => done(r ?? { exitCode: code, signal, error: null, endedAt: new Date().toISOString() })));
    });
  });
}

/**
 * Record the end of a run from its exit.json (or as lost when `lost` is
 * given). Safe to call from several processes: the ref update is a
 * compare-and-swap, and a process that loses reads the run again and stops
 * if it is already final.
 */
export async function finalize(repo: Repo, start: RunView, lost: string | null = null, opts: { deferCleanup?: boolean } = {}): Promise<{ view: RunView; recordedHere: boolean }> {
  let view = start;
  for (;;) {
    if (isFinal(view.status)) return { view, recordedHere: false };
    const args = view.spec.runArgs as LocalArgs;
    const dir = localHandle(view)?.controlDir ?? controlDirFor(repo, view.id, args);
    const f = files(dir);
    const exit = lost ? null : await readExit(f.exit);
    const cancelled = existsSync(f.cancel);
    let outputsTree: string | null = null;
    let outputs: ObservedOutputs | null = null;
    if (exit) {
      const gone = !existsSync(f.work) ? 'work/' : !existsSync(f.index) ? 'index' : null;
      if (gone) outputs = { collected: false, reason: `its outputs could not be collected: its run directory's ${gone} is gone (${dir})` };
      else {
        failpoint('outputs');
        try {
          outputsTree = await collectOutputs(repo, { workDir: f.work, indexFile: f.index }, view.spec.code.tree, {
            exclude: PARAMS_DIR,
            inputs: inputsAfterRun(f.work, dir),
            privateIndex: !opts.deferCleanup,
            fetchIgnoreFile: args.fetch_ignore ? f.fetchIgnore : null,
            onlyNew: !!args.send_ignore && !args.fetch_ignore,
            largeOutputs: true,
          });
          outputs = { collected: true };
        } catch (e) {
          // Another process finished the record and removed the directory under us.
          const now = await readRun(repo, view.id);
          if (isFinal(now.status)) return { view: now, recordedHere: false };
          // Outputs refused by the rule every executor shares (decision 0009): never a success, the reason recorded.
          if (!(e instanceof GitRunError && e.code === ErrorCode.HostileArchive)) throw e;
          outputs = { collected: false, reason: e.message };
        }
      }
    }
    const { status, error } = finalStatus({
      started: !!view.state,
      exit: exit ? { code: exit.exitCode, signal: exit.signal, error: exit.error } : null,
      cancelRequested: cancelled,
      outputs,
      lostReason: lost,
    });
    const result: RunResult = {
      status,
      exitCode: exit?.exitCode ?? null,
      signal: exit?.signal ?? null,
      error,
      startedAt: view.state?.startedAt ?? null,
      endedAt: exit?.endedAt ?? new Date().toISOString(),
      host: view.state ? hostInfo() : null,
    };
    failpoint('record');
    const done = await recordEnd(repo, view, { result, stdoutFile: f.stdout, stderrFile: f.stderr, outputsTree });
    if (!done) {
      view = await readRun(repo, view.id); // someone else moved the run: look again
      continue;
    }
    if (!opts.deferCleanup) await leaveRunDir(dir, args);
    return { view: done, recordedHere: true };
  }
}

/**
 * Check a run this host is responsible for and record its end when it has
 * ended without being recorded (its supervisor died). Returns true when the
 * run's record changed.
 */
export async function refresh(repo: Repo, view: RunView): Promise<boolean> {
  if (isFinal(view.status)) return false;
  const args = view.spec.runArgs as LocalArgs;
  const dir = localHandle(view)?.controlDir ?? controlDirFor(repo, view.id, args);
  const f = files(dir);
  const h = localHandle(view);
  if (h && (h.hostname !== thisHost())) return false; // not ours to judge
  const sup = h ? { pid: h.supervisorPid, start: h.supervisorStart } : await readJsonFile<{ pid: number; start: string | null }>(f.supervisor);
  const sameBoot = !h || !h.bootId || h.bootId === bootId();
  // A live supervisor records the end itself; finishing it here too would only race it.
  if (sup && sameBoot && isAlive(sup.pid, sup.start)) return false;
  if (hasExit(f.exit)) {
    await finalize(repo, view);
    return true;
  }
  if (!sup && !h) return false; // being submitted right now
  const cmd = await readJsonFile<{ pid: number }>(f.pid);
  if (cmd && sameBoot && groupAlive(cmd.pid)) return false; // orphaned but still working
  // Re-read: the supervisor may have finished its record just now.
  const again = await readRun(repo, view.id);
  if (isFinal(again.status) || hasExit(f.exit)) {
    if (!isFinal(again.status)) await finalize(repo, again);
    return true;
  }
  await finalize(repo, again, 'its supervisor stopped without recording how the command ended');
  return true;
}

/** Mark a run of this host cancelled and SIGTERM its command's process group
 * (if it has started); the supervisor records the end. */
export async function requestCancel(controlDir: string, perm: number, graceMs = 5000): Promise<void> {
  const f = files(controlDir);
  mkdirShared(perm, controlDir);
  writeFileShared(perm, f.cancel, new Date().toISOString());
  const cmd = await readJsonFile<{ pid: number }>(f.pid);
  if (cmd) killGroup(cmd.pid, 'SIGTERM');
  if (cmd && graceMs > 0) setTimeout(() => groupAlive(cmd.pid) && killGroup(cmd.pid, 'SIGKILL'), graceMs).unref();
}

/** Ask a run to stop: SIGTERM to its process group, SIGKILL after `graceMs`. */
export async function cancel(repo: Repo, view: RunView, graceMs = 5000): Promise<void> {
  if (isFinal(view.status)) return;
  const h = localHandle(view);
  if (h && h.hostname !== thisHost()) {
    throw new GitRunError(ErrorCode.BadOption, `run ${view.id.slice(0, 12)} runs on ${h.hostname}, not on this machine`, `cancel it from ${h.hostname}`);
  }
  const dir = h?.controlDir ?? controlDirFor(repo, view.id, view.spec.runArgs as LocalArgs);
  const f = files(dir);
  const perm = await sharedPermFor(repo, dir);
  mkdirShared(perm, dir);
  writeFileShared(perm, f.cancel, new Date().toISOString());
  const cmd = await readJsonFile<{ pid: number }>(f.pid);
  if (cmd) killGroup(cmd.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    const v = await readRun(repo, view.id);
    if (isFinal(v.status)) return;
    if (v.status === 'queued' || !(await readJsonFile(f.pid))) {
      // Not started, or started without a command yet: finalize decides from the marker.
      const sup = await readJsonFile<{ pid: number; start: string | null }>(f.supervisor);
      if (v.status === 'queued' && (!sup || !isAlive(sup.pid, sup.start))) {
        await finalize(repo, v);
        return;
      }
    }
    if (await refresh(repo, v)) continue;
    await new Promise((r) => setTimeout(r, 50));
  }
  const last = await readJsonFile<{ pid: number }>(f.pid);
  if (last) killGroup(last.pid, 'SIGKILL');
}

/** New bytes of a file from `offset` (empty when it does not exist yet). */
/** A file of a live run's work tree from `offset` (at most `max` bytes); a link is not followed: the file is the command's own. */
export function readWorkFile(repo: Repo, view: RunView, rel: string, offset: number, max: number): { data: Buffer; ended: boolean } {
  const dir = localHandle(view)?.controlDir ?? controlDirFor(repo, view.id, view.spec.runArgs as LocalArgs);
  const ended = hasExit(files(dir).exit) || !existsSync(dir);
  let fd: number;
  try {
    fd = openSync(path.join(files(dir).work, rel), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch {
    return { data: Buffer.alloc(0), ended };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size <= offset) return { data: Buffer.alloc(0), ended };
    const buf = Buffer.alloc(Math.min(max, st.size - offset));
    const n = readSync(fd, buf, 0, buf.length, offset);
    return { data: buf.subarray(0, n), ended };
  } finally {
    closeSync(fd);
  }
}

function readFrom(file: string, offset: number): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const { size } = fstatSync(fd);
    if (size <= offset) return Buffer.alloc(0);
    const buf = Buffer.alloc(size - offset);
    const n = readSync(fd, buf, 0, buf.length, offset);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Reads new bytes of a run's live log files on each poll. */
export class LogTail {
  private readonly offsets: Record<Stream, number> = { stdout: 0, stderr: 0 };
  constructor(private readonly controlDir: string, private readonly sink: (stream: Stream, chunk: Buffer) => void) {}

  async poll(): Promise<void> {
    for (const s of ['stdout', 'stderr'] as const) {
      const chunk = readFrom(files(this.controlDir)[s], this.offsets[s]);
      if (chunk.length) {
        this.offsets[s] += chunk.length;
        this.sink(s, chunk);
      }
    }
  }
}

/** New output of a run on this host from its log files; ended once exit.json is there (or the directory is gone). */
export function readLive(repo: Repo, view: RunView, offsets: Record<Stream, number>): { stdout: Buffer; stderr: Buffer; ended: boolean } {
  const dir = localHandle(view)?.controlDir ?? controlDirFor(repo, view.id, view.spec.runArgs as LocalArgs);
  const f = files(dir);
  // Checked before reading, so that output written before the end is read on this look.
  const ended = hasExit(f.exit) || !existsSync(dir);
  return { stdout: readFrom(f.stdout, offsets.stdout), stderr: readFrom(f.stderr, offsets.stderr), ended };
}
