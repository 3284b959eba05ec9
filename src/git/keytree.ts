/**
 * The code part of a run key (docs/decisions/0013-run-key.md), from the
 * snapshot tree: either the tree without the files that only configure
 * git-run (.runconfig, the definition file), or, with deps, the entries of
 * the snapshot those pathspecs select. git does the pathspec matching, so
 * deps mean exactly what they mean to `git ls-files`.
 */
import { promises as fs } from 'node:fs';
import crypto from 'node:crypto';
import type { Repo } from './repo.js';
import { lsTree, writeTree } from './objects.js';
import { tempPath } from './snapshot.js';
import { ErrorCode, GitRunError } from '../errors/index.js';

/** The tree without these paths ('/'-separated, relative to its root); the same tree when none is in it. */
export async function treeWithout(repo: Repo, tree: string, paths: string[]): Promise<string> {
  if (!paths.length) return tree;
  const entries = await lsTree(repo, tree);
  let changed = false;
  const kept = [];
  for (const e of entries) {
    if (paths.includes(e.name)) {
      changed = true;
      continue;
    }
    const below = paths.filter((p) => p.startsWith(`${e.name}/`)).map((p) => p.slice(e.name.length + 1));
    if (below.length && e.type === 'tree') {
      const sub = await treeWithout(repo, e.oid, below);
      if (sub !== e.oid) {
        changed = true;
        // git keeps no empty trees: a directory that held only excluded files goes too.
        if ((await lsTree(repo, sub)).length) kept.push({ ...e, oid: sub });
        continue;
      }
    }
    kept.push(e);
  }
  return changed ? writeTree(repo, kept) : tree;
}

/**
 * The entries of `tree` that the pathspecs select (`git ls-files -s` over
 * it), hashed: what the key's code part is with deps. Each pathspec must
 * select something: one that matches nothing is a typo the user must hear of.
 */
export async function depsKey(repo: Repo, tree: string, deps: string[]): Promise<string> {
  const index = await tempPath(repo, 'deps');
  const env = { GIT_INDEX_FILE: index };
  try {
    await repo.git(['read-tree', tree], { env });
    for (const dep of deps) {
      // One at a time: git names only the first pathspec that matched nothing.
      const r = await repo.git(['ls-files', '-z', '--error-unmatch', '--', dep], { env, okCodes: [1, 128] });
      if (r.code !== 0 || !r.stdout.length) {
        throw new GitRunError(ErrorCode.BadOption, `the dep '${dep}' matches nothing in the snapshot`, 'deps are pathspecs relative to the top of the repository (git\'s syntax: "train.py", "model/", "*.py"); check the spelling, and that the files are not left out by .gitignore or .sendignore', { dep });
      }
    }
    const listed = await repo.git(['ls-files', '-s', '-z', '--', ...deps], { env });
    return 'deps:' + crypto.createHash('sha256').update(listed.stdout).digest('hex');
  } finally {
    await fs.rm(index, { force: true });
  }
}

/** `git diff --stat` between two snapshot trees over these pathspecs; null when nothing differs there. */
export async function diffStat(repo: Repo, a: string, b: string, pathspecs: string[]): Promise<string | null> {
  const r = await repo.git(['diff', '--stat=100', '--no-color', '--no-ext-diff', '--no-renames', a, b, '--', ...pathspecs], { okCodes: [128] });
  const text = r.code === 0 ? r.stdout.toString('utf8').trimEnd() : '';
  return text || null;
}
