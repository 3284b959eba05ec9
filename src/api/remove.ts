/**
 * Deleting runs (`git run rm`) and deleting by retention rules (`git run
 * gc`), then giving the space back. Both plan from the derived index (which
 * runs go, which groups lose a listed child, who depends on what), refuse
 * what would break a kept run or stop a live one, and delete in one
 * compare-and-swap transaction (src/store/remove.ts); the index follows the
 * refs on its next sync. Decision 0018.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeAtomic } from '../util/files.js';
import { sharedPerm } from '../git/shared.js';
import path from 'node:path';
import type { Repo } from '../git/repo.js';
import { escapeText as escapeName } from '../util/escape.js';
import { RunReader, resolveRun, readRun } from '../store/runs.js';
import { deleteRuns, type Deletion } from '../store/remove.js';
import { lsTreeIfAny } from '../git/objects.js';
import { lfsPointersInTrees, mayHoldLfsContent, pruneLfsContent } from '../git/lfs.js';
import { countObjects, expireNotesReflog, gcObjects, objectBytes, type ObjectCounts } from '../git/maintenance.js';
import { cancelRun, controlDirFor, executorOfType, inputCacheNames, pruneInputCache, refreshRun } from '../executors/index.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { isFinal, type RunSpec, type Status } from '../core/record.js';
import { parseDate } from '../query/time.js';
import { openIndex } from './query.js';
import { waitFor } from './control.js';
import { loadRunConfig } from './context.js';
import type { RemovalRow, RunIndex } from '../index/db.js';
import type { HostGcReport, HostKeep } from '../executors/index.js';

/** A run that goes (or would go). */
export interface RemovedRun {
  id: string;
  kind: 'run' | 'group';
  parent: string | null;
  status: Status;
  name: string | null;
  command: string[];
  createdAt: string;
}

/** A run that stays but took an input from one that goes: its lineage will name a run this repository no longer has. */
export interface Dependent {
  /** The run that goes. */
  upstream: string;
  /** The run that stays, and the input (its path there) it took. */
  run: string;
  path: string;
  name: string | null;
  status: Status | null;
}

interface Plan {
  runs: RemovalRow[];
  groups: Array<{ id: string; tip: string; drop: Set<string> }>;
  dependents: Dependent[];
  /** Runs that go but are queued or running. */
  active: RemovalRow[];
  /** Groups that go because every run they list goes, with those runs. */
  emptied: Array<{ id: string; listed: string[] }>;
}

const ACTIVE = new Set<Status>(['queued', 'running']);
const toRemoved = (r: RemovalRow): RemovedRun => ({ id: r.id, kind: r.kind, parent: r.parent, status: r.status, name: r.name, command: parseCommand(r.command), createdAt: r.createdAt });
const parseCommand = (text: string): string[] => {
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
};

/**
 * Everything deleting `roots` means: a group takes its own children; a group
 * that stays loses the deleted runs from its listing, and a group whose
 * every listed child goes, goes too (nothing would be left to show).
 */
function expand(index: RunIndex, roots: readonly string[]): Plan {
  const byId = new Map<string, RemovalRow>();
  const add = (rows: RemovalRow[]) => {
    for (const r of rows) byId.set(r.id, r);
  };
  add(index.removalRows([...roots]));
  const groupsIn = () => [...byId.values()].filter((r) => r.kind === 'group').map((r) => r.id);
  add(index.childRows(groupsIn()));
  // Groups that list a run that goes: emptied ones go as well, the others are edited.
  const listing = index.listings([...byId.keys()]).filter(([g]) => !byId.has(g));
  const touched = [...new Set(listing.map(([g]) => g))];
  const lists = new Map<string, string[]>();
  for (const [g, c] of index.listedChildren(touched)) lists.set(g, [...(lists.get(g) ?? []), c]);
  const emptied = touched.filter((g) => (lists.get(g) ?? []).every((c) => byId.has(c)));
  if (emptied.length) {
    add(index.removalRows(emptied));
    add(index.childRows(emptied));
  }
  const edited = touched.filter((g) => !byId.has(g));
  const editedRows = new Map(index.removalRows(edited).map((r) => [r.id, r]));
  const groups = edited
    .filter((g) => editedRows.has(g))
    .map((g) => ({ id: g, tip: editedRows.get(g)!.tip, drop: new Set((lists.get(g) ?? []).filter((c) => byId.has(c))) }));
  const dependents: Dependent[] = index
    .consumersOf([...byId.keys()])
    .filter((l) => !byId.has(l[0]) && l[4] !== null)
    .map((l) => ({ upstream: l[4]!, run: l[0], path: l[1], name: l[7], status: l[8] }));
  const runs = [...byId.values()].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
  return { runs, groups, dependents, active: runs.filter((r) => r.kind === 'run' && ACTIVE.has(r.status)), emptied: emptied.map((g) => ({ id: g, listed: lists.get(g) ?? [] })) };
}

