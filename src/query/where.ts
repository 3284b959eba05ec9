/**
 * The `--where` language of `git run log`, compiled to a boolean SQLite
 * expression over the derived index (`SELECT ... FROM runs r WHERE <sql>`).
 *
 *   expr       := or
 *   or         := and (('or' | '||') and)*
 *   and        := unary (('and' | '&&') unary)*
 *   unary      := ('not' | '!') unary | '(' expr ')' | condition
 *   condition  := field op value | field ['not'] 'in' '(' value (',' value)* ')'
 *               | field ['not'] 'contains' value
 *   op         := = == != <> < <= > >=
 *   field      := params.NAME | metrics.NAME | status | name | ... (FIELDS below)
 *   value      := number | 'string' | "string" | bare word | 1.5h | 2026-11-01 | @1700000000
 *
 * Every user value reaches SQLite as a `?` parameter, never as SQL text.
 *
 * Missing values: a run that lacks a param, a metric or a column value (NULL)
 * matches no condition on it, not even `!=` or `not in`; but every condition
 * compiles to an expression that is 0 or 1, never NULL, so `not` is the
 * exact complement: `not params.lr > 0.1` includes the runs that have no lr,
 * where SQL's three-valued NOT would have dropped them.
 *
 * Params and metrics are tested with correlated EXISTS subqueries keyed by
 * (r.id, name), which the tables' primary keys answer directly: the planner
 * can walk runs in created_at order and stop at the LIMIT.
 *
 * A condition that can only hold for a run with certain rows (a param or
 * metric in a range, a tag, a status) also yields a driver: the same test as
 * a `SELECT ... AS run` over its table's (name, value) index, a superset of
 * the runs the condition holds for. The index starts from the smallest driver
 * when the filter is selective, instead of walking 100,000 runs in time order
 * to find none (src/index/db.ts select).
 */
import { ErrorCode, GitRunError } from '../errors/index.js';
import { closest } from '../core/definition.js';
import { STATUSES } from '../core/record.js';
import { LexError, OPERATOR_HINT, tokenize, type Token } from './lexer.js';
import { DATE_FORMS, DURATION_FORMS, parseDate, parseDuration } from './time.js';

export { parseDate, parseDuration } from './time.js';

export interface WhereContext {
  params: readonly string[];
  metrics: readonly string[];
  now?: Date;
}

export interface CompiledWhere {
  sql: string;
  args: Array<string | number>;
  /** Alternative supersets of the matching runs (each a `SELECT ... AS run`): any one of them may drive the query. */
  drivers: Array<{ sql: string; args: Array<string | number> }>;
}

type Driver = CompiledWhere['drivers'][number];

/** Collects `?` arguments in the order their placeholders are written. */
class Args {
  readonly list: Array<string | number> = [];
  ph(...values: Array<string | number>): string {
    this.list.push(...values);
    return values.map(() => '?').join(', ');
  }
}

type FieldType = 'text' | 'hex' | 'status' | 'kind' | 'int' | 'duration' | 'time' | 'tags' | 'upstream' | 'downstream' | 'input';

interface Column {
  type: FieldType;
  column: string;
  /** The column may be NULL: conditions test IS NOT NULL first so that they stay two-valued. */
  nullable: boolean;
}

const col = (type: FieldType, column: string, nullable = true): Column => ({ type, column, nullable });

/** Bare fields, by lower-case name. */
const FIELDS: Record<string, Column> = {
  status: col('status', 'status', false),
  kind: col('kind', 'kind', false),
  id: col('hex', 'id', false),
  parent: col('hex', 'parent'),
  commit: col('hex', 'source_commit'),
  tree: col('hex', 'tree'),
  name: col('text', 'name'),
  notes: col('text', 'notes'),
  host: col('text', 'host'),
  command: col('text', 'command'),
  author: col('text', 'creator'),
  creator: col('text', 'creator'),
  seed: col('int', 'seed'),
  exit_code: col('int', 'exit_code'),
  exitcode: col('int', 'exit_code'),
  duration: col('duration', 'duration'),
  created: col('time', 'created_at', false),
  createdat: col('time', 'created_at', false),
  date: col('time', 'created_at', false),
  started: col('time', 'started_at'),
  startedat: col('time', 'started_at'),
  ended: col('time', 'ended_at'),
  endedat: col('time', 'ended_at'),
  tags: col('tags', 'tag', false),
  tag: col('tags', 'tag', false),
  upstream: col('upstream', 'upstream', false),
  downstream: col('downstream', 'run', false),
  input: col('input', 'oid', false),
};
/** As a user would write them, for suggestions. */
const FIELD_NAMES = ['status', 'kind', 'id', 'parent', 'commit', 'tree', 'name', 'notes', 'host', 'command', 'author', 'creator', 'seed', 'exit_code', 'exitCode', 'duration', 'created', 'createdAt', 'date', 'started', 'startedAt', 'ended', 'endedAt', 'tags', 'tag', 'upstream', 'downstream', 'input'];
const KINDS = ['run', 'group'];
const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'contains']);
/** Words from other query languages that a user may try in place of an operator. */
const OPERATOR_WORDS = new Set(['is', 'like', 'ilike', 'glob', 'regexp', 'match', 'matches', 'has', 'between', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'equals', 'startswith', 'endswith']);

