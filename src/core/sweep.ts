/**
 * From a definition to its children: parameter values, the cross product,
 * repetitions, seeds, names and the command of each child. Pure and
 * deterministic, so the same definition always plans the same children.
 *
 * Ranges are inclusive at both ends. A logarithmic range multiplies by the
 * base (10 for `log` and `log10`, 2 for `log2`) to the power `step` (default
 * 1), starting at `from`, for as long as the value does not pass `to`: so
 * {"from": 0.00001, "to": 1, "log": true} gives 0.00001, 0.0001, 0.001, 0.01,
 * 0.1 and 1, six values. (Accio's documentation lists five, starting at
 * 0.0001, and counts 10 combinations with two datasets; we keep both ends,
 * like the linear range, which makes 12 combinations and, with repeat 3,
 * 36 runs. See docs/decisions/0004-definitions.md.)
 */
import crypto from 'node:crypto';
import { canonicalJson } from './record.js';
import { dict, type Definition, type ParamSpec, type Problem, type Scalar } from './definition.js';

/** Round away binary noise (0.1 + 0.2) without losing real precision. */
const clean = (x: number) => Number(x.toPrecision(12));

/**
 * How many values a parameter takes, counted without listing them: a range
 * of 1e12 values, or a log range with a tiny step, is a number to refuse, not
 * an array to build (Infinity when the step is too small to count).
 */
export function valueCount(spec: ParamSpec): number {
  switch (spec.kind) {
    case 'value':
      return 1;
    case 'values':
      return spec.values.length;
    case 'range':
      return Math.floor((spec.to - spec.from) / spec.step + 1e-9) + 1;
    case 'log':
      return Math.floor(Math.log(spec.to / spec.from) / Math.log(spec.base) / spec.step + 1e-9) + 1;
  }
}

/** The values of a parameter. Count them first (valueCount): this builds the list. */
export function paramValues(spec: ParamSpec): Scalar[] {
  switch (spec.kind) {
    case 'value':
      return [spec.value];
    case 'values':
      return spec.values;
    case 'range':
      return Array.from({ length: valueCount(spec) }, (_, i) => clean(spec.from + i * spec.step));
    case 'log':
      return Array.from({ length: valueCount(spec) }, (_, i) => clean(spec.from * Math.pow(spec.base, i * spec.step)));
  }
}

/** How many children a definition makes, without making them (may be Infinity). */
export function childCount(d: Definition): number {
  let n = d.repeat;
  for (const s of Object.values(d.params)) n *= valueCount(s);
  return n;
}

/**
 * A value a parameter takes twice would make two children with the same key:
 * a list that names it twice, or a range whose step is below the 12
 * significant digits values are rounded to. Refused (see
 * docs/decisions/0010-submission.md). Call after the count is known to be
 * bounded: this lists the values.
 */
export function duplicateProblems(d: Definition): Problem[] {
  const problems: Problem[] = [];
  for (const [name, spec] of Object.entries(d.params)) {
    const seen = new Map<string, number>();
    const values = paramValues(spec);
    for (const [i, v] of values.entries()) {
      const key = canonicalJson(v);
      const first = seen.get(key);
      if (first === undefined) {
        seen.set(key, i);
        continue;
      }
      problems.push(
        spec.kind === 'values'
          ? { path: `params.${name}.values[${i}]`, problem: `${JSON.stringify(v)} is listed already (values[${first}]): each value makes one run; list it once (use "repeat" for repetitions)` }
          : { path: `params.${name}`, problem: `the range gives ${JSON.stringify(v)} twice (values are kept to 12 significant digits): use a larger step` },
      );
      break;
    }
  }
  return problems;
}

export interface ChildPlan {
  /** 0-based position in the sweep. */
  index: number;
  params: Record<string, Scalar>;
  /** 1-based repetition of this combination. */
  repetition: number;
  seed: number;
  /** Generated from the parameters; cannot be edited. */
  name: string;
  command: string[];
  runArgs: Record<string, unknown>;
}

