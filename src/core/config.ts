/**
 * .runconfig: JSON at the top of the work tree. This module checks its shape
 * (pure: the caller reads the file). Keys it does not know are kept: unknown
 * run_args are passed on to executors, as remotemanager does.
 *
 * An experiment may carry triggers under "on" (`commit`: the post-commit
 * hook; `schedule` and `branch`: the daemon's cron schedules). They are
 * checked here, with their JSON path, and kept on the experiment as a
 * non-enumerable property: automation reads `experiment.on`, while the run
 * definition check, which walks the experiment's keys, sees a run definition.
 */
import { checkRunArgs, closest, dict, utf8Text } from './definition.js';
import { checkHistoryFile } from './metrics.js';

export interface RunConfig {
  defaults: Record<string, unknown>;
  hosts: Record<string, Record<string, unknown>>;
  experiments: Record<string, Record<string, unknown>>;
  /** Environment variables left out of the run key besides the session ones (globs, `*`). */
  envIgnore?: string[];
  /** Variables kept in the key (hashed) although they look like session variables or credentials (globs). */
  envInclude?: string[];
  /** Outputs of at least this many bytes are stored as Git LFS objects (null: never); from "large_output". */
  largeOutput?: number | null;
  /** The metrics history file runs append to, relative to their working directory (decision 0020); from "metrics_file". */
  metricsFile?: string;
}

export interface ConfigProblem {
  where: string;
  problem: string;
}

/** Keys starting with "//" are comments, at any level (JSON has no other kind). */
function stripComments(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripComments);
  if (v && typeof v === 'object') return dict(Object.entries(v).filter(([k]) => !k.startsWith('//')).map(([k, x]) => [k, stripComments(x)] as const));
  return v;
}

/** `text`: the file's bytes (refused unless UTF-8), or text already decoded. */
export function parseRunConfig(input: string | Uint8Array): { config: RunConfig; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const config: RunConfig = { defaults: dict(), hosts: dict(), experiments: dict() };
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    const decoded = utf8Text(input);
    if ('problem' in decoded) return { config, problems: [{ where: '', problem: decoded.problem }] };
    text = decoded.text;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { config, problems: [{ where: '', problem: `not valid JSON: ${(e as Error).message}` }] };
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { config, problems: [{ where: '', problem: 'the top level must be a JSON object' }] };
  const o = stripComments(raw) as Record<string, unknown>;
  for (const k of ['defaults', 'hosts', 'experiments'] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (!v || typeof v !== 'object' || Array.isArray(v)) problems.push({ where: k, problem: 'must be a JSON object' });
    else config[k] = v as never;
  }
  for (const [k, field] of [['env_ignore', 'envIgnore'], ['env_include', 'envInclude']] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || !/^[A-Za-z0-9_*]+$/.test(x))) problems.push({ where: k, problem: 'expected an array of variable names, `*` matching any characters (e.g. ["WANDB_*", "MY_CACHE_DIR"])' });
    else config[field] = v as string[];
  }
  if (o.large_output !== undefined) {
    const size = parseSize(o.large_output);
    if (size === undefined) problems.push({ where: 'large_output', problem: `expected a size with a unit such as "10MiB", "500MB" or "1GiB" (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), or "off"; got ${JSON.stringify(o.large_output)}` });
    else config.largeOutput = size;
  }
  if (o.metrics_file !== undefined) {
    const why = checkHistoryFile(o.metrics_file);
    if (why) problems.push({ where: 'metrics_file', problem: `${why}; got ${JSON.stringify(o.metrics_file)}` });
    else config.metricsFile = o.metrics_file as string;
  }
  const TOP = ['defaults', 'hosts', 'experiments', 'env_ignore', 'env_include', 'large_output', 'metrics_file', '$schema'];
  for (const k of Object.keys(o)) if (!TOP.includes(k)) problems.push({ where: k, problem: `unknown top-level key (expected ${TOP.slice(0, -1).join(', ')})` });
  // run_args defaults: native ones checked (a misspelt one is refused), others kept.
  const runArgProblems: Array<{ path: string; problem: string }> = [];
  config.defaults = checkRunArgs(config.defaults, 'defaults', runArgProblems);
  for (const p of runArgProblems) problems.push({ where: p.path, problem: p.problem });
  for (const [name, e] of Object.entries(config.experiments)) {
    if (!e || typeof e !== 'object' || Array.isArray(e) || !('on' in e)) continue;
    const { on, ...definition } = e;
    checkTriggers(on, `experiments.${name}.on`, problems);
    Object.defineProperty(definition, 'on', { value: on, enumerable: false });
    config.experiments[name] = definition;
  }
  for (const [name, h] of Object.entries(config.hosts)) {
    if (!h || typeof h !== 'object' || Array.isArray(h)) problems.push({ where: `hosts.${name}`, problem: 'a host profile is a JSON object' });
    else if (h.max_parallel !== undefined && h.max_parallel !== null && !(Number.isInteger(h.max_parallel) && (h.max_parallel as number) >= 1)) {
      problems.push({ where: `hosts.${name}.max_parallel`, problem: 'expected a whole number >= 1' });
    }
  }
  return { config, problems };
}