const short = (id: string) => id.slice(0, 12);

/** Look again at runs the index has as queued or running: a dead local supervisor's run is finished (or lost) by this look. */
async function stillActive(repo: Repo, rows: RemovalRow[]): Promise<RemovalRow[]> {
  const out: RemovalRow[] = [];
  for (const r of rows) {
    const v = await readRun(repo, r.id).catch(() => null);
    if (!v) continue;
    let status = v.status;
    if (!isFinal(status) && (await refreshRun(repo, v).catch(() => false))) status = (await readRun(repo, r.id)).status;
    if (!isFinal(status)) out.push({ ...r, status });
  }
  return out;
}

function refuseActive(active: RemovalRow[]): never {
  const list = active.slice(0, 5).map((r) => `${short(r.id)} (${r.status})`).join(', ') + (active.length > 5 ? ', ...' : '');
  throw new GitRunError(
    ErrorCode.RunNotFinished,
    `${active.length === 1 ? 'a run to delete is' : `${active.length} runs to delete are`} not finished: ${list}`,
    `cancel first (\`git run cancel ${active.map((r) => short(r.id)).slice(0, 5).join(' ')}\`), or delete with --force, which cancels ${active.length === 1 ? 'it' : 'them'} first`,
    { runs: active.map((r) => r.id) },
  );
}

function refuseDependents(dependents: Dependent[]): never {
  const ups = [...new Set(dependents.map((d) => d.upstream))];
  const list = dependents
    .slice(0, 5)
    .map((d) => `${short(d.run)}${d.name ? ` (${escapeName(d.name)})` : ''} takes ${JSON.stringify(d.path)} from ${short(d.upstream)}`)
    .join('; ');
  throw new GitRunError(
    ErrorCode.RunHasDependents,
    `${ups.length === 1 ? `run ${short(ups[0]!)} is` : `${ups.length} runs to delete are`} upstream of runs that stay: ${list}${dependents.length > 5 ? `; and ${dependents.length - 5} more` : ''}`,
    'delete the downstream runs too (name them as well), or delete anyway with --force: their lineage will then name a run this repository no longer has (their code and inputs stay in git)',
    { runs: ups, dependents: dependents.map((d) => ({ upstream: d.upstream, run: d.run, path: d.path })) },
  );
}

/** Delete with compare-and-swap, planning again from a fresh index when another process moved a ref first. */
async function applyPlan(repo: Repo, index: RunIndex, planNow: () => Promise<Plan>, first: Plan, message: string): Promise<Plan> {
  let plan = first;
  for (let attempt = 1; ; attempt++) {
    const d: Deletion = { runs: plan.runs.map((r) => ({ id: r.id, tip: r.tip })), groups: plan.groups };
    // The index forgets the runs while git deletes their refs (gc of 50,000 runs: seconds each), kept only if the refs went.
    let forgetting: ReturnType<RunIndex['forgetWhile']> = null;
    let gone = false;
    try {
      gone = await deleteRuns(repo, d, message, { whileApplying: () => (forgetting = index.forgetWhile(d.runs.map((r) => r.id))) });
    } finally {
      (forgetting as ReturnType<RunIndex['forgetWhile']>)?.settle(gone);
    }
    if (gone) break;
    if (attempt >= 10) throw new GitRunError(ErrorCode.Git, 'other processes kept changing the runs to delete', 'run the command again when they are done', {});
    await index.sync(repo);
    plan = await planNow();
  }
  await index.sync(repo);
  return plan;
}

/** Up to this many runs, each one's run.json is read for where its run directory is; past it, the known places are listed. */
const READ_SPECS_UP_TO = 1000;

