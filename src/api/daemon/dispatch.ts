/**
 * The daemon's dispatcher: the queue in memory, refreshed from the index
 * when a submission wakes the daemon (SIGUSR2) and every two seconds; between
 * refreshes a freed slot takes the next run at once, as xargs would. What
 * to start is ./queue.ts's pure choice; this module keeps what is in flight,
 * starts runs through their executor and records their ends in the
 * background.
 *
 * Exactly once: a run starts only through the compare-and-swap of its start
 * commit (Executor.start returns null when someone else has it).
 */
import type { Repo } from '../../git/repo.js';
import { RunReader, type RunView } from '../../store/runs.js';
import { failpoint } from '../../core/failpoint.js';
import type { GroupChild } from '../../core/record.js';
import { executorFor, type Executor, type Started } from '../../executors/index.js';
import { openIndex } from '../query.js';
import { dispatchOrder, runsToPrepare, runsToStart, type QueuedRun } from './queue.js';

interface Pending extends QueuedRun {
  tip: string;
  parent: string | null;
}

export class Dispatcher {
  /** Runs started by this daemon whose command has not ended: they hold a slot. */
  private readonly inflight = new Map<string, { host: string; done: Promise<void> }>();
  /** Runs this daemon started that the index may still show running. */
  private readonly ours = new Set<string>();
  /** Ends being recorded in the background. */
  private readonly recording = new Set<Promise<void>>();
  /** Runs checked out ahead of their turn, and the views read for them. */
  private readonly prepared = new Map<string, Promise<void>>();
  private readonly views = new Map<string, RunView>();
  /** Per group: its children's places (index in children.json). */
  private readonly ranks = new Map<string, Map<string, number>>();
  private pending: Pending[] = [];
  /** Running runs of each host that this daemon did not start (counted against max_parallel). */
  private others = new Map<string, number>();
  private refreshWanted = true;
  private lastRefresh = 0;
  private reader: RunReader | null = null;
  private dispatching: Promise<void> | null = null;
  private again = false;
  stopping = false;

  constructor(
    private readonly repo: Repo,
    private readonly capacity: (host: string) => number,
    private readonly log: (line: string) => void,
  ) {}

  /** A submission happened: read the queue from git again on the next pass. */
  wanted(): void {
    this.refreshWanted = true;
  }

  /** Whether this daemon has the run's command in flight (its watch leaves it alone). */
  has(id: string): boolean {
    return this.inflight.has(id);
  }

  /** One pass at a time: the loop and freed slots both ask for one. */
  soon(): Promise<void> {
    if (this.dispatching) {
      this.again = true;
      return this.dispatching;
    }
    this.dispatching = (async () => {
      do {
        this.again = false;
        try {
          await this.pass();
        } catch (e) {
          this.log(`error: ${e instanceof Error ? e.message : String(e)}`);
        }
      } while (this.again && !this.stopping);
    })().finally(() => (this.dispatching = null));
    return this.dispatching;
  }

  /** Wait for the commands in flight to end and their records to be written. */
  async drain(): Promise<void> {
    if (this.inflight.size) this.log(`waiting for ${this.inflight.size} run(s) to end`);
    await Promise.all([...this.inflight.values()].map((f) => f.done));
    await Promise.all([...this.recording]);
  }

  close(): void {
    this.reader?.close();
    this.reader = null;
  }

  private readerOf(): RunReader {
    return (this.reader ??= new RunReader(this.repo));
  }

  /** The place of a queued child in dispatch order: its index in its group (0 for a single run). */
  private async rankOf(id: string, parent: string | null, parentTip: string | undefined): Promise<number> {
    if (!parent) return 0;
    let r = this.ranks.get(parent);
    if (!r) {
      const kids = parentTip ? await this.readerOf().readObject(`${parentTip}:children.json`) : null;
      const list = kids ? (JSON.parse(kids.data.toString('utf8')) as GroupChild[]) : [];
      r = new Map(list.map((c, i) => [c.id, i]));
      this.ranks.set(parent, r);
    }
    return r.get(id) ?? 0;
  }

  private async refreshQueue(): Promise<void> {
    const index = await openIndex(this.repo);
    try {
      const queued = index.queuedForDaemon().filter((q) => !this.inflight.has(q.id));
      const tips = new Map(index.rows([...new Set(queued.flatMap((q) => (q.parent ? [q.id, q.parent] : [q.id])))]).map((r) => [r.id, r.tip]));
      const list: Pending[] = [];
      for (const q of queued) {
        const tip = tips.get(q.id);
        if (!tip) continue;
        list.push({ ...q, tip, rank: await this.rankOf(q.id, q.parent, q.parent ? tips.get(q.parent) : undefined) });
      }
      this.pending = dispatchOrder(list);
      // Runs this daemon started are counted by inflight while their command runs, and not at all once it
      // has ended (their slot is free), though the index may still say running (a record being written, or
      // written after the index looked). An id is forgotten once the index no longer says running.
      const workload = index.workload();
      const stillRunning = new Set(workload.flatMap((w) => w.running));
      for (const id of this.ours) if (!stillRunning.has(id) && !this.inflight.has(id)) this.ours.delete(id);
      this.others = new Map(workload.map((w) => [w.host, w.running.filter((id) => !this.inflight.has(id) && !this.ours.has(id)).length]));
    } finally {
      index.close();
    }
  }

  /** How many runs each host runs now: others' and this daemon's in flight. */
  private running(): Map<string, number> {
    const used = new Map(this.others);
    for (const f of this.inflight.values()) used.set(f.host, (used.get(f.host) ?? 0) + 1);
    return used;
  }

