/**
 * Groups (parent runs) and their children, as a reader sees them: a group's
 * status is its children's, and a child shows its parent's metadata under
 * its own generated name (Accio: children have no metadata of their own).
 */
import type { Repo } from '../git/repo.js';
import { readRun, type RunView } from '../store/runs.js';
import type { Status } from '../core/record.js';

/** The status of a group from its children's. */
export function groupStatus(children: Status[]): Status {
  if (!children.length) return 'succeeded';
  if (children.some((s) => s === 'running')) return 'running';
  if (children.some((s) => s === 'queued')) return children.every((s) => s === 'queued') ? 'queued' : 'running';
  if (children.every((s) => s === 'succeeded')) return 'succeeded';
  for (const s of ['failed', 'lost', 'cancelled'] as const) if (children.includes(s)) return s;
  return 'failed';
}

/** Complete views: a group's status from its children, a child's metadata from its parent. */
export async function complete(repo: Repo, view: RunView, known: Map<string, RunView> = new Map()): Promise<RunView> {
  const get = async (id: string) => known.get(id) ?? (await readRun(repo, id).catch(() => null));
  if (view.children) {
    const statuses: Status[] = [];
    for (const c of view.children) {
      const v = await get(c.id);
      statuses.push(v ? v.status : 'lost');
    }
    return { ...view, status: groupStatus(statuses) };
  }
  if (view.spec.parent) {
    const parent = await get(view.spec.parent);
    if (parent) return { ...view, meta: { ...parent.meta, name: view.spec.name ?? parent.meta.name } };
  }
  return view;
}
