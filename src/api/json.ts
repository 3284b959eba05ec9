/**
 * The JSON form of a run, with the field names of DESIGN.md section 5. One
 * object per run; listings print one per line.
 */
import type { Repo } from '../git/repo.js';
import { outputsOf, type RunView } from '../store/runs.js';
import type { RunInput } from '../core/record.js';

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
  upstream: Array<RunInput | string>;
  downstream: string[];
  metrics: Record<string, number>;
  runArgs: Record<string, unknown>;
  /** 'group' for a parent run. */
  kind: 'run' | 'group';
  /** A remote run: bytes of code sent for it (0 when the host had the tree); null otherwise. */
  codeBytesSent: number | null;
  repetition: number | null;
}

export async function runToJson(repo: Repo, v: RunView): Promise<RunJson> {
  const outputs = v.result ? (await outputsOf(repo, v.tip)).map(({ path, oid, size }) => ({ path, oid, size })) : [];
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
    upstream: v.spec.inputs,
    downstream: [],
    metrics: v.metrics ?? {},
    runArgs: v.spec.runArgs,
    kind: v.spec.kind ?? 'run',
    codeBytesSent: v.result?.codeBytesSent ?? null,
    repetition: v.spec.repetition ?? null,
  };
}
