/**
 * Every subcommand as a clipanion app: one class per file under commands/.
 */
import { Cli, Builtins, EXIT_USAGE } from './base.js';
import { SUBCOMMAND_NAMES } from './run-args.js';
import RunCommand from './commands/run.js';
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
import SubmitCommand from './commands/submit.js';
import InitCommand from './commands/init.js';
import DiffCommand from './commands/diff.js';
import CompareCommand from './commands/compare.js';
import DaemonCommand from './commands/daemon.js';
import HookCommand from './commands/hook.js';
import CompletionCommand from './commands/completion.js';
import WhyCommand from './commands/why.js';
import RerunCommand from './commands/rerun.js';
import LineageCommand from './commands/lineage.js';
import PushCommand from './commands/push.js';
import PullCommand from './commands/pull.js';
import RemoteCommand from './commands/remote.js';
import ExportCommand from './commands/export.js';
import ImportCommand from './commands/import.js';
import RmCommand from './commands/rm.js';
import GcCommand from './commands/gc.js';
import UiCommand from './commands/ui.js';

export const COMMANDS = [RunCommand, ShowCommand, LogCommand, LogsCommand, StatusCommand, CancelCommand, WaitCommand, CatCommand, CheckoutCommand, EditCommand, SubmitCommand, InitCommand, SuperviseCommand, DiffCommand, CompareCommand, DaemonCommand, HookCommand, CompletionCommand, WhyCommand, RerunCommand, LineageCommand, PushCommand, PullCommand, RemoteCommand, ExportCommand, ImportCommand, RmCommand, GcCommand, UiCommand];

/** Subcommand names as registered; run-args.ts keeps the same list without loading clipanion. */
export const registeredNames = (): string[] => COMMANDS.flatMap((c) => (c.paths ?? []).filter((p) => p.length).map((p) => p[0]!));

export function buildCli(): Cli {
  const cli = new Cli({ binaryLabel: 'git-run', binaryName: 'git run', binaryVersion: '0.1.0', enableColors: false });
  for (const c of COMMANDS) cli.register(c);
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  return cli;
}

const LOG_VALUE_OPTIONS = new Set(['-n', '--max-count', '--format', '--pretty', '--status', '--since', '--after', '--until', '--before', '--author', '--grep', '--tag', '--host', '--param', '-p', '--parent', '--where', '--group-by', '--color']);

/** git's count forms for log: -1, -n1, -n 1, --max-count=1 (clipanion knows the last two). */
export function countForms(argv: string[]): string[] {
  if (argv[0] !== 'log') return argv;
  const dd = argv.indexOf('--');
  const end = dd < 0 ? argv.length : dd;
  return argv.map((a, i) => {
    // A value of the option before it (--where -1) is left alone.
    if (i === 0 || i >= end || LOG_VALUE_OPTIONS.has(argv[i - 1]!)) return a;
    const m = /^-(?:n)?(\d+)$/.exec(a);
    return m ? `--max-count=${m[1]}` : a;
  });
}

export async function runApp(args: string[]): Promise<number> {
  const argv = countForms(args);
  const cli = buildCli();
  let command;
  try {
    command = cli.process(argv);
  } catch (e) {
    // clipanion's own usage errors: same shape and exit code as ours, on stderr.
    const msg = (e as Error).message.replace(/^Unknown Syntax Error: /, '').split('\n')[0];
    const sub = argv[0] && SUBCOMMAND_NAMES.includes(argv[0]) ? `${argv[0]} ` : '';
    process.stderr.write(`error: ${msg}\nhint: see \`git run ${sub}--help\`\n`);
    return EXIT_USAGE;
  }
  return cli.run(command, Cli.defaultContext);
}
