/**
 * Metric histories (issue 15, decision 0020).
 *
 * 1. Recording: `git run -q --no-skip -- sh -c '<copy>'` where the command
 *    copies a prepared 100,000-line metrics.jsonl (one point a line, `step`
 *    and `loss`: 3.3 MB) to $GIT_RUN_METRICS and a small metrics.json beside
 *    it, against the same command copying metrics.json only. Both copies are
 *    made by `cp` from files outside the work tree, so the difference is what
 *    git-run does with the history: hash it as an output, parse it for the
 *    summary (last, min, max, count), write the summary. Each in its own
 *    small repository (bench/lib.ts smallRepo), wall-clock of the whole
 *    command, warm-up rounds, interleaved, alternating which goes first.
 *    Reported: ratio of medians (history / metrics.json only).
 * 2. metricHistory of a 200-child sweep: each child writes 1,000 points;
 *    then, in this process, `metricHistory(repo, id, { maxPoints: 500 })` of
 *    every child one after another (what a chart of the sweep reads), timed
 *    as a whole, several rounds; also with all 200 read at once
 *    (Promise.all); and `metricHistories(repo, ids, { maxPoints: 500 })`,
 *    the batched reader (one cat-file process for every finished child),
 *    the three interleaved. Reported: ratio of medians (one after another /
 *    batched).
 *
 * Usage: node dist/bench/metrics.js [--iterations N] [--warmup N] [--children N] [--sweep-only]
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, benchEnv, commandLine, fmtRatio, intArg, machine, median, printTable, revision, runOk, smallRepo, statsJson, statsRow, STATS_HEADERS, timeMs, writeResults, runBench } from './lib.js';
import { metricHistories, metricHistory, repoAt } from '../src/api/index.js';

const ITERATIONS = intArg('iterations', 15);
const WARMUP = intArg('warmup', 2);
const CHILDREN = intArg('children', 200);
const POINTS = 100_000;
/** Only part 2 (the sweep's histories). */
const SWEEP_ONLY = process.argv.includes('--sweep-only');

runBench(async () => {
  const top = await fs.mkdtemp(path.join(os.tmpdir(), 'git-run-bench-metrics-'));
  const env = benchEnv(path.join(top, 'home'));
  await fs.mkdir(path.join(top, 'home'), { recursive: true });
  const data = path.join(top, 'data');
  await fs.mkdir(data);
  const hist = path.join(data, 'hist.jsonl');
  let text = '';
  for (let i = 1; i <= POINTS; i++) text += `{"step": ${i}, "loss": ${(1 / i).toPrecision(6)}}\n`;
  await fs.writeFile(hist, text);
  const small = path.join(data, 'child.jsonl');
  await fs.writeFile(small, text.split('\n').slice(0, 1000).join('\n') + '\n');
  const json = path.join(data, 'metrics.json');
  await fs.writeFile(json, '{"acc": 0.9}\n');

  const repos: Record<'history' | 'json', string> = { history: path.join(top, 'history'), json: path.join(top, 'json') };
  for (const r of Object.values(repos)) await smallRepo(r, env);
  const cmd = {
    history: `cp '${hist}' "$GIT_RUN_METRICS" && cp '${json}' metrics.json`,
    json: `cp '${json}' metrics.json`,
  };
  const once = (k: 'history' | 'json') => timeMs(() => runOk(process.execPath, [CLI, '-q', '--no-skip', '--', 'sh', '-c', cmd[k]], { cwd: repos[k], env }));
  const samples: Record<'history' | 'json', number[]> = { history: [], json: [] };
  for (let i = 0; i < (SWEEP_ONLY ? 0 : WARMUP + ITERATIONS); i++) {
    const order: Array<'history' | 'json'> = i % 2 ? ['json', 'history'] : ['history', 'json'];
    for (const k of order) {
      const { ms } = await once(k);
      if (i >= WARMUP) samples[k].push(ms);
    }
  }
  let ratio = NaN;
  if (!SWEEP_ONLY) {
    // The check: the last history run recorded its summary.
    const last = JSON.parse((await runOk(process.execPath, [CLI, 'log', '--json', '-n', '1'], { cwd: repos.history, env })).stdout.split('\n')[0]!);
    if (last.metrics.loss !== Number((1 / POINTS).toPrecision(6))) throw new Error(`the history's last value was not recorded: ${JSON.stringify(last.metrics)}`);
    ratio = median(samples.history) / median(samples.json);
    printTable(STATS_HEADERS, [statsRow(`record, ${POINTS} history points`, samples.history), statsRow('record, metrics.json only', samples.json)]);
    console.log(`ratio of medians (history / metrics.json only): ${fmtRatio(ratio)}`);
  }

  // A sweep whose children each write 1,000 points.
  const sweepRepo = path.join(top, 'sweep');
  await smallRepo(sweepRepo, env);
  const def = path.join(data, 'sweep.json');
  await fs.writeFile(def, JSON.stringify({ command: ['sh', '-c', `cp '${small}' "$GIT_RUN_METRICS"`], params: { i: { values: Array.from({ length: CHILDREN }, (_, k) => k + 1) } }, seed: 1 }));
  const g = JSON.parse((await runOk(process.execPath, [CLI, 'submit', '--json', def], { cwd: sweepRepo, env })).stdout);
  if (g.status !== 'succeeded' || g.children.length !== CHILDREN) throw new Error(`the sweep did not succeed: ${g.status}`);
  const repo = await repoAt(sweepRepo);
  const seq: number[] = [];
  const par: number[] = [];
  const batched: number[] = [];
  const check = (id: string, h: { series: Array<{ values: number[] }> } | undefined) => {
    if (!h?.series[0]?.values.length || h.series[0].values.length > 500) throw new Error(`unexpected series of ${id}`);
  };
  for (let i = 0; i < WARMUP + Math.max(3, Math.floor(ITERATIONS / 3)); i++) {
    const a = await timeMs(async () => {
      for (const id of g.children as string[]) check(id, await metricHistory(repo, id, { maxPoints: 500 }));
    });
    const b = await timeMs(() => Promise.all((g.children as string[]).map((id) => metricHistory(repo, id, { maxPoints: 500 }))));
    const c = await timeMs(async () => {
      const all = await metricHistories(repo, g.children as string[], { maxPoints: 500 });
      for (const id of g.children as string[]) check(id, all.get(id));
    });
    if (i >= WARMUP) seq.push(a.ms), par.push(b.ms), batched.push(c.ms);
  }
  printTable(STATS_HEADERS, [
    statsRow(`metricHistory of ${CHILDREN} children, one after another`, seq),
    statsRow(`metricHistory of ${CHILDREN} children, at once`, par),
    statsRow(`metricHistories of the ${CHILDREN} children (one call)`, batched),
  ]);
  console.log(`ratio of medians (one after another / metricHistories): ${fmtRatio(median(seq) / median(batched))}`);
  const file = await writeResults('metrics', {
    command: commandLine(),
    revision: revision(),
    machine: machine({ load: os.loadavg().map((x) => x.toFixed(2)).join(' ') }),
    ...(SWEEP_ONLY ? {} : { record: { history: statsJson(samples.history), json: statsJson(samples.json), ratio } }),
    sweep: { children: CHILDREN, sequential: statsJson(seq), parallel: statsJson(par), batched: statsJson(batched) },
  });
  console.log(`results: ${file}`);
  await fs.rm(top, { recursive: true, force: true });
});
