/**
 * The one module that imports clipanion. Every command extends GitRunCommand
 * and implements `run()`; the error handling here is the CLI's single
 * top-level handler: a user's mistake prints `error:` and `hint:` and exits 2,
 * anything else is a bug and says how to report it.
 */
import { Command, Option, Cli as ClipanionCli, Builtins, type Usage } from 'clipanion';
import { reportError } from './report.js';

export { Command, Option, Builtins, type Usage };

/**
 * clipanion writes an option's value as `#0` (`--name #0`); usage lines, help
 * and the man page name it after the option instead (`--name <name>`).
 */
export function nameValues(s: string): string {
  return s.replace(/((?:-[\w-]+,)*-[\w-]+)((?: #\d+)+)( *)/g, (_, names: string, values: string, pad: string) => {
    const list = names.split(',');
    const word = (list.find((n) => n.startsWith('--')) ?? list[list.length - 1]!).replace(/^-+/, '');
    const named = values.trim().split(' ').map(() => ` <${word}>`).join('');
    // Keep help's columns: the longer text takes its room from the padding after it.
    const grow = named.length - values.length;
    return `${names}${named}${pad.length >= grow + 2 ? pad.slice(grow) : pad ? '  ' : ''}`;
  });
}

export class Cli extends ClipanionCli {
  override usage(...args: Parameters<ClipanionCli['usage']>): string {
    return nameValues(super.usage(...args));
  }

  override definitions(...args: Parameters<ClipanionCli['definitions']>): ReturnType<ClipanionCli['definitions']> {
    return super.definitions(...args).map((d) => ({ ...d, usage: nameValues(d.usage), options: d.options.map((o) => ({ ...o, definition: nameValues(o.definition) })) }));
  }
}
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

