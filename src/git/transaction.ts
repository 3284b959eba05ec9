/**
 * Ref updates as one atomic transaction through `git update-ref --stdin`:
 * every update names the value it expects to replace (compare-and-swap), and
 * one failing update aborts them all. https://git-scm.com/docs/git-update-ref
 */
import type { Repo } from './repo.js';
import { GitCommandError } from '../errors/index.js';
import { spawnGit } from './gateway.js';

export type RefUpdate =
  | { ref: string; create: string }
  | { ref: string; update: string; old: string }
  | { ref: string; delete: true; old: string };

/** Apply the updates atomically. Returns false when another process got there
 * first (a ref moved, already exists, or is locked); throws on anything else.
 * `whileApplying` runs while git applies them (thousands of refs take seconds):
 * it must not depend on the outcome, which the caller learns afterwards. */
export async function updateRefs(repo: Repo, updates: RefUpdate[], message = 'git-run', opts: { whileApplying?: () => void } = {}): Promise<boolean> {
  if (repo.refUpdater) {
    const p = repo.refUpdater.update(updates);
    opts.whileApplying?.();
    return p;
  }
  const lines = updates.map((u) => {
    if ('create' in u) return `create ${u.ref} ${u.create}`;
    if ('update' in u) return `update ${u.ref} ${u.update} ${u.old}`;
    return `delete ${u.ref} ${u.old}`;
  });
  const r = await repo.git(['update-ref', '-m', message, '--stdin'], { input: lines.join('\n') + '\n', okCodes: [128], whileRunning: opts.whileApplying });
  if (r.code === 0) return true;
  if (/cannot lock ref|but expected|already exists|File exists|unable to resolve reference|reference already exists|is at .* but expected/i.test(r.stderr)) {
    return false;
  }
  throw new GitCommandError(['update-ref', '--stdin'], r.code, r.stderr);
}

/** Retry an optimistic operation with growing, jittered back-off. */
export async function withRetries<T>(attempt: () => Promise<T | undefined>, tries = 200): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await attempt();
    if (v !== undefined) return v;
    const ms = Math.min(200, 2 + i * 3) * (0.5 + Math.random());
    await new Promise((r) => setTimeout(r, ms));
  }
  throw new Error(`gave up after ${tries} attempts: another process keeps winning the race`);
}

/**
 * A long-lived `git update-ref --stdin` taking one transaction after another
 * (start / update... / prepare / commit), for a sweep that advances hundreds
 * of refs: one process instead of one per update. A transaction git refuses
 * ends that process (git dies on a failed prepare); the next one starts anew.
 */
export class RefUpdater {
  private child: ReturnType<typeof spawnGit> | null = null;
  private buf = '';
  private waiters: Array<(line: string | null) => void> = [];
  /** Lines that arrived before anyone asked for them. */
  private lines: string[] = [];
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly repo: Repo) {}

  private ensure(): ReturnType<typeof spawnGit> {
    if (this.child) return this.child;
    const child = spawnGit(['update-ref', '--stdin'], this.repo.processOptions());
    this.buf = '';
    this.lines = [];
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined);
    child.on('close', () => {
      if (this.child === child) this.child = null;
      for (const w of this.waiters.splice(0)) w(null);
      this.lastError = stderr;
    });
    this.child = child;
    return child;
  }

  lastError = '';

  private line(): Promise<string | null> {
    if (this.lines.length) return Promise.resolve(this.lines.shift()!);
    if (!this.child) return Promise.resolve(null);
    return new Promise((r) => this.waiters.push(r));
  }

  /** Same contract as updateRefs: false when another process got there first. */
  update(updates: RefUpdate[]): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      const child = this.ensure();
      const body = updates.map((u) => ('create' in u ? `create ${u.ref} ${u.create}` : 'update' in u ? `update ${u.ref} ${u.update} ${u.old}` : `delete ${u.ref} ${u.old}`));
      child.stdin.write(['start', ...body, 'prepare', 'commit', ''].join('\n'));
      for (const want of ['start: ok', 'prepare: ok', 'commit: ok']) {
        const got = await this.line();
        if (got === null) {
          if (/cannot lock ref|but expected|already exists|File exists|reference already exists/i.test(this.lastError)) return false;
          throw new GitCommandError(['update-ref', '--stdin'], 128, this.lastError);
        }
        if (got !== want) throw new GitCommandError(['update-ref', '--stdin'], null, `unexpected answer '${got}'`);
      }
      return true;
    };
    // One transaction at a time through the pipe.
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.child?.stdin.end();
    this.child = null;
  }
}
