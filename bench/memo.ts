/**
 * Memoized resubmission: `git run submit <def.json>` of a seeded 1,000-child
 * sweep of `true` that was submitted (and succeeded) before, against one
 * `git run -q -- true`.
 *
 * Two equivalent small repositories (the same 20 small files as
 * bench/launch.ts, committed in a fresh `git init` repository each):
 *   memo    the 1,000-child sweep is submitted once, untimed, before the rounds;
 *           every timed resubmission there must be fully memoized
 *   plain   where `git run -q -- true` runs: it records one new run a round,
 *           so it has a repository of its own and the memo one stays unchanged
 * The definition file is outside both work trees (the work tree is the code
 * snapshot: a file inside it would change every run key).
 *
 * Wall-clock time of the whole command as a user sees it (process start to
 * exit), after warm-up rounds, interleaved and alternating which goes first,
 * each checked for exit status 0. Goal: median(resubmission) /
 * median(git run -- true) <= 5.
 *
 * Checked after every resubmission (untimed): it said "all reused from an
 * identical group" and "1000 succeeded"; the refs under refs/runs/ are the same
 * names at the same tips; git's object count is unchanged; no run directory
 * was made. With --json: the same group id, status succeeded, 1,000 children.
 * The first resubmission after the initial submission (when git-run's derived
 * index has not yet seen the sweep's runs) is reported apart, one sample.
 *
 * Between the initial submission and the rounds the benchmark runs `sync` and
 * waits 240 s (--settle). The submission created and deleted 1,000 run
 * directories (about 30,000 files); on ext4 without a journal (as on the
 * benchmark machine) new files skip the inodes freed in the last 60 s (360 s
 * while not written back). For about half a minute after the sweep both
 * `git run -- true` and the resubmission were 20-50 % slower; after a 60 s
 * pause `git run -- true` (which creates about 30 files) still took 119.9 ms,
 * after 240 s 105.6 ms, on tmpfs 101.4 ms. The resubmission (which creates
 * almost none) was about the same in all three.
 * For diagnosis only (not part of the ratio), each round also times
 *   the resubmission with git-run's derived index (.git/git-run/index.sqlite)
 *       deleted first (untimed): the lookup then reads all 1,001 runs from
 *       git, as the first resubmission after the sweep does
 *   git run submit --json <def.json>   the same resubmission with JSON output
 *   git-run --version                  node start-up plus loading the CLI
 * and every command's CPU time (user + system, its git processes included).
 *
 * Usage: node dist/bench/memo.js [--iterations N] [--warmup N] [--children N] [--settle SECONDS]
 */
import { promises as fs, existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CLI, ROOT, benchEnv, childCpuMs, commandLine, cpuMark, foreignCpuShare, drainSupervisors, fmtRatio, intArg, machine, printTable, revision, run, runOk, runRefs, smallRepo, stats, statsJson, statsRow, STATS_HEADERS,
  sleep, timeMs, writeResults, runBench } from './lib.js';

/** The summary line git run submit ends with ("200 succeeded"): above 20 children, the only line when all succeed. */
const lastLine = (out: string): string => out.trimEnd().split('\n').pop() ?? '';
const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;

const ITERATIONS = intArg('iterations', 20);
const WARMUP = intArg('warmup', 2);
const CHILDREN = intArg('children', 1000);
const SETTLE = intArg('settle', 240);
const GOAL = 5;

/** git's count of objects (loose and packed): a memoized resubmission must write none. */
async function objectCount(repo: string, env: NodeJS.ProcessEnv): Promise<number> {
  const out = (await runOk('git', ['count-objects', '-v'], { cwd: repo, env })).stdout;
  const field = (k: string) => Number(new RegExp(`^${k}: (\\d+)$`, 'm').exec(out)?.[1] ?? NaN);
  return field('count') + field('in-pack');
}

