/**
 * Lineage: which runs a run took its inputs from (upstream) and which runs
 * took theirs from its outputs (downstream), as a graph of nodes and edges.
 *
 * The record is git's: a run's run.json lists its inputs (RunInput), and its
 * spec commit's parents are the finishing commits of its upstream runs. The
 * walk reads the derived index's inputs table (filled from run.json at sync),
 * so a run with 10,000 downstream runs answers with one indexed query per
 * level of the walk, not by reading 10,000 runs from git.
 *
 *   upstream (depth 2)     upstream (depth 1)       root            downstream (depth 1)
 *   [data a1b2 raw.csv] --> [run prepare] --out/train.bin--> [run train] --model.pt--> [run eval]
 *
 * Cycles cannot be made by git-run (a spec commit's parents exist before it),
 * but records come from other clones: every run is visited once.
 */
import type { Repo } from '../git/repo.js';
import type { LinkRow, RunIndex } from '../index/db.js';
import type { RunInput, Status } from '../core/record.js';
import { resolveRun } from '../store/runs.js';
import { openIndex } from './query.js';

export type LineageDirection = 'both' | 'upstream' | 'downstream';

export interface LineageOptions {
  /** Which way to walk from the run (default both). */
  direction?: LineageDirection;
  /** How many links away to go (1: only the runs that fed it or that it fed); default no limit. */
  depth?: number;
}

/** A run of the graph, as the index has it. `missing`: another run names it but this repository has no such run (not fetched, or deleted). */
export interface LineageRun {
  kind: 'run';
  id: string;
  name: string | null;
  status: Status | null;
  command: string[] | null;
  createdAt: string | null;
  /** 'root' for the run asked about; otherwise the side it was reached from and how many links away. */
  side: 'root' | 'upstream' | 'downstream';
  depth: number;
  missing: boolean;
}

/** Data a run read from the work tree: identified by its content, not by a run. */
export interface LineageData {
  kind: 'data';
  /** `worktree:<oid>:<path>`: one node per content and place. */
  id: string;
  oid: string;
  /** The work-tree path it was read from (relative to the top). */
  path: string;
  side: 'upstream';
  depth: number;
}

export type LineageNode = LineageRun | LineageData;

/** One input: content `oid` went from node `from` (a run's outputs at `fromPath`, or work-tree data) to run `to`, which found it at `path`. */
export interface LineageEdge {
  from: string;
  to: string;
  fromPath: string | null;
  path: string;
  oid: string;
  type: 'blob' | 'tree' | null;
}

export interface Lineage {
  root: string;
  direction: LineageDirection;
  depth: number | null;
  nodes: LineageNode[];
  edges: LineageEdge[];
}

const parseCommand = (json: string | null): string[] | null => {
  if (json === null) return null;
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null;
  } catch {
    return null;
  }
};

/** The lineage graph of the run `name` names (an id prefix or a name). */
export async function lineage(repo: Repo, name: string, opts: LineageOptions = {}): Promise<Lineage> {
  const index = await openIndex(repo);
  try {
    // A whole id the index has (just synced with the refs) needs no listing of the refs; anything else goes through the resolver.
    const root = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(name) && index.summaries([name]).length ? name : await resolveRun(repo, name);
    return lineageOf(index, root, opts);
  } finally {
    index.close();
  }
}

