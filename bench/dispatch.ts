/**
 * Dispatch by the daemon (issue 6): N queued runs on the local host at
 * max_parallel 2, started by `git run daemon` and recorded, against
 * `xargs -P2` running the same N commands:
 *
 *   seq N | xargs -P2 -I{} <command>
 *
 * Each git-run round: a fresh small repository (bench/lib.ts smallRepo) whose
 * .runconfig gives the local host max_parallel 2; `git run daemon start`;
 * the daemon is stopped (SIGSTOP) while `git run submit -d` queues a sweep
 * of N children (untimed); then SIGCONT, and the clock runs until all N
 * children are recorded succeeded (polled every 100 ms with one `git
 * for-each-ref` of the run refs' commit subjects, which a finished run's
 * commit begins with its status). So the timing is the queue's dispatch,
 * execution and recording, not the submission. Checked: N+1 refs, N
 * succeeded, the group succeeded, the repository clean, the daemon stopped.
 * Round repositories stay until the end and `sync` runs (untimed) before each
 * timed command, as in bench/sweep.ts (whose header explains why, on this
 * machine's journal-less ext4).
 *
 * Commands: `sleep 0.05` (the goal, as the sweep benchmark of issue 3, so that
 * neither side can finish below N/2 x 50 ms) and, for diagnosis, `true`
 * (nothing but the per-run cost of each side).
 * Interleaved rounds after a warm-up, alternating which goes first; medians.
 * Goal: median(daemon) / median(xargs) <= 1.3 for sleep 0.05.
 *
 * With --baseline FILE (another build's dist/git-run.cjs, with its dist/bundle/
 * beside it for a build since decision 0024, copied beside
 * this checkout), that build's daemon runs the same round too, in every
 * round, and the ratio (this build / the baseline) is printed: builds are
 * compared within one run, never across two runs of the benchmark
 * (bench/sweep.ts's header says why).
 *
 * Usage: node dist/bench/dispatch.js [--runs N] [--rounds N] [--warmup N] [--baseline FILE]
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, benchEnv, fmtRatio, intArg, machine, printTable, revision, run, runOk, smallRepo, sleep, stats, statsJson, statsRow, strArg, STATS_HEADERS, writeResults, commandLine, runBench } from './lib.js';

const RUNS = intArg('runs', 500);
const ROUNDS = intArg('rounds', 5);
const WARMUP = intArg('warmup', 1);
const PARALLEL = 2;
const GOAL = 1.3;
const BASELINE = strArg('baseline', '') && path.resolve(strArg('baseline', ''));

const COMMANDS: Record<string, string[]> = { sleep: ['sleep', '0.05'], true: ['true'] };

async function main(): Promise<void> {
  const tmp = await fs.realpath(os.tmpdir());
  const root = await fs.mkdtemp(path.join(tmp, 'git-run-bench-dispatch-'));
  const home = path.join(root, 'home');
  await fs.mkdir(home);
  const env = benchEnv(home);
  const lines = Array.from({ length: RUNS }, (_, i) => `${i + 1}\n`).join('');
  let repoCount = 0;
  /** One daemon round of the build `cli`: returns the dispatch time in ms. */
  const daemonRound = async (cmd: string[], cli: string = CLI): Promise<number> => {
    const gitRun = (cwd: string, args: string[]) => runOk(process.execPath, [cli, ...args], { cwd, env });
    const repo = path.join(root, `repo-${repoCount++}`);
    await smallRepo(repo, env);
    await fs.writeFile(path.join(repo, '.runconfig'), JSON.stringify({ hosts: { local: { type: 'local', max_parallel: PARALLEL } } }));
    await runOk('git', ['add', '.runconfig'], { cwd: repo, env });
    await runOk('git', ['commit', '-q', '-m', 'runconfig'], { cwd: repo, env });
    const def = path.join(root, `def-${repoCount}.json`);
    await fs.writeFile(def, JSON.stringify({ command: cmd, params: { x: { from: 1, to: RUNS, step: 1 } } }));
    await gitRun(repo, ['daemon', 'start']);
    const pid = (JSON.parse(await fs.readFile(path.join(repo, '.git', 'git-run', 'daemon', 'pid'), 'utf8')) as { pid: number }).pid;
    process.kill(pid, 'SIGSTOP');
    // Untimed: write back what earlier rounds left dirty.
    await runOk('sync', [], { cwd: root, env });
    let group: string;
    try {
      group = (await gitRun(repo, ['submit', '-d', def])).stdout.trim();
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // SIGCONT above starts the clock: the queue is full and the daemon wakes to it.
    const t0 = process.hrtime.bigint();
    for (;;) {
      const r = await runOk('git', ['for-each-ref', '--format=%(contents:subject)', 'refs/runs/'], { cwd: repo, env });
      const done = r.stdout.split('\n').filter((s) => /^(succeeded|failed|cancelled|lost)/.test(s));
      if (done.length >= RUNS) {
        const bad = done.filter((s) => !s.startsWith('succeeded'));
        if (bad.length) throw new Error(`${bad.length} runs did not succeed: ${bad[0]}`);
        break;
      }
      await sleep(100);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await gitRun(repo, ['daemon', 'stop']);
    const g = JSON.parse((await gitRun(repo, ['show', '--json', group])).stdout) as { status: string; children: string[] };
    if (g.status !== 'succeeded' || g.children.length !== RUNS) throw new Error(`group ${group}: ${g.status}, ${g.children.length} children`);
    const st = await runOk('git', ['status', '--porcelain'], { cwd: repo, env });
    if (st.stdout.trim()) throw new Error(`${repo} is not clean:\n${st.stdout}`);
    // Kept until the end, as in bench/sweep.ts: deleting thousands of files just before the next round slows
    // file creation on this machine's journal-less ext4 (see sweep.ts's header).
    return ms;
  };

  const xargsRound = async (cmd: string[]): Promise<number> => {
    await runOk('sync', [], { cwd: root, env });
    const t0 = process.hrtime.bigint();
    const r = await run('xargs', [`-P${PARALLEL}`, '-I{}', ...cmd], { cwd: root, env, input: lines });
    if (r.code !== 0) throw new Error(`xargs exited ${r.code}: ${r.stderr}`);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };

  const results: Record<string, { daemon: number[]; xargs: number[]; baseline: number[] }> = {};
  try {
    console.log(`dispatch benchmark: ${RUNS} queued runs at max_parallel ${PARALLEL}, ${WARMUP} warm-up + ${ROUNDS} rounds each, interleaved`);
    for (const [name, cmd] of Object.entries(COMMANDS)) {
      const r = (results[name] = { daemon: [] as number[], xargs: [] as number[], baseline: [] as number[] });
      const kinds = ['daemon', ...(BASELINE ? (['baseline'] as const) : []), 'xargs'] as const;
      for (let round = 0; round < WARMUP + ROUNDS; round++) {
        const order = round % 2 === 0 ? [...kinds] : [...kinds].reverse();
        const got: Record<string, number> = {};
        for (const k of order) got[k] = k === 'daemon' ? await daemonRound(cmd) : k === 'baseline' ? await daemonRound(cmd, BASELINE) : await xargsRound(cmd);
        console.log(`  ${name} round ${round}${round < WARMUP ? ' (warm-up)' : ''}: daemon ${got.daemon!.toFixed(0)} ms${BASELINE ? `, baseline ${got.baseline!.toFixed(0)} ms` : ''}, xargs ${got.xargs!.toFixed(0)} ms; load ${os.loadavg()[0]!.toFixed(2)}`);
        if (round >= WARMUP) {
          r.daemon.push(got.daemon!);
          r.xargs.push(got.xargs!);
          if (BASELINE) r.baseline.push(got.baseline!);
        }
      }
    }
    console.log('');
    const rows: string[][] = [];
    for (const [name, cmd] of Object.entries(COMMANDS)) {
      rows.push(statsRow(`daemon: ${RUNS} x ${cmd.join(' ')}`, results[name]!.daemon));
      if (BASELINE) rows.push(statsRow(`baseline daemon: ${RUNS} x ${cmd.join(' ')}`, results[name]!.baseline));
      rows.push(statsRow(`xargs -P${PARALLEL}: ${RUNS} x ${cmd.join(' ')}`, results[name]!.xargs));
    }
    printTable(STATS_HEADERS, rows);
    const ratio = (name: string) => stats(results[name]!.daemon).median / stats(results[name]!.xargs).median;
    console.log('');
    console.log(`ratio daemon / xargs, sleep 0.05 (medians): ${fmtRatio(ratio('sleep'))}   goal <= ${GOAL}: ${ratio('sleep') <= GOAL ? 'MET' : 'NOT MET'}`);
    console.log(`ratio daemon / xargs, true (diagnosis: the per-run cost): ${fmtRatio(ratio('true'))}; per run and slot: ${(((stats(results.true!.daemon).median - stats(results.true!.xargs).median) * PARALLEL) / RUNS).toFixed(1)} ms more than xargs`);
    const toBaseline = (name: string) => stats(results[name]!.daemon).median / stats(results[name]!.baseline).median;
    if (BASELINE) for (const name of Object.keys(COMMANDS)) console.log(`ratio daemon / the --baseline build's daemon, ${name} (medians): ${fmtRatio(toBaseline(name))}   (${BASELINE})`);
    const file = await writeResults('dispatch', {
      benchmark: 'dispatch',
      command: commandLine(),
      date: new Date().toISOString(),
      gitRunRevision: revision(),
      machine: machine(),
      runs: RUNS,
      parallel: PARALLEL,
      rounds: ROUNDS,
      warmup: WARMUP,
      unit: 'ms',
      results: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, { command: COMMANDS[k], daemon: statsJson(v.daemon), xargs: statsJson(v.xargs), ratio: Number(ratio(k).toFixed(3)), ...(BASELINE ? { baseline: statsJson(v.baseline), ratioToBaseline: Number(toBaseline(k).toFixed(3)) } : {}) }])),
      goal: GOAL,
      goalMet: ratio('sleep') <= GOAL,
    });
    console.log(`figures written to ${path.relative(process.cwd(), file)}`);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

runBench(main);
