/**
 * The shapes of what a run stores, as value objects with no dependencies.
 *
 * spec commit (immutable, its object id is the run id):
 *   run.json      RunSpec
 *   code/         the code snapshot tree
 * started commit (parent: spec):   + state.json   RunState
 * finished commit (parent: started, or spec if it never started):
 *   + result.json RunResult, logs/stdout, logs/stderr, outputs/ (when any)
 */
import crypto from 'node:crypto';
import type { HistoryErrors } from './metrics.js';

export const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'lost'] as const;
export type Status = (typeof STATUSES)[number];
export const FINAL_STATUSES: ReadonlySet<Status> = new Set(['succeeded', 'failed', 'cancelled', 'lost']);
export const isFinal = (s: Status): boolean => FINAL_STATUSES.has(s);

/** The status of a group from its children's. */
export function groupStatus(children: Status[]): Status {
  if (!children.length) return 'succeeded';
  if (children.some((s) => s === 'running')) return 'running';
  if (children.some((s) => s === 'queued')) return children.every((s) => s === 'queued') ? 'queued' : 'running';
  if (children.every((s) => s === 'succeeded')) return 'succeeded';
  for (const s of ['failed', 'lost', 'cancelled'] as const) if (children.includes(s)) return s;
  return 'failed';
}

export type LeaveMode = 'none' | 'code' | 'all';
export const LEAVE_MODES: readonly LeaveMode[] = ['none', 'code', 'all'];

export interface RunSpec {
  format: 1;
  /** Argument vector: element 0 is the program. */
  command: string[];
  /** Directory the command starts in, relative to the top of the snapshot ('' or 'sub/dir/'). */
  cwd: string;
  params: Record<string, unknown>;
  seed: number;
  code: { tree: string; commit: string | null; dirty: boolean };
  host: string;
  runArgs: Record<string, unknown>;
  /** Resolved inputs (RunInput). Records written before inputs were staged hold unchecked text here: readers must accept strings and treat them as text with no lineage. */
  inputs: Array<RunInput | string>;
  /** Variables the definition declared (recorded in clear, as the user wrote them). */
  env: Record<string, string>;
  parent: string | null;
  creator: string;
  createdAt: string;
  key: string;
  /** Makes two otherwise identical submissions distinct runs. */
  nonce: string;
  /** 'group' for the parent of a sweep; absent for a run. */
  kind?: 'group';
  /** A child's name, generated from its parameters (immutable; children have no metadata of their own). */
  name?: string;
  /** A child's repetition of its parameter combination (1-based). */
  repetition?: number;
  /** The run_args of each level (remotemanager): dataset (.runconfig and definition),
   * runner (per-child overrides), temporary (this submission only); runArgs is their merge. */
  runArgsFrom?: { dataset: Record<string, unknown>; runner: Record<string, unknown>; temporary: Record<string, unknown> };
  /** A group's number of children. */
  childCount?: number;
  /** The host profile the run was submitted to (absent: local). */
  hostProfile?: HostProfile;
  /** 'daemon': the run waits in the daemon's queue, which starts it when its host has room. */
  dispatch?: 'daemon';
  /** What the run key was made of, part by part (src/core/key.ts): what `git run why` compares. Absent in records written before keys were explained. */
  keyParts?: KeyParts;
  /** The run key without the machine variables (core/key.ts portableKeyOf): what a submission in another clone matches when no run key does. Absent in records before issue 14. */
  portableKey?: string;
  /** The clone that made the run (a random id kept in .git/git-run/clone-id): the portable key is matched only against other clones' runs. */
  clone?: string;
  /** Where the submission came from: 'command line', a definition file's path, or `experiment:<name>` (what `why` and `rerun` look for). */
  source?: string;
  /** The metrics history file, relative to cwd, when .runconfig's "metrics_file" names one (absent: metrics.jsonl). */
  metricsFile?: string;
}

