/**
 * The command line: registers one class per subcommand and turns
 * `git run [options] [--] <command>` into the default command's arguments.
 */
import { Cli, Builtins, reportError, EXIT_USAGE } from './base.js';
import RunCommand, { RUN_OPTIONS } from './commands/run.js';
import ShowCommand from './commands/show.js';
import LogCommand from './commands/log.js';
import LogsCommand from './commands/logs.js';
import StatusCommand from './commands/status.js';
import CancelCommand from './commands/cancel.js';
import WaitCommand from './commands/wait.js';
import CatCommand from './commands/cat.js';
import CheckoutCommand from './commands/checkout.js';
import EditCommand from './commands/edit.js';
import SuperviseCommand from './commands/supervise.js';

const COMMANDS = [RunCommand, ShowCommand, LogCommand, LogsCommand, StatusCommand, CancelCommand, WaitCommand, CatCommand, CheckoutCommand, EditCommand, SuperviseCommand];

const SUBCOMMANDS = new Set(COMMANDS.flatMap((c) => (c.paths ?? []).filter((p) => p.length).map((p) => p[0]!)));

/**
 * Where git-run's own options end and the user's command begins: the first
 * argument that is neither a run option nor its value, or `--`. Everything
 * after is the command, untouched (`git run python train.py --name x` passes
 * `--name x` to train.py).
 */
export function splitRunArgv(argv: string[]): string[] {
  const first = argv[0];
  if (first === undefined || SUBCOMMANDS.has(first) || ['-h', '--help', '--version'].includes(first)) return argv;
  const own: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (!(flag in RUN_OPTIONS)) break;
    // `--seed=-1`, never `--seed -1`: a value that looks like an option stays a value.
    if (RUN_OPTIONS[flag] && flag === a) own.push(`${a}=${argv[++i] ?? ''}`);
    else own.push(a);
  }
  return [...own, '--', ...argv.slice(i)];
}

export function buildCli(): Cli {
  const cli = new Cli({ binaryLabel: 'git-run', binaryName: 'git run', binaryVersion: '0.1.0', enableColors: false });
  for (const c of COMMANDS) cli.register(c);
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  return cli;
}

export async function main(argv: string[]): Promise<number> {
  try {
    if (!argv.length) argv = ['--help'];
    const cli = buildCli();
    const args = splitRunArgv(argv);
    try {
      cli.process(args);
    } catch (e) {
      // clipanion's own usage errors: same shape and exit code as ours, on stderr.
      const msg = (e as Error).message.replace(/^Unknown Syntax Error: /, '').split('\n')[0];
      process.stderr.write(`error: ${msg}\nhint: see \`git run ${args[0] && !args[0].startsWith('-') ? args[0] + ' ' : ''}--help\`\n`);
      return EXIT_USAGE;
    }
    return await cli.run(args, Cli.defaultContext);
  } catch (e) {
    return reportError(e, process.stderr);
  }
}
