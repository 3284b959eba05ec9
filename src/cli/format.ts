/**
 * `git run log --format`: placeholders for every field of a run, in git's
 * style: %H and %h (id), %n (newline), %% (a percent sign), and %(name) for
 * the rest, with %(param:NAME) and %(metric:NAME). The format is checked
 * before anything is read, and an unknown field names the closest one.
 */
import type { RunView } from '../api/index.js';
import { GitRunError, ErrorCode } from '../api/index.js';
import { closest } from '../core/definition.js';
import { metricStats } from '../core/metrics.js';
import { commandLine, duration, formatNumber, runDuration, exitSummary, valueText } from './render.js';
import { escapeText } from './escape.js';

/** A key's own value: user keys such as `__proto__` are data, not the prototype. */
const own = <T>(o: Record<string, T> | null | undefined, k: string): T | undefined => (o && Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);

type Field = (v: RunView) => string;

const iso = (s: string | null | undefined) => s ?? '';

const FIELDS: Record<string, Field> = {
  id: (v) => v.id,
  short: (v) => v.id.slice(0, 12),
  status: (v) => v.status,
  name: (v) => v.meta.name ?? '',
  notes: (v) => v.meta.notes ?? '',
  tags: (v) => v.meta.tags.join(','),
  command: (v) => commandLine(v.spec.command),
  cwd: (v) => v.spec.cwd,
  seed: (v) => String(v.spec.seed),
  host: (v) => v.spec.host,
  creator: (v) => v.spec.creator,
  author: (v) => v.spec.creator,
  created: (v) => v.spec.createdAt,
  date: (v) => v.spec.createdAt,
  started: (v) => iso(v.result?.startedAt ?? v.state?.startedAt),
  ended: (v) => iso(v.result?.endedAt),
  duration: (v) => {
    const d = runDuration(v);
    return d === null ? '' : duration(d);
  },
  seconds: (v) => {
    const d = runDuration(v);
    return d === null ? '' : String(d / 1000);
  },
  exit: (v) => (v.result?.exitCode ?? '') + '',
  result: (v) => exitSummary(v),
  error: (v) => v.result?.error ?? '',
  commit: (v) => v.spec.code.commit ?? '',
  tree: (v) => v.spec.code.tree,
  dirty: (v) => (v.spec.code.dirty ? 'dirty' : ''),
  parent: (v) => v.spec.parent ?? '',
  kind: (v) => v.spec.kind ?? 'run',
  key: (v) => v.spec.key,
  params: (v) => Object.entries(v.spec.params).map(([k, x]) => `${k}=${valueText(x)}`).join(' '),
  metrics: (v) => Object.entries(v.metrics ?? {}).map(([k, x]) => `${k}=${formatNumber(x)}`).join(' '),
};

const SHORT: Record<string, Field | string> = { H: FIELDS.id!, h: FIELDS.short!, n: '\n', '%': '%' };

type Stat = 'last' | 'min' | 'max' | 'count';

/** A statistic of a metric's history (decision 0020): %(metric.min:NAME), or %(metric:NAME.min) when no metric is named NAME.min. */
function statText(v: RunView, name: string, stat: Stat): string {
  const s = (v.metricStats ?? metricStats(null, v.metrics)).get(name);
  return s ? formatNumber(s[stat]) : '';
}

/** Compile a --format string; throws on an unknown or malformed placeholder. */
export function compileFormat(format: string): (v: RunView) => string {
  const parts: Array<string | Field> = [];
  let i = 0;
  let lit = '';
  const bad = (msg: string, hint: string): never => {
    throw new GitRunError(ErrorCode.UnknownField, `--format: ${msg} at column ${i + 1}`, `${hint}\n  ${format}\n  ${' '.repeat(i)}^`);
  };
  while (i < format.length) {
    const c = format[i]!;
    if (c !== '%') {
      lit += c;
      i++;
      continue;
    }
    const next = format[i + 1];
    if (next === '(') {
      const end = format.indexOf(')', i + 2);
      if (end < 0) bad("'%(' without its ')'", 'close the placeholder: %(status)');
      const inner = format.slice(i + 2, end);
      const m = /^(param|metric(?:\.(last|min|max|count))?):(.+)$/.exec(inner);
      let f: Field | undefined;
      if (m) {
        const name = m[3]!;
        const stat = m[2] as Stat | undefined;
        f =
          m[1] === 'param'
            ? (v) => {
                const x = own(v.spec.params, name);
                return x === undefined ? '' : typeof x === 'string' ? x : JSON.stringify(x);
              }
            : stat
              ? (v) => statText(v, name, stat)
              : (v) => {
                  const x = own(v.metrics, name);
                  if (x !== undefined) return formatNumber(x);
                  // metric:loss.min: the statistic, when no metric has that name itself.
                  const s = /^(.+)\.(last|min|max|count)$/.exec(name);
                  return s ? statText(v, s[1]!, s[2] as Stat) : '';
                };
      } else f = own(FIELDS, inner);
      if (!f) {
        const near = closest(inner, Object.keys(FIELDS));
        bad(`unknown field '%(${inner})'`, `${near ? `did you mean %(${near})? ` : ''}fields: ${Object.keys(FIELDS).join(', ')}, param:NAME, metric:NAME, metric:NAME.min (.max, .count), metric.min:NAME`);
      }
      if (lit) parts.push(lit), (lit = '');
      parts.push(f!);
      i = end + 1;
      continue;
    }
    const s = next !== undefined ? own(SHORT, next) : undefined;
    if (s === undefined) bad(`unknown placeholder '%${next ?? ''}'`, 'use %H, %h, %n, %% or %(field); a literal percent sign is %%');
    if (typeof s === 'string') lit += s;
    else {
      if (lit) parts.push(lit), (lit = '');
      parts.push(s!);
    }
    i += 2;
  }
  if (lit) parts.push(lit);
  // The format's own text is the user's; the fields are data from anywhere (decision 0011).
  return (v) => parts.map((p) => (typeof p === 'string' ? p : escapeText(p(v)))).join('');
}
