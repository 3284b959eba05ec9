import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, lineage, GitRunError, ErrorCode, type Lineage, type LineageEdge, type LineageNode } from '../../api/index.js';
import { commandLine, paint, short } from '../render.js';
import { escapeText } from '../escape.js';

export default class LineageCommand extends GitRunCommand {
  static override paths = [['lineage']];
  static override usage = Command.Usage({
    description: 'show the runs a run took its inputs from (upstream) and the runs that took its outputs (downstream)',
    details: `
      Each link says what moved: the producer's path, where the consumer found it, and the content's object id.
      Inputs read from the work tree appear as data with their object id. Both directions by default;
      --depth limits how many links away to go. The same graph is in git itself: a run's spec commit has
      its upstream runs' finishing commits as parents (\`git log --graph refs/runs/<id>\`).
    `,
    examples: [
      ['Where a run came from and what used it', 'git run lineage 3f2a9c'],
      ['Only the runs that used its outputs, one link away', 'git run lineage --downstream --depth 1 prepare'],
      ['As a picture', 'git run lineage --dot 3f2a9c | dot -Tsvg > lineage.svg'],
    ],
  });

  upstream = Option.Boolean('--upstream', false, { description: 'only the runs and data it took inputs from' });
  downstream = Option.Boolean('--downstream', false, { description: 'only the runs that took its outputs' });
  depth = Option.String('--depth', { description: 'how many links away to go (default: all)' });
  json = Option.Boolean('--json', false, { description: 'one JSON object: root, nodes, edges' });
  dot = Option.Boolean('--dot', false, { description: 'a Graphviz digraph' });
  run_ = Option.String({ name: 'run' });

  async run(): Promise<number> {
    if (this.json && this.dot) throw new GitRunError(ErrorCode.BadOption, '--json and --dot are two forms of the same graph', 'choose one');
    let depth: number | undefined;
    if (this.depth !== undefined) {
      depth = Number(this.depth);
      if (!/^\d+$/.test(this.depth) || depth < 1) throw new GitRunError(ErrorCode.BadOption, `--depth takes a whole number of 1 or more, not '${escapeText(this.depth)}'`, 'e.g. --depth 1 for the runs one link away');
    }
    const direction = this.upstream === this.downstream ? 'both' : this.upstream ? 'upstream' : 'downstream';
    const repo = await repoAt();
    const g = await lineage(repo, this.run_, { direction, ...(depth !== undefined ? { depth } : {}) });
    if (this.json) this.out(JSON.stringify(g) + '\n');
    else if (this.dot) this.out(toDot(g));
    else this.out(toText(g, this.color));
    return 0;
  }
}

/** A run as one line: id, status, name (or command). */
function runLabel(n: LineageNode, color: boolean): string {
  if (n.kind === 'data') return `work tree ${escapeText(n.path)}`;
  if (n.missing) return `${short(n.id)} (not in this repository)`;
  const status = n.status ? paint(n.status, n.status, color) : '?';
  const what = n.name !== null ? escapeText(n.name) : n.command ? commandLine(n.command) : '';
  return `${short(n.id)} ${status}${what ? ` ${what}` : ''}`;
}

const moved = (e: LineageEdge) => `${e.fromPath === null ? '?' : escapeText(e.fromPath)} as ${escapeText(e.path)} (${e.oid.slice(0, 12)})`;

/**
 * A tree for each direction, indented by distance: each line is a run (or
 * work-tree data) and the link that joins it to the line above. A run met
 * again (two paths lead to it) is named and not expanded twice.
 */
function toText(g: Lineage, color: boolean): string {
  const nodes = new Map(g.nodes.map((n) => [n.id, n]));
  const root = nodes.get(g.root)!;
  const into = new Map<string, LineageEdge[]>();
  const outOf = new Map<string, LineageEdge[]>();
  for (const e of g.edges) {
    (into.get(e.to) ?? into.set(e.to, []).get(e.to)!).push(e);
    (outOf.get(e.from) ?? outOf.set(e.from, []).get(e.from)!).push(e);
  }
  let out = `${runLabel(root, color)}\n`;
  const walk = (side: 'upstream' | 'downstream') => {
    const shown = new Set<string>([g.root]);
    const lines: string[] = [];
    const visit = (id: string, indent: string) => {
      const links = (side === 'upstream' ? into : outOf).get(id) ?? [];
      for (const e of links) {
        const other = side === 'upstream' ? e.from : e.to;
        const n = nodes.get(other)!;
        const again = shown.has(other);
        lines.push(`${indent}${side === 'upstream' ? '<-' : '->'} ${runLabel(n, color)}: ${moved(e)}${again && n.kind === 'run' ? ' (see above)' : ''}`);
        if (!again) {
          shown.add(other);
          visit(other, indent + '   ');
        }
      }
    };
    visit(g.root, '  ');
    return lines;
  };
  if (g.direction !== 'downstream') {
    const up = walk('upstream');
    out += `upstream:${up.length ? '' : ' none'}\n${up.map((l) => l + '\n').join('')}`;
  }
  if (g.direction !== 'upstream') {
    const down = walk('downstream');
    out += `downstream:${down.length ? '' : ' none'}\n${down.map((l) => l + '\n').join('')}`;
  }
  return out;
}

/** A DOT string: control characters escaped as the terminal shows them, then backslashes and quotes for DOT; parts joined by DOT's \n. */
const dotString = (...parts: string[]) => `"${parts.map((p) => escapeText(p).replace(/\\/g, '\\\\').replace(/"/g, '\\"')).join('\\n')}"`;

/** Graphviz: runs as boxes (the root bold), work-tree data as notes, each link labelled with its paths and object id. */
function toDot(g: Lineage): string {
  let out = 'digraph lineage {\n  rankdir=LR;\n  node [shape=box, fontname="monospace"];\n';
  for (const n of g.nodes) {
    if (n.kind === 'data') out += `  ${dotString(n.id)} [shape=note, label=${dotString('work tree', n.path, n.oid.slice(0, 12))}];\n`;
    else {
      const label = n.missing ? [short(n.id), '(not in this repository)'] : [short(n.id), ...(n.name !== null ? [n.name] : []), n.status ?? '?'];
      out += `  ${dotString(n.id)} [label=${dotString(...label)}${n.id === g.root ? ', style=bold' : n.missing ? ', style=dashed' : ''}];\n`;
    }
  }
  for (const e of g.edges) out += `  ${dotString(e.from)} -> ${dotString(e.to)} [label=${dotString(`${e.fromPath ?? '?'} -> ${e.path}`, e.oid.slice(0, 12))}];\n`;
  return out + '}\n';
}