async function main(): Promise<void> {
  const tmp = await fs.realpath(os.tmpdir());
  const root = await fs.mkdtemp(path.join(tmp, 'git-run-bench-memo-'));
  const home = path.join(root, 'home');
  await fs.mkdir(home);
  const env = benchEnv(home);
  const memoRepo = path.join(root, 'memo');
  const plainRepo = path.join(root, 'plain');
  const defFile = path.join(root, 'defs', `sweep-${CHILDREN}.json`);
  const definition = { command: ['true'], params: { x: { from: 1, to: CHILDREN, step: 1 } }, seed: 1 };
  try {
    const mach = machine();
    await smallRepo(memoRepo, env);
    await smallRepo(plainRepo, env);
    await fs.mkdir(path.dirname(defFile));
    await fs.writeFile(defFile, JSON.stringify(definition) + '\n');

    const gitRun = async (repo: string, args: string[]) => {
      const cpu0 = childCpuMs();
      const r = await run(process.execPath, [CLI, ...args], { cwd: repo, env });
      const cpu = childCpuMs() - cpu0;
      if (r.code !== 0) throw new Error(`git run ${args.join(' ')} (in ${repo}) exited ${r.code ?? r.signal}:\n${r.stderr}${r.stdout}`);
      return { ...r, cpu };
    };

    // --- the sweep, once, untimed for the ratio --------------------------------
    const initial = await timeMs(() => gitRun(memoRepo, ['submit', defFile]));
    const head = /^group ([0-9a-f]+): (\d+) runs, (\d+) to run$/m.exec(initial.value.stderr);
    if (!head || Number(head[2]) !== CHILDREN || Number(head[3]) !== CHILDREN) throw new Error(`the initial submission did not run ${CHILDREN} new children:\n${initial.value.stderr}`);
    if (lastLine(initial.value.stdout) !== `${CHILDREN} succeeded`) throw new Error(`the initial submission: expected "${CHILDREN} succeeded", got:\n${initial.value.stdout}`);
    const refs = await runRefs(memoRepo, env);
    if (refs.length !== CHILDREN + 1) throw new Error(`after the initial submission: ${refs.length} refs under refs/runs/, expected ${CHILDREN + 1}`);
    const objects = await objectCount(memoRepo, env);
    const runsDir = path.join(memoRepo, '.git', 'git-run', 'runs');
    const indexFile = path.join(memoRepo, '.git', 'git-run', 'index.sqlite');
    if (!existsSync(indexFile)) throw new Error(`no derived index at ${indexFile}: the benchmark's memoCold step deletes it, so it must be there`);
    const runDirs = () => (existsSync(runsDir) ? readdirSync(runsDir).length : 0);
    const dirs = runDirs();
    const short = head[1]!;
    // Let the kernel write back the initial submission's files, then let the
    // inodes its 1,000 run directories freed age (see the header) before anything is timed.
    await runOk('sync', [], { cwd: root, env });
    await sleep(SETTLE * 1000);

    const checkUnchanged = async (what: string) => {
      const now = await runRefs(memoRepo, env);
      if (now.length !== refs.length || now.some((r, i) => r !== refs[i])) {
        throw new Error(`${what} changed refs/runs/: ${refs.length} refs before, ${now.length} after${now.length === refs.length ? ' (tips moved)' : ''}`);
      }
      const o = await objectCount(memoRepo, env);
      if (o !== objects) throw new Error(`${what} wrote objects: ${objects} before, ${o} after`);
      if (runDirs() !== dirs) throw new Error(`${what} made a run directory: ${dirs} entries in ${runsDir} before, ${runDirs()} after`);
    };
    let groupId = '';
    const variants = {
      memo: {
        label: `git run submit <def.json> (memoized, ${CHILDREN.toLocaleString('en')} children)`,
        fn: async () => {
          const r = await gitRun(memoRepo, ['submit', defFile]);
          if (!new RegExp(`^group ${short}: ${CHILDREN} runs, all reused from an identical group$`, 'm').test(r.stderr)) {
            throw new Error(`the resubmission was not fully memoized:\n${r.stderr}`);
          }
          if (lastLine(r.stdout) !== `${CHILDREN} succeeded`) throw new Error(`the resubmission: expected "${CHILDREN} succeeded", got:\n${r.stdout}`);
          return r;
        },
      },
      plain: { label: 'git run -q -- true', fn: () => gitRun(plainRepo, ['-q', '--', 'true']) },
      memoCold: {
        label: '(diag) the same, derived index deleted first',
        /** Untimed: drop git-run's derived index (.git/git-run/index.sqlite), so that the lookup reads every run from git again. */
        before: async () => {
          for (const f of ['', '-wal', '-shm']) await fs.rm(`${indexFile}${f}`, { force: true });
        },
        fn: async () => {
          const r = await gitRun(memoRepo, ['submit', defFile]);
          if (!new RegExp(`^group ${short}: ${CHILDREN} runs, all reused from an identical group$`, 'm').test(r.stderr)) {
            throw new Error(`the resubmission with no index was not fully memoized:\n${r.stderr}`);
          }
          return r;
        },
      },
      memoJson: {
        label: '(diag) git run submit --json <def.json>',
        fn: async () => {
          const r = await gitRun(memoRepo, ['submit', '--json', defFile]);
          const j = JSON.parse(r.stdout) as { id: string; status: string; children: string[] };
          if (!j.id.startsWith(short) || j.status !== 'succeeded' || j.children.length !== CHILDREN) {
            throw new Error(`--json: id ${j.id}, status ${j.status}, ${j.children.length} children; expected group ${short}…, succeeded, ${CHILDREN}`);
          }
          if (groupId && j.id !== groupId) throw new Error(`--json: group ${j.id}, before ${groupId}`);
          groupId = j.id;
          return r;
        },
      },
      cliStart: { label: '(diag) git-run --version', fn: () => gitRun(memoRepo, ['--version']) },
    } as const;
    type Key = keyof typeof variants;
    const order: Key[] = ['memo', 'plain', 'memoCold', 'memoJson', 'cliStart'];
    const samples = Object.fromEntries(order.map((k) => [k, [] as number[]])) as Record<Key, number[]>;
    const cpu = Object.fromEntries(order.map((k) => [k, [] as number[]])) as Record<Key, number[]>;
    let first: { ms: number; cpu: number } | null = null;

    console.log(
      `memo benchmark: ${CHILDREN.toLocaleString('en')}-child sweep submitted in ${(initial.ms / 1000).toFixed(1)} s, then sync and a ${SETTLE} s pause; ${WARMUP} warm-up round(s), ${ITERATIONS} measured rounds; ` +
        `git run is \`node ${path.relative(ROOT, CLI)}\`; each round runs the first two in alternating order, then the diagnostics:`,
    );
    for (const k of order) console.log(`  ${variants[k].label}`);
    const loadAtRounds = Number(os.loadavg()[0]!.toFixed(2));
    const started = Date.now();
    const roundsForeign: number[] = [];
    let measuredFrom = cpuMark();
    for (let round = 0; round < WARMUP + ITERATIONS; round++) {
      if (round === WARMUP) measuredFrom = cpuMark();
      const roundFrom = cpuMark();
      const pair: Key[] = round % 2 === 0 ? ['memo', 'plain'] : ['plain', 'memo'];
      for (const k of [...pair, 'memoCold', 'memoJson', 'cliStart'] as Key[]) {
        const v = variants[k];
        if ('before' in v) await v.before();
        const { ms, value } = await timeMs(v.fn);
        if (round === 0 && k === 'memo') first = { ms, cpu: value.cpu };
        if (round >= WARMUP) {
          samples[k].push(ms);
          cpu[k].push(value.cpu);
        }
        await drainSupervisors(k === 'plain' ? plainRepo : memoRepo);
        if (k !== 'plain' && k !== 'cliStart') await checkUnchanged(v.label);
      }
      if (round >= WARMUP) roundsForeign.push(foreignCpuShare(roundFrom, cpuMark()));
    }
    const foreign = foreignCpuShare(measuredFrom, cpuMark());
    const elapsed = (Date.now() - started) / 1000;

    // The plain repository recorded one run a round; both are still clean.
    const plainRefs = await runRefs(plainRepo, env);
    if (plainRefs.length !== WARMUP + ITERATIONS) throw new Error(`expected ${WARMUP + ITERATIONS} runs under refs/runs/ of the plain repository, found ${plainRefs.length}`);
    for (const d of [memoRepo, plainRepo]) {
      const st = await runOk('git', ['status', '--porcelain'], { cwd: d, env });
      if (st.stdout.trim()) throw new Error(`${d} is not clean after the benchmark:\n${st.stdout}`);
    }

    const a = stats(samples.memo);
    const b = stats(samples.plain);
    const ratio = a.median / b.median;
    const half = Math.floor(samples.memo.length / 2);
    const cmd = commandLine();
    console.log('');
    console.log(`command: ${cmd}   (git-run ${revision()})`);
    console.log(`machine: ${mach.cpus} cores, node ${process.version}, ${mach.git}, load average ${mach.loadAverage1m} at start, ${loadAtRounds} when the rounds began (after the sweep)`);
    console.log(
      `memo repository: ${refs.length} refs under refs/runs/, ${objects.toLocaleString('en')} objects; initial submission of ${CHILDREN.toLocaleString('en')} children: ` +
        `${(initial.ms / 1000).toFixed(1)} s (${(initial.value.cpu / 1000).toFixed(1)} s CPU)`,
    );
    console.log('');
    printTable([...STATS_HEADERS, 'CPU ms'], order.map((k) => [...statsRow(variants[k].label, samples[k]), stats(cpu[k]).median.toFixed(0)]));
    console.log('');
    console.log(`ratio resubmission / git run -- true (medians): ${fmtRatio(ratio)}   goal <= ${GOAL.toFixed(2)}: ${ratio <= GOAL ? 'MET' : 'NOT MET'}`);
    console.log(`first resubmission after the sweep (warm-up, not counted): ${first!.ms.toFixed(1)} ms (${first!.cpu.toFixed(0)} ms CPU), ${fmtRatio(first!.ms / b.median)} x git run -- true`);
    const coldRatio = stats(samples.memoCold).median / b.median;
    console.log(`with the derived index deleted first (every run read from git, as after the sweep): median ${stats(samples.memoCold).median.toFixed(1)} ms, ${fmtRatio(coldRatio)} x git run -- true`);
    console.log(`resubmission drift: median of first half ${stats(samples.memo.slice(0, half)).median.toFixed(1)} ms, second half ${stats(samples.memo.slice(half)).median.toFixed(1)} ms`);
    console.log(`checks passed: every resubmission all reused, ${CHILDREN} succeeded, refs/runs/ (names and tips), object count and run directories unchanged; --json: group ${groupId.slice(0, 12)}, succeeded, ${CHILDREN} children`);
    console.log(`other processes used ${pct(foreign)} of the CPUs during the measured rounds (the busiest round: ${pct(Math.max(...roundsForeign))})`);
    console.log(`measured section: ${elapsed.toFixed(1)} s`);

    const file = await writeResults('memo', {
      benchmark: 'memo',
      command: cmd,
      date: new Date().toISOString(),
      gitRunRevision: revision(),
      machine: { ...mach, loadAverage1mAtRounds: loadAtRounds },
      foreignCpuShare: { measuredRounds: Number(foreign.toFixed(4)), perRound: roundsForeign.map((x) => Number(x.toFixed(4))) },
      gitRunEntry: path.relative(ROOT, CLI),
      definition,
      children: CHILDREN,
      settleSeconds: SETTLE,
      initialSubmission: { ms: Number(initial.ms.toFixed(1)), cpuMs: initial.value.cpu, refs: refs.length, objects, group: groupId },
      warmupRounds: WARMUP,
      iterations: ITERATIONS,
      unit: 'ms',
      ratio: Number(ratio.toFixed(3)),
      goal: GOAL,
      goalMet: ratio <= GOAL,
      ratioIndexDeleted: Number(coldRatio.toFixed(3)),
      firstResubmission: { ms: Number(first!.ms.toFixed(1)), cpuMs: first!.cpu, note: 'round 0 (warm-up): the first resubmission after the initial one' },
      results: Object.fromEntries(order.map((k) => [k, { command: variants[k].label, ...statsJson(samples[k]), cpuMs: statsJson(cpu[k]) }])),
      checks: { allReused: true, refsUnchanged: true, objectCountUnchanged: true, noRunDirectory: true, jsonStatusSucceeded: true, plainRunsRecorded: plainRefs.length },
    });
    console.log(`figures written to ${path.relative(process.cwd(), file) || file}`);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

runBench(main);
