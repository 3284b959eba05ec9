/**
 * Submitting work: one command (`git run -- ...`) or a run definition
 * (`git run submit file.json | experiment`). Both go through the same steps:
 *
 *   definition -> parameters and flags applied -> checks (nothing written yet)
 *   -> snapshot -> children planned, keyed, matched against existing runs
 *   -> objects written -> every new ref and the metadata note in one transaction
 *
 * A definition with more than one combination or repeat > 1 makes a group
 * (parent run) and its children; anything else makes one run.
 */
import { promises as fs, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { openRepo, readIdent, type Repo } from '../git/repo.js';
import { warmUpHashing } from '../git/loose.js';
import { sharedPerm, sharedPermFor, writeFileShared } from '../git/shared.js';
import { daemonPid } from '../daemon/lock.js';
import { resolveCommit, snapshotOfCommit, takeSnapshot, tempPath, type Snapshot } from '../git/snapshot.js';
import { addMetadata, childrenView, publishRuns, readRun, startedView, writeSpecCommit, type RunView } from '../store/runs.js';
import { reusable, findByKeys, type KeyedRun } from '../store/keys.js';
import { canonicalJson, foldMetadata, formatEvent, newSeed, runKey, type GroupChild, type HostProfile, type MetadataEvent, type RunSpec } from '../core/record.js';
import { appliedRunArgs, checkDefinition, checkRunArgs, closest, dict, utf8Text, NATIVE_RUN_ARGS, type Definition, type Problem, type Scalar } from '../core/definition.js';
import { childCount, duplicateProblems, placeholderProblems, planChildren, type ChildPlan } from '../core/sweep.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { ignoreFile, loadRunConfig, parseSeed, type IgnoreFile } from './context.js';
import type { RunConfig } from '../core/config.js';
import { controlDirFor, discardControlDir, executorForProfile, executorForSpec, executorOfType, fetchIgnoreCopy, prepareControlDir, type Executor } from '../executors/index.js';

/** Above this many children a submission needs --yes. */
export const SWEEP_CAP = 1000;
/**
 * No submission makes more children than this, --yes or not: a submission
 * is planned and written in memory before anything is published (one
 * transaction), about 1.1 kB a child (1e6 children took 1.09 GB). See
 * docs/decisions/0010-submission.md.
 */
export const SWEEP_LIMIT = 100_000;

const countText = (n: number) => (Number.isFinite(n) ? String(n) : 'more than can be counted (a step too small for its range)');

export interface SubmitOptions {
  /** Where the user stands. Default: process.cwd(). */
  cwd?: string;
  /** A definition file, or the name of an experiment in .runconfig. */
  target?: string;
  /** The command, for the direct form (no definition). */
  command?: string[];
  /** `name=value` parameters; they override the definition's. */
  assignments?: string[];
  name?: string;
  notes?: string;
  tags?: string[];
  repeat?: number | string;
  seed?: number | string;
  host?: string;
  /** run_args for this submission only (remotemanager's temporary level). */
  runArgs?: Record<string, unknown>;
  /** Allow a sweep above SWEEP_CAP children. */
  yes?: boolean;
  /** Run the code of this commit (its tree, its .runconfig, its .sendignore) instead of a snapshot of the work tree. */
  commit?: string;
}

export interface SubmittedChild {
  /** Absent when a detached supervisor picks the child up from git. */
  plan?: ChildPlan;
  /** The new run, or the existing one that was reused. */
  id: string;
  reused: KeyedRun | null;
  /** For a new run: its view as published, and its run directory. */
  view: RunView | null;
  controlDir: string | null;
  /** For a run published already started: the checkout under way. */
  materialized?: Promise<void>;
}

export interface Submission {
  repo: Repo;
  /** The group, or null for a single run. */
  group: RunView | null;
  /** True when an identical group existed and was reused whole. */
  groupReused: boolean;
  children: SubmittedChild[];
  maxParallel: number;
  sequential: boolean;
  /** The name, notes and tags this submission gave the run (or group) it reused, added to its notes as `git run edit` would; null when it reused none or changed nothing. */
  metadataApplied?: MetadataEvent | null;
  /** Detached without a daemon: the host's runs now exceed its max_parallel (it holds across submissions only while a daemon runs). */
  beyondMaxParallel?: { host: string; running: number; starting: number; maxParallel: number } | null;
}

/**
 * A reused run keeps what this submission says of it: the name, notes and
 * tags given that differ from the run's (tags: those it lacks) are added to
 * its notes, as `git run edit` would. A reused child of another group is
 * left alone: its metadata is its group's.
 */
async function applyToReused(repo: Repo, id: string, wanted: { name?: string; notes?: string; tags: string[] }, at: string, by: string): Promise<MetadataEvent | null> {
  const view = await readRun(repo, id);
  if (view.spec.parent) return null;
  const set: NonNullable<MetadataEvent['set']> = {};
  if (wanted.name !== undefined && wanted.name !== view.meta.name) set.name = wanted.name;
  if (wanted.notes !== undefined && wanted.notes !== view.meta.notes) set.notes = wanted.notes;
  const tag = wanted.tags.filter((t) => !view.meta.tags.includes(t));
  if (!Object.keys(set).length && !tag.length) return null;
  const e: MetadataEvent = { at, by, ...(Object.keys(set).length ? { set } : {}), ...(tag.length ? { tag } : {}) };
  await addMetadata(repo, id, [e]);
  return e;
}

const invalid = (source: string, problems: Problem[]) =>
  new GitRunError(
    ErrorCode.DefinitionInvalid,
    `${source} is not a valid run definition:\n${problems.map((p) => `  ${source}${p.path ? `: ${p.path}` : ''}: ${p.problem}`).join('\n')}`,
    'fix the definition (the JSON Schema is schema/definition.schema.json; .runconfig.example documents every key)',
    { source, problems },
  );

/** Read the definition the user named: a file first, else an experiment. */
async function loadDefinition(cwd: string, config: RunConfig, opts: SubmitOptions): Promise<{ raw: unknown; source: string }> {
  if (opts.command) {
    if (opts.target) throw new GitRunError(ErrorCode.BadOption, 'give a definition or a command, not both', 'e.g. `git run submit sweep.json` or `git run -- python train.py`');
    return { raw: { command: opts.command }, source: 'the command line' };
  }
  const target = opts.target;
  if (!target) throw new GitRunError(ErrorCode.BadOption, 'nothing to submit', 'name a definition file or an experiment of .runconfig: `git run submit sweep.json`');
  const file = path.resolve(cwd, target);
  // The code of a commit runs that commit's experiment, whatever the work tree holds.
  if (opts.commit && config.experiments[target] !== undefined) return { raw: config.experiments[target], source: `.runconfig: experiments.${target}` };
  if (existsSync(file) || /\.json$/i.test(target)) {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch (e) {
      throw new GitRunError(ErrorCode.DefinitionInvalid, `cannot read the definition ${file}: ${(e as Error).message}`, 'check the path', { file });
    }
    const decoded = utf8Text(bytes);
    if ('problem' in decoded) throw invalid(target, [{ path: '', problem: decoded.problem }]);
    const text = decoded.text;
    try {
      return { raw: JSON.parse(text), source: target };
    } catch (e) {
      throw invalid(target, [{ path: '', problem: `not valid JSON: ${(e as Error).message}` }]);
    }
  }
  const experiment = config.experiments[target];
  if (experiment !== undefined) return { raw: experiment, source: `.runconfig: experiments.${target}` };
  const names = Object.keys(config.experiments);
  const near = closest(target, names);
  throw new GitRunError(
    ErrorCode.UnknownExperiment,
    `'${target}' is neither a file nor an experiment of .runconfig${near ? `: did you mean '${near}'?` : ''}`,
    names.length ? `experiments: ${names.join(', ')}` : 'define experiments under "experiments" in .runconfig, or give a definition file',
    { target },
  );
}

/** `name=value`: a value that reads back the same as a JSON number or boolean is one; anything else is text, byte for byte. */
export function parseAssignment(a: string): [string, Scalar] {
  const eq = a.indexOf('=');
  const name = eq > 0 ? a.slice(0, eq) : '';
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) {
    throw new GitRunError(ErrorCode.BadOption, `malformed parameter '${a}': expected name=value`, 'a name starts with a letter or _ and holds letters, digits, _ . -; e.g. lr=0.1', { assignment: a });
  }
  const text = a.slice(eq + 1);
  if (text.includes('\0')) throw new GitRunError(ErrorCode.BadOption, `parameter '${name}' contains a NUL byte`, 'a NUL byte cannot reach a command');
  if (text === 'true' || text === 'false') return [name, text === 'true'];
  const n = Number(text);
  if (text.trim() !== '' && Number.isFinite(n) && String(n) === text) return [name, n];
  return [name, text];
}

