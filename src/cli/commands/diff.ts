import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, diffRuns, type RunDiff, type KeyedDiff } from '../../api/index.js';
import { commandLine, duration, formatNumber, humanSize, paint, short, valueText } from '../render.js';
import { escapeText } from '../escape.js';

const sgr = (code: string, color: boolean) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);

const show = valueText;

/** Columns padded to their widest cell; `right` columns right-aligned. Color is added after padding. */
function table(rows: string[][], right: boolean[], paint: Array<(s: string) => string> = []): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    r
      .map((cell, c) => {
        const padded = right[c] ? cell.padStart(widths[c]!) : c === r.length - 1 ? cell : cell.padEnd(widths[c]!);
        return paint[c] ? paint[c]!(padded) : padded;
      })
      .join('  ')
      .trimEnd(),
  );
}

export default class DiffCommand extends GitRunCommand {
  static override paths = [['diff']];
  static override usage = Command.Usage({
    description: 'show what differs between two runs',
    details: `
      Compares two runs section by section and shows only the sections that differ (--all: every one): code (git's diffstat of the two snapshot trees, with the commits they came from and whether the work tree was dirty), command, cwd, params, seed, env, run_args, host, metrics (a, b, delta and relative change), outputs (by content) and result (status, exit code, duration).

      Entries of params, env, run_args and outputs are marked \`+\` (only in b), \`-\` (only in a) or \`~\` (changed). Paths after the runs (or after \`--\`) limit the code diff, as they do for git diff. A word that names a run is taken as a run: write a path that looks like a run id as ./<path>.
    `,
    examples: [
      ['What changed between two runs', 'git run diff 3f2a9c 7d8e1b'],
      ['With the full patch of the code', 'git run diff -p 3f2a9c 7d8e1b'],
      ['Only the code under src/', 'git run diff -p 3f2a9c 7d8e1b -- src/'],
      ['As one JSON object', 'git run diff --json 3f2a9c 7d8e1b'],
    ],
  });

  patch = Option.Boolean('-p,--patch', false, { description: 'show the full patch of the code, after the sections' });
  all = Option.Boolean('--all', false, { description: 'show every section, and the unchanged entries, even when equal' });
  json = Option.Boolean('--json', false, { description: 'print one JSON object' });
  args = Option.Rest({ name: 'a> <b> [--] [<path>' });

  async run(): Promise<number> {
    const repo = await repoAt();
    const stdout = this.context.stdout as NodeJS.WriteStream;
    const terminal = !this.json && this.color;
    const d = await diffRuns(repo, this.args, { all: this.all, patch: this.patch, terminal, ...(stdout.columns ? { columns: stdout.columns } : {}) });
    if (this.json) {
      this.out(JSON.stringify(d) + '\n');
      return 0;
    }
    this.out(render(d, this.color));
    return 0;
  }
}

