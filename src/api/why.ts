/**
 * `git run why <run>` and the explanations of `--dry-run`: why a run was run
 * instead of reused. The nearest earlier run of the same experiment (same
 * definition or experiment; for a typed command, the same command) is found
 * and each part of the run key that differs is named (core/key.ts): code
 * paths with a diffstat, parameters, seed, the names of environment
 * variables that changed, inputs, the run_args that matter.
 */
import type { Repo } from '../git/repo.js';
import { readBlob } from '../git/objects.js';
import { diffStat } from '../git/keytree.js';
import { KEY_ENV_FILE, RunReader, readRun, resolveRun, type RunView } from '../store/runs.js';
import { canonicalJson, type KeyParts, type RunSpec } from '../core/record.js';
import { compareKeyParts, envDifference, isSessionVariable, looksLikeCredential, parseKeyEnv, type KeyDifference } from '../core/key.js';
import { openIndex } from './query.js';
import { cloneId } from './envkey.js';

export interface Explanation {
  /** The earlier run compared with; null when there is none. */
  against: { id: string; status: string; createdAt: string; name: string | null } | null;
  /** The two keys are equal: it was run although it could have been reused. */
  sameKey: boolean;
  differences: KeyDifference[];
  /** The variables of the key environment that differ (names only: values are never recorded). */
  env: { added: string[]; removed: string[]; changed: string[] } | null;
  /** The code's diffstat between the two snapshots (over the deps when there are deps), as git prints it. */
  diffstat: string | null;
  /** Variables the command saw that are not in the key: credential-looking ones by name, the others (session variables, .runconfig's env_ignore) counted. */
  leftOut: { credential: string[]; other: number };
  /** Anything else worth saying (no earlier run, keys made by an older version, forced). */
  notes: string[];
}

/** How many of the newest earlier runs are read when the index cannot find one of the same experiment. */
const SCAN_LIMIT = 2000;

const sameExperiment = (a: RunSpec, b: RunSpec): boolean =>
  a.source && a.source !== 'command line' ? a.source === b.source && a.cwd === b.cwd : canonicalJson(a.command) === canonicalJson(b.command);

/**
 * Finds the nearest earlier run of a spec's experiment through one index and
 * one cat-file process, for as many specs as asked (a dry run explains every
 * child of a sweep with the same two).
 */
export class EarlierRuns {
  private index: Awaited<ReturnType<typeof openIndex>> | null = null;
  private readonly reader: RunReader;

  constructor(private readonly repo: Repo) {
    this.reader = new RunReader(repo);
  }

  /** The nearest run created before `spec` of the same experiment (not itself, not a group, not a sibling made with it). */
  async nearest(spec: RunSpec, selfId: string | null): Promise<RunView | null> {
    this.index ??= await openIndex(this.repo);
    const before = { sql: "r.created_at < ? AND r.kind = 'run'", args: [spec.createdAt] };
    // Newest first, so the first of the same experiment is the nearest. A typed command is found by the index;
    // a definition's children differ in their commands, so the newest runs are read for their source.
    const byCommand = this.index.select({ conditions: [before, { sql: 'r.command = ?', args: [JSON.stringify(spec.command)] }], limit: 50 });
    const typed = !spec.source || spec.source === 'command line';
    const found = await this.first(byCommand, spec, selfId);
    if (found && typed) return found;
    const scanned = await this.first(this.index.select({ conditions: [before], limit: SCAN_LIMIT }), spec, selfId);
    return !found || (scanned && scanned.spec.createdAt > found.spec.createdAt) ? scanned : found;
  }

  private async first(ids: string[], spec: RunSpec, selfId: string | null): Promise<RunView | null> {
    for (const { id, tip } of this.index!.rows(ids.filter((id) => id !== selfId))) {
      const v = await this.reader.read(id, tip);
      if (sameExperiment(spec, v.spec)) return v;
    }
    return null;
  }

  close(): void {
    this.index?.close();
    this.reader.close();
  }
}

async function keyEnvOf(repo: Repo, commit: string | null, parts: KeyParts): Promise<Map<string, string>> {
  if (!parts.env) return new Map();
  const blob = (await readBlob(repo, parts.env)) ?? (commit ? await readBlob(repo, `${commit}:${KEY_ENV_FILE}`) : null);
  return parseKeyEnv(blob?.toString('utf8') ?? '');
}

