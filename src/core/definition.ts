/**
 * Run definitions (Accio's run definition language, with `command` in place
 * of `workflow`) and run_args (remotemanager's). Pure: text in, a checked
 * definition or a list of problems out, each naming the JSON path and what
 * was expected.
 *
 *   {
 *     "command": ["python", "train.py", "--lr", "{lr}"],   or a string, split like a shell would (no expansion)
 *     "params": {"lr": {"from": 0.1, "to": 0.3, "step": 0.1}, "data": {"values": ["a", "b"]}},
 *     "repeat": 3, "seed": 42, "name": "...", "notes": "...", "tags": ["..."],
 *     "host": "local", "env": {"OMP_NUM_THREADS": "1"}, "inputs": ["<run>:out/data.bin", "data/raw.bin", "dest=<source>", {"path": "...", "from": "...", "store": true}],
 *     "skip": true, "leave": "code", ...native run_args at the top level,
 *     "run_args": {"partition": "gpu", ...any run_args, kept for the executor},
 *     "overrides": [{"params": {"data": "b"}, "run_args": {"mem": "8G"}}]   per-child run_args
 *   }
 */
import { parseInputEntry, type InputRequest } from './inputs.js';

export interface Problem {
  /** JSON path, e.g. `params.lr.step`; '' for the whole document. */
  path: string;
  problem: string;
}

/** remotemanager's native run_args, with their types and defaults. */
export const NATIVE_RUN_ARGS: Record<string, { type: 'boolean' | 'string' | 'leave' | 'int'; default: unknown; doc: string }> = {
  skip: { type: 'boolean', default: true, doc: 'do not execute a run whose key matches one that is running or finished' },
  force: { type: 'boolean', default: false, doc: 'inverted alias of skip: resubmit running, failed, cancelled and lost runs' },
  force_ignores_success: { type: 'boolean', default: false, doc: 'with force (or skip: false), resubmit succeeded runs too' },
  asynchronous: { type: 'boolean', default: true, doc: 'false: children run one after another' },
  local_dir: { type: 'string', default: null, doc: 'where local run directories are made (default: inside the git directory)' },
  remote_dir: { type: 'string', default: null, doc: 'main directory on a remote host (code cache and runs)' },
  run_dir: { type: 'string', default: null, doc: 'directory inside remote_dir where a run executes' },
  leave: { type: 'leave', default: 'code', doc: 'what stays of the run directory: none, code (default: a remote host keeps the code for the next run), all' },
  send_ignore: { type: 'string', default: '.sendignore', doc: 'ignore file for the code snapshot' },
  fetch_ignore: { type: 'string', default: '.fetchignore', doc: 'ignore file for outputs' },
  max_parallel: { type: 'int', default: null, doc: 'children running at once (default: the host profile, locally the number of CPUs)' },
  on_local: { type: 'boolean', default: false, doc: "run a host profile's runs here, without transfer (Runaway's --on-local)" },
};

export const DEFINITION_KEYS = ['command', 'params', 'repeat', 'seed', 'name', 'notes', 'tags', 'host', 'env', 'inputs', 'deps', 'run_args', 'overrides', 'triggers', '$schema'];

export type Scalar = string | number | boolean;

/** One parameter as written: a plain value, or a sweep over values. */
export type ParamSpec =
  | { kind: 'value'; value: Scalar }
  | { kind: 'values'; values: Scalar[] }
  | { kind: 'range'; from: number; to: number; step: number }
  | { kind: 'log'; from: number; to: number; base: number; step: number };

export interface Definition {
  command: string[];
  params: Record<string, ParamSpec>;
  repeat: number;
  seed: number | null;
  name?: string;
  notes?: string;
  tags: string[];
  host: string | null;
  env: Record<string, string>;
  /** Pathspecs of the snapshot the result depends on (DVC's deps): the code part of the run key covers only these; null: the whole snapshot. */
  deps: string[] | null;
  /** As written (src/core/inputs.ts); resolved at submission (src/api/inputs.ts). Work-tree paths are relative to the repository's top. */
  inputs: InputRequest[];
  /** Dataset-level run_args: native ones validated, others kept. */
  runArgs: Record<string, unknown>;
  overrides: Array<{ params: Record<string, Scalar>; runArgs: Record<string, unknown> }>;
}

