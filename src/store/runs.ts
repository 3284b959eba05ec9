/**
 * Runs as git objects: creating the spec commit, advancing the state chain
 * with compare-and-swap, and reading runs back. This layer decides the layout
 * (see core/record.ts); git/ does the plumbing.
 */
import os from 'node:os';
import { existsSync } from 'node:fs';
import type { Repo } from '../git/repo.js';
import { CatFileBatch } from '../git/gateway.js';
import { countLooseRunRefs, forEachRunRef, packRefsInBackground, runTips } from '../git/refscan.js';
import { NOTES_REF, RUNS_PREFIX, RunRef } from '../git/refs.js';
import { parseTree } from '../git/loose.js';
import { blobEntry, editEntries, lsTreeIfAny, readBlob, revParse, treeEntry, writeBlob, writeCommit, writeFiles, writeTree, type TreeEntry } from '../git/objects.js';
import { updateRefs } from '../git/transaction.js';
import { appendNote, listNotes } from '../git/notes.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { escapeText as shown } from '../util/escape.js';
import { METRICS_FILE, HISTORY_FILE, SUMMARY_FILE, MAX_HISTORY_BYTES, historyFileOf, mergeMetrics, metricStats, parseMetrics, parseSummary, summarizeHistory, summaryJson, type MetricStats, type Metrics } from '../core/metrics.js';
import { anyLfsStored, lfsStoredAmong, parsePointer, readLfsContent } from '../git/lfs.js';
import { foldMetadata, formatEvent, mayBeLfsOutput, type GroupChild, type Metadata, type MetadataEvent, type RunResult, type RunSpec, type RunState, type Status } from '../core/record.js';

export interface RunView {
  id: string;
  /** The ref's current commit. */
  tip: string;
  spec: RunSpec;
  state: RunState | null;
  result: RunResult | null;
  status: Status;
  meta: Metadata;
  /** Entries of the tip's root tree: lets the next state be written without reading it again. */
  entries: TreeEntry[];
  /** A group's children (children.json), null for a run. */
  children: GroupChild[] | null;
  /** Flattened from the finished commit's metrics.json, and its history's last values (metrics.json wins); null when the run wrote neither. */
  metrics: Metrics | null;
  /** Each metric's last, min, max and count over its history (a metrics.json value alone counts once); absent when not read. */
  metricStats?: Map<string, MetricStats>;
}

const summary = (command: string[]): string => {
  const s = command.join(' ').replace(/\s+/g, ' ');
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
};

export const KEY_ENV_FILE = 'key-env.json';

/** Write the immutable spec commit; nothing refers to it yet. Returns the
 * run as it will read once published (status queued). */
export async function writeSpecCommit(repo: Repo, spec: RunSpec, meta: Metadata, upstream: string[] = [], storedInputs: string | null = null): Promise<RunView> {
  const runJson = await writeBlob(repo, JSON.stringify(spec, null, 2) + '\n');
  // Stored inputs (the store option) stay reachable in the run's own tree, at inputs/<path>.
  const entries = [blobEntry('run.json', runJson), treeEntry('code', spec.code.tree), ...(storedInputs ? [treeEntry('inputs', storedInputs)] : [])];
  // The key's environment (names and keyed hashes, core/key.ts), which `why` compares: in the tree, so it stays with the run.
  if (spec.keyParts?.env) entries.push(blobEntry(KEY_ENV_FILE, spec.keyParts.env));
  const tree = await writeTree(repo, entries);
  const id = await writeCommit(repo, { tree, parents: upstream, message: `submitted: ${summary(spec.command)}\n` });
  return { id, tip: id, spec, state: null, result: null, status: 'queued', meta, entries, children: null, metrics: null };
}