/** Every `local_dir` value .runconfig names (defaults, host profiles, experiments), wherever it sits. */
function localDirsIn(v: unknown, depth = 0, out: string[] = []): string[] {
  if (!v || typeof v !== 'object' || depth > 4) return out;
  for (const [k, x] of Object.entries(v)) {
    if (k === 'local_dir' && typeof x === 'string') out.push(x);
    else localDirsIn(x, depth + 1, out);
  }
  return out;
}

/**
 * Run directories on this machine of runs that are gone (a local run's, or a
 * remote run's state directory here). Each place run directories can be
 * (the state directory's runs/, and every local_dir .runconfig names) is
 * listed once. A few runs also have their run.json read (one cat-file
 * process), which finds a directory a `--local-dir` given on the command
 * line put elsewhere; for thousands (gc) that read cost 5 s at 50,000 runs.
 */
async function removeRunDirs(repo: Repo, runs: RemovalRow[]): Promise<number> {
  if (!runs.length) return 0;
  const gone = new Set(runs.map((r) => r.id));
  const dirs = new Set<string>();
  const bases = new Set<string>([path.dirname(controlDirFor(repo, runs[0]!.id, {}))]);
  const config = await loadRunConfig(repo).catch(() => null);
  for (const d of localDirsIn(config)) bases.add(path.dirname(controlDirFor(repo, runs[0]!.id, { local_dir: d })));
  for (const base of bases) {
    let names: string[];
    try {
      names = readdirSync(base);
    } catch {
      continue; // no such place (yet): nothing of ours there
    }
    for (const n of names) if (gone.has(n)) dirs.add(path.join(base, n));
  }
  if (runs.length <= READ_SPECS_UP_TO) {
    const reader = new RunReader(repo);
    try {
      // The specs are still in the object store (nothing is pruned yet): read for local_dir, one process for all.
      const specs = await Promise.all(runs.map((r) => reader.readObject(`${r.tip}:run.json`).catch(() => null)));
      runs.forEach((r, i) => {
        let localDir: unknown;
        try {
          localDir = specs[i] ? (JSON.parse(specs[i]!.data.toString('utf8')) as RunSpec).runArgs?.local_dir : undefined;
        } catch {
          /* a damaged record: its directory is looked for in the places listed above */
        }
        if (typeof localDir === 'string') dirs.add(controlDirFor(repo, r.id, { local_dir: localDir }));
      });
    } finally {
      reader.close();
    }
  }
  let removed = 0;
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    rmSync(dir, { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/** The LFS content of deleted runs that nothing else reaches, removed from the local store (their tips are still in the object store). */
async function freeLfsContent(repo: Repo, runs: RemovalRow[], prune: string): Promise<{ removed: number; bytes: number }> {
  const pendingFile = path.join(repo.stateDir, LFS_PENDING);
  const pending = readPending(pendingFile);
  if ((!runs.length && !pending.size) || !(await mayHoldLfsContent(repo))) return { removed: 0, bytes: 0 };
  const deleted = runs.length ? (await lfsPointersInTrees(repo, runs.map((r) => `${r.tip}:outputs`))).map((p) => p.oid) : [];
  const r = await pruneLfsContent(repo, [...pending, ...deleted], Date.parse(prune));
  // Content kept for being young is remembered, so that a later rm or gc frees it once nothing reaches it.
  if (r.young.length || r.settled.some((o) => pending.has(o))) {
    const now = readPending(pendingFile);
    for (const o of r.young) now.add(o);
    for (const o of r.settled) now.delete(o);
    try {
      await writeAtomic(pendingFile, [...now].map((o) => `${o}\n`).join(''), await sharedPerm(repo));
    } catch {
      // A full disk: this content stays until its run's bytes are stored and deleted again.
    }
  }
  return { removed: r.removed, bytes: r.bytes };
}

/** LFS content a deletion left because it was younger than the prune date: one sha256 per line, under .git/git-run/. */
const LFS_PENDING = 'lfs-pending';

/** The pending ids; anything that is not one (a damaged file) is left out. */
function readPending(file: string): Set<string> {
  try {
    return new Set(readFileSync(file, 'utf8').split('\n').filter((l) => /^[0-9a-f]{64}$/.test(l)));
  } catch {
    return new Set();
  }
}

export interface RemoveOptions {
  force?: boolean;
  dryRun?: boolean;
  /** Seconds between SIGTERM and SIGKILL when --force cancels a run. */
  graceMs?: number;
}

export interface RemoveResult {
  runs: RemovedRun[];
  /** Runs that stay whose upstream went (only with force). */
  dependents: Dependent[];
  /** Runs cancelled before they were deleted (force). */
  cancelled: string[];
  /** Groups that stay, without the deleted runs in their listing. */
  groupsEdited: string[];
  /** Run directories removed on this machine. */
  runDirs: number;
  /** Git LFS content of the deleted runs that no ref, reflog or index reaches any more, removed from the local store. */
  lfs: { removed: number; bytes: number };
  dryRun: boolean;
}

/** `git run rm`: delete runs (a group with its children) in one transaction. */
export async function removeRuns(repo: Repo, names: string[], opts: RemoveOptions = {}): Promise<RemoveResult> {
  const index = await openIndex(repo);
  try {
    const ids: string[] = [];
    for (const n of names) ids.push(await resolveRun(repo, n)); // every name first: one bad name deletes nothing
    let plan = expand(index, ids);
    const active = await stillActive(repo, plan.active);
    if (active.length && !opts.force) refuseActive(active);
    if (plan.dependents.length && !opts.force) refuseDependents(plan.dependents);
    const result = (p: Plan, runDirs: number, cancelled: string[], lfs = { removed: 0, bytes: 0 }): RemoveResult => ({
      runs: p.runs.map(toRemoved),
      dependents: p.dependents,
      cancelled,
      groupsEdited: p.groups.map((g) => g.id),
      runDirs,
      lfs,
      dryRun: !!opts.dryRun,
    });
    if (opts.dryRun) return result(plan, 0, active.map((r) => r.id));
    const cancelled: string[] = [];
    for (const r of active) {
      const v = await readRun(repo, r.id);
      await cancelRun(repo, v, opts.graceMs ?? 5000);
      const done = await waitFor(repo, r.id, (opts.graceMs ?? 5000) + 30000);
      if (!isFinal(done.status)) throw new GitRunError(ErrorCode.RunNotFinished, `run ${short(r.id)} did not stop after it was cancelled`, `look at it with \`git run status\`, then run the command again`, { run: r.id });
      cancelled.push(r.id);
    }
    if (cancelled.length) {
      await index.sync(repo);
      plan = expand(index, ids);
    }
    plan = await applyPlan(repo, index, async () => {
      const p = expand(index, ids);
      const again = await stillActive(repo, p.active);
      if (again.length) refuseActive(again);
      if (p.dependents.length && !opts.force) refuseDependents(p.dependents);
      return p;
    }, plan, `rm ${plan.runs.length} run${plan.runs.length === 1 ? '' : 's'}`);
    const runDirs = await removeRunDirs(repo, plan.runs);
    return result(plan, runDirs, cancelled, await freeLfsContent(repo, plan.runs, parseDate(DEFAULT_PRUNE)));
  } finally {
    index.close();
  }
}

export interface GcRules {
  failed?: boolean;
  cancelled?: boolean;
  /** A date as `log --since` takes it. */
  olderThan?: string;
  keepTagged?: boolean;
  /** Keep the newest N runs of each experiment. */
  keepLast?: number;
  dryRun?: boolean;
  /** Unreachable objects (and content cache entries) younger than this date stay (default: 10 minutes ago). */
  prune?: string;
  /** Called as the work goes on (a terminal shows it). */
  onProgress?: (what: string) => void;
}

export interface GcResult {
  runs: RemovedRun[];
  /** Runs the rules selected but that stay because a run that stays depends on them (or lists them). */
  keptAsUpstream: string[];
  /** Runs the rules selected that are not finished (never deleted). */
  keptActive: number;
  runDirs: number;
  inputCache: { removed: number; bytes: number };
  /** Git LFS content of the deleted runs that nothing reaches any more, removed from the local store. */
  lfs: { removed: number; bytes: number };
  before: ObjectCounts | null;
  after: ObjectCounts | null;
  /** Bytes the object store shrank by (may be negative when it grew: a repack of loose objects). */
  freedBytes: number;
  dryRun: boolean;
}

export const DEFAULT_PRUNE = '10 minutes ago';

/** What names a run's experiment for --keep-last: where it was submitted from (an experiment of .runconfig or a definition file), else its name, else its command. */
function experimentOf(spec: RunSpec | null, row: RemovalRow): string {
  if (spec && typeof spec.source === 'string' && spec.source !== 'command line') return `source:${spec.source}`;
  if (row.name) return `name:${row.name}`;
  return `command:${row.command}`;
}

/** `git run gc`: delete by retention rules, then reclaim the space (reflog expiry, git gc, the input content cache). */
export async function collectGarbage(repo: Repo, rules: GcRules): Promise<GcResult> {
  const olderThan = rules.olderThan !== undefined ? parseDate(rules.olderThan) : null;
  const prune = parseDate(rules.prune ?? DEFAULT_PRUNE);
  if (rules.keepLast !== undefined && !(Number.isInteger(rules.keepLast) && rules.keepLast >= 0)) {
    throw new GitRunError(ErrorCode.BadOption, `--keep-last takes a whole number of runs, not '${rules.keepLast}'`, 'write --keep-last 5 to keep the 5 newest runs of each experiment');
  }
  const selecting = !!(rules.failed || rules.cancelled || olderThan !== null || rules.keepLast !== undefined);
  const progress = rules.onProgress ?? (() => undefined);
  progress('reading the index');
  const index = await openIndex(repo);
  try {
    let keptAsUpstream: string[] = [];
    let keptActive = 0;
    const select = async (): Promise<Plan> => {
      if (!selecting) return { runs: [], groups: [], dependents: [], active: [], emptied: [] };
      // --keep-last counts every run of an experiment, old or not; otherwise only runs older than the date can go.
      const top = index.topLevel(rules.keepLast === undefined && olderThan !== null ? olderThan : undefined);
      const statuses = new Set<Status>([...(rules.failed ? (['failed'] as const) : []), ...(rules.cancelled ? (['cancelled'] as const) : [])]);
      const keep = new Set<string>();
      if (rules.keepLast !== undefined) {
        const reader = new RunReader(repo);
        try {
          const specs = await Promise.all(top.map((r) => reader.readObject(`${r.tip}:run.json`).then((o) => (o ? (JSON.parse(o.data.toString('utf8')) as RunSpec) : null)).catch(() => null)));
          const seen = new Map<string, number>();
          // Newest first: the first N of each experiment stay.
          for (let i = top.length - 1; i >= 0; i--) {
            const k = experimentOf(specs[i]!, top[i]!);
            const n = (seen.get(k) ?? 0) + 1;
            seen.set(k, n);
            if (n <= rules.keepLast) keep.add(top[i]!.id);
          }
        } finally {
          reader.close();
        }
      }
      keptActive = 0;
      const chosen = new Set<string>();
      for (const r of top) {
        if (statuses.size && !statuses.has(r.status)) continue;
        if (olderThan !== null && !(r.createdAt < olderThan)) continue;
        if (rules.keepTagged && r.tagged) continue;
        if (keep.has(r.id)) continue;
        if (!isFinal(r.status)) {
          keptActive++;
          continue;
        }
        chosen.add(r.id);
      }
      // What a run that stays depends on stays too (its upstream runs, the runs a kept group lists), and so on up.
      const protectedIds = new Set<string>();
      for (;;) {
        const plan = expand(index, [...chosen]);
        const unitOf = new Map(plan.runs.map((r) => [r.id, r.parent && chosen.has(r.parent) ? r.parent : r.id]));
        const needed = new Set<string>([...plan.dependents.map((d) => d.upstream), ...plan.groups.flatMap((g) => [...g.drop])]);
        // A group the rules did not choose would go with the runs it lists (expand): they stay instead.
        for (const e of plan.emptied) if (!chosen.has(e.id)) for (const c of e.listed) needed.add(c);
        const units = new Set([...needed].map((id) => unitOf.get(id) ?? id).filter((u) => chosen.has(u)));
        if (!units.size) {
          keptAsUpstream = [...protectedIds];
          return plan;
        }
        for (const u of units) {
          chosen.delete(u);
          protectedIds.add(u);
        }
      }
    };
    let plan = await select();
    const result = (runDirs: number, inputCache: GcResult['inputCache'], before: ObjectCounts | null, after: ObjectCounts | null, lfs = { removed: 0, bytes: 0 }): GcResult => ({
      runs: plan.runs.map(toRemoved),
      keptAsUpstream,
      keptActive,
      runDirs,
      inputCache,
      lfs,
      before,
      after,
      freedBytes: before && after ? objectBytes(before) - objectBytes(after) : 0,
      dryRun: !!rules.dryRun,
    });
    if (rules.dryRun) return result(0, { removed: 0, bytes: 0 }, null, null);
    const before = await countObjects(repo);
    if (plan.runs.length) {
      progress(`deleting ${plan.runs.length} runs`);
      plan = await applyPlan(repo, index, select, plan, `gc: ${plan.runs.length} run${plan.runs.length === 1 ? '' : 's'}`);
    }
    const runDirs = plan.runs.length ? await removeRunDirs(repo, plan.runs) : 0;
    // Before git gc: the deleted runs' outputs trees are still there to say which LFS objects they held.
    const lfs = await freeLfsContent(repo, plan.runs, prune);
    progress('pruning the input content cache');
    const inputCache = await pruneInputCache(repo, () => cacheNamesInUse(repo, index), Date.parse(prune));
    progress('expiring reflogs and running git gc');
    await expireNotesReflog(repo, prune);
    await gcObjects(repo, prune);
    return result(runDirs, inputCache, before, await countObjects(repo), lfs);
  } finally {
    index.close();
  }
}

/**
 * Content ids the input cache must keep: every input file of every run that
 * remains. A directory input is listed from git (an artifact or a stored
 * input); a work-tree directory that is not in git is expanded from the work
 * tree for runs not started yet (a finished run never needs the cache again).
 */
async function cacheNamesInUse(repo: Repo, index: RunIndex): Promise<Set<string>> {
  const keep = new Set<string>();
  for (const [oid, type] of index.inputObjects()) {
    if (type !== 'tree') {
      keep.add(oid);
      continue;
    }
    for (const e of await lsTreeIfAny(repo, oid)) if (e.type === 'blob') keep.add(e.oid);
  }
  const reader = new RunReader(repo);
  try {
    for (const r of index.unfinished()) {
      const v = await reader.read(r.id, r.tip).catch(() => null);
      if (v) for (const name of await inputCacheNames(repo, v.spec).catch((): string[] => [])) keep.add(name.replace(/\.x$/, ''));
    }
  } finally {
    reader.close();
  }
  return keep;
}

export interface HostGcOptions {
  dryRun?: boolean;
  /** What changed after this date stays (a run starting meanwhile); default 10 minutes ago. */
  prune?: string;
}

/**
 * `git run gc --host <profile>`: remove from a host the code caches, input
 * cache entries and run directories that no live run (queued or running)
 * of this repository needs. The executor decides what else it must not
 * touch there (a run it cannot tell is over).
 */
export async function collectHostGarbage(repo: Repo, profile: string, opts: HostGcOptions = {}): Promise<HostGcReport> {
  const config = await loadRunConfig(repo);
  const raw = profile === 'local' && !config.hosts[profile] ? { type: 'local' } : config.hosts[profile];
  if (!raw) {
    const known = Object.keys(config.hosts);
    throw new GitRunError(ErrorCode.UnknownHost, `no host profile '${escapeName(profile)}' in .runconfig`, known.length ? `name one of: local, ${known.join(', ')}` : 'name local, or add the profile under "hosts" in .runconfig', { host: profile });
  }
  const { type, max_parallel: _mp, ...rest } = raw as Record<string, unknown> & { type: string };
  void _mp;
  const executor = executorOfType(type, profile);
  if (!executor.gcHost) {
    throw new GitRunError(ErrorCode.BadHostProfile, `host '${escapeName(profile)}' is of type '${type}', which cannot be cleaned by gc --host yet`, 'remove its directories by hand', { host: profile });
  }
  const check = executor.checkProfile(profile, rest, repo.topLevel ?? repo.gitDir);
  const prune = parseDate(opts.prune ?? DEFAULT_PRUNE);
  const index = await openIndex(repo);
  try {
    const live: HostKeep['live'] = [];
    for (const r of index.unfinished()) {
      const v = await readRun(repo, r.id).catch(() => null);
      if (!v || isFinal(v.status) || v.spec.host !== profile) continue;
      live.push({ view: v, inputs: await inputCacheNames(repo, v.spec).catch(() => []) });
    }
    return await executor.gcHost(repo, profile, { profile: check.record, runArgs: check.runArgs, live }, { dryRun: !!opts.dryRun, graceMs: Math.max(0, Date.now() - Date.parse(prune)) });
  } finally {
    index.close();
  }
}

export type { HostGcReport };
