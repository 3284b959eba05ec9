/**
 * Running one command in the foreground or in the background, as the CLI
 * does it: streams, signals, the closing status line, the exit code.
 */
// The modules themselves, not the api/index.js barrel: a run loads only what running needs (decision 0024).
import { startSubmission, runSubmissionHere, toSubmitOptions } from '../api/run.js';
import { dryRunSubmission } from '../api/submit.js';
import { repoAt, getRun } from '../api/query.js';
import { signalNumber } from '../util/process.js';
import type { RunView } from '../api/index.js';
import { dryRunText } from './why-text.js';
import { short, exitSummary, duration, runDuration, humanSize } from './render.js';
import type { ParsedRun } from './run-args.js';

/** A run as JSON (--json): loaded when asked for, since it reads lineage and LFS pointers that a plain run never needs. */
const toJson: typeof import('../api/json.js').runToJson = async (...a) => (await import('../api/json.js')).runToJson(...a);

/** The exit code `git run` passes on for a finished run. */
export function exitCodeOf(v: RunView): number {
  const r = v.result;
  if (v.status === 'succeeded') return 0;
  if (v.status === 'cancelled') return 130;
  if (r?.signal) return 128 + signalNumber(r.signal);
  if (r?.exitCode !== null && r?.exitCode !== undefined && r.exitCode !== 0) return r.exitCode;
  return 1;
}

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export async function executeRun(p: ParsedRun, io: Io): Promise<number> {
  const sub = p.submit ?? toSubmitOptions(p.run);
  if (p.dryRun) {
    const plan = await dryRunSubmission(sub);
    io.stdout.write(p.json ? JSON.stringify(plan) + '\n' : dryRunText(plan));
    return 0;
  }
  if (p.detach) {
    const { id, repo, beyondMaxParallel } = await startSubmission(sub);
    if (beyondMaxParallel && !p.quiet) io.stderr.write(`git-run: ${maxParallelText(beyondMaxParallel)}\n`);
    io.stdout.write(p.json ? JSON.stringify(await toJson(repo, await getRun(repo, id))) + '\n' : id + '\n');
    return 0;
  }
  // Ctrl-C (or SIGTERM) cancels the run; a second one stops waiting for the record.
  // A closed terminal (SIGHUP) does not: the run goes on and is recorded.
  let id = '';
  let interrupted = 0;
  let cancel: () => void = () => undefined;
  const cancelled = new Promise<void>((resolve) => (cancel = resolve));
  const onSignal = () => {
    if (++interrupted > 1) process.exit(130);
    io.stderr.write(`\ngit-run: cancelling run ${short(id)} (Ctrl-C again to stop waiting)\n`);
    cancel();
  };
  const write = (stream: NodeJS.WritableStream, chunk: Buffer) => {
    try {
      stream.write(chunk);
    } catch {
      // The terminal went away: keep recording.
    }
  };
  const ignore = () => undefined;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', ignore);
  for (const s of [io.stdout, io.stderr]) s.on('error', ignore);
  try {
    const tty = !!(io.stderr as NodeJS.WriteStream).isTTY;
    const t0 = Date.now();
    let shown = false;
    const { view, reused, matched } = await runSubmissionHere(sub, {
      // Code sent to a remote host: a progress line on a terminal, nothing when piped.
      transfer: (bytes) => {
        if (!tty || p.quiet) return;
        shown = true;
        const s = Math.max(0.001, (Date.now() - t0) / 1000);
        write(io.stderr, Buffer.from(`\r\x1b[Kgit-run: sending code ${humanSize(bytes)} (${humanSize(bytes / s)}/s)`));
      },
      // With --json, stdout is the JSON alone: the command's own output goes to stderr (`git run --json -- cmd | jq` works).
      sink: (stream, chunk) => write(stream === 'stdout' && !p.json ? io.stdout : io.stderr, chunk),
      cancelled,
      onSubmitted: (runId, wasReused, applied, how) => {
        id = runId;
        if (wasReused && !p.quiet) {
          const same = how === 'portable key' ? "same portable key: a run made in another clone with the same code, command, parameters, seed, inputs and environment, machine variables (HOME, USER, PATH...) not compared" : 'same run key: code, command, parameters, seed, inputs and environment';
          write(io.stderr, Buffer.from(`git-run: reusing run ${short(runId)}: ${same} (--force to run again; git run why explains a rerun)\n`));
        }
        if (applied && !p.quiet) write(io.stderr, Buffer.from(`git-run: ${metadataText(applied)} (as git run edit would)\n`));
      },
    });
    if (shown) write(io.stderr, Buffer.from('\n'));
    const err = view.result?.error;
    if (p.quiet && err && (view.status === 'lost' || view.result?.exitCode === null) && view.status !== 'cancelled') {
      // -q silences the summary, not a failure of the tool's own (the command never ran, or was lost).
      write(io.stderr, Buffer.from(`git-run: run ${short(view.id)} ${view.status}: ${err}\n`));
    } else if (p.json) {
      const repo = await repoAt(sub.cwd);
      // A reused run says so, and which key matched (decision 0017).
      write(io.stdout, Buffer.from(JSON.stringify({ ...(await toJson(repo, view)), ...(reused ? { reused: { matched } } : {}) }) + '\n'));
    } else if (!p.quiet) {
      const d = runDuration(view);
      const detail = [exitSummary(view), d !== null ? duration(d) : ''].filter(Boolean).join(', ');
      write(io.stderr, Buffer.from(`git-run: run ${short(view.id)} ${view.status}${detail ? ` (${detail})` : ''}\n`));
    }
    return exitCodeOf(view);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', ignore);
  }
}

/** What a submission set on the run it reused: "named it 'second', tagged it t2". */
export function metadataText(e: { set?: { name?: string | null; notes?: string | null }; tag?: string[] }): string {
  const parts: string[] = [];
  if (e.set?.name !== undefined) parts.push(`named it ${JSON.stringify(e.set.name)}`);
  if (e.set?.notes !== undefined) parts.push('set its notes');
  if (e.tag?.length) parts.push(`tagged it ${e.tag.join(', ')}`);
  return parts.join(', ');
}

/** Detached without a daemon, past the host's max_parallel: say what holds it. */
export function maxParallelText(b: { host: string; running: number; starting: number; maxParallel: number }): string {
  return `host ${b.host} already runs ${b.running} and this starts ${b.starting}, beyond its max_parallel ${b.maxParallel}: without a daemon, max_parallel holds within one submission only (\`git run daemon start\` queues detached runs until there is room)`;
}
