import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, getRun, getRuns, runToJson, type RunView } from '../../api/index.js';
import { block, humanSize, short, paint, formatNumber, valueText } from '../render.js';
import { escapeText } from '../escape.js';

export default class ShowCommand extends GitRunCommand {
  static override paths = [['show']];
  static override usage = Command.Usage({
    description: 'show one run: command, code, seed, status, outputs; a group: its children',
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
    if (view.children?.length) this.out(this.children(await getRuns(repo, view.children.map((c) => c.id))));
    if (json.outputs.length) {
      this.out('\nOutputs:\n');
      const paths = json.outputs.map((o) => escapeText(o.path));
      const w = Math.max(...paths.map((p) => p.length));
      json.outputs.forEach((o, i) => this.out(`  ${paths[i]!.padEnd(w)}  ${humanSize(o.size).padStart(10)}  ${o.oid.slice(0, 12)}\n`));
    }
    return 0;
  }

  /** One line per child: id, status, its name or parameters, and the group's first metric. */
  private children(runs: RunView[]): string {
    const metric = runs.flatMap((r) => Object.keys(r.metrics ?? {}))[0];
    const label = (r: RunView) => (r.meta.name ? escapeText(r.meta.name) : Object.entries(r.spec.params).map(([k, x]) => `${escapeText(k)}=${valueText(x)}`).join(' '));
    const labels = runs.map(label);
    const w = Math.max(...labels.map((l) => l.length));
    let out = `\nChildren (${runs.length}):\n`;
    runs.forEach((r, i) => {
      const m = metric !== undefined && r.metrics && Object.hasOwn(r.metrics, metric) ? `  ${escapeText(metric)}=${formatNumber(r.metrics[metric]!)}` : '';
      out += `  ${short(r.id)} ${paint(r.status.padEnd(9), r.status, this.color)} ${(labels[i]! + (m ? ' '.repeat(w - labels[i]!.length) : '')) + m}\n`.replace(/ +\n$/, '\n');
    });
    return out;
  }
}
