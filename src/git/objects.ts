/**
 * Reading and writing git objects: blobs, trees and commits, with plumbing
 * only (hash-object, mktree, ls-tree, commit-tree). Trees are edited by
 * listing and re-making the levels on the path, never through an index, so
 * that a large sibling subtree (the code snapshot) is never re-read.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Repo } from './repo.js';

export interface TreeEntry {
  mode: string;
  type: 'blob' | 'tree' | 'commit';
  oid: string;
  name: string;
  /** Only from lsTree(..., { long: true }); '-' sizes (trees) become undefined. */
  size?: number;
}

export async function writeBlob(repo: Repo, data: string | Buffer): Promise<string> {
  return repo.objects.write('blob', data);
}

/** Files larger than this are hashed by git, which streams them; smaller ones in-process. */
const IN_PROCESS_LIMIT = 32 * 1024 * 1024;

/** Hash files as they are on disk, bytes untouched (no clean filters). */
export async function writeFiles(repo: Repo, files: string[]): Promise<string[]> {
  const oids: string[] = [];
  for (const f of files) {
    const { size } = statSync(f);
    if (size <= IN_PROCESS_LIMIT) oids.push(await repo.objects.write('blob', readFileSync(f)));
    else oids.push(await repo.text(['hash-object', '-w', '--no-filters', '--', f]));
  }
  return oids;
}

export async function writeTree(repo: Repo, entries: TreeEntry[]): Promise<string> {
  return repo.objects.writeTree(entries);
}

export async function lsTree(repo: Repo, treeish: string, opts: { recursive?: boolean; long?: boolean; trees?: boolean } = {}): Promise<TreeEntry[]> {
  const args = ['ls-tree', '-z', '--full-tree'];
  if (opts.recursive) args.push('-r');
  // With -r, the directories too (each before its entries).
  if (opts.trees) args.push('-t');
  if (opts.long) args.push('-l');
  args.push(treeish);
  const out = (await repo.git(args)).stdout.toString('utf8');
  return parseLsTree(out);
}

/** Every entry under a tree, recursively, with sizes; [] when `treeish` does not exist (a run without outputs). */
export async function lsTreeIfAny(repo: Repo, treeish: string): Promise<TreeEntry[]> {
  const r = await repo.git(['ls-tree', '-z', '-r', '-l', '--full-tree', treeish], { okCodes: [128] });
  return r.code === 0 ? parseLsTree(r.stdout.toString('utf8')) : [];
}

export function parseLsTree(out: string): TreeEntry[] {
  const entries: TreeEntry[] = [];
  for (const rec of out.split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const parts = rec.slice(0, tab).split(/ +/);
    const e: TreeEntry = { mode: parts[0]!, type: parts[1] as TreeEntry['type'], oid: parts[2]!, name: rec.slice(tab + 1) };
    if (parts[3] !== undefined && parts[3] !== '-') e.size = Number(parts[3]);
    entries.push(e);
  }
  return entries;
}

/** Replace (or with null, remove) entries of a tree whose entries are known. */
export async function editEntries(repo: Repo, entries: TreeEntry[], changes: Record<string, TreeEntry | null>): Promise<{ tree: string; entries: TreeEntry[] }> {
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const [name, e] of Object.entries(changes)) {
    if (e) byName.set(name, { ...e, name });
    else byName.delete(name);
  }
  const next = [...byName.values()];
  return { tree: await writeTree(repo, next), entries: next };
}

/** Replace (or with null, remove) entries at the root of a tree. */
export async function editTreeRoot(repo: Repo, tree: string | null, changes: Record<string, TreeEntry | null>): Promise<string> {
  const entries = tree ? await lsTree(repo, tree) : [];
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const [name, e] of Object.entries(changes)) {
    if (e) byName.set(name, { ...e, name });
    else byName.delete(name);
  }
  return writeTree(repo, [...byName.values()]);
}

export const blobEntry = (name: string, oid: string): TreeEntry => ({ mode: '100644', type: 'blob', oid, name });
export const treeEntry = (name: string, oid: string): TreeEntry => ({ mode: '040000', type: 'tree', oid, name });

export interface CommitOptions {
  tree: string;
  parents: string[];
  message: string;
}

export async function writeCommit(repo: Repo, c: CommitOptions): Promise<string> {
  return repo.objects.writeCommit({ tree: c.tree, parents: c.parents, author: await repo.identString(), message: c.message });
}

/** Resolve a revision to an object id, or null when it does not exist. */
export async function revParse(repo: Repo, rev: string): Promise<string | null> {
  const r = await repo.git(['rev-parse', '-q', '--verify', '--end-of-options', rev], { okCodes: [1, 128] });
  return r.code === 0 ? r.stdout.toString('utf8').trim() : null;
}

export async function readBlob(repo: Repo, spec: string): Promise<Buffer | null> {
  const r = await repo.git(['cat-file', 'blob', spec], { okCodes: [128] });
  return r.code === 0 ? r.stdout : null;
}

/** The empty tree's id in this repository's object format. */
export async function emptyTree(repo: Repo): Promise<string> {
  return repo.text(['hash-object', '-t', 'tree', '--stdin'], { input: '' });
}