/** Levenshtein distance, for "did you mean". */
export function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

export function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = distance(word.toLowerCase(), c.toLowerCase());
    if (dd < bestD) [best, bestD] = [c, dd];
  }
  return best !== null && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

/**
 * A map for keys that come from the user (parameter names, run_args,
 * environment names): no prototype, so `__proto__`, `constructor` and
 * `prototype` are keys like any other, never Object.prototype's.
 */
export const dict = <T>(entries: Iterable<readonly [string, T]> = []): Record<string, T> => {
  const o = Object.create(null) as Record<string, T>;
  for (const [k, v] of entries) o[k] = v;
  return o;
};

/**
 * Definition and .runconfig bytes as text: refused when they are not UTF-8,
 * rather than decoded with U+FFFD in place of the bytes (which would
 * silently change parameter values and commands).
 */
export function utf8Text(bytes: Uint8Array): { text: string } | { problem: string } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes) };
  } catch {
    let at = 0;
    // The first offending byte, for the message: the longest prefix that decodes.
    for (let lo = 0, hi = bytes.length; lo <= hi; ) {
      const mid = (lo + hi) >> 1;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid));
        at = mid;
        lo = mid + 1;
      } catch {
        hi = mid - 1;
      }
    }
    return { problem: `not valid UTF-8 (the bytes at offset ${at} are not a UTF-8 character): JSON text is UTF-8; write values that are not text with escapes (e.g. "\\u00e9")` };
  }
}

const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);
const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const isScalar = (v: unknown): v is Scalar => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean';

/** Split a command string into words the way a shell would, without any
 * expansion: quotes group, backslash escapes; nothing else is special. */
export function splitCommand(s: string): string[] | null {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1]!)) cur += s[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) return null;
  if (inWord) words.push(cur);
  return words;
}

/** Check run_args; unknown ones are kept unless they look like a misspelt native one. */
export function checkRunArgs(v: Record<string, unknown>, at: string, problems: Problem[]): Record<string, unknown> {
  const out = dict<unknown>();
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith('//')) continue;
    const p = at ? `${at}.${k}` : k;
    const spec = Object.hasOwn(NATIVE_RUN_ARGS, k) ? NATIVE_RUN_ARGS[k] : undefined;
    if (!spec) {
      const near = closest(k, Object.keys(NATIVE_RUN_ARGS));
      if (near && distance(k, near) <= 2 && k.length > 3) {
        problems.push({ path: p, problem: `unknown run_arg '${k}': did you mean '${near}'?` });
      } else out[k] = x;
      continue;
    }
    if (x === null && spec.default === null) {
      out[k] = x;
      continue;
    }
    const ok =
      spec.type === 'boolean' ? typeof x === 'boolean'
      : spec.type === 'string' ? typeof x === 'string' && x.length > 0
      : spec.type === 'int' ? Number.isInteger(x) && (x as number) >= 1
      : x === 'none' || x === 'code' || x === 'all';
    if (!ok) {
      const want = spec.type === 'boolean' ? 'true or false' : spec.type === 'string' ? 'a non-empty string' : spec.type === 'int' ? 'a whole number >= 1' : '"none", "code" or "all"';
      problems.push({ path: p, problem: `expected ${want}, got ${typeName(x)}${isScalar(x) ? ` (${JSON.stringify(x)})` : ''}` });
    } else out[k] = x;
  }
  return out;
}

/**
 * run_args as they apply to a run, for its record (what `show` lists):
 * skip and force are one switch seen from two sides (the record says both,
 * agreeing: `"skip": false` is `force: true`), and a run that executes here
 * (a local host, or on_local) has no remote_dir or run_dir.
 */