  private async pass(): Promise<void> {
    if (this.stopping) return;
    if (this.refreshWanted || Date.now() - this.lastRefresh > 2000) {
      this.refreshWanted = false;
      this.lastRefresh = Date.now();
      await this.refreshQueue();
    }
    const tried = new Set<string>();
    // Runs an executor can start together (Slurm: one job array), by host: started after the others are taken.
    const together = new Map<string, Claimed[]>();
    for (const q of runsToStart(this.pending.filter((q) => !this.inflight.has(q.id)), this.running(), this.capacity)) {
      if (this.stopping) break;
      tried.add(q.id);
      if (this.views.get(q.id)?.status === 'queued' || !this.views.has(q.id)) {
        const view = this.views.get(q.id) ?? (await this.readerOf().read(q.id, q.tip));
        this.views.set(q.id, view);
        const ex = (() => {
          try {
            return executorFor(view);
          } catch {
            return null;
          }
        })();
        if (ex?.startMany && !ex.checksLocally) {
          const c = await this.claim(q);
          if (c === null) this.again = true;
          else if (c) together.set(q.host, [...(together.get(q.host) ?? []), c]);
          continue;
        }
      }
      // A run found not queued any more (cancelled, started by someone else) leaves its slot free: look again.
      if (!(await this.start(q))) this.again = true;
    }
    for (const claimed of together.values()) this.startTogether(claimed);
    this.pending = this.pending.filter((q) => !this.inflight.has(q.id) && !tried.has(q.id));
    // Check the next runs out ahead of their turn (one per slot), as a sweep does: a freed slot then only has to start.
    for (const q of runsToPrepare(this.pending, this.capacity)) {
      if (this.prepared.has(q.id)) continue;
      const view = this.views.get(q.id) ?? (await this.readerOf().read(q.id, q.tip));
      this.views.set(q.id, view);
      if (view.status !== 'queued') continue;
      const m = executorFor(view).prepareCode(this.repo, view);
      if (!m) continue;
      m.catch(() => undefined); // a failure is recorded when the run starts
      this.prepared.set(q.id, m);
    }
  }

  /**
   * Take one queued run for this daemon: its slot is held from here on. Null when it was not queued any
   * more; false when it cannot start here (already logged and freed).
   */
  private async claim(q: Pending): Promise<Claimed | null | false> {
    failpoint('daemon:before-dispatch');
    const view = this.views.get(q.id) ?? (await this.readerOf().read(q.id, q.tip));
    this.views.delete(q.id);
    if (view.status !== 'queued') return null;
    let freed!: () => void;
    const done = new Promise<void>((resolve) => (freed = resolve)).finally(() => {
      this.inflight.delete(q.id);
      // The freed slot takes the next run now, not at the loop's next turn.
      void this.soon();
    });
    this.inflight.set(q.id, { host: q.host, done });
    this.ours.add(q.id);
    this.log(`dispatched ${q.id.slice(0, 12)} on ${q.host}${q.parent ? ` (child ${q.rank + 1} of ${q.parent.slice(0, 12)})` : ''}`);
    const fail = (e: unknown) => this.log(`run ${q.id.slice(0, 12)}: ${e instanceof Error ? e.message : String(e)}`);
    // Dispatched: the start is not recorded yet.
    failpoint('daemon:after-dispatch');
    const code = this.prepared.get(q.id) ?? null;
    this.prepared.delete(q.id);
    try {
      return { q, view, executor: executorFor(view), code, freed, fail };
    } catch (e) {
      fail(e); // a host type this version does not know
      freed();
      return false;
    }
  }

  /** Follow a start: the slot frees when the command ends (or the start fails); the record is written in the background. */
  private track(c: Claimed, starting: Promise<Started | null>): Promise<void> {
    return starting.then(
      (started) => {
        if (!started) return c.freed(); // someone else started (or cancelled) it: compare-and-swap
        void started.ended.then(
          () => {
            c.freed();
            const rec = started.finish().then(() => undefined, c.fail);
            this.recording.add(rec);
            void rec.finally(() => this.recording.delete(rec));
          },
          (e: unknown) => {
            // It can no longer be followed from here (a dropped connection): the watch reattaches later.
            c.fail(e);
            c.freed();
          },
        );
      },
      (e: unknown) => {
        c.fail(e);
        c.freed();
      },
    );
  }

  /** Run one queued run. False when it was not queued any more. */
  private async start(q: Pending): Promise<boolean> {
    const c = await this.claim(q);
    if (c === null) return false;
    if (c === false) return true;
    const starting = this.track(c, c.executor.start(this.repo, c.view, { prepared: c.code }));
    // A start on this machine is quick: awaited, so runs start in the queue's order. One that
    // reaches a host may wait on it (a connect timeout) and must not hold up the queue.
    if (c.executor.checksLocally) await starting;
    return true;
  }

  /**
   * Runs of one host whose executor starts several at once (a scheduler's job array): one call for all
   * that this pass takes, not one each. The daemon's slots already bound them: no throttle of its own.
   */
  private startTogether(claimed: Claimed[]): void {
    const executor = claimed[0]!.executor;
    const all = executor.startMany!(this.repo, claimed.map((c) => c.view), { maxParallel: null });
    claimed.forEach((c, i) => void this.track(c, all.then((a) => a[i] ?? null)));
  }
}

interface Claimed {
  q: Pending;
  view: RunView;
  executor: Executor;
  code: Promise<void> | null;
  freed: () => void;
  fail: (e: unknown) => void;
}
