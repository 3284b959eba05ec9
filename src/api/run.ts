/**
 * Submitting one run: snapshot the work tree, write the immutable spec,
 * prove the run directory is usable, publish the run (ref and metadata in one
 * transaction), start its supervisor. Every check that can fail on bad input
 * happens before anything is published: a refused run leaves no ref and no note.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { openRepo, readIdent, type Repo } from '../git/repo.js';
import { warmUpHashing } from '../git/loose.js';
import { takeSnapshot } from '../git/snapshot.js';
import { publishRun, readRun, startedView, writeSpecCommit, type RunView } from '../store/runs.js';
import { LogTail, type Sink } from './follow.js';
import { checkIgnorePatterns, toGitPatterns } from '../core/ignore.js';
import { tempPath } from '../git/snapshot.js';
import { LEAVE_MODES, foldMetadata, formatEvent, newSeed, runKey, type LeaveMode, type MetadataEvent, type RunSpec } from '../core/record.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { parseRunConfig, type RunConfig } from '../core/config.js';
import { controlDirFor, discardControlDir, fetchIgnoreCopy, launch, prepareControlDir, requestCancel, supervise, startState, materializeRun, type LocalArgs } from '../executors/local.js';

export interface RunOptions {
  /** Where the user stands; the repository is found from here. Default: process.cwd(). */
  cwd?: string;
  /** Argument vector: element 0 is the program. */
  command: string[];
  name?: string;
  notes?: string;
  tags?: string[];
  /** A non-negative integer; default: a random one, recorded. */
  seed?: number | string;
  /** What stays of the run directory afterwards (Runaway's --leave). Default: none. */
  leave?: LeaveMode;
  /** Where run directories are made (remotemanager's local_dir). Default: under the git directory. */
  localDir?: string;
  /** Ignore files other than .sendignore / .fetchignore at the top of the work tree. */
  sendIgnore?: string;
  fetchIgnore?: string;
}

export interface Submitted {
  id: string;
  repo: Repo;
}

interface Published extends Submitted {
  view: RunView;
  controlDir: string;
  materialized?: Promise<void>;
}

interface IgnoreFile {
  /** As recorded in run_args: relative to the top of the work tree when inside it. */
  name: string;
  /** The patterns as git reads them (see toGitPatterns). */
  patterns: string;
}

async function ignoreFile(repo: Repo, cwd: string, given: string | undefined, dflt: string, option: string): Promise<IgnoreFile | null> {
  const file = given ? path.resolve(cwd, given) : path.join(repo.topLevel!, dflt);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if (!given && (e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new GitRunError(ErrorCode.IgnoreFileMissing, `cannot read the ignore file ${file}: ${(e as Error).message}`, `check the path given to ${option}`, { file });
  }
  const problems = checkIgnorePatterns(text);
  if (problems.length) {
    const list = problems.map((p) => `  ${path.basename(file)}:${p.line}: ${JSON.stringify(p.pattern)}: ${p.reason}`).join('\n');
    throw new GitRunError(
      ErrorCode.IgnoreFileInvalid,
      `${file} has ${problems.length === 1 ? 'an invalid pattern' : `${problems.length} invalid patterns`}:\n${list}`,
      'fix or remove those lines (the file uses .gitignore syntax)',
      { file, problems },
    );
  }
  const rel = path.relative(repo.topLevel!, file);
  return { name: rel.startsWith('..') ? file : rel, patterns: toGitPatterns(text) };
}

export function parseSeed(seed: number | string | undefined): number {
  if (seed === undefined) return newSeed();
  const s = String(seed).trim();
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new GitRunError(ErrorCode.BadOption, `invalid seed '${seed}': a seed is a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`, 'give --seed a non-negative integer, e.g. --seed 42', { seed });
  }
  return n;
}

/** The .runconfig at the top of the work tree; empty when there is none. */
export async function loadRunConfig(repo: Repo): Promise<RunConfig> {
  const file = path.join(repo.topLevel ?? repo.gitDir, '.runconfig');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return { defaults: {}, hosts: {}, experiments: {} };
  }
  const { config, problems } = parseRunConfig(text);
  if (problems.length) {
    throw new GitRunError(
      ErrorCode.ConfigInvalid,
      `${file} is not a valid run configuration:\n${problems.map((p) => `  ${p.where || '(top)'}: ${p.problem}`).join('\n')}`,
      'fix it (see .runconfig.example for every key and its default)',
      { file, problems },
    );
  }
  return config;
}

