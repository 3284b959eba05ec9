/**
 * How runs look on a terminal. Plain text when piped; color only on a TTY.
 */
import type { RunView } from '../api/index.js';
import { jobOf } from '../core/record.js';
import type { Status } from '../core/record.js';
import { historyErrorsOf } from '../core/metrics.js';
import { escapeText, escapeLines } from './escape.js';

const COLORS: Record<Status, string> = {
  queued: '\x1b[36m',
  running: '\x1b[34m',
  succeeded: '\x1b[32m',
  failed: '\x1b[31m',
  cancelled: '\x1b[33m',
  lost: '\x1b[35m',
};

export const short = (id: string) => id.slice(0, 12);

export function paint(s: string, status: Status, color: boolean): string {
  return color ? `${COLORS[status]}${s}\x1b[0m` : s;
}

export function yellow(s: string, color: boolean): string {
  return color ? `\x1b[33m${s}\x1b[0m` : s;
}

/** Quote an argument only when a shell would need it, so the line can be pasted; control characters as bash's $'...' escapes. */
export function shellQuote(arg: string): string {
  if (arg !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  if (escapeText(arg) !== arg) return `$'${escapeText(arg.replace(/\\/g, '\\\\').replace(/'/g, "\\'"))}'`;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A param, env or run_arg value as a person reads it. */
export const valueText = (x: unknown): string => escapeText(typeof x === 'string' ? x : JSON.stringify(x));

export const commandLine = (argv: string[]) => argv.map(shellQuote).join(' ');

export function duration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}

export function runDuration(v: RunView): number | null {
  const start = v.result?.startedAt ?? v.state?.startedAt;
  if (!start) return null;
  const end = v.result?.endedAt ? Date.parse(v.result.endedAt) : Date.now();
  return end - Date.parse(start);
}

export function gitDate(iso: string): string {
  const d = new Date(iso);
  return d.toString().replace(/ GMT([+-]\d{4}).*$/, ' $1');
}

export function exitSummary(v: RunView): string {
  const r = v.result;
  if (!r) return '';
  if (r.signal) return `killed by ${r.signal}`;
  if (r.exitCode !== null) return `exit ${r.exitCode}`;
  return escapeText(r.error ?? '');
}

/** A metric as a person reads it: up to 6 significant digits, no float noise (0.30000000000000004 -> 0.3). */
export function formatNumber(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6)));
}

export function humanSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(1)} ${units[i]}`;
}

/** One line per run: id, status, command, name. */
export function oneline(v: RunView, color: boolean): string {
  return onelineOf(v.id, v.status, v.spec.command, v.meta.name, color);
}

/** The same line from its four fields (`git run log --oneline` served from the index's rows: see readLines). */
export function onelineOf(id: string, status: Status, command: string[], name: string | null | undefined, color: boolean): string {
  const label = name ? `  (${escapeText(name)})` : '';
  return `${yellow(short(id), color)} ${paint(status.padEnd(9), status, color)} ${commandLine(command)}${label}`;
}

/** A block like `git log`'s. */
export function block(v: RunView, color: boolean): string {
  const lines = [`${yellow(`run ${v.id}`, color)} (${paint(v.status, v.status, color)})`];
  const code = v.spec.code;
  lines.push(`Command: ${commandLine(v.spec.command)}${v.spec.cwd ? `   (in ${escapeText(v.spec.cwd)})` : ''}`);
  lines.push(`Code:    tree ${code.tree.slice(0, 12)}${code.commit ? ` on commit ${code.commit.slice(0, 12)}` : ' (no commit)'}${code.dirty ? ', dirty' : ''}`);
  lines.push(`Author:  ${escapeText(v.spec.creator)}`);
  lines.push(`Date:    ${gitDate(v.spec.createdAt)}`);
  const params = Object.entries(v.spec.params);
  if (params.length) lines.push(`Params:  ${params.map(([k, x]) => `${escapeText(k)}=${valueText(x)}`).join(' ')}`);
  lines.push(`Seed:    ${v.spec.seed}`);
  lines.push(`Host:    ${escapeText(v.spec.host)}${v.result?.host ? ` (${escapeText(v.result.host.hostname)})` : ''}`);
  const job = jobOf(v.state);
  // The job id is the host's word (a handle in git): escaped like any text from elsewhere.
  if (job) lines.push(`Job:     ${escapeText(job.id)}${job.name ? ` (${escapeText(job.name)})` : ''}`);
  const d = runDuration(v);
  const ex = exitSummary(v);
  if (d !== null || ex) lines.push(`Result:  ${[ex, d !== null ? duration(d) : ''].filter(Boolean).join(', ')}`);
  if (v.result?.error && v.result.exitCode !== null) lines.push(`Error:   ${escapeText(v.result.error)}`);
  const metrics = Object.entries(v.metrics ?? {});
  if (metrics.length) lines.push(`Metrics: ${metrics.map(([k, x]) => `${escapeText(k)}=${formatNumber(x)}`).join(' ')}`);
  if (v.result?.metricsError) lines.push(`Metrics: none (${escapeText(v.result.metricsError)})`);
  const me = historyErrorsOf(v.result?.metricsErrors);
  if (me) lines.push(me.lines ? `Metrics history: ${me.lines} broken line${me.lines === 1 ? '' : 's'} skipped (${escapeText(me.first)})` : `Metrics history: not read (${escapeText(me.first)})`);
  if (v.meta.tags.length) lines.push(`Tags:    ${v.meta.tags.map(escapeText).join(', ')}`);
  if (v.meta.name) lines.push('', `    ${escapeText(v.meta.name)}`);
  if (v.meta.notes) lines.push('', ...escapeLines(v.meta.notes).map((l) => `    ${l}`));
  return lines.join('\n') + '\n';
}
