/**
 * Run refs as git's files backend keeps them, read straight from the common
 * directory where that is cheaper than starting git (the query index checks
 * them before every query), and the few git commands that list or pack them.
 * The one place outside git itself that knows the on-disk ref layout:
 * loose refs are files refs/runs/<id> holding the commit id, the rest are
 * lines of packed-refs. https://git-scm.com/docs/git-pack-refs
 */
import path from 'node:path';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { Repo } from './repo.js';
import { spawnGitDetached } from './gateway.js';
import { RUNS_PREFIX, RunRef } from './refs.js';

/** Refs kept in a reftable are not files: then nothing here can be trusted and callers ask git. */
const isReftable = (commonDir: string) => existsSync(path.join(commonDir, 'reftable'));

const statStamp = (file: string): { stamp: string; newest: number } | null => {
  try {
    const st = statSync(file, { bigint: true });
    return { stamp: `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`, newest: Math.max(Number(st.mtimeMs), Number(st.ctimeMs)) };
  } catch {
    return null;
  }
};

/**
 * What the file system says about the places a ref update must touch (the
 * refs/runs and refs/notes directories, where git creates each update's lock
 * file, and packed-refs); `newest` is the latest time among them, for git's
 * racy-timestamp rule. Null where refs are not files (reftable).
 */
export function refsStamp(commonDir: string): { stamp: string; newest: number } | null {
  if (isReftable(commonDir)) return null;
  let newest = 0;
  const parts = ['refs/runs', 'refs/notes', 'refs/notes/runs', 'packed-refs'].map((p) => {
    const s = statStamp(path.join(commonDir, p));
    if (!s) return '-';
    newest = Math.max(newest, s.newest);
    return s.stamp;
  });
  return { stamp: parts.join(' '), newest };
}

/** packed-refs as the file system has it ('-' when there is none); null where refs are not files (reftable). */
export function packedStamp(commonDir: string): string | null {
  if (isReftable(commonDir)) return null;
  return statStamp(path.join(commonDir, 'packed-refs'))?.stamp ?? '-';
}

/**
 * The loose run refs: id -> commit. Null when anything is not as expected
 * (a directory, a symbolic ref, a lock being written): the caller then lists
 * the refs through git.
 */
export function looseRunRefs(commonDir: string): Map<string, string> | null {
  if (isReftable(commonDir)) return null;
  const dir = path.join(commonDir, 'refs', 'runs');
  const out = new Map<string, string>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? out : null;
  }
  for (const name of names) {
    if (name.endsWith('.lock')) continue; // an update under way: its old value is the file without .lock
    if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(name)) return null;
    let text: string;
    try {
      text = readFileSync(path.join(dir, name), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // just packed or deleted
      return null;
    }
    const m = /^([0-9a-f]{40}(?:[0-9a-f]{24})?)\n?$/.exec(text);
    if (!m) return null;
    out.set(name, m[1]!);
  }
  return out;
}

/** How many entries refs/runs holds as loose files (0 when it does not exist). */
export function countLooseRunRefs(commonDir: string): number {
  try {
    return readdirSync(path.join(commonDir, 'refs', 'runs')).length;
  } catch {
    return 0;
  }
}

/** Every run ref (or those whose id starts with `pattern`, a for-each-ref glob), through git. */
export async function forEachRunRef(repo: Repo, pattern = ''): Promise<Array<{ id: string; tip: string }>> {
  const out = await repo.text(['for-each-ref', '--format=%(objectname) %(refname)', `${RUNS_PREFIX}${pattern}`]);
  const runs: Array<{ id: string; tip: string }> = [];
  for (const line of out.split('\n')) {
    if (!line) continue;
    const [tip, refname] = line.split(' ');
    const ref = RunRef.parse(refname!);
    if (ref) runs.push({ id: ref.id, tip: tip! });
  }
  return runs;
}

/**
 * The tips of the given runs (absent ones left out), through one
 * for-each-ref per thousand ids instead of a rev-parse each: a sweep's
 * supervisor reads all its children at once (500 rev-parse processes cost
 * a Slurm sweep's submission about 10 s on a loaded machine).
 */
export async function runTips(repo: Repo, ids: readonly string[]): Promise<Map<string, string>> {
  const tips = new Map<string, string>();
  for (let i = 0; i < ids.length; i += 1000) {
    const names = ids.slice(i, i + 1000).map((id) => new RunRef(id).name);
    const out = await repo.text(['for-each-ref', '--format=%(objectname) %(refname)', ...names]);
    for (const line of out.split('\n')) {
      const [tip, refname] = line.split(' ');
      const ref = refname ? RunRef.parse(refname) : null;
      if (ref && tip) tips.set(ref.id, tip);
    }
  }
  return tips;
}

/** Pack every ref, in the background (git locks against a concurrent packer). */
export function packRefsInBackground(repo: Repo): void {
  spawnGitDetached(['pack-refs', '--all', '--prune'], repo.processOptions());
}