type Op = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in' | 'contains' | 'not contains';
const COMPARE: Op[] = ['=', '!=', '<', '<=', '>', '>='];
const EQUALITY: Op[] = ['=', '!=', 'in', 'not in'];
const OPS_FOR: Record<FieldType | 'param' | 'metric', Op[]> = {
  param: [...COMPARE, 'in', 'not in', 'contains', 'not contains'],
  metric: [...COMPARE, 'in', 'not in'],
  text: [...COMPARE, 'in', 'not in', 'contains', 'not contains'],
  hex: [...COMPARE, 'in', 'not in', 'contains', 'not contains'],
  status: EQUALITY,
  kind: EQUALITY,
  int: [...COMPARE, 'in', 'not in'],
  duration: [...COMPARE, 'in', 'not in'],
  time: [...COMPARE, 'in', 'not in'],
  tags: ['=', '!=', 'in', 'not in', 'contains', 'not contains'],
  upstream: EQUALITY,
  downstream: EQUALITY,
  input: EQUALITY,
};

/** Guards against a stack overflow in the parser and SQLite's expression depth limit (1000). */
const MAX_DEPTH = 100;
const MAX_CONDITIONS = 300;
/** SQLite allows 32766 parameters; stay well below. */
const MAX_ARGS = 10000;

interface Literal {
  kind: 'number' | 'string' | 'bare' | 'raw';
  /** Decoded text; for numbers and raw words, as typed. */
  text: string;
  start: number;
}

type Field = { kind: 'param'; name: string } | { kind: 'metric'; name: string; stat?: MetricStat } | { kind: 'column'; name: string; column: Column };

type Node =
  | { kind: 'and' | 'or'; items: Node[] }
  | { kind: 'not'; item: Node }
  | { kind: 'cond'; field: Field; op: Op; values: Literal[] };

class WhereError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly at: number,
    readonly fix: string,
  ) {
    super(message);
  }
}

const show = (t: Token) => (t.kind === 'end' ? 'the end' : t.kind === 'string' ? t.text : `'${t.text}'`);

