/**
 * Big outputs as Git LFS objects (decision 0019): the run's `outputs/` tree
 * holds the LFS pointer blob, the bytes live in git-lfs's own store
 * (`.git/lfs/objects/<2>/<2>/<sha256>`), so that a fetch of runs does not
 * carry every checkpoint, and a forge or an LFS server moves them the
 * standard way. https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md
 *
 * A pointer is three lines:
 *   version https://git-lfs.github.com/spec/v1
 *   oid sha256:4d7a2146...(64 hex)
 *   size 20971520
 *
 * Everything that reads a pointer treats it as hostile (it may come from a
 * remote): the oid must be 64 hex digits (it becomes a path), the size a
 * plain number, and the bytes read back are hashed and counted before anyone
 * sees them. git-lfs is asked only when a run has an output at or above the
 * threshold, or when a pointer's content is not in the local store.
 */
import crypto from 'node:crypto';
import { closeSync, copyFileSync, createReadStream, existsSync, mkdirSync, openSync, readSync, chmodSync, rmSync, renameSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Repo } from './repo.js';
import { CatFileBatch, spawnGit } from './gateway.js';
import { blobToFile } from './content.js';
import { parseTree } from './loose.js';
import { RunRef } from './refs.js';
import { ErrorCode, GitRunError } from '../errors/index.js';

export const POINTER_VERSION = 'version https://git-lfs.github.com/spec/v1';
/** git-lfs's own bound: a blob larger than this is never a pointer. */
export const POINTER_MAX = 1024;

export interface LfsPointer {
  /** sha256 of the content, 64 lowercase hex digits. */
  oid: string;
  size: number;
}

const lfsError = (message: string, hint: string, data: Record<string, unknown> = {}) => new GitRunError(ErrorCode.LfsContent, message, hint, data);

/**
 * The pointer a blob holds, or null when it is not one. A blob that starts
 * like a pointer but is not a well-formed one is refused: it came from a
 * run's outputs, where git-run only ever writes well-formed ones.
 */
export function parsePointer(data: Buffer, where: string): LfsPointer | null {
  if (data.length > POINTER_MAX || !data.subarray(0, POINTER_VERSION.length + 1).equals(Buffer.from(POINTER_VERSION + '\n'))) return null;
  const text = data.toString('utf8');
  const oid = /^oid sha256:([0-9a-f]{64})$/m.exec(text)?.[1];
  const size = /^size (0|[1-9][0-9]{0,15})$/m.exec(text)?.[1];
  if (!oid || size === undefined || !Number.isSafeInteger(Number(size))) {
    throw lfsError(`${where} is a malformed Git LFS pointer (it needs "oid sha256:<64 hex digits>" and "size <bytes>")`, 'the run was recorded elsewhere and its pointer altered; ask whoever pushed it, or delete the run', { where });
  }
  return { oid, size: Number(size) };
}

export const pointerText = (p: LfsPointer) => `${POINTER_VERSION}\noid sha256:${p.oid}\nsize ${p.size}\n`;

/** Whether git-lfs answers here, asked once per process (and only when a big output or a pointer needs it). */
let available: Promise<boolean> | null = null;
export function lfsAvailable(repo: Repo): Promise<boolean> {
  available ??= repo.git(['lfs', 'version'], { okCodes: [1, 127, 128] }).then(
    (r) => r.code === 0,
    () => false,
  );
  return available;
}

/** Where git-lfs keeps content (LocalMediaDir: `lfs.storage` honoured); without git-lfs, its default place. */
const mediaDirs = new Map<string, Promise<string>>();
export function lfsMediaDir(repo: Repo): Promise<string> {
  let dir = mediaDirs.get(repo.commonDir);
  if (!dir) {
    dir = (async () => {
      const fallback = path.join(repo.commonDir, 'lfs', 'objects');
      if (!(await lfsAvailable(repo))) return fallback;
      const r = await repo.git(['lfs', 'env'], { okCodes: [1, 2, 128] });
      const line = /^LocalMediaDir=(.+)$/m.exec(r.stdout.toString('utf8'));
      return line ? line[1]! : fallback;
    })();
    mediaDirs.set(repo.commonDir, dir);
  }
  return dir;
}

const objectPath = (media: string, oid: string) => path.join(media, oid.slice(0, 2), oid.slice(2, 4), oid);

/**
 * Stamp stored content as just written, as git freshens an object it was
 * asked to write again: rm and gc free only content older than their prune
 * date, so bytes a run is storing (or found already stored) are not freed
 * between their storing and the run's record (decision 0018).
 */