function render(d: RunDiff, color: boolean): string {
  const bold = sgr('1', color);
  const red = sgr('31', color);
  const green = sgr('32', color);
  const yellow = sgr('33', color);
  const lines: string[] = [];
  const head = (s: string) => lines.push(bold(`${s}:`));
  /** `a -> b`, or just `a` when equal (shown with --all). */
  const arrow = (a: string, b: string) => (a === b ? a : `${red(a)} -> ${green(b)}`);
  const marker = (m: string) => (m === '+' ? green(m) : m === '-' ? red(m) : m === '~' ? yellow(m) : m);

  lines.push(red(`--- a ${short(d.a.id)}${d.a.name ? `  ${escapeText(d.a.name)}` : ''}`));
  lines.push(green(`+++ b ${short(d.b.id)}${d.b.name ? `  ${escapeText(d.b.name)}` : ''}`));

  /** `  + name  value` lines, names padded to the widest. */
  const marked = (raw: Array<[string, string, string]>) => {
    // Names of params, env, run_args and outputs are data too.
    const entries = raw.map(([m, n, v]): [string, string, string] => [m, escapeText(n), v]);
    const w = Math.max(...entries.map((e) => e[1].length));
    return entries.map(([m, n, v]) => `  ${marker(m)} ${n.padEnd(w)}  ${v}`.trimEnd());
  };
  const keyed = (title: string, k: KeyedDiff) => {
    head(title);
    const entries: Array<[string, string, string]> = [];
    for (const [n, x] of Object.entries(k.unchanged ?? {})) entries.push([' ', n, show(x)]);
    for (const [n, x] of Object.entries(k.removed)) entries.push(['-', n, show(x)]);
    for (const [n, x] of Object.entries(k.added)) entries.push(['+', n, show(x)]);
    for (const [n, p] of Object.entries(k.changed)) entries.push(['~', n, `${show(p.a)} -> ${show(p.b)}`]);
    entries.sort((x, y) => (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
    if (!entries.length) lines.push('  (none)');
    else lines.push(...marked(entries));
  };

  if (d.code) {
    head('code');
    const side = (c: RunDiff['code'] & object, s: 'a' | 'b') => {
      const x = c[s];
      return `  ${s}: tree ${short(x.tree)}${x.commit ? ` on commit ${short(x.commit)}` : ' (no commit)'}${x.dirty ? ', dirty' : ''}`;
    };
    lines.push(side(d.code, 'a'), side(d.code, 'b'));
    for (const l of d.code.stat.replace(/\n$/, '').split('\n')) if (l) lines.push(` ${l}`);
  }
  if (d.command) {
    head('command');
    lines.push(`  a: ${commandLine(d.command.a)}`, `  b: ${commandLine(d.command.b)}`);
  }
  if (d.cwd) lines.push(`${bold('cwd:')} ${arrow(d.cwd.a || '(top)', d.cwd.b || '(top)')}`);
  if (d.params) keyed('params', d.params);
  if (d.seed) lines.push(`${bold('seed:')} ${arrow(String(d.seed.a), String(d.seed.b))}`);
  if (d.env) keyed('env', d.env);
  if (d.runArgs) keyed('run_args', d.runArgs);
  if (d.host) lines.push(`${bold('host:')} ${arrow(d.host.a, d.host.b)}`);
  if (d.metrics) {
    head('metrics');
    const num = (x: number | null) => (x === null ? '-' : formatNumber(x));
    const signed = (x: number | null, suffix = '') => (x === null ? '-' : `${x > 0 ? '+' : ''}${formatNumber(x)}${suffix}`);
    const rows = Object.entries(d.metrics).map(([n, m]) => [escapeText(n), num(m.a), num(m.b), signed(m.delta), signed(m.percent === null ? null : Number(m.percent.toPrecision(3)), '%')]);
    if (!rows.length) lines.push('  (none)');
    else lines.push(...table([['name', 'a', 'b', 'delta', 'change'], ...rows], [false, true, true, true, true], [(s) => `  ${s}`]));
  }
  if (d.outputs) {
    head('outputs');
    const o = d.outputs;
    const entries: Array<[string, string, string]> = [
      ...(o.unchanged ?? []).map((f): [string, string, string] => [' ', f.path, humanSize(f.size)]),
      ...o.removed.map((f): [string, string, string] => ['-', f.path, humanSize(f.size)]),
      ...o.added.map((f): [string, string, string] => ['+', f.path, humanSize(f.size)]),
      ...o.changed.map((f): [string, string, string] => ['~', f.path, `${humanSize(f.a.size)} -> ${humanSize(f.b.size)}`]),
    ];
    entries.sort((x, y) => (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
    if (!entries.length) lines.push('  (none)');
    else lines.push(...marked(entries));
  }
  if (d.result) {
    head('result');
    const { a, b } = d.result;
    const st = a.status === b.status ? paint(a.status, a.status, color) : `${paint(a.status, a.status, color)} -> ${paint(b.status, b.status, color)}`;
    const how = (r: typeof a) => (r.signal ? `signal ${r.signal}` : r.exitCode === null ? '-' : String(r.exitCode));
    const dur = (r: typeof a) => (r.duration === null ? '-' : duration(r.duration));
    lines.push(`  status:    ${st}`, `  exit code: ${arrow(how(a), how(b))}`, `  duration:  ${dur(a) === dur(b) ? dur(a) : `${dur(a)} -> ${dur(b)}`}`);
  }
  if (lines.length === 2) lines.push('(no differences)');
  let text = lines.join('\n') + '\n';
  if (d.code?.patch) text += '\n' + d.code.patch;
  return text;
}
