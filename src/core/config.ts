/**
 * .runconfig: JSON at the top of the work tree. This module checks its shape
 * (pure: the caller reads the file). Keys it does not know are kept: unknown
 * run_args are passed on to executors, as remotemanager does.
 */
import { LEAVE_MODES } from './record.js';

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
  const d = config.defaults;
  if (d.leave !== undefined && !LEAVE_MODES.includes(d.leave as never)) problems.push({ where: 'defaults.leave', problem: `must be one of ${LEAVE_MODES.join(', ')}` });
  for (const k of ['local_dir', 'send_ignore', 'fetch_ignore']) {
    if (d[k] !== undefined && d[k] !== null && typeof d[k] !== 'string') problems.push({ where: `defaults.${k}`, problem: 'must be a string (a path) or null' });
  }
  return { config, problems };
}
