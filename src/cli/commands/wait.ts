import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, waitRuns } from '../../api/index.js';
import { short } from '../render.js';

export default class WaitCommand extends GitRunCommand {
  static override paths = [['wait']];
  static override usage = Command.Usage({
    description: 'wait until runs end; exit 1 if any did not succeed',
    examples: [['Wait for two detached runs', 'git run wait 3f2a9c 81be07']],
  });

  runs = Option.Rest({ required: 1 });

  async run(): Promise<number> {
    const repo = await repoAt();
    const views = await waitRuns(repo, this.runs, (v) => this.out(`${short(v.id)} ${v.status}\n`));
    return views.every((v) => v.status === 'succeeded') ? 0 : 1;
  }
}