/**
 * One input of a run, resolved at submission. The spec commit's parents are
 * the finishing commits of the runs its artifact inputs came from (in input
 * order, each once): lineage is the commit graph.
 */
export interface RunInput {
  /** Where the command finds it: relative to the top of the run's directory (the snapshot's root), '/'-separated, no '..'. */
  path: string;
  /** The object id git gives its content: a blob (file) or a tree (directory). */
  oid: string;
  type: 'blob' | 'tree';
  /** A file's git mode ('100644' or '100755'); a tree's '040000'. */
  mode: string;
  /** Bytes of content (a tree: the sum of its files). */
  size: number;
  /** An artifact: the producing run (full id) and the path among its outputs. */
  from?: { run: string; path: string };
  /** A work-tree path (relative to the top) it was read from. */
  worktree?: string;
  /** The content is kept in the spec commit's tree, at inputs/<path> (the `store` option); otherwise only its id is. */
  stored?: boolean;
}

/**
 * The parts of a run key (the key is sha256 of their canonical JSON). Kept in
 * run.json so that `why` can say which part differs. Environment values are
 * never here: `env` is the id of a blob (in the spec commit's tree, key-env.json)
 * mapping each variable's name to a keyed hash of its value.
 */
export interface KeyParts {
  /** Version of the recipe: keys of different versions never match. */
  v: 2;
  /** The code: the snapshot tree without .runconfig and the definition file, or, with deps, the hash of the entries the deps select. */
  code: string;
  /** The deps pathspecs that selected the code part (null: the whole snapshot). */
  deps: string[] | null;
  command: string[];
  cwd: string;
  params: Record<string, unknown>;
  seed: number;
  /** Each input's destination and content id. */
  inputs: Array<{ path: string; oid: string }>;
  /** The id of the key-env.json blob (in the spec commit's tree: name -> keyed hash of value), or null when no variable of this machine reaches the command (a remote host: only declared env, which is in clear in run.json). */
  env: string | null;
  /** Names of variables the command sees that were left out of the key (session variables, credential-looking names, .runconfig's key_env_ignore). */
  envLeftOut: string[];
  /** run_args that can change a result (those passed to the executor: Slurm's resources), by name. */
  runArgs: Record<string, unknown>;
}

/** What a run records of its host profile; `type` names an executor of the registry (src/executors/index.ts), which checks it. */
export interface HostProfile {
  type: string;
  host: string | null;
  sshConfig?: string;
}

/** A group's list of children, in its second commit (children.json). */
export interface GroupChild {
  id: string;
  /** True when an existing run with the same key was reused (memoization). */
  reused: boolean;
}

/**
 * Where the executor can find a started run again: enough to reattach from
 * git alone. Each executor keeps its own fields (src/executors/<type>/); the
 * type names the executor that wrote it, checked by the registry on use.
 */
export interface RunHandle {
  executor: string;
  /** The machine the run's command runs on. */
  hostname: string;
}

export interface RunState {
  status: 'running';
  startedAt: string;
  handle: RunHandle;
}

/** The scheduler job a run's handle names (a Slurm run: "123", or "123_4" for a task of an array), its name and batch script; null for a run under no scheduler. Only these keys of the executor's handle are read. */
export function jobOf(state: RunState | null | undefined): { id: string; name: string | null; script: string | null } | null {
  const h = state?.handle as { job?: unknown; jobName?: unknown; script?: unknown } | undefined;
  if (!h || typeof h.job !== 'string') return null;
  return { id: h.job, name: typeof h.jobName === 'string' ? h.jobName : null, script: typeof h.script === 'string' ? h.script : null };
}

