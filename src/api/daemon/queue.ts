/**
 * The queue's order and what to start, as pure functions (Accio's model,
 * decision 0007): a queued run's place is (its index in its group, its
 * submission time, its id), so the first children of every group go before
 * any second child and each submitted group progresses at once. Each host
 * takes up to its capacity, running runs included. The order derives from
 * immutable records only, so a restarted daemon computes the same one.
 */

export interface QueuedRun {
  id: string;
  host: string;
  /** Its index in its group's children (0 for a single run). */
  rank: number;
  /** When it was submitted (ISO 8601, as recorded). */
  createdAt: string;
}

/** Queued runs in dispatch order: by child index, then submission time, then id. */
export function dispatchOrder<T extends QueuedRun>(queued: readonly T[]): T[] {
  return [...queued].sort((a, b) => a.rank - b.rank || (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * What to start now: the queued runs (in dispatch order) that fit, given how
 * many runs each host already runs and how many it takes. A run that does
 * not fit does not hold up runs of other hosts behind it.
 */
export function runsToStart<T extends QueuedRun>(ordered: readonly T[], running: ReadonlyMap<string, number>, capacity: (host: string) => number): T[] {
  const used = new Map(running);
  const out: T[] = [];
  for (const q of ordered) {
    const n = used.get(q.host) ?? 0;
    if (n >= capacity(q.host)) continue;
    used.set(q.host, n + 1);
    out.push(q);
  }
  return out;
}

/** The runs to prepare ahead of their turn (their code checked out): the next `capacity` waiting runs of each host. */
export function runsToPrepare<T extends QueuedRun>(waiting: readonly T[], capacity: (host: string) => number): T[] {
  return runsToStart(waiting, new Map(), capacity);
}
