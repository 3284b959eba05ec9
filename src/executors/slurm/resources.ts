/**
 * Slurm resources as run_args (DESIGN.md section 4: run_args git-run does not
 * know go to the executor): each becomes an `#SBATCH` line of the generated
 * batch script. Pure: checked at submission, before anything is written, so
 * a typo (`memory`), a malformed `time` or an option that would take the job
 * out of git-run's hands exits 2 with nothing recorded.
 */
import { closest, NATIVE_RUN_ARGS } from '../../core/definition.js';

/** The resource run_args and the sbatch option each becomes. */
export const RESOURCE_OPTIONS: Readonly<Record<string, string>> = {
  time: '--time',
  mem: '--mem',
  cpus_per_task: '--cpus-per-task',
  gpus: '--gpus',
  partition: '--partition',
  account: '--account',
  qos: '--qos',
  constraint: '--constraint',
  nodes: '--nodes',
  ntasks: '--ntasks',
};

/** run_args of the profile that are no resources: where the runs go on the host. */
const PLACE_KEYS = ['host', 'ssh_config'];

/**
 * Options of `sbatch` a user may not add: git-run decides where the output
 * goes, what runs, how the job is named (the run id, checked against
 * recycled job ids) and how sbatch answers.
 */
export const FORBIDDEN_SBATCH = ['--output', '--error', '--input', '--array', '--wrap', '--chdir', '--job-name', '--comment', '--export', '--export-file', '--parsable', '--wait', '--test-only', '--open-mode', '--batch', '--dependency', '--hold', '--help', '--usage', '--version', '--uid', '--gid'];

/** Short spellings sbatch accepts for the forbidden options (they would slip past a check of long names). */
const SHORT_OF: Record<string, string> = { '-o': '--output', '-e': '--error', '-i': '--input', '-a': '--array', '-D': '--chdir', '-J': '--job-name', '-d': '--dependency', '-H': '--hold', '-W': '--wait' };

