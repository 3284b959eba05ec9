import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, openIndex, selectRuns, readViews, readLines, runToJson, parseStatuses, pagerCommand, colorWanted, groupRuns, GitRunError, ErrorCode, type RunQuery, type GroupKey, type GroupCell } from '../../api/index.js';
import { escapeText } from '../escape.js';
import { block, oneline, onelineOf, formatNumber } from '../render.js';
import { compileFormat } from '../format.js';

export default class LogCommand extends GitRunCommand {
  static override paths = [['log']];
  static override usage = Command.Usage({
    description: 'list runs, newest first, selected like commits',
    details: `
      Selects runs the way \`git log\` selects commits, through git-run's index (rebuilt from git when missing).
      Repeating --author, --grep, --tag, --host or --status means any of them; every --param must hold.
      A revision range and paths select runs whose source commit \`git rev-list\` gives.

      --where takes an expression over params.NAME, metrics.NAME, status, name, notes, tags, host, seed,
      exit_code, author, commit, created, started, ended and duration: and, or, not, parentheses,
      = != < <= > >=, in (...), contains. Numbers compare as numbers. Lineage: upstream = <run> (runs that
      took an input from that run's outputs), downstream = <run> (runs whose outputs that run took), each
      an id prefix or a name, and input = <object id prefix> (runs that took that content), with = != in.
    `,
    examples: [
      ['The last five runs, one line each', 'git run log -n 5 --oneline'],
      ['Runs of good accuracy with a large learning rate', "git run log --where 'params.lr > 0.01 and metrics.acc >= 0.9'"],
      ['Runs of the last ten commits that touched the model', 'git run log main~10..main -- src/model.py'],
      ['A custom line', "git run log --format '%h %(param:lr) %(metric:acc)'"],
      ['Runs that trained on what the run named prepare produced', "git run log --where 'upstream = prepare' --oneline"],
      ['Repeated runs aggregated by learning rate', 'git run log --group-by param:lr'],
    ],
  });

  limit = Option.String('-n,--max-count', { description: 'show at most N runs' });
  oneline = Option.Boolean('--oneline', false, { description: 'one line per run' });
  format = Option.String('--format,--pretty', { description: 'a line per run with placeholders: %H %h %n %% %(status) %(param:NAME) %(metric:NAME)...' });
  json = Option.Boolean('--json', false, { description: 'one JSON object per line' });
  status = Option.Array('--status', { description: 'only runs with this status (comma-separated list)' });
  since = Option.String('--since,--after', { description: 'only runs created at or after this date' });
  until = Option.String('--until,--before', { description: 'only runs created at or before this date' });
  author = Option.Array('--author', { description: 'creator matches this regular expression' });
  grep = Option.Array('--grep', { description: 'name or notes match this regular expression' });
  tag = Option.Array('--tag', { description: 'runs with this tag' });
  host = Option.Array('--host', { description: 'runs on this host profile' });
  param = Option.Array('--param,-p', { description: 'NAME=VALUE: runs with this param value' });
  parent = Option.String('--parent', { description: 'only the children of this group' });
  children = Option.Boolean('--children', { description: 'include the children of groups (the default); --no-children leaves them out' });
  where = Option.String('--where', { description: 'an expression over params, metrics, status, tags, times...' });
  groupBy = Option.Array('--group-by', { description: 'param:NAME or seed: aggregate the metrics of the runs in each group (repeatable: one row per combination)' });
  noPager = Option.Boolean('--no-pager', false, { description: 'do not page the output' });
  colorWhen = Option.String('--color', { tolerateBoolean: true, description: 'always, never or auto (--no-color: never)' });
  rest = Option.Rest();

