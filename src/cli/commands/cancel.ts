import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, cancelRuns } from '../../api/index.js';
import { short } from '../render.js';

export default class CancelCommand extends GitRunCommand {
  static override paths = [['cancel']];
  static override usage = Command.Usage({
    description: 'cancel runs: SIGTERM to the process group, SIGKILL after a grace period',
    examples: [['Cancel two runs', 'git run cancel 3f2a9c 81be07']],
  });

  grace = Option.String('--grace', '5', { description: 'seconds between SIGTERM and SIGKILL' });
  runs = Option.Rest({ required: 1 });

  async run(): Promise<number> {
    const repo = await repoAt();
    const views = await cancelRuns(repo, this.runs, Math.max(0, Number(this.grace) || 0) * 1000);
    for (const v of views) this.out(`${short(v.id)} ${v.status}\n`);
    return 0;
  }
}
