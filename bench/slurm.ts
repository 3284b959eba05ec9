/**
 * Slurm (issue 13), on a one-node cluster of its own started here (test/slurmd.ts:
 * slurmctld + slurmd on 127.0.0.1, free ports, so the tests can run meanwhile),
 * submitting from this machine (a host profile {"type":"slurm"} without "host").
 *
 * 1. Submission of a 500-child sweep (one job array), interleaved rounds:
 *      (a) git run submit -d --host cluster sweep.json   (a fresh repository each round, made untimed)
 *      (b) sbatch --parsable --output=/dev/null --array=0-499%8 job.sh
 *    both running the same command (`true`), the profile's max_parallel the
 *    same 8 (--cpus) as the reference's %8. Timed from the command's start
 *    until it has returned AND the controller lists all 500 tasks of one array
 *    (polled with squeue when the command returned first). Between rounds
 *    (untimed) everything is cancelled and the queue drained. Goal: ratio of
 *    medians (a)/(b) <= 1.2. For diagnosis: the same submission of a 1-child
 *    sweep, so that the cost of git-run's start is told apart from the cost a
 *    child adds.
 * 2. Scheduler calls while 500 jobs are watched: wrapper scripts named squeue,
 *    sacct, scontrol, sbatch, scancel and sinfo, first on git-run's PATH, log a
 *    timestamp and exec the real binary. A 500-child sweep of jobs that outlive
 *    the window is submitted, then `git run wait <group>` watches it for
 *    --watch-seconds (the first 10 s not counted), while `git run status`
 *    runs every 30 s. Goal: at most 2 calls per minute (the one host).
 *    Counted for wait alone, and the calls each status makes. A second window
 *    with churn (jobs of --churn-sleep seconds, so that some end and others
 *    start all the time) is measured the same way.
 * 3. From a job's end to its run recorded: --latency-runs single runs of
 *    `sh -c 'sleep 2; date +%s%N >END'`, each followed by `git run wait <id>`
 *    started right after the submission; latency = wait's return - END.
 *    Median and p90. Goal: median <= 2 s + the poll interval at that time.
 * 4. (informational) A 500-child sweep end to end (`git run submit --host
 *    cluster sweep.json`, in the foreground) against `sbatch --wait
 *    --array=0-499%8 job.sh`.
 *
 * Usage: node dist/bench/slurm.js [--rounds N] [--children N] [--watch-seconds S] [--churn-sleep S]
 *          [--latency-runs N] [--e2e-rounds N] [--cpus N] [--only submit,watch,latency,e2e] [--cli FILE]
 * Run it with nice: nice -n 10 node dist/bench/slurm.js
 */
import { spawnSync } from 'node:child_process';
import { promises as fs, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSlurmCluster, type SlurmCluster } from '../test/slurmd.js';
import {
  CLI as BUILT, benchEnv, commandLine, fmtRatio, intArg, machine, percentile, printTable, revision, run, runOk, sleep, smallRepo, stats, statsJson, statsRow, STATS_HEADERS,
  timeMs, writeResults, runBench, strArg, supervisorsIn } from './lib.js';

const ROUNDS = intArg('rounds', 5);
const CHILDREN = intArg('children', 500);
const WATCH_SECONDS = intArg('watch-seconds', 180);
const CHURN_SLEEP = intArg('churn-sleep', 20);
const LATENCY_RUNS = intArg('latency-runs', 20);
const E2E_ROUNDS = intArg('e2e-rounds', 1);
const CPUS = intArg('cpus', 8);
const ONLY = new Set(strArg('only', 'submit,watch,latency,e2e').split(','));
/** --cli FILE: another build's bundle (default: this tree's). */
const CLI = path.resolve(strArg('cli', BUILT));
const SUBMIT_GOAL = 1.2;
const CALLS_GOAL = 2;
const SCHEDULER = ['squeue', 'sacct', 'scontrol', 'sbatch', 'scancel', 'sinfo'];