/** Slurm's time formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS; a number of minutes as a JSON number. Minutes, or null. */
export function parseTime(v: unknown): number | null {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 1 ? v : null;
  if (typeof v !== 'string') return null;
  const n = (s: string) => (/^\d{1,6}$/.test(s) ? Number(s) : NaN);
  let m = /^(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?$/.exec(v);
  if (m) {
    const [d, h, mi, s] = [n(m[1]!), n(m[2]!), m[3] === undefined ? 0 : n(m[3]), m[4] === undefined ? 0 : n(m[4])];
    if ([d, h, mi, s].some(Number.isNaN) || h > 23 || mi > 59 || s > 59) return null;
    const t = d * 1440 + h * 60 + mi + Math.ceil(s / 60);
    return t >= 1 ? t : null;
  }
  m = /^(\d+)(?::(\d+)(?::(\d+))?)?$/.exec(v);
  if (!m) return null;
  const parts = [m[1], m[2], m[3]].filter((x): x is string => x !== undefined).map(n);
  if (parts.some(Number.isNaN)) return null;
  let t: number;
  if (parts.length === 1) t = parts[0]!;
  else if (parts.length === 2) {
    if (parts[1]! > 59) return null;
    t = parts[0]! + Math.ceil(parts[1]! / 60);
  } else {
    if (parts[1]! > 59 || parts[2]! > 59) return null;
    t = parts[0]! * 60 + parts[1]! + Math.ceil(parts[2]! / 60);
  }
  return t >= 1 ? t : null;
}

/** Slurm's memory: N with an optional unit K, M (the default), G or T. Megabytes, or null. */
export function parseMem(v: unknown): number | null {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 1 ? v : null;
  if (typeof v !== 'string') return null;
  const m = /^(\d{1,12})([KMGT]?)$/i.exec(v);
  if (!m) return null;
  const f = { '': 1, K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  const mb = Number(m[1]) * f;
  return mb > 0 ? mb : null;
}

/** A word for an `#SBATCH` line: sbatch splits those lines at blanks, and a newline would start a line of its own. */
const WORD = /^[A-Za-z0-9._,:=+@%/\-[\]()&|]+$/;

/** Why an extra sbatch option is refused, or null when it is accepted. */
export function sbatchOptionProblem(o: unknown): string | null {
  if (typeof o !== 'string') return `each entry of sbatch is a string like "--exclusive", got ${JSON.stringify(o)}`;
  if (!o.startsWith('--')) {
    const short = SHORT_OF[o.slice(0, 2)];
    return `sbatch option ${JSON.stringify(o)} does not start with --${short ? ` (and ${o.slice(0, 2)} is ${short}, which git-run sets itself)` : ''}: write the long form, e.g. "--exclusive" or "--mail-type=END"`;
  }
  if (/[\n\r]/.test(o)) return `sbatch option ${JSON.stringify(o)} holds a newline`;
  if (!WORD.test(o)) return `sbatch option ${JSON.stringify(o)} holds a blank or a character an #SBATCH line cannot carry (sbatch splits those lines at blanks)`;
  const name = o.includes('=') ? o.slice(0, o.indexOf('=')) : o;
  // sbatch takes any unambiguous prefix of a long option: --out is --output.
  const hit = FORBIDDEN_SBATCH.find((f) => f === name || (name.length >= 5 && f.startsWith(name)));
  if (hit) return `sbatch option ${JSON.stringify(o)} is set by git-run itself (${hit}: where the output goes, what runs, the job's name and array are git-run's): remove it`;
  return null;
}

export interface Resources {
  /** The `#SBATCH` lines' options, in a stable order. */
  options: string[];
  /** What is wrong, one sentence each (empty: all good). */
  problems: string[];
}

/** The resource run_args of a run (its run_args minus the native ones), checked and turned into sbatch options. */
export function resourcesOf(runArgs: Record<string, unknown>): Resources {
  const options: string[] = [];
  const problems: string[] = [];
  const known = Object.keys(RESOURCE_OPTIONS).concat('sbatch');
  for (const [k, v] of Object.entries(runArgs)) {
    if (Object.hasOwn(NATIVE_RUN_ARGS, k) || PLACE_KEYS.includes(k) || k.startsWith('//')) continue;
    if (!known.includes(k)) {
      // A near miss by spelling (tme), or by a longer or shorter name (memory, cpus).
      const near = closest(k, known) ?? known.find((c) => k.length > 2 && (k.startsWith(c) || c.startsWith(k))) ?? null;
      problems.push(`unknown resource '${k}'${near ? `: did you mean '${near}'?` : ''} (a Slurm host takes ${known.join(', ')})`);
      continue;
    }
    if (v === null || v === undefined) continue;
    if (k === 'sbatch') {
      const list = typeof v === 'string' ? [v] : v;
      if (!Array.isArray(list)) {
        problems.push(`sbatch is a list of options like ["--exclusive"], got ${JSON.stringify(v)}`);
        continue;
      }
      for (const o of list) {
        const p = sbatchOptionProblem(o);
        if (p) problems.push(p);
        else options.push(o as string);
      }
      continue;
    }
    const opt = RESOURCE_OPTIONS[k]!;
    if (k === 'time') {
      if (parseTime(v) === null) problems.push(`time ${JSON.stringify(v)} is not a Slurm time: use minutes (30), MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS`);
      else options.push(`${opt}=${v}`);
    } else if (k === 'mem') {
      if (parseMem(v) === null) problems.push(`mem ${JSON.stringify(v)} is not a Slurm memory size: a whole number with an optional unit K, M, G or T (e.g. 500M, 8G)`);
      else options.push(`${opt}=${v}`);
    } else if (['cpus_per_task', 'nodes', 'ntasks'].includes(k)) {
      if (!(Number.isInteger(v) && (v as number) >= 1) && !(typeof v === 'string' && /^\d{1,6}(-\d{1,6})?$/.test(v) && k === 'nodes') && !(typeof v === 'string' && /^[1-9]\d{0,5}$/.test(v))) problems.push(`${k} ${JSON.stringify(v)} is not a whole number >= 1`);
      else options.push(`${opt}=${v}`);
    } else if (k === 'gpus') {
      if (!(Number.isInteger(v) && (v as number) >= 0) && !(typeof v === 'string' && /^([A-Za-z0-9_-]+:)?\d{1,4}$/.test(v))) problems.push(`gpus ${JSON.stringify(v)} is not a count or type:count (e.g. 2 or "a100:2")`);
      else options.push(`${opt}=${v}`);
    } else if (typeof v !== 'string' || !v || !WORD.test(v)) {
      problems.push(`${k} ${JSON.stringify(v)} is not a name Slurm takes (letters, digits and . _ - , : & | only, no blanks)`);
    } else options.push(`${opt}=${v}`);
  }
  return { options: options.sort(), problems };
}