/** The walk itself, over an open index. */
export function lineageOf(index: RunIndex, root: string, opts: LineageOptions = {}): Lineage {
  const direction = opts.direction ?? 'both';
  const maxDepth = opts.depth ?? Infinity;
  const nodes = new Map<string, LineageNode>();
  const edges: LineageEdge[] = [];
  const [r] = index.summaries([root]);
  nodes.set(root, {
    kind: 'run',
    id: root,
    name: r?.name ?? null,
    status: r?.status ?? null,
    command: parseCommand(r?.command ?? null),
    createdAt: r?.createdAt ?? null,
    side: 'root',
    depth: 0,
    missing: !r,
  });
  const runNode = (id: string, row: LinkRow, side: 'upstream' | 'downstream', depth: number): void => {
    if (nodes.has(id)) return;
    const [, , , , , , , name, status, , createdAt, command] = row;
    nodes.set(id, { kind: 'run', id, name, status, command: parseCommand(command), createdAt, side, depth, missing: createdAt === null });
  };
  const type = (t: string | null) => (t === 'blob' || t === 'tree' ? t : null);
  // Each link once, whichever walk met it (a cycle in a hostile record is met by both).
  const linked = new Set<string>();
  const link = (e: LineageEdge) => {
    // NUL separates: it can be in none of an id, a path or another (git paths cannot hold it).
    const k = `${e.from}\0${e.to}\0${e.path}`;
    if (!linked.has(k)) linked.add(k), edges.push(e);
  };

  if (direction !== 'downstream') {
    const seen = new Set([root]);
    let level = [root];
    for (let depth = 1; level.length && depth <= maxDepth; depth++) {
      const next: string[] = [];
      for (const row of index.inputsOf(level)) {
        const [id, path, oid, t, upstream, upstreamPath, worktree] = row;
        if (upstream) {
          runNode(upstream, row, 'upstream', depth);
          link({ from: upstream, to: id, fromPath: upstreamPath, path, oid, type: type(t) });
          if (!seen.has(upstream)) {
            seen.add(upstream);
            next.push(upstream);
          }
        } else {
          // Work-tree data (or an input whose origin the record does not say): a data node of its content.
          const from = worktree ?? path;
          const dataId = `worktree:${oid}:${from}`;
          if (!nodes.has(dataId)) nodes.set(dataId, { kind: 'data', id: dataId, oid, path: from, side: 'upstream', depth });
          link({ from: dataId, to: id, fromPath: from, path, oid, type: type(t) });
        }
      }
      level = next;
    }
  }
  if (direction !== 'upstream') {
    const seen = new Set([root]);
    let level = [root];
    for (let depth = 1; level.length && depth <= maxDepth; depth++) {
      const next: string[] = [];
      for (const row of index.consumersOf(level)) {
        const [run, path, oid, t, upstream, upstreamPath] = row;
        runNode(run, row, 'downstream', depth);
        link({ from: upstream!, to: run, fromPath: upstreamPath, path, oid, type: type(t) });
        if (!seen.has(run)) {
          seen.add(run);
          next.push(run);
        }
      }
      level = next;
    }
  }
  return { root, direction, depth: Number.isFinite(maxDepth) ? maxDepth : null, nodes: [...nodes.values()], edges };
}

/** An input as `show` lists it: from a run's outputs, from the work tree, or (an old record) unchecked text. */
export type UpstreamEntry = { run: string; path: string; oid: string; dest: string } | { worktree: string; oid: string; path: string } | { oid: string; path: string } | string;

/** What a run consumed, from its own record (run.json). Fields a hostile record got wrong are left out rather than trusted. */
export function upstreamOf(inputs: Array<RunInput | string>): UpstreamEntry[] {
  if (!Array.isArray(inputs)) return [];
  return inputs.flatMap((i): UpstreamEntry[] => {
    if (typeof i === 'string') return [i];
    if (!i || typeof i !== 'object' || typeof i.path !== 'string' || typeof i.oid !== 'string') return [];
    if (i.from && typeof i.from.run === 'string' && typeof i.from.path === 'string') return [{ run: i.from.run, path: i.from.path, oid: i.oid, dest: i.path }];
    if (typeof i.worktree === 'string') return [{ worktree: i.worktree, oid: i.oid, path: i.path }];
    return [{ oid: i.oid, path: i.path }];
  });
}

/** A run that consumed this run's outputs: the consumer, what it took (`path` among this run's outputs) and where it placed it (`dest`). */
export interface DownstreamEntry {
  run: string;
  path: string | null;
  dest: string;
  oid: string;
}

/** The runs that consumed this run's outputs, oldest first (through the index). */
export function downstreamOf(index: RunIndex, id: string): DownstreamEntry[] {
  return index.consumersOf([id]).map(([run, dest, oid, , , path]) => ({ run, path, dest, oid }));
}
