/**
 * Deleting runs from git: one compare-and-swap transaction deletes their refs,
 * moves the notes ref to a notes commit without their metadata, and gives
 * every group that stays but listed one of them a new state commit whose
 * children.json no longer names it (so `show`, `compare` and `log` of the
 * group read only runs that exist). Any ref that moved since it was read
 * aborts the whole transaction: the caller reads again and decides again.
 */
import type { Repo } from '../git/repo.js';
import { NOTES_REF, RunRef } from '../git/refs.js';
import { blobEntry, editEntries, revParse, writeBlob, writeCommit } from '../git/objects.js';
import { notesWithout } from '../git/notes.js';
import { updateRefs, type RefUpdate } from '../git/transaction.js';
import type { GroupChild } from '../core/record.js';
import { RunReader } from './runs.js';

export interface Deletion {
  /** Every run and group that goes, at the tip it was read at. */
  runs: Array<{ id: string; tip: string }>;
  /** Groups that stay: at the tip read, and the runs their children.json must no longer list. */
  groups: Array<{ id: string; tip: string; drop: ReadonlySet<string> }>;
}

/** Apply a deletion atomically. False when another process moved one of the refs first (nothing was changed).
 * `whileApplying`: work that overlaps git's (see updateRefs). */
export async function deleteRuns(repo: Repo, d: Deletion, message: string, opts: { whileApplying?: () => void } = {}): Promise<boolean> {
  if (!d.runs.length && !d.groups.length) return true;
  const updates: RefUpdate[] = d.runs.map((r) => ({ ref: new RunRef(r.id).name, delete: true as const, old: r.tip }));
  if (d.groups.length) {
    const reader = new RunReader(repo);
    try {
      for (const g of d.groups) {
        const view = await reader.read(g.id, g.tip);
        const kept: GroupChild[] = (view.children ?? []).filter((c) => !g.drop.has(c.id));
        const blob = await writeBlob(repo, JSON.stringify(kept, null, 1) + '\n');
        const { tree } = await editEntries(repo, view.entries, { 'children.json': blobEntry('children.json', blob) });
        const gone = (view.children?.length ?? 0) - kept.length;
        const tip = await writeCommit(repo, { tree, parents: [g.tip], message: `children: ${kept.length} (${gone} deleted)\n` });
        updates.push({ ref: new RunRef(g.id).name, update: tip, old: g.tip });
      }
    } finally {
      reader.close();
    }
  }
  const notesTip = await revParse(repo, NOTES_REF);
  if (notesTip) {
    const next = await notesWithout(repo, notesTip, new Set(d.runs.map((r) => r.id)), `git-run: ${message}\n`);
    if (next) updates.push({ ref: NOTES_REF, update: next, old: notesTip });
  }
  return updateRefs(repo, updates, `git-run: ${message}`, opts);
}
