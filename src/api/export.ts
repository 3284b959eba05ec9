/**
 * Moving runs between systems (decision 0019): `export` to a directory a
 * person can read (each run's record checked out, big outputs' content in
 * place of their pointers), to a git bundle that `import` brings into
 * another repository with its metadata, or to a host (Runhouse's
 * `to(system)`) through its executor.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Repo } from '../git/repo.js';
import { tempPath } from '../git/snapshot.js';
import { privateIndex } from '../git/plumbing.js';
import { bundledLfs, createRunBundle, isAncestorCommit, mergeNotesAndRefs, readRunBundle } from '../git/bundle.js';
import { lfsContentFile, lfsPointersInRuns, lfsPointersOfBlobs, storeLfsObjectFromBlob } from '../git/lfs.js';
import { RunRef } from '../git/refs.js';
import type { RefUpdate } from '../git/transaction.js';
import { revParse } from '../git/objects.js';
import { outputsOf, type RunView } from '../store/runs.js';
import { lfsOutputsOf } from '../core/record.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { getRun } from './query.js';
import { lfsContentOf, placeLfsContent } from './files.js';
import { runToJson } from './json.js';
import { upstreamOf } from './lineage.js';
import { loadRunConfig } from './context.js';
import { resolveHost } from './submit.js';

export interface ExportOptions {
  /** Also every run they took inputs from, and theirs, recursively (lineage never dangles on the other side). */
  withUpstream?: boolean;
}

export interface ExportResult {
  kind: 'directory' | 'bundle';
  dest: string;
  runs: Array<{ id: string; dir?: string }>;
}

/** The runs named, a group's children with it, and with `withUpstream` their upstream runs, each once, in the order met. */
export async function runsToExport(repo: Repo, names: readonly string[], opts: ExportOptions): Promise<RunView[]> {
  if (!names.length) throw new GitRunError(ErrorCode.BadOption, 'no run to export', 'name one or more runs: git run export <run>... <dir | file.bundle>');
  const out = new Map<string, RunView>();
  const queue = [...(await Promise.all(names.map((n) => getRun(repo, n))))];
  while (queue.length) {
    const v = queue.shift()!;
    if (out.has(v.id)) continue;
    out.set(v.id, v);
    for (const c of v.children ?? []) if (!out.has(c.id)) queue.push(await getRun(repo, c.id));
    if (!opts.withUpstream) continue;
    for (const u of upstreamOf(v.spec.inputs ?? [])) {
      if (typeof u !== 'object' || !('run' in u) || out.has(u.run)) continue;
      const up = await getRun(repo, u.run).catch((e: unknown) => {
        if (e instanceof GitRunError && e.code === ErrorCode.RunNotFound) {
          throw new GitRunError(ErrorCode.RunNotFound, `run ${v.id.slice(0, 12)} took inputs from run ${u.run.slice(0, 12)}, which is not in this repository`, 'pull it first (`git run pull`), or export without --with-upstream', { run: v.id, upstream: u.run });
        }
        throw e;
      });
      queue.push(up);
    }
  }
  return [...out.values()];
}

export const isBundlePath = (dest: string) => dest.endsWith('.bundle');