export function appliedRunArgs(a: Record<string, unknown>, local: boolean): Record<string, unknown> {
  const out = dict(Object.entries(a));
  const skip = out.skip !== false && out.force !== true;
  out.skip = skip;
  out.force = !skip;
  if (local) {
    delete out.remote_dir;
    delete out.run_dir;
  }
  return out;
}

function checkParam(name: string, v: unknown, problems: Problem[]): ParamSpec | null {
  const p = `params.${name}`;
  const bad = (path: string, problem: string) => (problems.push({ path, problem }), null);
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) return bad(p, 'a parameter name starts with a letter or _ and holds only letters, digits, _ . -');
  if (isScalar(v)) return { kind: 'value', value: v };
  if (!isObject(v)) return bad(p, `expected a value or an object ({"value"}, {"values"}, {"from","to","step"} or a log range), got ${typeName(v)}`);
  const keys = Object.keys(v);
  const known = ['value', 'values', 'from', 'to', 'step', 'log', 'log2', 'log10'];
  for (const k of keys) {
    if (!known.includes(k)) {
      const near = closest(k, known);
      return bad(`${p}.${k}`, `unknown key '${k}'${near ? `: did you mean '${near}'?` : ` (expected one of ${known.join(', ')})`}`);
    }
  }
  if ('value' in v) {
    if (keys.length > 1) return bad(p, '"value" stands alone');
    if (!isScalar(v.value)) return bad(`${p}.value`, `expected a string, number or boolean, got ${typeName(v.value)}`);
    return { kind: 'value', value: v.value };
  }
  if ('values' in v) {
    if (keys.length > 1) return bad(p, '"values" stands alone');
    if (!Array.isArray(v.values)) return bad(`${p}.values`, `expected an array, got ${typeName(v.values)}`);
    if (!v.values.length) return bad(`${p}.values`, 'expected at least one value, got an empty array');
    const i = v.values.findIndex((x) => !isScalar(x));
    if (i >= 0) return bad(`${p}.values[${i}]`, `expected a string, number or boolean, got ${typeName(v.values[i])}`);
    return { kind: 'values', values: v.values as Scalar[] };
  }
  if (!('from' in v) || !('to' in v)) return bad(p, 'a range needs both "from" and "to"');
  for (const k of ['from', 'to', 'step'] as const) {
    if (k in v && (typeof v[k] !== 'number' || !Number.isFinite(v[k]))) return bad(`${p}.${k}`, `expected a number, got ${typeName(v[k])}`);
  }
  const from = v.from as number;
  const to = v.to as number;
  if (from > to) return bad(p, `"from" (${from}) is greater than "to" (${to})`);
  const logKeys = (['log', 'log2', 'log10'] as const).filter((k) => k in v);
  if (logKeys.length > 1) return bad(p, `give one of ${logKeys.join(', ')}, not several`);
  if (logKeys.length) {
    const k = logKeys[0]!;
    if (v[k] !== true) return bad(`${p}.${k}`, `expected true, got ${JSON.stringify(v[k])}`);
    if (from <= 0 || to <= 0) return bad(p, `a logarithmic range needs positive bounds, got from ${from} to ${to}`);
    const step = 'step' in v ? (v.step as number) : 1;
    if (step <= 0) return bad(`${p}.step`, `expected a step > 0 (in powers of the base), got ${step}`);
    return { kind: 'log', from, to, base: k === 'log2' ? 2 : 10, step };
  }
  if (!('step' in v)) return bad(p, 'a linear range needs a "step" (or "log": true for a logarithmic one)');
  const step = v.step as number;
  if (step <= 0) return bad(`${p}.step`, `expected a step > 0, got ${step}`);
  return { kind: 'range', from, to, step };
}