interface Ctx {
  root: string;
  env: NodeJS.ProcessEnv;
  slurm: SlurmCluster;
  repos: number;
}

/** A fresh repository with a slurm profile (no "host": submissions from this machine) and a sweep definition outside it. */
async function freshRepo(ctx: Ctx, command: string[], children: number, env = ctx.env): Promise<{ repo: string; def: string }> {
  const repo = path.join(ctx.root, `repo-${ctx.repos++}`);
  await smallRepo(repo, env);
  const remote = path.join(ctx.root, `remote-${ctx.repos}`);
  await fs.writeFile(path.join(repo, '.runconfig'), JSON.stringify({ hosts: { cluster: { type: 'slurm', remote_dir: remote, max_parallel: CPUS } } }, null, 2) + '\n');
  await runOk('git', ['add', '.runconfig'], { cwd: repo, env });
  await runOk('git', ['commit', '-q', '-m', 'slurm profile'], { cwd: repo, env });
  const def = path.join(ctx.root, `def-${ctx.repos}.json`);
  await fs.writeFile(def, JSON.stringify({ command, params: { x: { from: 0, to: children - 1, step: 1 } } }) + '\n');
  return { repo, def };
}

function squeueIds(ctx: Ctx, args: string[] = []): string[] {
  const r = spawnSync('squeue', ['-h', '-r', '-t', 'all', '-o', '%i', ...args], { env: ctx.slurm.env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`squeue: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

/** Untimed: cancel everything and wait until the controller has nothing pending or running. */
async function drain(ctx: Ctx): Promise<void> {
  spawnSync('scancel', ['-u', os.userInfo().username], { env: ctx.slurm.env });
  const deadline = Date.now() + 300000;
  while (spawnSync('squeue', ['-h', '-o', '%i'], { env: ctx.slurm.env, encoding: 'utf8' }).stdout.trim()) {
    if (Date.now() > deadline) throw new Error('the queue did not drain in 300 s');
    await sleep(200);
  }
}

/** The 500 tasks of one array, listed by the controller (a finished task stays listed: MinJobAge). */
function arrayTasks(ctx: Ctx, known: Set<string>): { arrays: Set<string>; tasks: number } {
  const ids = squeueIds(ctx).filter((i) => !known.has(i));
  return { arrays: new Set(ids.map((i) => i.split('_')[0]!)), tasks: ids.length };
}

async function submitBench(ctx: Ctx, results: Record<string, unknown>): Promise<void> {
  const job = path.join(ctx.root, 'job.sh');
  writeFileSync(job, '#!/bin/sh\ntrue\n');
  chmodSync(job, 0o755);
  const samples: Record<string, number[]> = { gitRun: [], sbatch: [], gitRun1: [] };
  const waitedForSqueue: number[] = [];
  const variants: Record<string, { label: string; prepare: () => Promise<() => Promise<void>> ; children: number }> = {
    gitRun: {
      label: `git run submit -d --host cluster sweep.json  (${CHILDREN} children of \`true\`)`,
      children: CHILDREN,
      prepare: async () => {
        const { repo, def } = await freshRepo(ctx, ['true'], CHILDREN);
        return async () => void (await runOk(process.execPath, [CLI, 'submit', '-d', '--host', 'cluster', def], { cwd: repo, env: ctx.env }));
      },
    },
    sbatch: {
      label: `sbatch --parsable --output=/dev/null --array=0-${CHILDREN - 1}%${CPUS} job.sh  (job.sh: true)`,
      children: CHILDREN,
      prepare: async () => async () => void (await runOk('sbatch', ['--parsable', '--output=/dev/null', `--array=0-${CHILDREN - 1}%${CPUS}`, job], { cwd: ctx.root, env: ctx.slurm.env })),
    },
    gitRun1: {
      label: 'git run submit -d --host cluster sweep.json  (1 child, for diagnosis)',
      children: 1,
      prepare: async () => {
        const { repo, def } = await freshRepo(ctx, ['true'], 1);
        return async () => void (await runOk(process.execPath, [CLI, 'submit', '-d', '--host', 'cluster', def], { cwd: repo, env: ctx.env }));
      },
    },
  };
  const order = ['gitRun', 'sbatch', 'gitRun1'];
  console.log(`1. submission, ${ROUNDS} rounds after a warm-up, interleaved (alternating order):`);
  for (let round = 0; round <= ROUNDS; round++) {
    for (const k of round % 2 ? [...order].reverse() : order) {
      const v = variants[k]!;
      await drain(ctx);
      const known = new Set(squeueIds(ctx));
      const fn = await v.prepare();
      const t0 = process.hrtime.bigint();
      await fn();
      const returned = Number(process.hrtime.bigint() - t0) / 1e6;
      // Returned before the controller lists every task (a detached submission): the end is when it does.
      let seen = arrayTasks(ctx, known);
      while (seen.tasks < v.children) {
        if (Number(process.hrtime.bigint() - t0) / 1e6 > 120000) throw new Error(`${v.label}: ${seen.tasks} of ${v.children} tasks listed after 120 s`);
        await sleep(50);
        seen = arrayTasks(ctx, known);
      }
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (v.children > 1 && seen.arrays.size !== 1) throw new Error(`${v.label}: ${seen.arrays.size} jobs, not one array: ${[...seen.arrays].slice(0, 5).join(' ')}`);
      if (seen.tasks !== v.children) throw new Error(`${v.label}: ${seen.tasks} tasks, expected ${v.children}`);
      if (round > 0) {
        samples[k]!.push(ms);
        if (k === 'gitRun') waitedForSqueue.push(ms - returned);
      }
    }
  }
  await drain(ctx);
  printTable(STATS_HEADERS, order.map((k) => statsRow(variants[k]!.label, samples[k]!)));
  const ratio = stats(samples.gitRun!).median / stats(samples.sbatch!).median;
  const perChild = (stats(samples.gitRun!).median - stats(samples.gitRun1!).median) / (CHILDREN - 1);
  console.log(`ratio git run / sbatch (medians): ${fmtRatio(ratio)}   goal <= ${SUBMIT_GOAL}: ${ratio <= SUBMIT_GOAL ? 'MET' : 'NOT MET'}`);
  console.log(`git run: a 1-child sweep ${stats(samples.gitRun1!).median.toFixed(0)} ms; each further child ${perChild.toFixed(2)} ms; tasks listed after it returned: median ${stats(waitedForSqueue).median.toFixed(0)} ms`);
  results.submit = {
    ratio: Number(ratio.toFixed(3)), goal: SUBMIT_GOAL, goalMet: ratio <= SUBMIT_GOAL, perChildMs: Number(perChild.toFixed(2)),
    msAfterReturnUntilListed: statsJson(waitedForSqueue),
    results: Object.fromEntries(order.map((k) => [k, { command: variants[k]!.label, ...statsJson(samples[k]!) }])),
  };
}

/** Wrappers on PATH that log each scheduler call; returns their directory and the log. */
function wrappers(ctx: Ctx): { bin: string; log: string } {
  const bin = path.join(ctx.root, 'wrap-bin');
  const log = path.join(ctx.root, 'scheduler-calls.log');
  spawnSync('mkdir', ['-p', bin]);
  writeFileSync(log, '');
  for (const name of SCHEDULER) {
    const real = ['/usr/bin', '/usr/local/bin'].map((d) => path.join(d, name)).find((p) => spawnSync('test', ['-x', p]).status === 0);
    if (!real) throw new Error(`${name} not found`);
    // Each line: when, which program, and which git-run process asked (its subcommand and pid, found up the parent chain).
    writeFileSync(
      path.join(bin, name),
      [
        '#!/bin/sh',
        'p=$PPID; who=other',
        'while [ -n "$p" ] && [ "$p" -gt 1 ]; do',
        '  c=$(tr \'\\000\' \' \' < /proc/$p/cmdline 2>/dev/null)',
        '  case "$c" in *git-run.cjs\\ *) who=$(printf \'%s\' "$c" | awk \'{print $3}\'):$p; break ;; esac',
        '  p=$(awk \'{print $4}\' /proc/$p/stat 2>/dev/null)',
        'done',
        `printf '%s %s %s\\n' "$(date +%s.%N)" ${name} "$who" >> '${log}'`,
        `exec ${real} "$@"`,
        '',
      ].join('\n'),
    );
    chmodSync(path.join(bin, name), 0o755);
  }
  return { bin, log };
}

interface Call {
  at: number;
  name: string;
  /** The git-run process that made it: its subcommand and pid ("__supervise:1234", "status:99"), or "other". */
  who: string;
}

function callLog(log: string): Call[] {
  return readFileSync(log, 'utf8').split('\n').flatMap((line) => {
    const [t, name, who] = line.split(' ');
    return name ? [{ at: Number(t) * 1000, name, who: who ?? 'other' }] : [];
  });
}

function calls(log: string, from: number, to: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const c of callLog(log)) if (c.at >= from && c.at < to) counts.set(c.name, (counts.get(c.name) ?? 0) + 1);
  return counts;
}