/** When a commit trigger also fires for a commit made while git is in the middle of one of these. */
export const DURING = ['rebase', 'merge', 'cherry-pick', 'revert'] as const;
export type During = (typeof DURING)[number];

/** `"on": {"commit": {...}}` of an experiment, checked. */
export interface CommitTrigger {
  /** Branch globs (`*` within a path segment, `**` across); null: any branch (and a detached HEAD). */
  branches: string[] | null;
  /** Pathspecs (git's syntax) matched against the files the commit changed; null: any commit. */
  paths: string[] | null;
  /** Cancel this experiment's queued runs of older commits (same branch) when a newer commit submits. */
  supersede: boolean;
  /** Operations during which a commit still submits (by default none). */
  during: During[];
}

const ON_KEYS = ['commit', 'schedule', 'branch'];
const COMMIT_KEYS = ['branches', 'paths', 'supersede', 'during'];

const unknownKey = (k: string, known: readonly string[]) => {
  const near = closest(k, known);
  return `unknown key '${k}'${near ? `: did you mean '${near}'?` : ` (expected ${known.join(', ')})`}`;
};

function stringList(v: unknown, where: string, what: string, problems: ConfigProblem[]): void {
  if (!Array.isArray(v)) {
    problems.push({ where, problem: `expected an array of ${what}, got ${JSON.stringify(v)}` });
    return;
  }
  v.forEach((x, i) => {
    if (typeof x !== 'string' || !x.trim()) problems.push({ where: `${where}[${i}]`, problem: `expected ${what.replace(/s$/, '')} (non-empty text), got ${JSON.stringify(x)}` });
    else if (x.includes('\0')) problems.push({ where: `${where}[${i}]`, problem: 'contains a NUL byte' });
  });
}

/** Check an experiment's "on"; cron expressions themselves are checked by the daemon. */
function checkTriggers(on: unknown, at: string, problems: ConfigProblem[]): void {
  if (!on || typeof on !== 'object' || Array.isArray(on)) {
    problems.push({ where: at, problem: `expected an object such as {"commit": {"branches": ["main"]}}, got ${JSON.stringify(on)}` });
    return;
  }
  const o = on as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!ON_KEYS.includes(k)) problems.push({ where: `${at}.${k}`, problem: unknownKey(k, ON_KEYS) });
  for (const k of ['schedule', 'branch']) {
    if (o[k] !== undefined && typeof o[k] !== 'string') problems.push({ where: `${at}.${k}`, problem: `expected text, got ${JSON.stringify(o[k])}` });
  }
  if (o.commit === undefined) return;
  const c = o.commit;
  if (!c || typeof c !== 'object' || Array.isArray(c)) {
    problems.push({ where: `${at}.commit`, problem: `expected an object (e.g. {"branches": ["main"], "paths": ["src/"]}; {} for every commit), got ${JSON.stringify(c)}` });
    return;
  }
  const t = c as Record<string, unknown>;
  for (const k of Object.keys(t)) if (!COMMIT_KEYS.includes(k)) problems.push({ where: `${at}.commit.${k}`, problem: unknownKey(k, COMMIT_KEYS) });
  if (t.branches !== undefined) stringList(t.branches, `${at}.commit.branches`, 'branch globs', problems);
  if (t.paths !== undefined) stringList(t.paths, `${at}.commit.paths`, 'pathspecs', problems);
  if (t.supersede !== undefined && typeof t.supersede !== 'boolean') problems.push({ where: `${at}.commit.supersede`, problem: `expected true or false, got ${JSON.stringify(t.supersede)}` });
  if (t.during !== undefined) {
    if (!Array.isArray(t.during)) problems.push({ where: `${at}.commit.during`, problem: `expected an array of ${DURING.join(', ')}, got ${JSON.stringify(t.during)}` });
    else t.during.forEach((x, i) => {
      if (!(DURING as readonly unknown[]).includes(x)) {
        const near = typeof x === 'string' ? closest(x, DURING) : null;
        problems.push({ where: `${at}.commit.during[${i}]`, problem: `expected one of ${DURING.join(', ')}, got ${JSON.stringify(x)}${near ? `: did you mean '${near}'?` : ''}` });
      }
    });
  }
}

