import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, activeRuns, runToJson } from '../../api/index.js';
import { oneline, duration, runDuration } from '../render.js';

export default class StatusCommand extends GitRunCommand {
  static override paths = [['status']];
  static override usage = Command.Usage({ description: 'list active runs (queued or running)' });

  json = Option.Boolean('--json', false, { description: 'one JSON object per line' });

  async run(): Promise<number> {
    const repo = await repoAt();
    const runs = await activeRuns(repo);
    for (const v of runs) {
      if (this.json) this.out(JSON.stringify(await runToJson(repo, v)) + '\n');
      else {
        const d = runDuration(v);
        this.out(`${oneline(v, this.color)}${d !== null ? `  [${duration(d)}]` : ''}\n`);
      }
    }
    if (!runs.length && !this.json && (this.context.stdout as NodeJS.WriteStream).isTTY) this.out('no active runs\n');
    return 0;
  }
}
