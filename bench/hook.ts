/**
 * What the post-commit hook costs a commit: `git commit` with git-run's
 * shim installed against the same commit without it, for commits in a row.
 *
 * Three repositories made alike (the 20 small files of bench/launch.ts and a
 * .runconfig with two experiments with commit triggers: `match`, whose
 * trigger matches every commit on main, and `other`, which only matches
 * release/*):
 *   plain    no hook
 *   hooked   `git run hook install` (each commit submits a run of `match` in the background)
 *   floor    (diag) a post-commit hook that is `exit 0`: what any hook costs git
 * Each round makes, in each repository, a burst of --burst (default 20)
 * commits back to back, of one kind: `git commit -q --allow-empty -m x`, or a
 * one-file change (the file written untimed, then `git commit -q -a -m x`
 * timed), each timed from spawn to exit, stdout and stderr collected (a
 * background process that held git's output would show here). Five commits
 * in a row each starting node in the background once took 46, 76, 134, 194
 * and 230 ms: a burst is what shows whether background work piles up on the
 * commits. The order of the repositories rotates from round to round. After
 * a hooked burst the benchmark waits (untimed) until the hook has logged its
 * outcome for every commit of the burst and no hook process or supervisor
 * of the repository is left, so background work never overlaps the next
 * repository's burst; that wait is reported.
 *
 * Goal: median(hooked) / median(plain) <= 1.1, over every commit of the bursts.
 *
 * Usage: node dist/bench/hook.js [--iterations N] [--warmup N] [--burst N]
 */
import { promises as fs, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CLI, ROOT, benchEnv, commandLine, drainSupervisors, fmtRatio, intArg, machine, printTable, revision, runOk, sleep, smallRepo, stats, statsJson, statsRow, STATS_HEADERS, timeMs, writeResults, runBench } from './lib.js';

const ITERATIONS = intArg('iterations', 10);
const WARMUP = intArg('warmup', 1);
const BURST = intArg('burst', 20);

const RUNCONFIG = JSON.stringify({
  experiments: {
    match: { command: ['true'], on: { commit: { branches: ['main'] } } },
    other: { command: ['true'], on: { commit: { branches: ['release/*'], paths: ['src/'] } } },
  },
}, null, 2) + '\n';

