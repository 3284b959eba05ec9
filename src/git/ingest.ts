/**
 * Outputs that come back from a remote host as a tar stream, ingested
 * straight into git objects. The archive is hostile input: every entry is
 * checked before anything of it is kept, and nothing is ever written to the
 * file system (only blobs into the object database, which git ignores until
 * a tree refers to them). The only module that imports the tar package.
 *
 * Refused, with the entry named: absolute paths, `..`, `.git` components,
 * paths too deep or too long, duplicate paths, a file where a directory is
 * (or the reverse), symlinks whose target is absolute or leaves the run
 * directory, hard links to anything but an earlier file of the archive,
 * devices, FIFOs and other special entries, entries over the size cap, more
 * entries or more bytes than the caps.
 */
import type { ReadEntry } from 'tar';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Repo } from './repo.js';
import { writeBlob } from './objects.js';
import { spawnGit } from './gateway.js';
import { isDotGit, refusedOutputs } from './outputs.js';
import { storeLfsStream, writeLfsOutputPointer } from './lfs.js';

/** Files larger than this are streamed into `git hash-object` instead of held in memory. */
const STREAM_ABOVE = 32 * 1024 * 1024;

export interface IngestLimits {
  maxEntries: number;
  maxEntryBytes: number;
  maxTotalBytes: number;
  maxDepth: number;
  maxPathBytes: number;
}

export const DEFAULT_LIMITS: IngestLimits = {
  maxEntries: 200_000,
  maxEntryBytes: 8 * 1024 ** 3,
  maxTotalBytes: 64 * 1024 ** 3,
  maxDepth: 64,
  maxPathBytes: 4096,
};

export interface IngestedFile {
  path: string;
  mode: '100644' | '100755' | '120000';
  oid: string;
  size: number;
}

/** The same error (and wording) as a local run's outputs refused by the rule of outputs.ts. */
const hostile = refusedOutputs;

/** A path of the archive, checked and normalised (no leading ./, no trailing /). */
export function checkEntryPath(raw: string, limits: IngestLimits = DEFAULT_LIMITS): string {
  if (raw.includes('\0')) throw hostile(raw, 'a NUL byte in the path');
  if (Buffer.byteLength(raw) > limits.maxPathBytes) throw hostile(raw.slice(0, 80) + '...', `a path longer than ${limits.maxPathBytes} bytes`);
  if (raw.startsWith('/') || /^[A-Za-z]:[\\/]/.test(raw)) throw hostile(raw, 'an absolute path');
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (!parts.length) return '';
  for (const p of parts) {
    if (p === '..') throw hostile(raw, 'a ".." component leaves the run directory');
    if (isDotGit(p)) throw hostile(raw, 'a ".git" entry (in one of its spellings)');
  }
  if (parts.length > limits.maxDepth) throw hostile(raw, `deeper than ${limits.maxDepth} directories`);
  return parts.join('/');
}

/** A symlink may point only inside the run directory, by a relative path. */
export function checkLinkTarget(entry: string, target: string): void {
  if (!target || target.includes('\0')) throw hostile(entry, 'an empty or NUL-containing link target');
  if (target.startsWith('/')) throw hostile(entry, `a symlink to the absolute path ${JSON.stringify(target)}`);
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(entry), target));
  if (resolved === '..' || resolved.startsWith('../')) throw hostile(entry, `a symlink to ${JSON.stringify(target)} leaves the run directory`);
  if (resolved.split('/').some(isDotGit)) throw hostile(entry, 'a symlink into a ".git" directory');
}