class Parser {
  private pos = 0;
  private conditions = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly ctx: WhereContext,
  ) {}

  private peek(): Token {
    return this.tokens[this.pos]!;
  }
  private next(): Token {
    return this.tokens[this.pos++]!;
  }
  private isWord(t: Token, kw: string): boolean {
    return t.kind === 'word' && !t.quoted && t.value.toLowerCase() === kw;
  }
  private isAnd(t: Token): boolean {
    return this.isWord(t, 'and') || (t.kind === 'sym' && t.value === '&&');
  }
  private isOr(t: Token): boolean {
    return this.isWord(t, 'or') || (t.kind === 'sym' && t.value === '||');
  }
  private isNot(t: Token): boolean {
    return this.isWord(t, 'not') || (t.kind === 'sym' && t.value === '!');
  }

  parse(): Node {
    if (this.peek().kind === 'end') throw new WhereError(ErrorCode.BadExpression, 'empty expression', 0, "write a condition, e.g. status = failed and params.lr > 0.01");
    const node = this.parseOr(0);
    const t = this.peek();
    if (t.kind === 'rparen') throw new WhereError(ErrorCode.BadExpression, "unbalanced parentheses: ')' without a matching '('", t.start, "remove this ')' or add a '(' before the conditions it closes");
    if (t.kind !== 'end') {
      throw new WhereError(ErrorCode.BadExpression, `unexpected ${show(t)} after a complete condition`, t.start, 'join conditions with and / or, and quote values that contain spaces: name = \'my run\'');
    }
    return node;
  }

  private parseOr(depth: number): Node {
    const items = [this.parseAnd(depth)];
    while (this.isOr(this.peek())) {
      this.operand(this.next());
      items.push(this.parseAnd(depth));
    }
    return items.length === 1 ? items[0]! : { kind: 'or', items };
  }

  private parseAnd(depth: number): Node {
    const items = [this.parseUnary(depth)];
    while (this.isAnd(this.peek())) {
      this.operand(this.next());
      items.push(this.parseUnary(depth));
    }
    return items.length === 1 ? items[0]! : { kind: 'and', items };
  }

  /** After and / or / not: there must be a condition next. */
  private operand(after: Token): void {
    const t = this.peek();
    if (t.kind === 'end' || t.kind === 'rparen' || this.isAnd(t) || this.isOr(t)) {
      throw new WhereError(ErrorCode.BadExpression, `missing condition after '${after.text}'`, t.start, `add a condition after '${after.text}', e.g. status = failed`);
    }
  }

  private parseUnary(depth: number): Node {
    if (depth > MAX_DEPTH) throw new WhereError(ErrorCode.BadExpression, `expression nested more than ${MAX_DEPTH} deep`, this.peek().start, 'simplify the expression');
    const t = this.peek();
    if (this.isNot(t)) {
      this.next();
      this.operand(t);
      return { kind: 'not', item: this.parseUnary(depth + 1) };
    }
    if (t.kind === 'lparen') {
      this.next();
      if (this.peek().kind === 'rparen') throw new WhereError(ErrorCode.BadExpression, "empty parentheses '()'", this.peek().start, 'put a condition inside, or remove them');
      const inner = this.parseOr(depth + 1);
      const close = this.peek();
      if (close.kind === 'end') throw new WhereError(ErrorCode.BadExpression, "unbalanced parentheses: '(' is never closed", t.start, "add a ')' where the group ends");
      if (close.kind !== 'rparen') {
        throw new WhereError(ErrorCode.BadExpression, `expected ')' or and / or, found ${show(close)}`, close.start, `close the '(' at column ${t.start + 1} or join conditions with and / or`);
      }
      this.next();
      return inner;
    }
    if (this.isAnd(t) || this.isOr(t)) {
      throw new WhereError(ErrorCode.BadExpression, `missing condition before '${t.text}'`, t.start, `'${t.text}' joins two conditions: put one on each side`);
    }
    if (t.kind === 'end') throw new WhereError(ErrorCode.BadExpression, 'missing condition at the end', t.start, 'finish the expression with a condition, e.g. status = failed');
    if (t.kind === 'rparen') throw new WhereError(ErrorCode.BadExpression, "missing condition before ')'", t.start, "put a condition before ')' or remove it");
    if (t.kind !== 'word' || (!t.quoted && KEYWORDS.has(t.value.toLowerCase()))) {
      throw new WhereError(ErrorCode.BadExpression, `expected a field, found ${show(t)}`, t.start, 'a condition starts with a field: status = failed, params.lr > 0.01, metrics.acc >= 0.9');
    }
    return this.parseCondition();
  }

  private parseCondition(): Node {
    const ft = this.next();
    const field = this.field(ft);
    if (++this.conditions > MAX_CONDITIONS) throw new WhereError(ErrorCode.BadExpression, `more than ${MAX_CONDITIONS} conditions`, ft.start, "use 'in (a, b, ...)' rather than many 'or's");
    const ot = this.next();
    let op: Op;
    if (ot.kind === 'op') op = ot.value as Op;
    else if (this.isWord(ot, 'in')) op = 'in';
    else if (this.isWord(ot, 'contains')) op = 'contains';
    else if (this.isWord(ot, 'not')) {
      const n = this.next();
      if (this.isWord(n, 'in')) op = 'not in';
      else if (this.isWord(n, 'contains')) op = 'not contains';
      else throw new WhereError(ErrorCode.BadExpression, `expected 'in' or 'contains' after 'not', found ${show(n)}`, n.start, `write ${ft.text} not in (a, b) or ${ft.text} not contains x; to negate a condition, put not before the field`);
    } else if (ot.kind === 'end') {
      throw new WhereError(ErrorCode.BadExpression, `missing operator after '${ft.text}'`, ot.start, `${OPERATOR_HINT}, e.g. ${ft.text} = x`);
    } else if ((ot.kind === 'word' && OPERATOR_WORDS.has(ot.value.toLowerCase())) || ot.kind === 'sym') {
      throw new WhereError(ErrorCode.BadExpression, `unknown operator '${ot.text}'`, ot.start, OPERATOR_HINT);
    } else {
      throw new WhereError(ErrorCode.BadExpression, `expected an operator after '${ft.text}', found ${show(ot)}`, ot.start, OPERATOR_HINT);
    }
    const type = field.kind === 'column' ? field.column.type : field.kind;
    if (!OPS_FOR[type].includes(op)) {
      const what = field.kind === 'column' ? `${field.name} (${describe(type)})` : `${ft.text} (${describe(type)})`;
      throw new WhereError(ErrorCode.BadExpression, `'${op}' does not apply to ${what}`, ot.start, `use ${OPS_FOR[type].join(', ')}`);
    }
    let values: Literal[];
    if (op === 'in' || op === 'not in') {
      const open = this.next();
      if (open.kind !== 'lparen') {
        throw new WhereError(ErrorCode.BadExpression, `'${op}' needs a list in parentheses, found ${show(open)}`, open.start, `write ${ft.text} ${op} (a, b, c)`);
      }
      values = [];
      for (;;) {
        if (this.peek().kind === 'rparen' && !values.length) throw new WhereError(ErrorCode.BadExpression, `empty list after '${op}'`, this.peek().start, `put at least one value in the list: ${ft.text} ${op} (a, b)`);
        values.push(this.value(values.length ? ',' : '('));
        const sep = this.next();
        if (sep.kind === 'rparen') break;
        if (sep.kind === 'comma') continue;
        if (sep.kind === 'end') throw new WhereError(ErrorCode.BadExpression, "unbalanced parentheses: the list's '(' is never closed", open.start, "end the list with ')'");
        throw new WhereError(ErrorCode.BadExpression, `expected ',' or ')' in the list, found ${show(sep)}`, sep.start, 'separate values with commas and quote values that contain spaces');
      }
    } else values = [this.value(ot.text)];
    return { kind: 'cond', field, op, values };
  }

  private value(after: string): Literal {
    const t = this.peek();
    const missing = (found: string) =>
      new WhereError(ErrorCode.BadExpression, `missing value after '${after}'${found}`, t.start, "put a value there: a number, a word, or text in quotes ('a b')");
    if (t.kind === 'end') throw missing('');
    if (t.kind === 'string' || t.kind === 'number' || t.kind === 'raw') {
      this.next();
      return { kind: t.kind, text: t.value, start: t.start };
    }
    if (t.kind === 'word' && !t.quoted && !KEYWORDS.has(t.value.toLowerCase())) {
      if (/^(params?|metrics?)\./i.test(t.value)) {
        throw new WhereError(ErrorCode.BadExpression, `cannot compare with another field ('${t.text}')`, t.start, `compare a field with a value; to mean the text '${t.value}', quote it`);
      }
      this.next();
      return { kind: 'bare', text: t.value, start: t.start };
    }
    if (t.kind === 'word') {
      if (t.quoted) throw new WhereError(ErrorCode.BadExpression, `cannot compare with another field ('${t.text}')`, t.start, 'compare a field with a value');
      throw new WhereError(ErrorCode.BadExpression, `missing value after '${after}' (found the keyword '${t.text}')`, t.start, `put a value there; to mean the word '${t.text}', quote it: '${t.text}'`);
    }
    throw missing(`, found ${show(t)}`);
  }

  private field(t: Token): Field {
    const full = t.value;
    const dot = full.indexOf('.');
    const head = (dot < 0 ? full : full.slice(0, dot)).toLowerCase();
    const name = dot < 0 ? '' : full.slice(dot + 1);
    const { params, metrics } = this.ctx;
    if (head === 'params' || head === 'param' || head === 'metrics' || head === 'metric') {
      const isParam = head.startsWith('param');
      const family = isParam ? 'params' : 'metrics';
      if (!name) {
        throw new WhereError(ErrorCode.BadExpression, `'${t.text}' needs a name: ${family}.NAME`, t.end, `write ${family}.NAME, or ${family}."odd name" for a name with spaces or symbols`);
      }
      const known = isParam ? params : metrics;
      if (!isParam) {
        const m = metricField(t, name, metrics);
        if (m) return m;
      }
      if (known.includes(name)) return isParam ? { kind: 'param', name } : { kind: 'metric', name };
      const other = isParam ? metrics : params;
      const near = closest(name, known);
      const sugg = near !== null ? `${family}.${quoteName(near)}` : other.includes(name) ? `${isParam ? 'metrics' : 'params'}.${quoteName(name)}` : null;
      const list = known.length ? `known ${family}: ${sample(known)}` : `no run records any ${family} yet`;
      throw new WhereError(ErrorCode.UnknownField, `unknown ${isParam ? 'param' : 'metric'} '${name}'`, t.start, sugg ? `did you mean ${sugg}? (${list})` : list);
    }
    const c = FIELDS[full.toLowerCase()];
    if (c && !t.quoted) return { kind: 'column', name: full, column: c };
    // A param or metric named without its prefix: tell the user which one it is.
    const inMetrics = metrics.includes(full);
    const inParams = params.includes(full);
    let sugg: string | null = null;
    if (inMetrics || inParams) {
      sugg = [inMetrics ? `metrics.${quoteName(full)}` : '', inParams ? `params.${quoteName(full)}` : ''].filter(Boolean).join(' or ');
    } else {
      const near = closest(full, [...FIELD_NAMES, ...metrics, ...params]);
      if (near !== null) sugg = FIELD_NAMES.includes(near) ? near : metrics.includes(near) ? `metrics.${quoteName(near)}` : `params.${quoteName(near)}`;
    }
    const why = inMetrics || inParams ? ' params and metrics are named with their prefix' : '';
    throw new WhereError(
      ErrorCode.UnknownField,
      `unknown field '${t.text}'`,
      t.start,
      sugg ? `did you mean ${sugg}?${why}` : `fields are params.NAME, metrics.NAME, ${FIELD_NAMES.filter((f) => !/[A-Z]/.test(f) && f !== 'tag' && f !== 'date').join(', ')}`,
    );
  }
}