/** A child's seed from the definition's seed, its parameters and its repetition:
 * adding a value to a sweep does not change the seeds of the other children. */
export function childSeed(groupSeed: number, params: Record<string, Scalar>, repetition: number): number {
  const h = crypto.createHash('sha256').update(`${groupSeed}\0${canonicalJson(params)}\0${repetition}`).digest();
  return h.readUInt32BE(0) & 0x7fffffff;
}

export const valueText = (v: Scalar): string => (typeof v === 'string' ? v : String(v));

export function childName(params: Record<string, Scalar>, repetition: number, repeat: number): string {
  const parts = Object.entries(params).map(([k, v]) => `${k}=${valueText(v)}`);
  if (repeat > 1) parts.push(`#${repetition}`);
  return parts.join(' ') || 'run';
}

/** `{name}`, or `{{name}}` for the literal text `{name}`. Other braces are never touched
 * (commands are full of them: awk, JSON, shell). */
const PLACEHOLDER = /\{\{([A-Za-z_][A-Za-z0-9_.-]*)\}\}|\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;

/** Names used as {placeholders} in a command that are neither parameters nor `seed`. */
export function unknownPlaceholders(command: string[], names: string[]): string[] {
  const known = new Set([...names, 'seed']);
  const missing = new Set<string>();
  for (const a of command) for (const m of a.matchAll(PLACEHOLDER)) if (m[2] && !known.has(m[2])) missing.add(m[2]);
  return [...missing];
}

/**
 * Replace {name} with the value's text. `strict` (a definition file, where
 * the command is written for git-run): {{name}} stands for the literal
 * {name}. Otherwise (a command typed after --, written for the shell) only
 * {name} of a known parameter is replaced and everything else stays as typed.
 */
export function substitute(arg: string, values: Record<string, Scalar>, strict = true): string {
  return arg.replace(PLACEHOLDER, (m, escaped: string | undefined, name: string | undefined) => {
    if (escaped !== undefined) return strict ? `{${escaped}}` : m;
    return Object.hasOwn(values, name!) ? valueText(values[name!]!) : m;
  });
}

export function placeholderProblems(d: Definition): Problem[] {
  return unknownPlaceholders(d.command, Object.keys(d.params)).map((n) => ({
    path: 'command',
    problem: `placeholder {${n}} has no parameter: add "${n}" to params, or write {{${n}}} for the literal text {${n}}`,
  }));
}

/** Every child, in order: each combination (first parameter varying slowest), repeated. */
export function planChildren(d: Definition, groupSeed: number, directSeed?: number, strict = true): ChildPlan[] {
  const names = Object.keys(d.params);
  const lists = names.map((n) => paramValues(d.params[n]!));
  const combos: Array<Record<string, Scalar>> = [];
  const walk = (i: number, acc: Record<string, Scalar>) => {
    if (i === names.length) return void combos.push(dict(Object.entries(acc)));
    for (const v of lists[i]!) walk(i + 1, dict([...Object.entries(acc), [names[i]!, v] as const]));
  };
  walk(0, dict());
  const out: ChildPlan[] = [];
  for (const params of combos) {
    const runArgs = dict<unknown>();
    for (const o of d.overrides) {
      if (Object.entries(o.params).every(([k, v]) => params[k] === v)) for (const [k, v] of Object.entries(o.runArgs)) runArgs[k] = v;
    }
    for (let r = 1; r <= d.repeat; r++) {
      const seed = directSeed ?? childSeed(groupSeed, params, r);
      out.push({
        index: out.length,
        params,
        repetition: r,
        seed,
        name: childName(params, r, d.repeat),
        command: d.command.map((a) => substitute(a, dict([...Object.entries(params), ['seed', seed] as const]), strict)),
        runArgs,
      });
    }
  }
  return out;
}

/** Environment variable for a parameter: GIT_RUN_PARAM_<name>, other characters as _. */
export const paramEnvName = (name: string): string => `GIT_RUN_PARAM_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
