/**
 * `git run ui` in a real browser (issue 15): time from navigation to painted.
 *
 *   1. The runs table of the 100,000-run fixture (bench/fixture.ts, as
 *      bench/query.ts uses it): a new tab opens the page and waits until its
 *      table holds the first 100 rows and two animation frames have passed
 *      (painted). Goal: within 1 s. Side by side, in interleaved rounds, the
 *      text listing of the same 100 runs, `git run log -n 100 --oneline`
 *      (the reference: what a user runs without the page), ratio of medians.
 *      Also timed: the same table sorted by a metric over all 100,000 runs.
 *   2. The charts of a 200-child sweep (20 learning rates x 10 repeats, each
 *      child writing a 100-step loss history and a final loss), recorded here
 *      with the local executor: the sweep page until its metric-against-
 *      parameter chart and its parallel coordinates are drawn (goal: within
 *      0.5 s), and until the 200 histories are drawn too (reported apart).
 *
 * The server is started once (`git run ui`, which syncs the index before it
 * prints its address: untimed); the first visit, which trades the token for
 * the cookie, is untimed. Chromium is Debian's (/usr/bin/chromium), headless.
 * Usage: node dist/bench/ui.js [--fixture DIR] [--rounds N] [--copy DIR]
 *        (--copy: where the fixture's runs are copied, kept and reused; default $TMPDIR/git-run-bench-ui-100k)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { CLI, ROOT, benchEnv, commandLine, fmtRatio, intArg, machine, median, printTable, revision, runBench, runOk, sleep, stats, statsRow, STATS_HEADERS, strArg, timeMs, writeResults } from './lib.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function serve(repo: string, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string; base: string }> {
  const child = spawn(process.execPath, [CLI, 'ui'], { cwd: repo, env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const end = Date.now() + 600_000;
  for (;;) {
    const m = /(http:\/\/127\.0\.0\.1:\d+)\/\?token=[0-9a-f]{64}/.exec(out);
    if (m) return { child, url: m[0], base: m[1]! };
    if (child.exitCode !== null || Date.now() > end) throw new Error(`git run ui did not start: ${out}`);
    await sleep(50);
  }
}

/** Milliseconds from navigation to `ready` holding, plus two animation frames (painted). */
async function paint(ctx: BrowserContext, url: string, ready: () => boolean): Promise<number> {
  const page = await ctx.newPage();
  try {
    const t0 = performance.now();
    await page.goto(url);
    await page.waitForFunction(ready, undefined, { timeout: 60_000, polling: 'raf' });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    return performance.now() - t0;
  } finally {
    await page.close();
  }
}

// Functions, not strings: the page's Content-Security-Policy forbids evaluating text.
const TABLE_READY = () => document.querySelectorAll('#runs tbody tr').length === 100;
const CHARTS_READY = () => !!document.querySelector('#chart-param[data-series] canvas') && !!document.querySelector('#chart-parallel[data-series] canvas');
const HISTORIES_READY = () => !!document.querySelector('#history[data-points] canvas');

