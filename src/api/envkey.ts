/**
 * The secret that keys the environment's hashes in run keys (core/key.ts).
 * Kept outside git, per user: `$GIT_RUN_ENV_KEY_FILE`, else
 * `$XDG_CONFIG_HOME/git-run/env-key` (default `~/.config/git-run/env-key`),
 * created on first use (32 random bytes, mode 0600). A run pushed to a shared
 * remote then carries hashes no one can test guesses against without this
 * file. The same user's clones share it, so their runs can match; a team that
 * wants each other's runs to match copies the file (docs/decisions/0013).
 * When the home directory cannot be written, the repository's own
 * `.git/git-run/env-key` is used instead.
 */
import { promises as fs, readFileSync } from 'node:fs';
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Repo } from '../git/repo.js';
import { adjustSharedPerm, mkdirShared, sharedPerm } from '../git/shared.js';

const KEY_BYTES = 32;

export function envKeyFile(): string {
  if (process.env.GIT_RUN_ENV_KEY_FILE) return path.resolve(process.env.GIT_RUN_ENV_KEY_FILE);
  const base = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'git-run', 'env-key');
}

function readKey(file: string): Buffer | null {
  try {
    const b = readFileSync(file);
    return b.length === KEY_BYTES ? b : null;
  } catch {
    return null;
  }
}

/** Create the key file unless another process made it first (link() does not replace); returns the key in force. */
async function createKey(file: string): Promise<Buffer> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
  await fs.writeFile(tmp, crypto.randomBytes(KEY_BYTES), { mode: 0o600 });
  try {
    await fs.link(tmp, file);
  } catch (e) {
    // Made by another process meanwhile (EEXIST), or damaged (a wrong length): a damaged key is replaced.
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    if (!readKey(file)) await fs.rename(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
  const key = readKey(file);
  if (!key) throw new Error(`${file} holds no key`);
  return key;
}

let cached: Buffer | null = null;

export async function envHashKey(repo: Repo): Promise<Buffer> {
  if (cached) return cached;
  const file = envKeyFile();
  const found = readKey(file);
  if (found) return (cached = found);
  try {
    return (cached = await createKey(file));
  } catch {
    // A read-only or missing home: the repository's own key (same protection, matches only within this repository).
    const local = path.join(repo.stateDir, 'env-key');
    return (cached = readKey(local) ?? (await createKey(local)));
  }
}

/**
 * This clone's id: 16 random hex digits in `.git/git-run/clone-id`, made on
 * first use, recorded in each run with its portable key. A run from another
 * clone (another id) is matched on its portable key; this clone's own runs
 * only on the full run key (docs/decisions/0017-sharing.md).
 */
export async function cloneId(repo: Repo): Promise<string> {
  const file = path.join(repo.stateDir, 'clone-id');
  const read = (): string | null => {
    try {
      const t = readFileSync(file, 'utf8').trim();
      return /^[0-9a-f]{16}$/.test(t) ? t : null;
    } catch {
      return null;
    }
  };
  const found = read();
  if (found) return found;
  const perm = await sharedPerm(repo);
  mkdirShared(perm, repo.stateDir);
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
  await fs.writeFile(tmp, crypto.randomBytes(8).toString('hex') + '\n', { mode: 0o644 });
  // In a shared repository every member's submissions read it: git's shared mode, as for everything under .git/git-run/.
  adjustSharedPerm(perm, tmp);
  try {
    // link() does not replace: two first submissions at once agree on one id.
    await fs.link(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    if (!read()) await fs.rename(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
  const id = read();
  if (!id) throw new Error(`${file} holds no clone id`);
  return id;
}
