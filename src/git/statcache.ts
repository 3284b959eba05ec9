/**
 * The stat cache of work-tree inputs, as git's index keeps one for tracked
 * files: an unchanged large file is not read again to learn its content id.
 *
 *   <git-common-dir>/git-run/input-stat.json
 *   {"v": 1, "format": "sha1", "entries": {"<absolute path>": [size, mtime ns, ctime ns, ino, dev, oid]}}
 *
 * An entry answers only when every stat field matches and the file's mtime is
 * older than the cache file's own (git's racy-timestamp rule: a file changed
 * in the same tick as the cache was written could have changed after it was
 * hashed, so it is hashed again). It is only a hint: several writers are
 * tolerated (each merges what is there and renames its copy in place), and a
 * damaged file is ignored and rewritten.
 */
import { readdirSync, readFileSync, statSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import type { Repo } from './repo.js';
import { mkdirShared, sharedPerm } from './shared.js';
import { writeAtomic } from '../util/files.js';
import { hashFile, treeOf } from './content.js';

type Entry = [size: number, mtimeNs: string, ctimeNs: string, ino: string, dev: string, oid: string];

interface CacheFile {
  v: 1;
  format: string;
  entries: Record<string, Entry>;
}

const isEntry = (e: unknown): e is Entry =>
  Array.isArray(e) && e.length === 6 && typeof e[0] === 'number' && e.slice(1).every((x) => typeof x === 'string') && /^[0-9a-f]{40,64}$/.test(e[5] as string);

export class StatCache {
  private entries: Map<string, Entry> = new Map();
  private readonly changed = new Map<string, Entry>();
  /** The cache file's mtime when read: entries not older are racy. */
  private writtenNs = -1n;
  /** Files whose id came from the cache (not read). */
  hits = 0;
  /** Files that were read and hashed. */
  misses = 0;

  private constructor(
    private readonly file: string,
    private readonly format: string,
  ) {}

  static file(repo: Repo): string {
    return path.join(repo.stateDir, 'input-stat.json');
  }

  static load(repo: Repo): StatCache {
    const c = new StatCache(StatCache.file(repo), repo.objectFormat);
    c.entries = c.read();
    try {
      c.writtenNs = statSync(c.file, { bigint: true }).mtimeNs;
    } catch {
      c.writtenNs = -1n;
    }
    return c;
  }

  /** What the file holds now; anything unreadable or malformed counts as empty. */
  private read(): Map<string, Entry> {
    const out = new Map<string, Entry>();
    let parsed: Partial<CacheFile>;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<CacheFile>;
    } catch {
      return out;
    }
    if (!parsed || parsed.v !== 1 || parsed.format !== this.format || !parsed.entries || typeof parsed.entries !== 'object') return out;
    for (const [k, e] of Object.entries(parsed.entries)) if (isEntry(e)) out.set(k, e);
    return out;
  }

  /** The content id of `file` as stat'ed now, when the cache vouches for it. */
  lookup(file: string, st: BigIntStats): string | null {
    const e = this.changed.get(file) ?? this.entries.get(file);
    if (!e) return null;
    const same = e[0] === Number(st.size) && e[1] === String(st.mtimeNs) && e[2] === String(st.ctimeNs) && e[3] === String(st.ino) && e[4] === String(st.dev);
    // Racy: changed in the same tick the cache was written (or later): hashed again.
    if (!same || (!this.changed.has(file) && st.mtimeNs >= this.writtenNs)) return null;
    return e[5];
  }

  set(file: string, st: BigIntStats, oid: string): void {
    this.changed.set(file, [Number(st.size), String(st.mtimeNs), String(st.ctimeNs), String(st.ino), String(st.dev), oid]);
  }

  /** Merge what changed into the file as it is now (another writer may have added entries). Failures are ignored: it is only a hint. */
  async save(repo: Repo): Promise<void> {
    if (!this.changed.size) return;
    try {
      const now = this.read();
      for (const [k, e] of this.changed) now.set(k, e);
      const perm = await sharedPerm(repo);
      mkdirShared(perm, path.dirname(this.file));
      const body: CacheFile = { v: 1, format: this.format, entries: Object.fromEntries(now) };
      await writeAtomic(this.file, JSON.stringify(body), perm);
      this.changed.clear();
    } catch {
      // A full disk or a read-only .git: the next submission hashes again.
    }
  }
}