  async run(): Promise<number> {
    let limit: number | undefined;
    if (this.limit !== undefined) {
      limit = Number(this.limit);
      if (!Number.isInteger(limit) || limit < 0) throw new GitRunError(ErrorCode.BadOption, `-n takes a whole number, not '${this.limit}'`, 'e.g. git run log -n 10');
    }
    // --group-by prints a table, or with --json one object per group.
    const forms = [this.oneline && '--oneline', this.format !== undefined && '--format', this.json && !this.groupBy && '--json', this.groupBy !== undefined && !this.json && '--group-by'].filter(Boolean);
    if (forms.length > 1) throw new GitRunError(ErrorCode.BadOption, `${forms.join(' and ')} cannot be combined`, 'choose one output form');
    const render = this.format !== undefined ? compileFormat(this.format) : null;
    const groupBy = this.groupBy !== undefined ? parseGroupBy(this.groupBy) : null;
    const params = (this.param ?? []).map((p): [string, string] => {
      const eq = p.indexOf('=');
      if (eq <= 0) throw new GitRunError(ErrorCode.BadOption, `--param takes NAME=VALUE, not '${p}'`, 'e.g. --param lr=0.1');
      return [p.slice(0, eq), p.slice(eq + 1)];
    });
    // clipanion drops `--` from the positionals: what followed it on the command line are paths.
    const argv = process.argv.slice(2);
    const dd = argv.indexOf('--');
    const paths = dd >= 0 ? argv.slice(dd + 1) : [];
    const revisions = this.rest.slice(0, this.rest.length - paths.length);
    const query: RunQuery = {
      ...(this.where !== undefined ? { where: this.where } : {}),
      ...(this.status ? { status: this.status.flatMap((s) => parseStatuses(s) ?? []) } : {}),
      ...(this.since !== undefined ? { since: this.since } : {}),
      ...(this.until !== undefined ? { until: this.until } : {}),
      ...(this.author ? { author: this.author } : {}),
      ...(this.grep ? { grep: this.grep } : {}),
      ...(this.tag ? { tags: this.tag } : {}),
      ...(this.host ? { hosts: this.host } : {}),
      ...(params.length ? { params } : {}),
      ...(this.parent !== undefined ? { parent: this.parent } : {}),
      ...(this.children === false ? { children: false } : {}),
      ...(revisions.length || dd >= 0 ? { revisions, paths, dashDash: dd >= 0 } : {}),
      ...(limit !== undefined && !groupBy ? { limit } : {}),
    };
    const repo = await repoAt();
    const tty = !!(this.context.stdout as NodeJS.WriteStream).isTTY;
    const when = typeof this.colorWhen === 'boolean' ? (this.colorWhen ? 'always' : 'never') : this.colorWhen;
    // Asked now (it may start `git config`), answered while the index opens and selects.
    const colorP = colorWanted(repo, when, tty && !process.env.NO_COLOR);
    colorP.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    // A first look at a large history reads every run: say so on a terminal.
    const errTty = !!(this.context.stderr as NodeJS.WriteStream).isTTY;
    const index = await openIndex(
      repo,
      errTty
        ? (done, total) => {
            this.err(`\rgit-run: indexing runs: ${done.toLocaleString('en')}/${total.toLocaleString('en')}${done === total ? '\n' : ''}`);
          }
        : undefined,
    );
    try {
      const ids = await selectRuns(repo, query, index);
      const color = await colorP;
      // --oneline from the index's rows when they hold all it shows: no git process (issue 16's dense queries).
      const lines = this.oneline && !groupBy ? readLines(index, ids) : null;
      const out = tty && !this.noPager && !this.json ? await this.pager(await pagerCommand(repo)) : null;
      const write = (s: string) => (out ? out.stdin.write(s) : this.out(s));
      try {
        if (groupBy) {
          const cells = ordered(await groupRuns(repo, index, ids, groupBy));
          write(this.json ? groupJson(cells, groupBy) : groupTable(cells, groupBy));
          return 0;
        }
        if (lines) {
          for (let i = 0; i < lines.length; i += 500) {
            if (out?.closed) break; // the reader quit the pager
            write(lines.slice(i, i + 500).map((l) => onelineOf(l.id, l.status, l.command, l.name, color) + '\n').join(''));
          }
          return 0;
        }
        let first = true;
        for await (const views of readViews(repo, index, ids)) {
          let text = '';
          for (const v of views) {
            if (this.json) text += JSON.stringify(await runToJson(repo, v, index)) + '\n';
            else if (render) text += render(v) + '\n';
            else if (this.oneline) text += oneline(v, color) + '\n';
            else text += (first ? '' : '\n') + block(v, color);
            first = false;
          }
          if (out?.closed) break; // the reader quit the pager
          write(text);
        }
      } finally {
        if (out) await out.done();
      }
      return 0;
    } finally {
      index.close();
    }
  }