function freshen(file: string): void {
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // Not ours to stamp (another user's shared store) or gone: a later store writes it again.
  }
}

/**
 * Store a file's bytes in git-lfs's store through `git lfs clean` (git-lfs
 * itself decides where, with the right sha256 path; the user's
 * .gitattributes, index and work tree are not involved), streamed: a
 * checkpoint can be larger than memory. Returns the pointer.
 */
export function storeLfsFile(repo: Repo, file: string): Promise<LfsPointer> {
  return storeLfsStream(repo, createReadStream(file), file);
}

/** The same for bytes arriving as a stream (an entry of a remote run's outputs archive); `what` names them in messages. Resolves once git-lfs has stored them. */
export function storeLfsStream(repo: Repo, input: Readable, what: string): Promise<LfsPointer> {
  return new Promise((resolve, reject) => {
    const child = spawnGit(['lfs', 'clean', '--', path.basename(what)], repo.processOptions());
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.stdin.on('error', () => undefined);
    input.on('error', (e) => {
      child.kill();
      reject(e);
    });
    input.pipe(child.stdin);
    child.on('close', (code) => {
      const data = Buffer.concat(out);
      let p: LfsPointer | null = null;
      try {
        p = code === 0 ? parsePointer(data, what) : null;
      } catch {
        p = null;
      }
      if (p) {
        const stored = p;
        // git-lfs leaves content it already had as it was: stamped here, so a concurrent gc keeps it.
        lfsMediaDir(repo).then(
          (media) => {
            freshen(objectPath(media, stored.oid));
            resolve(stored);
          },
          () => resolve(stored),
        );
      } else reject(lfsError(`git lfs clean could not store ${what} (exit ${code}): ${stderr.trim() || 'no pointer came back'}`, 'check that git-lfs works here (`git lfs env`), or raise "large_output" in .runconfig', { file: what }));
    });
  });
}

/**
 * The outputs this process stored through git-lfs, as `path NUL pointer-blob`:
 * the bytes of a pointer cannot say whether git-lfs made it or the run wrote
 * a copy of one (a researcher's pointer file), so whoever collects outputs
 * notes here which paths it stored, and recordEnd writes that list into the
 * run's result.json (lfsOutputs) for every reader to go by. Collecting and
 * recording happen in one process (the supervisor, the ssh or Slurm
 * finisher); bounded, so a long-lived daemon does not grow with it.
 */
const storedOutputs = new Set<string>();
const STORED_MAX = 100_000;

/** Write the pointer blob of an output stored through git-lfs at `outputPath` (relative to the run directory's top), noted as such. Returns the blob's id. */
export async function writeLfsOutputPointer(repo: Repo, outputPath: string, p: LfsPointer): Promise<string> {
  const oid = await repo.objects.write('blob', pointerText(p));
  if (storedOutputs.size >= STORED_MAX) storedOutputs.delete(storedOutputs.values().next().value!);
  storedOutputs.add(`${outputPath}\0${oid}`);
  return oid;
}

/** Of these outputs (path relative to the run directory's top, blob id), the paths this process stored through git-lfs, sorted. */
export function lfsStoredAmong(outputs: ReadonlyArray<{ path: string; oid: string }>): string[] {
  if (!storedOutputs.size) return [];
  return outputs.filter((o) => storedOutputs.has(`${o.path}\0${o.oid}`)).map((o) => o.path).sort();
}

/** Whether any output was stored through git-lfs in this process (else no run's outputs need listing for the record). */
export const anyLfsStored = (): boolean => storedOutputs.size > 0;

/** sha256 and length of a file's bytes, read in large blocks. */
function hashFile(file: string): { oid: string; size: number } {
  const fd = openSync(file, 'r');
  try {
    const h = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
    let size = 0;
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)); ) {
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      size += n;
    }
    return { oid: h.digest('hex'), size };
  } finally {
    closeSync(fd);
  }
}

/** Ask git-lfs for a pointer's content from the remote (`git lfs smudge` downloads into the local store and verifies it). */
function fetchContent(repo: Repo, p: LfsPointer): Promise<{ ok: boolean; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnGit(['lfs', 'smudge'], repo.processOptions());
    let stderr = '';
    // The bytes come again from the store once there; stdout is drained and dropped.
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.stdin.on('error', () => undefined);
    child.stdin.end(pointerText(p));
    child.on('close', (code) => resolve({ ok: code === 0, stderr }));
  });
}