/** The most calls in any 60 s within [from, to) (a sliding window over the calls' times). */
function maxPerMinute(times: number[]): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= 60000) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

async function watchWindow(ctx: Ctx, label: string, command: string[]): Promise<Record<string, unknown>> {
  const { bin, log } = wrappers(ctx);
  const env = { ...ctx.env, PATH: `${bin}:${ctx.env.PATH}` };
  const { repo, def } = await freshRepo(ctx, command, CHILDREN, env);
  await drain(ctx);
  const sub = await runOk(process.execPath, [CLI, 'submit', '-d', '--host', 'cluster', def], { cwd: repo, env });
  const group = sub.stdout.trim().split(/\s+/)[0]!;
  if (!/^[0-9a-f]{4,}$/.test(group)) throw new Error(`git run submit -d printed no group id: ${sub.stdout}`);
  const waiter = run(process.execPath, [CLI, 'wait', group], { cwd: repo, env });
  const t0 = Date.now();
  const from = t0 + 10000;
  const to = t0 + WATCH_SECONDS * 1000;
  const statusCalls: number[] = [];
  // Status every 30 s, its own calls counted apart (it is a separate process: its own poll).
  for (let next = from + 5000; next + 15000 < to; next += 30000) {
    await sleep(Math.max(0, next - Date.now()));
    const s0 = Date.now();
    // Bounded: a status slower than the window (seen at load 20 with 500 runs) must not stall the benchmark.
    const st = await Promise.race([run(process.execPath, [CLI, 'status'], { cwd: repo, env }), sleep(25000).then(() => null)]);
    if (!st) console.log('  (a git run status took more than 25 s; not waited for)');
    const n = [...calls(log, s0, Date.now()).values()].reduce((a, b) => a + b, 0);
    statusCalls.push(n);
  }
  await sleep(Math.max(0, to - Date.now()));
  const all = calls(log, from, to);
  const total = [...all.values()].reduce((a, b) => a + b, 0);
  const minutes = (to - from) / 60000;
  // By process and program, the submission's sbatch left out: the watching is the supervisor's watcher (and
  // `wait`, which asks nothing while that supervisor lives); each `status` is a process of its own.
  const inWindow = callLog(log).filter((c) => c.at >= from && c.at < to && c.name !== 'sbatch');
  const byProcess = new Map<string, Map<string, number>>();
  for (const c of inWindow) {
    const k = c.who.replace(/:\d+$/, '');
    const m = byProcess.get(k) ?? new Map<string, number>();
    m.set(c.name, (m.get(c.name) ?? 0) + 1);
    byProcess.set(k, m);
  }
  const watching = inWindow.filter((c) => /^(__supervise|wait):/.test(c.who));
  const watchPerMin = watching.length / minutes;
  const watchMax = maxPerMinute(watching.map((c) => c.at));
  const processes = Object.fromEntries([...byProcess].map(([k, m]) => [k, Object.fromEntries(m)]));
  const waitOnly = (total - statusCalls.reduce((a, b) => a + b, 0)) / minutes;
  const tasks = squeueIds(ctx);
  const running = squeueIds(ctx, ['-t', 'RUNNING']).length;
  await drain(ctx);
  const r = await waiter;
  console.log(`  ${label}: ${[...all].map(([k, v]) => `${k} ${v}`).join(', ') || 'no calls'} in ${minutes.toFixed(1)} min: ${(total / minutes).toFixed(2)} calls/min in all; ` +
    `wait alone ${waitOnly.toFixed(2)}/min (goal <= ${CALLS_GOAL}: ${waitOnly <= CALLS_GOAL ? 'MET' : 'NOT MET'}); each status ${statusCalls.join(', ')} call(s); ` +
    `${tasks.length} tasks listed, ${running} running at the end; wait exited ${r.code} after the cancel`);
  console.log(`    by process (sbatch left out): ${[...byProcess].map(([k, m]) => `${k}: ${[...m].map(([n, v]) => `${n} ${v}`).join(', ')}`).join('; ') || 'none'}`);
  console.log(`    the watching (supervisor + wait): ${watching.length} calls in ${minutes.toFixed(1)} min = ${watchPerMin.toFixed(2)}/min, at most ${watchMax} in any 60 s ` +
    `(goal <= ${CALLS_GOAL}: ${watchMax <= CALLS_GOAL ? 'MET' : 'NOT MET'})`);
  return { label, command, minutes: Number(minutes.toFixed(2)), calls: Object.fromEntries(all), perMinute: Number((total / minutes).toFixed(2)),
    waitOnlyPerMinute: Number(waitOnly.toFixed(2)), statusCalls, byProcess: processes, watchingPerMinute: Number(watchPerMin.toFixed(2)),
    watchingMaxIn60s: watchMax, goal: CALLS_GOAL, goalMet: watchMax <= CALLS_GOAL };
}

