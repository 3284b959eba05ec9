/**
 * Reclaiming space after runs are deleted: what the object store holds
 * (`git count-objects -v`), reflog expiry for git-run's own refs, and git's
 * own gc. https://git-scm.com/docs/git-gc https://git-scm.com/docs/git-count-objects
 */
import type { Repo } from './repo.js';
import { NOTES_REF } from './refs.js';
import { revParse } from './objects.js';

/** `git count-objects -v`, sizes in bytes (git prints KiB). */
export interface ObjectCounts {
  /** Loose objects and their bytes on disk. */
  count: number;
  size: number;
  /** Objects in packs, and the packs' bytes (with their indexes). */
  inPack: number;
  packs: number;
  sizePack: number;
  /** Loose objects that are also packed (gc removes them). */
  prunePackable: number;
  /** Files in the object directory that are neither (gc's leftovers) and their bytes. */
  garbage: number;
  sizeGarbage: number;
}

export async function countObjects(repo: Repo): Promise<ObjectCounts> {
  const out = (await repo.git(['count-objects', '-v'])).stdout.toString('utf8');
  const v = new Map<string, number>();
  for (const line of out.split('\n')) {
    const m = /^([a-z-]+): (\d+)$/.exec(line.trim());
    if (m) v.set(m[1]!, Number(m[2]));
  }
  const n = (k: string) => v.get(k) ?? 0;
  return {
    count: n('count'),
    size: n('size') * 1024,
    inPack: n('in-pack'),
    packs: n('packs'),
    sizePack: n('size-pack') * 1024,
    prunePackable: n('prune-packable'),
    garbage: n('garbage'),
    sizeGarbage: n('size-garbage') * 1024,
  };
}

/** Bytes the object store takes: loose objects, packs, and garbage. */
export const objectBytes = (c: ObjectCounts): number => c.size + c.sizePack + c.sizeGarbage;

/** A date as git's --expire and --prune read it without guessing ("now", or "YYYY-MM-DD HH:MM:SS +0000"). */
export function gitDate(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (t >= now) return 'now';
  return new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000');
}

/**
 * Expire the reflog of the notes ref (the one ref of git-run's that git logs
 * by default): entries older than `before` that are no longer reachable from
 * it. A deleted run ref's own reflog (core.logAllRefUpdates=always) went
 * with the ref. The user's branches' reflogs are not ours to expire.
 */
export async function expireNotesReflog(repo: Repo, before: string): Promise<void> {
  if (!(await revParse(repo, NOTES_REF))) return; // no notes ref (every note gone with the runs): no reflog either
  await repo.git(['reflog', 'expire', `--expire-unreachable=${gitDate(before)}`, NOTES_REF], { okCodes: [1, 128] });
}

/**
 * `git gc --prune=<date>`: repacks what is reachable, drops what is not and
 * is older than `before` (younger unreachable objects may belong to a
 * submission that has not published its ref yet: git's own reason for
 * gc.pruneExpire).
 */
export async function gcObjects(repo: Repo, before: string): Promise<void> {
  await repo.git(['gc', '--quiet', `--prune=${gitDate(before)}`]);
}