/** A group's second commit: the list of its children (not published yet). */
export async function childrenView(repo: Repo, group: RunView, children: GroupChild[]): Promise<RunView> {
  const blob = await writeBlob(repo, JSON.stringify(children, null, 1) + '\n');
  const { tree, entries } = await editEntries(repo, group.entries, { 'children.json': blobEntry('children.json', blob) });
  const reused = children.filter((c) => c.reused).length;
  const tip = await writeCommit(repo, { tree, parents: [group.tip], message: `children: ${children.length}${reused ? ` (${reused} reused)` : ''}\n` });
  return { ...group, tip, entries, children };
}

/** Publish many runs at once: one transaction creates every ref (and the
 * metadata note of one of them); any conflict aborts them all. */
export async function publishRuns(repo: Repo, runs: Array<{ id: string; tip: string }>, note: { id: string; events: MetadataEvent[] } | null): Promise<void> {
  const creates = runs.map((r) => ({ ref: new RunRef(r.id).name, create: r.tip }));
  if (note && note.events.length) await appendNote(repo, note.id, note.events.map(formatEvent), creates);
  else if (!(await updateRefs(repo, creates, 'git-run: submitted'))) {
    throw new GitRunError(ErrorCode.Git, 'a run being submitted already exists', 'this is a bug in git-run: two submissions produced the same spec commit');
  }
  packRefsIfMany(repo);
}

/** Add metadata events to a run (any time: while it runs or after). */
export async function addMetadata(repo: Repo, id: string, events: MetadataEvent[]): Promise<void> {
  if (events.length) await appendNote(repo, id, events.map(formatEvent));
}

/** Advance a run from the view's tip with root-tree changes. Returns the
 * advanced view, or null when another process advanced it first: the caller
 * re-reads and decides. */
async function advanceRun(repo: Repo, view: RunView, changes: Record<string, TreeEntry | null>, message: string, next: Partial<RunView>): Promise<RunView | null> {
  const { tree, entries } = await editEntries(repo, view.entries, changes);
  const commit = await writeCommit(repo, { tree, parents: [view.tip], message });
  const ok = await updateRefs(repo, [{ ref: new RunRef(view.id).name, update: commit, old: view.tip }], `git-run: ${message.split('\n')[0]}`);
  return ok ? { ...view, ...next, tip: commit, entries } : null;
}

const startMessage = (state: RunState) => `started on ${state.handle.hostname}\n`;

export async function recordStart(repo: Repo, view: RunView, state: RunState): Promise<RunView | null> {
  const blob = await writeBlob(repo, JSON.stringify(state, null, 2) + '\n');
  return advanceRun(repo, view, { 'state.json': blobEntry('state.json', blob) }, startMessage(state), { state, status: 'running' });
}

/** The started commit on top of an unpublished spec, for a run that is
 * published already started (one ref update instead of two). */
export async function startedView(repo: Repo, spec: RunView, state: RunState): Promise<RunView> {
  const blob = await writeBlob(repo, JSON.stringify(state, null, 2) + '\n');
  const { tree, entries } = await editEntries(repo, spec.entries, { 'state.json': blobEntry('state.json', blob) });
  const tip = await writeCommit(repo, { tree, parents: [spec.tip], message: startMessage(state) });
  return { ...spec, tip, entries, state, status: 'running' };
}

export interface EndRecord {
  result: RunResult;
  /** Files holding the logs, hashed byte for byte; missing files become empty logs. */
  stdoutFile?: string | null;
  stderrFile?: string | null;
  /** Or the logs themselves (from a remote host). */
  stdoutData?: Buffer;
  stderrData?: Buffer;
  outputsTree?: string | null;
}

