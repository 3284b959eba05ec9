import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { makeRepo, gitRun, ok, git, runIds, writeFiles, tmpdir, CLI, until } from './helpers.js';

/**
 * One repository for the selection tests, built once with the real CLI:
 *   c1 (src/model.py, README)   run A: lr=0.1  opt=sgd   acc 0.8   by Ada,   tags baseline,   name "first"
 *   c2 (edits src/model.py)     run B: lr=0.01 opt=adam  acc 0.95  by Grace, tags best, notes "the one"
 *   c3 (edits README)           run C: lr=0.001 opt=adam acc 0.9, val.loss 0.2, exits 1 (failed), by Ada
 *                               group G: lr in {0.1, 0.2}, repeat 2 -> 4 children, acc = lr, tag sweep
 */
describe('git run log: selection, output forms, the index', function () {
  let repo: string;
  const ids: Record<string, string> = {};
  const METRICS = `printf '{"acc": %s, "val": {"loss": %s}}' "$GIT_RUN_PARAM_target" "\${GIT_RUN_PARAM_vloss:-0.5}" > metrics.json; exit "\${GIT_RUN_PARAM_code:-0}"\n`;
  const newest = () => {
    const all = runIds(repo);
    return all;
  };
  const runWith = async (params: string[], env: Record<string, string> = {}) => {
    const before = new Set(newest());
    await gitRun(['-q', ...params.flatMap((p) => ['-p', p]), '--', 'sh', 'm.sh'], { cwd: repo, env });
    return newest().find((i) => !before.has(i))!;
  };
  const log = async (...args: string[]) => (await ok(['log', ...args], { cwd: repo })).stdout;
  const names = async (...args: string[]) => (await log('--format', '%(name)', ...args)).split('\n').filter(Boolean);
  const idsOf = async (...args: string[]) => (await log('--format', '%H', ...args)).split('\n').filter(Boolean);

  before(async () => {
    repo = makeRepo('log-select', { 'm.sh': METRICS, 'src/model.py': 'v1\n', README: 'r1\n' });
    const ada = { GIT_AUTHOR_NAME: 'Ada Lovelace', GIT_AUTHOR_EMAIL: 'ada@example.org' };
    const grace = { GIT_AUTHOR_NAME: 'Grace Hopper', GIT_AUTHOR_EMAIL: 'grace@example.org' };
    ids.c1 = git(repo, 'rev-parse', 'HEAD');
    ids.A = await runWith(['lr=0.1', 'opt=sgd', 'target=0.8'], ada);
    writeFiles(repo, { 'src/model.py': 'v2\n' });
    git(repo, 'commit', '-qam', 'c2');
    ids.c2 = git(repo, 'rev-parse', 'HEAD');
    ids.B = await runWith(['lr=0.01', 'opt=adam', 'target=0.95'], grace);
    writeFiles(repo, { README: 'r2\n' });
    git(repo, 'commit', '-qam', 'c3');
    ids.c3 = git(repo, 'rev-parse', 'HEAD');
    ids.C = await runWith(['lr=0.001', 'opt=adam', 'target=0.9', 'vloss=0.2', 'code=1'], ada);
    writeFileSync(path.join(repo, 'sweep.json'), JSON.stringify({ command: ['sh', 'm.sh'], name: 'sweep', tags: ['sweep'], repeat: 2, params: { lr: { values: [0.1, 0.2] }, target: { values: [0.5] } } }));
    const g = JSON.parse((await ok(['submit', '--json', 'sweep.json'], { cwd: repo, env: grace })).stdout);
    ids.G = g.id;
    await ok(['edit', ids.A!, '--name', 'first', '--tag', 'baseline'], { cwd: repo });
    await ok(['edit', ids.B!, '--name', 'second', '--notes', 'the one', '--tag', 'best'], { cwd: repo });
    await ok(['edit', ids.C!, '--name', 'third'], { cwd: repo });
  });

  it('lists every run newest first by default, in blocks like git log with params and metrics', async () => {
    const out = await log();
    const blocks = out.split(/\n(?=run [0-9a-f]{40})/);
    assert.equal(blocks.length, 3 + 1 + 4);
    assert.match(blocks.find((b) => b.startsWith(`run ${ids.B}`))!, /^Params:  lr=0\.01 opt=adam target=0\.95$/m);
    assert.match(blocks.find((b) => b.startsWith(`run ${ids.B}`))!, /^Metrics: acc=0\.95 val\.loss=0\.5$/m);
    assert.match(blocks.find((b) => b.startsWith(`run ${ids.B}`))!, /^Author:  Grace Hopper <grace@example\.org>$/m);
    assert.match(blocks.find((b) => b.startsWith(`run ${ids.B}`))!, /^    the one$/m);
    const order = await idsOf('--no-children');
    assert.deepEqual(order, [ids.G, ids.C, ids.B, ids.A]);
  });

  it('-n, --status, --author, --grep, --tag, --host, --param, --since/--until', async () => {
    assert.deepEqual(await idsOf('-n', '2', '--no-children'), [ids.G, ids.C]);
    assert.deepEqual(await names('--status', 'failed'), ['third']);
    assert.deepEqual(await names('--status', 'failed,succeeded', '--no-children'), ['sweep', 'third', 'second', 'first']);
    assert.deepEqual(await names('--author', 'Ada'), ['third', 'first']);
    assert.deepEqual(await names('--author', '^Grace', '--no-children'), ['sweep', 'second']);
    assert.deepEqual(await names('--grep', 'the one'), ['second']);
    assert.deepEqual(await names('--grep', '^fir', '--grep', '^sec'), ['second', 'first'], 'repeated --grep: any');
    assert.deepEqual(await names('--tag', 'best'), ['second']);
    assert.equal((await idsOf('--tag', 'sweep')).length, 5, 'children carry their group tags');
    assert.equal((await idsOf('--host', 'local')).length, 8);
    assert.deepEqual(await idsOf('--host', 'elsewhere'), []);
    assert.deepEqual(await names('--param', 'opt=adam'), ['third', 'second']);
    assert.deepEqual(await names('--param', 'lr=0.10', '--no-children'), ['first'], 'numbers compare as numbers');
    assert.deepEqual(await names('--param', 'opt=adam', '--param', 'lr=0.01'), ['second']);
    assert.equal((await idsOf('--since', '1 hour ago')).length, 8);
    assert.deepEqual(await idsOf('--until', '2020-01-01'), []);
  });

  it('--where: and/or/not, comparisons, in, contains, over params, metrics, status, tags and times', async () => {
    assert.deepEqual(await names('--where', 'params.lr > 0.005 and metrics.acc >= 0.9'), ['second']);
    assert.deepEqual(await names('--where', 'metrics.acc >= 0.9 or tags contains baseline'), ['third', 'second', 'first']);
    assert.deepEqual(await names('--where', "not status = succeeded and kind = run"), ['third']);
    assert.deepEqual(await names('--where', 'params.opt in (sgd, adam) and (metrics.val.loss < 0.3)'), ['third']);
    assert.deepEqual(await names('--where', "name contains 'ir'"), ['third', 'first']);
    assert.equal((await idsOf('--where', 'params.lr = 0.2')).length, 2);
    assert.deepEqual(await names('--where', "created > '1 hour ago' and exit_code = 1"), ['third']);
  });

  it('--parent and --children/--no-children select a group and its children', async () => {
    const kids = await idsOf('--parent', ids.G!.slice(0, 10));
    assert.equal(kids.length, 4);
    const noKids = await idsOf('--no-children');
    assert.equal(noKids.length, 4);
    assert.ok(!kids.some((k) => noKids.includes(k)));
    assert.equal((await idsOf('--children')).length, 8);
    const kidNames = await names('--parent', ids.G!);
    assert.deepEqual([...kidNames].sort(), ['lr=0.1 target=0.5 #1', 'lr=0.1 target=0.5 #2', 'lr=0.2 target=0.5 #1', 'lr=0.2 target=0.5 #2']);
  });

  it('a revision range and pathspecs select runs by the code they ran, with git semantics', async () => {
    assert.deepEqual(await names('--no-children', `${ids.c1}..HEAD`), ['sweep', 'third', 'second']);
    assert.deepEqual(await names('--no-children', 'HEAD~2..HEAD~1'), ['second']);
    assert.deepEqual(await names('--no-children', '--', 'src/model.py'), ['second', 'first'], 'commits that touched the path');
    assert.deepEqual(await names('--no-children', `${ids.c1}..HEAD`, '--', 'src/model.py'), ['second']);
    assert.deepEqual(await names('--no-children', '--', 'README'), ['sweep', 'third', 'first']);
  });

  it('--oneline, --format with every kind of placeholder, --json lines', async () => {
    const one = (await log('--oneline', '-n', '1', '--status', 'failed')).trim();
    assert.equal(one, `${ids.C!.slice(0, 12)} failed    sh m.sh  (third)`);
    const f = await log('--status', 'failed', '--format', '%h|%H|%(status)|%(param:lr)|%(metric:acc)|%(metric:val.loss)|%(metric:nope)|%(name)|%(seed)|%(exit)|%(commit)|%(author)%n--%%');
    assert.equal(f, `${ids.C!.slice(0, 12)}|${ids.C}|failed|0.001|0.9|0.2||third|${JSON.parse((await ok(['show', '--json', ids.C!], { cwd: repo })).stdout).seed}|1|${ids.c3}|Ada Lovelace <ada@example.org>\n--%\n`);
    const lines = (await log('--json', '--no-children')).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((j) => j.name), ['sweep', 'third', 'second', 'first']);
    assert.deepEqual(lines[2].metrics, { acc: 0.95, 'val.loss': 0.5 });
    assert.deepEqual(lines[2].tags, ['best']);
  });

  it('--group-by param:NAME aggregates the metrics of repeated runs', async () => {
    const rows = (await log('--group-by', 'param:lr', '--json', '--parent', ids.G!)).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => [r.lr, r.runs, r.metrics.acc.mean, r.metrics.acc.std, r.metrics.acc.min, r.metrics.acc.max]), [
      ['0.1', 2, 0.5, 0, 0.5, 0.5],
      ['0.2', 2, 0.5, 0, 0.5, 0.5],
    ]);
    const all = (await log('--group-by', 'param:opt', '--json')).trim().split('\n').map((l) => JSON.parse(l));
    const adam = all.find((r) => r.opt === 'adam');
    assert.equal(adam.runs, 2);
    assert.equal(adam.metrics.acc.mean, (0.95 + 0.9) / 2);
    assert.ok(Math.abs(adam.metrics.acc.std - Math.sqrt(((0.95 - 0.925) ** 2 + (0.9 - 0.925) ** 2) / 1)) < 1e-12);
    const table = await log('--group-by', 'param:opt');
    assert.match(table, /^opt\s+runs\s+acc \(mean ± std \[min, max\]\)/);
    assert.match(table, /^adam\s+2\s+0\.925 ± 0\.0353553 \[0\.9, 0\.95\]/m);
    assert.match(table, /^\(none\)\s+5\s/m, 'runs without the param form their own row');
  });

  it('bad input: clear errors, exit 2, naming what is wrong and the closest name', async () => {
    const bad = async (args: string[], re: RegExp) => {
      const r = await gitRun(['log', ...args], { cwd: repo });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stdout, '');
    };
    await bad(['--where', 'metrics.acx > 1'], /unknown .*acx[\s\S]*metrics\.acc/);
    await bad(['--where', 'params.lr >'], /missing value after '>' at column 12/);
    await bad(['--where', 'params.lr > 1 and (status = failed'], /\)/);
    await bad(['--format', '%(stauts)'], /unknown field '%\(stauts\)'[\s\S]*did you mean %\(status\)/);
    await bad(['--format', '%q'], /unknown placeholder '%q'/);
    await bad(['--since', 'last blue moon'], /--since: .*last blue moon/);
    await bad(['nosuchbranch..HEAD'], /unknown revision or range/);
    await bad(['--parent', 'ffffffffff'], /no run matches 'ffffffffff'/);
    await bad(['--status', 'sucess'], /unknown status 'sucess'/);
    await bad(['--param', 'lr'], /--param takes NAME=VALUE/);
    await bad(['--group-by', 'lr'], /--group-by takes param:NAME or seed/);
    await bad(['--oneline', '--json'], /cannot be combined/);
    await bad(['--author', '('], /not a valid regular expression/);
    await bad(['-n', 'x'], /-n takes a whole number/);
  });

  it('pages through core.pager on a terminal only, and --no-pager turns it off', async () => {
    // A pager that marks what passes through it; stdout here is a pipe, so no pager unless forced by a TTY.
    git(repo, 'config', 'core.pager', "sed 's/^/PAGED /'");
    const piped = await log('--oneline', '-n', '1');
    assert.doesNotMatch(piped, /PAGED/);
    const out = await inTerminal(repo, ['log', '--oneline', '-n', '1', '--no-color']);
    assert.match(out, /PAGED [0-9a-f]{12} /);
    const noPager = await inTerminal(repo, ['log', '--no-pager', '--oneline', '-n', '1', '--no-color']);
    assert.doesNotMatch(noPager, /PAGED/);
    git(repo, 'config', '--unset', 'core.pager');
  });

  it('color follows color.ui and --color, as git does', async () => {
    assert.doesNotMatch(await log('--oneline', '-n', '1'), /\x1b\[/);
    assert.match(await log('--oneline', '-n', '1', '--color=always'), /\x1b\[33m/);
    git(repo, 'config', 'color.ui', 'always');
    assert.match(await log('--oneline', '-n', '1'), /\x1b\[/);
    assert.doesNotMatch(await log('--oneline', '-n', '1', '--no-color'), /\x1b\[/);
    git(repo, 'config', '--unset', 'color.ui');
  });
});

/** Run the CLI with stdout on a pseudo-terminal (script(1)), returning what the terminal showed. */
function inTerminal(cwd: string, args: string[]): Promise<string> {
  const cmd = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const p = spawn('script', ['-q', '-e', '-c', cmd, '/dev/null'], { cwd, env: { ...process.env, TERM: 'dumb' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', () => resolve(out.replace(/\r/g, '')));
  });
}

describe('the derived index follows git', () => {
  it('is rebuilt when deleted or damaged, and follows edits, new runs, deletions and fetched runs', async () => {
    const repo = makeRepo('log-index', { 'a.txt': 'a' });
    await ok(['-q', '--', 'true'], { cwd: repo });
    const [a] = runIds(repo);
    const names = async (...args: string[]) => (await ok(['log', '--format', '%h %(tags)', ...args], { cwd: repo })).stdout;
    assert.equal(await names(), `${a!.slice(0, 12)} \n`);
    const file = path.join(repo, '.git', 'git-run', 'index.sqlite');
    assert.ok(existsSync(file));
    await ok(['edit', a!, '--tag', 'x'], { cwd: repo });
    assert.equal(await names('--tag', 'x'), `${a!.slice(0, 12)} x\n`, 'a metadata edit is seen at once');
    for (const f of readdirSync(path.dirname(file)).filter((f) => f.startsWith('index.sqlite'))) rmSync(path.join(path.dirname(file), f));
    assert.equal(await names('--tag', 'x'), `${a!.slice(0, 12)} x\n`, 'deleted: rebuilt from git');
    writeFileSync(file, 'this is not a database');
    for (const f of ['-wal', '-shm']) rmSync(file + f, { force: true });
    assert.equal(await names('--tag', 'x'), `${a!.slice(0, 12)} x\n`, 'damaged: rebuilt from git');
    await ok(['-q', '--', 'true'], { cwd: repo });
    const b = runIds(repo).find((i) => i !== a)!;
    assert.equal((await names()).split('\n').filter(Boolean).length, 2, 'a new run appears');
    git(repo, 'update-ref', '-d', `refs/runs/${b}`);
    assert.equal(await names(), `${a!.slice(0, 12)} x\n`, 'a deleted run disappears');
    // Runs fetched from another clone (refs and notes), as `git run pull` would bring them.
    const other = tmpdir('log-index-clone');
    git(other, 'clone', '-q', repo, '.');
    await ok(['-q', '--', 'true'], { cwd: other });
    const c = runIds(other).find((i) => i !== a)!;
    await ok(['edit', c, '--tag', 'theirs'], { cwd: other });
    git(repo, 'fetch', '-q', other, 'refs/runs/*:refs/runs/*', '+refs/notes/runs:refs/notes/runs');
    assert.equal(await names('--tag', 'theirs'), `${c.slice(0, 12)} theirs\n`);
  });

  it('packs run refs once more than 1000 are loose, and several processes can use the index at once', async function () {
    this.timeout(120000);
    const repo = makeRepo('log-pack', { 'a.txt': 'a' });
    await ok(['-q', '--', 'true'], { cwd: repo });
    const [a] = runIds(repo);
    const tip = git(repo, 'rev-parse', `refs/runs/${a}`);
    // 1,100 more loose run refs, as many runs would leave them (each names the same commit: enough for the refs).
    const lines = Array.from({ length: 1100 }, (_, i) => `create refs/runs/e${(i + 1).toString(16).padStart(39, '0')} ${tip}\n`).join('');
    execFileSync('git', ['update-ref', '--stdin'], { cwd: repo, input: lines });
    const loose = () => readdirSync(path.join(repo, '.git', 'refs', 'runs')).length;
    assert.equal(loose(), 1101);
    // Like git's auto-gc after a commit: the next submission packs them, in the background.
    await ok(['-q', '--', 'true'], { cwd: repo });
    // (The run's own end record is written after the packing: a loose ref again.)
    await until('packed', () => loose() <= 1 || null);
    assert.match(readFileSync(path.join(repo, '.git', 'packed-refs'), 'utf8'), new RegExp(`refs/runs/${a}`));
    // Readers and writers at once: every command succeeds and the index ends up agreeing with the refs.
    const jobs = [
      ...Array.from({ length: 4 }, () => gitRun(['-q', '--', 'true'], { cwd: repo })),
      ...Array.from({ length: 6 }, () => gitRun(['log', '--format', '%H'], { cwd: repo })),
    ];
    for (const r of await Promise.all(jobs)) assert.equal(r.code, 0, r.stderr);
    const listed = (await ok(['log', '--format', '%H'], { cwd: repo })).stdout.split('\n').filter(Boolean);
    assert.equal(listed.length, 1101 + 1 + 4);
    assert.deepEqual(new Set(listed), new Set(runIds(repo)));
  });
});
