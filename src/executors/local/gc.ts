/**
 * `git run gc --host local`: run directories under this repository's state
 * directory (or the profile's local_dir) that no live run needs, and input
 * cache entries no live run places. A directory whose command may still run
 * (no exit.json, its supervisor alive) stays, and so does anything changed
 * within the grace period (a run starting meanwhile).
 */
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Repo } from '../../git/repo.js';
import type { HostGcReport, HostKeep } from '../executor.js';
import { controlDirFor, supervisorFile } from '../rundir.js';
import { pruneInputCache } from '../inputs.js';
import { isAlive } from '../../util/process.js';

/** Bytes of the files under `p` that are not linked from elsewhere. */
function bytesUnder(p: string): number {
  let total = 0;
  const st = lstatSync(p);
  if (st.isDirectory()) {
    for (const e of readdirSync(p)) total += bytesUnder(path.join(p, e));
  } else if (st.nlink === 1) total += st.size;
  return total;
}

const changedSince = (p: string, beforeMs: number) => {
  const st = lstatSync(p);
  return Math.max(st.mtimeMs, st.ctimeMs) >= beforeMs;
};

function supervisorAlive(dir: string): boolean {
  try {
    const s = JSON.parse(readFileSync(supervisorFile(dir), 'utf8')) as { pid?: unknown; start?: unknown };
    return typeof s.pid === 'number' && isAlive(s.pid, typeof s.start === 'string' ? s.start : null);
  } catch {
    return false;
  }
}

export async function gcLocalHost(repo: Repo, profile: string, keep: HostKeep, opts: { dryRun: boolean; graceMs: number }): Promise<HostGcReport> {
  const report: HostGcReport = { host: profile, removed: { code: 0, runs: 0, inputs: 0, other: 0 }, keptRunning: 0, bytesFreed: 0, paths: [] };
  const beforeMs = Date.now() - opts.graceMs;
  const localDir = typeof keep.runArgs.local_dir === 'string' ? keep.runArgs.local_dir : undefined;
  // Where run directories are: the parent of any run's directory under this profile's local_dir (or the default).
  const parent = path.dirname(controlDirFor(repo, '0'.repeat(40), localDir ? { local_dir: localDir } : {}));
  const live = new Set(keep.live.map((l) => l.view.id));
  let names: string[] = [];
  try {
    names = readdirSync(parent);
  } catch {
    /* no run directory yet */
  }
  for (const name of names) {
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(name) || live.has(name)) continue;
    const dir = path.join(parent, name);
    try {
      if (!lstatSync(dir).isDirectory() || changedSince(dir, beforeMs)) continue;
      if (!existsSync(path.join(dir, 'exit.json')) && supervisorAlive(dir)) {
        report.keptRunning++;
        continue;
      }
      report.bytesFreed += bytesUnder(dir);
      if (!opts.dryRun) rmSync(dir, { recursive: true, force: true });
      report.removed.runs++;
      report.paths.push(dir);
    } catch {
      /* gone meanwhile */
    }
  }
  const inputs = new Set(keep.live.flatMap((l) => l.inputs).map((n) => n.replace(/\.x$/, '')));
  if (!opts.dryRun) {
    const pruned = await pruneInputCache(repo, async () => inputs, beforeMs);
    report.removed.inputs += pruned.removed;
    report.bytesFreed += pruned.bytes;
  }
  return report;
}
