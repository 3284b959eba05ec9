/**
 * Groups (parent runs) and their children, as a reader sees them: a group's
 * status is its children's, and a child shows its parent's metadata under
 * its own generated name (Accio: children have no metadata of their own).
 */
import type { Repo } from '../git/repo.js';
import { readRun, type RunView } from '../store/runs.js';
import { groupStatus, type Status } from '../core/record.js';

export { groupStatus };

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
