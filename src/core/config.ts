/**
 * .runconfig: JSON at the top of the work tree. This module checks its shape
 * (pure: the caller reads the file). Keys it does not know are kept: unknown
 * run_args are passed on to executors, as remotemanager does.
 */
import { checkRunArgs } from './definition.js';

export interface RunConfig {
  defaults: Record<string, unknown>;
  hosts: Record<string, Record<string, unknown>>;
  experiments: Record<string, Record<string, unknown>>;
}

export interface ConfigProblem {
  where: string;
  problem: string;
}

/** Keys starting with "//" are comments, at any level (JSON has no other kind). */
function stripComments(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripComments);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => !k.startsWith('//')).map(([k, x]) => [k, stripComments(x)]));
  return v;
}

export function parseRunConfig(text: string): { config: RunConfig; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const config: RunConfig = { defaults: {}, hosts: {}, experiments: {} };
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
  for (const k of Object.keys(o)) if (!['defaults', 'hosts', 'experiments', '$schema'].includes(k)) problems.push({ where: k, problem: 'unknown top-level key (expected defaults, hosts, experiments)' });
  // run_args defaults: native ones checked (a misspelt one is refused), others kept.
  const runArgProblems: Array<{ path: string; problem: string }> = [];
  config.defaults = checkRunArgs(config.defaults, 'defaults', runArgProblems);
  for (const p of runArgProblems) problems.push({ where: p.path, problem: p.problem });
  for (const [name, h] of Object.entries(config.hosts)) {
    if (!h || typeof h !== 'object' || Array.isArray(h)) problems.push({ where: `hosts.${name}`, problem: 'a host profile is a JSON object' });
    else if (h.max_parallel !== undefined && h.max_parallel !== null && !(Number.isInteger(h.max_parallel) && (h.max_parallel as number) >= 1)) {
      problems.push({ where: `hosts.${name}.max_parallel`, problem: 'expected a whole number >= 1' });
    }
  }
  return { config, problems };
}
