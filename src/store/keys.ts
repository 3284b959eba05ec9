/**
 * Memoization's lookup: which runs exist for a run key. One cat-file
 * process reads run.json and result.json of every run (about 0.1 ms a run).
 */
import type { Repo } from '../git/repo.js';
import { CatFileBatch } from '../git/gateway.js';
import { listRunRefs } from './runs.js';
import type { RunResult, RunSpec, Status } from '../core/record.js';

export interface KeyedRun {
  id: string;
  status: Status;
  createdAt: string;
  kind: 'run' | 'group';
}

export async function scanKeys(repo: Repo): Promise<Map<string, KeyedRun[]>> {
  const refs = await listRunRefs(repo);
  const map = new Map<string, KeyedRun[]>();
  if (!refs.length) return map;
  const batch = new CatFileBatch(repo.processOptions());
  try {
    await Promise.all(
      refs.map(async ({ id, tip }) => {
        const [spec, result] = await Promise.all([batch.read(`${tip}:run.json`), batch.read(`${tip}:result.json`)]);
        if (!spec) return;
        const s = JSON.parse(spec.data.toString('utf8')) as RunSpec;
        const status: Status = result ? (JSON.parse(result.data.toString('utf8')) as RunResult).status : 'running';
        const list = map.get(s.key) ?? [];
        list.push({ id, status, createdAt: s.createdAt, kind: s.kind ?? 'run' });
        map.set(s.key, list);
      }),
    );
  } finally {
    batch.close();
  }
  return map;
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