export interface RunResult {
  status: Exclude<Status, 'queued' | 'running'>;
  exitCode: number | null;
  signal: string | null;
  /** Why the run did not complete normally, in words (command not found, cancelled, lost...). */
  error: string | null;
  startedAt: string | null;
  endedAt: string;
  host: { hostname: string; platform: string; arch: string; release: string } | null;
  /** A remote run: bytes of code sent for it (0 when the host had the tree). */
  codeBytesSent?: number;
  /** A remote run: how its code reached the host ('objects', 'tar', 'tar (host has no git)'; decision 0022); absent when the host's code cache had it. */
  codeTransfer?: string;
  /** A remote run with inputs: bytes of input content sent for it (0 when the host had every content id). */
  inputBytesSent?: number;
  /** A remote run: how its outputs came back ('objects' from the host's store, 'tar', 'tar (host has no git)'; decision 0023), and the bytes that did. */
  outputsTransfer?: string;
  outputBytesFetched?: number;
  /** Why the run's metrics.json gave no metrics (it is kept among the outputs all the same). */
  metricsError?: string;
  /** Broken lines of the run's metrics history (metrics.jsonl), skipped: how many, and the first one. */
  metricsErrors?: HistoryErrors;
  /**
   * The outputs stored through Git LFS (paths as the outputs tree names
   * them), present on every run with outputs recorded since this field was
   * added, even when empty: the blob of any other output is what the run
   * wrote, even when it reads as a pointer. Absent on older runs: then a
   * pointer-shaped blob is taken for one (decision 0019).
   */
  lfsOutputs?: string[];
}

/**
 * The outputs a run's record says are Git LFS pointers, or null for a run
 * recorded before the record existed (or one whose record is not a list of
 * paths: from another clone, not to be trusted to say "none").
 */
export function lfsOutputsOf(result: RunResult | null | undefined): ReadonlySet<string> | null {
  const list: unknown = result?.lfsOutputs;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) return null;
  return new Set(list as string[]);
}

/** Whether an output (path in the outputs tree) may be a Git LFS pointer: by the record, else (an older run) by its bytes. */
export const mayBeLfsOutput = (record: ReadonlySet<string> | null, outputPath: string): boolean => record === null || record.has(outputPath);

/** Canonical JSON: keys sorted at every level, so equal values hash equally. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The run key: everything that determines a result, and nothing else. */
export function runKey(k: { tree: string; command: string[]; cwd: string; params: Record<string, unknown>; seed: number; inputs: string[]; env: Record<string, string> }): string {
  return crypto.createHash('sha256').update(canonicalJson(k)).digest('hex');
}

export function newSeed(): number {
  // 31 bits: accepted as-is by Python's random, NumPy and PyTorch.
  return crypto.randomInt(0, 2 ** 31);
}

/** Mutable metadata, folded from the note's event lines in order. */
export interface Metadata {
  name: string | null;
  notes: string | null;
  tags: string[];
}

export interface MetadataEvent {
  at: string;
  by: string;
  set?: { name?: string; notes?: string };
  tag?: string[];
  untag?: string[];
}

/** One line per event; the time comes first so that sorted lines (git's
 * cat_sort_uniq merge of two clones' notes) are in time order. */
export function formatEvent(e: MetadataEvent): string {
  const { at, by, ...rest } = e;
  return JSON.stringify({ at, by, ...rest });
}

export function foldMetadata(noteText: string): Metadata {
  const m: Metadata = { name: null, notes: null, tags: [] };
  const tags = new Set<string>();
  const events: MetadataEvent[] = [];
  for (const line of noteText.split('\n')) {
    if (!line.trim()) continue;
    try {
      events.push(JSON.parse(line) as MetadataEvent);
    } catch {
      // A line written by hand or by another tool: not ours to interpret.
    }
  }
  events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  for (const e of events) {
    if (e.set?.name !== undefined) m.name = e.set.name;
    if (e.set?.notes !== undefined) m.notes = e.set.notes;
    for (const t of e.tag ?? []) tags.add(t);
    for (const t of e.untag ?? []) tags.delete(t);
  }
  m.tags = [...tags].sort();
  return m;
}
