/**
 * core.sharedRepository for what git-run creates inside the git directory
 * (loose objects and their fan-out directories, git-run/ and the index), as
 * git's adjust_shared_perm does for its own files, so that a repository
 * shared by a group stays readable by the group whatever each member's umask.
 * https://git-scm.com/docs/git-config#Documentation/git-config.txt-coresharedRepository
 *
 * The setting as git keeps it internally: 0 (umask: leave modes alone), a
 * positive set of bits to add (0660 group, 0664 everybody), or the negative
 * of an exact file mode (the octal form, e.g. 0640).
 */
import { chmodSync, existsSync, mkdirSync, openSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Repo } from './repo.js';
import { sharedRepositoryFromFiles } from './config-files.js';

const PERM_GROUP = 0o660;
const PERM_EVERYBODY = 0o664;

/** git's git_config_perm: the value of core.sharedRepository (null when unset, '' when set without a value). */
export function parseSharedRepository(value: string | null): number {
  if (value === null) return 0;
  const v = value.trim();
  if (v === '') return PERM_GROUP; // "[core] sharedRepository" alone is true
  if (v === 'umask') return 0;
  if (v === 'group') return PERM_GROUP;
  if (v === 'all' || v === 'world' || v === 'everybody') return PERM_EVERYBODY;
  if (/^[0-7]+$/.test(v)) {
    const i = parseInt(v, 8);
    // 0, 1 and 2 are the old forms of umask, group and everybody.
    if (i === 0) return 0;
    if (i === 1) return PERM_GROUP;
    if (i === 2) return PERM_EVERYBODY;
    // git refuses a mode that takes read or write from the owner; so does not leaving files unreadable to their owner.
    if ((i & 0o600) !== 0o600) return 0;
    return -(i & 0o666);
  }
  return /^(true|yes|on)$/i.test(v) ? PERM_GROUP : 0;
}

/** git's calc_shared_perm, and for directories the x bits and setgid of adjust_shared_perm. */
export function sharedMode(perm: number, mode: number, isDir: boolean): number {
  if (perm === 0) return mode & 0o7777;
  let tweak = perm < 0 ? -perm : perm;
  if (!(mode & 0o200)) tweak &= ~0o222;
  if (mode & 0o100) tweak |= (tweak & 0o444) >> 2;
  let m = perm < 0 ? (mode & ~0o777) | tweak : mode | tweak;
  if (isDir) {
    m |= (m & 0o444) >> 2;
    if (m & 0o060) m |= 0o2000;
  }
  return m & 0o7777;
}

// By git directory, not Repo: the several Repo objects a process opens on one repository (a hook's worker, its submissions) read it once.
const cache = new Map<string, Promise<number>>();

/** The repository's core.sharedRepository, read once per process: from the config files when they settle it (./config-files.ts), else from git. */
export function sharedPerm(repo: Repo): Promise<number> {
  let p = cache.get(repo.commonDir);
  if (!p) {
    const known = sharedRepositoryFromFiles(repo.commonDir);
    p =
      known !== undefined
        ? Promise.resolve(parseSharedRepository(known))
        : repo.git(['config', '--get', 'core.sharedRepository'], { okCodes: [1] }).then((r) => parseSharedRepository(r.code === 0 ? r.stdout.toString('utf8').replace(/\n$/, '') : null));
    cache.set(repo.commonDir, p);
  }
  return p;
}

/** Give a file or directory git-run just created the mode git would give it (nothing when perm is 0). */
export function adjustSharedPerm(perm: number, file: string): void {
  if (perm === 0) return;
  const st = statSync(file);
  const want = sharedMode(perm, st.mode, st.isDirectory());
  if ((st.mode & 0o7777) !== want) chmodSync(file, want);
}

/** mkdir -p, each directory it creates given the shared mode. */
export function mkdirShared(perm: number, dir: string): void {
  const first = mkdirSync(dir, { recursive: true });
  if (!first || perm === 0) return;
  for (let d = dir; ; d = path.dirname(d)) {
    adjustSharedPerm(perm, d);
    if (d === first || path.dirname(d) === d) break;
  }
}

/** writeFileSync, the file given the shared mode when this call created it (a rewrite keeps the mode it has). */
export function writeFileShared(perm: number, file: string, data: string, flag: 'w' | 'wx' = 'w'): void {
  const fresh = perm !== 0 && !existsSync(file);
  writeFileSync(file, data, { flag });
  if (fresh) adjustSharedPerm(perm, file);
}

/** openSync for appending, the file given the shared mode when this call created it. */
export function openShared(perm: number, file: string): number {
  const fresh = perm !== 0 && !existsSync(file);
  const fd = openSync(file, 'a');
  if (fresh) adjustSharedPerm(perm, file);
  return fd;
}

/** The shared setting for a directory: the repository's inside its git directory, none elsewhere (a --local-dir in the work tree is the user's). */
export async function sharedPermFor(repo: Repo, dir: string): Promise<number> {
  const rel = path.relative(repo.commonDir, dir);
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return 0;
  return sharedPerm(repo);
}
