/**
 * Finding runs: by name (a unique id prefix), all of them, or the active
 * ones. Reading a run on this host also checks it is still alive, so a run
 * whose supervisor died is finished (or marked lost) by whoever looks first.
 */
import { openRepo, type Repo } from '../git/repo.js';
import { listRunRefs, readRun, resolveRun, RunReader, type RunView } from '../store/runs.js';
import { refreshRun as refresh } from '../executors/index.js';
import { isFinal, STATUSES, type Status } from '../core/record.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { complete } from './groups.js';

export async function repoAt(cwd?: string): Promise<Repo> {
  return openRepo(cwd ?? process.cwd());
}

/** Read a run and make its status current. */
export async function getRun(repo: Repo, name: string): Promise<RunView> {
  const id = await resolveRun(repo, name);
  let view = await readRun(repo, id);
  if (!view.children && !isFinal(view.status) && (await refresh(repo, view))) view = await readRun(repo, id);
  return complete(repo, view);
}

export interface ListOptions {
  limit?: number;
  status?: Status[];
}

export function parseStatuses(s: string | undefined): Status[] | undefined {
  if (!s) return undefined;
  const list = s.split(',').map((x) => x.trim()).filter(Boolean);
  for (const x of list) {
    if (!(STATUSES as readonly string[]).includes(x)) {
      throw new GitRunError(ErrorCode.BadOption, `unknown status '${x}'`, `use one of: ${STATUSES.join(', ')} (comma-separated)`);
    }
  }
  return list as Status[];
}

/** Runs, newest first. */
export async function listRuns(repo: Repo, opts: ListOptions = {}): Promise<RunView[]> {
  const refs = await listRunRefs(repo);
  const reader = new RunReader(repo, refs.length > 20);
  let views: RunView[];
  try {
    views = await Promise.all(refs.map((r) => reader.read(r.id, r.tip)));
  } finally {
    reader.close();
  }
  // Bring unfinished runs up to date before filtering on status.
  for (let i = 0; i < views.length; i++) {
    const v = views[i]!;
    if (!v.children && !isFinal(v.status) && (await refresh(repo, v))) views[i] = await readRun(repo, v.id);
  }
  const byId = new Map(views.map((v) => [v.id, v]));
  views = await Promise.all(views.map((v) => complete(repo, v, byId)));
  views.sort((a, b) => (a.spec.createdAt < b.spec.createdAt ? 1 : a.spec.createdAt > b.spec.createdAt ? -1 : a.id < b.id ? 1 : -1));
  if (opts.status) views = views.filter((v) => opts.status!.includes(v.status));
  if (opts.limit !== undefined) views = views.slice(0, opts.limit);
  return views;
}

/** Many runs by full id, through one reader (a sweep's children), completed. */
export async function getRuns(repo: Repo, ids: string[]): Promise<RunView[]> {
  const tips = new Map((await listRunRefs(repo)).map((r) => [r.id, r.tip]));
  const reader = new RunReader(repo, ids.length > 20);
  const known = new Map<string, RunView>();
  try {
    const read = async (id: string) => {
      const tip = tips.get(id);
      if (!tip) throw new GitRunError(ErrorCode.RunNotFound, `no run ${id}`, 'it may have been deleted; list runs with `git run log --oneline`');
      const v = await reader.read(id, tip);
      known.set(id, v);
      return v;
    };
    const views = await Promise.all(ids.map(read));
    // Parents and children that complete these views, once each.
    const more = new Set<string>();
    for (const v of views) {
      if (v.spec.parent && !known.has(v.spec.parent)) more.add(v.spec.parent);
      for (const c of v.children ?? []) if (!known.has(c.id)) more.add(c.id);
    }
    await Promise.all([...more].filter((id) => tips.has(id)).map(read));
    return Promise.all(views.map((v) => complete(repo, v, known)));
  } finally {
    reader.close();
  }
}

export async function activeRuns(repo: Repo): Promise<RunView[]> {
  return listRuns(repo, { status: ['queued', 'running'] });
}