const sample = (names: readonly string[]) => (names.length > 12 ? `${names.slice(0, 12).join(', ')}, ...` : names.join(', '));
const quoteName = (n: string) => (/^[\p{L}_][\p{L}\p{N}_.\-]*$/u.test(n) && !n.endsWith('.') ? n : JSON.stringify(n));

function describe(type: FieldType | 'param' | 'metric'): string {
  switch (type) {
    case 'param': return 'a param';
    case 'metric': return 'a metric: a number';
    case 'text': case 'hex': return 'text';
    case 'status': return `one of ${STATUSES.join(', ')}`;
    case 'kind': return 'run or group';
    case 'int': return 'a whole number';
    case 'duration': return 'a duration';
    case 'time': return 'a time';
    case 'tags': return 'a set of tags';
    case 'upstream': case 'downstream': return 'a set of runs: id prefixes or names';
    case 'input': return "a set of input object ids";
  }
}

class Compiler {
  readonly args: Array<string | number> = [];
  /** Each condition's driver, when it has one (see the top of the file). */
  private readonly driverOf = new Map<Node, Driver>();

  constructor(private readonly now: Date | undefined) {}

  /**
   * Supersets of the runs a node holds for, as alternatives: any child's of an
   * `and`; for an `or`, the union of one of each child's (none when a child
   * has none); none under a `not` (its runs are the complement).
   */
  drivers(n: Node): Driver[] {
    switch (n.kind) {
      case 'cond': {
        const d = this.driverOf.get(n);
        return d ? [d] : [];
      }
      case 'not':
        return [];
      case 'and':
        return n.items.flatMap((i) => this.drivers(i));
      case 'or': {
        const each = n.items.map((i) => this.drivers(i)[0]);
        if (each.some((d) => !d)) return [];
        return [{ sql: each.map((d) => `SELECT run FROM (${d!.sql})`).join(' UNION '), args: each.flatMap((d) => d!.args) }];
      }
    }
  }

