/**
 * Reading a run's logs, live or recorded. While a run is active on this
 * host its output is read from the files the command writes; once it is
 * recorded, from git. Offsets carry over, so following a run from start to
 * end prints every byte exactly once even when the files are removed after
 * the record is written (--leave none).
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import type { Repo } from '../git/repo.js';
import { readBlob, revParse } from '../git/objects.js';
import { RunRef } from '../git/refs.js';
import { readRun, type RunView } from '../store/runs.js';
import { exitFile, liveLogFile } from '../executors/local.js';
import { isRemote, refreshRun as refresh } from '../executors/index.js';
import { connectionFor, pollRemote } from '../executors/ssh.js';
import { isFinal } from '../core/record.js';

export type Stream = 'stdout' | 'stderr';
export type Sink = (stream: Stream, chunk: Buffer) => void;

/** A recorded log (empty while the run is active). */
export async function recordedLog(repo: Repo, view: RunView, stream: Stream): Promise<Buffer> {
  return (await readBlob(repo, `${view.tip}:logs/${stream}`)) ?? Buffer.alloc(0);
}

/** New bytes of a file from `offset` (empty when it does not exist yet). */
async function readFrom(file: string, offset: number): Promise<Buffer> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const { size } = fstatSync(fd);
    if (size <= offset) return Buffer.alloc(0);
    const buf = Buffer.alloc(size - offset);
    const n = readSync(fd, buf, 0, buf.length, offset);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Reads new bytes of a run's live log files on each poll. */
export class LogTail {
  private readonly offsets: Record<Stream, number> = { stdout: 0, stderr: 0 };
  constructor(private readonly sink: Sink) {}

  async poll(controlDir: string): Promise<void> {
    for (const s of ['stdout', 'stderr'] as const) {
      const chunk = await readFrom(path.join(controlDir, s), this.offsets[s]);
      if (chunk.length) {
        this.offsets[s] += chunk.length;
        this.sink(s, chunk);
      }
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FollowOptions {
  streams: Stream[];
  /** Keep reading until the run is recorded as ended. */
  follow: boolean;
  /** Stop early (e.g. on Ctrl-C); the current view is returned. */
  stopped?: () => boolean;
}

/** Emit the run's output; with follow, until it ends. Returns the last view read. */
export async function streamLogs(repo: Repo, id: string, sink: Sink, opts: FollowOptions): Promise<RunView> {
  const offsets: Record<Stream, number> = { stdout: 0, stderr: 0 };
  let view = await readRun(repo, id);
  const ref = new RunRef(id).name;
  let lastRefCheck = 0;
  let lastRefresh = Date.now();
  for (;;) {
    if (isFinal(view.status)) {
      for (const s of opts.streams) {
        const all = await recordedLog(repo, view, s);
        if (all.length > offsets[s]) sink(s, all.subarray(offsets[s]));
        offsets[s] = all.length;
      }
      return view;
    }
    if (isRemote(view) && view.state) {
      // A remote run: its output comes from the host, a poll at a time.
      const poll = await pollRemote(await connectionFor(view), view, offsets);
      for (const s of ['stdout', 'stderr'] as const) {
        if (poll[s].length && opts.streams.includes(s)) sink(s, poll[s]);
        offsets[s] += poll[s].length;
      }
      if (!opts.follow || opts.stopped?.()) return view;
      if (poll.exit !== null || !poll.alive) {
        await refresh(repo, view);
        view = await readRun(repo, id);
      } else await sleep(250);
      continue;
    }
    for (const s of opts.streams) {
      const chunk = await readFrom(liveLogFile(repo, view, s), offsets[s]);
      if (chunk.length) {
        offsets[s] += chunk.length;
        sink(s, chunk);
      }
    }
    if (!opts.follow || opts.stopped?.()) return view;
    // Look at the ref often once the command has ended (or its directory is
    // gone), rarely before; check the run is alive about once a second.
    const exit = exitFile(repo, view);
    const ended = existsSync(exit) || !existsSync(path.dirname(exit));
    const now = Date.now();
    if (ended || now - lastRefCheck > 250) {
      lastRefCheck = now;
      const tip = await revParse(repo, ref);
      if (tip !== view.tip) {
        view = await readRun(repo, id);
        continue;
      }
    }
    if (now - lastRefresh > 1000) {
      lastRefresh = now;
      if (await refresh(repo, view)) view = await readRun(repo, id);
    }
    await sleep(ended ? 10 : 25);
  }
}