function leftOutOf(parts: KeyParts | undefined): Explanation['leftOut'] {
  const names = parts?.envLeftOut ?? [];
  const credential = names.filter((n) => looksLikeCredential(n) && !isSessionVariable(n));
  return { credential, other: names.length - credential.length };
}

/** Explain a spec (a recorded run's, or one a dry run planned) against the nearest earlier run of its experiment. */
export async function explainSpec(repo: Repo, spec: RunSpec, selfId: string | null, runs?: EarlierRuns): Promise<Explanation> {
  const ex: Explanation = { against: null, sameKey: false, differences: [], env: null, diffstat: null, leftOut: leftOutOf(spec.keyParts), notes: [] };
  const own = runs ?? new EarlierRuns(repo);
  let earlier: RunView | null;
  try {
    earlier = await own.nearest(spec, selfId);
  } finally {
    if (!runs) own.close();
  }
  if (!earlier) {
    ex.notes.push(spec.source && spec.source !== 'command line' ? `no earlier run of ${spec.source}: there was nothing to reuse` : 'no earlier run of this command: there was nothing to reuse');
    return ex;
  }
  ex.against = { id: earlier.id, status: earlier.status, createdAt: earlier.spec.createdAt, name: earlier.meta.name ?? earlier.spec.name ?? null };
  if (!spec.keyParts) {
    ex.notes.push('this run was recorded before run keys were explained: its parts are unknown');
    return ex;
  }
  if (!earlier.spec.keyParts) {
    ex.differences.push({ part: 'recipe', text: 'the earlier run was recorded before run keys were explained (an older version of git-run): its key cannot match' });
    return ex;
  }
  const a = earlier.spec.keyParts;
  const b = spec.keyParts;
  ex.sameKey = earlier.spec.key === spec.key;
  ex.differences = compareKeyParts(a, b);
  if (a.env !== b.env && a.v === b.v) {
    const env = envDifference(await keyEnvOf(repo, earlier.id, a), await keyEnvOf(repo, selfId, b));
    ex.env = env;
    const names = [...env.added, ...env.removed, ...env.changed];
    const words = [env.changed.length ? `changed ${env.changed.join(', ')}` : '', env.added.length ? `new ${env.added.join(', ')}` : '', env.removed.length ? `gone ${env.removed.join(', ')}` : ''].filter(Boolean).join('; ');
    ex.differences.push({ part: 'env', text: `environment: ${words || 'a variable changed'}`, names });
  }
  if (ex.differences.some((d) => d.part === 'code')) {
    const specs = b.deps ?? [':(exclude,top).runconfig', ...(spec.source && spec.source !== 'command line' && !spec.source.startsWith('experiment:') ? [`:(exclude,top)${spec.source}`] : [])];
    ex.diffstat = await diffStat(repo, earlier.spec.code.tree, spec.code.tree, specs);
  }
  if (ex.sameKey) {
    const r = spec.runArgs;
    if (r.force === true || r.skip === false) ex.notes.push(`it was forced (${r.force_ignores_success === true ? 'force_ignores_success' : 'force / skip: false'}): runs with the same key are rerun when they ${r.force_ignores_success === true ? 'exist' : 'did not succeed'}`);
    else ex.notes.push('the key is the same: the earlier run was not there yet when this one was submitted (submitted at the same time), or this one came from another clone');
  } else if (ex.differences.length === 1 && ex.differences[0]!.part === 'seed') {
    ex.notes.push('only the seed differs: a run without --seed (or "seed" in its definition) gets a random seed, so it is never reused');
  }
  return ex;
}

export async function explainRun(repo: Repo, name: string): Promise<{ run: RunView; explanation: Explanation }> {
  const run = await readRun(repo, await resolveRun(repo, name));
  if (run.spec.kind === 'group') {
    const notes = ['a group is reused when all its children are: ask about a child (`git run show` lists them)'];
    return { run, explanation: { against: null, sameKey: false, differences: [], env: null, diffstat: null, leftOut: leftOutOf(undefined), notes } };
  }
  const explanation = await explainSpec(repo, run.spec, run.id);
  // Which key a submission here would match it on (decision 0017).
  if (run.spec.clone && run.spec.portableKey && run.spec.clone !== (await cloneId(repo))) {
    explanation.notes.push(
      'this run was made in another clone: a submission here reuses it when its run key matches, or else when its portable key does (the run key without machine variables such as HOME, USER and PATH; other variables compared by their keyed hashes, so both clones need the same env-key file)',
    );
  }
  return { run, explanation };
}
