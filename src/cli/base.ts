/**
 * The one module that imports clipanion. Every command extends GitRunCommand
 * and implements `run()`; the error handling here is the CLI's single
 * top-level handler: a user's mistake prints `error:` and `hint:` and exits 2,
 * anything else is a bug and says how to report it.
 */
import { Command, Option, Cli, Builtins, type Usage } from 'clipanion';
import { reportError } from './report.js';

export { Command, Option, Cli, Builtins, type Usage };
export { reportError, EXIT_USAGE, EXIT_BUG } from './report.js';

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