/** Export to a directory or, for a name ending in .bundle, a bundle. Nothing is left at `dest` when it fails. */
export async function exportRuns(repo: Repo, names: readonly string[], dest: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const views = await runsToExport(repo, names, opts);
  const target = path.resolve(dest);
  if (isBundlePath(dest)) {
    if (await fs.lstat(target).catch(() => null)) {
      throw new GitRunError(ErrorCode.DestinationNotEmpty, `${target} already exists`, 'choose a new file name, or remove it first', { dest: target });
    }
    await fs.access(path.dirname(target)).catch(() => {
      throw new GitRunError(ErrorCode.DestinationNotEmpty, `cannot write ${target}: its directory does not exist`, 'make the directory first, or choose another place', { dest: target });
    });
    // Big outputs' content goes inside: the bundle stands alone (verified here first).
    // The pointers of every run exported, in a few git processes whatever their number; each content once.
    const lfs: Array<{ oid: string; file: string }> = [];
    // A run's record says which outputs are pointers (a copy of a pointer file among them is not); an older run's bytes say it.
    const legacy = views.filter((v) => !lfsOutputsOf(v.result));
    const named: string[] = [];
    for (const v of views) {
      const record = lfsOutputsOf(v.result);
      if (!record?.size) continue;
      const odd = [...record].filter((p) => p.includes('\n'));
      for (const p of record) if (!p.includes('\n')) named.push(`${v.tip}:outputs/${p}`);
      if (odd.length) for (const o of await outputsOf(repo, v.tip)) if (odd.includes(o.path)) named.push(o.oid);
    }
    const found = [...(legacy.length ? await lfsPointersInRuns(repo, legacy.map((v) => v.id)) : []), ...(await lfsPointersOfBlobs(repo, named))];
    const pointers = new Map(found.map((p) => [p.oid, p]));
    for (const p of pointers.values()) lfs.push({ oid: p.oid, file: await lfsContentFile(repo, p, `an output of the runs exported (Git LFS object ${p.oid.slice(0, 12)})`) });
    await createRunBundle(repo, target, views.map((v) => ({ id: v.id, tip: v.tip })), lfs);
    return { kind: 'bundle', dest: target, runs: views.map((v) => ({ id: v.id })) };
  }
  const existing = await fs.readdir(target).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : []));
  if (existing === null) {
    await fs.mkdir(target, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
      throw new GitRunError(ErrorCode.DestinationNotEmpty, `cannot make ${target}: ${e.message}`, 'choose a directory you can write to', { dest: target });
    });
  } else if (existing.length || !(await fs.stat(target)).isDirectory()) {
    throw new GitRunError(ErrorCode.DestinationNotEmpty, `${target} exists and is not an empty directory`, 'choose a new directory (export never writes into one that holds files)', { dest: target });
  }
  try {
    const runs = await writeReadableCopy(repo, views, target);
    return { kind: 'directory', dest: target, runs };
  } catch (e) {
    await fs.rm(target, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Per run, `<id>/`: its record checked out as git holds it (run.json,
 * result.json, metrics.json, logs/, code/, outputs/ with big outputs'
 * content), and metadata.json (name, tags, notes: what `git run show
 * --json` says); at the top, index.json listing the runs and a README.
 */
async function writeReadableCopy(repo: Repo, views: readonly RunView[], target: string): Promise<Array<{ id: string; dir: string }>> {
  const runs: Array<{ id: string; dir: string }> = [];
  const index: unknown[] = [];
  for (const v of views) {
    const dir = path.join(target, v.id);
    await fs.mkdir(dir);
    const idx = await tempPath(repo, 'export');
    try {
      await privateIndex.readTree(repo, idx, v.tip);
      const all = await privateIndex.list(repo, idx);
      const outputs = (await outputsOf(repo, v.tip)).map((o) => ({ ...o, path: `outputs/${o.path}` }));
      const lfs = await lfsContentOf(repo, v, outputs, new Set(outputs.map((o) => o.path)), 'outputs/');
      await privateIndex.checkoutTo(repo, idx, all, dir);
      await placeLfsContent(lfs, dir);
    } finally {
      await fs.rm(idx, { force: true });
    }
    const json = await runToJson(repo, v);
    await fs.writeFile(path.join(dir, 'metadata.json'), JSON.stringify(json, null, 2) + '\n');
    index.push({ id: v.id, dir: v.id, name: v.meta.name ?? null, status: v.status, command: v.spec.command, created: json.createdAt ?? null });
    runs.push({ id: v.id, dir });
  }
  await fs.writeFile(path.join(target, 'index.json'), JSON.stringify({ runs: index }, null, 2) + '\n');
  await fs.writeFile(
    path.join(target, 'README'),
    [
      'Runs exported by git-run (git run export).',
      '',
      'index.json lists them. Each run is a directory named by its id:',
      '  run.json       what ran: command, params, seed, host, inputs, the code snapshot',
      '  result.json    how it ended: status, exit code, times',
      '  metrics.json   what it reported, when it did',
      '  logs/          its stdout and stderr',
      '  code/          the code it ran',
      '  outputs/       what it produced (big outputs with their content)',
      '  metadata.json  everything `git run show --json` says: name, tags, notes, lineage',
      '',
    ].join('\n'),
  );
  return runs;
}

export interface HostExportResult {
  host: string;
  /** Where the copy is on the host (absolute). */
  path: string;
  runs: Array<{ id: string }>;
}

/**
 * The readable copy placed on a host of .runconfig (Runhouse's
 * `to(system)`): made here in a scratch directory, then handed to the
 * host's executor (copyIn). `spec`: `<profile>[:<path>]`; the path defaults
 * to git-run-export/<first run's id>, relative to the login directory.
 */
export async function exportToHost(repo: Repo, names: readonly string[], spec: string, opts: ExportOptions = {}): Promise<HostExportResult> {
  const colon = spec.indexOf(':');
  const profile = colon < 0 ? spec : spec.slice(0, colon);
  let where = colon < 0 ? '' : spec.slice(colon + 1);
  if (!profile) throw new GitRunError(ErrorCode.BadOption, `--host ${JSON.stringify(spec)} names no host profile`, 'write it as --host <profile>[:<path>], e.g. --host gpu1:results/run1');
  if (/[\0\n]/.test(where)) throw new GitRunError(ErrorCode.BadOption, `--host ${JSON.stringify(spec)}: the path holds a NUL or a newline`, 'choose a plain path');
  const host = resolveHost(await loadRunConfig(repo), profile, repo.topLevel ?? repo.gitDir);
  if (!host.executor.copyIn) {
    throw new GitRunError(ErrorCode.BadOption, `host '${profile}' (type ${host.executor.type}) cannot take a copy of runs`, 'export to a directory here and copy it with the tools of that system');
  }
  const views = await runsToExport(repo, names, opts);
  where ||= `git-run-export/${views[0]!.id.slice(0, 12)}`;
  await host.executor.reach(host.record);
  const scratch = await tempPath(repo, 'export-host');
  try {
    await fs.mkdir(scratch);
    const runs = await writeReadableCopy(repo, views, scratch);
    const placed = await host.executor.copyIn(repo, host.record, scratch, where);
    return { host: profile, path: placed, runs: runs.map((r) => ({ id: r.id })) };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

export interface ImportResult {
  /** New runs, and runs that moved forward (the bundle had a later state). */
  added: string[];
  updated: string[];
  /** Already here as they are in the bundle. */
  unchanged: string[];
  /** Here with a history the bundle's does not continue: kept as they are. */
  diverged: string[];
  notes: boolean;
}

/**
 * Bring a run bundle's runs and metadata into this repository: the bundle is
 * checked whole first (nothing is written for a bad one), then every ref and
 * the merged notes move in one compare-and-swap transaction. A run here
 * whose state the bundle's does not descend from is kept, never forced.
 */
export async function importBundle(repo: Repo, file: string): Promise<ImportResult> {
  const target = path.resolve(file);
  if (!(await fs.stat(target).catch(() => null))?.isFile()) {
    throw new GitRunError(ErrorCode.BadBundle, `${target} is not a file`, 'give the path of a bundle made by `git run export <run>... <file>.bundle`', { file: target });
  }
  const bundle = await readRunBundle(repo, target);
  // Big outputs' content first (content-addressed, each checked against its sha256): refs never name what is missing.
  if (bundle.lfs) {
    for (const [oid, blob] of await bundledLfs(repo, bundle.lfs)) {
      if (!(await storeLfsObjectFromBlob(repo, oid, blob))) {
        throw new GitRunError(ErrorCode.BadBundle, `${target} is not a sound run bundle: its copy of Git LFS object ${oid.slice(0, 12)} does not hash to that id`, 'export the runs again from a clone that has their content', { file: target, oid });
      }
    }
  }
  let result: ImportResult = { added: [], updated: [], unchanged: [], diverged: [], notes: !!bundle.notes };
  await mergeNotesAndRefs(repo, bundle.notes, async () => {
    result = { added: [], updated: [], unchanged: [], diverged: [], notes: !!bundle.notes };
    const updates: RefUpdate[] = [];
    for (const r of bundle.runs) {
      const ref = new RunRef(r.id).name;
      const here = await revParse(repo, ref);
      if (!here) {
        updates.push({ ref, create: r.tip });
        result.added.push(r.id);
      } else if (here === r.tip) result.unchanged.push(r.id);
      else if (await isAncestorCommit(repo, here, r.tip)) {
        updates.push({ ref, update: r.tip, old: here });
        result.updated.push(r.id);
      } else result.diverged.push(r.id);
    }
    return updates;
  });
  return result;
}