/** Apply the command line to the definition: parameters, then flags (they win). */
function applyCommandLine(d: Definition, opts: SubmitOptions, source: string, direct: boolean): Definition {
  const out: Definition = { ...d, params: dict(Object.entries(d.params)) };
  for (const a of opts.assignments ?? []) {
    const [name, value] = parseAssignment(a);
    if (!direct && !Object.hasOwn(out.params, name)) {
      const near = closest(name, Object.keys(out.params));
      throw new GitRunError(ErrorCode.BadOption, `${source} has no parameter '${name}'${near ? `: did you mean '${near}'?` : ''}`, `its parameters: ${Object.keys(out.params).join(', ') || '(none)'}`, { name });
    }
    out.params[name] = { kind: 'value', value };
  }
  if (opts.name !== undefined) out.name = opts.name;
  if (opts.notes !== undefined) out.notes = opts.notes;
  if (opts.tags !== undefined) out.tags = opts.tags.map((t) => t.trim()).filter(Boolean);
  if (opts.repeat !== undefined) {
    const r = Number(opts.repeat);
    if (!Number.isInteger(r) || r < 1) throw new GitRunError(ErrorCode.BadOption, `invalid --repeat '${opts.repeat}': expected a whole number >= 1`, 'e.g. --repeat 3');
    out.repeat = r;
  }
  if (opts.seed !== undefined) out.seed = parseSeed(opts.seed);
  if (opts.host !== undefined) out.host = opts.host;
  return out;
}

