/**
 * Run metadata in git notes under refs/notes/runs, written with
 * compare-and-swap so that concurrent writers (CLI, hook, daemon) never lose
 * an edit. `git notes add` does not compare-and-swap its ref, so we build the
 * notes commit ourselves: a note blob at `<2 hex>/<rest>` (git reads any
 * fan-out), a new root tree, a commit on the old tip, and an atomic ref
 * update that may also carry other updates (a new run's ref).
 * https://git-scm.com/docs/git-notes#_notes
 */
import type { Repo } from './repo.js';
import { NOTES_REF } from './refs.js';
import { lsTree, writeBlob, writeCommit, writeTree, revParse, readBlob, type TreeEntry } from './objects.js';
import { updateRefs, withRetries, type RefUpdate } from './transaction.js';

/** Where a note for `oid` may live: flat, or under one or two levels of fan-out. */
function candidatePaths(oid: string): string[] {
  return [oid, `${oid.slice(0, 2)}/${oid.slice(2)}`, `${oid.slice(0, 2)}/${oid.slice(2, 4)}/${oid.slice(4)}`];
}

/** Append lines to the note of `oid`, atomically together with `alsoUpdate`. */
export async function appendNote(repo: Repo, oid: string, lines: string[], alsoUpdate: RefUpdate[] = []): Promise<void> {
  const addition = lines.map((l) => l.replace(/\n/g, ' ') + '\n').join('');
  await withRetries(async () => {
    const tip = await revParse(repo, NOTES_REF);
    let root: TreeEntry[] = tip ? await lsTree(repo, `${tip}^{tree}`) : [];
    let existing = '';
    // Read the current note wherever it is, then drop it from that place.
    for (const p of candidatePaths(oid)) {
      const blob = tip ? await readBlob(repo, `${tip}:${p}`) : null;
      if (blob) {
        existing = blob.toString('utf8');
        if (existing && !existing.endsWith('\n')) existing += '\n';
        if (p === oid) root = root.filter((e) => e.name !== oid);
        else root = await removeNested(repo, root, p.split('/'));
        break;
      }
    }
    const blob = await writeBlob(repo, existing + addition);
    const fan = oid.slice(0, 2);
    const fanEntry = root.find((e) => e.name === fan && e.type === 'tree');
    const sub = fanEntry ? (await lsTree(repo, fanEntry.oid)).filter((e) => e.name !== oid.slice(2)) : [];
    sub.push({ mode: '100644', type: 'blob', oid: blob, name: oid.slice(2) });
    const subTree = await writeTree(repo, sub);
    root = root.filter((e) => e.name !== fan);
    root.push({ mode: '040000', type: 'tree', oid: subTree, name: fan });
    const tree = await writeTree(repo, root);
    const commit = await writeCommit(repo, { tree, parents: tip ? [tip] : [], message: 'git-run: metadata\n' });
    const notesUpdate: RefUpdate = tip ? { ref: NOTES_REF, update: commit, old: tip } : { ref: NOTES_REF, create: commit };
    return (await updateRefs(repo, [...alsoUpdate, notesUpdate], 'git-run: metadata')) ? true : undefined;
  });
}

async function removeNested(repo: Repo, entries: TreeEntry[], parts: string[]): Promise<TreeEntry[]> {
  const [head, ...rest] = parts;
  if (!rest.length) return entries.filter((e) => e.name !== head);
  const dir = entries.find((e) => e.name === head && e.type === 'tree');
  if (!dir) return entries;
  const inner = await removeNested(repo, await lsTree(repo, dir.oid), rest);
  const others = entries.filter((e) => e.name !== head);
  if (!inner.length) return others;
  return [...others, { ...dir, oid: await writeTree(repo, inner) }];
}

/** The note text of one object, '' when it has none. */
export async function readNote(repo: Repo, oid: string): Promise<string> {
  const r = await repo.git(['notes', `--ref=${NOTES_REF}`, 'show', oid], { okCodes: [1, 128] });
  return r.code === 0 ? r.stdout.toString('utf8') : '';
}

/** Every note: annotated object id -> blob id, whatever the fan-out (of the notes commit `tip`, or the current one). */
export async function listNotes(repo: Repo, tip?: string): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  const at = tip ?? (await revParse(repo, NOTES_REF));
  if (!at) return map;
  for (const e of await lsTree(repo, at, { recursive: true })) map.set(e.name.replace(/\//g, ''), e.oid);
  return map;
}

/** Notes that differ between two notes commits: annotated object id -> its new blob id, null when removed. */
export async function changedNotes(repo: Repo, from: string, to: string): Promise<Map<string, string | null>> {
  const map = new Map<string, string | null>();
  const out = (await repo.git(['diff-tree', '-z', '-r', '--no-renames', from, to])).stdout.toString('utf8');
  const parts = out.split('\0');
  for (let i = 0; i + 1 < parts.length; i += 2) {
    // ":100644 100644 <old> <new> M" then the path
    const m = /^:\d+ \d+ [0-9a-f]+ ([0-9a-f]+) [A-Z]$/.exec(parts[i]!);
    if (m) map.set(parts[i + 1]!.replace(/\//g, ''), /^0+$/.test(m[1]!) ? null : m[1]!);
  }
  return map;
}

/**
 * A notes commit on `tip` without the notes of `ids` (annotated object ids),
 * or null when none of them has a note. Built from one `ls-tree -r -t`
 * listing: only the directories that lose an entry are written again (in
 * process), the others keep their tree ids, whatever the fan-out. The
 * caller moves the ref (compare-and-swap, usually with other updates).
 */
export async function notesWithout(repo: Repo, tip: string, ids: ReadonlySet<string>, message: string): Promise<string | null> {
  const listing = await lsTree(repo, tip, { recursive: true, trees: true });
  // Directory path ('' for the root) -> its entries by name.
  const dirs = new Map<string, Map<string, TreeEntry>>([['', new Map()]]);
  const parentOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
  const baseOf = (p: string) => p.slice(p.lastIndexOf('/') + 1);
  const dirty = new Set<string>();
  for (const e of listing) {
    if (e.type === 'tree') dirs.set(e.name, new Map());
  }
  for (const e of listing) {
    const parent = dirs.get(parentOf(e.name));
    if (!parent) continue; // ls-tree lists a directory before its entries; a path without one cannot occur
    if (e.type === 'blob' && ids.has(e.name.replace(/\//g, ''))) {
      for (let d = parentOf(e.name); ; d = parentOf(d)) {
        dirty.add(d);
        if (!d) break;
      }
      continue;
    }
    parent.set(baseOf(e.name), { ...e, name: baseOf(e.name) });
  }
  if (!dirty.size) return null;
  // Deepest first, so each directory's new id is known before its parent is written.
  for (const d of [...dirty].sort((a, b) => b.split('/').length - a.split('/').length)) {
    if (!d) continue;
    const entries = [...dirs.get(d)!.values()];
    const parent = dirs.get(parentOf(d))!;
    if (!entries.length) parent.delete(baseOf(d));
    else parent.set(baseOf(d), { mode: '040000', type: 'tree', name: baseOf(d), oid: await writeTree(repo, entries) });
  }
  const tree = await writeTree(repo, [...dirs.get('')!.values()]);
  return writeCommit(repo, { tree, parents: [tip], message });
}
