/**
 * Memoization's lookup: which runs exist for a run key, through the derived
 * index (src/index/db.ts), which reads from git only the runs that changed.
 */
import type { Repo } from '../git/repo.js';
import type { Status } from '../core/record.js';

export interface KeyedRun {
  id: string;
  status: Status;
  createdAt: string;
  kind: 'run' | 'group';
  /** Found by its portable key (a run of another clone, machine variables not compared), not by its run key. */
  portable?: true;
}

/** Existing runs for each of these keys, from the derived index (synced with the refs first). */
export async function findByKeys(repo: Repo, keys: string[], portable: { keys: string[]; clone: string } | null = null): Promise<Map<string, KeyedRun[]>> {
  // Loaded on first use: the native SQLite module has no place on the path of a plain `git run`.
  const { RunIndex } = await import('../index/db.js');
  const index = RunIndex.open(repo);
  try {
    await index.sync(repo);
    const map = new Map<string, KeyedRun[]>();
    for (const k of new Set(keys)) {
      const found = index.byKey(k);
      if (found.length) map.set(k, found.map(({ id, status, createdAt, kind }) => ({ id, status, createdAt, kind })));
    }
    // Portable keys are another hash (marked, never equal to a run key): one map holds both.
    for (const k of new Set(portable?.keys ?? [])) {
      const found = index.byPortableKey(k, portable!.clone);
      if (found.length) map.set(k, found.map(({ id, status, createdAt, kind }) => ({ id, status, createdAt, kind, portable: true as const })));
    }
    return map;
  } finally {
    index.close();
  }
}

/**
 * The run to reuse for a key, by remotemanager's rules: by default any run
 * that is running or finished; with force (skip: false) only a succeeded one,
 * and with force_ignores_success as well, none. A succeeded run is preferred,
 * then a running one, then the newest.
 */
export function reusable(existing: KeyedRun[] | undefined, skip: boolean, forceIgnoresSuccess: boolean): KeyedRun | null {
  if (!existing?.length) return null;
  const rank = (r: KeyedRun) => (r.status === 'succeeded' ? 0 : r.status === 'running' || r.status === 'queued' ? 1 : 2);
  const sorted = [...existing].sort((a, b) => rank(a) - rank(b) || (a.createdAt < b.createdAt ? 1 : -1));
  if (skip) return sorted[0]!;
  if (forceIgnoresSuccess) return null;
  return sorted.find((r) => r.status === 'succeeded') ?? null;
}