  node(n: Node): string {
    switch (n.kind) {
      case 'and':
      case 'or':
        return `(${n.items.map((i) => this.node(i)).join(n.kind === 'and' ? ' AND ' : ' OR ')})`;
      case 'not':
        return `NOT (${this.node(n.item)})`;
      case 'cond':
        return this.cond(n);
    }
  }

  /** `?` placeholders for values, in the order they appear in the SQL. */
  private ph(...values: Array<string | number>): string {
    this.args.push(...values);
    return values.map(() => '?').join(', ');
  }

  private cond(n: Extract<Node, { kind: 'cond' }>): string {
    const f = n.field;
    if (f.kind === 'param') return this.param(f.name, n);
    if (f.kind === 'metric') return this.metric(f.name, n, f.stat);
    const c = f.column;
    const fieldText = f.name;
    switch (c.type) {
      case 'tags':
        return this.tags(n);
      case 'upstream':
      case 'downstream':
        return this.link(c.type, n);
      case 'input':
        return this.input(n);
      case 'status':
      case 'kind': {
        const allowed = c.type === 'status' ? (STATUSES as readonly string[]) : KINDS;
        const vals = n.values.map((v) => {
          const x = v.text.toLowerCase();
          if (!allowed.includes(x)) {
            const near = closest(v.text, allowed);
            throw new WhereError(ErrorCode.BadExpression, `unknown ${c.type} '${v.text}'`, v.start, `${near ? `did you mean ${near}? ` : ''}${c.type} is one of ${allowed.join(', ')}`);
          }
          return x;
        });
        if (c.type === 'status' && (n.op === '=' || n.op === 'in')) {
          const a = new Args();
          this.driverOf.set(n, { sql: `SELECT s.id AS run FROM runs s WHERE s.status IN (${a.ph(...vals)})`, args: a.list });
        }
        return this.column(c, n.op, vals);
      }
      case 'int':
        return this.column(c, n.op, n.values.map((v) => this.number(v, fieldText, 'a whole number such as 0 or 42')));
      case 'duration':
        return this.column(c, n.op, n.values.map((v) => this.duration(v)));
      case 'time':
        return this.column(c, n.op, n.values.map((v) => this.date(v)));
      case 'text':
      case 'hex':
        return this.column(c, n.op, n.values.map((v) => v.text));
    }
  }

