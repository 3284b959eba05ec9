/**
 * Receiving a pack from a host that is not trusted (a remote run's outputs,
 * decision 0023): the pack goes into a quarantine, an object directory of its
 * own under the repository's (git's receive-pack does the same), with the
 * real object store as an alternate so that a thin pack's bases resolve.
 * Nothing reaches the user's object store until the caller has checked what
 * came and calls migrate(); discard() leaves the repository as it was.
 *
 * The stream is cut off, unread, past a byte cap or when its header names
 * more objects than the caller allows; `git index-pack --strict` refuses
 * broken objects and the trees git itself calls dangerous (`..`, `.git`).
 */
import crypto from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Repo } from './repo.js';
import { spawnGit } from './gateway.js';
import { refusedOutputs } from './outputs.js';

export interface PackCaps {
  /** Bytes of pack at most (the stream is cut off past it). */
  maxBytes: number;
  /** Objects the pack's header may name at most. */
  maxObjects: number;
}

export interface Quarantine {
  /** The repository, reading the quarantine and the real objects; writing into the quarantine. */
  repo: Repo;
  /** Bytes of pack received. */
  bytes: number;
  /** Move what is in the quarantine into the real object store. */
  migrate(): Promise<void>;
  /** Remove the quarantine and all it holds. */
  discard(): Promise<void>;
}

/** Why a pack was not taken in: `hostile` when the pack itself is to blame (its size, its header, git's checks). */
export class PackRefused extends Error {
  constructor(
    message: string,
    readonly hostile: boolean,
  ) {
    super(message);
  }
}

/**
 * Read a pack from `stream` into a new quarantine. `stop` is called when the
 * stream is cut off (the caller then ends the sender). Throws PackRefused.
 */
