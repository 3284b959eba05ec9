/**
 * `git run push` and `git run pull` of 10,000 runs with their notes (issue
 * 14), against plain `git push` / `git fetch` of the same refs with explicit
 * refspecs; goal: the ratio of medians <= 1.2 for each.
 *
 * The fixture: bench/fixture.ts's runs repository (<count> runs in git-run's
 * format, notes on about 30% of them), made once (kept with --fixture DIR).
 * Its derived index is built by one untimed `git run log -n 1` (a
 * repository that has used git-run has one).
 *
 * Each round, sides interleaved (which goes first alternates):
 *   push  from the fixture to a new empty bare repository:
 *         git push <bare> 'refs/runs/*:refs/runs/*' refs/notes/runs:refs/notes/runs
 *         git run push <bare>
 *   pull  into a new empty repository (`git init`) from a bare repository
 *         holding the fixture's runs and notes (pushed once, untimed):
 *         git fetch <bare> 'refs/runs/*:refs/runs/*' refs/notes/runs:refs/notes/runs
 *         git run pull <bare>
 * Checked every round: both sides end with the same refs (every run ref and
 * the notes ref, same object ids). The new repositories are removed after
 * each round, untimed (after a pull, once git-run's background packing of
 * the refs has ended: it runs past 1,000 loose run refs, as after a
 * submission, and is not timed, as git's own auto-gc would not be).
 *
 * Usage: node dist/bench/share.js [--count N] [--rounds N] [--warmup N] [--fixture DIR]
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, benchEnv, commandLine, cpuMark, fmtRatio, foreignCpuShare, intArg, machine, printTable, revision, runOk, runBench, stats, statsJson, statsRow, STATS_HEADERS, strArg, timeMs, writeResults } from './lib.js';
import { generate } from './fixture.js';

const GOAL = 1.2;

/** Until the background `git pack-refs` of a pull has ended: no loose run ref left, no lock (two minutes at most). */
async function packed(repo: string): Promise<void> {
  const gitDir = path.join(repo, '.git');
  const loose = (d: string): number => (existsSync(d) ? readdirSync(d, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? loose(path.join(d, e.name)) : 1), 0) : 0);
  const end = Date.now() + 120_000;
  while (loose(path.join(gitDir, 'refs', 'runs')) > 0 || existsSync(path.join(gitDir, 'packed-refs.lock'))) {
    if (Date.now() > end) throw new Error(`${repo}: refs still loose two minutes after the pull`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const SPECS = ['refs/runs/*:refs/runs/*', 'refs/notes/runs:refs/notes/runs'];

async function main(): Promise<void> {
  const count = intArg('count', 10_000);
  const rounds = intArg('rounds', 7);
  const warmup = intArg('warmup', 1);
  const kept = strArg('fixture', '');
  const top = kept ? path.resolve(kept) : mkdtempSync(path.join(os.tmpdir(), 'gitrun-bench-share-'));
  const fixture = path.join(top, `fixture-${count}`);
  const source = path.join(fixture, 'runs');
  const home = path.join(top, 'home');
  const env = benchEnv(home);
  // The binary measured: a copy, because others rebuild dist/ meanwhile; next to it, so that it finds the same node_modules.
  const cli = path.join(path.dirname(CLI), `.share-bench-${process.pid}.cjs`);
  copyFileSync(CLI, cli);
  const work = mkdtempSync(path.join(top, 'rounds-'));
  const git = (cwd: string, args: string[]) => runOk('git', args, { cwd, env });
  const gitRun = (cwd: string, args: string[]) => runOk(process.execPath, [cli, ...args], { cwd, env });
  try {
    await runOk('mkdir', ['-p', home], { cwd: os.tmpdir() });
    let fixtureMs = 0;
    if (!existsSync(path.join(source, '.git'))) {
      rmSync(fixture, { recursive: true, force: true });
      fixtureMs = (await timeMs(() => generate(fixture, count))).ms;
    }
    const runRefs = (await git(source, ['for-each-ref', '--format=x', 'refs/runs/'])).stdout.split('\n').filter(Boolean).length;
    const notes = (await git(source, ['notes', '--ref=runs', 'list'])).stdout.split('\n').filter(Boolean).length;
    await gitRun(source, ['log', '-n', '1']);
    // The remote pulls come from: the fixture's runs and notes, pushed once.
    const hub = path.join(top, 'hub.git');
    if (!existsSync(hub)) {
      await git(top, ['init', '-q', '--bare', hub]);
      await git(source, ['push', '-q', hub, ...SPECS]);
    }
    const refsOf = async (repo: string) => (await git(repo, ['for-each-ref', '--format=%(refname) %(objectname)', 'refs/runs/', 'refs/notes/runs'])).stdout;
    const want = await refsOf(hub);

    const sides = ['git', 'git-run'] as const;
    type Side = (typeof sides)[number];
    const samples = { push: { git: [] as number[], 'git-run': [] as number[] }, pull: { git: [] as number[], 'git-run': [] as number[] } };
    const op = {
      push: async (side: Side, n: number) => {
        const bare = path.join(work, `push-${side}-${n}.git`);
        await git(work, ['init', '-q', '--bare', bare]);
        const t = await timeMs(() => (side === 'git' ? git(source, ['push', '-q', bare, ...SPECS]) : gitRun(source, ['push', '--json', bare])));
        if ((await refsOf(bare)) !== want) throw new Error(`${side} push: the remote does not hold every run and the notes`);
        rmSync(bare, { recursive: true, force: true });
        return t.ms;
      },
      pull: async (side: Side, n: number) => {
        const repo = path.join(work, `pull-${side}-${n}`);
        await git(work, ['init', '-q', repo]);
        const t = await timeMs(() => (side === 'git' ? git(repo, ['fetch', '-q', hub, ...SPECS]) : gitRun(repo, ['pull', '--json', hub])));
        if ((await refsOf(repo)) !== want) throw new Error(`${side} pull: the repository does not hold every run and the notes`);
        // git run pull packs refs in the background past 1,000 loose ones (as after a submission): wait for it, untimed,
        // so that it neither runs under the next measurement nor races the removal.
        if (side === 'git-run' && count > 1000) await packed(repo);
        rmSync(repo, { recursive: true, force: true });
        return t.ms;
      },
    };
    console.log(`share benchmark: ${runRefs} runs, ${notes} notes; ${warmup} warm-up round(s), ${rounds} measured rounds, sides interleaved`);
    const mark0 = cpuMark();
    const started = Date.now();
    for (let round = 0; round < warmup + rounds; round++) {
      for (const kind of ['push', 'pull'] as const) {
        const order: Side[] = round % 2 ? ['git-run', 'git'] : ['git', 'git-run'];
        for (const side of order) {
          const ms = await op[kind](side, round);
          if (round >= warmup) samples[kind][side].push(ms);
        }
      }
      process.stdout.write(`  round ${round + 1}/${warmup + rounds} done\n`);
    }
    const elapsed = (Date.now() - started) / 1000;
    const foreign = foreignCpuShare(mark0, cpuMark());
    const ratio = (k: 'push' | 'pull') => stats(samples[k]['git-run']).median / stats(samples[k].git).median;
    const mach = machine();
    const cmd = commandLine();
    console.log('');
    console.log(`command: nice -n 10 ${cmd}   (git-run ${revision()})`);
    console.log(`machine: ${mach.cpus} cores, node ${process.version}, ${mach.git}, load average ${mach.loadAverage1m} at the end; other processes used ${(foreign * 100).toFixed(0)}% of the CPUs while measuring`);
    console.log('');
    printTable(STATS_HEADERS, [
      statsRow('git push (refspecs)', samples.push.git),
      statsRow('git run push', samples.push['git-run']),
      statsRow('git fetch (refspecs)', samples.pull.git),
      statsRow('git run pull', samples.pull['git-run']),
    ]);
    console.log('');
    printTable(['', 'ratio of medians', `goal <= ${GOAL}`], (['push', 'pull'] as const).map((k) => [k, fmtRatio(ratio(k)), ratio(k) <= GOAL ? 'MET' : 'NOT MET']));
    console.log(`measured section: ${elapsed.toFixed(1)} s${fixtureMs ? `; fixture made in ${(fixtureMs / 1000).toFixed(1)} s` : ''}`);
    const file = await writeResults('share', {
      benchmark: 'share',
      command: cmd,
      date: new Date().toISOString(),
      gitRunRevision: revision(),
      machine: mach,
      count: runRefs,
      notes,
      warmupRounds: warmup,
      rounds,
      unit: 'ms',
      goal: GOAL,
      foreignCpuShare: Number(foreign.toFixed(3)),
      ratios: { push: Number(ratio('push').toFixed(3)), pull: Number(ratio('pull').toFixed(3)) },
      goalMet: ratio('push') <= GOAL && ratio('pull') <= GOAL,
      results: { push: { git: statsJson(samples.push.git), gitRun: statsJson(samples.push['git-run']) }, pull: { git: statsJson(samples.pull.git), gitRun: statsJson(samples.pull['git-run']) } },
    });
    console.log(`results: ${path.relative(process.cwd(), file)}`);
  } finally {
    rmSync(cli, { force: true });
    rmSync(work, { recursive: true, force: true });
    if (!kept) rmSync(top, { recursive: true, force: true });
  }
}

runBench(main);