/**
 * The local file that holds a pointer's content, fetched from the remote
 * when it is not here yet (a pulled run whose content was never read), its
 * sha256 and size checked against the pointer. `where` names the file for
 * the messages (run and path).
 */
export async function lfsContentFile(repo: Repo, p: LfsPointer, where: string): Promise<string> {
  const media = await lfsMediaDir(repo);
  const file = objectPath(media, p.oid);
  if (!existsSync(file)) {
    if (!(await lfsAvailable(repo))) {
      throw lfsError(`${where} is a Git LFS object whose content is not in this repository, and git-lfs is not installed to fetch it`, 'install git-lfs (Debian: apt-get install git-lfs) and run the command again', { where, oid: p.oid });
    }
    const r = await fetchContent(repo, p);
    if (!existsSync(file)) {
      const why = r.stderr.trim().split('\n').filter(Boolean).pop() ?? 'no remote had it';
      throw lfsError(`the content of ${where} (Git LFS object ${p.oid.slice(0, 12)}, ${p.size} bytes) is not in this repository and could not be fetched: ${why}`, 'push it from the clone that made the run (`git run push`), or point git-lfs at the remote that has it (git config lfs.url or remote.lfsdefault)', { where, oid: p.oid });
    }
  }
  const got = hashFile(file);
  if (got.oid !== p.oid || got.size !== p.size) {
    throw lfsError(`the content of ${where} does not match its Git LFS pointer (expected sha256 ${p.oid.slice(0, 12)} and ${p.size} bytes, found ${got.oid.slice(0, 12)} and ${got.size} bytes in ${file})`, `remove ${file} and read it again to fetch it anew; if it comes back wrong, the remote's copy is damaged or forged`, { where, oid: p.oid, file });
  }
  return file;
}

/** The content of a pointer, in memory (`git run cat`). */
export async function readLfsContent(repo: Repo, p: LfsPointer, where: string): Promise<Buffer> {
  const file = await lfsContentFile(repo, p, where);
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(p.size);
    let at = 0;
    while (at < p.size) {
      const n = readSync(fd, buf, at, p.size - at, null);
      if (!n) break;
      at += n;
    }
    return buf.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}