interface HostChoice {
  name: string;
  /** The executor of the profile's type. */
  executor: Executor;
  /** What runs record of the profile (null: nothing, a local profile). */
  record: HostProfile | null;
  maxParallel: number | null;
  /** The profile's other keys: run_args at the dataset level. */
  runArgs: Record<string, unknown>;
}

function resolveHost(config: RunConfig, name: string | null, top: string): HostChoice {
  const host = name ?? 'local';
  const profile = config.hosts[host] as Record<string, unknown> | undefined;
  if (!profile && host !== 'local') {
    const near = closest(host, ['local', ...Object.keys(config.hosts)]);
    throw new GitRunError(ErrorCode.UnknownHost, `unknown host '${host}'${near ? `: did you mean '${near}'?` : ''}`, `hosts: local${Object.keys(config.hosts).length ? ', ' + Object.keys(config.hosts).join(', ') : ''} (profiles live under "hosts" in .runconfig)`, { host });
  }
  const { type = 'local', max_parallel: maxParallel = null, ...rest } = profile ?? {};
  const executor = executorOfType(String(type), host);
  const { record, runArgs } = executor.checkProfile(host, rest, top);
  return { name: host, executor, record, maxParallel: typeof maxParallel === 'number' ? maxParallel : null, runArgs };
}

const NATIVE_DEFAULTS = Object.fromEntries(Object.entries(NATIVE_RUN_ARGS).filter(([, v]) => v.default !== null).map(([k, v]) => [k, v.default]));

export interface PrepareOptions {
  /** Publish a single new run at its started commit and check it out now (the foreground fast path). */
  startHere?: boolean;
  /** Leave the new runs queued for the daemon, when a daemon runs for the repository. */
  queueIfDaemon?: boolean;
}

