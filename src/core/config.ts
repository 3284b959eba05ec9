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

export interface RunConfig {
  defaults: Record<string, unknown>;
  hosts: Record<string, Record<string, unknown>>;
  experiments: Record<string, Record<string, unknown>>;
  /** Environment variables left out of the run key besides the session ones (globs, `*`). */
  envIgnore?: string[];
  /** Variables kept in the key (hashed) although they look like session variables or credentials (globs). */
  envInclude?: string[];
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
  const TOP = ['defaults', 'hosts', 'experiments', 'env_ignore', 'env_include', '$schema'];
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
