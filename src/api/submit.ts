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
import { newSeed, type GroupChild, type HostProfile, type MetadataEvent, type RunSpec } from '../core/record.js';
import { checkDefinition, checkRunArgs, closest, dict, utf8Text, type Definition, type Problem, type Scalar } from '../core/definition.js';
import { childCount, duplicateProblems, placeholderProblems, type ChildPlan } from '../core/sweep.js';
import { planSubmission, type Plan } from '../core/plan.js';
import { commandBaseEnv, keyEnvironment, keyEnvText } from '../core/key.js';
import { writeBlob } from '../git/objects.js';
import { depsKey, treeWithout } from '../git/keytree.js';
import { envHashKey, cloneId } from './envkey.js';
import { EarlierRuns, explainSpec, type Explanation } from './why.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { commandLineInputs, resolveInputs } from './inputs.js';
import { ignoreFile, loadRunConfig, parseSeed, type IgnoreFile } from './context.js';
import type { RunConfig } from '../core/config.js';
import { controlDirFor, discardControlDir, environCopy, executorForProfile, executorForSpec, executorOfType, fetchIgnoreCopy, prepareControlDir, type Executor } from '../executors/index.js';

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
  /** -i/--input values: `[dest=]<run>:<path>` or `[dest=]<work-tree path>`, relative to `cwd`. */
  inputs?: string[];
  /** Keep work-tree inputs' content in git objects (the `store` option for every input). */
  storeInputs?: boolean;
  /** `inputs` are relative to the top, not to `cwd` (rerun: from a record). */
  inputsAtTop?: boolean;
  /** Run the code of this commit (its tree, its .runconfig, its .sendignore) instead of a snapshot of the work tree. */
  commit?: string;
  /** Pathspecs (relative to where the user stands, git's syntax) the result depends on: the key's code part covers only these (`--dep`). */
  deps?: string[];
  /** Run exactly this recorded snapshot (`rerun --same-code`): its .runconfig and ignore files are read from its tree. */
  code?: Snapshot;
  /** Declared environment variables added to the definition's (`rerun`: the recorded ones). */
  env?: Record<string, string>;
  /** What the record names as the submission's source (`rerun` keeps the original's, so `why` compares it with its experiment). */
  source?: string;
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
interface LoadedDefinition {
  raw: unknown;
  /** For messages. */
  source: string;
  /** For the record (RunSpec.source): 'command line', the file's path from the top, or `experiment:<name>`. */
  id: string;
  /** The definition file, when it is one. */
  file?: string;
}

async function loadDefinition(cwd: string, config: RunConfig, opts: SubmitOptions): Promise<LoadedDefinition> {
  if (opts.command) {
    if (opts.target) throw new GitRunError(ErrorCode.BadOption, 'give a definition or a command, not both', 'e.g. `git run submit sweep.json` or `git run -- python train.py`');
    return { raw: { command: opts.command }, source: 'the command line', id: 'command line' };
  }
  const target = opts.target;
  if (!target) throw new GitRunError(ErrorCode.BadOption, 'nothing to submit', 'name a definition file or an experiment of .runconfig: `git run submit sweep.json`');
  const file = path.resolve(cwd, target);
  // The code of a commit runs that commit's experiment, whatever the work tree holds.
  if (opts.commit && config.experiments[target] !== undefined) return { raw: config.experiments[target], source: `.runconfig: experiments.${target}`, id: `experiment:${target}` };
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
      return { raw: JSON.parse(text), source: target, id: target, file };
    } catch (e) {
      throw invalid(target, [{ path: '', problem: `not valid JSON: ${(e as Error).message}` }]);
    }
  }
  const experiment = config.experiments[target];
  if (experiment !== undefined) return { raw: experiment, source: `.runconfig: experiments.${target}`, id: `experiment:${target}` };
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
  if (opts.env) out.env = dict([...Object.entries(d.env), ...Object.entries(opts.env)]);
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