export async function prepareSubmission(opts: SubmitOptions, prep: PrepareOptions = {}): Promise<Submission> {
  const cwd = path.resolve(opts.cwd ?? process.cwd());
  if (opts.command && (!opts.command.length || opts.command[0] === '')) {
    throw new GitRunError(ErrorCode.NoCommand, 'no command to run', 'put the command after --, e.g. `git run -- python train.py`');
  }
  // Started together: each waits on its own git process.
  const identEarly = readIdent(cwd);
  identEarly.catch(() => undefined);
  const opening = openRepo(cwd);
  warmUpHashing();
  const repo = await opening;
  repo.primeIdent(identEarly);
  if (!repo.topLevel) throw new GitRunError(ErrorCode.NotARepository, `${repo.gitDir} is a bare repository: there is no work tree to run from`, 'run git-run in a clone with a work tree');
  const top = repo.topLevel;
  const queue = !!prep.queueIfDaemon && daemonPid(repo) !== null;
  if (opts.commit) opts = { ...opts, commit: await resolveCommit(repo, opts.commit) };
  const config = await loadRunConfig(repo, opts.commit);

  // The definition, checked, with the command line applied.
  const { raw, source } = await loadDefinition(cwd, config, opts);
  const checked = checkDefinition(raw);
  if (!checked.definition) throw invalid(source, checked.problems);
  const direct = !!opts.command;
  const def = applyCommandLine(checked.definition, opts, source, direct);
  // A command typed after -- is written for the shell: only known {names} are placeholders there.
  const ph = direct ? [] : placeholderProblems(def);
  if (ph.length) throw invalid(source, ph);
  const host = resolveHost(config, def.host, top);
  const n = childCount(def);
  if (n > SWEEP_LIMIT) {
    throw new GitRunError(ErrorCode.SweepTooLarge, `${source} makes ${countText(n)} runs, more than ${SWEEP_LIMIT}, the most one submission makes (even with --yes)`, 'check the ranges and steps; a larger sweep goes in several submissions (e.g. one per value of its first parameter, with name=value)', { count: Number.isFinite(n) ? n : null, limit: SWEEP_LIMIT });
  }
  if (n > SWEEP_CAP && !opts.yes) {
    throw new GitRunError(ErrorCode.SweepTooLarge, `${source} makes ${n} runs, more than ${SWEEP_CAP}`, 'check the ranges, or pass --yes to submit them all', { count: n });
  }
  const dups = duplicateProblems(def);
  if (dups.length) throw invalid(source, dups);

  // run_args: dataset level (native defaults, .runconfig, definition), then
  // per child (overrides), then this submission only (temporary).
  const tempProblems: Problem[] = [];
  const temporary = checkRunArgs(opts.runArgs ?? {}, 'run_args', tempProblems);
  if (tempProblems.length) {
    // These came from options: name them as the user typed them.
    const flag = (p: string) => `--${p.replace(/^run_args\./, '').replace(/_/g, '-')}`;
    throw new GitRunError(ErrorCode.BadOption, tempProblems.map((p) => `invalid ${flag(p.path)}: ${p.problem}`).join('\n'), 'see `git run --help` for the options and their values');
  }
  const hostProblems: Problem[] = [];
  const profileArgs = checkRunArgs(host.runArgs, `hosts.${host.name}`, hostProblems);
  if (hostProblems.length) throw new GitRunError(ErrorCode.ConfigInvalid, `.runconfig: ${hostProblems.map((p) => `${p.path}: ${p.problem}`).join('; ')}`, 'fix the host profile');
  const dataset = { ...NATIVE_DEFAULTS, ...config.defaults, ...profileArgs, ...def.runArgs };
  const top1 = { ...dataset, ...temporary };
  // Ignore files and the run directory are decided once for the submission.
  // The same precedence as every run_arg: this submission, the definition, the host profile, .runconfig's defaults.
  const pathArg = (k: string, dflt?: string): string | undefined => {
    const v = temporary[k] ?? def.runArgs[k] ?? profileArgs[k] ?? config.defaults[k];
    if (typeof v !== 'string' || (v === dflt && !(k in temporary))) return undefined;
    return path.resolve(k in temporary ? cwd : top, v);
  };
  const send = await ignoreFile(repo, cwd, pathArg('send_ignore', '.sendignore'), '.sendignore', '--send-ignore', opts.commit);
  const fetch = await ignoreFile(repo, cwd, pathArg('fetch_ignore', '.fetchignore'), '.fetchignore', '--fetch-ignore', opts.commit);
  const localDir = pathArg('local_dir');
  const fixedArgs = { send_ignore: send?.name ?? null, fetch_ignore: fetch?.name ?? null, ...(localDir ? { local_dir: localDir } : {}) };

  // An ssh host is reached (and its key checked) before anything is written.
  const runner = executorForProfile(host.executor, def.runArgs.on_local === true || temporary.on_local === true);
  const reaching = runner.reach(host.record);
  reaching?.catch(() => undefined);
  const [snapshot, ident] = await Promise.all([snapshotWith(repo, send, runner.sendsCode, opts.commit), repo.ident()]);
  await reaching;
  const hostProfile = host.record;
  const creator = `${ident.name} <${ident.email}>`;
  const createdAt = new Date().toISOString();
  const isGroup = n > 1;
  const seeded = def.seed !== null;
  const groupSeed = def.seed ?? newSeed();
  // A single run uses its seed directly; children derive theirs from the group's.
  const plans = planChildren(def, groupSeed, isGroup ? undefined : groupSeed, !direct);

  const specs = plans.map((plan) => {
    // The child's own run_args (runner level); `runner` is the executor.
    const childArgs = plan.runArgs;
    const merged: Record<string, unknown> = { ...dataset, ...childArgs, ...temporary, ...fixedArgs };
    const derived = appliedRunArgs(merged, !runner.sendsCode || merged.on_local === true);
    const params = plan.params;
    const key = runKey({ tree: snapshot.tree, command: plan.command, cwd: repo.prefix, params, seed: plan.seed, inputs: def.inputs, env: def.env });
    const spec: RunSpec = {
      format: 1,
      command: plan.command,
      cwd: repo.prefix,
      params,
      seed: plan.seed,
      code: snapshot,
      host: host.name,
      runArgs: derived,
      inputs: def.inputs,
      env: def.env,
      parent: null,
      creator,
      createdAt,
      key,
      nonce: crypto.randomBytes(8).toString('hex'),
      runArgsFrom: { dataset, runner: childArgs, temporary },
      ...(hostProfile ? { hostProfile } : {}),
      ...(isGroup ? { name: plan.name, repetition: plan.repetition } : {}),
      ...(queue ? { dispatch: 'daemon' as const } : {}),
    };
    return spec;
  });

  // The group's key is its children's keys, in order.
  const groupKey = crypto.createHash('sha256').update(canonicalJson({ kind: 'group', children: specs.map((s) => s.key) })).digest('hex');
  // Memoization: only seeded submissions can match (a random seed is new).
  const existing = seeded ? await findByKeys(repo, [...specs.map((s) => s.key), ...(isGroup ? [groupKey] : [])]) : new Map<string, KeyedRun[]>();
  const reuse = specs.map((s) => {
    const a = s.runArgs;
    const skip = a.skip !== false && a.force !== true;
    return reusable(existing.get(s.key), skip, a.force_ignores_success === true);
  });

  const events: MetadataEvent[] = [];
  const set: NonNullable<MetadataEvent['set']> = {};
  if (def.name !== undefined) set.name = def.name;
  if (def.notes !== undefined) set.notes = def.notes;
  if (Object.keys(set).length || def.tags.length) events.push({ at: createdAt, by: creator, ...(Object.keys(set).length ? { set } : {}), ...(def.tags.length ? { tag: def.tags } : {}) });
  const meta = foldMetadata(events.map(formatEvent).join('\n'));
  const maxParallel = (top1.max_parallel as number | null | undefined) ?? host.maxParallel ?? os.cpus().length;
  const sequential = top1.asynchronous === false;

  if (!isGroup) {
    const spec = specs[0]!;
    const found = reuse[0];
    if (found) {
      const metadataApplied = await applyToReused(repo, found.id, def, createdAt, creator);
      return { repo, group: null, groupReused: false, children: [{ plan: plans[0]!, id: found.id, reused: found, view: null, controlDir: null }], maxParallel, sequential, metadataApplied };
    }
    const child = await writeNewRun(repo, spec, meta, fetch, !!prep.startHere);
    try {
      await publishRuns(repo, [{ id: child.id, tip: child.view!.tip }], events.length ? { id: child.id, events } : null);
    } catch (e) {
      await child.materialized?.catch(() => undefined);
      await discardControlDir(child.controlDir!);
      throw e;
    }
    return { repo, group: null, groupReused: false, children: [{ ...child, plan: plans[0]! }], maxParallel, sequential };
  }

  const groupMerged: Record<string, unknown> = { ...dataset, ...temporary, ...fixedArgs, max_parallel: maxParallel };
  const groupArgs = appliedRunArgs(groupMerged, !runner.sendsCode || groupMerged.on_local === true);
  const skipGroup = groupArgs.skip !== false && groupArgs.force !== true;
  if (skipGroup && reuse.every(Boolean)) {
    const same = existing.get(groupKey)?.find((r) => r.kind === 'group');
    if (same) {
      const metadataApplied = await applyToReused(repo, same.id, def, createdAt, creator);
      return { repo, metadataApplied, group: await readRun(repo, same.id), groupReused: true, children: plans.map((plan, i) => ({ plan, id: reuse[i]!.id, reused: reuse[i]!, view: null, controlDir: null })), maxParallel, sequential };
    }
  }
  const groupSpec: RunSpec = {
    format: 1,
    kind: 'group',
    command: def.command,
    cwd: repo.prefix,
    params: dict(Object.entries((raw as { params?: Record<string, unknown> }).params ?? {}).filter(([k]) => Object.hasOwn(def.params, k))),
    seed: groupSeed,
    code: snapshot,
    host: host.name,
    runArgs: groupArgs,
    inputs: def.inputs,
    env: def.env,
    parent: null,
    creator,
    createdAt,
    key: groupKey,
    nonce: crypto.randomBytes(8).toString('hex'),
    runArgsFrom: { dataset, runner: {}, temporary },
    childCount: n,
    ...(hostProfile ? { hostProfile } : {}),
  };
  for (const a of opts.assignments ?? []) {
    const [k, v] = parseAssignment(a);
    groupSpec.params[k] = v;
  }
  const group = await writeSpecCommit(repo, groupSpec, meta);
  const children: SubmittedChild[] = [];
  try {
    for (const [i, spec] of specs.entries()) {
      const found = reuse[i];
      if (found) children.push({ plan: plans[i]!, id: found.id, reused: found, view: null, controlDir: null });
      else children.push({ ...(await writeNewRun(repo, { ...spec, parent: group.id }, { name: spec.name ?? null, notes: null, tags: [] }, fetch, false)), plan: plans[i]! });
    }
    const list: GroupChild[] = children.map((c) => ({ id: c.id, reused: !!c.reused }));
    const withChildren = await childrenView(repo, group, list);
    await publishRuns(repo, [{ id: group.id, tip: withChildren.tip }, ...children.filter((c) => c.view).map((c) => ({ id: c.id, tip: c.view!.tip }))], events.length ? { id: group.id, events } : null);
    return { repo, group: withChildren, groupReused: false, children, maxParallel, sequential };
  } catch (e) {
    for (const c of children) if (c.controlDir) await discardControlDir(c.controlDir);
    throw e;
  }
}

