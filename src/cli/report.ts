/**
 * The CLI's single top-level error handler (kept free of clipanion so the
 * fast path of `git run <command>` does not load it): a user's mistake
 * prints `error:` and `hint:` and exits 2; anything else is a bug.
 */
import { isGitRunError } from '../errors/index.js';

/** Exit code for a user's mistake (bad input, unknown run...). */
export const EXIT_USAGE = 2;
/** Exit code for a bug in git-run (EX_SOFTWARE). */
export const EXIT_BUG = 70;

export function reportError(e: unknown, stderr: NodeJS.WritableStream): number {
  if (isGitRunError(e)) {
    stderr.write(`error: ${e.message}\n`);
    if (e.hint) stderr.write(`hint: ${e.hint}\n`);
    return EXIT_USAGE;
  }
  const err = e as Error;
  stderr.write(`error: internal error: ${err?.stack ?? String(e)}\n`);
  stderr.write('This is a bug in git-run. Please report it with the output above and the command you ran.\n');
  return EXIT_BUG;
}
