import { GitRunCommand, Command, Option } from '../base.js';
import { executeRun } from '../execute-run.js';
import { parseRunArgv } from '../run-args.js';

export default class RunCommand extends GitRunCommand {
  static override paths = [Command.Default];
  static override usage = Command.Usage({
    description: 'run a command and record it in the repository',
    details: `
      Snapshots the work tree (tracked files with uncommitted edits, plus untracked files that .gitignore does not ignore, minus .sendignore), runs the command in a run directory made from that snapshot, streams its output, and records code, command, seed, logs, exit status and outputs under refs/runs/. Exits with the command's own exit code. Ctrl-C cancels the run and records it as cancelled.

      Put git-run's options before the command; \`--\` ends them explicitly (needed when the command's name is also a git-run subcommand).
    `,
    examples: [
      ['Run a training script', 'git run -- python train.py --lr 0.1'],
      ['Run in the background and name the run', 'git run -d --name baseline -- python train.py'],
      ['Keep the run directory for inspection', 'git run --leave all -- make test'],
      ['A parameter, as a placeholder', 'git run -p lr=0.1 --seed 7 -- python train.py --lr {lr}'],
      ['Would it run again? (writes nothing)', 'git run --dry-run --seed 7 -- python train.py'],
      ['Rerun only when these files change', 'git run --seed 7 --dep train.py --dep model/ -- python train.py'],
    ],
  });

  detach = Option.Boolean('-d,--detach', false, { description: 'print the run id and return at once' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'no closing status line on stderr' });
  json = Option.Boolean('--json', false, { description: 'print the run as one JSON object on stdout when it ends (with -d: at once); the command\'s own output goes to stderr' });
  name = Option.String('--name', { description: 'a name for the run' });
  notes = Option.String('--notes', { description: 'free-form notes' });
  tags = Option.Array('--tag', { description: 'a tag (repeatable; commas separate several)' });
  seed = Option.String('--seed', { description: 'the seed (default: random, recorded); passed as GIT_RUN_SEED' });
  leave = Option.String('--leave', { description: 'what stays of the run directory: none, code (default: a remote host keeps the code for the next run), all' });
  localDir = Option.String('--local-dir', { description: 'where run directories are made (default: inside .git)' });
  sendIgnore = Option.String('--send-ignore', { description: 'ignore file for the snapshot (default: .sendignore)' });
  fetchIgnore = Option.String('--fetch-ignore', { description: 'ignore file for outputs (default: .fetchignore)' });
  params = Option.Array('-p,--param', { description: 'a parameter name=value: {name} in the command, GIT_RUN_PARAM_<name>, .git-run/params.json (repeatable)' });
  force = Option.Boolean('--force', false, { description: 'run even if an identical run exists that did not succeed (alias of --no-skip)' });
  noSkip = Option.Boolean('--no-skip', false, { description: 'do not reuse an identical running or failed run' });
  forceIgnoresSuccess = Option.Boolean('--force-ignores-success', false, { description: 'with --force, rerun an identical run that succeeded too' });
  runArg = Option.Array('--run-arg', { description: 'a custom run_arg key=value for this run (repeatable)' });
  host = Option.String('--host', { description: 'a host profile of .runconfig (default: local)' });
  onLocal = Option.Boolean('--on-local', false, { description: "run the host profile here, without transfer (Runaway's --on-local)" });
  deps = Option.Array('--dep', { description: 'a pathspec the result depends on (repeatable): the run key covers only these files of the code, so editing others does not rerun it' });
  dryRun = Option.Boolean('-n,--dry-run', false, { description: 'say whether it would run or reuse a run, and why; write nothing' });
  inputs = Option.Array('-i,--input', { description: "an input (repeatable): <run>:<path> (another run's artifact), a work-tree path (gitignored files too), or dest=<either> to place it elsewhere; found at its path and in $GIT_RUN_INPUTS" });
  storeInputs = Option.Boolean('--store-inputs', false, { description: "keep work-tree inputs' content in git objects (default: only their ids)" });
  command = Option.Rest();

  async run(): Promise<number> {
    // One parser for both paths: the fast path in cli/index.ts and this one (help, completion).
    const argv: string[] = [];
    const put = (flag: string, v: string | undefined) => v !== undefined && argv.push(`${flag}=${v}`);
    if (this.detach) argv.push('--detach');
    if (this.quiet) argv.push('--quiet');
    if (this.json) argv.push('--json');
    put('--name', this.name);
    put('--notes', this.notes);
    for (const t of this.tags ?? []) put('--tag', t);
    put('--seed', this.seed);
    put('--leave', this.leave);
    put('--local-dir', this.localDir);
    put('--send-ignore', this.sendIgnore);
    put('--fetch-ignore', this.fetchIgnore);
    for (const p of this.params ?? []) put('--param', p);
    if (this.force) argv.push('--force');
    if (this.noSkip) argv.push('--no-skip');
    if (this.forceIgnoresSuccess) argv.push('--force-ignores-success');
    for (const a of this.runArg ?? []) put('--run-arg', a);
    put('--host', this.host);
    if (this.onLocal) argv.push('--on-local');
    for (const d of this.deps ?? []) put('--dep', d);
    if (this.dryRun) argv.push('--dry-run');
    for (const i of this.inputs ?? []) put('--input', i);
    if (this.storeInputs) argv.push('--store-inputs');
    return executeRun(parseRunArgv([...argv, '--', ...this.command]), this.context);
  }
}
