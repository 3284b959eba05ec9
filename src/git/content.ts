/**
 * Content ids of inputs: the object id git would give a file's raw bytes
 * (`git hash-object --no-filters`), and a directory's tree id, computed in
 * process without writing an object (a tree that names blobs the object
 * database lacks must never become reachable). Also the reads of artifacts
 * out of a run's outputs, and the writes of the `store` option.
 * https://git-scm.com/book/en/v2/Git-Internals-Git-Objects
 */
import crypto from 'node:crypto';
import { closeSync, createWriteStream, openSync, readSync } from 'node:fs';
import type { Repo } from './repo.js';
import { parseLsTree } from './objects.js';
import { spawnGit } from './gateway.js';
import { GitCommandError } from '../errors/index.js';

const algorithm = (format: string) => (format === 'sha256' ? 'sha256' : 'sha1');

/**
 * The blob id of a file's bytes as they are, read once in large blocks.
 * Synchronous reads of 8 MiB: hashing is the cost, and the thread pool adds
 * only latency here. `size` is what was read (the file may have grown).
 */
export function hashFile(format: string, file: string, expectedSize: number): { oid: string; size: number } {
  const fd = openSync(file, 'r');
  try {
    const h = crypto.createHash(algorithm(format));
    // git hashes "blob <size>\0" first: the size must be known before the bytes; checked against what was read.
    h.update(`blob ${expectedSize}\0`);
    const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (!n) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      total += n;
    }
    return { oid: total === expectedSize ? h.digest('hex') : '', size: total };
  } finally {
    closeSync(fd);
  }
}

/** The blob id of bytes held in memory (a symbolic link's target). */
export function hashBytes(format: string, data: Buffer): string {
  return crypto.createHash(algorithm(format)).update(`blob ${data.length}\0`).update(data).digest('hex');
}

export interface TreeFile {
  /** '/'-separated, relative to the tree. */
  path: string;
  mode: string;
  oid: string;
}

/**
 * The tree id of a set of files, level by level as git builds it: entries
 * sorted by name, a subtree sorting as if its name ended in '/'. `write`
 * (the store option) writes each level; without it nothing is written.
 */
export async function treeOf(format: string, files: readonly TreeFile[], write?: (entries: Array<{ mode: string; oid: string; name: string }>) => Promise<string>): Promise<string> {
  type Dir = { files: Map<string, { mode: string; oid: string }>; dirs: Map<string, Dir> };
  const root: Dir = { files: new Map(), dirs: new Map() };
  for (const f of files) {
    const parts = f.path.split('/');
    let d = root;
    for (const p of parts.slice(0, -1)) {
      let next = d.dirs.get(p);
      if (!next) d.dirs.set(p, (next = { files: new Map(), dirs: new Map() }));
      d = next;
    }
    // A subtree given whole (a stored directory input) sorts as a tree.
    d.files.set(parts[parts.length - 1]!, { mode: f.mode === '040000' ? '40000' : f.mode, oid: f.oid });
  }
  const build = async (d: Dir): Promise<string> => {
    const entries: Array<{ mode: string; oid: string; name: string }> = [];
    for (const [name, sub] of d.dirs) entries.push({ mode: '40000', oid: await build(sub), name });
    for (const [name, f] of d.files) entries.push({ mode: f.mode, oid: f.oid, name });
    if (write) return write(entries);
    const key = (e: { mode: string; name: string }) => Buffer.from(e.name + (e.mode === '40000' ? '/' : ''));
    entries.sort((a, b) => Buffer.compare(key(a), key(b)));
    const body = Buffer.concat(entries.flatMap((e) => [Buffer.from(`${e.mode} ${e.name}\0`), Buffer.from(e.oid, 'hex')]));
    return crypto.createHash(algorithm(format)).update(`tree ${body.length}\0`).update(body).digest('hex');
  };
  return build(root);
}

/** Write a file's bytes as a blob, untouched by filters (the store option); git streams large files. */
export async function storeFile(repo: Repo, file: string): Promise<string> {
  return repo.text(['hash-object', '-w', '--no-filters', '--', file]);
}

export interface ArtifactEntry {
  oid: string;
  type: 'blob' | 'tree';
  mode: string;
  size: number;
}

/**
 * The entry at `path` among a finished run's outputs (`<tip>:outputs/<path>`),
 * or null when there is none. Read from the parent tree and matched by exact
 * name, so no character of the path is taken for a pattern.
 */
export async function artifactEntry(repo: Repo, tip: string, p: string): Promise<ArtifactEntry | null> {
  const slash = p.lastIndexOf('/');
  const dir = slash < 0 ? 'outputs' : `outputs/${p.slice(0, slash)}`;
  const name = p.slice(slash + 1);
  const r = await repo.git(['ls-tree', '-z', '-l', '--full-tree', `${tip}:${dir}`], { okCodes: [128] });
  if (r.code !== 0) return null;
  const e = parseLsTree(r.stdout.toString('utf8')).find((x) => x.name === name);
  if (!e || (e.type !== 'blob' && e.type !== 'tree') || e.mode === '120000') return null;
  const size = e.type === 'blob' ? e.size ?? 0 : (await treeFiles(repo, e.oid)).reduce((s, f) => s + f.size, 0);
  return { oid: e.oid, type: e.type, mode: e.mode, size };
}

/** Every file (blob) of a tree, recursively, with its size; links and submodules left out. */
export async function treeFiles(repo: Repo, tree: string): Promise<Array<TreeFile & { size: number }>> {
  const r = await repo.git(['ls-tree', '-z', '-r', '-l', '--full-tree', tree]);
  return parseLsTree(r.stdout.toString('utf8'))
    .filter((e) => e.type === 'blob')
    .map((e) => ({ path: e.name, mode: e.mode, oid: e.oid, size: e.size ?? 0 }));
}

/** Entries of a tree at these exact paths (the code snapshot under an input's destination). */
export async function entriesAt(repo: Repo, tree: string, paths: readonly string[]): Promise<Array<{ path: string; type: string }>> {
  if (!paths.length) return [];
  // Literal: a destination's '*' or '[' is a character, not a pattern.
  const r = await repo.git(['ls-tree', '-z', '--full-tree', tree, '--', ...paths], { env: { GIT_LITERAL_PATHSPECS: '1' } });
  const wanted = new Set(paths);
  return parseLsTree(r.stdout.toString('utf8'))
    .filter((e) => wanted.has(e.name))
    .map((e) => ({ path: e.name, type: e.type }));
}

/** Write a blob's bytes into a file (the content cache), streamed: an artifact can be larger than memory. */
export function blobToFile(repo: Repo, oid: string, file: string, mode: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawnGit(['cat-file', 'blob', oid], repo.processOptions());
    const out = createWriteStream(file, { mode });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.pipe(out);
    let closed = 0;
    let code: number | null = null;
    const done = () => {
      if (++closed < 2) return;
      if (code === 0) resolve();
      else reject(new GitCommandError(['cat-file', 'blob', oid], code, stderr));
    };
    out.on('error', reject);
    out.on('close', done);
    child.on('error', reject);
    child.on('close', (c) => {
      code = c;
      done();
    });
  });
}
