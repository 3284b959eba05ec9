/**
 * `git run gc --older-than` over 100,000 runs deleting about half, against
 * git's own work for the same refs: `git update-ref --stdin` deleting them
 * (one transaction) and `git gc --prune=now`.
 *
 * Setup (untimed): the fixture's runs/ (bench/fixture.ts) copied once into a
 * template whose refs are packed (git-run packs run refs past 1000 loose
 * ones after publishing, as git's gc would) and whose index is built (as any
 * repository git-run has queried). The refs to delete are those a dry run of
 * the same gc selects, so both sides delete the same refs. Each round copies
 * the template twice (cp -a, then sync) and times both sides on their own
 * copy, interleaved, alternating which goes first; the ratio is of medians.
 *
 * Usage: node dist/bench/gc.js [--fixture DIR] [--rounds N] [--older-than DATE] [--template DIR]
 *        --template: a copy of the fixture's runs/ prepared as above (refs packed, index built), used as is
 *        (the fixture is made with bench/fixture.ts, 100,000 runs, when DIR has none)
 */
import { existsSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, ROOT, benchEnv, commandLine, fmtRatio, intArg, machine, median, printTable, revision, runBench, runOk, statsRow, STATS_HEADERS, strArg, timeMs, writeResults } from './lib.js';
import { START } from './fixture.js';

const DAY = 86_400_000;

runBench(async () => {
  const fixture = path.resolve(strArg('fixture', '/tmp/gitrun-fixture-100k'));
  const rounds = intArg('rounds', 3);
  // The fixture's runs spread over a year from a week after START: its middle deletes about half.
  const olderThan = strArg('older-than', new Date(START + 7 * DAY + 182 * DAY).toISOString());
  if (!existsSync(path.join(fixture, 'runs', '.git'))) {
    console.log(`no fixture in ${fixture}: making one with 100000 runs (bench/fixture.ts)`);
    await runOk(process.execPath, [path.join(ROOT, 'dist', 'bench', 'fixture.js'), fixture, '100000'], { cwd: ROOT });
  }
  const root = await fs.mkdtemp(path.join(await fs.realpath(os.tmpdir()), 'git-run-bench-gc-'));
  const home = path.join(root, 'home');
  await fs.mkdir(home);
  const env = benchEnv(home);
  // A fixed copy of the bundle next to it (it resolves its packages from the same node_modules).
  const cli = path.join(path.dirname(CLI), `.gc-bench-${process.pid}${path.extname(CLI)}`);
  await fs.copyFile(CLI, cli);
  const given = strArg('template', '');
  const template = given ? path.resolve(given) : path.join(root, 'template');
  try {
    const mach = machine();
    if (!given) {
      await runOk('cp', ['-a', '--reflink=auto', path.join(fixture, 'runs'), template], { cwd: root, env });
      await runOk('git', ['pack-refs', '--all'], { cwd: template, env });
    }
    const indexMs = (await timeMs(() => runOk(process.execPath, [cli, 'log', '-n', '1', '--oneline'], { cwd: template, env }))).ms;
    const dry = JSON.parse((await runOk(process.execPath, [cli, 'gc', '--older-than', olderThan, '--dry-run', '--json'], { cwd: template, env })).stdout) as { runs: Array<{ id: string }> };
    const ids = dry.runs.map((r) => r.id);
    const total = (await runOk('git', ['for-each-ref', '--format=x', 'refs/runs/'], { cwd: template, env })).stdout.split('\n').filter(Boolean).length;
    const input = ids.map((id) => `delete refs/runs/${id}`).join('\n') + '\n';
    console.log(`gc benchmark: ${total} runs, gc --older-than ${olderThan} deletes ${ids.length}; index built in ${Math.round(indexMs)} ms (setup)`);

    const copy = async (name: string) => {
      const dir = path.join(root, name);
      await fs.rm(dir, { recursive: true, force: true });
      await runOk('cp', ['-a', '--reflink=auto', template, dir], { cwd: root, env });
      await runOk('sync', [], { cwd: root, env });
      return dir;
    };
    const refsLeft = async (dir: string) => (await runOk('git', ['for-each-ref', '--format=x', 'refs/runs/'], { cwd: dir, env })).stdout.split('\n').filter(Boolean).length;
    const ours: number[] = [];
    const theirs: number[] = [];
    const loads: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const a = await copy('ours');
      const b = await copy('theirs');
      const sides = [
        async () => {
          loads.push(os.loadavg()[0]!);
          const t = await timeMs(() => runOk(process.execPath, [cli, 'gc', '--older-than', olderThan, '--prune', 'now'], { cwd: a, env }));
          ours.push(t.ms);
        },
        async () => {
          const t = await timeMs(async () => {
            await runOk('git', ['update-ref', '--stdin'], { cwd: b, env, input });
            await runOk('git', ['gc', '--quiet', '--prune=now'], { cwd: b, env });
          });
          theirs.push(t.ms);
        },
      ];
      for (const side of i % 2 ? sides.reverse() : sides) await side();
      const [left, right] = [await refsLeft(a), await refsLeft(b)];
      if (left !== total - ids.length || right !== left) throw new Error(`round ${i + 1}: ${left} run refs left by git run gc, ${right} by git; expected ${total - ids.length}`);
      console.log(`round ${i + 1}: git run gc ${Math.round(ours[i]!)} ms, update-ref + git gc ${Math.round(theirs[i]!)} ms (load ${loads[i]!.toFixed(1)})`);
    }
    const ratio = median(ours) / median(theirs);
    printTable(STATS_HEADERS, [statsRow('git run gc --older-than', ours), statsRow('git update-ref --stdin + git gc', theirs)]);
    console.log(`ratio of medians: ${fmtRatio(ratio)} (target <= 1.5); load (1 min) at each git-run side: ${loads.map((l) => l.toFixed(1)).join(', ')}`);
    const file = await writeResults('gc', { command: commandLine(), revision: revision(), machine: mach, runs: total, deleted: ids.length, olderThan, oursMs: ours, theirsMs: theirs, ratio, loads });
    console.log(`results: ${path.relative(ROOT, file)}`);
  } finally {
    await fs.rm(cli, { force: true });
    await fs.rm(root, { recursive: true, force: true });
  }
});
