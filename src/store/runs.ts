/**
 * Runs as git objects: creating the spec commit, advancing the state chain
 * with compare-and-swap, and reading runs back. This layer decides the layout
 * (see core/record.ts); git/ does the plumbing.
 */
import os from 'node:os';
import { existsSync } from 'node:fs';
import type { Repo } from '../git/repo.js';
import { CatFileBatch } from '../git/gateway.js';
import { RUNS_PREFIX, RunRef } from '../git/refs.js';
import { blobEntry, editTreeRoot, parseLsTree, revParse, treeEntry, writeBlob, writeCommit, writeFiles, writeTree, type TreeEntry } from '../git/objects.js';
import { updateRefs } from '../git/transaction.js';
import { appendNote, listNotes } from '../git/notes.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { foldMetadata, formatEvent, type Metadata, type MetadataEvent, type RunResult, type RunSpec, type RunState, type Status } from '../core/record.js';

export interface RunView {
  id: string;
  /** The ref's current commit. */
  tip: string;
  spec: RunSpec;
  state: RunState | null;
  result: RunResult | null;
  status: Status;
  meta: Metadata;
}

const summary = (command: string[]): string => {
  const s = command.join(' ').replace(/\s+/g, ' ');
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
};

/** Write the immutable spec commit; nothing refers to it yet. */
export async function writeSpecCommit(repo: Repo, spec: RunSpec, upstream: string[] = []): Promise<string> {
  const runJson = await writeBlob(repo, JSON.stringify(spec, null, 2) + '\n');
  const tree = await writeTree(repo, [blobEntry('run.json', runJson), treeEntry('code', spec.code.tree)]);
  return writeCommit(repo, { tree, parents: upstream, message: `submitted: ${summary(spec.command)}\n` });
}

/** Make the run visible: create its ref (it must not exist) and, in the same
 * transaction, its metadata note. */
export async function publishRun(repo: Repo, id: string, events: MetadataEvent[]): Promise<void> {
  const create = { ref: new RunRef(id).name, create: id };
  if (events.length) await appendNote(repo, id, events.map(formatEvent), [create]);
  else if (!(await updateRefs(repo, [create], 'git-run: submitted'))) {
    throw new GitRunError(ErrorCode.Git, `run ${id} already exists`, 'this is a bug in git-run: two submissions produced the same spec commit');
  }
}

/** Add metadata events to a run (any time: while it runs or after). */
export async function addMetadata(repo: Repo, id: string, events: MetadataEvent[]): Promise<void> {
  if (events.length) await appendNote(repo, id, events.map(formatEvent));
}

/** Advance a run from `oldTip` with root-tree changes. Null when another
 * process advanced it first: the caller re-reads and decides. */
export async function advanceRun(repo: Repo, id: string, oldTip: string, changes: Record<string, TreeEntry | null>, message: string): Promise<string | null> {
  const tree = await editTreeRoot(repo, `${oldTip}^{tree}`, changes);
  const commit = await writeCommit(repo, { tree, parents: [oldTip], message });
  const ok = await updateRefs(repo, [{ ref: new RunRef(id).name, update: commit, old: oldTip }], `git-run: ${message.split('\n')[0]}`);
  return ok ? commit : null;
}

export async function recordStart(repo: Repo, view: RunView, state: RunState): Promise<string | null> {
  const blob = await writeBlob(repo, JSON.stringify(state, null, 2) + '\n');
  return advanceRun(repo, view.id, view.tip, { 'state.json': blobEntry('state.json', blob) }, `started on ${state.handle.hostname}\n`);
}

export interface EndRecord {
  result: RunResult;
  /** Files holding the logs, hashed byte for byte; missing files become empty logs. */
  stdoutFile?: string | null;
  stderrFile?: string | null;
  outputsTree?: string | null;
}

export async function recordEnd(repo: Repo, view: RunView, end: EndRecord): Promise<string | null> {
  const files = [end.stdoutFile, end.stderrFile].map((f) => (f && existsSync(f) ? f : null));
  const present = files.filter((f): f is string => f !== null);
  const oids = await writeFiles(repo, present);
  const empty = files.includes(null) ? await writeBlob(repo, '') : '';
  const [out, err] = files.map((f) => (f ? oids[present.indexOf(f)]! : empty));
  const logs = await writeTree(repo, [blobEntry('stdout', out!), blobEntry('stderr', err!)]);
  const result = await writeBlob(repo, JSON.stringify(end.result, null, 2) + '\n');
  const changes: Record<string, TreeEntry | null> = {
    'result.json': blobEntry('result.json', result),
    logs: treeEntry('logs', logs),
  };
  if (end.outputsTree) changes.outputs = treeEntry('outputs', end.outputsTree);
  const r = end.result;
  const how = r.signal ? `signal ${r.signal}` : r.exitCode !== null ? `exit ${r.exitCode}` : r.error ?? '';
  return advanceRun(repo, view.id, view.tip, changes, `${r.status}${how ? ` (${how})` : ''}\n`);
}

