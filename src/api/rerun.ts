/**
 * `git run rerun <run>` (DataLad's rerun): the recorded command, parameters,
 * seed, declared environment, deps, inputs, host and run_args submitted
 * again, on the current code (or, with sameCode, on the recorded snapshot).
 * Memoization applies as for any submission: with nothing changed the
 * recorded run itself is what comes back (`force` runs it again).
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { Repo } from '../git/repo.js';
import { readRun, resolveRun } from '../store/runs.js';
import { ErrorCode, GitRunError } from '../errors/index.js';
import type { RunInput } from '../core/record.js';
import type { SubmitOptions } from './submit.js';

export interface RerunOptions {
  /** Run the recorded snapshot instead of the work tree's code. */
  sameCode?: boolean;
  /** run_args for this submission (force, skip...), over the recorded ones. */
  runArgs?: Record<string, unknown>;
  /** Another host profile than the recorded one. */
  host?: string;
}

/** run_args that decided only how the original submission went: not carried over. */
const PER_SUBMISSION = ['skip', 'force', 'force_ignores_success', 'send_ignore', 'fetch_ignore'];

/** The submission that reruns a run. */
export async function rerunOptions(repo: Repo, name: string, o: RerunOptions = {}): Promise<SubmitOptions> {
  const run = await readRun(repo, await resolveRun(repo, name));
  const spec = run.spec;
  if (spec.kind === 'group') {
    throw new GitRunError(ErrorCode.BadOption, `${run.id.slice(0, 12)} is a group: rerun one of its children, or submit its definition again`, `its children: \`git run show ${run.id.slice(0, 12)}\`; the definition came from ${spec.source ?? 'an unknown source'}`, { id: run.id });
  }
  const legacy = spec.inputs.filter((i): i is string => typeof i === 'string');
  if (legacy.length) {
    throw new GitRunError(ErrorCode.BadOption, `${run.id.slice(0, 12)} records inputs as unchecked text (${legacy.map((t) => JSON.stringify(t)).join(', ')}), from before inputs were resolved`, 'submit it again with -i for each input');
  }
  const recorded: Record<string, unknown> = { ...(spec.runArgsFrom?.runner ?? {}), ...(spec.runArgsFrom?.temporary ?? {}) };
  for (const k of PER_SUBMISSION) delete recorded[k];
  const top = repo.topLevel!;
  const cwd = path.join(top, spec.cwd);
  return {
    cwd: existsSync(cwd) ? cwd : top,
    command: spec.command,
    assignments: Object.entries(spec.params).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`),
    seed: spec.seed,
    host: o.host ?? spec.host,
    env: spec.env,
    runArgs: { ...recorded, ...(o.runArgs ?? {}) },
    ...(spec.keyParts?.deps ? { deps: spec.keyParts.deps.map((d) => (d.startsWith(':') ? d : `:(top)${d}`)) } : {}),
    // Recorded paths are from the top, wherever the command ran.
    ...(spec.inputs.length ? { inputs: (spec.inputs as RunInput[]).map(inputSpecOf), inputsAtTop: true } : {}),
    ...(o.sameCode ? { code: spec.code } : {}),
    ...(spec.source ? { source: spec.source } : {}),
    ...(spec.name ? { name: spec.name } : run.meta.name ? { name: run.meta.name } : {}),
  };
}

/** An input as `-i` takes it: `dest=<run>:<path>` or `dest=<work-tree path>`. */
export function inputSpecOf(i: RunInput): string {
  const from = i.from ? `${i.from.run}:${i.from.path}` : i.worktree!;
  return from === i.path ? from : `${i.path}=${from}`;
}
