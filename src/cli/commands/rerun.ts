import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, rerunOptions } from '../../api/index.js';
import { executeRun } from '../execute-run.js';
import { runArgsFromFlags } from '../run-args.js';

export default class RerunCommand extends GitRunCommand {
  static override paths = [['rerun']];
  static override usage = Command.Usage({
    description: "run a recorded run again: its command, parameters, seed, inputs and host, on the current code",
    details: `
      Submits the recorded command, parameters, seed, declared environment, deps, inputs, host and run_args again (as DataLad's rerun does), on the work tree's code as it is now; --same-code runs the recorded snapshot instead. Memoization applies as for any run: when nothing that is in the run key changed, the recorded run is reused and its output replayed (say --force --force-ignores-success to run it anyway; \`git run why\` or --dry-run says what changed).
    `,
    examples: [
      ['Rerun on the current code', 'git run rerun 3f2a9c'],
      ['Exactly the recorded code, forced', 'git run rerun --same-code --force --force-ignores-success 3f2a9c'],
      ['Would it run?', 'git run rerun --dry-run 3f2a9c'],
    ],
  });

  sameCode = Option.Boolean('--same-code', false, { description: 'run the recorded snapshot, not the current code' });
  detach = Option.Boolean('-d,--detach', false, { description: 'print the run id and return at once' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'no closing status line on stderr' });
  json = Option.Boolean('--json', false, { description: 'print the run as one JSON object when it ends' });
  dryRun = Option.Boolean('-n,--dry-run', false, { description: 'say whether it would run or reuse a run, and why; write nothing' });
  host = Option.String('--host', { description: 'another host profile than the recorded one' });
  force = Option.Boolean('--force', false, { description: 'run even if an identical run exists that did not succeed' });
  noSkip = Option.Boolean('--no-skip', false, { description: 'same as --force' });
  forceIgnoresSuccess = Option.Boolean('--force-ignores-success', false, { description: 'with --force, rerun an identical run that succeeded too' });
  run_ = Option.String({ name: 'run' });

  async run(): Promise<number> {
    const repo = await repoAt();
    const runArgs = runArgsFromFlags({ force: this.force, noSkip: this.noSkip, forceIgnoresSuccess: this.forceIgnoresSuccess });
    const submit = await rerunOptions(repo, this.run_, { sameCode: this.sameCode, runArgs, ...(this.host !== undefined ? { host: this.host } : {}) });
    return executeRun({ run: { command: submit.command! }, submit, detach: this.detach, quiet: this.quiet, json: this.json, dryRun: this.dryRun }, this.context);
  }
}