/** Status as the commits record it; liveness checks live in the executors. */
function statusOf(state: RunState | null, result: RunResult | null): Status {
  if (result) return result.status;
  return state ? 'running' : 'queued';
}

/**
 * Reads many runs through one cat-file process. Notes are listed once, on
 * first use, so reading a hundred runs costs a handful of git processes.
 */
export class RunReader {
  private readonly batch: CatFileBatch;
  private notes: Promise<Map<string, string>> | null = null;

  constructor(private readonly repo: Repo) {
    this.batch = new CatFileBatch(repo.processOptions());
  }

  private async json<T>(spec: string): Promise<T | null> {
    const o = await this.batch.read(spec);
    return o ? (JSON.parse(o.data.toString('utf8')) as T) : null;
  }

  async read(id: string, tip: string): Promise<RunView> {
    const [spec, state, result] = await Promise.all([
      this.json<RunSpec>(`${tip}:run.json`),
      this.json<RunState>(`${tip}:state.json`),
      this.json<RunResult>(`${tip}:result.json`),
    ]);
    if (!spec) throw new GitRunError(ErrorCode.RunNotFound, `refs/runs/${id} does not point at a run (no run.json)`, 'delete the stray ref with `git update-ref -d refs/runs/' + id + '`');
    this.notes ??= listNotes(this.repo);
    const noteBlob = (await this.notes).get(id);
    const noteText = noteBlob ? (await this.batch.read(noteBlob))?.data.toString('utf8') ?? '' : '';
    return { id, tip, spec, state, result, status: statusOf(state, result), meta: foldMetadata(noteText) };
  }

  /** Raw object read through the same process. */
  readObject(spec: string): Promise<{ type: string; data: Buffer } | null> {
    return this.batch.read(spec);
  }

  close(): void {
    this.batch.close();
  }
}

export async function readRun(repo: Repo, id: string): Promise<RunView> {
  const tip = await revParse(repo, new RunRef(id).name);
  if (!tip) throw runNotFound(id);
  const reader = new RunReader(repo);
  try {
    return await reader.read(id, tip);
  } finally {
    reader.close();
  }
}

/** All runs: id -> tip. */
export async function listRunRefs(repo: Repo, pattern = ''): Promise<Array<{ id: string; tip: string }>> {
  const out = await repo.text(['for-each-ref', '--format=%(objectname) %(refname)', `${RUNS_PREFIX}${pattern}`]);
  const runs: Array<{ id: string; tip: string }> = [];
  for (const line of out.split('\n')) {
    if (!line) continue;
    const [tip, refname] = line.split(' ');
    const ref = RunRef.parse(refname!);
    if (ref) runs.push({ id: ref.id, tip: tip! });
  }
  return runs;
}

const runNotFound = (name: string) =>
  new GitRunError(ErrorCode.RunNotFound, `no run matches '${name}'`, 'list runs with `git run log --oneline`', { name });

/** Resolve a unique prefix of a run id (or `refs/runs/<id>`) to the run id. */
export async function resolveRun(repo: Repo, name: string): Promise<string> {
  const prefix = name.startsWith(RUNS_PREFIX) ? name.slice(RUNS_PREFIX.length) : name;
  if (!/^[0-9a-f]{4,64}$/.test(prefix)) {
    throw new GitRunError(
      ErrorCode.BadRunName,
      `'${name}' is not a run id: a run is named by 4 or more hex digits of its id`,
      'list runs with `git run log --oneline`',
      { name },
    );
  }
  const matches = await listRunRefs(repo, `${prefix}*`);
  if (!matches.length) throw runNotFound(name);
  if (matches.length > 1) {
    throw new GitRunError(
      ErrorCode.RunAmbiguous,
      `'${name}' is ambiguous: it names ${matches.length} runs (${matches
        .slice(0, 5)
        .map((m) => m.id.slice(0, 12))
        .join(', ')}${matches.length > 5 ? ', ...' : ''})`,
      'give more digits of the run id',
      { name, candidates: matches.map((m) => m.id) },
    );
  }
  return matches[0]!.id;
}

export async function outputsOf(repo: Repo, tip: string): Promise<Array<{ path: string; oid: string; size: number; mode: string }>> {
  const r = await repo.git(['ls-tree', '-z', '-r', '-l', '--full-tree', `${tip}:outputs`], { okCodes: [128] });
  if (r.code !== 0) return [];
  return parseLsTree(r.stdout.toString('utf8')).map((e) => ({ path: e.name, oid: e.oid, size: e.size ?? 0, mode: e.mode }));
}

export const hostInfo = () => ({ hostname: os.hostname(), platform: process.platform, arch: process.arch, release: os.release() });