  private number(v: Literal, field: string, want: string): number {
    if (v.kind === 'number') {
      const x = Number(v.text);
      if (!Number.isFinite(x)) throw new WhereError(ErrorCode.BadExpression, `number '${v.text}' is out of range`, v.start, 'write a smaller number');
      return x;
    }
    if (v.kind === 'raw') throw badNumber(v);
    throw new WhereError(ErrorCode.BadExpression, `${field} is a number, not ${v.kind === 'string' ? `the text '${v.text}'` : `'${v.text}'`}`, v.start, `compare it with ${want}`);
  }

  private duration(v: Literal): number {
    if (v.kind === 'number') return this.number(v, 'duration', '');
    try {
      return parseDuration(v.text);
    } catch {
      throw new WhereError(ErrorCode.BadExpression, `bad duration '${v.text}'`, v.start, `write seconds or a number with a unit: ${DURATION_FORMS}; e.g. duration > 5m`);
    }
  }

  private date(v: Literal): string {
    if (v.kind === 'number') {
      throw new WhereError(ErrorCode.BadDate, `bad date '${v.text}': a bare number is not a date`, v.start, `write @${v.text} for a unix time, or quote a date: '2026-11-01', '3 days ago'`);
    }
    try {
      return parseDate(v.text, this.now);
    } catch (e) {
      const why = e instanceof GitRunError ? e.message.replace(/^'.*' is not a date ?/s, '') : '';
      throw new WhereError(ErrorCode.BadDate, `bad date '${v.text}'${why ? ` ${why}` : ''}`, v.start, `write one of: ${DATE_FORMS}; quote dates with spaces`);
    }
  }

  /** A condition on a runs column. The IS NOT NULL guard keeps it two-valued (see the top of the file). */
  private column(c: Column, op: Op, vals: Array<string | number>): string {
    const x = `r.${c.column}`;
    let sql: string;
    if (c.type === 'hex' && (op === '=' || op === '!=' || op === 'in' || op === 'not in')) sql = this.hexMatch(x, op, vals as string[]);
    else if (op === 'in' || op === 'not in') sql = `${x} ${op === 'in' ? 'IN' : 'NOT IN'} (${this.ph(...vals)})`;
    else if (op === 'contains') sql = `instr(${x}, ${this.ph(vals[0]!)}) > 0`;
    else if (op === 'not contains') sql = `instr(${x}, ${this.ph(vals[0]!)}) = 0`;
    else sql = `${x} ${op} ${this.ph(vals[0]!)}`;
    return c.nullable ? `(${x} IS NOT NULL AND ${sql})` : sql;
  }

  /** Object ids are written abbreviated: 4 or more hex digits match as a prefix, as everywhere else in git. */
  private hexMatch(x: string, op: Op, vals: string[]): string {
    const exact: string[] = [];
    const prefixes: string[] = [];
    for (const v of vals) {
      if (/^[0-9a-f]{4,}$/i.test(v)) prefixes.push(v.toLowerCase());
      else exact.push(v);
    }
    const parts: string[] = [];
    if (exact.length === 1) parts.push(`${x} = ${this.ph(exact[0]!)}`);
    else if (exact.length) parts.push(`${x} IN (${this.ph(...exact)})`);
    // GLOB is case-sensitive and, with a prefix that has no wildcard, can use an index; hex digits are never wildcards.
    for (const p of prefixes) parts.push(`${x} GLOB ${this.ph(`${p}*`)}`);
    const pos = parts.length === 1 ? parts[0]! : `(${parts.join(' OR ')})`;
    return op === '=' || op === 'in' ? pos : `NOT ${pos.startsWith('(') ? pos : `(${pos})`}`;
  }

  private tags(n: Extract<Node, { kind: 'cond' }>): string {
    const vals = n.values.map((v) => v.text);
    const has = (vs: string[]) =>
      `EXISTS (SELECT 1 FROM tags t WHERE t.run = r.id AND ${vs.length === 1 ? `t.tag = ${this.ph(vs[0]!)}` : `t.tag IN (${this.ph(...vs)})`})`;
    if (n.op === '=' || n.op === 'in' || n.op === 'contains') {
      const a = new Args();
      this.driverOf.set(n, { sql: `SELECT t.run AS run FROM tags t WHERE t.tag IN (${a.ph(...vals)})`, args: a.list });
      return has(vals);
    }
    return `NOT ${has(vals)}`;
  }