async function main(): Promise<void> {
  const fixture = path.resolve(strArg('fixture', '/tmp/gitrun-fixture-100k'));
  const rounds = intArg('rounds', 10);
  if (!existsSync(path.join(fixture, 'runs', '.git'))) {
    console.log(`no fixture in ${fixture}: making one with 100,000 runs (bench/fixture.ts)`);
    await runOk(process.execPath, [path.join(ROOT, 'dist', 'bench', 'fixture.js'), fixture, '100000'], { cwd: ROOT });
  }
  const root = await fs.mkdtemp(path.join(await fs.realpath(os.tmpdir()), 'git-run-bench-ui-'));
  const home = path.join(root, 'home');
  await fs.mkdir(home);
  const env = benchEnv(home);
  const children: ChildProcess[] = [];
  let ctx: BrowserContext | null = null;
  const load = [os.loadavg()[0]!];
  try {
    // --- 1. the 100,000-run table ------------------------------------------------------
    // A copy of the fixture's runs (the page only reads, but its index is written there), kept for the next time.
    const big = path.resolve(strArg('copy', path.join(os.tmpdir(), 'git-run-bench-ui-100k')));
    if (!existsSync(path.join(big, '.git'))) await runOk('cp', ['-a', '--reflink=auto', path.join(fixture, 'runs'), big], { cwd: root, env });
    await runOk(process.execPath, [CLI, 'log', '-n', '1', '--oneline'], { cwd: big, env });
    const s1 = await serve(big, env);
    children.push(s1.child);
    ctx = await chromium.launchPersistentContext(path.join(root, 'chromium'), { executablePath: CHROMIUM, args: ARGS, headless: true, viewport: { width: 1400, height: 900 } });
    await paint(ctx, s1.url, TABLE_READY);
    const table: number[] = [];
    const sorted: number[] = [];
    const log: number[] = [];
    for (let i = 0; i < rounds; i++) {
      // Interleaved, each side first in turn.
      const cli = async () => log.push((await timeMs(() => runOk(process.execPath, [CLI, 'log', '-n', '100', '--oneline'], { cwd: big, env }))).ms);
      if (i % 2) await cli();
      table.push(await paint(ctx, `${s1.base}/`, TABLE_READY));
      if (!(i % 2)) await cli();
      sorted.push(await paint(ctx, `${s1.base}/?sort=metric:acc&desc=1`, TABLE_READY));
    }
    load.push(os.loadavg()[0]!);
    console.log(`table: ${table.map((x) => x.toFixed(0)).join(' ')} ms; sorted: ${sorted.map((x) => x.toFixed(0)).join(' ')} ms; log: ${log.map((x) => x.toFixed(0)).join(' ')} ms`);
    s1.child.kill('SIGTERM');

    // --- 2. a 200-child sweep's charts --------------------------------------------------
    const small = path.join(root, 'sweep');
    await fs.mkdir(small);
    const git = (...a: string[]) => runOk('git', a, { cwd: small, env });
    await git('init', '-q', '-b', 'main');
    const train = `awk -v lr="$1" -v seed="$2" 'BEGIN { for (i = 1; i <= 100; i++) printf "{\\"step\\": %d, \\"loss\\": %.5f}\\n", i, lr * 10 / i + (seed % 7) / 100 }' >> "$GIT_RUN_METRICS"\nprintf '{"loss": %s}' "$(awk -v lr="$1" -v seed="$2" 'BEGIN { printf "%.5f", lr / 10 + (seed % 7) / 100 }')" > metrics.json\n`;
    await fs.writeFile(path.join(small, 'train.sh'), train);
    const lrs = Array.from({ length: 20 }, (_, i) => +(0.001 * (i + 1)).toFixed(3));
    await fs.writeFile(path.join(small, 'sweep.json'), JSON.stringify({ command: ['sh', 'train.sh', '{lr}', '{seed}'], params: { lr: { values: lrs }, batch: 32 }, repeat: 10 }));
    await git('add', '-A');
    await git('commit', '-q', '-m', 'sweep');
    const made = await timeMs(() => runOk(process.execPath, [CLI, 'submit', '--json', 'sweep.json'], { cwd: small, env }));
    const group = JSON.parse(made.value.stdout).id as string;
    await runOk(process.execPath, [CLI, 'wait', group], { cwd: small, env });
    console.log(`sweep of 200 recorded (${(made.ms / 1000).toFixed(1)} s to submit)`);
    const s2 = await serve(small, env);
    children.push(s2.child);
    // The first visit trades the token for the cookie (the redirect keeps the path).
    await paint(ctx, s2.url.replace('/?token=', `/sweep/${group}?token=`), CHARTS_READY);
    const charts: number[] = [];
    const histories: number[] = [];
    for (let i = 0; i < rounds; i++) {
      charts.push(await paint(ctx, `${s2.base}/sweep/${group}`, CHARTS_READY));
      histories.push(await paint(ctx, `${s2.base}/sweep/${group}`, HISTORIES_READY));
    }
    load.push(os.loadavg()[0]!);
    s2.child.kill('SIGTERM');

    const rows = [
      statsRow('runs table, 100,000 runs (page painted)', table),
      statsRow('  sorted by metric acc over all', sorted),
      statsRow('git run log -n 100 --oneline', log),
      statsRow('sweep of 200: param chart + parallel coords', charts),
      statsRow('  with the 200 histories drawn', histories),
    ];
    printTable(STATS_HEADERS, rows);
    const ratio = median(table) / median(log);
    console.log(`\ntable: median ${median(table).toFixed(0)} ms (goal <= 1000: ${median(table) <= 1000 ? 'met' : 'not met'}); ratio to git run log -n 100: ${fmtRatio(ratio)}`);
    console.log(`sweep charts: median ${median(charts).toFixed(0)} ms (goal <= 500: ${median(charts) <= 500 ? 'met' : 'not met'}); with histories ${median(histories).toFixed(0)} ms`);
    console.log(`load average (1 min) at the start, after the table, after the sweep: ${load.map((l) => l.toFixed(1)).join(', ')}`);
    const file = await writeResults('ui', { command: commandLine(), revision: revision(), machine: machine(), rounds, load, table: stats(table), sorted: stats(sorted), log: stats(log), ratio, charts: stats(charts), histories: stats(histories), sweepSubmitMs: made.ms });
    console.log(`results: ${path.relative(ROOT, file)}`);
  } finally {
    await ctx?.close();
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await fs.rm(root, { recursive: true, force: true });
  }
}

runBench(main);