export function resolveHost(config: RunConfig, name: string | null, top: string): HostChoice {
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

export interface PrepareOptions {
  /** Publish a single new run at its started commit and check it out now (the foreground fast path). */
  startHere?: boolean;
  /** Leave the new runs queued for the daemon, when a daemon runs for the repository. */
  queueIfDaemon?: boolean;
}

/** Everything a submission checks before it reads the work tree or writes anything. */
interface Checked {
  repo: Repo;
  cwd: string;
  config: RunConfig;
  def: Definition;
  loaded: LoadedDefinition;
  direct: boolean;
  host: HostChoice;
  /** The executor that runs it (the host's, or local for on_local). */
  runner: Executor;
  temporary: Record<string, unknown>;
  profileArgs: Record<string, unknown>;
  send: IgnoreFile | null;
  fetch: IgnoreFile | null;
  fixedArgs: Record<string, unknown>;
  deps: string[] | null;
  queue: boolean;
  opts: SubmitOptions;
}

async function checkSubmission(given: SubmitOptions, prep: PrepareOptions): Promise<Checked> {
  let opts = given;
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
  // Where .runconfig and the ignore files are read: the commit or recorded snapshot that runs, else the work tree.
  const treeish = opts.code?.tree ?? opts.commit;
  const config = await loadRunConfig(repo, treeish);

  // The definition, checked, with the command line applied.
  const loaded = await loadDefinition(cwd, config, opts);
  if (loaded.file) {
    const rel = path.relative(top, loaded.file);
    if (!rel.startsWith('..') && !path.isAbsolute(rel)) loaded.id = rel.split(path.sep).join('/');
  }
  if (opts.source) loaded.id = opts.source;
  const { raw, source } = loaded;
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
  // Ignore files and the run directory are decided once for the submission.
  // The same precedence as every run_arg: this submission, the definition, the host profile, .runconfig's defaults.
  const pathArg = (k: string, dflt?: string): string | undefined => {
    const v = temporary[k] ?? def.runArgs[k] ?? profileArgs[k] ?? config.defaults[k];
    if (typeof v !== 'string' || (v === dflt && !(k in temporary))) return undefined;
    return path.resolve(k in temporary ? cwd : top, v);
  };
  const send = await ignoreFile(repo, cwd, pathArg('send_ignore', '.sendignore'), '.sendignore', '--send-ignore', treeish);
  const fetch = await ignoreFile(repo, cwd, pathArg('fetch_ignore', '.fetchignore'), '.fetchignore', '--fetch-ignore', treeish);
  const localDir = pathArg('local_dir');
  const fixedArgs = { send_ignore: send?.name ?? null, fetch_ignore: fetch?.name ?? null, ...(localDir ? { local_dir: localDir } : {}) };
  const runner = executorForProfile(host.executor, def.runArgs.on_local === true || temporary.on_local === true);
  // deps given on the command line are relative to where the user stands (as git's pathspecs); a definition's to the top.
  // Recorded top-relative: `:(top)x` and `:/x` are written `x`, so the same deps typed anywhere key the same.
  const typed = (opts.deps ?? []).map((d) => (/^:(\(top\)|\/)/.test(d) ? d.replace(/^:(\(top\)|\/)/, '') : d.startsWith(':') || !repo.prefix ? d : `${repo.prefix}${d}`));
  const deps = typed.length ? typed : def.deps;
  return { repo, cwd, config, def, loaded, direct, host, runner, temporary, profileArgs, send, fetch, fixedArgs, deps, queue, opts };
}

/** The key's environment (core/key.ts): what reaches the command from this machine, hashed, as a blob. */
async function keyEnv(c: Checked): Promise<{ blob: string | null; leftOut: string[]; environ: Map<string, string> | null; hashed: Map<string, string> }> {
  const here = !c.runner.sendsCode;
  // A remote command sees the host's own environment and the declared variables, nothing of this shell.
  const env = commandBaseEnv(here ? process.env : {}, c.def.env);
  const { hashed, leftOut } = keyEnvironment(env, { ignore: c.config.envIgnore ?? [], include: c.config.envInclude ?? [] }, await envHashKey(c.repo));
  const blob = await writeBlob(c.repo, keyEnvText(hashed));
  return { blob, leftOut: here ? [...leftOut.keys()] : [], environ: here ? env : null, hashed };
}

/** The code part of the key: the snapshot without .runconfig and the definition file, or what the deps select. */
async function codeKeyOf(c: Checked, tree: string): Promise<string> {
  if (c.deps) return depsKey(c.repo, tree, c.deps);
  const id = c.loaded.id;
  const definitionFile = id !== 'command line' && !id.startsWith('experiment:') && !id.startsWith('..') && !path.isAbsolute(id);
  // Looked for in the tree only when it can be there: a plain `git run` in a repository without .runconfig reads no tree.
  const fromTree = !!(c.opts.commit || c.opts.code);
  const own = [...(fromTree || existsSync(path.join(c.repo.topLevel!, '.runconfig')) ? ['.runconfig'] : []), ...(definitionFile ? [id] : [])];
  return treeWithout(c.repo, tree, own);
}

/** Read what the plan needs from the world (snapshot, key parts) and plan. */
async function planFor(c: Checked, repo: Repo, keepIndex: boolean): Promise<{ plan: Plan; environ: Map<string, string> | null; snapshot: Snapshot; lineage: Lineage }> {
  const { def, opts } = c;
  // A definition's inputs are relative to the top; the command line's to where the user stands.
  const inputSources = [...def.inputs.map((request) => ({ request: { ...request, store: request.store || !!opts.storeInputs }, base: '' })), ...commandLineInputs(opts.inputs ?? [], opts.inputsAtTop ? '' : repo.prefix, !!opts.storeInputs)];
  // An ssh host is reached (and its key checked) before anything is written.
  const reaching = c.runner.reach(c.host.record);
  reaching?.catch(() => undefined);
  const [snapshot, ident] = await Promise.all([opts.code ?? snapshotWith(repo, c.send, keepIndex, opts.commit), repo.ident()]);
  await reaching;
  const cc: Checked = { ...c, repo };
  // Inputs resolved before anything is written: a bad one writes nothing.
  const [codeKey, env, resolved, clone] = await Promise.all([codeKeyOf(cc, snapshot.tree), keyEnv(cc), resolveInputs(repo, inputSources, { codeTree: snapshot.tree }), cloneId(repo)]);
  const plan = planSubmission({
    def,
    direct: c.direct,
    source: c.loaded.id,
    rawParams: (c.loaded.raw as { params?: Record<string, unknown> }).params ?? {},
    assignments: (opts.assignments ?? []).map(parseAssignment),
    host: { name: c.host.name, record: c.host.record, maxParallel: c.host.maxParallel, sendsCode: c.runner.sendsCode },
    configDefaults: c.config.defaults,
    profileArgs: c.profileArgs,
    temporary: c.temporary,
    fixedArgs: c.fixedArgs,
    snapshot,
    codeKey,
    deps: c.deps,
    inputs: resolved.inputs,
    env: { blob: env.blob, leftOut: env.leftOut, hashed: env.hashed },
    clone,
    ...(c.config.metricsFile ? { metricsFile: c.config.metricsFile } : {}),
    cwd: repo.prefix,
    creator: `${ident.name} <${ident.email}>`,
    createdAt: new Date().toISOString(),
    seed: def.seed ?? newSeed(),
    seeded: def.seed !== null,
    queue: c.queue,
    cpus: os.cpus().length,
    nonce: () => crypto.randomBytes(8).toString('hex'),
  });
  return { plan, environ: env.environ, snapshot, lineage: { upstream: resolved.upstream, storedTree: resolved.storedTree } };
}

/** What a new run's spec commit holds beside run.json and the code: the upstream runs' finishing commits as its parents, the stored inputs' tree. */
interface Lineage {
  upstream: string[];
  storedTree: string | null;
}

/** For each child: the existing run it would reuse, by remotemanager's rules (skip, force, force_ignores_success); and the group's. */
async function lookUp(repo: Repo, plan: Plan): Promise<{ reuse: Array<KeyedRun | null>; group: KeyedRun | null }> {
  const specs = plan.children.map((c) => c.spec);
  // Memoization: only seeded submissions can match (a random seed is new).
  const portable = specs[0]?.clone ? { keys: specs.flatMap((s) => (s.portableKey ? [s.portableKey] : [])), clone: specs[0].clone } : null;
  const existing = plan.seeded ? await findByKeys(repo, [...specs.map((s) => s.key), ...(plan.group ? [plan.group.key] : [])], portable) : new Map<string, KeyedRun[]>();
  const skipOf = (a: Record<string, unknown>) => a.skip !== false && a.force !== true;
  // A run of this clone with the same run key first; else one of another clone with the same portable key (decision 0017).
  const reuse = specs.map(
    (s) =>
      reusable(existing.get(s.key), skipOf(s.runArgs), s.runArgs.force_ignores_success === true) ??
      (s.portableKey ? reusable(existing.get(s.portableKey), skipOf(s.runArgs), s.runArgs.force_ignores_success === true) : null),
  );
  const g = plan.group;
  const group = g && skipOf(g.runArgs) && reuse.every(Boolean) ? existing.get(g.key)?.find((r) => r.kind === 'group') ?? null : null;
  return { reuse, group };
}

export async function prepareSubmission(opts: SubmitOptions, prep: PrepareOptions = {}): Promise<Submission> {
  const c = await checkSubmission(opts, prep);
  const { repo, def } = c;
  const { plan, environ, lineage } = await planFor(c, repo, c.runner.sendsCode);
  // What only the executor can check (a scheduler's resources and its word on them), before anything is written.
  await c.runner.preflight?.(repo, plan.children.map((ch) => ch.spec));
  const { reuse, group: sameGroup } = await lookUp(repo, plan);
  const { maxParallel, sequential, events, meta } = plan;
  const createdAt = plan.children[0]!.spec.createdAt;
  const creator = plan.children[0]!.spec.creator;
  const fetch = c.fetch;
  // A run the daemon will start sees the environment it was submitted from (its key says so), not the daemon's.
  const stash = c.queue ? environ : null;

  if (!plan.group) {
    const { plan: childPlan, spec } = plan.children[0]!;
    const found = reuse[0];
    if (found) {
      const metadataApplied = await applyToReused(repo, found.id, def, createdAt, creator);
      return { repo, group: null, groupReused: false, children: [{ plan: childPlan, id: found.id, reused: found, view: null, controlDir: null }], maxParallel, sequential, metadataApplied };
    }
    const child = await writeNewRun(repo, spec, meta, fetch, !!prep.startHere, stash, lineage);
    try {
      await publishRuns(repo, [{ id: child.id, tip: child.view!.tip }], events.length ? { id: child.id, events } : null);
    } catch (e) {
      await child.materialized?.catch(() => undefined);
      await discardControlDir(child.controlDir!);
      throw e;
    }
    return { repo, group: null, groupReused: false, children: [{ ...child, plan: childPlan }], maxParallel, sequential };
  }

  if (sameGroup) {
    const metadataApplied = await applyToReused(repo, sameGroup.id, def, createdAt, creator);
    return { repo, metadataApplied, group: await readRun(repo, sameGroup.id), groupReused: true, children: plan.children.map(({ plan: p }, i) => ({ plan: p, id: reuse[i]!.id, reused: reuse[i]!, view: null, controlDir: null })), maxParallel, sequential };
  }
  const group = await writeSpecCommit(repo, plan.group, meta, lineage.upstream, lineage.storedTree);
  const children: SubmittedChild[] = [];
  try {
    for (const [i, { plan: p, spec }] of plan.children.entries()) {
      const found = reuse[i];
      if (found) children.push({ plan: p, id: found.id, reused: found, view: null, controlDir: null });
      else children.push({ ...(await writeNewRun(repo, { ...spec, parent: group.id }, { name: spec.name ?? null, notes: null, tags: [] }, fetch, false, stash, lineage)), plan: p });
    }
    const list: GroupChild[] = children.map((ch) => ({ id: ch.id, reused: !!ch.reused }));
    const withChildren = await childrenView(repo, group, list);
    await publishRuns(repo, [{ id: group.id, tip: withChildren.tip }, ...children.filter((ch) => ch.view).map((ch) => ({ id: ch.id, tip: ch.view!.tip }))], events.length ? { id: group.id, events } : null);
    return { repo, group: withChildren, groupReused: false, children, maxParallel, sequential };
  } catch (e) {
    for (const ch of children) if (ch.controlDir) await discardControlDir(ch.controlDir);
    throw e;
  }
}

/** What a dry run found for one run of the submission. */
export interface DryRunChild {
  name: string | null;
  command: string[];
  params: Record<string, unknown>;
  seed: number;
  key: string;
  /** The run that would be reused, or null when it would run. */
  reuse: { id: string; status: string; matched: 'run key' | 'portable key' } | null;
  /** Why it would run: the nearest earlier run and what differs from it (null when reused). */
  why: Explanation | null;
}

export interface DryRun {
  group: boolean;
  /** False: the seed is random, so nothing can be reused. */
  seeded: boolean;
  children: DryRunChild[];
}

/**
 * `--dry-run`: plan the submission for real (snapshot, inputs, keys, the
 * memo lookup) with every object written to a scratch directory that is
 * deleted afterwards; no ref, note or run directory is made.
 */
export async function dryRunSubmission(opts: SubmitOptions): Promise<DryRun> {
  const c = await checkSubmission(opts, {});
  const dir = await tempPath(c.repo, 'dry-run-objects');
  try {
    await fs.mkdir(dir);
    const scratch = c.repo.scratch(dir);
    const { plan } = await planFor(c, scratch, false);
    await c.runner.preflight?.(scratch, plan.children.map((ch) => ch.spec));
    const { reuse } = await lookUp(scratch, plan);
    const children: DryRunChild[] = [];
    // One index and one reader for every child's explanation.
    const earlier = new EarlierRuns(scratch);
    try {
      for (const [i, { spec }] of plan.children.entries()) {
        const r = reuse[i];
        children.push({
          name: spec.name ?? null,
          command: spec.command,
          params: spec.params,
          seed: spec.seed,
          key: spec.key,
          reuse: r ? { id: r.id, status: r.status, matched: r.portable ? 'portable key' : 'run key' } : null,
          why: r ? null : await explainSpec(scratch, spec, null, earlier),
        });
      }
    } finally {
      earlier.close();
    }
    return { group: !!plan.group, seeded: plan.seeded, children };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
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
async function writeNewRun(repo: Repo, spec: RunSpec, meta: RunView['meta'], fetch: IgnoreFile | null, startHere: boolean, environ: Map<string, string> | null, lineage: Lineage): Promise<Omit<SubmittedChild, 'plan'>> {
  // Lineage is the commit graph: the upstream runs' finishing commits are the spec commit's parents.
  const queued = await writeSpecCommit(repo, spec, meta, lineage.upstream, lineage.storedTree);
  const controlDir = controlDirFor(repo, queued.id, spec.runArgs);
  const perm = await sharedPermFor(repo, controlDir);
  await prepareControlDir(controlDir, perm);
  if (fetch) writeFileShared(perm, fetchIgnoreCopy(controlDir), fetch.patterns);
  // The submitter's environment for whoever starts the run later (the daemon): values can be secrets, so only the owner reads it, and it is removed once the command has it.
  if (environ) await fs.writeFile(environCopy(controlDir), JSON.stringify(Object.fromEntries(environ)), { mode: 0o600 });
  // Published already started when its executor allows (the foreground fast path), its code put in place while the ref is written.
  const executor = executorForSpec(spec);
  const state = startHere ? executor.startedAtPublish(controlDir) : null;
  if (!state) return { id: queued.id, reused: null, view: queued, controlDir };
  const view = await startedView(repo, queued, state);
  const materialized = executor.prepareCode(repo, view) ?? undefined;
  materialized?.catch(() => undefined); // a failure is recorded by the supervisor
  return { id: view.id, reused: null, view, controlDir, materialized };
}
