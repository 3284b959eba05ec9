/**
 * The command line's entry. `git run [options] [--] <command>` is parsed
 * here and runs at once; every other subcommand loads the clipanion app.
 */
import { reportError, EXIT_USAGE } from './report.js';
import { isRunInvocation, parseRunArgv } from './run-args.js';
import { executeRun } from './execute-run.js';
import { closeConnections } from '../api/index.js';

export async function main(argv: string[]): Promise<number> {
  try {
    if (isRunInvocation(argv)) return await executeRun(parseRunArgv(argv), process);
    const { runApp } = await import('./app.js');
    return await runApp(!argv.length || argv[0] === 'help' ? ['--help', ...argv.slice(1)] : argv);
  } catch (e) {
    return reportError(e, process.stderr);
  } finally {
    // Open ssh connections would keep the process alive.
    closeConnections();
  }
}

export { EXIT_USAGE };