/** Read a tar stream into blobs; throws GitRunError (HostileArchive) on the first bad entry. */
export async function ingestTar(repo: Repo, stream: Readable, limits: IngestLimits = DEFAULT_LIMITS, opts: { lfsAbove?: number | null } = {}): Promise<IngestedFile[]> {
  const files = new Map<string, IngestedFile>();
  const dirs = new Set<string>();
  let count = 0;
  let total = 0;
  let failure: unknown = null;
  let stopReading = (): void => undefined;
  const pending: Array<Promise<void>> = [];
  /** Hard links: the copy takes the source's blob once it is written. */
  const links: Array<[IngestedFile, IngestedFile]> = [];
  // Loaded on first use: only remote runs read archives.
  const { Parser } = await import('tar');
  const parser = new Parser({ strict: true });

  const claim = (p: string, isDir: boolean) => {
    if (files.has(p) || (dirs.has(p) && !isDir)) throw hostile(p, 'the path appears twice');
    // A file cannot sit where a directory is, nor under a file.
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const up = parts.slice(0, i).join('/');
      if (files.has(up)) throw hostile(p, `it is inside ${JSON.stringify(up)}, which is a file`);
      dirs.add(up);
    }
    if (isDir) {
      if (files.has(p)) throw hostile(p, 'a directory where a file is');
      dirs.add(p);
    } else if (dirs.has(p)) throw hostile(p, 'a file where a directory is');
  };

  const onEntry = (e: ReadEntry) => {
    if (failure) return e.resume();
    try {
      if (++count > limits.maxEntries) throw hostile(e.path, `more than ${limits.maxEntries} entries`);
      const p = checkEntryPath(e.path, limits);
      const type = e.type as string;
      if (type === 'Directory') {
        if (p) claim(p, true);
        return e.resume();
      }
      if (!p) throw hostile(e.path, 'an entry with no name');
      if (type === 'SymbolicLink') {
        checkLinkTarget(p, e.linkpath ?? '');
        claim(p, false);
        const target = e.linkpath!;
        const slot: IngestedFile = { path: p, mode: '120000', oid: '', size: Buffer.byteLength(target) };
        files.set(p, slot);
        pending.push(writeBlob(repo, target).then((oid) => void (slot.oid = oid)));
        return e.resume();
      }
      if (type === 'Link') {
        const to = checkEntryPath(e.linkpath ?? '', limits);
        const source = files.get(to);
        if (!source || source.mode === '120000') throw hostile(p, `a hard link to ${JSON.stringify(e.linkpath)}, which is not an earlier file of the archive`);
        claim(p, false);
        const copy: IngestedFile = { ...source, path: p };
        files.set(p, copy);
        links.push([source, copy]);
        return e.resume();
      }
      if (type !== 'File' && type !== 'OldFile' && type !== 'ContiguousFile') throw hostile(p, `a special entry (${type}) is not an output`);
      const size = e.size ?? 0;
      if (size > limits.maxEntryBytes) throw hostile(p, `${size} bytes, over the cap of ${limits.maxEntryBytes}`);
      total += size;
      if (total > limits.maxTotalBytes) throw hostile(p, `the archive passes ${limits.maxTotalBytes} bytes in all`);
      claim(p, false);
      const slot: IngestedFile = { path: p, mode: (e.mode ?? 0o644) & 0o111 ? '100755' : '100644', oid: '', size };
      files.set(p, slot);
      if (opts.lfsAbove != null && size >= opts.lfsAbove) {
        // A big output goes to git-lfs's store, never into the object database: its pointer is the blob (decision 0019).
        let seen = 0;
        e.on('data', (d: Buffer) => (seen += d.length));
        pending.push(
          storeLfsStream(repo, e as unknown as Readable, p).then(async (pointer) => {
            if (seen !== size || pointer.size !== size) throw hostile(p, `declared ${size} bytes but carried ${seen}`);
            slot.oid = await writeLfsOutputPointer(repo, p, pointer);
          }),
        );
        return undefined;
      }
      if (size > STREAM_ABOVE) {
        // Large files go straight through git, never whole in memory.
        const child = spawnGit(['hash-object', '-w', '--stdin', '--no-filters'], repo.processOptions());
        let out = '';
        let seen = 0;
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        e.on('data', (d: Buffer) => (seen += d.length));
        e.pipe(child.stdin);
        pending.push(
          new Promise<void>((resolve, reject) => {
            child.on('error', reject);
            child.on('close', (code) => {
              if (code !== 0) return reject(new Error(`git hash-object exited ${code}`));
              if (seen !== size) return reject(hostile(p, `declared ${size} bytes but carried ${seen}`));
              slot.oid = out.trim();
              resolve();
            });
          }),
        );
        return undefined;
      }
      const chunks: Buffer[] = [];
      pending.push(
        new Promise<void>((resolve, reject) => {
          e.on('data', (d: Buffer) => chunks.push(d));
          e.on('end', () => {
            const data = Buffer.concat(chunks);
            if (data.length !== size) return reject(hostile(p, `declared ${size} bytes but carried ${data.length}`));
            writeBlob(repo, data).then((oid) => {
              slot.oid = oid;
              resolve();
            }, reject);
          });
        }),
      );
      return undefined;
    } catch (err) {
      failure = err;
      e.resume();
      stopReading();
      return undefined;
    }
  };
  parser.on('entry', onEntry);
  // An archive of nothing (only the zero blocks that end a tar) is valid for
  // GNU tar but "unrecognized" to a strict parser: note whether that is all we got.
  let allZero = true;
  stream.on('data', (d: Buffer) => {
    if (allZero && d.some((b) => b !== 0)) allZero = false;
  });
  await new Promise<void>((resolve, reject) => {
    // The first refusal ends the reading: the rest is not wanted, however much the sender has
    // (a 20 GB file refused at its header was drained whole). The caller closes the stream.
    stopReading = () => {
      stream.unpipe(parser);
      stream.pause();
      resolve();
    };
    parser.on('error', (err: Error) => {
      if (!(allZero && count === 0)) failure ??= hostile('(archive)', `not a valid tar stream: ${err.message}`);
      resolve();
    });
    parser.on('end', resolve);
    stream.on('error', reject);
    stream.pipe(parser);
  });
  await Promise.allSettled(pending);
  if (failure) throw failure;
  await Promise.all(pending);
  for (const [source, copy] of links) copy.oid = source.oid;
  return [...files.values()];
}