async function submitRun(opts: RunOptions, startHere = false): Promise<Published> {
  const cwd = path.resolve(opts.cwd ?? process.cwd());
  if (!opts.command.length || opts.command[0] === '') {
    throw new GitRunError(ErrorCode.NoCommand, 'no command to run', 'put the command after --, e.g. `git run -- python train.py`');
  }
  if (opts.leave !== undefined && !LEAVE_MODES.includes(opts.leave)) {
    throw new GitRunError(ErrorCode.BadOption, `invalid --leave '${opts.leave}'`, `use one of: ${LEAVE_MODES.join(', ')}`);
  }
  const seed = parseSeed(opts.seed);
  const tags = (opts.tags ?? []).map((t) => t.trim()).filter(Boolean);
  // Started together: each waits on its own git process.
  const identEarly = readIdent(cwd);
  identEarly.catch(() => undefined);
  const opening = openRepo(cwd);
  warmUpHashing();
  const repo = await opening;
  repo.primeIdent(identEarly);
  if (!repo.topLevel) throw new GitRunError(ErrorCode.NotARepository, `${repo.gitDir} is a bare repository: there is no work tree to run from`, 'run git-run in a clone with a work tree');
  // run_args: .runconfig defaults, then this submission's options (remotemanager's hierarchy).
  const defaults = (await loadRunConfig(repo)).defaults;
  const top = repo.topLevel;
  // A configured ignore file that is just the default name is optional, like the default.
  const fromConfig = (k: string, dflt?: string): string | undefined =>
    typeof defaults[k] === 'string' && defaults[k] !== dflt ? path.resolve(top, defaults[k] as string) : undefined;
  const leave = opts.leave ?? (defaults.leave as LeaveMode | undefined) ?? 'none';
  const send = await ignoreFile(repo, cwd, opts.sendIgnore ?? fromConfig('send_ignore', '.sendignore'), '.sendignore', '--send-ignore');
  const fetch = await ignoreFile(repo, cwd, opts.fetchIgnore ?? fromConfig('fetch_ignore', '.fetchignore'), '.fetchignore', '--fetch-ignore');
  const localDir = opts.localDir ? path.resolve(cwd, opts.localDir) : fromConfig('local_dir');

  // git reads the patterns from a file: give it the translated ones.
  const sendFile = send ? await tempPath(repo, 'sendignore') : null;
  if (sendFile) await fs.writeFile(sendFile, send!.patterns);
  let snapshot, ident;
  try {
    [snapshot, ident] = await Promise.all([takeSnapshot(repo, { sendIgnoreFile: sendFile }), repo.ident()]);
  } finally {
    if (sendFile) await fs.rm(sendFile, { force: true });
  }
  // Unknown defaults are kept and passed on to the executor.
  const runArgs: LocalArgs & Record<string, unknown> = { ...defaults, leave, send_ignore: send?.name ?? null, fetch_ignore: fetch?.name ?? null };
  if (localDir) runArgs.local_dir = localDir;
  else delete runArgs.local_dir;
  const keyed = { tree: snapshot.tree, command: opts.command, cwd: repo.prefix, params: {}, seed, inputs: [] as string[], env: {} as Record<string, string> };
  const spec: RunSpec = {
    format: 1,
    command: opts.command,
    cwd: repo.prefix,
    params: {},
    seed,
    code: snapshot,
    host: 'local',
    runArgs: runArgs as Record<string, unknown>,
    inputs: [],
    env: {},
    parent: null,
    creator: `${ident.name} <${ident.email}>`,
    createdAt: new Date().toISOString(),
    key: runKey(keyed),
    nonce: crypto.randomBytes(8).toString('hex'),
  };
  const by = spec.creator;
  const at = spec.createdAt;
  const events: MetadataEvent[] = [];
  const set: MetadataEvent['set'] = {};
  if (opts.name !== undefined) set.name = opts.name;
  if (opts.notes !== undefined) set.notes = opts.notes;
  if (Object.keys(set).length || tags.length) events.push({ at, by, ...(Object.keys(set).length ? { set } : {}), ...(tags.length ? { tag: tags } : {}) });
  const queued = await writeSpecCommit(repo, spec, foldMetadata(events.map(formatEvent).join('\n')));
  const controlDir = controlDirFor(repo, queued.id, runArgs);
  await prepareControlDir(controlDir);
  // Started here and now: publish the run at its started commit, and check
  // the snapshot out while the ref is written.
  const view = startHere ? await startedView(repo, queued, startState(controlDir)) : queued;
  const materialized = startHere ? materializeRun(repo, view) : undefined;
  materialized?.catch(() => undefined); // its failure is recorded by the supervisor
  try {
    if (fetch) await fs.writeFile(fetchIgnoreCopy(controlDir), fetch.patterns);
    await publishRun(repo, view.id, events, view.tip);
  } catch (e) {
    await materialized?.catch(() => undefined);
    await discardControlDir(controlDir);
    throw e;
  }
  return { id: view.id, repo, view, controlDir, ...(materialized ? { materialized } : {}) };
}

/** Submit a run and start it in the background (a detached supervisor records it). */
export async function startRun(opts: RunOptions): Promise<Submitted> {
  const s = await submitRun(opts);
  launch(s.repo, s.id, s.controlDir);
  return { id: s.id, repo: s.repo };
}

export interface ForegroundOptions {
  /** The command's output as it is written. */
  sink: Sink;
  /** Resolves when the caller wants the run cancelled (Ctrl-C). */
  cancelled?: Promise<unknown>;
  /** Called once the run is published, before it starts. */
  onSubmitted?: (id: string) => void;
}

/**
 * Submit a run and supervise it in this process, streaming its output: no
 * second process to start, so a short command costs little more than itself.
 * If this process dies, a later reader marks the run lost (or finishes it
 * from its exit record), as for a detached supervisor.
 */
export async function runForeground(opts: RunOptions, fg: ForegroundOptions): Promise<RunView> {
  const s = await submitRun(opts, true);
  fg.onSubmitted?.(s.id);
  const tail = new LogTail(fg.sink);
  void fg.cancelled?.then(() => requestCancel(s.controlDir));
  const done = await supervise(s.repo, s.view, { tick: () => tail.poll(s.controlDir) }, s.materialized);
  if (!done) return readRun(s.repo, s.id); // cancelled before it started, by another process
  await tail.poll(s.controlDir);
  await done.cleanup();
  return done.view;
}
