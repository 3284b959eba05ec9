/**
 * The one module that imports clipanion. Every command extends GitRunCommand
 * and implements `run()`; the error handling here is the CLI's single
 * top-level handler: a user's mistake prints `error:` and `hint:` and exits 2,
 * anything else is a bug and says how to report it.
 */
import { Command, Option, Cli, Builtins, type Usage } from 'clipanion';
import { isGitRunError } from '../errors/index.js';

export { Command, Option, Cli, Builtins, type Usage };

/** Exit code for a user's mistake (bad input, unknown run...). */
export const EXIT_USAGE = 2;
/** Exit code for a bug in git-run (EX_SOFTWARE). */
export const EXIT_BUG = 70;

export abstract class GitRunCommand extends Command {
  abstract run(): Promise<number | void>;

  async execute(): Promise<number> {
    try {
      return (await this.run()) ?? 0;
    } catch (e) {
      return reportError(e, this.context.stderr);
    }
  }

  protected out(s: string | Buffer): void {
    this.context.stdout.write(s);
  }

  protected err(s: string): void {
    this.context.stderr.write(s);
  }

  protected get color(): boolean {
    const s = this.context.stdout as NodeJS.WriteStream;
    return !!s.isTTY && !process.env.NO_COLOR;
  }
}

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
