/**
 * The command line's entry. `git run [options] [--] <command>` is parsed
 * here and runs at once; every other subcommand loads the clipanion app.
 */
import { readFileSync, existsSync, realpathSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { reportError, EXIT_USAGE } from './report.js';
import { isRunInvocation, parseRunArgv } from './run-args.js';
import { executeRun } from './execute-run.js';
import { closeConnections } from '../api/connections.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { escapeBytes } from './escape.js';
import { isRecording } from './reader.js';

export async function main(argv: string[]): Promise<number> {
  try {
    checkUtf8(argv);
    if (isRunInvocation(argv)) return await executeRun(parseRunArgv(argv), process);
    endQuietlyWhenReaderLeaves();
    const wantsHelp = !argv.length || (argv.length === 1 && ['help', '--help', '-h'].includes(argv[0]!));
    if (wantsHelp && process.stdout.isTTY && showManual()) return 0;
    const { runApp } = await import('./app.js');
    return await runApp(!argv.length || argv[0] === 'help' ? ['--help', ...argv.slice(1)] : argv);
  } catch (e) {
    return reportError(e, process.stderr);
  } finally {
    // Open ssh connections would keep the process alive.
    closeConnections();
  }
}

/**
 * `git run show <id> | head -1`: once the reader is gone there is nobody to
 * tell, so end as git does (it dies of SIGPIPE: 141) without a stack trace.
 * A foreground run does not come here: it keeps going and records the run;
 * nor does a submission while its children run (whileRecording).
 */
function endQuietlyWhenReaderLeaves(): void {
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
      if (isRecording()) return; // the runs go on and are recorded; their output has nowhere to go
      process.exit(128 + 13);
    });
  }
}

/**
 * `git run --help` on a terminal shows the manual as git shows its own (git
 * itself turns `git run --help` into `git help run`, which runs `man
 * git-run`); the page next to this bundle works before it is installed.
 * Without man, or when piped, clipanion's text is printed.
 */
function showManual(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  const page = path.join(path.dirname(realpathSync(entry)), '..', 'man', 'git-run.1');
  if (!existsSync(page)) return false;
  const r = spawnSync('man', ['-l', page], { stdio: 'inherit' });
  return r.status === 0;
}

/**
 * Node decodes the argument vector as UTF-8 and replaces what is not with
 * U+FFFD, silently. The exact bytes are in /proc/self/cmdline: an argument
 * that is not valid UTF-8 is refused (decision 0011) rather than altered.
 * An argument that holds a real U+FFFD is told apart there too.
 */
function checkUtf8(argv: string[]): void {
  // Bytes that are not UTF-8 always decode to U+FFFD: without one, every argument arrived whole, and /proc need not be read.
  if (!argv.some((a) => a.includes('\uFFFD'))) return;
  let raw: Buffer;
  try {
    raw = readFileSync('/proc/self/cmdline');
  } catch {
    return; // no /proc: nothing to compare against
  }
  const words: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0) {
      words.push(raw.subarray(start, i));
      start = i + 1;
    }
  }
  // Node's own options come first: ours are the last ones.
  const ours = words.slice(words.length - argv.length);
  if (ours.length !== argv.length) return;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (const [i, w] of ours.entries()) {
    try {
      decoder.decode(w);
    } catch {
      throw new GitRunError(
        ErrorCode.BadOption,
        `argument ${i + 1} is not valid UTF-8: '${escapeBytes(w)}'`,
        'git-run records parameters and command words as text and will not alter them; pass such bytes in a file, or encoded (e.g. base64)',
        { argument: i + 1 },
      );
    }
  }
}

export { EXIT_USAGE };
