/**
 * Launch overhead: `git run -- true` against `datalad run true`, in
 * equivalent small repositories (the same 20 small files committed: a plain
 * git repository for git-run, a `datalad create` dataset for datalad).
 *
 * Wall-clock time of the whole command as a user sees it (process start to
 * exit), interleaved A, B, A, B ... after warm-up rounds, each checked for
 * exit status 0. Goal: median(git run) / median(datalad run) <= 0.5.
 *
 * `git run` is what users run: package.json's "bin" (the bundle) when it is
 * built, else dist/src/bin/git-run.js. Each round also times, for diagnosis
 * only (not part of the ratio):
 *   git run via dist/src/bin/git-run.js   the unbundled tsc output (only when the bin differs)
 *   git run -d          submission alone (snapshot, spec, publish, start a detached supervisor)
 *   git-run --version   node start-up plus loading the CLI
 *   node -e 0           bare node start-up
 * After each git-run command the benchmark waits (untimed) until any detached
 * supervisor of the benchmark repository has exited, so that none overlaps
 * the next timing.
 *
 * With --baseline FILE (another build's dist/git-run.cjs, with its dist/bundle/
 * beside it for a build since decision 0024, e.g. a copy made
 * before a change), each round also times `git run -q -- true` with that
 * bundle in the same repository, interleaved, and the ratio of the medians
 * (this build / the baseline) is printed: a before/after figure that the
 * machine's load at the time affects alike.
 *
 * Usage: node dist/bench/launch.js [--iterations N] [--warmup N] [--baseline FILE]
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CLI, CLI_UNBUNDLED, ROOT, benchEnv, commandLine, fmtRatio, intArg, strArg, machine, printTable, revision, run, runOk, sleep, stats, statsJson, statsRow, STATS_HEADERS, timeMs, writeResults, runBench, supervisorsIn } from './lib.js';

const ITERATIONS = intArg('iterations', 20);
const WARMUP = intArg('warmup', 2);
const BASELINE = strArg('baseline', '') && path.resolve(strArg('baseline', ''));

/** The same 20 small files in both repositories. */
function smallFiles(): Array<[string, string]> {
  const files: Array<[string, string]> = [['README.md', '# bench project\n\nA small project for the launch benchmark.\n']];
  for (let i = 0; i < 8; i++) files.push([`src/module_${i}.py`, `def f${i}(x):\n    return x * ${i + 1}\n`.repeat(20)]);
  for (let i = 0; i < 4; i++) files.push([`configs/exp_${i}.yaml`, `lr: 0.0${i + 1}\nepochs: ${10 * (i + 1)}\nseed: ${i}\n`]);
  for (let i = 0; i < 6; i++) {
    const rows = Array.from({ length: 50 }, (_, r) => `${r},${(r * (i + 3)) % 97},${(r * 7 + i) % 13}`).join('\n');
    files.push([`data/part_${i}.csv`, `id,a,b\n${rows}\n`]);
  }
  files.push(['train.py', 'import sys\nprint("training", sys.argv[1:])\n']);
  if (files.length !== 20) throw new Error(`expected 20 files, made ${files.length}`);
  return files;
}

async function writeFiles(dir: string): Promise<void> {
  for (const [name, text] of smallFiles()) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), text);
  }
}


/** Wait (untimed for the benchmark) until no supervisor is left in `repo`;
 * returns how long that took. */
async function drainSupervisors(repo: string): Promise<number> {
  const t0 = Date.now();
  while (supervisorsIn(repo).length) {
    if (Date.now() - t0 > 30_000) throw new Error(`a git-run supervisor in ${repo} is still running after 30 s`);
    await sleep(2);
  }
  return Date.now() - t0;
}

