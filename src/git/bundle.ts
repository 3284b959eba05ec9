/**
 * Runs as a git bundle (decision 0019): `refs/runs/<id>` of each run and a
 * `refs/notes/runs` commit holding only their notes, nothing else; a file
 * that `git run import` checks (`git bundle verify`, then every head) before
 * a single ref moves. https://git-scm.com/docs/git-bundle
 *
 * The bundle is made in a scratch bare repository that borrows this one's
 * objects (objects/info/alternates), so that its heads are exactly the run
 * refs and the notes ref, and the user's refs never carry a temporary name.
 */
import { promises as fs, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Repo } from './repo.js';
import { NOTES_REF, RUNS_PREFIX, RunRef } from './refs.js';
import { tempPath } from './snapshot.js';
import { revParse } from './objects.js';
import { listNotes } from './notes.js';
import { updateRefs, withRetries, type RefUpdate } from './transaction.js';
import { ErrorCode, GitRunError } from '../errors/index.js';

/** Variables that would point the scratch repository's git back at the user's. */
const elsewhere = (gitDir: string) => ({ GIT_DIR: gitDir, GIT_WORK_TREE: undefined, GIT_INDEX_FILE: undefined });

/** Write `file`: these runs' refs and a notes commit of their notes only (whole histories: the bundle needs nothing on the other side). */
export async function createRunBundle(repo: Repo, file: string, runs: ReadonlyArray<{ id: string; tip: string }>, lfs: ReadonlyArray<{ oid: string; file: string }> = []): Promise<{ notes: number }> {
  const scratch = await tempPath(repo, 'bundle');
  const tmpFile = `${file}.git-run-tmp-${process.pid}`;
  try {
    await repo.git(['init', '-q', '--bare', scratch], { env: { GIT_DIR: undefined, GIT_WORK_TREE: undefined } });
    writeFileSync(path.join(scratch, 'objects', 'info', 'alternates'), repo.objectsDir + '\n');
    const all = await listNotes(repo);
    const entries = runs.flatMap((r) => (all.has(r.id) ? [{ mode: '100644', oid: all.get(r.id)!, name: r.id }] : []));
    const updates: RefUpdate[] = runs.map((r) => ({ ref: new RunRef(r.id).name, create: r.tip }));
    if (entries.length) {
      const tree = await repo.objects.writeTree(entries);
      const commit = await repo.objects.writeCommit({ tree, parents: [], author: await repo.identString(), message: 'git-run: metadata of exported runs\n' });
      updates.push({ ref: NOTES_REF, create: commit });
    }
    if (lfs.length) updates.push({ ref: LFS_REF, create: await lfsCommit(repo, scratch, lfs) });
    const lines = updates.map((u) => ('create' in u ? `create ${u.ref} ${u.create}` : '')).join('\n') + '\n';
    await repo.git(['update-ref', '--stdin'], { env: elsewhere(scratch), input: lines, cwd: scratch });
    await repo.git(['bundle', 'create', '-q', tmpFile, '--all'], { env: elsewhere(scratch), cwd: scratch });
    await fs.rename(tmpFile, file);
    return { notes: entries.length };
  } finally {
    await fs.rm(tmpFile, { force: true });
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The bundle's copy of big outputs' content (they live outside the object
 * database here, and the bundle must stand alone): a commit whose tree
 * names each content by its sha256. Written into the scratch repository's
 * own objects, never this one's.
 */
export const LFS_REF = 'refs/git-run/lfs';

async function lfsCommit(repo: Repo, scratch: string, lfs: ReadonlyArray<{ oid: string; file: string }>): Promise<string> {
  const env = elsewhere(scratch);
  const lines: string[] = [];
  for (const o of new Map(lfs.map((x) => [x.oid, x.file]))) {
    const blob = (await repo.git(['hash-object', '-w', '--no-filters', '--', o[1]], { env, cwd: scratch })).stdout.toString('utf8').trim();
    lines.push(`100644 blob ${blob}\t${o[0]}\n`);
  }
  const tree = (await repo.git(['mktree'], { env, cwd: scratch, input: lines.join('') })).stdout.toString('utf8').trim();
  const id = await repo.ident();
  const who = { GIT_AUTHOR_NAME: id.name, GIT_AUTHOR_EMAIL: id.email, GIT_COMMITTER_NAME: id.name, GIT_COMMITTER_EMAIL: id.email };
  return (await repo.git(['commit-tree', '-m', 'git-run: content of big outputs (Git LFS objects)', tree], { env: { ...env, ...who }, cwd: scratch })).stdout.toString('utf8').trim();
}

/** The LFS copies a bundle's commit holds: sha256 -> blob, names checked. */
export async function bundledLfs(repo: Repo, commit: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const r = await repo.git(['ls-tree', '-z', commit], { okCodes: [128] });
  for (const rec of r.stdout.toString('utf8').split('\0')) {
    const m = /^100644 blob ([0-9a-f]+)\t([0-9a-f]{64})$/.exec(rec);
    if (m) out.set(m[2]!, m[1]!);
  }
  return out;
}

const badBundle = (file: string, why: string, hint: string) => new GitRunError(ErrorCode.BadBundle, `${file} ${why}`, hint, { file });

export interface RunBundle {
  runs: Array<{ id: string; tip: string }>;
  /** The bundle's notes commit, null when it has none. */
  notes: string | null;
  /** The commit holding big outputs' content, null when it has none. */
  lfs: string | null;
}

/**
 * Check a bundle and bring its objects in (unreferenced until refs move):
 * `git bundle verify` (a truncated or foreign file fails here), then its
 * heads (only run refs and the notes ref, well-formed), then each run's
 * history (its id is its spec commit, an ancestor of its tip). Objects come
 * through fetch with fsck on, as from any remote.
 */
export async function readRunBundle(repo: Repo, file: string): Promise<RunBundle> {
  const hint = 'make it with `git run export <run>... <file>.bundle`; a copy cut short must be copied again';
  const verify = await repo.git(['bundle', 'verify', '-q', file], { okCodes: [1, 2, 128] });
  if (verify.code !== 0) {
    const why = verify.stderr.trim().split('\n').filter(Boolean).pop()?.replace(/^(fatal|error): /, '') ?? `exit ${verify.code}`;
    throw badBundle(file, `is not a complete git bundle (${why})`, hint);
  }
  const heads = (await repo.git(['bundle', 'list-heads', file])).stdout.toString('utf8').split('\n').filter(Boolean);
  const runs: Array<{ id: string; tip: string }> = [];
  let notes: string | null = null;
  let lfs: string | null = null;
  const oidRe = repo.objectFormat === 'sha256' ? /^[0-9a-f]{64}$/ : /^[0-9a-f]{40}$/;
  for (const line of heads) {
    const [oid, ref, ...rest] = line.split(' ');
    const run = ref ? RunRef.parse(ref) : null;
    if (ref === LFS_REF && oid && oidRe.test(oid) && !rest.length && !lfs) {
      lfs = oid;
      continue;
    }
    if (!oid || !oidRe.test(oid) || rest.length || (!run && ref !== NOTES_REF) || (ref === NOTES_REF && notes)) {
      throw badBundle(file, `is not a run bundle: it holds ${JSON.stringify(ref ?? line)}, and a run bundle holds only ${RUNS_PREFIX}<id> refs and ${NOTES_REF}`, hint);
    }
    if (run) runs.push({ id: run.id, tip: oid });
    else notes = oid;
  }
  if (!runs.length) throw badBundle(file, 'is not a run bundle: it holds no run', hint);
  // verify reads the header only: a file cut short fails here, as does an object fsck refuses.
  const fetched = await repo.git(['-c', 'fetch.fsckObjects=true', '-c', 'transfer.fsckObjects=true', 'fetch', '-q', '--no-tags', '--no-write-fetch-head', '--', file, ...runs.map((r) => new RunRef(r.id).name), ...(notes ? [NOTES_REF] : []), ...(lfs ? [LFS_REF] : [])], { okCodes: [1, 128] });
  if (fetched.code !== 0) {
    const why = fetched.stderr.trim().split('\n').filter(Boolean)[0]?.replace(/^(fatal|error): /, '') ?? `exit ${fetched.code}`;
    throw badBundle(file, `is not a complete git bundle (${why})`, hint);
  }
  for (const r of runs) {
    const spec = await revParse(repo, `${r.id}:run.json`);
    if (!spec || !(await isAncestorCommit(repo, r.id, r.tip))) throw badBundle(file, `is not a run bundle: ${RUNS_PREFIX}${r.id} does not point at that run's history`, hint);
  }
  if (notes) {
    const tree = await repo.git(['ls-tree', '-r', '--name-only', notes], { okCodes: [128] });
    if (tree.code !== 0) throw badBundle(file, `is not a run bundle: its ${NOTES_REF} is not a notes commit`, hint);
  }
  return { runs, notes, lfs };
}

/** Whether commit `a` is `b` or one of its ancestors. */
export async function isAncestorCommit(repo: Repo, a: string, b: string): Promise<boolean> {
  return (await repo.git(['merge-base', '--is-ancestor', a, b], { okCodes: [1, 128] })).code === 0;
}

/**
 * Merge a notes commit into refs/notes/runs as `git notes merge -s
 * cat_sort_uniq` would (both sides' lines, sorted, each once: metadata
 * events are one per line, so no edit is lost), written as one new notes
 * commit on the current tip by compare-and-swap, together with `alsoUpdate`
 * (the imported run refs): all or nothing.
 */
export async function mergeNotesAndRefs(repo: Repo, incoming: string | null, alsoUpdate: () => Promise<RefUpdate[]>): Promise<void> {
  await withRetries(async () => {
    const updates = await alsoUpdate();
    const tip = await revParse(repo, NOTES_REF);
    if (incoming && tip !== incoming) {
      const theirs = await listNotes(repo, incoming);
      const ours = await listNotes(repo, tip ?? undefined);
      const index = await tempPath(repo, 'notes-merge');
      const env = { GIT_INDEX_FILE: index };
      try {
        if (tip) await repo.git(['read-tree', tip], { env });
        const present = new Set((await repo.git(['ls-files', '-z'], { env })).stdout.toString('utf8').split('\0').filter(Boolean));
        const info: string[] = [];
        let changed = false;
        for (const [id, blob] of theirs) {
          const mine = ours.get(id);
          if (mine === blob) continue;
          let text = (await repo.git(['cat-file', 'blob', blob])).stdout.toString('utf8');
          if (mine) {
            const lines = [...(await repo.git(['cat-file', 'blob', mine])).stdout.toString('utf8').split('\n'), ...text.split('\n')].filter(Boolean);
            text = [...new Set(lines)].sort().map((l) => l + '\n').join('');
          }
          const merged = await repo.objects.write('blob', text);
          if (merged === mine) continue;
          for (const p of [id, `${id.slice(0, 2)}/${id.slice(2)}`, `${id.slice(0, 2)}/${id.slice(2, 4)}/${id.slice(4)}`]) {
            if (present.has(p)) info.push(`0 ${repo.zeroOid}\t${p}\0`);
          }
          info.push(`100644 ${merged}\t${id.slice(0, 2)}/${id.slice(2)}\0`);
          changed = true;
        }
        if (changed) {
          await repo.git(['update-index', '-z', '--index-info'], { env, input: info.join('') });
          const tree = (await repo.git(['write-tree'], { env })).stdout.toString('utf8').trim();
          const commit = await repo.objects.writeCommit({ tree, parents: tip ? [tip, incoming] : [incoming], author: await repo.identString(), message: 'git-run: metadata of imported runs (cat_sort_uniq)\n' });
          updates.push(tip ? { ref: NOTES_REF, update: commit, old: tip } : { ref: NOTES_REF, create: commit });
        }
      } finally {
        await fs.rm(index, { force: true });
      }
    }
    if (!updates.length) return true;
    return (await updateRefs(repo, updates, 'git-run: import')) ? true : undefined;
  });
}
