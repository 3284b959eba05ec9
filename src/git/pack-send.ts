/**
 * The local side of sending code as git objects to a host's object store
 * (decision 0022): a pack of what the host lacks, computed against trees it
 * says it has. The host's side (index-pack, checkout) is shell text in the
 * ssh executor.
 * https://git-scm.com/docs/git-pack-objects
 */
import type { Readable } from 'node:stream';
import type { Repo } from './repo.js';
import { spawnGit } from './gateway.js';
import { missingObjects } from './remote.js';

const OID = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** Of the trees a host says it has, the ones this repository has too (only those can be a pack's base). */
export async function sharedTrees(repo: Repo, hostHas: readonly string[]): Promise<string[]> {
  const candidates = [...new Set(hostHas.filter((t) => OID.test(t)))];
  if (!candidates.length) return [];
  const missing = await missingObjects(repo, candidates);
  return candidates.filter((t) => !missing.has(t));
}

export interface PackStream {
  stream: Readable;
  /** git's exit status and what it said, once it ends. */
  done: Promise<{ code: number | null; stderr: string }>;
  kill(): void;
}

/**
 * A thin pack of `want` (a tree) and every object under it that is not under
 * one of `haves`: `--revs` walks the trees, `^<tree>` marks a tree the host
 * has. `--window=0`: no delta search (over 20,000 blobs it costs more than
 * the bytes it saves; an edited file goes whole, compressed).
 */
export function packTree(repo: Repo, want: string, haves: readonly string[]): PackStream {
  const child = spawnGit(['-c', 'pack.compression=1', 'pack-objects', '--stdout', '--thin', '--revs', '--window=0', '-q'], repo.processOptions());
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => undefined);
  child.stdin.end([want, ...haves.map((h) => `^${h}`)].join('\n') + '\n');
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  child.on('error', () => undefined);
  return { stream: child.stdout, done, kill: () => void child.kill('SIGKILL') };
}
