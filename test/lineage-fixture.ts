/**
 * Runs that consume other runs' outputs, written through the library as
 * submission writes them (run.json's inputs, the spec commit's parents the
 * upstream runs' finishing commits), for lineage tests that need shapes the
 * command line cannot make: records from a hostile clone (a cycle, an
 * upstream that is not here, text inputs of old records), and many runs fast.
 */
import crypto from 'node:crypto';
import { openRepo } from '../src/git/repo.js';
import { lsTreeIfAny } from '../src/git/objects.js';
import { publishRuns, readRun, recordEnd, writeSpecCommit } from '../src/store/runs.js';
import type { RunInput, RunSpec } from '../src/core/record.js';

export type FixtureInput =
  /** `path` among the outputs of run `run` (a full id), placed at `dest` (default: the same path). */
  | { run: string; path: string; dest?: string }
  /** Work-tree data: its content and where it was read from. */
  | { worktree: string; content: string; dest?: string }
  /** Anything else, written into run.json as it is (old unchecked text, a hostile record). */
  | { raw: unknown; parents?: string[] };

/**
 * A finished (succeeded) run of `true` on the code of run `codeOf`, with these
 * inputs, name and outputs (path -> content). Returns its id.
 */
export async function writeRun(dir: string, codeOf: string, opts: { inputs?: FixtureInput[]; name?: string; outputs?: Record<string, string> } = {}): Promise<string> {
  const repo = await openRepo(dir);
  const base = await readRun(repo, codeOf);
  const inputs: Array<RunInput | string> = [];
  const parents: string[] = [];
  for (const i of opts.inputs ?? []) {
    if ('raw' in i) {
      inputs.push(i.raw as RunInput);
      parents.push(...(i.parents ?? []));
    } else if ('run' in i) {
      const up = await readRun(repo, i.run);
      const slash = i.path.lastIndexOf('/');
      const entry = (await lsTreeIfAny(repo, `${up.tip}:outputs${slash < 0 ? '' : `/${i.path.slice(0, slash)}`}`)).find((e) => e.name === i.path.slice(slash + 1));
      if (!entry) throw new Error(`run ${i.run} has no output ${i.path}`);
      inputs.push({ path: i.dest ?? i.path, oid: entry!.oid, type: entry!.type === 'tree' ? 'tree' : 'blob', mode: entry!.mode, size: entry!.size ?? 0, from: { run: up.id, path: i.path } });
      if (!parents.includes(up.tip)) parents.push(up.tip);
    } else {
      const oid = crypto.createHash('sha1').update(`blob ${Buffer.byteLength(i.content)}\0${i.content}`).digest('hex');
      inputs.push({ path: i.dest ?? i.worktree, oid, type: 'blob', mode: '100644', size: Buffer.byteLength(i.content), worktree: i.worktree });
    }
  }
  const spec: RunSpec = {
    ...base.spec,
    command: ['true'],
    params: {},
    inputs,
    parent: null,
    createdAt: new Date().toISOString(),
    key: crypto.randomBytes(32).toString('hex'),
    nonce: crypto.randomBytes(8).toString('hex'),
  };
  delete spec.keyParts;
  const meta = { name: opts.name ?? null, notes: null, tags: [] };
  const view = await writeSpecCommit(repo, spec, meta, parents);
  const events = opts.name ? [{ at: spec.createdAt, by: spec.creator, set: { name: opts.name } }] : [];
  await publishRuns(repo, [{ id: view.id, tip: view.tip }], { id: view.id, events });
  let outputsTree: string | null = null;
  if (opts.outputs && Object.keys(opts.outputs).length) {
    const { writeBlob, writeTree, blobEntry } = await import('../src/git/objects.js');
    const entries = [];
    for (const [p, c] of Object.entries(opts.outputs)) entries.push(blobEntry(p, await writeBlob(repo, c)));
    outputsTree = await writeTree(repo, entries);
  }
  const now = new Date().toISOString();
  const done = await recordEnd(repo, view, {
    result: { status: 'succeeded', exitCode: 0, signal: null, error: null, startedAt: now, endedAt: now, host: null },
    stdoutData: Buffer.from(''),
    stderrData: Buffer.from(''),
    outputsTree,
  });
  if (!done) throw new Error('the fixture run could not be finished');
  return view.id;
}