  /** Start the pager as git does: through the shell (core.pager is a shell command), LESS=FRX unless set. */
  private async pager(cmd: string | null): Promise<{ stdin: Writable; closed: boolean; done: () => Promise<void> } | null> {
    if (!cmd) return null;
    const child = spawn('sh', ['-c', cmd], {
      stdio: ['pipe', 'inherit', 'inherit'],
      env: { ...process.env, LESS: process.env.LESS ?? 'FRX', LV: process.env.LV ?? '-c' },
    });
    const state = {
      stdin: child.stdin as Writable,
      closed: false,
      done: () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.on('close', () => resolve());
          child.stdin.end();
        }),
    };
    child.stdin.on('error', () => (state.closed = true));
    child.on('close', () => (state.closed = true));
    child.on('error', () => (state.closed = true));
    return state;
  }
}

/** Every --group-by key, each once, in the order given. */
function parseGroupBy(list: string[]): GroupKey[] {
  const keys: GroupKey[] = [];
  for (const s of list) {
    const m = /^param:(.+)$/.exec(s);
    if (s !== 'seed' && !m) throw new GitRunError(ErrorCode.BadOption, `--group-by takes param:NAME or seed, not '${s}'`, 'e.g. --group-by param:lr (repeat it to group by several)');
    const k: GroupKey = m ? { param: m[1]! } : 'seed';
    if (!keys.some((x) => groupLabel(x) === groupLabel(k))) keys.push(k);
  }
  return keys;
}

const groupLabel = (g: GroupKey) => (g === 'seed' ? 'seed' : g.param);

/** Numbers by value, then text, then runs without the value. */
function compareKey(a: string | null, b: string | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  const [x, y] = [Number(a), Number(b)];
  const nx = a !== '' && Number.isFinite(x);
  const ny = b !== '' && Number.isFinite(y);
  if (nx && ny) return x - y;
  if (nx !== ny) return nx ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function ordered(cells: GroupCell[]): GroupCell[] {
  return cells.sort((p, q) => {
    for (let i = 0; i < p.values.length; i++) {
      const c = compareKey(p.values[i]!, q.values[i]!);
      if (c) return c;
    }
    return 0;
  });
}

function groupTable(cells: GroupCell[], keys: GroupKey[]): string {
  const metrics = [...new Set(cells.flatMap((s) => [...s.metrics.keys()]))].sort();
  const header = [...keys.map((k) => escapeText(groupLabel(k))), 'runs', ...metrics.map((m) => `${escapeText(m)} (mean ± std [min, max])`)];
  const rows = cells.map((s) => [
    ...s.values.map((v) => (v === null ? '(none)' : escapeText(v))),
    String(s.count),
    ...metrics.map((m) => {
      const x = s.metrics.get(m);
      return x ? `${formatNumber(x.mean)} ± ${formatNumber(x.std)} [${formatNumber(x.min)}, ${formatNumber(x.max)}]${x.count !== s.count ? ` (n=${x.count})` : ''}` : '-';
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < keys.length ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd() + '\n';
  return line(header) + rows.map(line).join('');
}

function groupJson(cells: GroupCell[], keys: GroupKey[]): string {
  return cells
    .map((s) => {
      // Keys are data: a param named __proto__ is a field like any other.
      const o: Record<string, unknown> = Object.create(null);
      keys.forEach((k, i) => (o[groupLabel(k)] = s.values[i]));
      o.runs = s.count;
      o.metrics = Object.fromEntries(s.metrics);
      return JSON.stringify(o) + '\n';
    })
    .join('');
}