export async function receivePack(repo: Repo, stream: Readable, caps: PackCaps, stop: () => void): Promise<Quarantine> {
  // Inside the objects directory, named as git names its own (tmp_objdir-*): same file system, so migrating is a rename.
  const dir = path.join(repo.objectsDir, `tmp_objdir-git-run-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  await fs.mkdir(path.join(dir, 'pack'), { recursive: true });
  const q = repo.scratch(dir);
  const discard = () => fs.rm(dir, { recursive: true, force: true });
  try {
    const bytes = await indexPack(q, stream, caps, stop);
    return { repo: q, bytes, migrate: () => migrate(dir, repo.objectsDir), discard };
  } catch (e) {
    await discard();
    throw e;
  }
}

function indexPack(q: Repo, stream: Readable, caps: PackCaps, stop: () => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawnGit(['index-pack', '--stdin', '--fix-thin', '--strict', `--max-input-size=${caps.maxBytes}`], q.processOptions());
    let err = '';
    let bytes = 0;
    let header = Buffer.alloc(0);
    let refusal: PackRefused | null = null;
    const cut = (why: string) => {
      if (refusal) return;
      refusal = new PackRefused(why, true);
      stream.unpipe(child.stdin);
      stream.pause();
      stop();
      child.kill('SIGKILL');
    };
    child.stderr.on('data', (d: Buffer) => (err.length < 4096 ? (err += d.toString()) : undefined));
    child.stdin.on('error', () => undefined);
    stream.on('data', (d: Buffer) => {
      bytes += d.length;
      if (bytes > caps.maxBytes) return cut(`a pack of more than ${caps.maxBytes} bytes`);
      if (header.length < 12) {
        header = Buffer.concat([header, d.subarray(0, 12 - header.length)]);
        if (header.length === 12) {
          // "PACK", version, number of objects (big-endian): https://git-scm.com/docs/gitformat-pack
          if (header.toString('latin1', 0, 4) !== 'PACK') return cut('not a git pack');
          const n = header.readUInt32BE(8);
          if (n > caps.maxObjects) return cut(`a pack of ${n} objects, over the cap of ${caps.maxObjects}`);
        }
      }
      return undefined;
    });
    stream.on('error', (e: Error) => {
      child.kill('SIGKILL');
      reject(new PackRefused(`the pack stream broke: ${e.message}`, false));
    });
    child.on('error', (e) => reject(new PackRefused(`cannot start git index-pack: ${e.message}`, false)));
    child.on('close', (code) => {
      if (refusal) return reject(refusal);
      if (code !== 0) return reject(new PackRefused(`git index-pack refused it: ${err.trim().split('\n').slice(-2).join('; ') || `exit ${code}`}`, true));
      resolve(bytes);
    });
    stream.pipe(child.stdin);
  });
}

/** Packs first (the index last, so that a reader never sees an index without its pack), then loose objects. */
async function migrate(from: string, to: string): Promise<void> {
  const packs = await fs.readdir(path.join(from, 'pack')).catch(() => [] as string[]);
  const order = (n: string) => (n.endsWith('.idx') ? 1 : 0);
  for (const n of packs.sort((a, b) => order(a) - order(b))) {
    if (!/^pack-[0-9a-f]{40,64}\.(pack|idx|rev)$/.test(n)) continue;
    await fs.rename(path.join(from, 'pack', n), path.join(to, 'pack', n));
  }
  for (const d of await fs.readdir(from)) {
    if (!/^[0-9a-f]{2}$/.test(d)) continue;
    await fs.mkdir(path.join(to, d), { recursive: true });
    for (const f of await fs.readdir(path.join(from, d))) {
      const dest = path.join(to, d, f);
      // An object already there is the same object (its name is its hash).
      await fs.rename(path.join(from, d, f), dest).catch(() => undefined);
    }
  }
  await fs.rm(from, { recursive: true, force: true });
}

export interface PackedEntry {
  path: string;
  mode: string;
  type: string;
  oid: string;
  /** Bytes of a blob (-1 for anything else). */
  size: number;
}

/**
 * The commit the host named, checked: it must be in the quarantine (or the
 * store), a commit, and its tree the one the host named. Then every entry of
 * that tree, recursively, with sizes: reading them all proves the tree
 * complete (a missing object fails here). Raw paths; the caller checks them.
 */
export async function packedTree(q: Repo, commit: string, tree: string): Promise<PackedEntry[]> {
  const head = await q.git(['cat-file', 'commit', commit], { okCodes: [128] });
  const first = head.code === 0 ? head.stdout.toString('latin1').split('\n', 1)[0] : '';
  if (first !== `tree ${tree}`) throw refusedOutputs('(pack)', `the commit ${commit.slice(0, 12)} the host named is missing or does not hold the tree ${tree.slice(0, 12)}`);
  const r = await q.git(['ls-tree', '-r', '-z', '-l', '--full-tree', tree], { okCodes: [128] });
  if (r.code !== 0) throw refusedOutputs('(pack)', `the tree ${tree.slice(0, 12)} is incomplete: ${r.stderr.trim().split('\n')[0] ?? ''}`);
  const out: PackedEntry[] = [];
  for (const rec of r.stdout.toString('utf8').split('\0')) {
    if (!rec) continue;
    // "<mode> SP <type> SP <oid> SP+ <size> TAB <path>"
    const tab = rec.indexOf('\t');
    const m = /^(\d{5,6}) (\w+) ([0-9a-f]{40,64}) +(-|\d+)$/.exec(rec.slice(0, tab));
    if (tab < 0 || !m) throw refusedOutputs('(pack)', 'a tree entry git could not list');
    out.push({ path: rec.slice(tab + 1), mode: m[1]!, type: m[2]!, oid: m[3]!, size: m[4] === '-' ? -1 : Number(m[4]) });
  }
  return out;
}

/** Which of `oids` are objects of the repository (one process for all). */
export async function presentObjects(repo: Repo, oids: readonly string[]): Promise<Set<string>> {
  const have = new Set<string>();
  if (!oids.length) return have;
  const r = await repo.git(['cat-file', '--batch-check=%(objectname) %(objecttype)'], { input: oids.join('\n') + '\n' });
  for (const line of r.stdout.toString('utf8').split('\n')) {
    const [oid, type] = line.split(' ');
    if (type === 'commit' && oid) have.add(oid);
  }
  return have;
}