/** Copy a pointer's content to `dest` (replacing what is there: the pointer a checkout wrote), with `mode`. */
export async function copyLfsContent(repo: Repo, p: LfsPointer, where: string, dest: string, mode: number): Promise<void> {
  const file = await lfsContentFile(repo, p, where);
  const tmp = `${dest}.git-run-lfs-${process.pid}`;
  try {
    copyFileSync(file, tmp);
    chmodSync(tmp, mode);
    renameSync(tmp, dest);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Of these blobs (oid and size, as ls-tree -l gives them), those that are
 * LFS pointers, by blob id. Only blobs small enough to be one are read, in
 * one cat-file process.
 */
export async function pointersAmong(repo: Repo, blobs: ReadonlyArray<{ oid: string; size: number; path: string }>, where: (path: string) => string): Promise<Map<string, LfsPointer>> {
  const out = new Map<string, LfsPointer>();
  const small = blobs.filter((b) => b.size > POINTER_VERSION.length && b.size <= POINTER_MAX);
  if (!small.length) return out;
  const batch = new CatFileBatch(repo.processOptions());
  try {
    for (const b of small) {
      if (out.has(b.oid)) continue;
      const o = await batch.read(b.oid);
      const p = o && o.type === 'blob' ? parsePointer(o.data, where(b.path)) : null;
      if (p) out.set(b.oid, p);
    }
  } finally {
    batch.close();
  }
  return out;
}

/**
 * Send the LFS content of these pointers to `remote` the standard way
 * (`git lfs push <remote> --object-id`), so that a teammate's pull can fetch
 * it when it is read. Content not in the local store (a pulled run never
 * read here) is left out and counted: whoever made it pushed it before.
 */
export async function pushLfsPointers(repo: Repo, remote: string, pointers: Iterable<LfsPointer>): Promise<{ pushed: number; absent: number }> {
  const media = await lfsMediaDir(repo);
  const oids = new Set<string>();
  let absent = 0;
  for (const p of pointers) {
    if (oids.has(p.oid)) continue;
    if (existsSync(objectPath(media, p.oid))) oids.add(p.oid);
    else absent++;
  }
  if (!oids.size) return { pushed: 0, absent };
  if (!(await lfsAvailable(repo))) {
    throw lfsError(`${oids.size} Git LFS object${oids.size === 1 ? '' : 's'} of these runs cannot be pushed: git-lfs is not installed`, 'install git-lfs (Debian: apt-get install git-lfs) and push again', { remote });
  }
  const all = [...oids];
  // A few hundred object ids per command line stays far below the argument limit.
  for (let i = 0; i < all.length; i += 500) {
    const r = await repo.git(['lfs', 'push', '--object-id', '--', remote, ...all.slice(i, i + 500)], { okCodes: [1, 2, 128] });
    if (r.code !== 0) {
      // The runs' refs went first (git run push): say that only their big outputs' content did not.
      throw lfsError(`the Git LFS content of these runs' big outputs (${all.length} object${all.length === 1 ? '' : 's'}) could not be sent to ${JSON.stringify(remote)}: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`}`, 'check that the remote takes Git LFS objects (`git lfs env` shows its endpoint), then push again: what was sent is not sent twice', { remote });
    }
  }
  return { pushed: all.length, absent };
}

/**
 * Put a blob's bytes (an imported bundle's copy of an LFS object) into the
 * local store under `oid`, after checking that they hash to it; content
 * already there is left alone. False when the bytes are not that object.
 */
export async function storeLfsObjectFromBlob(repo: Repo, oid: string, blob: string): Promise<boolean> {
  if (!/^[0-9a-f]{64}$/.test(oid)) return false;
  const media = await lfsMediaDir(repo);
  const file = objectPath(media, oid);
  if (existsSync(file)) {
    freshen(file);
    return true;
  }
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.git-run-${process.pid}`;
  try {
    await blobToFile(repo, blob, tmp, 0o644);
    if (hashFile(tmp).oid !== oid) return false;
    renameSync(tmp, file);
    return true;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Whether this repository may hold LFS content at all: git-lfs keeps it
 * under `.git/lfs/`, unless lfs.storage moves it (then that setting says
 * so). A push of runs that never had a big output here then pays a stat and
 * a config read, not a walk of every run's outputs.
 */
export async function mayHoldLfsContent(repo: Repo): Promise<boolean> {
  if (existsSync(path.join(repo.commonDir, 'lfs'))) return true;
  return (await repo.git(['config', '--get', 'lfs.storage'], { okCodes: [1] })).code === 0;
}

/** Objects from `git cat-file --batch` output: header, bytes, newline; missing ones left out. */
function parseBatch(out: Buffer): Array<{ oid: string; type: string; data: Buffer }> {
  const objects: Array<{ oid: string; type: string; data: Buffer }> = [];
  let at = 0;
  while (at < out.length) {
    const nl = out.indexOf(10, at);
    if (nl < 0) break;
    const [oid, type, size] = out.subarray(at, nl).toString('utf8').split(' ');
    if (type === 'missing' || size === undefined) {
      at = nl + 1;
      continue;
    }
    const end = nl + 1 + Number(size);
    objects.push({ oid: oid!, type: type!, data: out.subarray(nl + 1, end) });
    at = end + 1;
  }
  return objects;
}

/** Read these objects in one `git cat-file --batch`, the whole list written at once. */
async function readObjects(repo: Repo, specs: readonly string[]): Promise<Array<{ oid: string; type: string; data: Buffer }>> {
  if (!specs.length) return [];
  // A full object id is never looked up as a ref name too (10,000 lookups each stat'ing refs/ otherwise).
  const r = await repo.git(['-c', 'core.warnAmbiguousRefs=false', 'cat-file', '--batch'], { input: specs.join('\n') + '\n' });
  return parseBatch(r.stdout);
}

/**
 * The LFS pointers among the outputs of these runs, with a handful of git
 * processes whatever their number (a push of 10,000 runs must not start a
 * process per run, nor wait on 10,000 round trips): one cat-file --batch per
 * level of the outputs trees (each distinct tree read once), one
 * --batch-check for the blobs' sizes, one --batch for those small enough to
 * be pointers. A pointer-shaped blob that is malformed is no LFS object:
 * skipped (reading it says why).
 */
export function lfsPointersInRuns(repo: Repo, ids: readonly string[]): Promise<LfsPointer[]> {
  return lfsPointersInTrees(repo, ids.map((id) => `${new RunRef(id).name}:outputs`));
}

/**
 * The pointers of these blobs, named as cat-file takes them (`<tip>:outputs/<path>`
 * of outputs a run's record lists, or blob ids), in one cat-file --batch. A
 * name cat-file cannot take on one line (a path with a newline) is left out:
 * name such a blob by its id.
 */
export async function lfsPointersOfBlobs(repo: Repo, specs: readonly string[]): Promise<LfsPointer[]> {
  const out: LfsPointer[] = [];
  for (const o of await readObjects(repo, specs.filter((s) => !s.includes('\n')))) {
    if (o.type !== 'blob') continue;
    try {
      const p = parsePointer(o.data, o.oid);
      if (p) out.push(p);
    } catch {
      // Malformed: names no content (reading it says why).
    }
  }
  return out;
}

/** The same, of outputs trees named as cat-file takes them (`<tip>:outputs` of runs whose refs are gone). */
export async function lfsPointersInTrees(repo: Repo, trees: readonly string[]): Promise<LfsPointer[]> {
  if (!trees.length) return [];
  const seen = new Set<string>();
  const blobs = new Set<string>();
  let level = (await readObjects(repo, trees)).filter((o) => o.type === 'tree');
  while (level.length) {
    const next: string[] = [];
    for (const t of level) {
      if (seen.has(t.oid)) continue;
      seen.add(t.oid);
      for (const e of parseTree(t.data, repo.objectFormat)) {
        if (e.mode === '040000') {
          if (!seen.has(e.oid)) next.push(e.oid);
        } else if (e.mode === '100644' || e.mode === '100755') blobs.add(e.oid);
      }
    }
    level = (await readObjects(repo, [...new Set(next)])).filter((o) => o.type === 'tree');
  }
  return pointersInBlobs(repo, blobs);
}

/** The LFS pointers among these blob ids: sizes first (one --batch-check), then the small ones read (one --batch). */
async function pointersInBlobs(repo: Repo, blobs: Iterable<string>): Promise<LfsPointer[]> {
  const list = [...blobs];
  if (!list.length) return [];
  const check = await repo.git(['cat-file', '--batch-check=%(objectname) %(objecttype) %(objectsize)'], { input: list.join('\n') + '\n' });
  const small = check.stdout
    .toString('utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((p) => p.length === 3 && p[1] === 'blob' && Number(p[2]) > POINTER_VERSION.length && Number(p[2]) <= POINTER_MAX)
    .map((p) => p[0]!);
  const out: LfsPointer[] = [];
  for (const o of await readObjects(repo, small)) {
    try {
      const p = parsePointer(o.data, o.oid);
      if (p) out.push(p);
    } catch {
      // Malformed: names no content.
    }
  }
  return out;
}

/**
 * After runs were deleted (`git run rm`, `git run gc`): remove from the
 * local LFS store the content of `candidates` (the deleted runs' pointers)
 * that nothing still reaches: no ref (another run, a branch, a tag, the
 * notes), no reflog, no index of any work tree (a file staged but not
 * committed has its content in the store already). Any pointer reached
 * counts, whatever its text, so content another ref names another way
 * stays. One `rev-list` over what the refs reach (blobs larger than a
 * pointer left out), then the small blobs read: paid only when a deleted run
 * had LFS content here. `git lfs prune` is not used: it keeps only what
 * recent branches and tags reach, and would delete the content of runs that
 * stay (decision 0018). Content stored or found again since `keepSinceMs`
 * stays too: a run storing the same bytes now is not yet reachable.
 */
export async function pruneLfsContent(repo: Repo, candidates: Iterable<string>, keepSinceMs: number): Promise<{ removed: number; bytes: number; young: string[]; settled: string[] }> {
  const out = { removed: 0, bytes: 0, young: [] as string[], settled: [] as string[] };
  const media = await lfsMediaDir(repo);
  const present = new Map<string, string>();
  for (const oid of new Set(candidates)) {
    if (!/^[0-9a-f]{64}$/.test(oid)) continue;
    const file = objectPath(media, oid);
    if (existsSync(file)) present.set(oid, file);
    else out.settled.push(oid);
  }
  if (!present.size) return out;
  const r = await repo.git(['rev-list', '--objects', '--no-object-names', '--all', '--reflog', '--indexed-objects', `--filter=blob:limit=${POINTER_MAX + 1}`]);
  const reached = r.stdout.toString('utf8').split('\n').filter(Boolean);
  for (const p of await pointersInBlobs(repo, reached)) {
    if (present.delete(p.oid)) out.settled.push(p.oid);
  }
  for (const [oid, file] of present) {
    try {
      const st = statSync(file);
      // Stored or found again since the prune date: a run may be recording it now. Kept, and looked at again by a later rm or gc.
      if (st.mtimeMs >= keepSinceMs) {
        out.young.push(oid);
        continue;
      }
      rmSync(file);
      out.bytes += st.size;
      out.removed++;
    } catch {
      // Gone meanwhile (another gc): nothing to free.
    }
    out.settled.push(oid);
  }
  return out;
}
