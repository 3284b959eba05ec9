/**
 * A run's final status, from what its executor observed, for every executor:
 * the one place that says when a run succeeded. Pure: no files, no git, no
 * host; the table is in docs/decisions/0008-executor-seam.md.
 */
import type { RunResult } from '../core/record.js';

/** How the command ended, as the executor saw it; null when nothing says (no exit record). */
export interface ObservedExit {
  /** The exit code; null when the command did not exit by itself (a signal, or it never started). */
  code: number | null;
  /** The signal that ended it, when the executor knows it. */
  signal: string | null;
  /** Why it did not run normally, in words (could not start, command not found...); null when it ran. */
  error: string | null;
  /** What the executor can add about an exit that failed without an error (a shell's 128+n: "killed by signal n?"). */
  note?: string | null;
}

/** What became of the run's outputs. */
export type ObservedOutputs =
  | { collected: true }
  /** They could not be taken in: the run directory is gone, the archive was refused... The reason is recorded as it is: a sentence that says the outputs were not taken. */
  | { collected: false; reason: string };

export interface Observed {
  /** The run was recorded as started (it has a state commit). */
  started: boolean;
  exit: ObservedExit | null;
  /** A cancel was asked for (the marker exists). */
  cancelRequested: boolean;
  /** Null when collection was not tried (with no exit record there is nothing to collect from; with one, null counts as not collected). */
  outputs: ObservedOutputs | null;
  /** Why the end is unknown, when the executor knows more than "no exit record". */
  lostReason?: string | null;
}

export interface FinalStatus {
  status: RunResult['status'];
  /** The reason, in words; null for a run that succeeded (or failed with nothing more to say). */
  error: string | null;
}

const clean = (e: ObservedExit) => e.code === 0 && !e.signal && !e.error;

/**
 * The table:
 *   no exit record, cancel asked, never started   cancelled  "cancelled before it started"
 *   no exit record                                lost       the lost reason
 *   exit, cancel asked, not a clean exit          cancelled  the exit's error, else "cancelled"
 *   clean exit (0, no signal, no error), outputs  succeeded
 *   clean exit, outputs not collected             failed     the outputs' reason
 *   any other exit                                failed     the exit's error, else the outputs' reason, else the exit's note
 * A cancel that arrives after a clean exit does not rewrite history. Outputs
 * that cannot be collected never make a run succeeded: the command's end is
 * known, so the run is not lost, but its result is not all there (decision 0008).
 */
export function finalStatus(o: Observed): FinalStatus {
  const exit = o.exit;
  if (!exit) {
    if (o.cancelRequested && !o.started) return { status: 'cancelled', error: 'cancelled before it started' };
    return { status: 'lost', error: o.lostReason ?? 'the exit status was never recorded' };
  }
  // An exit with no word on the outputs counts as outputs not collected: success must be shown, not assumed.
  const missing = o.outputs?.collected ? null : o.outputs ? o.outputs.reason : 'its outputs were not collected';
  if (o.cancelRequested && !clean(exit)) return { status: 'cancelled', error: exit.error ?? 'cancelled' };
  if (clean(exit)) return missing === null ? { status: 'succeeded', error: null } : { status: 'failed', error: missing };
  return { status: 'failed', error: exit.error ?? missing ?? exit.note ?? null };
}
