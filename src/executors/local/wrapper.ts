/**
 * The shell that stands between a local run's supervisor and its command, so
 * that the command's exit status outlives the supervisor (decision 0015).
 *
 * Only a process's parent learns how it ended. When the supervisor (a
 * detached `git-run __supervise`, or the daemon) was the command's parent,
 * killing it while the command ran lost the status for good: the run was
 * later recorded `lost` although the command finished. The wrapper is the
 * command's parent instead; it writes exit.json when the command ends,
 * whoever is left to read it. The ssh executor's wrapper does the same on
 * the remote host.
 *
 *   /bin/sh -c WRAPPER sh <run state dir> <umask for exit.json> <program> <args>...
 *
 * It is the leader of the run's process group (the supervisor starts it
 * detached): a cancel signals the group, which reaches the command and the
 * wrapper. The wrapper catches HUP, INT and TERM (a caught signal is reset
 * to its default in the command, an ignored one would be inherited) and
 * keeps waiting; SIGKILL ends both, and then the supervisor, if alive,
 * records what it saw. The command runs in a subshell that execs it, so a
 * program name is never taken for a shell builtin or function, and as a
 * foreground command, so it does not get SIGINT and SIGQUIT ignored as a
 * background job of a non-interactive shell would. stdin, stdout, stderr and
 * the environment are the command's own (sh adds PWD, the run's directory).
 *
 * The shell reports a death by signal n as status 128+n, like every shell;
 * the wrapper records it as that signal. A command that exits 128+n by
 * itself (usually a shell passing on its child's death) is recorded as
 * killed by that signal. exit.json is written by one printf, in one write
 * (under PIPE_BUF), with `endedAt` null: its modification time is when the
 * command ended. It used to be a temporary file and an `mv`, a process more
 * per run that cost a foreground sweep about 7 ms of CPU a child (decision
 * 0015); instead a reader takes an empty or unparsable exit.json (the
 * moment between the shell's open and its write, or a wrapper SIGKILLed
 * there) as "not ended yet" (readExit, hasExit), and a supervisor or
 * refresh that finds the process group gone decides as it would without
 * the file. In a shared repository the wrapper sets the umask that gives
 * the file git's shared mode, after the command has ended, so the command
 * keeps the user's own.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { readJsonFile } from '../../util/files.js';

/** {"exitCode", "signal", "error", "endedAt"}: the local executor's exit record. */
export interface ExitRecord {
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  endedAt: string;
}

export const WRAPPER = [
  'd=$1; u=$2; shift 2',
  'trap : HUP INT TERM',
  '(exec "$@")',
  'c=$?; s=null',
  'if [ "$c" -gt 128 ] && n=$(kill -l "$c" 2>/dev/null); then s="\\"SIG$n\\""; c=null; fi',
  'if [ "$u" != - ]; then umask "$u"; fi',
  'printf \'{"exitCode":%s,"signal":%s,"error":null,"endedAt":null}\\n\' "$c" "$s" >"$d/exit.json"',
].join('\n');

/**
 * The argument vector that starts `argv` under the wrapper, its exit record
 * in `dir`. `fileMode`: the mode exit.json must get (a shared repository's),
 * or null for the process's umask.
 */
export function wrapped(dir: string, argv: readonly string[], fileMode: number | null = null): { file: string; args: string[] } {
  // `>` creates with 0666 & ~umask: the umask that leaves exactly fileMode.
  const umask = fileMode === null ? '-' : (~fileMode & 0o777).toString(8).padStart(3, '0');
  return { file: '/bin/sh', args: ['-c', WRAPPER, 'sh', dir, umask, ...argv] };
}

/** The wrapper has written a whole exit record (an empty or half-written file is not one yet). */
export function hasExit(file: string): boolean {
  try {
    const s = readFileSync(file, 'utf8');
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * Why `program` cannot be started, as execvp would find (127: not found,
 * 126: found but not executable), or null when it can. Checked before the
 * wrapper starts, so that the run's stderr says it in git-run's words and
 * not in the shell's.
 */
export function unstartable(program: string, envPath: string | undefined, cwd: string): { code: number; what: string } | null {
  const executable = (file: string): boolean | 'found' => {
    try {
      if (statSync(file).isDirectory()) return 'found';
      accessSync(file, constants.X_OK);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR' ? false : 'found';
    }
  };
  if (program === '') return { code: 127, what: 'command not found' };
  if (program.includes('/')) {
    const r = executable(path.resolve(cwd, program));
    return r === true ? null : r === 'found' ? { code: 126, what: 'permission denied' } : { code: 127, what: 'command not found' };
  }
  let denied = false;
  // execvp's default when PATH is unset.
  for (const dir of (envPath ?? '/bin:/usr/bin').split(':')) {
    const r = executable(path.resolve(cwd, dir, program));
    if (r === true) return null;
    if (r === 'found') denied = true;
  }
  return denied ? { code: 126, what: 'permission denied' } : { code: 127, what: 'command not found' };
}

/** The exit record in `file`, its end time taken from the file when the wrapper wrote it; null when absent, empty or half-written (not ended yet). */
export async function readExit(file: string): Promise<ExitRecord | null> {
  const r = await readJsonFile<Omit<ExitRecord, 'endedAt'> & { endedAt: string | null }>(file);
  if (!r) return null;
  if (r.endedAt) return r as ExitRecord;
  let endedAt: string;
  try {
    endedAt = statSync(file).mtime.toISOString();
  } catch {
    endedAt = new Date().toISOString();
  }
  return { ...r, endedAt };
}