export interface WorktreeFile {
  /** Relative to the input's own path ('' for a file input). */
  path: string;
  abs: string;
  mode: string;
  oid: string;
  size: number;
}

export interface WorktreeContent {
  type: 'blob' | 'tree';
  mode: string;
  oid: string;
  size: number;
  files: WorktreeFile[];
}

/** A work-tree input that cannot be read as data: the reason, in words. */
export class NotData extends Error {}

/** git's mode for a file: executable when its owner may execute it. */
const fileMode = (st: BigIntStats) => ((Number(st.mode) & 0o100) !== 0 ? '100755' : '100644');

/** One file's id: from the cache when it vouches for the file, else read and hashed (and remembered). */
function fileId(cache: StatCache, format: string, abs: string, st: BigIntStats): string {
  const known = cache.lookup(abs, st);
  if (known) {
    cache.hits++;
    return known;
  }
  cache.misses++;
  const { oid } = hashFile(format, abs, Number(st.size));
  const after = statSync(abs, { bigint: true });
  // Changed while it was read: its id would be of bytes that never existed together.
  if (!oid || after.size !== st.size || after.mtimeNs !== st.mtimeNs) throw new NotData(`${abs} changed while it was read`);
  cache.set(abs, st, oid);
  return oid;
}

/**
 * The content id of a work-tree path: a file (a symbolic link named
 * directly is followed: data often lives elsewhere), or a directory, walked
 * for its files (its own links, devices and .git entries refused). Nothing
 * is written; `store` writes each blob and tree level as well.
 */
export async function worktreeContent(cache: StatCache, format: string, abs: string, store?: { blob: (file: string) => Promise<string>; tree: (entries: Array<{ mode: string; oid: string; name: string }>) => Promise<string> }): Promise<WorktreeContent> {
  const st = statSync(abs, { bigint: true });
  if (st.isFile()) {
    let oid = fileId(cache, format, abs, st);
    if (store) oid = await storeChecked(store.blob, abs, oid);
    return { type: 'blob', mode: fileMode(st), oid, size: Number(st.size), files: [{ path: '', abs, mode: fileMode(st), oid, size: Number(st.size) }] };
  }
  if (!st.isDirectory()) throw new NotData(`${abs} is neither a file nor a directory`);
  const files: WorktreeFile[] = [];
  const walk = (dir: string, rel: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      const full = path.join(dir, d.name);
      const low = d.name.toLowerCase().replace(/[. ]+$/, '');
      if (low === '.git' || low === 'git~1') throw new NotData(`${full} is a .git entry: a directory input cannot hold one`);
      if (d.isSymbolicLink()) throw new NotData(`${full} is a symbolic link: a directory input holds files and directories only`);
      if (d.isDirectory()) walk(full, p);
      else if (d.isFile()) {
        const fst = statSync(full, { bigint: true });
        files.push({ path: p, abs: full, mode: fileMode(fst), oid: fileId(cache, format, full, fst), size: Number(fst.size) });
      } else throw new NotData(`${full} is neither a file nor a directory`);
    }
  };
  walk(abs, '');
  if (store) for (const f of files) f.oid = await storeChecked(store.blob, f.abs, f.oid);
  const oid = await treeOf(format, files, store?.tree);
  return { type: 'tree', mode: '040000', oid, size: files.reduce((s, f) => s + f.size, 0), files };
}

async function storeChecked(blob: (file: string) => Promise<string>, abs: string, oid: string): Promise<string> {
  const written = await blob(abs);
  if (written !== oid) throw new NotData(`${abs} changed while it was read`);
  return written;
}
