import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, explainRun } from '../../api/index.js';
import { whyText } from '../why-text.js';

export default class WhyCommand extends GitRunCommand {
  static override paths = [['why']];
  static override usage = Command.Usage({
    description: 'say why a run was run instead of reusing an earlier one',
    details: `
      Finds the nearest earlier run of the same experiment (the same definition file or .runconfig experiment; for a command typed after --, the same command) and names each part of the run key that differs: the code (with a diffstat; only the deps paths when the run declared deps), parameters, seed, the names of environment variables whose values changed (values are never recorded), inputs, and the run_args that can change a result. Variables left out of the key (session variables, names that look like credentials, .runconfig's env_ignore) are named or counted.

      \`git run --dry-run\` and \`git run submit --dry-run\` say the same before anything runs.
    `,
    examples: [
      ['Why did this training run again?', 'git run why 3f2a9c'],
      ['As JSON', 'git run why --json 3f2a9c'],
    ],
  });

  json = Option.Boolean('--json', false, { description: 'print one JSON object' });
  run_ = Option.String({ name: 'run' });

  async run(): Promise<number> {
    const repo = await repoAt();
    const { run, explanation } = await explainRun(repo, this.run_);
    this.out(this.json ? JSON.stringify({ id: run.id, ...explanation }) + '\n' : whyText(run.id, explanation));
    return 0;
  }
}
