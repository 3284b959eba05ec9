/**
 * Writing small objects (run.json, state and result blobs, the few trees and
 * commits of a run's state chain) straight into the object database as loose
 * objects, instead of starting hash-object / mktree / commit-tree for each.
 * A run writes about a dozen such objects; as processes they cost more than
 * the rest of a short run (measured: docs/decisions/0003-launch-path.md).
 *
 * The loose format is git's stable on-disk format: zlib("<type> <size>\0" +
 * body) at objects/<2 hex>/<rest>, written to a temporary file and renamed
 * into place, read-only. https://git-scm.com/book/en/v2/Git-Internals-Git-Objects
 * Reading, packing and everything else stays with git itself.
 */
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { adjustSharedPerm } from './shared.js';
import { diskFull, isNoSpace } from '../errors/index.js';

export type ObjectType = 'blob' | 'tree' | 'commit';

export interface TreeItem {
  mode: string;
  oid: string;
  name: string;
}

export class LooseObjectWriter {
  private perm: number | null = null;

  constructor(
    private readonly objectsDir: string,
    private readonly format: string,
    /** core.sharedRepository as git keeps it (see shared.ts), asked once, on the first write. */
    private readonly sharedPerm: () => Promise<number> = async () => 0,
  ) {}

  hash(type: ObjectType, body: Buffer): { oid: string; raw: Buffer } {
    const raw = Buffer.concat([Buffer.from(`${type} ${body.length}\0`), body]);
    const oid = crypto.createHash(this.format === 'sha256' ? 'sha256' : 'sha1').update(raw).digest('hex');
    return { oid, raw };
  }

  /** Synchronous on purpose: these objects are a few hundred bytes, and a
   * round trip through libuv's thread pool costs more than the write. */
  async write(type: ObjectType, body: Buffer | string): Promise<string> {
    const { oid, raw } = this.hash(type, typeof body === 'string' ? Buffer.from(body) : body);
    const dir = path.join(this.objectsDir, oid.slice(0, 2));
    const file = path.join(dir, oid.slice(2));
    if (existsSync(file)) return oid;
    this.perm ??= await this.sharedPerm();
    const tmp = path.join(dir, `tmp_obj_gitrun_${process.pid}_${crypto.randomBytes(4).toString('hex')}`);
    try {
      // The fan-out directory and the object get the modes git's own would (group-readable in a shared repository).
      if (mkdirSync(dir, { recursive: true })) adjustSharedPerm(this.perm, dir);
      // Level 1 is git's own default for loose objects (core.looseCompression).
      writeFileSync(tmp, zlib.deflateSync(raw, { level: 1 }), { mode: 0o444 });
      adjustSharedPerm(this.perm, tmp);
    } catch (e) {
      rmSync(tmp, { force: true });
      if (isNoSpace(e)) throw diskFull(this.objectsDir);
      throw e;
    }
    try {
      renameSync(tmp, file);
    } catch (e) {
      rmSync(tmp, { force: true });
      if (!existsSync(file)) throw e;
    }
    return oid;
  }

  /** A tree from its entries, sorted the way git sorts them (trees as if named "name/"). */
  async writeTree(entries: TreeItem[]): Promise<string> {
    const key = (e: TreeItem) => Buffer.from(e.name + (e.mode === '40000' || e.mode === '040000' ? '/' : ''));
    const sorted = [...entries].sort((a, b) => Buffer.compare(key(a), key(b)));
    const parts: Buffer[] = [];
    for (const e of sorted) {
      if (!e.name || e.name.includes('/') || e.name.includes('\0')) throw new Error(`invalid tree entry name ${JSON.stringify(e.name)}`);
      parts.push(Buffer.from(`${e.mode.replace(/^0+/, '')} ${e.name}\0`), Buffer.from(e.oid, 'hex'));
    }
    return this.write('tree', Buffer.concat(parts));
  }

  async writeCommit(c: { tree: string; parents: string[]; author: string; message: string; when?: Date }): Promise<string> {
    const stamp = gitTimestamp(c.when ?? new Date());
    const lines = [`tree ${c.tree}`, ...c.parents.map((p) => `parent ${p}`), `author ${c.author} ${stamp}`, `committer ${c.author} ${stamp}`, '', c.message];
    return this.write('commit', lines.join('\n'));
  }
}

/** The first hash and the first deflate each initialise a library (a few
 * milliseconds); do it while a git process we wait for is starting. */
export function warmUpHashing(): void {
  crypto.createHash('sha1').update('').digest();
  crypto.createHash('sha256').update('').digest();
  zlib.deflateSync(Buffer.alloc(1), { level: 1 });
}

/** "<unix seconds> <+hhmm>" in the local time zone, as git writes it. */
export function gitTimestamp(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const tz = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
  return `${Math.floor(d.getTime() / 1000)} ${tz}`;
}

/** Parse a raw tree object (as cat-file --batch returns it). */
export function parseTree(body: Buffer, format: string): TreeItem[] {
  const len = format === 'sha256' ? 32 : 20;
  const out: TreeItem[] = [];
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    const nul = body.indexOf(0, sp);
    const mode = body.subarray(i, sp).toString();
    const name = body.subarray(sp + 1, nul).toString('utf8');
    const oid = body.subarray(nul + 1, nul + 1 + len).toString('hex');
    out.push({ mode: mode === '40000' ? '040000' : mode, name, oid });
    i = nul + 1 + len;
  }
  return out;
}
