import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CLI, ENV, git, gitRun, makeRepo, ok, refState, runIds, showJson, tmpdir, until } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** `git run ui` serving `repo`, its address read from what it prints. */
export async function startUi(repo: string, args: string[] = [], env: NodeJS.ProcessEnv = ENV): Promise<{ child: ChildProcess; url: string; base: string; token: string; stop: () => Promise<void>; stdout: () => string }> {
  const child = spawn(process.execPath, [CLI, 'ui', ...args], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  let exited: number | null = null;
  child.on('exit', (c) => (exited = c ?? -1));
  const m = await until('git run ui to print its address', () => {
    if (exited !== null) throw new Error(`git run ui exited ${exited}: ${out}${err}`);
    return /(http:\/\/127\.0\.0\.1:\d+)\/\?token=([0-9a-f]{64})/.exec(out);
  }, 60000);
  return {
    child,
    url: m[0],
    base: m[1]!,
    token: m[2]!,
    stdout: () => out,
    stop: async () => {
      if (exited !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

/** A raw request: status and body (fetch cannot set the Host header). */
function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Writes metrics.json (loss from its argument, acc fixed) and a two-step loss history. */
const TRAIN = `printf '{"loss": %s, "acc": 0.5}' "$1" > metrics.json\nprintf '{"step": 1, "loss": 1}\\n{"step": 2, "loss": %s}\\n' "$1" >> "$GIT_RUN_METRICS"\necho "trained with $1"\n`;

describe('git run ui (in a real browser)', function () {
  let repo: string;
  let group: string;
  let kids: string[];
  let single: string;
  let ui: Awaited<ReturnType<typeof startUi>>;
  let browser: BrowserContext;
  let page: Page;
  let shots: string;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: install Debian's chromium (.ci/run does)`);
      this.skip();
    }
    repo = makeRepo('ui', {
      'train.sh': TRAIN,
      'sweep.json': JSON.stringify({ command: ['sh', 'train.sh', '{lr}'], params: { lr: { values: [0.1, 0.2, 0.3] }, batch: 32 }, repeat: 2 }),
    });
    const g = JSON.parse((await ok(['submit', '--json', 'sweep.json'], { cwd: repo })).stdout);
    group = g.id;
    kids = g.children;
    const before = new Set(runIds(repo));
    await ok(['-q', '-p', 'depth=3', '--name', 'single', '--', 'sh', 'train.sh', '0.05'], { cwd: repo });
    single = runIds(repo).find((id) => !before.has(id))!;
    await until('the sweep to end', async () => ['succeeded', 'failed'].includes((await showJson(repo, group)).status), 120000);
    ui = await startUi(repo);
    shots = tmpdir('ui-shots');
    // A fresh profile of its own; Debian's chromium, never a browser Playwright would download.
    browser = await chromium.launchPersistentContext(tmpdir('ui-chromium'), { executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 120000 });
  });

  beforeEach(async () => {
    page = await browser.newPage();
    // Generous: a loaded machine may take seconds to serve and draw; every wait is for a condition.
    page.setDefaultTimeout(60000);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      const file = path.join(shots, `${this.currentTest.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
      process.stdout.write(`    screenshot of the failure: ${file}\n`);
    }
    await page.close();
  });

  after(async () => {
    await browser?.close();
    await ui?.stop();
  });

  it('serves nothing without the token: pages, assets and API all 403; a wrong Host or a cross-origin write is refused too', async () => {
    for (const p of ['/', '/assets/app.js', '/api/runs', `/run/${single}`, `/api/run/${single}`]) {
      const r = await request(`${ui.base}${p}`);
      assert.equal(r.status, 403, p);
      assert.doesNotMatch(r.body, new RegExp(single.slice(0, 12)));
    }
    assert.equal((await request(`${ui.base}/?token=${'0'.repeat(64)}`)).status, 403);
    assert.equal((await request(`${ui.base}/?token=${ui.token.slice(1)}`)).status, 403);
    // The token's first visit keeps it in a cookie (HttpOnly, SameSite=Strict).
    const first = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(ui.url, resolve).on('error', reject));
    first.resume();
    assert.equal(first.statusCode, 303);
    const cookie = String(first.headers['set-cookie']);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const jar = cookie.split(';')[0]!;
    assert.equal((await request(`${ui.base}/api/runs`, { headers: { cookie: jar } })).status, 200);
    // DNS rebinding: the right cookie under another name is still refused.
    assert.equal((await request(`${ui.base}/api/runs`, { headers: { cookie: jar, host: 'evil.example:80' } })).status, 403);
    const before = refState(repo);
    const body = JSON.stringify({ tag: ['pwned'] });
    for (const origin of ['http://evil.example', '']) {
      const r = await request(`${ui.base}/api/run/${single}/edit`, { method: 'POST', headers: { cookie: jar, 'content-type': 'application/json', ...(origin ? { origin } : {}) }, body });
      assert.equal(r.status, 403, origin);
    }
    // With the page's origin but a bad body: refused with a reason, nothing written.
    const origin = ui.base;
    for (const bad of ['{"tag": "best"}', '{"tag": ["a,b"]}', '{}', '[1]', 'not json']) {
      const r = await request(`${ui.base}/api/run/${single}/edit`, { method: 'POST', headers: { cookie: jar, 'content-type': 'application/json', origin }, body: bad });
      assert.equal(r.status, 400, bad);
      assert.ok(JSON.parse(r.body).error.message, bad);
    }
    assert.equal(refState(repo), before);
  });

  it('the table lists the runs, a group expands to its children, a --where filter narrows it and a wrong one shows its error with a caret', async () => {
    await page.goto(ui.url);
    await page.waitForSelector('#runs tbody tr');
    const ids = async () => page.$$eval('#runs tbody tr', (rows) => rows.map((r) => r.getAttribute('data-id')));
    assert.deepEqual(new Set(await ids()), new Set([group, single]));
    await page.click(`tr[data-id="${group}"] button.expand`);
    await page.waitForSelector('#runs tbody tr.child');
    assert.deepEqual(new Set((await ids()).filter((id) => id !== group && id !== single)), new Set(kids));
    await page.fill('#where', 'params.lr > 0.15');
    await page.press('#where', 'Enter');
    await until('the filtered table', async () => (await ids()).length === 4 && (await ids()).every((id) => kids.includes(id!)), 60000);
    await page.fill('#where', 'params.lr >');
    await page.press('#where', 'Enter');
    await page.waitForSelector('#where-error:not([hidden])');
    const error = await page.textContent('#where-error');
    assert.match(error!, /^error: .*--where/);
    assert.match(error!, /\^/);
    assert.equal(await page.$$eval('#runs tbody tr', (r) => r.length), 0);
  });

  it("a sweep's charts draw: its metric against its parameter and the parallel coordinates, one line per run", async () => {
    await page.goto(`${ui.base}/sweep/${group}`);
    await page.waitForSelector('#chart-param[data-series] canvas');
    assert.equal(await page.getAttribute('#chart-param', 'data-series'), '5');
    assert.equal(await page.getAttribute('#chart-parallel', 'data-series'), String(kids.length));
    // Something was drawn: the canvas has pixels that are not blank.
    const inked = await page.$eval('#chart-param canvas', (c) => {
      const canvas = c as HTMLCanvasElement;
      const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
      return n;
    });
    assert.ok(inked > 500, `only ${inked} pixels drawn`);
    // Every child's loss history, overlaid (read for all of them at once).
    await page.waitForSelector('#history .history-chart[data-metric="loss"] canvas');
    assert.equal(await page.getAttribute('#history .history-chart[data-metric="loss"]', 'data-series'), String(kids.length));
    assert.equal(await page.getAttribute('#history', 'data-points'), String(2 * kids.length));
  });

  it('a comparison highlights the parameter that differs and folds the equal ones', async () => {
    const a = kids[0]!;
    const pa = (await showJson(repo, a)).params.lr;
    const other = (await Promise.all(kids.map(async (k) => [k, (await showJson(repo, k)).params.lr] as const))).find(([, lr]) => lr !== pa)![0];
    await page.goto(`${ui.base}/compare?ids=${a.slice(0, 12)},${other.slice(0, 12)}`);
    await page.waitForSelector('#compare');
    assert.equal(await page.getAttribute('tr[data-param="lr"]', 'class'), 'differs');
    assert.equal(await page.$eval('tr[data-param="batch"]', (tr) => tr.className + ' ' + !!tr.closest('#same-params')), 'same true');
    // The diff of the two: what `git run diff` shows, the param among the changed ones.
    await page.click('text=full diff of the two');
    await page.waitForSelector('#diff-title');
    assert.match((await page.textContent('section:has(h2:text("Parameters")) tr.differs'))!, /^lr/);
  });

  it('a tag added on the run page is in the notes afterwards', async () => {
    await page.goto(`${ui.base}/run/${single}`);
    await page.fill('#edit-tag', 'best');
    await page.click('#add-tag');
    await page.waitForFunction(() => document.querySelector('#tags')?.textContent?.includes('best'));
    assert.deepEqual((await showJson(repo, single)).tags, ['best']);
    assert.match(git(repo, 'log', '-1', '--format=%B', 'refs/notes/runs') + git(repo, 'notes', '--ref=runs', 'show', single), /best/);
  });

  it('an unknown run is a 404 page', async () => {
    const r = await page.goto(`${ui.base}/run/0123456789ab`);
    assert.equal(r!.status(), 404);
    await page.waitForSelector('#not-found');
    assert.equal((await request(`${ui.base}/api/run/0123456789ab`, { headers: { cookie: `git_run_ui_${new URL(ui.base).port}=${ui.token}` } })).status, 404);
  });

  it("a live run's log grows on its page, and a new run appears in the open table", async () => {
    const flag = path.join(tmpdir('ui-flag'), 'go');
    const table = await browser.newPage();
    try {
      // The table is open before the run exists: it follows the repository.
      await table.goto(ui.url);
      await table.waitForSelector('#runs tbody tr');
      const before = new Set(runIds(repo));
      const script = `echo first; while [ ! -e '${flag}' ]; do sleep 0.1; done; echo second`;
      await ok(['-d', '-q', '--', 'sh', '-c', script], { cwd: repo });
      const live = await until('the detached run', () => runIds(repo).find((id) => !before.has(id)), 60000);
      table.setDefaultTimeout(60000);
      await table.waitForSelector(`#runs tbody tr[data-id="${live}"]`, { timeout: 60000 });
      await page.goto(`${ui.base}/run/${live}`);
      await page.waitForFunction(() => document.querySelector('#logs')?.textContent?.includes('first'), undefined, { timeout: 60000 });
      assert.doesNotMatch((await page.textContent('#logs'))!, /second/);
      mkdirSync(path.dirname(flag), { recursive: true });
      writeFileSync(flag, '');
      await page.waitForFunction(() => document.querySelector('#logs')?.textContent?.includes('second'), undefined, { timeout: 60000 });
    } finally {
      await table.close();
    }
  });

  it("a live run's loss curve grows while it runs; a broken metrics file is shown as such", async () => {
    const flag = path.join(tmpdir('ui-curve'), 'go');
    const before = new Set(runIds(repo));
    const line = (step: number, loss: number) => `printf '%s\\n' '{"step": ${step}, "loss": ${loss}}' >> "$GIT_RUN_METRICS"`;
    const script = `${line(1, 0.9)}; ${line(2, 0.7)}; while [ ! -e '${flag}' ]; do sleep 0.1; done; ${line(3, 0.5)}; echo 'not json' >> "$GIT_RUN_METRICS"`;
    await ok(['-d', '-q', '--', 'sh', '-c', script], { cwd: repo });
    const live = await until('the detached run', () => runIds(repo).find((id) => !before.has(id)), 60000);
    await page.goto(`${ui.base}/run/${live}`);
    // Two points drawn while it waits for the flag; a third once it is there.
    await page.waitForSelector('#history[data-points="2"] .history-chart[data-metric="loss"][data-series="1"] canvas');
    assert.equal(await page.$('.broken-metrics'), null);
    writeFileSync(flag, '');
    await page.waitForSelector('#history[data-points="3"]');
    // Recorded with its broken last line: the page says so.
    await until('the run to end', async () => (await showJson(repo, live)).status === 'succeeded', 60000);
    await page.goto(`${ui.base}/run/${live}`);
    await page.waitForSelector('#history[data-points="3"]');
    assert.match((await page.textContent('.broken-metrics'))!, /1 broken line in the metrics file/);
  });

  it("sorting the table by a metric's column orders the runs as their recorded values do, ascending then descending", async () => {
    const recorded = new Map(
      (await ok(['log', '--format', '%H %(metric:loss)', '--where', 'params.lr > 0'], { cwd: repo })).stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => [l.split(' ')[0]!, Number(l.split(' ')[1])] as const),
    );
    assert.equal(recorded.size, kids.length);
    await page.goto(`${ui.url.replace('/?', '/?where=params.lr%20%3E%200&')}`);
    await page.waitForSelector('#runs tbody tr');
    const order = async (arrow: string): Promise<number[]> => {
      await page.waitForSelector(`#runs th.sorted:text-is("loss ${arrow}")`);
      const ids = await page.$$eval('#runs tbody tr', (rows) => rows.map((r) => r.getAttribute('data-id')!));
      assert.deepEqual(new Set(ids), new Set(recorded.keys()), 'the same runs as the CLI lists');
      return ids.map((id) => recorded.get(id)!);
    };
    await page.click('#runs th:text-is("loss")');
    const up = await order('▴');
    assert.deepEqual(up, [...up].sort((a, b) => a - b), `ascending: ${up}`);
    await page.click('#runs th:text-is("loss ▴")');
    const down = await order('▾');
    assert.deepEqual(down, [...down].sort((a, b) => b - a), `descending: ${down}`);
    assert.ok(up[0]! < down[0]!, 'the order really changed');
  });

  /** A run of a work tree with a changed train.sh and a 4 KiB large_output: a 64 KiB output in Git LFS, a small one beside it (made once, for the tests below). */
  let dirtyRun: Promise<string> | null = null;
  const dirty = () =>
    (dirtyRun ??= (async () => {
      writeFileSync(path.join(repo, 'train.sh'), TRAIN + 'echo changed-line-for-the-diff\n');
      writeFileSync(path.join(repo, '.runconfig'), JSON.stringify({ large_output: '4KiB' }));
      try {
        const before = new Set(runIds(repo));
        const write = `const fs=require('fs');const b=Buffer.alloc(65536);for(let i=0;i<b.length;i++)b[i]=(i*7919)%251;fs.writeFileSync('big.bin',b);fs.writeFileSync('small.txt','small output\\n')`;
        await ok(['-q', '--', process.execPath, '-e', write], { cwd: repo });
        return runIds(repo).find((id) => !before.has(id))!;
      } finally {
        git(repo, 'checkout', '--', 'train.sh');
        rmSync(path.join(repo, '.runconfig'));
      }
    })());

  it('downloading an output gives its bytes, a Git LFS output its content', async () => {
    const id = await dirty();
    assert.ok(Number(git(repo, 'cat-file', '-s', `refs/runs/${id}:outputs/big.bin`)) < 200, 'big.bin is stored as a Git LFS pointer');
    await page.goto(`${ui.base}/run/${id}`);
    for (const name of ['small.txt', 'big.bin']) {
      const want = (await ok(['cat', `${id}:${name}`], { cwd: repo })).stdoutBytes;
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(`#outputs tr:has(td:text-is("${name}")) a:text-is("download")`)]);
      assert.equal(download.suggestedFilename(), name);
      const got = readFileSync((await download.path())!);
      assert.equal(got.length, want.length, name);
      assert.ok(got.equals(want), `${name}: the downloaded bytes are the output's`);
    }
  });

  it("the run page shows the code's diff against its commit: the changed line", async () => {
    const id = await dirty();
    await page.goto(`${ui.base}/run/${id}`);
    await page.click('summary:text-is("diff against its commit")');
    const patch = await page.textContent('pre.patch');
    assert.match(patch!, /^\+echo changed-line-for-the-diff$/m);
    assert.match(patch!, /train\.sh/);
    assert.match((await page.textContent('details pre.mono'))!, /train\.sh/);
  });

  it('git run ui --open hands the address, token included, to $BROWSER and prints only the address', async () => {
    const dir = tmpdir('ui-browser');
    const seen = path.join(dir, 'url');
    const script = path.join(dir, 'browser.sh');
    writeFileSync(script, `#!/bin/sh\nprintf '%s' "$1" > '${seen}.tmp' && mv '${seen}.tmp' '${seen}'\necho 'the browser talks on its stdout'\n`);
    chmodSync(script, 0o755);
    const opened = await startUi(repo, ['--open'], { ...ENV, BROWSER: script });
    try {
      const url = await until('the browser script to be called', () => (existsSync(seen) ? readFileSync(seen, 'utf8') : null), 60000);
      assert.equal(url, opened.url);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64}$/);
      assert.equal((await request(url)).status, 303, 'the token it was given opens the page');
      // What it prints without --open, and nothing of the browser's.
      assert.equal(opened.stdout(), `git run ui: serving ${opened.stdout().split('\n')[0]!.replace(/^git run ui: serving /, '')}\n  ${opened.url}\n(Ctrl-C stops it)\n`);
      assert.match(opened.stdout(), /^git run ui: serving \/.* at\n/);
    } finally {
      await opened.stop();
    }
  });

  it('a port in use is said (exit 2); a bad --port too', async () => {
    const port = new URL(ui.base).port;
    const r = await gitRun(['ui', '--port', port], { cwd: repo });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `error: port ${port} on 127.0.0.1 is in use\nhint: give another with --port N, or leave --port out to take a free one\n`);
    const bad = await gitRun(['ui', '--port', 'http'], { cwd: repo });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: --port takes a number from 0 to 65535, not 'http'\n/);
  });

  it('a repository without runs says how to record the first one', async () => {
    const empty = makeRepo('ui-empty', { 'a.txt': 'a' });
    const other = await startUi(empty);
    try {
      await page.goto(other.url);
      await page.waitForSelector('#no-runs');
      assert.match((await page.textContent('main'))!, /git run python train\.py/);
    } finally {
      await other.stop();
    }
  });
});
