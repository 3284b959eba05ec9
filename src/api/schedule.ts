/**
 * Schedules: experiments with `"on": {"schedule": "<cron>"}` run against a
 * branch's tip when the expression fires (node-cron, in the daemon). The
 * only module that imports node-cron.
 */
import cron, { type ScheduledTask } from 'node-cron';

export interface ScheduleSpec {
  experiment: string;
  expression: string;
  /** The branch whose tip runs; null: the branch HEAD names when the tick fires. */
  branch: string | null;
}

/** What is wrong with a cron expression, or null when it is valid. */
export function cronProblem(expression: string): string | null {
  const v = cron.validateDetailed(expression);
  if (v.valid) return null;
  return v.errors.map((e) => `${e.field}${e.value !== undefined ? ` '${e.value}'` : ''}: ${e.message}`).join('; ') || 'not a cron expression';
}

/** The times in (from, to] at which the expression fired (per minute, or per second for six fields); at most `cap`. */
export function firings(expression: string, from: Date, to: Date, cap = 1000): Date[] {
  const task = cron.createTask(expression, () => undefined);
  const step = expression.trim().split(/\s+/).length >= 6 ? 1000 : 60_000;
  const out: Date[] = [];
  let t = Math.floor(from.getTime() / step) * step + step;
  // More than a year of minutes is not worth walking: say so by the cap.
  for (let n = 0; t <= to.getTime() && out.length < cap && n < 600_000; t += step, n++) if (task.match(new Date(t))) out.push(new Date(t));
  void task.destroy();
  return out;
}

/** The running schedules of a daemon; update() follows the configuration. */
export class Schedules {
  private readonly tasks = new Map<string, { spec: ScheduleSpec; task: ScheduledTask }>();

  constructor(private readonly onTick: (s: ScheduleSpec, at: Date) => void) {}

  update(specs: ScheduleSpec[]): void {
    const want = new Map(specs.map((s) => [s.experiment, s]));
    for (const [name, t] of this.tasks) {
      const s = want.get(name);
      if (!s || s.expression !== t.spec.expression || s.branch !== t.spec.branch) {
        void t.task.destroy();
        this.tasks.delete(name);
      }
    }
    for (const s of specs) {
      if (this.tasks.has(s.experiment)) continue;
      // noOverlap: a tick whose handler is still busy is not started again.
      const task = cron.schedule(s.expression, (ctx) => this.onTick(s, ctx.date ?? new Date()), { name: `git-run:${s.experiment}`, noOverlap: true });
      this.tasks.set(s.experiment, { spec: s, task });
    }
  }

  stop(): void {
    for (const t of this.tasks.values()) void t.task.destroy();
    this.tasks.clear();
  }
}
