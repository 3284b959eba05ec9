/**
 * Editing a run's mutable metadata (name, notes, tags) at any time.
 */
import type { Repo } from '../git/repo.js';
import { addMetadata, type RunView } from '../store/runs.js';
import type { MetadataEvent } from '../core/record.js';
import { getRun } from './query.js';

export interface MetadataEdit {
  name?: string;
  notes?: string;
  tag?: string[];
  untag?: string[];
}

export async function editRun(repo: Repo, name: string, edit: MetadataEdit): Promise<RunView> {
  // A child has no metadata of its own: editing it edits its group (Accio).
  const run = await getRun(repo, name);
  const view = run.spec.parent ? await getRun(repo, run.spec.parent) : run;
  const id = await repo.ident();
  const e: MetadataEvent = { at: new Date().toISOString(), by: `${id.name} <${id.email}>` };
  const set: NonNullable<MetadataEvent['set']> = {};
  if (edit.name !== undefined) set.name = edit.name;
  if (edit.notes !== undefined) set.notes = edit.notes;
  if (Object.keys(set).length) e.set = set;
  if (edit.tag?.length) e.tag = edit.tag;
  if (edit.untag?.length) e.untag = edit.untag;
  await addMetadata(repo, view.id, [e]);
  return getRun(repo, run.id);
}
