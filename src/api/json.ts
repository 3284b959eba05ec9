/**
 * The JSON form of a run, with the field names of DESIGN.md section 5. One
 * object per run; listings print one per line.
 */
import type { Repo } from '../git/repo.js';
import { outputsOf, type RunView } from '../store/runs.js';
import { pointersAmong } from '../git/lfs.js';
import { jobOf, lfsOutputsOf, mayBeLfsOutput } from '../core/record.js';
import { historyErrorsOf } from '../core/metrics.js';
import type { RunIndex } from '../index/db.js';
import { downstreamOf, upstreamOf, type DownstreamEntry, type UpstreamEntry } from './lineage.js';
import { openIndex } from './query.js';

export interface RunJson {
  id: string;
  status: string;
  name: string | null;
  notes: string | null;
  tags: string[];
  command: string[];
  params: Record<string, unknown>;
  seed: number;
  code: { tree: string; commit: string | null; dirty: boolean };
  host: string;
  parent: string | null;
  children: string[];
  key: string;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  creator: string;
  cwd: string;
  outputs: Array<{ path: string; oid: string; size: number }>;
  /** What the run consumed (run.json): {run, path, oid, dest} from a run's outputs, {worktree, oid, path} from the work tree; text for an old unchecked record. */
  upstream: UpstreamEntry[];
  /** Runs that consumed its outputs: {run, path (what it took), dest (where it placed it), oid}. */
  downstream: DownstreamEntry[];
  metrics: Record<string, number>;
  /** Broken lines of the metrics history, skipped: how many and the first (`line N: why`); null when none. */
  metricsErrors: { lines: number; first: string } | null;
  runArgs: Record<string, unknown>;
  /** 'group' for a parent run. */
  kind: 'run' | 'group';
  /** A remote run: bytes of code sent for it (0 when the host had the tree); null otherwise. */
  codeBytesSent: number | null;
  /** A remote run: how its code reached the host ('objects', 'tar', 'tar (host has no git)'); null when its code cache had it, or not remote. */
  codeTransfer: string | null;
  repetition: number | null;
  /** A run under a scheduler: its job as the scheduler names it ("123", "123_4" for a task of an array), the job's name, the batch script; null otherwise. */
  job: { id: string; name: string | null; script: string | null } | null;
}


/** `index`: an open index to find downstream runs in (listings pass theirs); without one, one is opened for this run. */
export async function runToJson(repo: Repo, v: RunView, index?: RunIndex): Promise<RunJson> {
  const files = v.result ? await outputsOf(repo, v.tip) : [];
  // A big output's size is its content's, read from its pointer: only blobs of a canonical pointer's length (127 to 142 bytes) are looked at.
  const record = lfsOutputsOf(v.result);
  const pointers = await pointersAmong(repo, files.filter((f) => f.size >= 127 && f.size <= 142 && f.mode !== '120000' && mayBeLfsOutput(record, f.path)), (p) => `${v.id.slice(0, 12)}:${p}`).catch(() => new Map<string, { size: number }>());
  const outputs = files.map(({ path, oid, size }) => ({ path, oid, size: (mayBeLfsOutput(record, path) ? pointers.get(oid)?.size : undefined) ?? size }));
  // Only a run with outputs can have been consumed.
  let downstream: DownstreamEntry[] = [];
  if (outputs.length) {
    const idx = index ?? (await openIndex(repo));
    try {
      downstream = downstreamOf(idx, v.id);
    } finally {
      if (!index) idx.close();
    }
  }
  return {
    id: v.id,
    status: v.status,
    name: v.meta.name,
    notes: v.meta.notes,
    tags: v.meta.tags,
    command: v.spec.command,
    params: v.spec.params,
    seed: v.spec.seed,
    code: v.spec.code,
    host: v.spec.host,
    parent: v.spec.parent,
    children: v.children?.map((c) => c.id) ?? [],
    key: v.spec.key,
    createdAt: v.spec.createdAt,
    startedAt: v.result?.startedAt ?? v.state?.startedAt ?? null,
    endedAt: v.result?.endedAt ?? null,
    exitCode: v.result?.exitCode ?? null,
    signal: v.result?.signal ?? null,
    error: v.result?.error ?? null,
    creator: v.spec.creator,
    cwd: v.spec.cwd,
    outputs,
    upstream: upstreamOf(v.spec.inputs),
    downstream,
    metrics: v.metrics ?? {},
    metricsErrors: historyErrorsOf(v.result?.metricsErrors),
    runArgs: v.spec.runArgs,
    kind: v.spec.kind ?? 'run',
    codeBytesSent: v.result?.codeBytesSent ?? null,
    codeTransfer: v.result?.codeTransfer ?? null,
    repetition: v.spec.repetition ?? null,
    job: jobOf(v.state),
  };
}