async function watchBench(ctx: Ctx, results: Record<string, unknown>): Promise<void> {
  console.log(`2. scheduler calls while ${CHILDREN} jobs are watched (${WATCH_SECONDS} s windows, the first 10 s not counted):`);
  const steady = await watchWindow(ctx, `steady (${CHILDREN} x sleep 3600: ${CPUS} at a time, the rest pending)`, ['sleep', '3600']);
  const churn = await watchWindow(ctx, `churn (${CHILDREN} x sleep ${CHURN_SLEEP}: some end and start all the time)`, ['sleep', String(CHURN_SLEEP)]);
  results.watch = { steady, churn };
}

async function latencyBench(ctx: Ctx, results: Record<string, unknown>): Promise<void> {
  console.log(`3. from a job's end to its run recorded (git run wait returning), ${LATENCY_RUNS} runs:`);
  const { repo } = await freshRepo(ctx, ['true'], 1);
  await drain(ctx);
  const lat: number[] = [];
  for (let i = 0; i < LATENCY_RUNS; i++) {
    const end = path.join(ctx.root, `end-${i}`);
    const sub = await runOk(process.execPath, [CLI, '-d', '--host', 'cluster', '--', 'sh', '-c', `sleep 2; date +%s%N > ${end}`], { cwd: repo, env: ctx.env });
    const id = sub.stdout.trim().split(/\s+/)[0]!;
    const w = await run(process.execPath, [CLI, 'wait', id], { cwd: repo, env: ctx.env });
    const returned = Date.now();
    if (w.code !== 0) throw new Error(`git run wait ${id} exited ${w.code}: ${w.stderr}`);
    const ended = Number(readFileSync(end, 'utf8').trim()) / 1e6;
    lat.push(returned - ended);
  }
  const s = stats(lat);
  console.log(`  median ${(s.median / 1000).toFixed(2)} s, p90 ${(percentile(lat, 90) / 1000).toFixed(2)} s, min ${(s.min / 1000).toFixed(2)}, max ${(s.max / 1000).toFixed(2)}`);
  results.latency = { unit: 'ms', ...statsJson(lat) };
}