  /**
   * Lineage through the inputs table: `upstream = X` holds for a run that took
   * an input from run X's outputs, `downstream = X` for a run whose outputs X
   * took. X is an id prefix (4 or more hex digits) or a run's name, as on the
   * command line; a run named like a hex prefix is matched by id only.
   */
  private link(type: 'upstream' | 'downstream', n: Extract<Node, { kind: 'cond' }>): string {
    // upstream: the run consumed (i.run = r.id) from X (i.upstream); downstream: X (i.run) consumed from the run (i.upstream = r.id).
    const [self, other] = type === 'upstream' ? ['i.run', 'i.upstream'] : ['i.upstream', 'i.run'];
    const parts: string[] = [];
    const names: string[] = [];
    for (const v of n.values) {
      if (/^[0-9a-f]{4,64}$/i.test(v.text)) parts.push(`${other} GLOB ${this.ph(`${v.text.toLowerCase()}*`)}`);
      else names.push(v.text);
    }
    if (names.length) parts.push(`${other} IN (SELECT u.id FROM runs u WHERE u.name IN (${this.ph(...names)}))`);
    const has = `EXISTS (SELECT 1 FROM inputs i WHERE ${self} = r.id AND ${other} IS NOT NULL AND (${parts.join(' OR ')}))`;
    return n.op === '=' || n.op === 'in' ? has : `NOT ${has}`;
  }

  /** `input = <oid prefix>`: a run that took an input with this content (from a run or the work tree). */
  private input(n: Extract<Node, { kind: 'cond' }>): string {
    const prefixes = n.values.map((v) => {
      if (!/^[0-9a-f]{4,64}$/i.test(v.text)) {
        throw new WhereError(ErrorCode.BadExpression, `input is an object id, not '${v.text}'`, v.start, 'write 4 or more hex digits of the id git gives the content (git hash-object <file>; `git run show <run>` lists its inputs)');
      }
      return `i.oid GLOB ${this.ph(`${v.text.toLowerCase()}*`)}`;
    });
    const has = `EXISTS (SELECT 1 FROM inputs i WHERE i.run = r.id AND (${prefixes.join(' OR ')}))`;
    return n.op === '=' || n.op === 'in' ? has : `NOT ${has}`;
  }

  /**
   * A test on one row of params (p) or metrics (m) named `name`, as an EXISTS
   * for the run r and, when the test can only hold for certain rows, as the
   * condition's driver (the same test, over the table's (name, value) index).
   */
  private row(n: Extract<Node, { kind: 'cond' }>, table: 'params' | 'metrics', name: string, pred: (a: Args, c: (column: 'num' | 'text' | 'min' | 'max' | 'count') => string) => string, drives: boolean): string {
    const t = table === 'params' ? 'p' : 'm';
    const a = new Args();
    // The EXISTS writes the value as +column (the same value, no index term): the primary key (run, name)
    // answers it, never a scan of the name's range in the (name, value) index the driver uses.
    const sql = `EXISTS (SELECT 1 FROM ${table} ${t} WHERE ${t}.run = r.id AND ${t}.name = ${a.ph(name)} AND ${pred(a, (c) => `+${t}.${c}`)})`;
    this.args.push(...a.list);
    if (drives) {
      const d = new Args();
      this.driverOf.set(n, { sql: `SELECT ${t}.run AS run FROM ${table} ${t} WHERE ${t}.name = ${d.ph(name)} AND ${pred(d, (c) => `${t}.${c}`)}`, args: d.list });
    }
    return sql;
  }

  private param(name: string, n: Extract<Node, { kind: 'cond' }>): string {
    const { op, values } = n;
    for (const v of values) if (v.kind === 'raw' && op !== 'contains' && op !== 'not contains') throw badNumber(v);
    if (op === 'contains' || op === 'not contains') {
      return this.row(n, 'params', name, (a, c) => `instr(${c('text')}, ${a.ph(values[0]!.text)}) ${op === 'contains' ? '> 0' : '= 0'}`, op === 'contains');
    }
    // Numbers compare with num (0.10 = 0.1, 9 < 10), anything else with the text.
    if (op === 'in' || op === 'not in') {
      const nums = values.filter((v) => v.kind === 'number').map((v) => this.number(v, '', ''));
      const texts = values.filter((v) => v.kind !== 'number').map((v) => v.text);
      return this.row(n, 'params', name, (a, c) => {
        const parts: string[] = [];
        if (nums.length) parts.push(`${c('num')} IN (${a.ph(...nums)})`);
        if (texts.length) parts.push(`${c('text')} IN (${a.ph(...texts)})`);
        const pos = parts.length === 1 ? parts[0]! : `(${parts.join(' OR ')})`;
        // num is NULL for a text value: IFNULL makes 'not in' true there, as != is.
        return op === 'in' ? pos : `NOT IFNULL(${pos}, 0)`;
      }, op === 'in');
    }
    const v = values[0]!;
    if (v.kind === 'number') {
      const x = this.number(v, '', '');
      // IS NOT: a text value ('adam') is != 1, where num != 1 would be NULL.
      return this.row(n, 'params', name, (a, c) => `${c('num')} ${op === '!=' ? 'IS NOT' : op} ${a.ph(x)}`, op !== '!=');
    }
    return this.row(n, 'params', name, (a, c) => `${c('text')} ${op} ${a.ph(v.text)}`, op !== '!=');
  }

