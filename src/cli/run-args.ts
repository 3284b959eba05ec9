/**
 * `git run [options] [--] <command> [args...]`: where git-run's options end
 * and the user's command begins. Kept apart from clipanion so that running a
 * command (the path whose start-up time users feel) does not load the parser
 * every other subcommand needs; measured in docs/decisions/0003.
 */
import { accessSync, statSync, constants } from 'node:fs';
import path from 'node:path';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { closest } from '../core/definition.js';
import type { RunOptions, SubmitOptions } from '../api/index.js';
import type { LeaveMode } from '../core/record.js';

/** Every subcommand name: anything else in first position starts a run. */
export const SUBCOMMAND_NAMES = ['show', 'log', 'logs', 'status', 'cancel', 'wait', 'cat', 'checkout', 'edit', 'submit', 'init', '__supervise', 'diff', 'compare', 'daemon', 'hook', 'completion', 'why', 'rerun', 'lineage', 'push', 'pull', 'remote', 'export', 'import', 'rm', 'gc', 'ui'];

/**
 * Names kept for subcommands this tool plans (decision 0011): `git run rm <id>`
 * must not run /bin/rm while `rm` is not a subcommand yet. They run as
 * commands only after `--`.
 */
export const RESERVED_NAMES = ['ui'];

/** Options of the run command: their value's key in ParsedRun, or true for a flag. */
const OPTIONS: Record<string, { key: string; flag?: true; many?: true }> = {
  '-d': { key: 'detach', flag: true },
  '--detach': { key: 'detach', flag: true },
  '-q': { key: 'quiet', flag: true },
  '--quiet': { key: 'quiet', flag: true },
  '--json': { key: 'json', flag: true },
  '--name': { key: 'name' },
  '--notes': { key: 'notes' },
  '--tag': { key: 'tags', many: true },
  '--seed': { key: 'seed' },
  '--leave': { key: 'leave' },
  '--local-dir': { key: 'localDir' },
  '--send-ignore': { key: 'sendIgnore' },
  '--fetch-ignore': { key: 'fetchIgnore' },
  '-p': { key: 'params', many: true },
  '--param': { key: 'params', many: true },
  '--force': { key: 'force', flag: true },
  '--force-ignores-success': { key: 'forceIgnoresSuccess', flag: true },
  '--no-skip': { key: 'noSkip', flag: true },
  '--run-arg': { key: 'runArg', many: true },
  '--host': { key: 'host' },
  '--on-local': { key: 'onLocal', flag: true },
  '--dep': { key: 'deps', many: true },
  '-n': { key: 'dryRun', flag: true },
  '--dry-run': { key: 'dryRun', flag: true },
  '-i': { key: 'inputs', many: true },
  '--input': { key: 'inputs', many: true },
  '--store-inputs': { key: 'storeInputs', flag: true },
};

/** `--run-arg key=value` (a custom run_arg; the value is JSON when it parses as JSON). */
export function parseRunArg(a: string): [string, unknown] {
  const eq = a.indexOf('=');
  if (eq <= 0) throw new GitRunError(ErrorCode.BadOption, `malformed --run-arg '${a}': expected key=value`, 'e.g. --run-arg partition=gpu or --run-arg mem=8G');
  const text = a.slice(eq + 1);
  let value: unknown = text;
  try {
    value = JSON.parse(text);
  } catch {
    /* plain text */
  }
  return [a.slice(0, eq), value];
}

/** run_args from the flags every submitting command shares. */
export function runArgsFromFlags(f: { force?: boolean; forceIgnoresSuccess?: boolean; noSkip?: boolean; sequential?: boolean; onLocal?: boolean; runArg?: string[] }): Record<string, unknown> {
  // Keys are the user's data: `__proto__` is a run_arg like any other.
  const a: Record<string, unknown> = Object.create(null);
  for (const kv of f.runArg ?? []) {
    const [k, v] = parseRunArg(kv);
    a[k] = v;
  }
  if (f.force) a.force = true;
  if (f.noSkip) a.skip = false;
  if (f.forceIgnoresSuccess) a.force_ignores_success = true;
  if (f.sequential) a.asynchronous = false;
  if (f.onLocal) a.on_local = true;
  return a;
}

