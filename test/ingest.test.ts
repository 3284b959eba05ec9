import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { openRepo } from '../src/git/repo.js';
import { ingestTar, DEFAULT_LIMITS, type IngestLimits } from '../src/git/ingest.js';
import { makeRepo, git, refState } from './helpers.js';

/** A tar archive written byte by byte (ustar headers, pax for long paths), so hostile ones can be made. */
interface E {
  path: string;
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6';
  data?: string;
  link?: string;
  mode?: number;
  /** Declared size, when it should differ from the data (a lie). */
  size?: number;
}

function header(name: string, e: E, size: number, type: string): Buffer {
  const h = Buffer.alloc(512);
  const put = (off: number, len: number, s: string) => h.write(s.slice(0, len), off, 'utf8');
  const oct = (off: number, len: number, n: number) => put(off, len, n.toString(8).padStart(len - 1, '0') + '\0');
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut > 0 && Buffer.byteLength(name.slice(cut + 1)) <= 100) [prefix, base] = [name.slice(0, cut), name.slice(cut + 1)];
  }
  put(0, 100, base);
  oct(100, 8, e.mode ?? 0o644);
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, size);
  oct(136, 12, 0);
  h.write('        ', 148);
  put(156, 1, type);
  put(157, 100, e.link ?? '');
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  put(345, 155, prefix);
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);

function pax(path: string): Buffer {
  let rec = ` path=${path}\n`;
  let len = Buffer.byteLength(rec);
  len += String(len + String(len).length).length;
  rec = `${len}${rec}`;
  const body = Buffer.from(rec);
  return Buffer.concat([header('PaxHeader', { path: 'PaxHeader' }, body.length, 'x'), pad(body)]);
}

function tarOf(entries: E[], end = true): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    if (Buffer.byteLength(e.path) > 255) parts.push(pax(e.path));
    parts.push(header(e.path, e, e.size ?? data.length, e.type ?? '0'), pad(data));
  }
  if (end) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

describe('outputs archives from a remote are hostile input', () => {
  let repoDir: string;
  before(() => {
    repoDir = makeRepo('ingest', { 'a.txt': 'a' });
  });
  const ingest = async (buf: Buffer, limits: Partial<IngestLimits> = {}) => ingestTar(await openRepo(repoDir), Readable.from([buf]), { ...DEFAULT_LIMITS, ...limits });

  it('takes in a well-formed archive: files, modes, a relative symlink inside, a hard link to an earlier file', async () => {
    const files = await ingest(tarOf([
      { path: 'res/', type: '5' },
      { path: 'res/model.txt', data: 'weights' },
      { path: './run.sh', data: '#!/bin/sh\n', mode: 0o755 },
      { path: 'res/latest', type: '2', link: 'model.txt' },
      { path: 'res/copy.txt', type: '1', link: 'res/model.txt' },
    ]));
    const by = Object.fromEntries(files.map((f) => [f.path, f]));
    assert.deepEqual(Object.keys(by).sort(), ['res/copy.txt', 'res/latest', 'res/model.txt', 'run.sh']);
    assert.equal(git(repoDir, 'cat-file', 'blob', by['res/model.txt']!.oid), 'weights');
    assert.equal(by['run.sh']!.mode, '100755');
    assert.equal(by['res/latest']!.mode, '120000');
    assert.equal(by['res/copy.txt']!.oid, by['res/model.txt']!.oid);
    assert.deepEqual(await ingest(Buffer.alloc(10240)), [], 'an empty archive is fine');
  });

  const HOSTILE: Array<[string, () => Buffer, RegExp, Partial<IngestLimits>?]> = [
    ['an absolute path', () => tarOf([{ path: '/etc/passwd', data: 'x' }]), /an absolute path/],
    ['a leading ..', () => tarOf([{ path: '../escape.txt', data: 'x' }]), /".." component/],
    ['a .. in the middle', () => tarOf([{ path: 'a/../../escape', data: 'x' }]), /".." component/],
    ['a .git entry', () => tarOf([{ path: '.git/config', data: 'x' }]), /a ".git" entry/],
    ['a .GIT entry deeper down', () => tarOf([{ path: 'sub/.GIT/hooks/post-checkout', data: 'x' }]), /a ".git" entry/],
    ['a symlink to an absolute path', () => tarOf([{ path: 'l', type: '2', link: '/etc/passwd' }]), /a symlink to the absolute path/],
    ['a symlink that climbs out', () => tarOf([{ path: 'a/l', type: '2', link: '../../outside' }]), /leaves the run directory/],
    ['a symlink into .git', () => tarOf([{ path: 'l', type: '2', link: 'x/../.git/config' }]), /into a ".git" directory/],
    ['a hard link to an outside file', () => tarOf([{ path: 'h', type: '1', link: '/etc/shadow' }]), /an absolute path|not an earlier file/],
    ['a hard link to a file not in the archive', () => tarOf([{ path: 'h', type: '1', link: 'missing.txt' }]), /not an earlier file of the archive/],
    ['a character device', () => tarOf([{ path: 'tty', type: '3' }]), /a special entry \(CharacterDevice\)/],
    ['a block device', () => tarOf([{ path: 'sda', type: '4' }]), /a special entry \(BlockDevice\)/],
    ['a FIFO', () => tarOf([{ path: 'pipe', type: '6' }]), /a special entry \(FIFO\)/],
    ['a path too deep', () => tarOf([{ path: Array(70).fill('d').join('/') + '/f', data: 'x' }]), /deeper than 64 directories/],
    ['a path too long', () => tarOf([{ path: 'p/'.repeat(2100) + 'f', data: 'x' }]), /a path longer than 4096 bytes/],
    ['an oversized entry', () => tarOf([{ path: 'big', data: 'x'.repeat(20) }]), /over the cap of 10/, { maxEntryBytes: 10 }],
    ['too many entries', () => tarOf([1, 2, 3, 4].map((i) => ({ path: `f${i}`, data: 'x' }))), /more than 3 entries/, { maxEntries: 3 }],
    ['too many bytes in all', () => tarOf([1, 2, 3].map((i) => ({ path: `f${i}`, data: 'xxxxxxxx' }))), /passes 20 bytes in all/, { maxTotalBytes: 20 }],
    ['a path twice', () => tarOf([{ path: 'a', data: '1' }, { path: 'a', data: '2' }]), /the path appears twice/],
    ['a file where a directory is', () => tarOf([{ path: 'a', data: '1' }, { path: 'a/b', data: '2' }]), /which is a file/],
    ['a truncated archive', () => tarOf([{ path: 'a', data: 'short', size: 5000 }], false), /declared 5000 bytes but carried|not a valid tar stream/],
    ['not a tar at all', () => Buffer.from('this is not an archive'.repeat(40)), /not a valid tar stream/],
    ['a pax path that climbs out', () => tarOf([{ path: 'q/'.repeat(150) + '../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../etc/passwd', data: 'x' }]), /".." component/],
  ];

  for (const [what, make, message, limits] of HOSTILE) {
    it(`refuses ${what}`, async () => {
      const before = refState(repoDir);
      await assert.rejects(ingest(make(), limits), (e: any) => {
        assert.equal(e.code, 'E_HOSTILE_ARCHIVE');
        assert.match(e.message, /^the outputs were refused: /);
        assert.match(e.message, message);
        return true;
      });
      assert.equal(refState(repoDir), before, 'no ref or note');
    });
  }

  it(`covers at least 15 hostile shapes (${HOSTILE.length})`, () => assert.ok(HOSTILE.length >= 15));
});