export async function recordEnd(repo: Repo, view: RunView, end: EndRecord): Promise<RunView | null> {
  const files = [end.stdoutFile, end.stderrFile].map((f) => (f && existsSync(f) ? f : null));
  const present = files.filter((f): f is string => f !== null);
  const oids = await writeFiles(repo, present);
  const empty = files.includes(null) ? await writeBlob(repo, '') : '';
  let [out, err] = files.map((f) => (f ? oids[present.indexOf(f)]! : empty));
  if (end.stdoutData) out = await writeBlob(repo, end.stdoutData);
  if (end.stderrData) err = await writeBlob(repo, end.stderrData);
  const logs = await writeTree(repo, [blobEntry('stdout', out!), blobEntry('stderr', err!)]);
  const changes: Record<string, TreeEntry | null> = { logs: treeEntry('logs', logs) };
  let r = end.result;
  let metrics: Metrics | null = null;
  let stats: Map<string, MetricStats> | null = null;
  let json: Metrics | null = null;
  let lfs: ReadonlySet<string> | null = null;
  if (end.outputsTree) {
    changes.outputs = treeEntry('outputs', end.outputsTree);
    // Which outputs git-lfs stored, said once here so that no reader takes a run's copy of a pointer file for one (the tree is listed only when this process stored any).
    const lfsOutputs = anyLfsStored() ? lfsStoredAmong((await lsTreeIfAny(repo, end.outputsTree)).map((e) => ({ path: e.name, oid: e.oid }))) : [];
    r = { ...r, lfsOutputs };
    lfs = new Set(lfsOutputs);
    // The run's metrics.json (in its working directory), if it wrote one: the same blob, at the top.
    const file = `${view.spec.cwd}${METRICS_FILE}`;
    const oid = await revParse(repo, `${end.outputsTree}:${file}`);
    const text = oid ? await readBlob(repo, oid) : null;
    if (oid && text) {
      const parsed = parseMetrics(text.toString('utf8'));
      if ('metrics' in parsed) {
        metrics = json = parsed.metrics;
        changes[METRICS_FILE] = blobEntry(METRICS_FILE, oid);
      } else r = { ...r, metricsError: parsed.error };
    }
    // The history (decision 0020): the same blob at the top, and its summary beside it, so readers never parse the history again.
    const hist = `${view.spec.cwd}${historyFileOf(view.spec)}`;
    const hoid = await revParse(repo, `${end.outputsTree}:${hist}`);
    if (hoid) {
      const read = await readHistory(repo, hoid, `the metrics history of run ${view.id.slice(0, 12)} (${hist})`, mayBeLfsOutput(lfs, hist));
      if ('data' in read) {
        const sum = summarizeHistory(read.data);
        changes[HISTORY_FILE] = blobEntry(HISTORY_FILE, hoid);
        changes[SUMMARY_FILE] = blobEntry(SUMMARY_FILE, await writeBlob(repo, summaryJson(sum)));
        if (sum.errors) r = { ...r, metricsErrors: sum.errors };
        stats = sum.stats;
        metrics = mergeMetrics(sum.stats, metrics);
      } else r = { ...r, metricsErrors: { lines: 0, first: read.error } };
    }
  }
  changes['result.json'] = blobEntry('result.json', await writeBlob(repo, JSON.stringify(r, null, 2) + '\n'));
  const how = r.signal ? `signal ${r.signal}` : r.exitCode !== null ? `exit ${r.exitCode}` : r.error ?? '';
  return advanceRun(repo, view, changes, `${r.status}${how ? ` (${how})` : ''}\n`, { result: r, status: r.status, metrics, metricStats: metricStats(stats, json) });
}

/**
 * A history's bytes from its blob (an ordinary one, or a Git LFS pointer
 * whose content is read from git-lfs's store), or why not: never fatal.
 */
