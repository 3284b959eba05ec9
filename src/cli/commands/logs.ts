import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, getRun, streamLogs } from '../../api/index.js';

export default class LogsCommand extends GitRunCommand {
  static override paths = [['logs']];
  static override usage = Command.Usage({
    description: "print a run's output (stdout by default)",
    examples: [
      ['Follow a running run', 'git run logs -f 3f2a9c'],
      ['Its stderr', 'git run logs --stderr 3f2a9c'],
    ],
  });

  follow = Option.Boolean('-f,--follow', false, { description: 'keep printing until the run ends' });
  stderr = Option.Boolean('--stderr', false, { description: 'print stderr instead of stdout' });
  run_ = Option.String({ name: 'run' });

  async run(): Promise<number> {
    const repo = await repoAt();
    const view = await getRun(repo, this.run_);
    const stream = this.stderr ? 'stderr' : 'stdout';
    await streamLogs(repo, view.id, (_s, chunk) => this.context.stdout.write(chunk), { streams: [stream], follow: this.follow });
    return 0;
  }
}