/** Check a parsed definition. */
export function checkDefinition(raw: unknown): { definition: Definition | null; problems: Problem[] } {
  const problems: Problem[] = [];
  if (!isObject(raw)) return { definition: null, problems: [{ path: '', problem: `a run definition is a JSON object, got ${typeName(raw)}` }] };
  const runArgsTop = dict<unknown>();
  for (const k of Object.keys(raw)) {
    if (k.startsWith('//') || DEFINITION_KEYS.includes(k)) continue;
    if (Object.hasOwn(NATIVE_RUN_ARGS, k)) {
      runArgsTop[k] = raw[k];
      continue;
    }
    const near = closest(k, [...DEFINITION_KEYS.filter((x) => x !== '$schema'), ...Object.keys(NATIVE_RUN_ARGS), 'workflow']);
    const hint = k === 'workflow' ? `: git-run runs a command: use "command"` : near === 'workflow' ? `: git-run runs a command: use "command"` : near ? `: did you mean '${near}'?` : '; custom run_args go under "run_args"';
    problems.push({ path: k, problem: `unknown key '${k}'${hint}` });
  }
  let command: string[] = [];
  if (raw.command === undefined) problems.push({ path: 'command', problem: 'missing: the command to run, as an array of arguments or a string' });
  else if (typeof raw.command === 'string') {
    const words = splitCommand(raw.command);
    if (!words) problems.push({ path: 'command', problem: 'unbalanced quotes in the command string' });
    else if (!words.length) problems.push({ path: 'command', problem: 'expected a command, got an empty string' });
    else command = words;
  } else if (Array.isArray(raw.command)) {
    const i = raw.command.findIndex((x) => typeof x !== 'string');
    if (!raw.command.length) problems.push({ path: 'command', problem: 'expected at least the program, got an empty array' });
    else if (i >= 0) problems.push({ path: `command[${i}]`, problem: `expected a string, got ${typeName(raw.command[i])}` });
    else command = raw.command as string[];
  } else problems.push({ path: 'command', problem: `expected an array of strings or a string, got ${typeName(raw.command)}` });
  if (command.some((a) => a.includes('\0'))) problems.push({ path: 'command', problem: 'an argument contains a NUL byte, which no program can receive' });

  const params = dict<ParamSpec>();
  if (raw.params !== undefined) {
    if (!isObject(raw.params)) problems.push({ path: 'params', problem: `expected an object of parameters, got ${typeName(raw.params)}` });
    else for (const [n, v] of Object.entries(raw.params)) {
      const spec = checkParam(n, v, problems);
      if (spec) params[n] = spec;
    }
  }
  for (const [n, s] of Object.entries(params)) {
    const vals = s.kind === 'value' ? [s.value] : s.kind === 'values' ? s.values : [];
    if (vals.some((x) => typeof x === 'string' && x.includes('\0'))) problems.push({ path: `params.${n}`, problem: 'a value contains a NUL byte, which cannot reach a command' });
  }
  let repeat = 1;
  if (raw.repeat !== undefined) {
    if (!Number.isInteger(raw.repeat) || (raw.repeat as number) < 1) problems.push({ path: 'repeat', problem: `expected a whole number >= 1, got ${JSON.stringify(raw.repeat)}` });
    else repeat = raw.repeat as number;
  }
  let seed: number | null = null;
  if (raw.seed !== undefined && raw.seed !== null) {
    const s = typeof raw.seed === 'string' && /^\d+$/.test(raw.seed) ? Number(raw.seed) : raw.seed;
    if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) problems.push({ path: 'seed', problem: `expected a whole number from 0 to ${Number.MAX_SAFE_INTEGER} (or such a number as a string), got ${JSON.stringify(raw.seed)}` });
    else seed = s;
  }
  const str = (k: 'name' | 'notes' | 'host') => {
    if (raw[k] === undefined || raw[k] === null) return undefined;
    if (typeof raw[k] !== 'string') {
      problems.push({ path: k, problem: `expected a string, got ${typeName(raw[k])}` });
      return undefined;
    }
    return raw[k] as string;
  };
  const name = str('name');
  const notes = str('notes');
  const host = str('host') ?? null;
  let tags: string[] = [];
  if (raw.tags !== undefined) {
    if (typeof raw.tags === 'string') tags = raw.tags.split(',').map((t) => t.trim()).filter(Boolean);
    else if (!Array.isArray(raw.tags) || raw.tags.some((t) => typeof t !== 'string')) problems.push({ path: 'tags', problem: 'expected an array of strings' });
    else tags = raw.tags as string[];
  }
  const env = dict<string>();
  if (raw.env !== undefined) {
    if (!isObject(raw.env)) problems.push({ path: 'env', problem: `expected an object of NAME: "value", got ${typeName(raw.env)}` });
    else for (const [k, v] of Object.entries(raw.env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) problems.push({ path: `env.${k}`, problem: 'an environment variable name holds only letters, digits and _, and does not start with a digit' });
      else if (typeof v !== 'string' || v.includes('\0')) problems.push({ path: `env.${k}`, problem: `expected a string without NUL bytes, got ${typeName(v)}` });
      else env[k] = v;
    }
  }
  const inputs: InputRequest[] = [];
  if (raw.inputs !== undefined) {
    if (!Array.isArray(raw.inputs)) problems.push({ path: 'inputs', problem: `expected an array of inputs ("<run>:<path>", a work-tree path, "dest=<source>" or {"path", "from", "store"}), got ${typeName(raw.inputs)}` });
    else raw.inputs.forEach((x, i) => {
      const parsed = parseInputEntry(x);
      if ('problem' in parsed) problems.push({ path: `inputs[${i}]`, problem: parsed.problem });
      else inputs.push(parsed.request);
    });
  }
  let deps: string[] | null = null;
  if (raw.deps !== undefined && raw.deps !== null) {
    if (!Array.isArray(raw.deps) || !raw.deps.length || raw.deps.some((x) => typeof x !== 'string' || x === '' || x.includes('\0'))) problems.push({ path: 'deps', problem: 'expected a non-empty array of pathspecs (git\'s syntax, relative to the top of the repository), e.g. ["train.py", "model/"]' });
    else deps = raw.deps as string[];
  }
  let runArgs = checkRunArgs(runArgsTop, '', problems);
  if (raw.run_args !== undefined) {
    if (!isObject(raw.run_args)) problems.push({ path: 'run_args', problem: `expected an object, got ${typeName(raw.run_args)}` });
    else runArgs = dict([...Object.entries(runArgs), ...Object.entries(checkRunArgs(raw.run_args, 'run_args', problems))]);
  }
  const overrides: Definition['overrides'] = [];
  if (raw.overrides !== undefined) {
    if (!Array.isArray(raw.overrides)) problems.push({ path: 'overrides', problem: 'expected an array of {"params": {...}, "run_args": {...}}' });
    else raw.overrides.forEach((o, i) => {
      const p = `overrides[${i}]`;
      if (!isObject(o) || !isObject(o.params) || !isObject(o.run_args)) return problems.push({ path: p, problem: 'expected {"params": {name: value, ...}, "run_args": {...}}' });
      for (const [n, v] of Object.entries(o.params)) {
        if (!Object.hasOwn(params, n)) problems.push({ path: `${p}.params.${n}`, problem: `no parameter '${n}' in params` });
        else if (!isScalar(v)) problems.push({ path: `${p}.params.${n}`, problem: `expected a value, got ${typeName(v)}` });
      }
      overrides.push({ params: dict(Object.entries(o.params as Record<string, Scalar>)), runArgs: checkRunArgs(o.run_args, `${p}.run_args`, problems) });
      return undefined;
    });
  }
  if (problems.length) return { definition: null, problems };
  const d: Definition = { command, params, repeat, seed, tags, host, env, inputs, deps, runArgs, overrides };
  if (name !== undefined) d.name = name;
  if (notes !== undefined) d.notes = notes;
  return { definition: d, problems };
}