export async function readHistory(repo: Repo, oid: string, where: string, mayBeLfs = true): Promise<{ data: Buffer } | { error: string }> {
  const blob = await readBlob(repo, oid);
  if (!blob) return { error: `${where} cannot be read` };
  try {
    const p = mayBeLfs ? parsePointer(blob, where) : null;
    if (!p) return blob.length > MAX_HISTORY_BYTES ? { error: `larger than ${MAX_HISTORY_BYTES} bytes: not read` } : { data: blob };
    if (p.size > MAX_HISTORY_BYTES) return { error: `larger than ${MAX_HISTORY_BYTES} bytes: not read` };
    return { data: await readLfsContent(repo, p, where) };
  } catch (e) {
    if (e instanceof GitRunError) return { error: e.message };
    throw e;
  }
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

  /** `bulk`: many runs will be read, so list all notes once instead of looking each up. */
  constructor(
    private readonly repo: Repo,
    private readonly bulk = false,
  ) {
    this.batch = new CatFileBatch(repo.processOptions());
  }

  private async json<T>(spec: string): Promise<T | null> {
    const o = await this.batch.read(spec);
    return o ? (JSON.parse(o.data.toString('utf8')) as T) : null;
  }

  private async noteText(id: string): Promise<string> {
    if (this.bulk) {
      this.notes ??= listNotes(this.repo);
      const blob = (await this.notes).get(id);
      return blob ? (await this.batch.read(blob))?.data.toString('utf8') ?? '' : '';
    }
    // git reads notes at any fan-out; look where they may be.
    for (const p of [`${id.slice(0, 2)}/${id.slice(2)}`, id, `${id.slice(0, 2)}/${id.slice(2, 4)}/${id.slice(4)}`]) {
      const o = await this.batch.read(`${NOTES_REF}:${p}`);
      if (o) return o.data.toString('utf8');
    }
    return '';
  }

  async read(id: string, tip: string): Promise<RunView> {
    const [spec, state, result, root, note, children] = await Promise.all([
      this.json<RunSpec>(`${tip}:run.json`),
      this.json<RunState>(`${tip}:state.json`),
      this.json<RunResult>(`${tip}:result.json`),
      this.batch.read(`${tip}^{tree}`),
      this.noteText(id),
      this.json<GroupChild[]>(`${tip}:children.json`),
    ]);
    if (!spec || !root) throw new GitRunError(ErrorCode.RunNotFound, `refs/runs/${id} does not point at a run (no run.json)`, 'delete the stray ref with `git update-ref -d refs/runs/' + id + '`');
    const entries = parseTree(root.data, this.repo.objectFormat).map((e) => ({ ...e, type: (e.mode === '040000' ? 'tree' : e.mode === '160000' ? 'commit' : 'blob') as TreeEntry['type'] }));
    const m = entries.find((e) => e.name === METRICS_FILE);
    const parsed = m ? parseMetrics((await this.batch.read(m.oid))?.data.toString('utf8') ?? '') : null;
    const json = parsed && 'metrics' in parsed ? parsed.metrics : null;
    const sm = entries.find((e) => e.name === SUMMARY_FILE);
    const summary = sm ? parseSummary((await this.batch.read(sm.oid))?.data.toString('utf8') ?? '') : null;
    const metrics = mergeMetrics(summary, json);
    return { id, tip, spec, state, result, status: statusOf(state, result), meta: foldMetadata(note), entries, children, metrics, metricStats: metricStats(summary, json) };
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

/** Several runs read at once: one ref listing and one reader for all, in the order given. */
export async function readRuns(repo: Repo, ids: readonly string[]): Promise<RunView[]> {
  if (ids.length <= 1) return Promise.all(ids.map((id) => readRun(repo, id)));
  const tips = await runTips(repo, ids);
  // Listing every note once pays off only for many runs.
  const reader = new RunReader(repo, ids.length > 50);
  try {
    return await Promise.all(
      ids.map((id) => {
        const tip = tips.get(id);
        if (!tip) throw runNotFound(id);
        return reader.read(id, tip);
      }),
    );
  } finally {
    reader.close();
  }
}

/** All runs: id -> tip. */
export async function listRunRefs(repo: Repo, pattern = ''): Promise<Array<{ id: string; tip: string }>> {
  return forEachRunRef(repo, pattern);
}

/** Loose run refs beyond which they are packed: every `git log` in a terminal reads all refs for its decorations,
 * 0.6 s with 100,000 loose ones and 14 ms packed (bench/gitrefs.ts). */
const MAX_LOOSE_RUN_REFS = 1000;

/**
 * Pack refs (as `git gc` would), in the background, when many run refs are
 * loose: called after runs are published, like git's auto-gc after a
 * commit. Another process packing at the same time is no error (git locks).
 */
export function packRefsIfMany(repo: Repo): boolean {
  if (countLooseRunRefs(repo.commonDir) <= MAX_LOOSE_RUN_REFS) return false;
  packRefsInBackground(repo);
  return true;
}

const runNotFound = (name: string) =>
  new GitRunError(ErrorCode.RunNotFound, `no run matches '${shown(name)}'`, 'list runs with `git run log --oneline`', { name });

/** A name as an error message shows it: names come from other clones, so control characters are escaped (as the CLI's escapeText does). */

const HEX_PREFIX = /^[0-9a-f]{4,64}$/;

/**
 * The run a user names: a unique prefix of its id (4 or more hex digits, or
 * `refs/runs/<id>`), or its name when exactly one run has it. A word that is
 * both (a run named `beef` and a run whose id starts with beef) is the id, as
 * git takes a hex word for an object id before a ref name; a hex word no id
 * starts with is looked up as a name. Names are found through the derived
 * index (a group's or run's metadata name, a child's generated name).
 */
export async function resolveRun(repo: Repo, name: string): Promise<string> {
  const prefix = name.startsWith(RUNS_PREFIX) ? name.slice(RUNS_PREFIX.length) : name;
  if (HEX_PREFIX.test(prefix)) {
    const matches = await listRunRefs(repo, `${prefix}*`);
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
    if (matches.length === 1) return matches[0]!.id;
    if (prefix !== name) throw runNotFound(name);
  }
  if (!name) throw new GitRunError(ErrorCode.BadRunName, 'an empty word does not name a run', 'name a run by 4 or more hex digits of its id, or by its name; list runs with `git run log --oneline`', { name });
  const named = await runsNamed(repo, name);
  if (named.length === 1) return named[0]!.id;
  if (named.length > 1) {
    throw new GitRunError(
      ErrorCode.RunAmbiguous,
      `the name '${shown(name)}' is ambiguous: ${named.length} runs have it (${named
        .slice(0, 5)
        .map((m) => `${m.id.slice(0, 12)} created ${m.createdAt}`)
        .join(', ')}${named.length > 5 ? ', ...' : ''})`,
      'name the run by its id (or a unique prefix of it), or rename one with `git run edit <id> --name <name>`',
      { name, candidates: named.map((m) => m.id) },
    );
  }
  if (HEX_PREFIX.test(prefix)) throw runNotFound(name);
  throw new GitRunError(
    ErrorCode.RunNotFound,
    `'${shown(name)}' is not a run id, nor the name of a run`,
    'name a run by 4 or more hex digits of its id, or by its name; list runs with `git run log --oneline`',
    { name },
  );
}

/** Runs whose name is exactly this, oldest first (through the derived index, loaded only when a name is used). */
async function runsNamed(repo: Repo, name: string): Promise<Array<{ id: string; createdAt: string }>> {
  const { RunIndex } = await import('../index/db.js');
  const index = RunIndex.open(repo);
  try {
    await index.sync(repo);
    return index.named(name);
  } finally {
    index.close();
  }
}

export async function outputsOf(repo: Repo, tip: string): Promise<Array<{ path: string; oid: string; size: number; mode: string }>> {
  return (await lsTreeIfAny(repo, `${tip}:outputs`)).map((e) => ({ path: e.name, oid: e.oid, size: e.size ?? 0, mode: e.mode }));
}

export const hostInfo = () => ({ hostname: os.hostname(), platform: process.platform, arch: process.arch, release: os.release() });