/** `keepIndex`: the code goes to a remote host, which can then be sent the work tree's files (see src/git/worktree-tar.ts). */
async function snapshotWith(repo: Repo, send: IgnoreFile | null, keepIndex: boolean, commit?: string): Promise<Snapshot> {
  // git reads the patterns from a file: give it the translated ones.
  const sendFile = send ? await tempPath(repo, 'sendignore') : null;
  if (sendFile) writeFileShared(await sharedPerm(repo), sendFile, send!.patterns);
  try {
    if (commit) return await snapshotOfCommit(repo, commit, { sendIgnoreFile: sendFile });
    return await takeSnapshot(repo, { sendIgnoreFile: sendFile, keepIndex });
  } finally {
    if (sendFile) await fs.rm(sendFile, { force: true });
  }
}

/** Write a new run's objects and prepare its run directory (nothing published). */
async function writeNewRun(repo: Repo, spec: RunSpec, meta: RunView['meta'], fetch: IgnoreFile | null, startHere: boolean): Promise<Omit<SubmittedChild, 'plan'>> {
  const queued = await writeSpecCommit(repo, spec, meta);
  const controlDir = controlDirFor(repo, queued.id, spec.runArgs);
  const perm = await sharedPermFor(repo, controlDir);
  await prepareControlDir(controlDir, perm);
  if (fetch) writeFileShared(perm, fetchIgnoreCopy(controlDir), fetch.patterns);
  // Published already started when its executor allows (the foreground fast path), its code put in place while the ref is written.
  const executor = executorForSpec(spec);
  const state = startHere ? executor.startedAtPublish(controlDir) : null;
  if (!state) return { id: queued.id, reused: null, view: queued, controlDir };
  const view = await startedView(repo, queued, state);
  const materialized = executor.prepareCode(repo, view) ?? undefined;
  materialized?.catch(() => undefined); // a failure is recorded by the supervisor
  return { id: view.id, reused: null, view, controlDir, materialized };
}
