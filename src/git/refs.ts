/**
 * Every ref namespace git-run writes, in one place.
 *
 *   refs/runs/3f2a9c0e5b7d...(full object id)   one ref per run and per group;
 *                                              points at the run's newest state commit
 *   refs/notes/runs                             line-oriented metadata events, one note
 *                                              per run, attached to its spec commit
 */
export const RUNS_PREFIX = 'refs/runs/';
export const NOTES_REF = 'refs/notes/runs';

/** A run's ref, parsed and formatted in one place. */
export class RunRef {
  constructor(readonly id: string) {}
  get name(): string {
    return RUNS_PREFIX + this.id;
  }
  static parse(refname: string): RunRef | null {
    if (!refname.startsWith(RUNS_PREFIX)) return null;
    const id = refname.slice(RUNS_PREFIX.length);
    return /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(id) ? new RunRef(id) : null;
  }
}
