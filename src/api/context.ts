/**
 * What every submission needs before it can write anything: the repository,
 * its .runconfig, the ignore files in force, the seed. Each check here fails
 * with a clear error before a single object or ref is written.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Repo } from '../git/repo.js';
import { readBlob } from '../git/objects.js';
import { checkIgnorePatterns, toGitPatterns } from '../core/ignore.js';
import { newSeed } from '../core/record.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { parseRunConfig, type RunConfig } from '../core/config.js';

export interface IgnoreFile {
  /** As recorded in run_args: relative to the top of the work tree when inside it. */
  name: string;
  /** The patterns as git reads them (see toGitPatterns). */
  patterns: string;
}

/** `commit`: read the default file from that commit, not the work tree (a run of a commit, from a hook or a schedule). */
export async function ignoreFile(repo: Repo, cwd: string, given: string | undefined, dflt: string, option: string, commit?: string): Promise<IgnoreFile | null> {
  const file = given ? path.resolve(cwd, given) : path.join(repo.topLevel!, dflt);
  let text: string;
  if (commit && !given) {
    const blob = await readBlob(repo, `${commit}:${dflt}`);
    if (!blob) return null;
    text = blob.toString('utf8');
  } else {
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      if (!given && (e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new GitRunError(ErrorCode.IgnoreFileMissing, `cannot read the ignore file ${file}: ${(e as Error).message}`, `check the path given to ${option}`, { file });
    }
  }
  const problems = checkIgnorePatterns(text);
  if (problems.length) {
    const list = problems.map((p) => `  ${path.basename(file)}:${p.line}: ${JSON.stringify(p.pattern)}: ${p.reason}`).join('\n');
    throw new GitRunError(
      ErrorCode.IgnoreFileInvalid,
      `${file} has ${problems.length === 1 ? 'an invalid pattern' : `${problems.length} invalid patterns`}:\n${list}`,
      'fix or remove those lines (the file uses .gitignore syntax)',
      { file, problems },
    );
  }
  const rel = path.relative(repo.topLevel!, file);
  return { name: rel.startsWith('..') ? file : rel, patterns: toGitPatterns(text) };
}

export function parseSeed(seed: number | string | undefined): number {
  if (seed === undefined) return newSeed();
  const s = String(seed).trim();
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new GitRunError(ErrorCode.BadOption, `invalid seed '${seed}': a seed is a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`, 'give --seed a non-negative integer, e.g. --seed 42', { seed });
  }
  return n;
}

/** The .runconfig at the top of the work tree; empty when there is none. */
/** The .runconfig of the work tree, or of a commit (a run of that commit). */
export async function loadRunConfig(repo: Repo, commit?: string): Promise<RunConfig> {
  const file = commit ? `${commit.slice(0, 12)}:.runconfig` : path.join(repo.topLevel ?? repo.gitDir, '.runconfig');
  // Bytes: parseRunConfig refuses a file that is not UTF-8 rather than altering it.
  let text: Buffer;
  if (commit) {
    const blob = await readBlob(repo, `${commit}:.runconfig`);
    if (!blob) return { defaults: {}, hosts: {}, experiments: {} };
    text = blob;
  } else {
    try {
      text = await fs.readFile(file);
    } catch {
      return { defaults: {}, hosts: {}, experiments: {} };
    }
  }
  const { config, problems } = parseRunConfig(text);
  if (problems.length) {
    throw new GitRunError(
      ErrorCode.ConfigInvalid,
      `${file} is not a valid run configuration:\n${problems.map((p) => `  ${p.where || '(top)'}: ${p.problem}`).join('\n')}`,
      'fix it (see .runconfig.example for every key and its default)',
      { file, problems },
    );
  }
  return config;
}


/** The .runconfig that `git run init` writes: every section, with an example experiment. */
export const STARTER_CONFIG = {
  '//': 'git-run configuration. Every key is documented, with its default, in .runconfig.example of git-run.',
  defaults: { leave: 'code' },
  hosts: { local: { type: 'local' } },
  experiments: {
    example: {
      command: ['python3', 'train.py', '--lr', '{lr}'],
      params: { lr: { values: [0.1, 0.01] } },
      repeat: 1,
      seed: 42,
      tags: ['example'],
    },
  },
};

export async function writeStarterConfig(repo: Repo, force: boolean): Promise<string> {
  const file = path.join(repo.topLevel ?? repo.gitDir, '.runconfig');
  try {
    await fs.writeFile(file, JSON.stringify(STARTER_CONFIG, null, 2) + '\n', { flag: force ? 'w' : 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new GitRunError(ErrorCode.DestinationNotEmpty, `${file} exists already`, 'edit it, or pass --force to replace it', { file });
    }
    throw e;
  }
  return file;
}
