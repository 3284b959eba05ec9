/**
 * Does ordinary git slow down when a repository holds a run ref per run?
 * `git status`, `git log -n 100` and `git branch` in the fixture's runs
 * repository (bench/fixture.ts: 100,000 refs under refs/runs/ plus
 * refs/notes/runs) against the same repository with those refs deleted, in
 * three states:
 *
 *   without   copy of the fixture, refs/runs/* and refs/notes/runs deleted
 *             (git update-ref --stdin) and their emptied directories removed;
 *             the run objects stay in the pack, so only the refs differ
 *   loose     copy of the fixture as fast-import left it: every run ref a loose file
 *   packed    copy of the fixture after `git pack-refs --all`
 *
 * Each command is timed from process start to exit, in interleaved rounds
 * (each round runs every command in every state, the order of the states
 * rotating from round to round) after warm-up rounds, each checked for exit
 * status 0 and for the same output in all three states. Goal: median(with run
 * refs) / median(without) <= 1.1, loose and packed alike.
 *
 * Output goes to a pipe, as in a script: `git log` then decorates nothing, so
 * it never reads the refs. A terminal decorates (log.decorate=auto), which
 * reads every ref: the diagnostic row `git log -n 100 --decorate` is that case.
 * After measuring, `git gc --auto` runs once in the loose copy, to record
 * whether git's own housekeeping would pack 100,000 loose refs.
 *
 * Usage: node dist/bench/gitrefs.js <fixture dir> [--rounds N] [--warmup N]
 *        (the fixture dir holds runs/: npm run bench:fixture -- <dir> 100000)
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  benchEnv, commandLine, cpuMark, fmtRatio, foreignCpuShare, intArg, machine, printTable, revision, run, runOk, stats, statsJson, statsRow, STATS_HEADERS, timeMs, writeResults, runBench } from './lib.js';

const ROUNDS = intArg('rounds', 21);
const WARMUP = intArg('warmup', 3);
const GOAL = 1.1;

const STATES = ['without', 'loose', 'packed'] as const;
type State = (typeof STATES)[number];

const COMMANDS = [
  { key: 'status', label: 'git status', args: ['status'], diagnostic: false },
  { key: 'log', label: 'git log -n 100', args: ['log', '-n', '100'], diagnostic: false },
  { key: 'branch', label: 'git branch', args: ['branch'], diagnostic: false },
  { key: 'logDecorate', label: '(tty) git log -n 100 --decorate', args: ['log', '-n', '100', '--decorate'], diagnostic: true },
] as const;
type Key = (typeof COMMANDS)[number]['key'];

/** Loose ref files under .git/refs/<sub> (recursively). */
function looseRefs(gitDir: string, sub: string): number {
  const top = path.join(gitDir, 'refs', sub);
  if (!existsSync(top)) return 0;
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else n++;
    }
  };
  walk(top);
  return n;
}

const packedRefsBytes = (repo: string): number => {
  const f = path.join(repo, '.git', 'packed-refs');
  return existsSync(f) ? statSync(f).size : 0;
};