async function e2eBench(ctx: Ctx, results: Record<string, unknown>): Promise<void> {
  console.log(`4. (informational) a ${CHILDREN}-child sweep end to end, ${E2E_ROUNDS} round(s):`);
  const job = path.join(ctx.root, 'job.sh');
  writeFileSync(job, '#!/bin/sh\ntrue\n');
  chmodSync(job, 0o755);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < E2E_ROUNDS; i++) {
    await drain(ctx);
    const { repo, def } = await freshRepo(ctx, ['true'], CHILDREN);
    a.push((await timeMs(() => runOk(process.execPath, [CLI, 'submit', '-q', '--host', 'cluster', def], { cwd: repo, env: ctx.env }))).ms);
    await drain(ctx);
    b.push((await timeMs(() => runOk('sbatch', ['--wait', '--output=/dev/null', `--array=0-${CHILDREN - 1}%${CPUS}`, job], { cwd: ctx.root, env: ctx.slurm.env }))).ms);
  }
  printTable(STATS_HEADERS, [statsRow('git run submit --host cluster sweep.json', a), statsRow(`sbatch --wait --array=0-${CHILDREN - 1}%${CPUS} job.sh`, b)]);
  results.e2e = { gitRun: statsJson(a), sbatchWait: statsJson(b), ratio: Number((stats(a).median / stats(b).median).toFixed(3)) };
}

