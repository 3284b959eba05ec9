/**
 * One daemon per repository: a pid file under the git-run state directory,
 * naming the process by pid, start time and boot, so that a file left by a
 * dead daemon (or a recycled pid) does not count. Taking it is a short
 * critical section under an atomic mkdir, so two daemons starting at once
 * cannot both win.
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import type { Repo } from '../git/repo.js';
import { adjustSharedPerm, mkdirShared } from '../git/shared.js';
import { bootId, isAlive, processStart, thisHost } from '../util/process.js';
import { ErrorCode, GitRunError } from '../errors/index.js';

export interface DaemonRecord {
  pid: number;
  start: string | null;
  bootId: string | null;
  host: string;
  startedAt: string;
}

export const daemonDir = (repo: Repo): string => path.join(repo.stateDir, 'daemon');
export const daemonLogFile = (repo: Repo): string => path.join(daemonDir(repo), 'daemon.log');
const pidFile = (repo: Repo) => path.join(daemonDir(repo), 'pid');

/** The running daemon's record, or null (none, or the one recorded is dead). */
export function daemonRecord(repo: Repo): DaemonRecord | null {
  let r: DaemonRecord;
  try {
    r = JSON.parse(readFileSync(pidFile(repo), 'utf8')) as DaemonRecord;
  } catch {
    return null;
  }
  if (r.host !== thisHost() || (r.bootId && r.bootId !== bootId())) return null;
  return isAlive(r.pid, r.start) ? r : null;
}

export const daemonPid = (repo: Repo): number | null => daemonRecord(repo)?.pid ?? null;

/** Become the repository's daemon; returns the release. Throws when another daemon lives. `perm`: core.sharedRepository (src/git/shared.ts). */
export function acquireDaemonLock(repo: Repo, perm: number): () => void {
  const dir = daemonDir(repo);
  mkdirShared(perm, dir);
  const guard = path.join(dir, 'lock.d');
  for (let i = 0; ; i++) {
    try {
      mkdirSync(guard);
      adjustSharedPerm(perm, guard);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A guard older than 10 s was left by a crash inside these few lines.
      try {
        if (Date.now() - statSync(guard).mtimeMs > 10_000) rmSync(guard, { recursive: true, force: true });
      } catch {
        /* gone meanwhile */
      }
      if (i > 200) throw new GitRunError(ErrorCode.DaemonRunning, `cannot take the daemon lock ${guard}`, 'remove it if no git-run daemon is starting');
      const until = Date.now() + 25;
      while (Date.now() < until) {
        /* a short wait, synchronously: this runs once at start */
      }
    }
  }
  try {
    const other = daemonRecord(repo);
    if (other && other.pid !== process.pid) {
      throw new GitRunError(ErrorCode.DaemonRunning, `a git-run daemon already runs for this repository (pid ${other.pid}, since ${other.startedAt})`, 'see it with `git run daemon status`; stop it with `git run daemon stop`');
    }
    const rec: DaemonRecord = { pid: process.pid, start: processStart(process.pid), bootId: bootId(), host: thisHost(), startedAt: new Date().toISOString() };
    writeFileSync(`${pidFile(repo)}.tmp`, JSON.stringify(rec));
    adjustSharedPerm(perm, `${pidFile(repo)}.tmp`);
    renameSync(`${pidFile(repo)}.tmp`, pidFile(repo));
  } finally {
    rmSync(guard, { recursive: true, force: true });
  }
  return () => {
    try {
      const r = JSON.parse(readFileSync(pidFile(repo), 'utf8')) as DaemonRecord;
      if (r.pid === process.pid) rmSync(pidFile(repo), { force: true });
    } catch {
      /* already gone */
    }
  };
}
