/**
 * Ref updates as one atomic transaction through `git update-ref --stdin`:
 * every update names the value it expects to replace (compare-and-swap), and
 * one failing update aborts them all. https://git-scm.com/docs/git-update-ref
 */
import type { Repo } from './repo.js';
import { GitCommandError } from '../errors/index.js';

export type RefUpdate =
  | { ref: string; create: string }
  | { ref: string; update: string; old: string }
  | { ref: string; delete: true; old: string };

/** Apply the updates atomically. Returns false when another process got there
 * first (a ref moved, already exists, or is locked); throws on anything else. */
export async function updateRefs(repo: Repo, updates: RefUpdate[], message = 'git-run'): Promise<boolean> {
  const lines = updates.map((u) => {
    if ('create' in u) return `create ${u.ref} ${u.create}`;
    if ('update' in u) return `update ${u.ref} ${u.update} ${u.old}`;
    return `delete ${u.ref} ${u.old}`;
  });
  const r = await repo.git(['update-ref', '-m', message, '--stdin'], { input: lines.join('\n') + '\n', okCodes: [128] });
  if (r.code === 0) return true;
  if (/cannot lock ref|but expected|already exists|File exists|unable to resolve reference|reference already exists|is at .* but expected/i.test(r.stderr)) {
    return false;
  }
  throw new GitCommandError(['update-ref', '--stdin'], r.code, r.stderr);
}

/** Retry an optimistic operation with growing, jittered back-off. */
export async function withRetries<T>(attempt: () => Promise<T | undefined>, tries = 200): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await attempt();
    if (v !== undefined) return v;
    const ms = Math.min(200, 2 + i * 3) * (0.5 + Math.random());
    await new Promise((r) => setTimeout(r, ms));
  }
  throw new Error(`gave up after ${tries} attempts: another process keeps winning the race`);
}
