/**
 * Resolving a submission's inputs (src/core/inputs.ts's requests) into what
 * a run records (RunInput), before anything is written: an artifact to the
 * producing run and the object id at its path among that run's outputs; a
 * work-tree path to the id git would give its content (through the stat
 * cache, src/git/statcache.ts). Also the spec commit's parents: the
 * finishing commits of the upstream runs, in input order, each once.
 */
import path from 'node:path';
import { existsSync, lstatSync } from 'node:fs';
import type { Repo } from '../git/repo.js';
import { readRun, resolveRun, outputsOf } from '../store/runs.js';
import { artifactEntry, entriesAt, storeFile, treeOf } from '../git/content.js';
import { NotData, StatCache, worktreeContent } from '../git/statcache.js';
import { ancestors, normalizeDest, overlapping, parseInput, type InputRequest } from '../core/inputs.js';
import type { RunInput } from '../core/record.js';
import { ErrorCode, GitRunError } from '../errors/index.js';

/** The run directory's own folder (the parameters file): never an input's place. */
const RESERVED = '.git-run';

export interface InputSource {
  request: InputRequest;
  /** Where relative paths start, relative to the top: '' (a definition) or the directory the user stands in ('sub/dir/', the command line). */
  base: string;
}

export interface ResolvedInputs {
  inputs: RunInput[];
  /** The finishing commits of the upstream runs, in input order, each once: the spec commit's parents. */
  upstream: string[];
  /** The tree to keep at inputs/ in the spec commit (stored inputs), or null. */
  storedTree: string | null;
  /** Work-tree files whose id the stat cache gave (hits) or that were read (misses). */
  hashed: { hits: number; misses: number };
}

const bad = (r: InputRequest, problem: string, hint: string, code: ErrorCode = ErrorCode.BadInput, data: Record<string, unknown> = {}) =>
  new GitRunError(code, `input ${JSON.stringify(r.text)}: ${problem}`, hint, { input: r.text, ...data });

/** An artifact path as the outputs tree names it ('out/a.txt'), or null when it cannot be one. */
function artifactPath(p: string): string | null {
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  return parts.length && !parts.includes('..') && !p.startsWith('/') ? parts.join('/') : null;
}

/** The run an artifact names, or null when none matches (an unknown run, or a word that cannot name one). */
async function runOf(repo: Repo, r: InputRequest): Promise<string | null> {
  try {
    return await resolveRun(repo, r.artifact!.run);
  } catch (e) {
    if (e instanceof GitRunError && (e.code === ErrorCode.RunNotFound || e.code === ErrorCode.BadRunName)) return null;
    if (e instanceof GitRunError && e.code === ErrorCode.RunAmbiguous) throw bad(r, e.message, e.hint ?? 'give more digits of the run id', ErrorCode.RunAmbiguous, e.data);
    throw e;
  }
}

async function resolveArtifact(repo: Repo, r: InputRequest, id: string): Promise<{ input: Omit<RunInput, 'path'>; tip: string }> {
  const view = await readRun(repo, id);
  const short = id.slice(0, 12);
  if (view.status === 'queued' || view.status === 'running') {
    throw bad(r, `run ${short} has not finished (it is ${view.status})`, `wait for it (\`git run wait ${short}\`), then submit again`, ErrorCode.BadInput, { run: id, status: view.status });
  }
  if (view.status !== 'succeeded') {
    throw bad(r, `run ${short} ${view.status === 'failed' ? 'failed' : `was ${view.status}`}: only a run that succeeded gives artifacts`, `see why with \`git run show ${short}\`; use the outputs of a run that succeeded`, ErrorCode.BadInput, { run: id, status: view.status });
  }
  const p = artifactPath(r.artifact!.path);
  const entry = p ? await artifactEntry(repo, view.tip, p) : null;
  if (!entry) {
    const outs = (await outputsOf(repo, view.tip)).map((o) => o.path);
    const list = outs.slice(0, 8).map((o) => JSON.stringify(o)).join(', ');
    throw bad(r, `run ${short} did not produce ${JSON.stringify(r.artifact!.path)}`, outs.length ? `its outputs: ${list}${outs.length > 8 ? ', ...' : ''} (a directory among them names all its files)` : `run ${short} has no outputs`, ErrorCode.PathNotInRun, { run: id, path: r.artifact!.path });
  }
  return { input: { oid: entry.oid, type: entry.type, mode: entry.mode, size: entry.size, from: { run: id, path: p! } }, tip: view.tip };
}

/** A work-tree path (as written, relative to `base`) as a path from the top, or null when it lies outside the work tree. */
function worktreePath(top: string, base: string, source: string): string | null {
  const abs = path.resolve(top, base, source);
  const rel = path.relative(top, abs);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return null;
  return rel.split(path.sep).join('/');
}

/**
 * Resolve every input; throws a GitRunError (exit 2) for the first bad one.
 * Nothing is written except, with `store`, the stored content's objects
 * (unreachable until the spec commit names them) and the stat cache (a hint).
 */
