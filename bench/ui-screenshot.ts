/**
 * The README's picture of `git run ui` (docs/ui.png, docs/ui-runs.png): the
 * demo (`npm run demo`) recorded into a new repository, `git run ui` serving
 * it, Debian's chromium taking the pictures: the runs table and the sweep's
 * page (its accuracy against the learning rate, the parallel coordinates,
 * the loss curves).
 * Usage: node dist/bench/ui-screenshot.js [DEMO_REPO]   (without one, the demo is run into a new directory)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CLI, ROOT, runBench, runOk, sleep } from './lib.js';

async function main(): Promise<void> {
  const given = process.argv[2];
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'git-run-ui-shot-'));
  const repo = given ? path.resolve(given) : path.join(scratch, 'demo');
  try {
    if (!given) await runOk(process.execPath, [path.join(ROOT, 'fixtures/demo/run-demo.mjs'), repo], { cwd: ROOT });
    if (!existsSync(path.join(repo, '.git'))) throw new Error(`${repo} is not a repository`);
    const group = (await runOk(process.execPath, [CLI, 'log', '-n1', '--no-children', '--format=%H', '--where', "name = 'lr sweep'"], { cwd: repo })).stdout.trim();
    if (!group) throw new Error(`no sweep named 'lr sweep' in ${repo}: run the demo (npm run demo) into it first`);
    const ui = spawn(process.execPath, [CLI, 'ui'], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    ui.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    let m: RegExpExecArray | null = null;
    for (let i = 0; i < 1200 && !(m = /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64}/.exec(out)); i++) await sleep(50);
    if (!m) throw new Error(`git run ui did not start: ${out}`);
    const ctx = await chromium.launchPersistentContext(path.join(scratch, 'chromium'), {
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      headless: true,
      viewport: { width: 1200, height: 800 },
    });
    try {
      const page = await ctx.newPage();
      await page.goto(m[0]);
      await page.waitForSelector('#runs tbody tr');
      await page.click(`tr[data-id="${group}"] button.expand`);
      await page.waitForSelector('#runs tbody tr.child');
      await page.screenshot({ path: path.join(ROOT, 'docs', 'ui-runs.png') });
      await page.goto(`${new URL(m[0]).origin}/sweep/${group}`);
      await page.selectOption('#metric', 'accuracy');
      await page.waitForSelector('#history .history-chart canvas');
      await page.screenshot({ path: path.join(ROOT, 'docs', 'ui.png'), fullPage: true });
      console.log('wrote docs/ui.png and docs/ui-runs.png');
    } finally {
      await ctx.close();
      ui.kill('SIGTERM');
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

runBench(main);