/** `git-run hook post-commit` processes whose working directory is `repo`. */
function hookProcessesIn(repo: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (!(argv.includes('hook') && argv.includes('post-commit'))) continue;
      if (readlinkSync(`/proc/${e}/cwd`) === repo) pids.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Wait until the hook has logged an event for every commit of `shas` and left; returns ms since `since` (hrtime ns). */
async function drainHook(repo: string, shas: string[], since: bigint): Promise<number> {
  const log = path.join(repo, '.git', 'git-run', 'hook.log');
  const t0 = Date.now();
  let logged: number | null = null;
  for (;;) {
    if (logged === null) {
      const text = await fs.readFile(log, 'utf8').catch(() => '');
      if (shas.every((sha) => text.includes(`"commit":"${sha}"`))) logged = Number(process.hrtime.bigint() - since) / 1e6;
    }
    if (logged !== null && !hookProcessesIn(repo).length) break;
    if (Date.now() - t0 > 300_000) throw new Error(`the hook in ${repo} did not log ${shas.length} commits within 300 s`);
    await sleep(5);
  }
  await drainSupervisors(repo);
  return logged;
}

async function main(): Promise<void> {
  const tmp = await fs.realpath(os.tmpdir());
  const root = await fs.mkdtemp(path.join(tmp, 'git-run-bench-hook-'));
  const home = path.join(root, 'home');
  await fs.mkdir(home);
  const env = benchEnv(home);
  const repos = { plain: path.join(root, 'plain'), hooked: path.join(root, 'hooked'), floor: path.join(root, 'floor') };
  try {
    for (const dir of Object.values(repos)) {
      await smallRepo(dir, env);
      await runOk('git', ['branch', '-M', 'main'], { cwd: dir, env });
      await fs.writeFile(path.join(dir, '.runconfig'), RUNCONFIG);
      await runOk('git', ['add', '.runconfig'], { cwd: dir, env });
      await runOk('git', ['commit', '-q', '-m', 'runconfig'], { cwd: dir, env });
    }
    await runOk(process.execPath, [CLI, 'hook', 'install'], { cwd: repos.hooked, env });
    const floorHook = path.join(repos.floor, '.git', 'hooks', 'post-commit');
    await fs.writeFile(floorHook, '#!/bin/sh\nexit 0\n', { mode: 0o755 });

    type Repo = keyof typeof repos;
    type Kind = 'empty' | 'file';
    const order: Repo[] = ['plain', 'hooked', 'floor'];
    const kinds: Kind[] = ['empty', 'file'];
    const samples: Record<Kind, Record<Repo, number[]>> = {
      empty: { plain: [], hooked: [], floor: [] },
      file: { plain: [], hooked: [], floor: [] },
    };
    const hookDone: number[] = [];
    let n = 0;
    const burstIn = async (r: Repo, kind: Kind, measured: boolean) => {
      const cwd = repos[r];
      const args = kind === 'empty' ? ['commit', '-q', '--allow-empty', '-m', 'x'] : ['commit', '-q', '-a', '-m', 'x'];
      const start = process.hrtime.bigint();
      for (let i = 0; i < BURST; i++) {
        if (kind === 'file') await fs.writeFile(path.join(cwd, 'train.py'), `import sys\nprint("training", sys.argv[1:], ${n++})\n`);
        const { ms } = await timeMs(() => runOk('git', args, { cwd, env }));
        if (measured) samples[kind][r].push(ms);
      }
      if (r === 'hooked') {
        const shas = (await runOk('git', ['rev-list', '-n', String(BURST), 'HEAD'], { cwd, env })).stdout.trim().split('\n');
        const done = await drainHook(cwd, shas, start);
        if (measured) hookDone.push(done);
      }
    };

    console.log(`hook benchmark: ${WARMUP} warm-up round(s), ${ITERATIONS} measured rounds of ${BURST} commits in a row per repository and kind; hook installed by \`node ${path.relative(ROOT, CLI)} hook install\``);
    const mach = machine();
    const started = Date.now();
    for (let round = 0; round < WARMUP + ITERATIONS; round++) {
      // Rotate which repository goes first.
      const rot = order.map((_, i) => order[(i + round) % order.length]!);
      for (const kind of kinds) for (const r of rot) await burstIn(r, kind, round >= WARMUP);
    }
    const elapsed = (Date.now() - started) / 1000;

    // Every hooked commit submitted one run of `match`, and nothing else.
    const refs = (await runOk('git', ['for-each-ref', '--format=%(refname)', 'refs/runs/'], { cwd: repos.hooked, env })).stdout.trim().split('\n').filter(Boolean);
    const commits = (WARMUP + ITERATIONS) * kinds.length * BURST;
    if (refs.length !== commits) throw new Error(`expected ${commits} runs in the hooked repository, found ${refs.length}`);
    const log = (await fs.readFile(path.join(repos.hooked, '.git', 'git-run', 'hook.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { event: string; level: string });
    const errors = log.filter((e) => e.level === 'error');
    if (errors.length) throw new Error(`the hook logged errors: ${JSON.stringify(errors[0])}`);

    const ratio = (k: Kind) => stats(samples[k].hooked).median / stats(samples[k].plain).median;
    const floorRatio = (k: Kind) => stats(samples[k].floor).median / stats(samples[k].plain).median;
    const cmd = commandLine();
    const labels: Record<Kind, string> = { empty: 'git commit --allow-empty', file: 'git commit -a (one file)' };
    console.log('');
    console.log(`command: ${cmd}   (git-run ${revision()})`);
    console.log(`machine: ${mach.cpus} cores, node ${process.version}, ${mach.git}, load average ${mach.loadAverage1m} at start`);
    console.log('');
    const rows: string[][] = [];
    for (const k of kinds) {
      rows.push(statsRow(`${labels[k]}, no hook`, samples[k].plain));
      rows.push(statsRow(`${labels[k]}, git-run hook`, samples[k].hooked));
      rows.push(statsRow(`(diag) ${labels[k]}, exit-0 hook`, samples[k].floor));
    }
    printTable(STATS_HEADERS, rows);
    console.log('');
    for (const k of kinds) {
      console.log(`ratio hooked / plain, ${labels[k]} (medians): ${fmtRatio(ratio(k))}   goal <= 1.10: ${ratio(k) <= 1.1 ? 'MET' : 'NOT MET'}   (an exit-0 hook: ${fmtRatio(floorRatio(k))})`);
    }
    console.log(`the hook's outcome for a whole burst logged (background) after its first commit started: median ${stats(hookDone).median.toFixed(0)} ms, p90 ${stats(hookDone).p90.toFixed(0)} ms (not counted above)`);
    const workers = log.filter((e) => e.event === 'drained').length;
    console.log(`background workers (stretches holding the queue) for ${commits} hooked commits: ${workers}`);
    console.log(`measured section: ${elapsed.toFixed(1)} s`);

    const file = await writeResults('hook', {
      benchmark: 'hook',
      command: cmd,
      date: new Date().toISOString(),
      gitRunRevision: revision(),
      machine: mach,
      gitRunEntry: path.relative(ROOT, CLI),
      warmupRounds: WARMUP,
      iterations: ITERATIONS,
      burst: BURST,
      unit: 'ms',
      goal: 1.1,
      ratios: Object.fromEntries(kinds.map((k) => [k, { hooked: Number(ratio(k).toFixed(3)), exitZeroHook: Number(floorRatio(k).toFixed(3)), goalMet: ratio(k) <= 1.1 }])),
      results: Object.fromEntries(kinds.map((k) => [k, Object.fromEntries(order.map((r) => [r, { command: `${labels[k]} (${r})`, ...statsJson(samples[k][r]) }]))])),
      burstOutcomeLoggedMs: statsJson(hookDone),
      runsSubmitted: refs.length,
    });
    console.log(`figures written to ${path.relative(process.cwd(), file) || file}`);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

runBench(main);
