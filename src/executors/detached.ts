/**
 * Starting git-run itself as a detached process: the supervisor of a run or
 * group (`git-run __supervise <id>`, whatever the executor) and the daemon.
 */
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Repo } from '../git/repo.js';
import { openShared, writeFileShared } from '../git/shared.js';
import { processStart } from '../util/process.js';
import { supervisorFile } from './rundir.js';

let cliEntry: string | null = null;

/** The executable file that starts supervisors (set by the binary itself). */
export function setCliEntry(file: string): void {
  cliEntry = file;
}

const entry = () => cliEntry ?? fileURLToPath(new URL('../bin/git-run.js', import.meta.url));

/** Start `git-run daemon run` detached in the repository, its output appended to `logFile`; returns its pid. */
export function launchDaemon(repo: Repo, logFile: string, perm = 0, env: NodeJS.ProcessEnv = process.env): number | null {
  const log = openShared(perm, logFile);
  const child = spawn(process.execPath, [entry(), 'daemon', 'run'], {
    cwd: repo.topLevel ?? repo.gitDir,
    detached: true,
    stdio: ['ignore', log, log],
    env,
  });
  closeSync(log);
  child.unref();
  return child.pid ?? null;
}

/** Start the detached supervisor of a published run or group; its pid goes to the state directory. */
export function launchSupervisor(repo: Repo, id: string, controlDir: string, perm = 0): void {
  const log = openShared(perm, path.join(controlDir, 'supervisor.log'));
  const child = spawn(process.execPath, [entry(), '__supervise', id], {
    cwd: repo.topLevel ?? repo.gitDir,
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  if (child.pid) writeFileShared(perm, supervisorFile(controlDir), JSON.stringify({ pid: child.pid, start: processStart(child.pid) }));
  child.unref();
}
