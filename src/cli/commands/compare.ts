import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, compareRuns, type Comparison } from '../../api/index.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';
import { formatNumber, paint, short, yellow } from '../render.js';
import { escapeText } from '../escape.js';

/** A cell's text: numbers as formatNumber writes them, text as is, anything else as JSON. */
const cell = (x: unknown): string => (typeof x === 'number' ? formatNumber(x) : escapeText(typeof x === 'string' ? x : JSON.stringify(x)));

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
const csvField = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export default class CompareCommand extends GitRunCommand {
  static override paths = [['compare']];
  static override usage = Command.Usage({
    description: 'compare runs side by side: their params and metrics in a table',
    details: `
      One row per run (a group stands for its children; --where selects runs by an expression, alone or among the runs named): id, status, name, then each param that varies among the runs (--all-params: every param), then each metric (or those named with --metric). Missing values show as \`-\`.

      --sort takes a column: id, status, name, created, param:NAME or metric:NAME; a leading \`-\` sorts descending, written with \`=\` so it is not read as an option (--sort=-metric:acc). Runs without the value come last. The default order is creation time.

      --json prints one object per run and line (params and metrics hold the table's columns, null where missing); --csv prints the table as CSV (RFC 4180) with a header row, params as param:NAME and metrics as metric:NAME, missing values empty.
    `,
    examples: [
      ['The children of a sweep', 'git run compare 3f2a9c'],
      ['Best accuracy first', 'git run compare 3f2a9c --sort=-metric:acc'],
      ['Two runs, one metric, every param', 'git run compare 3f2a9c 7d8e1b --metric loss --all-params'],
      ['For a spreadsheet', 'git run compare 3f2a9c --csv > runs.csv'],
      ['Every run with a good accuracy', "git run compare --where 'metrics.acc > 0.9'"],
    ],
  });

  allParams = Option.Boolean('--all-params', false, { description: 'every param, not only those that vary' });
  metric = Option.Array('--metric', { description: 'only this metric (repeatable)' });
  where = Option.String('--where', { description: "only the runs this expression selects (as git run log --where), e.g. 'metrics.acc > 0.9'" });
  sort = Option.String('--sort', { description: 'sort by a column: id, status, name, created, param:NAME, metric:NAME; --sort=-COLUMN descends' });
  json = Option.Boolean('--json', false, { description: 'one JSON object per line' });
  csv = Option.Boolean('--csv', false, { description: 'CSV with a header row' });
  runs = Option.Rest({ name: 'run' });

  async run(): Promise<number> {
    if (this.json && this.csv) throw new GitRunError(ErrorCode.BadOption, '--json and --csv cannot be used together', 'choose one output format: --json (one object per line) or --csv');
    const repo = await repoAt();
    const c = await compareRuns(repo, this.runs, {
      allParams: this.allParams,
      ...(this.metric ? { metrics: this.metric } : {}),
      ...(this.sort !== undefined ? { sort: this.sort } : {}),
      ...(this.where !== undefined ? { where: this.where } : {}),
    });
    if (this.json) {
      for (const r of c.rows) this.out(JSON.stringify({ id: r.id, status: r.status, name: r.name, params: r.params, metrics: r.metrics }) + '\n');
    } else if (this.csv) {
      this.out(toCsv(c));
    } else {
      this.out(toTable(c, this.color));
    }
    return 0;
  }
}

/** Full precision for a machine: numbers as JavaScript writes them, missing values empty. */
const csvValue = (x: unknown): string => (x === null || x === undefined ? '' : typeof x === 'string' ? x : typeof x === 'number' ? String(x) : JSON.stringify(x));

function toCsv(c: Comparison): string {
  const header = ['id', 'status', 'name', ...c.params.map((p) => `param:${p}`), ...c.metrics.map((m) => `metric:${m}`)];
  const lines = [header, ...c.rows.map((r) => [r.id, r.status, r.name ?? '', ...c.params.map((p) => csvValue(r.params[p])), ...c.metrics.map((m) => csvValue(r.metrics[m]))])];
  return lines.map((l) => l.map(csvField).join(',') + '\r\n').join('');
}

function toTable(c: Comparison, color: boolean): string {
  const header = ['id', 'status', 'name', ...c.params.map((p) => `param:${p}`), ...c.metrics.map((m) => `metric:${m}`)].map(escapeText);
  const values: unknown[][] = c.rows.map((r) => [short(r.id), r.status, r.name, ...c.params.map((p) => r.params[p]), ...c.metrics.map((m) => r.metrics[m])]);
  const text = values.map((row) => row.map((x) => (x === null || x === undefined ? '-' : cell(x))));
  // A column of numbers (missing values aside) is right-aligned, header included.
  const right = header.map((_, i) => i >= 3 && values.some((row) => typeof row[i] === 'number') && values.every((row) => row[i] === null || typeof row[i] === 'number'));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((row) => row[i]!.length)));
  const line = (row: string[], paintCell: (s: string, i: number) => string) =>
    row
      .map((s, i) => paintCell(right[i] ? s.padStart(widths[i]!) : i === row.length - 1 ? s : s.padEnd(widths[i]!), i))
      .join('  ')
      .trimEnd() + '\n';
  let out = line(header, (s) => s);
  c.rows.forEach((r, n) => {
    out += line(text[n]!, (s, i) => (i === 0 ? yellow(s, color) : i === 1 ? paint(s, r.status, color) : s));
  });
  return out;
}
