/**
 * A submission's plan: definition + .runconfig + command-line options, and
 * what was read from the world (the snapshot's ids, the resolved inputs, the
 * key environment's id), become the run specs to write. Pure: no file
 * system, no git, no clock, no randomness (the caller passes the time, the
 * seed and the nonces), so every rule of run_args, seeds, names and keys can
 * be read and tested here alone. src/api/submit.ts applies the plan.
 */
import { appliedRunArgs, dict, NATIVE_RUN_ARGS, type Definition } from './definition.js';
import { childCount, planChildren, type ChildPlan } from './sweep.js';
import { foldMetadata, formatEvent, type HostProfile, type KeyParts, type Metadata, type MetadataEvent, type RunInput, type RunSpec } from './record.js';
import { groupKeyOf, keyRunArgs, portableKeyOf, runKeyOf } from './key.js';

/** run_args' native defaults (the lowest level of remotemanager's hierarchy). */
export const NATIVE_DEFAULTS: Record<string, unknown> = Object.fromEntries(Object.entries(NATIVE_RUN_ARGS).filter(([, v]) => v.default !== null).map(([k, v]) => [k, v.default]));

export interface PlanInput {
  def: Definition;
  /** The command was typed after -- (no definition). */
  direct: boolean;
  /** 'command line', a definition file's path, or `experiment:<name>`. */
  source: string;
  /** The definition's params as written (a group records them). */
  rawParams: Record<string, unknown>;
  /** `name=value` given on the command line, parsed (a group records them over its params). */
  assignments: Array<[string, unknown]>;
  host: { name: string; record: HostProfile | null; maxParallel: number | null; sendsCode: boolean };
  /** run_args levels: .runconfig defaults, the host profile's, this submission's (temporary). */
  configDefaults: Record<string, unknown>;
  profileArgs: Record<string, unknown>;
  temporary: Record<string, unknown>;
  /** Decided once for the submission: the ignore files in force, local_dir. */
  fixedArgs: Record<string, unknown>;
  snapshot: { tree: string; commit: string | null; dirty: boolean };
  /** The code part of the key (see core/key.ts) and the deps that selected it. */
  codeKey: string;
  deps: string[] | null;
  inputs: RunInput[];
  /** The key environment's blob id (null: none reaches the command from here) and the names left out of the key. */
  env: { blob: string | null; leftOut: string[]; hashed?: ReadonlyMap<string, string> | null };
  /** This clone's id (recorded with the portable key); absent: no portable key is recorded. */
  clone?: string;
  /** .runconfig's "metrics_file", when set: recorded in each spec. */
  metricsFile?: string;
  cwd: string;
  creator: string;
  createdAt: string;
  /** The group's seed (a single run's own); random when the definition has none. */
  seed: number;
  seeded: boolean;
  /** Leave new runs queued for the daemon. */
  queue: boolean;
  /** This machine's CPUs (max_parallel's default). */
  cpus: number;
  /** A fresh nonce per spec. */
  nonce: () => string;
}

export interface Plan {
  /** One per child (a single run: one). */
  children: Array<{ plan: ChildPlan; spec: RunSpec }>;
  /** The group's spec, or null for a single run. */
  group: RunSpec | null;
  /** Whether existing runs can match (a random seed is new). */
  seeded: boolean;
  /** The metadata events this submission gives its run (or group), and their folded view. */
  events: MetadataEvent[];
  meta: Metadata;
  maxParallel: number;
  sequential: boolean;
}

export function planSubmission(p: PlanInput): Plan {
  const { def } = p;
  const dataset = { ...NATIVE_DEFAULTS, ...p.configDefaults, ...p.profileArgs, ...def.runArgs };
  const top = { ...dataset, ...p.temporary };
  const isGroup = childCount(def) > 1;
  // A single run uses the seed itself; children derive theirs from the group's.
  const plans = planChildren(def, p.seed, isGroup ? undefined : p.seed, !p.direct);
  const onHere = (a: Record<string, unknown>) => !p.host.sendsCode || a.on_local === true;

  const base = (runArgs: Record<string, unknown>, from: RunSpec['runArgsFrom']): Omit<RunSpec, 'command' | 'params' | 'seed' | 'key'> => ({
    format: 1,
    cwd: p.cwd,
    code: p.snapshot,
    host: p.host.name,
    runArgs,
    inputs: p.inputs,
    env: def.env,
    parent: null,
    creator: p.creator,
    createdAt: p.createdAt,
    nonce: p.nonce(),
    runArgsFrom: from,
    source: p.source,
    ...(p.host.record ? { hostProfile: p.host.record } : {}),
  });

  const children = plans.map((plan) => {
    const merged: Record<string, unknown> = { ...dataset, ...plan.runArgs, ...p.temporary, ...p.fixedArgs };
    const runArgs = appliedRunArgs(merged, onHere(merged));
    const keyParts: KeyParts = {
      v: 2,
      code: p.codeKey,
      deps: p.deps,
      command: plan.command,
      cwd: p.cwd,
      params: plan.params,
      seed: plan.seed,
      inputs: p.inputs.map((i) => ({ path: i.path, oid: i.oid })),
      env: p.env.blob,
      envLeftOut: p.env.leftOut,
      runArgs: keyRunArgs(runArgs),
    };
    const spec: RunSpec = {
      ...base(runArgs, { dataset, runner: plan.runArgs, temporary: p.temporary }),
      command: plan.command,
      params: plan.params,
      seed: plan.seed,
      key: runKeyOf(keyParts),
      keyParts,
      ...(p.clone ? { portableKey: portableKeyOf(keyParts, p.env.hashed ?? null), clone: p.clone } : {}),
      ...(isGroup ? { name: plan.name, repetition: plan.repetition } : {}),
      ...(p.queue ? { dispatch: 'daemon' as const } : {}),
      ...(p.metricsFile ? { metricsFile: p.metricsFile } : {}),
    };
    return { plan, spec };
  });

  const maxParallel = (top.max_parallel as number | null | undefined) ?? p.host.maxParallel ?? p.cpus;
  const set: NonNullable<MetadataEvent['set']> = {};
  if (def.name !== undefined) set.name = def.name;
  if (def.notes !== undefined) set.notes = def.notes;
  const events: MetadataEvent[] = Object.keys(set).length || def.tags.length ? [{ at: p.createdAt, by: p.creator, ...(Object.keys(set).length ? { set } : {}), ...(def.tags.length ? { tag: def.tags } : {}) }] : [];

  let group: RunSpec | null = null;
  if (isGroup) {
    const merged: Record<string, unknown> = { ...dataset, ...p.temporary, ...p.fixedArgs, max_parallel: maxParallel };
    const params = dict(Object.entries(p.rawParams).filter(([k]) => Object.hasOwn(def.params, k)));
    for (const [k, v] of p.assignments) params[k] = v;
    group = {
      ...base(appliedRunArgs(merged, onHere(merged)), { dataset, runner: {}, temporary: p.temporary }),
      kind: 'group',
      command: def.command,
      params,
      seed: p.seed,
      key: groupKeyOf(children.map((c) => c.spec.key)),
      childCount: children.length,
    };
  }
  return { children, group, seeded: p.seeded, events, meta: foldMetadata(events.map(formatEvent).join('\n')), maxParallel, sequential: top.asynchronous === false };
}