export async function resolveInputs(repo: Repo, sources: readonly InputSource[], opts: { codeTree: string; storeAll?: boolean }): Promise<ResolvedInputs> {
  const top = repo.topLevel!;
  const cache = StatCache.load(repo);
  const inputs: RunInput[] = [];
  const upstream: string[] = [];
  const stored: Array<{ path: string; mode: string; oid: string }> = [];
  for (const { request: r, base } of sources) {
    let resolved: Omit<RunInput, 'path'> | null = null;
    let defaultDest = '';
    if (r.artifact) {
      const id = await runOf(repo, r);
      if (id) {
        const a = await resolveArtifact(repo, r, id);
        resolved = a.input;
        defaultDest = a.input.from!.path;
        if (!upstream.includes(a.tip)) upstream.push(a.tip);
      } else {
        // An existing work-tree path wins only when no run matches.
        const rel = worktreePath(top, base, r.source);
        if (!rel || !existsSync(path.join(top, rel))) {
          throw bad(r, `no run matches ${JSON.stringify(r.artifact.run)}, and there is no work-tree path ${JSON.stringify(r.source)}`, 'name a run by 4 or more hex digits of its id or by its name (`git run log --oneline`), or give a path in the work tree', ErrorCode.RunNotFound, { name: r.artifact.run });
        }
      }
    }
    if (!resolved) {
      const rel = worktreePath(top, base, r.source);
      if (!rel) throw bad(r, `${JSON.stringify(r.source)} is outside the work tree`, 'an input is another run\'s artifact (<run>:<path>) or a path inside the work tree');
      const abs = path.join(top, rel);
      if (rel.split('/').some((c) => c.toLowerCase() === '.git')) throw bad(r, `${JSON.stringify(rel)} is inside a .git directory`, 'give a path in the work tree');
      let exists = true;
      try {
        lstatSync(abs);
      } catch {
        exists = false;
      }
      if (!exists) throw bad(r, `there is no ${JSON.stringify(rel)} in the work tree`, 'check the path (on the command line it is relative to the current directory, in a definition to the top of the repository)', ErrorCode.BadInput, { path: rel });
      const store = r.store || !!opts.storeAll;
      let content;
      try {
        content = await worktreeContent(cache, repo.objectFormat, abs, store ? { blob: (f) => storeFile(repo, f), tree: (e) => repo.objects.writeTree(e) } : undefined);
      } catch (e) {
        if (e instanceof NotData) throw bad(r, e.message, 'an input is a file or a directory of files; give another path');
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EACCES' || code === 'ENOENT' || code === 'ELOOP') throw bad(r, `cannot read ${JSON.stringify(rel)}: ${(e as Error).message}`, 'check the path and its permissions');
        throw e;
      }
      resolved = { oid: content.oid, type: content.type, mode: content.mode, size: content.size, worktree: rel, ...(store ? { stored: true } : {}) };
      defaultDest = rel;
    }
    // A destination written with '..' or from / is refused as written; otherwise it is relative to where the user stands.
    const destText = r.dest === null ? defaultDest : path.posix.isAbsolute(r.dest) || r.dest.split('/').includes('..') ? r.dest : path.posix.join(base, r.dest);
    const dest = normalizeDest(destText, RESERVED);
    if ('problem' in dest) throw bad(r, dest.problem, 'give a relative destination inside the run directory, e.g. data/train.bin=<source>');
    const input: RunInput = { path: dest.path, ...resolved };
    inputs.push(input);
    if (input.stored) stored.push({ path: input.path, mode: input.mode, oid: input.oid });
  }
  const clash = overlapping(inputs.map((i) => i.path));
  if (clash) {
    const [a, b] = clash;
    throw new GitRunError(ErrorCode.BadInput, a === b ? `two inputs are placed at ${JSON.stringify(a)}` : `input ${JSON.stringify(b)} would be placed inside input ${JSON.stringify(a)}`, 'place each input at its own path with dest=<source> (e.g. data/a.bin=<run>:out/a.bin)', { paths: [a, b] });
  }
  await checkAgainstCode(repo, opts.codeTree, inputs);
  await cache.save(repo);
  const storedTree = stored.length ? await treeOf(repo.objectFormat, stored, (e) => repo.objects.writeTree(e)) : null;
  return { inputs, upstream, storedTree, hashed: { hits: cache.hits, misses: cache.misses } };
}

/** An input is never placed over a file (or directory) of the code, nor under one of its files. */
async function checkAgainstCode(repo: Repo, codeTree: string, inputs: readonly RunInput[]): Promise<void> {
  if (!inputs.length) return;
  const wanted = [...new Set(inputs.flatMap((i) => [i.path, ...ancestors(i.path)]))];
  const found = new Map((await entriesAt(repo, codeTree, wanted)).map((e) => [e.path, e.type]));
  for (const i of inputs) {
    const over = found.get(i.path);
    if (over) throw new GitRunError(ErrorCode.BadInput, `input ${JSON.stringify(i.path)} would be placed over ${over === 'tree' ? 'a directory' : 'a file'} of the code snapshot`, 'place it elsewhere with dest=<source> (e.g. data/in.bin=...), or leave that path out of the snapshot (.sendignore)', { path: i.path });
    const under = ancestors(i.path).find((a) => found.has(a) && found.get(a) !== 'tree');
    if (under) throw new GitRunError(ErrorCode.BadInput, `input ${JSON.stringify(i.path)} would be placed under ${JSON.stringify(under)}, a file of the code snapshot`, 'place it elsewhere with dest=<source>', { path: i.path });
  }
}

/** The -i/--input values of the command line (relative to where the user stands), parsed; a malformed one is a bad option. */
export function commandLineInputs(texts: readonly string[], prefix: string, store: boolean): InputSource[] {
  return texts.map((t) => {
    const parsed = parseInput(t, store);
    if ('problem' in parsed) throw new GitRunError(ErrorCode.BadOption, `invalid --input: ${parsed.problem}`, 'e.g. -i <run>:out/data.bin, -i data/train.bin, or -i data/in.bin=<run>:out/data.bin', { input: t });
    return { request: parsed.request, base: prefix };
  });
}
