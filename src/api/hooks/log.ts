/**
 * The hook log: `<git common dir>/git-run/hook.log`, one JSON object per line
 * and event, rotated to hook.log.1 past 1 MiB. What `git run hook log` shows
 * and what `git run status` reports failures from.
 */
import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { Repo } from '../../git/repo.js';
import { adjustSharedPerm, mkdirShared, sharedPerm } from '../../git/shared.js';
import { isGitRunError } from '../../errors/index.js';

/** The log is rotated (to hook.log.1) past this size. */
const LOG_LIMIT = 1 << 20;

export const hookLogFile = (repo: Repo): string => path.join(repo.stateDir, 'hook.log');

export interface HookEvent {
  at: string;
  hook: string;
  /** One invocation of the hook (one commit, or one background worker): its events share this. */
  inv: string;
  /** ok: the configuration was read and acted on; info: nothing was asked of it (skipped, superseded, a worker's account); error: something failed. */
  level: 'ok' | 'info' | 'error';
  event: 'submitted' | 'nothing' | 'skipped' | 'superseded' | 'failed' | 'drained';
  commit: string | null;
  branch: string | null;
  experiment: string | null;
  message: string;
  hint?: string;
  /** Runs this event made (a group first, then its new children) or cancelled. */
  runs?: string[];
  /** drained: the background worker that handled the noted commits (its process, when it held the queue, how many commits). */
  worker?: { pid: number; start: string; end: string; commits: number };
}

export class HookLog {
  readonly events: HookEvent[] = [];
  private readonly inv = `${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  commit: string | null = null;
  branch: string | null = null;

  constructor(
    private readonly repo: Repo,
    private readonly hook: string,
  ) {}

  async add(level: HookEvent['level'], event: HookEvent['event'], experiment: string | null, message: string, extra: { hint?: string; runs?: string[]; worker?: HookEvent['worker'] } = {}): Promise<void> {
    const e: HookEvent = { at: new Date().toISOString(), hook: this.hook, inv: this.inv, level, event, commit: this.commit, branch: this.branch, experiment, message, ...extra };
    this.events.push(e);
    // Logging never fails the hook: a full disk loses the line, not the commit.
    try {
      const file = hookLogFile(this.repo);
      const perm = await sharedPerm(this.repo);
      mkdirShared(perm, path.dirname(file));
      const st = await fs.stat(file).catch(() => null);
      const rotate = !!st && st.size > LOG_LIMIT;
      if (rotate) await fs.rename(file, file + '.1').catch(() => undefined);
      await fs.appendFile(file, JSON.stringify(e) + '\n');
      if (!st || rotate) adjustSharedPerm(perm, file);
    } catch {
      /* nowhere left to say it */
    }
  }

  async fail(experiment: string | null, e: unknown): Promise<void> {
    if (isGitRunError(e)) await this.add('error', 'failed', experiment, e.message, e.hint ? { hint: e.hint } : {});
    else await this.add('error', 'failed', experiment, `git-run failed unexpectedly (a bug): ${(e as Error)?.stack ?? String(e)}`, { hint: 'report it with the hook log (`git run hook log`)' });
  }
}

function parseLog(text: string): HookEvent[] {
  const out: HookEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as HookEvent;
      if (e && typeof e.at === 'string' && typeof e.message === 'string') out.push(e);
    } catch {
      /* a torn line */
    }
  }
  return out;
}

/** The hook log's events, oldest first: the last `limit` of them (0 or absent: all). */
export async function hookLog(repo: Repo, limit = 0): Promise<HookEvent[]> {
  const file = hookLogFile(repo);
  const read = (f: string) => fs.readFile(f, 'utf8').catch(() => '');
  let events = parseLog(await read(file));
  if (!limit || events.length < limit) events = [...parseLog(await read(file + '.1')), ...events];
  return limit ? events.slice(-limit) : events;
}

/**
 * What `git run status` reports: the failures of the hook invocations after
 * the last one that worked (read its configuration and submitted, or found
 * nothing to submit, without a failure). Empty when all is well.
 */
export async function hookProblems(repo: Repo): Promise<HookEvent[]> {
  if (!existsSync(hookLogFile(repo))) return [];
  const byInv = new Map<string, HookEvent[]>();
  for (const e of await hookLog(repo)) byInv.set(e.inv, [...(byInv.get(e.inv) ?? []), e]);
  let problems: HookEvent[] = [];
  for (const events of byInv.values()) {
    const errors = events.filter((e) => e.level === 'error');
    if (errors.length) problems.push(...errors);
    else if (events.some((e) => e.level === 'ok')) problems = [];
  }
  return problems;
}