/** The experiments of a checked configuration that have a commit trigger. */
export function commitTriggers(config: RunConfig): Array<{ experiment: string; host: string | null; trigger: CommitTrigger }> {
  const out: Array<{ experiment: string; host: string | null; trigger: CommitTrigger }> = [];
  for (const [experiment, e] of Object.entries(config.experiments)) {
    const c = (e as { on?: { commit?: Record<string, unknown> } }).on?.commit;
    if (!c) continue;
    out.push({
      experiment,
      host: typeof e.host === 'string' ? e.host : null,
      trigger: {
        branches: Array.isArray(c.branches) ? (c.branches as string[]) : null,
        paths: Array.isArray(c.paths) ? (c.paths as string[]) : null,
        supersede: c.supersede === true,
        during: Array.isArray(c.during) ? (c.during as During[]) : [],
      },
    });
  }
  return out;
}

/** A branch glob against a branch name: `*` and `?` stay within a path segment, `**` crosses them. */
export function branchMatches(glob: string, branch: string): boolean {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      // `**/` also matches nothing: release/**/x matches release/x.
      if (glob[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i++;
      }
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`).test(branch.replace(/^refs\/heads\//, ''));
}

/**
 * The default "large_output": 10 MiB. Below it sit what people read and
 * diff (metrics, configs, logs, small tables), which stay ordinary blobs
 * that `git diff` shows; above it sit checkpoints and datasets, which git
 * deltas and packs badly and which a teammate's fetch should not carry
 * (forges warn from 50 MB and refuse 100 MB files). An LFS object costs a
 * pointer blob and a git-lfs process per file, negligible at this size.
 */
export const DEFAULT_LARGE_OUTPUT = 10 * 1024 * 1024;

const UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 1024, MIB: 1024 ** 2, GIB: 1024 ** 3, TIB: 1024 ** 4 };

/** "10MiB" -> 10485760; "off" -> null (never LFS); undefined when it is not a size with a unit (a bare number is refused: bytes or MiB?). */
export function parseSize(v: unknown): number | null | undefined {
  if (typeof v !== 'string') return undefined;
  if (v.trim().toLowerCase() === 'off') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(v);
  const unit = m ? UNITS[m[2]!.toUpperCase()] : undefined;
  if (!m || !unit) return undefined;
  const n = Math.ceil(Number(m[1]) * unit);
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

/** The "large_output" of a .runconfig's text, for the step that collects outputs (the file was checked at submission; anything unreadable here means the default). */
export function largeOutputOf(text: string | null): number | null {
  if (text === null) return DEFAULT_LARGE_OUTPUT;
  try {
    const o = JSON.parse(text) as { large_output?: unknown } | null;
    const size = o && typeof o === 'object' ? parseSize(o.large_output) : undefined;
    return size === undefined ? DEFAULT_LARGE_OUTPUT : size;
  } catch {
    return DEFAULT_LARGE_OUTPUT;
  }
}