async function main(): Promise<void> {
  // The one argument that is neither an option nor an option's value.
  const argv = process.argv.slice(2);
  const fixture = argv.find((a, i) => !a.startsWith('--') && !['--rounds', '--warmup'].includes(argv[i - 1] ?? ''));
  if (!fixture) {
    console.error('usage: node dist/bench/gitrefs.js <fixture dir> [--rounds N] [--warmup N]   (make one with: npm run bench:fixture -- <dir> 100000)');
    process.exitCode = 2;
    return;
  }
  const source = path.resolve(fixture, 'runs');
  if (!existsSync(path.join(source, '.git'))) throw new Error(`${source} is not a fixture's runs repository (npm run bench:fixture -- ${fixture} 100000)`);
  const summaryFile = path.resolve(fixture, 'fixture.json');
  const fixtureSummary = existsSync(summaryFile) ? (JSON.parse(readFileSync(summaryFile, 'utf8')) as Record<string, unknown>) : null;

  const root = mkdtempSync(path.join(os.tmpdir(), 'git-run-gitrefs-'));
  const home = path.join(root, 'home');
  await fs.mkdir(home);
  const env = benchEnv(home);
  const repos = Object.fromEntries(STATES.map((s) => [s, path.join(root, s)])) as Record<State, string>;
  try {
    // Copies, not clones: a clone would pack the refs (and drop the notes), which is the variable measured.
    const setup: Record<string, number> = {};
    for (const s of STATES) setup[`copy ${s} ms`] = Math.round((await timeMs(() => runOk('cp', ['-a', '--reflink=auto', source, repos[s]], { cwd: root, env }))).ms);
    const runRefs = (await runOk('git', ['for-each-ref', '--format=%(refname)', 'refs/runs/'], { cwd: repos.loose, env })).stdout.split('\n').filter(Boolean).length;
    setup['pack-refs --all ms'] = Math.round((await timeMs(() => runOk('git', ['pack-refs', '--all'], { cwd: repos.packed, env }))).ms);
    const deletions = (await runOk('git', ['for-each-ref', '--format=delete %(refname)', 'refs/runs/', 'refs/notes/runs'], { cwd: repos.without, env })).stdout;
    setup['delete run refs ms'] = Math.round((await timeMs(() => runOk('git', ['update-ref', '--stdin'], { cwd: repos.without, env, input: deletions }))).ms);
    // git leaves refs/runs/ behind, empty but still 15 MB (ext4 never shrinks a directory), and every
    // full ref iteration reads it (measured: +1.3 ms per `git log --decorate`): the baseline is a
    // repository that never had run refs, so the emptied directories go too.
    for (const d of ['refs/runs', 'refs/notes']) await fs.rmdir(path.join(repos.without, '.git', d)).catch(() => undefined);
    const refs = Object.fromEntries(
      STATES.map((s) => [
        s,
        {
          total: 0,
          looseRunRefs: looseRefs(path.join(repos[s], '.git'), 'runs'),
          packedRefsBytes: packedRefsBytes(repos[s]),
        },
      ]),
    ) as Record<State, { total: number; looseRunRefs: number; packedRefsBytes: number }>;
    for (const s of STATES) refs[s].total = (await runOk('git', ['for-each-ref', '--format=x'], { cwd: repos[s], env })).stdout.split('\n').filter(Boolean).length;
    if (refs.without.total > 10) throw new Error(`the copy without run refs still has ${refs.without.total} refs`);

    console.log(`gitrefs benchmark: ${source} (${runRefs} run refs); ${WARMUP} warm-up round(s), ${ROUNDS} measured rounds, states interleaved:`);
    console.log(`  without  refs/runs/ and refs/notes/runs deleted (${refs.without.total} refs left)`);
    console.log(`  loose    ${refs.loose.looseRunRefs} loose run refs, ${refs.loose.packedRefsBytes ? 'a' : 'no'} packed-refs file`);
    console.log(`  packed   after git pack-refs --all (${setup['pack-refs --all ms']} ms; packed-refs ${(refs.packed.packedRefsBytes / 2 ** 20).toFixed(1)} MiB)`);

    const samples = Object.fromEntries(COMMANDS.map((c) => [c.key, Object.fromEntries(STATES.map((s) => [s, [] as number[]]))])) as Record<Key, Record<State, number[]>>;
    const mark0 = cpuMark();
    const started = Date.now();
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      for (const c of COMMANDS) {
        const outputs: Partial<Record<State, string>> = {};
        for (let k = 0; k < STATES.length; k++) {
          const s = STATES[(round + k) % STATES.length]!;
          const { ms, value } = await timeMs(() => run('git', c.args, { cwd: repos[s], env }));
          if (value.code !== 0) throw new Error(`git ${c.args.join(' ')} in ${repos[s]} exited ${value.code ?? value.signal}:\n${value.stderr}`);
          if (round >= WARMUP) samples[c.key][s].push(ms);
          outputs[s] = value.stdout;
        }
        // Decorations name the run refs only where they exist; everything else must read the same in all three.
        if (c.key !== 'logDecorate' && (outputs.loose !== outputs.without || outputs.packed !== outputs.without)) {
          throw new Error(`git ${c.args.join(' ')} prints different output with and without the run refs`);
        }
      }
    }
    const elapsed = (Date.now() - started) / 1000;
    const foreign = foreignCpuShare(mark0, cpuMark());

    // What git's housekeeping does with the loose refs (after measuring: it may change the copy).
    const gcAuto = await timeMs(() => runOk('git', ['gc', '--auto'], { cwd: repos.loose, env }));
    const afterGc = { looseRunRefs: looseRefs(path.join(repos.loose, '.git'), 'runs'), packedRefsBytes: packedRefsBytes(repos.loose), ms: Math.round(gcAuto.ms) };

    const med = (k: Key, s: State) => stats(samples[k][s]).median;
    const ratios = Object.fromEntries(COMMANDS.map((c) => [c.key, { loose: med(c.key, 'loose') / med(c.key, 'without'), packed: med(c.key, 'packed') / med(c.key, 'without') }])) as Record<Key, { loose: number; packed: number }>;
    // Commands of a few milliseconds on a shared 2-CPU machine: the 10th percentiles (the least disturbed
    // runs) tell a real difference from scheduling noise when other work inflates the medians.
    const p10 = (k: Key, s: State) => stats(samples[k][s]).p10;
    const p10Ratios = Object.fromEntries(COMMANDS.map((c) => [c.key, { loose: p10(c.key, 'loose') / p10(c.key, 'without'), packed: p10(c.key, 'packed') / p10(c.key, 'without') }])) as Record<Key, { loose: number; packed: number }>;
    const mach = machine();
    const cmd = commandLine();
    console.log('');
    console.log(`command: ${cmd}   (git-run ${revision()})`);
    console.log(`machine: ${mach.cpus} cores, node ${process.version}, ${mach.git}, load average ${mach.loadAverage1m} at start; other processes used ${(foreign * 100).toFixed(0)}% of the CPUs while measuring`);
    console.log('');
    printTable(STATS_HEADERS, COMMANDS.flatMap((c) => STATES.map((s) => statsRow(`${c.label} [${s}]`, samples[c.key][s]))));
    console.log('');
    printTable(
      ['median ms', 'without', 'loose', 'packed', 'loose/without', 'packed/without', `goal <= ${GOAL}`, 'p10 ratios loose, packed'],
      COMMANDS.map((c) => {
        const r = ratios[c.key];
        const met = r.loose <= GOAL && r.packed <= GOAL;
        return [
          c.label,
          ...STATES.map((s) => med(c.key, s).toFixed(1)),
          fmtRatio(r.loose),
          fmtRatio(r.packed),
          c.diagnostic ? `(${met ? 'met' : 'not met'})` : met ? 'MET' : 'NOT MET',
          `${fmtRatio(p10Ratios[c.key].loose)}, ${fmtRatio(p10Ratios[c.key].packed)}`,
        ];
      }),
    );
    console.log('');
    console.log(`git gc --auto in the loose copy: ${afterGc.ms} ms; afterwards ${afterGc.looseRunRefs} loose run refs, packed-refs ${afterGc.packedRefsBytes} bytes`);
    console.log(`measured section: ${elapsed.toFixed(1)} s`);

    const file = await writeResults('gitrefs', {
      benchmark: 'gitrefs',
      command: cmd,
      date: new Date().toISOString(),
      gitRunRevision: revision(),
      machine: mach,
      fixture: { runsRepository: source, runRefs, summary: fixtureSummary },
      warmupRounds: WARMUP,
      rounds: ROUNDS,
      unit: 'ms',
      goal: GOAL,
      goalMet: COMMANDS.filter((c) => !c.diagnostic).every((c) => ratios[c.key].loose <= GOAL && ratios[c.key].packed <= GOAL),
      foreignCpuShare: Number(foreign.toFixed(3)),
      setup,
      refs,
      gcAuto: afterGc,
      results: Object.fromEntries(
        COMMANDS.map((c) => [
          c.key,
          {
            command: c.label,
            diagnostic: c.diagnostic,
            ratioLoose: Number(ratios[c.key].loose.toFixed(3)),
            ratioPacked: Number(ratios[c.key].packed.toFixed(3)),
            p10RatioLoose: Number(p10Ratios[c.key].loose.toFixed(3)),
            p10RatioPacked: Number(p10Ratios[c.key].packed.toFixed(3)),
            ...Object.fromEntries(STATES.map((s) => [s, statsJson(samples[c.key][s])])),
          },
        ]),
      ),
    });
    console.log(`figures written to ${path.relative(process.cwd(), file) || file}`);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

runBench(main);