async function main(): Promise<void> {
  const tmp = await fs.realpath(os.tmpdir());
  const root = await fs.mkdtemp(path.join(tmp, 'git-run-bench-slurm-'));
  chmodSync(root, 0o755);
  const home = path.join(root, 'home');
  await fs.mkdir(home);
  const t0 = Date.now();
  const slurm = await startSlurmCluster({ cpus: CPUS });
  const started = (Date.now() - t0) / 1000;
  const ctx: Ctx = { root, env: { ...benchEnv(home), SLURM_CONF: slurm.conf }, slurm, repos: 0 };
  const mach = machine();
  const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
  const results: Record<string, unknown> = {};
  try {
    console.log(`Slurm benchmark: a one-node cluster of its own (${slurm.cpus} CPUs announced, ports ${slurm.ports.slurmctld}/${slurm.ports.slurmd}), up in ${started.toFixed(2)} s; load ${load()}`);
    if (ONLY.has('submit')) await submitBench(ctx, results);
    if (ONLY.has('watch')) await watchBench(ctx, results);
    if (ONLY.has('latency')) await latencyBench(ctx, results);
    if (ONLY.has('e2e')) await e2eBench(ctx, results);
    const cmd = commandLine();
    console.log(`command: ${cmd}   (git-run ${revision()})`);
    console.log(`machine: ${mach.cpus} cores, node ${process.version}, load average ${load()} at the end (${mach.loadAverage1m} at the start)`);
    const file = await writeResults('slurm', { benchmark: 'slurm', command: cmd, date: new Date().toISOString(), gitRunRevision: revision(), machine: mach,
      cluster: { cpus: slurm.cpus, startSeconds: started }, children: CHILDREN, rounds: ROUNDS, loadAtEnd: load(), ...results });
    console.log(`figures written to ${file}`);
  } finally {
    // The detached supervisors record the cancelled runs after the last drain: given 120 s, then stopped by pid.
    const repos = Array.from({ length: ctx.repos }, (_, i) => path.join(root, `repo-${i}`));
    for (const deadline = Date.now() + 120000; Date.now() < deadline && repos.some((r) => supervisorsIn(r).length); ) await sleep(500);
    for (const r of repos) for (const pid of supervisorsIn(r)) process.kill(pid, 'SIGTERM');
    await slurm.stop();
    await fs.rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}

runBench(main);
