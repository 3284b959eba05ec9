import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, getRun, getRuns, runToJson, type RunView, type RunJson } from '../../api/index.js';
import { block, humanSize, short, paint, formatNumber, valueText } from '../render.js';
import { escapeText } from '../escape.js';

/** Inputs, one a line: where the command found it, where it came from, its content id. */
function upstreamText(list: RunJson['upstream']): string {
  const rows = list.map((u) => {
    if (typeof u === 'string') return [escapeText(u), '(unchecked text, no lineage)', ''];
    if ('run' in u) return [escapeText(u.dest), `<- ${short(u.run)}:${escapeText(u.path)}`, u.oid.slice(0, 12)];
    if ('worktree' in u) return [escapeText(u.path), `<- work tree ${escapeText(u.worktree)}`, u.oid.slice(0, 12)];
    return [escapeText(u.path), '', u.oid.slice(0, 12)];
  });
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.max(...rows.map((r) => r[1]!.length));
  return `\nUpstream:\n${rows.map((r) => `  ${r[0]!.padEnd(w0)}  ${r[1]!.padEnd(w1)}  ${r[2]}`.trimEnd() + '\n').join('')}`;
}

/** Runs that took its outputs: the run, what it took, where it placed it. */
function downstreamText(list: RunJson['downstream']): string {
  return `\nDownstream:\n${list.map((d) => `  ${short(d.run)}  took ${d.path === null ? '?' : escapeText(d.path)} as ${escapeText(d.dest)}\n`).join('')}`;
}

export default class ShowCommand extends GitRunCommand {
  static override paths = [['show']];
  static override usage = Command.Usage({
    description: 'show one run: command, code, seed, status, outputs; a group: its children',
    examples: [
      ['Show a run by a prefix of its id', 'git run show 3f2a9c'],
      ['A run by its name', "git run show 'prepare data'"],
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
    if (json.upstream.length) this.out(upstreamText(json.upstream));
    if (json.downstream.length) this.out(downstreamText(json.downstream));
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
