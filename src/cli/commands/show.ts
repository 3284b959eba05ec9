import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, getRun, runToJson } from '../../api/index.js';
import { block, humanSize } from '../render.js';

export default class ShowCommand extends GitRunCommand {
  static override paths = [['show']];
  static override usage = Command.Usage({
    description: 'show one run: command, code, seed, status, outputs',
    examples: [
      ['Show a run by a prefix of its id', 'git run show 3f2a9c'],
      ['As JSON', 'git run show --json 3f2a9c'],
    ],
  });

  json = Option.Boolean('--json', false, { description: 'print one JSON object' });
  run_ = Option.String({ name: 'run' });

  async run(): Promise<number> {
    const repo = await repoAt();
    const view = await getRun(repo, this.run_);
    const json = await runToJson(repo, view);
    if (this.json) {
      this.out(JSON.stringify(json) + '\n');
      return 0;
    }
    this.out(block(view, this.color));
    if (json.outputs.length) {
      this.out('\nOutputs:\n');
      const w = Math.max(...json.outputs.map((o) => o.path.length));
      for (const o of json.outputs) this.out(`  ${o.path.padEnd(w)}  ${humanSize(o.size).padStart(10)}  ${o.oid.slice(0, 12)}\n`);
    }
    return 0;
  }
}