  private metric(name: string, n: Extract<Node, { kind: 'cond' }>, stat: MetricStat = 'last'): string {
    const nums = n.values.map((v) => this.number(v, `metrics.${quoteName(name)}${stat === 'last' ? '' : `.${stat}`}`, 'a number such as 0.9 or 1e-3'));
    const col = STAT_COLUMN[stat];
    if (n.op === 'in' || n.op === 'not in') return this.row(n, 'metrics', name, (a, c) => `${c(col)} ${n.op === 'in' ? 'IN' : 'NOT IN'} (${a.ph(...nums)})`, n.op === 'in');
    return this.row(n, 'metrics', name, (a, c) => `${c(col)} ${n.op} ${a.ph(nums[0]!)}`, n.op !== '!=');
  }
}

/**
 * Metric statistics (decision 0020): `metrics.loss.min`, `.max`, `.count`
 * and `.last` (= `metrics.loss`) over the run's history. A metric's own
 * name comes first: when `loss.min` is itself a metric, `metrics.loss.min`
 * is that metric; the quoted form `metrics."loss".min` (the quotes hold the
 * whole name) always means the statistic.
 */
export const METRIC_STATS = ['last', 'min', 'max', 'count'] as const;
export type MetricStat = (typeof METRIC_STATS)[number];
const STAT_COLUMN: Record<MetricStat, 'num' | 'min' | 'max' | 'count'> = { last: 'num', min: 'min', max: 'max', count: 'count' };

function metricField(t: Token, name: string, metrics: readonly string[]): Extract<Field, { kind: 'metric' }> | null {
  const m = /^(.+)\.(last|min|max|count)$/.exec(name);
  if (!m) return null;
  const [, base, stat] = m as unknown as [string, string, MetricStat];
  // A quoted part that ends right before the suffix names the whole metric.
  const quotedBase = t.quoted && /["'\]]\.(?:last|min|max|count)$/.test(t.text);
  if (metrics.includes(name) && !quotedBase) return null;
  return metrics.includes(base) ? { kind: 'metric', name: base, stat } : null;
}

const badNumber = (v: Literal) =>
  new WhereError(ErrorCode.BadExpression, `bad number '${v.text}'`, v.start, `write a number such as 3, -0.5 or 1e-4; to compare text, quote it: '${v.text}'`);

/** The line of the expression holding `at`, with a caret under it, for the hint. */
function pointAt(text: string, at: number): { line: number; column: number; picture: string } {
  const lineStart = text.lastIndexOf('\n', at - 1) + 1;
  const nl = text.indexOf('\n', at);
  const lineText = text.slice(lineStart, nl < 0 ? text.length : nl);
  const before = Array.from(text.slice(lineStart, at));
  const line = text.slice(0, lineStart).split('\n').length;
  // Tabs stay tabs so that the caret lines up however wide the terminal draws them.
  const pad = before.map((ch) => (ch === '\t' ? '\t' : ' ')).join('');
  return { line, column: before.length + 1, picture: `  ${lineText}\n  ${pad}^` };
}

function fail(text: string, e: WhereError | LexError, code: ErrorCode): never {
  const { line, column, picture } = pointAt(text, e.at);
  const where = text.includes('\n') ? `line ${line}, column ${column}` : `column ${column}`;
  throw new GitRunError(code, `${e.message} at ${where} of --where`, `${e.fix}\n${picture}`, { expression: text, offset: e.at, line, column });
}

export function compileWhere(text: string, ctx: WhereContext): CompiledWhere {
  try {
    const node = new Parser(tokenize(text), ctx).parse();
    const c = new Compiler(ctx.now);
    const sql = c.node(node);
    if (c.args.length > MAX_ARGS) throw new WhereError(ErrorCode.BadExpression, `more than ${MAX_ARGS} values`, 0, 'split the query');
    // A driver repeats its condition's values: past the limit, the query is answered without one.
    const drivers = c.drivers(node).filter((d) => d.args.length <= MAX_ARGS);
    return { sql, args: c.args, drivers };
  } catch (e) {
    if (e instanceof WhereError) fail(text, e, e.code);
    if (e instanceof LexError) fail(text, e, ErrorCode.BadExpression);
    throw e;
  }
}