export interface ParsedRun {
  run: RunOptions;
  /** A submission made otherwise (`rerun`, from a record): used in place of `run`'s. */
  submit?: SubmitOptions;
  detach: boolean;
  quiet: boolean;
  /** The run as one JSON object on stdout when it ends (-d: at once), in place of the id or the closing line (as submit --json). */
  json: boolean;
  /** Say what would run and what would be reused, and why; write nothing. */
  dryRun: boolean;
}

export function isRunInvocation(argv: string[]): boolean {
  const first = argv[0];
  return first !== undefined && !SUBCOMMAND_NAMES.includes(first) && !['-h', '--help', '--version', 'help'].includes(first);
}

export function parseRunArgv(argv: string[]): ParsedRun {
  const values: Record<string, string | string[] | boolean> = {};
  let i = 0;
  let dashDash = false;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      dashDash = true;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    // Short flags may be bundled: -dq.
    const bundle = /^-[a-z]{2,}$/.test(a) ? [...a.slice(1)].map((c) => `-${c}`) : [name];
    for (const n of bundle) {
      const o = OPTIONS[n];
      if (!o || (bundle.length > 1 && !o.flag)) {
        throw new GitRunError(ErrorCode.BadOption, `unknown option '${n}' for git run`, 'put the command after `--` (git run [options] -- <command>); see `git run --help`', { option: n });
      }
      if (o.flag) {
        if (eq > 0) throw new GitRunError(ErrorCode.BadOption, `option '${n}' takes no value`, 'see `git run --help`');
        values[o.key] = true;
        continue;
      }
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new GitRunError(ErrorCode.BadOption, `option '${n}' needs a value`, `e.g. ${n} <value>; see \`git run --help\``);
      values[o.key] = o.many ? [...((values[o.key] as string[] | undefined) ?? []), v] : v;
    }
  }
  if (!dashDash && i < argv.length) checkCommandWord(argv[i]!, i === 0);
  const str = (k: string) => (typeof values[k] === 'string' ? { [k]: values[k] as string } : {});
  const tags = ((values.tags as string[] | undefined) ?? []).flatMap((t) => t.split(','));
  const run: RunOptions = {
    command: argv.slice(i),
    ...str('name'),
    ...str('notes'),
    ...str('seed'),
    ...str('localDir'),
    ...str('sendIgnore'),
    ...str('fetchIgnore'),
    ...(typeof values.leave === 'string' ? { leave: values.leave as LeaveMode } : {}),
    tags,
    params: (values.params as string[] | undefined) ?? [],
    inputs: (values.inputs as string[] | undefined) ?? [],
    ...(values.storeInputs === true ? { storeInputs: true } : {}),
    ...str('host'),
    ...(values.deps ? { deps: values.deps as string[] } : {}),
    runArgs: runArgsFromFlags({
      force: values.force === true,
      forceIgnoresSuccess: values.forceIgnoresSuccess === true,
      noSkip: values.noSkip === true,
      runArg: (values.runArg as string[] | undefined) ?? [],
      onLocal: values.onLocal === true,
    }),
  };
  return { run, detach: values.detach === true, quiet: values.quiet === true, json: values.json === true, dryRun: values.dryRun === true };
}

/**
 * A first word without `--` that is a planned subcommand, or (when it is the
 * very first argument, where a subcommand goes) neither a command on PATH nor
 * a path, is a mistake, not a run to record.
 */
function checkCommandWord(word: string, first: boolean): void {
  if (RESERVED_NAMES.includes(word)) {
    throw new GitRunError(ErrorCode.BadOption, `'${word}' is reserved for a git-run subcommand`, `to run the command '${word}', put it after \`--\`: git run -- ${word} ...`, { command: word });
  }
  if (!first || word.includes('/') || onPath(word)) return;
  const near = closest(word, SUBCOMMAND_NAMES.filter((n) => !n.startsWith('_')));
  throw new GitRunError(
    ErrorCode.BadOption,
    `'${word}' is not a git-run subcommand nor a command on PATH`,
    `${near ? `did you mean \`git run ${near}\`? ` : ''}to run a command of that name anyway: git run -- ${word}`,
    { command: word },
  );
}

/** Whether `execvp` would find this word as an executable file on PATH. */
function onPath(word: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const f = path.join(dir || '.', word);
    try {
      accessSync(f, constants.X_OK);
      if (statSync(f).isFile()) return true;
    } catch {
      /* not here */
    }
  }
  return false;
}