async function main(): Promise<void> {
  const tmp = await fs.realpath(os.tmpdir());
  const root = await fs.mkdtemp(path.join(tmp, 'git-run-bench-launch-'));
  const home = path.join(root, 'home');
  await fs.mkdir(home);
  const env = benchEnv(home);
  const gitRepo = path.join(root, 'gitrepo');
  const dataset = path.join(root, 'dataset');
  try {
    const dataladVersion = (await runOk('datalad', ['--version'], { cwd: root, env })).stdout.trim();
    const annexVersion = (await run('git', ['annex', 'version', '--raw'], { cwd: root, env })).stdout.trim() || 'unknown';

    // A: plain git repository with the files committed.
    await fs.mkdir(gitRepo);
    await runOk('git', ['init', '-q'], { cwd: gitRepo, env });
    await writeFiles(gitRepo);
    await runOk('git', ['add', '-A'], { cwd: gitRepo, env });
    await runOk('git', ['commit', '-q', '-m', 'init'], { cwd: gitRepo, env });

    // B: datalad dataset with the same files saved.
    await runOk('datalad', ['-l', 'error', 'create', dataset], { cwd: root, env });
    await writeFiles(dataset);
    await runOk('datalad', ['-l', 'error', 'save', '-m', 'init'], { cwd: dataset, env });
    for (const d of [gitRepo, dataset]) {
      const st = await runOk('git', ['status', '--porcelain'], { cwd: d, env });
      if (st.stdout.trim()) throw new Error(`${d} is not clean after setup:\n${st.stdout}`);
    }

    const gitRun = async (args: string[], entry = CLI) => {
      const r = await run(process.execPath, [entry, ...args], { cwd: gitRepo, env });
      if (r.code !== 0) throw new Error(`git run ${args.join(' ')} exited ${r.code ?? r.signal}:\n${r.stderr}`);
      return r;
    };
    const variants = {
      gitRun: { label: 'git run -q -- true', fn: () => gitRun(['-q', '--', 'true']) },
      datalad: {
        label: 'datalad run true',
        fn: async () => {
          const r = await run('datalad', ['run', 'true'], { cwd: dataset, env });
          if (r.code !== 0 || !/run\(ok\)/.test(r.stdout)) throw new Error(`datalad run true exited ${r.code ?? r.signal}:\n${r.stdout}${r.stderr}`);
          return r;
        },
      },
      unbundled: { label: '(diag) git run, unbundled entry', fn: () => gitRun(['-q', '--', 'true'], CLI_UNBUNDLED) },
      baseline: { label: 'git run -q -- true, the --baseline bundle', fn: () => gitRun(['-q', '--', 'true'], BASELINE) },
      submit: { label: '(diag) git run -d -q -- true', fn: () => gitRun(['-d', '-q', '--', 'true']) },
      cliStart: { label: '(diag) git-run --version', fn: () => gitRun(['--version']) },
      nodeStart: {
        label: '(diag) node -e 0',
        fn: () => runOk(process.execPath, ['-e', '0'], { cwd: gitRepo, env }),
      },
    } as const;
    type Key = keyof typeof variants;
    const order: Key[] = ['gitRun', ...(BASELINE ? (['baseline'] as const) : []), 'datalad', ...(CLI !== CLI_UNBUNDLED ? (['unbundled'] as const) : []), 'submit', 'cliStart', 'nodeStart'];
    const samples = Object.fromEntries(order.map((k) => [k, [] as number[]])) as Record<Key, number[]>;
    const supervisorTail: number[] = [];
    const submitTail: number[] = [];

    console.log(`launch benchmark: ${WARMUP} warm-up round(s), ${ITERATIONS} measured rounds; git run is \`node ${path.relative(ROOT, CLI)}\`; each round runs, in this order:`);
    for (const k of order) console.log(`  ${variants[k].label}`);
    const mach = machine({ datalad: dataladVersion, gitAnnex: annexVersion });
    const started = Date.now();
    for (let round = 0; round < WARMUP + ITERATIONS; round++) {
      for (const k of order) {
        const { ms } = await timeMs(variants[k].fn);
        if (round >= WARMUP) samples[k].push(ms);
        if (k === 'gitRun' || k === 'unbundled' || k === 'submit' || k === 'baseline') {
          const tail = await drainSupervisors(gitRepo);
          if (round >= WARMUP && (k === 'gitRun' || k === 'submit')) (k === 'gitRun' ? supervisorTail : submitTail).push(tail);
        }
      }
    }
    const elapsed = (Date.now() - started) / 1000;

    // The record is what we expect: one ref per git-run run, both repositories still clean.
    const refs = (await runOk('git', ['for-each-ref', '--format=%(refname)', 'refs/runs/'], { cwd: gitRepo, env })).stdout.trim().split('\n').filter(Boolean);
    const expectedRuns = (2 + (order.includes('unbundled') ? 1 : 0) + (order.includes('baseline') ? 1 : 0)) * (WARMUP + ITERATIONS);
    if (refs.length !== expectedRuns) throw new Error(`expected ${expectedRuns} runs under refs/runs/, found ${refs.length}`);
    for (const d of [gitRepo, dataset]) {
      const st = await runOk('git', ['status', '--porcelain'], { cwd: d, env });
      if (st.stdout.trim()) throw new Error(`${d} is not clean after the benchmark:\n${st.stdout}`);
    }

    const a = stats(samples.gitRun);
    const b = stats(samples.datalad);
    const ratio = a.median / b.median;
    const half = Math.floor(samples.gitRun.length / 2);
    const cmd = commandLine();
    console.log('');
    console.log(`command: ${cmd}   (git-run ${revision()})`);
    console.log(`machine: ${mach.cpus} cores, node ${process.version}, ${mach.git}, datalad ${dataladVersion.replace(/^datalad /, '')}, git-annex ${annexVersion}, load average ${mach.loadAverage1m} at start`);
    console.log('');
    printTable(STATS_HEADERS, order.map((k) => statsRow(variants[k].label, samples[k])));
    console.log('');
    console.log(`ratio git run / datalad run (medians): ${fmtRatio(ratio)}   goal <= 0.50: ${ratio <= 0.5 ? 'MET' : 'NOT MET'}`);
    if (BASELINE) console.log(`ratio git run / the --baseline bundle (medians): ${fmtRatio(a.median / stats(samples.baseline).median)}   (${BASELINE})`);
    console.log(`git run drift: median of first half ${stats(samples.gitRun.slice(0, half)).median.toFixed(1)} ms, second half ${stats(samples.gitRun.slice(half)).median.toFixed(1)} ms (${refs.length} runs recorded in all)`);
    console.log(`a detached supervisor still running after \`git run\` returned: median ${stats(supervisorTail).median.toFixed(1)} ms; after \`git run -d\` returned: median ${stats(submitTail).median.toFixed(1)} ms (not counted above)`);
    console.log(`measured section: ${elapsed.toFixed(1)} s`);

    const file = await writeResults('launch', {
      benchmark: 'launch',
      command: cmd,
      date: new Date().toISOString(),
      gitRunRevision: revision(),
      machine: mach,
      gitRunEntry: path.relative(ROOT, CLI),
      warmupRounds: WARMUP,
      iterations: ITERATIONS,
      unit: 'ms',
      ratio: Number(ratio.toFixed(3)),
      ...(BASELINE ? { baseline: BASELINE, ratioToBaseline: Number((a.median / stats(samples.baseline).median).toFixed(3)) } : {}),
      goal: 0.5,
      goalMet: ratio <= 0.5,
      results: Object.fromEntries(order.map((k) => [k, { command: variants[k].label, ...statsJson(samples[k]) }])),
      supervisorTailMs: statsJson(supervisorTail),
      supervisorAfterDetachMs: statsJson(submitTail),
      runsRecorded: refs.length,
    });
    console.log(`figures written to ${path.relative(process.cwd(), file) || file}`);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

runBench(main);
