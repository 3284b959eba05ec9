import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { ENV, makeRepo, ok, gitRun, git, runIds, refState, refused, showJson, until, tmpdir } from './helpers.js';

const short = (id: string) => id.slice(0, 12);
const createHashHex = (s: string) => createHash('sha1').update(s).digest('hex');

/** Run one command with git-run and return the new run's id. */
async function runOne(repo: string, args: string[], expectCode = 0): Promise<string> {
  const before = new Set(runIds(repo));
  const r = await gitRun(['-q', ...args], { cwd: repo });
  assert.equal(r.code, expectCode, r.stderr);
  const made = runIds(repo).filter((i) => !before.has(i));
  assert.equal(made.length, 1);
  return made[0]!;
}

/** Ids the notes ref annotates. */
const noted = (repo: string): string[] => {
  const r = git(repo, 'for-each-ref', '--format=%(refname)', 'refs/notes/runs');
  if (!r) return [];
  return git(repo, 'notes', '--ref=refs/notes/runs', 'list').split('\n').filter(Boolean).map((l) => l.split(' ')[1]!);
};

const logIds = async (repo: string): Promise<string[]> =>
  (await ok(['log', '--json'], { cwd: repo })).stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id);

/** Bytes the object store takes, as git counts them. */
function objectBytes(repo: string): number {
  const v = new Map(git(repo, 'count-objects', '-v').split('\n').map((l) => l.split(': ') as [string, string]));
  return (Number(v.get('size')) + Number(v.get('size-pack')) + Number(v.get('size-garbage'))) * 1024;
}

/** Every remaining run still reads: show, and its outputs through cat; git finds nothing wrong. */
async function intact(repo: string, outputs: Record<string, string> = {}): Promise<void> {
  git(repo, 'fsck', '--strict', '--no-dangling');
  for (const id of runIds(repo)) await ok(['show', id], { cwd: repo });
  for (const [spec, content] of Object.entries(outputs)) assert.equal((await ok(['cat', spec], { cwd: repo })).stdout, content);
}

describe('git run rm', function () {
  this.timeout(300000);

  it('deletes one run: its ref and note in one transaction; log no longer lists it; the others stay intact', async () => {
    const repo = makeRepo('rm-one', { 'a.txt': 'a\n' });
    const keep = await runOne(repo, ['--name', 'keeper', '--', 'sh', '-c', 'echo kept > out.txt']);
    const gone = await runOne(repo, ['--name', 'doomed', '--', 'sh', '-c', 'echo gone > out.txt']);
    assert.deepEqual(noted(repo).sort(), [keep, gone].sort());
    const notesBefore = git(repo, 'rev-parse', 'refs/notes/runs');
    const r = await ok(['rm', 'doomed'], { cwd: repo });
    assert.equal(r.stdout, `deleted ${short(gone)} succeeded doomed\n`);
    assert.deepEqual(runIds(repo), [keep]);
    assert.deepEqual(noted(repo), [keep]);
    // The notes ref moved forward (a new notes commit on the old one), never rewritten.
    assert.equal(git(repo, 'rev-parse', 'refs/notes/runs^'), notesBefore);
    assert.deepEqual(await logIds(repo), [keep]);
    assert.equal((await gitRun(['show', 'doomed'], { cwd: repo })).code, 2);
    await intact(repo, { [`${keep}:out.txt`]: 'kept\n' });
  });

  it('an unknown id or name is refused: exit 2, nothing deleted', async () => {
    const repo = makeRepo('rm-unknown', { 'a.txt': 'a\n' });
    const id = await runOne(repo, ['--', 'true']);
    await refused(repo, ['rm', id, 'deadbeef'], "no run matches 'deadbeef'", 'list runs with `git run log --oneline`');
    await refused(repo, ['rm', 'no-such-run'], "'no-such-run' is not a run id, nor the name of a run", /^hint: name a run by 4 or more hex digits/);
    assert.deepEqual(runIds(repo), [id]);
  });

  it('a group goes with its children; a child alone leaves its group working (show, compare, log); --dry-run writes nothing', async () => {
    const repo = makeRepo('rm-group', {
      'sweep.json': JSON.stringify({ name: 'lrs', command: ['sh', '-c', 'echo "{\\"acc\\": {lr}}" > metrics.json', 'x'], params: { lr: { values: [0.1, 0.2, 0.3] } }, seed: 1 }),
      'other.json': JSON.stringify({ name: 'bs', command: ['sh', '-c', 'echo {bs} > bs.txt'], params: { bs: { values: [16, 32] } }, seed: 2 }),
    });
    const g = JSON.parse((await ok(['submit', '--json', 'sweep.json'], { cwd: repo })).stdout) as { id: string; children: string[] };
    const h = JSON.parse((await ok(['submit', '--json', 'other.json'], { cwd: repo })).stdout) as { id: string; children: string[] };
    assert.equal(g.children.length, 3);
    const [k1, k2, k3] = g.children as [string, string, string];

    // --dry-run: says what would go, changes nothing.
    const state = refState(repo);
    const dry = await ok(['rm', '--dry-run', k2], { cwd: repo });
    assert.equal(dry.stdout, `would delete ${short(k2)} succeeded lr=0.2 (from group ${short(g.id)})\n`);
    assert.equal(refState(repo), state);

    await ok(['rm', k2], { cwd: repo });
    assert.ok(!runIds(repo).includes(k2));
    assert.ok(runIds(repo).includes(g.id));
    const shown = await showJson(repo, g.id);
    assert.deepEqual(shown.children, [k1, k3]);
    assert.equal(shown.status, 'succeeded', 'the group reads as its remaining children');
    const cmp = (await ok(['compare', g.id], { cwd: repo })).stdout.split('\n').filter(Boolean);
    assert.equal(cmp.length, 3, cmp.join('\n'));
    assert.ok(cmp[1]!.startsWith(short(k1)) && cmp[2]!.startsWith(short(k3)), cmp.join('\n'));
    const children = (await ok(['log', '--oneline', '--parent', g.id], { cwd: repo })).stdout;
    assert.ok(!children.includes(short(k2)) && children.includes(short(k1)), children);
    assert.equal((await ok(['log', '--oneline', '--status', 'succeeded'], { cwd: repo })).stdout.includes(short(k2)), false);

    // The whole group: its ref, its children's, its note.
    const r = await ok(['rm', 'bs'], { cwd: repo });
    assert.equal(r.stdout, `deleted ${short(h.id)} succeeded bs (group, 2 runs)\n`);
    for (const id of [h.id, ...h.children]) assert.ok(!runIds(repo).includes(id));
    assert.ok(!noted(repo).includes(h.id));
    assert.deepEqual((await logIds(repo)).sort(), [g.id, k1, k3].sort());
    await intact(repo);

    // The last children of a group take the group with them (nothing would be left to show).
    const last = await ok(['rm', '--json', k1, k3], { cwd: repo });
    assert.deepEqual(last.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l).id).sort(), [g.id, k1, k3].sort());
    assert.deepEqual(runIds(repo), []);
    await intact(repo);
  });

  it('a run other runs took inputs from is refused (exit 2, nothing deleted); --force deletes it and says what it breaks', async () => {
    const repo = makeRepo('rm-deps', { 'a.txt': 'a\n' });
    const up = await runOne(repo, ['--name', 'prepare', '--', 'sh', '-c', 'echo data > out.txt']);
    const down = await runOne(repo, ['--name', 'train', '-i', `${up}:out.txt`, '--', 'cat', 'out.txt']);
    await refused(
      repo,
      ['rm', 'prepare'],
      `run ${short(up)} is upstream of runs that stay: ${short(down)} (train) takes "out.txt" from ${short(up)}`,
      /^hint: delete the downstream runs too .* or delete anyway with --force/,
    );
    // Both at once: nothing stays behind that depends on them.
    const both = await ok(['rm', '--dry-run', up, down], { cwd: repo });
    assert.equal(both.stdout.split('\n').filter(Boolean).length, 2);
    const r = await ok(['rm', '--force', 'prepare'], { cwd: repo });
    assert.equal(r.stdout, `deleted ${short(up)} succeeded prepare\n`);
    assert.equal(r.stderr, `warning: this broke the lineage of 1 run(s) that stay:\n  ${short(down)} train took out.txt from ${short(up)}\n`);
    assert.deepEqual(runIds(repo), [down]);
    // The downstream run keeps working; its upstream stays in git through its spec commit's parent.
    await intact(repo);
    git(repo, 'gc', '--prune=now', '--quiet');
    git(repo, 'cat-file', '-e', `${down}^1:outputs/out.txt`);
    assert.match((await ok(['lineage', down], { cwd: repo })).stdout, /not in this repository/);
  });

  it('a running run is refused (cancel first, or --force, which cancels it)', async () => {
    const repo = makeRepo('rm-running', { 'a.txt': 'a\n' });
    const dir = tmpdir('rm-running-flag');
    const started = path.join(dir, 'started');
    const id = (await ok(['-d', '--', 'sh', '-c', `touch ${started}; while :; do sleep 0.1; done`], { cwd: repo })).stdout.trim();
    await until('the command to start', () => existsSync(started), 120000);
    await refused(repo, ['rm', id], `a run to delete is not finished: ${short(id)} (running)`, `cancel first (\`git run cancel ${short(id)}\`), or delete with --force, which cancels it first`);
    const r = await ok(['rm', '--force', '--json', id], { cwd: repo });
    const out = JSON.parse(r.stdout) as { id: string; cancelled: boolean };
    assert.equal(out.id, id);
    assert.equal(out.cancelled, true);
    assert.deepEqual(runIds(repo), []);
    assert.equal(existsSync(path.join(repo, '.git', 'git-run', 'runs', id)), false, 'its run directory went too');
  });
});

describe('git run gc', function () {
  this.timeout(300000);

  it('--failed and --cancelled select by status; --keep-tagged keeps tagged runs; the space is freed (count-objects), every remaining run intact', async () => {
    const repo = makeRepo('gc-status', { 'a.txt': 'a\n' });
    const good = await runOne(repo, ['--', 'sh', '-c', 'echo fine > out.txt']);
    const bad = await runOne(repo, ['--', 'sh', '-c', 'head -c 3000000 /dev/urandom > big.bin; exit 3'], 3);
    const tagged = await runOne(repo, ['--tag', 'keep', '--', 'sh', '-c', 'echo kept > out.txt; exit 4'], 4);
    const dir = tmpdir('gc-cancel-flag');
    const started = path.join(dir, 'started');
    const cancelled = (await ok(['-d', '--', 'sh', '-c', `touch ${started}; while :; do sleep 0.1; done`], { cwd: repo })).stdout.trim();
    await until('the command to start', () => existsSync(started), 120000);
    await ok(['cancel', cancelled], { cwd: repo });

    // Dry: says what would go, writes nothing.
    const state = refState(repo);
    const objects = git(repo, 'count-objects', '-v');
    const dry = await ok(['gc', '--failed', '--keep-tagged', '--dry-run'], { cwd: repo });
    assert.equal(dry.stdout, 'would delete 1 run\n');
    assert.equal(refState(repo), state);
    assert.equal(git(repo, 'count-objects', '-v'), objects);

    const before = objectBytes(repo);
    const r = JSON.parse((await ok(['gc', '--failed', '--keep-tagged', '--prune', 'now', '--json'], { cwd: repo })).stdout);
    assert.deepEqual(r.runs.map((x: { id: string }) => x.id), [bad]);
    const after = objectBytes(repo);
    assert.ok(before - after > 2_500_000, `freed ${before - after} bytes`);
    assert.equal(r.freedBytes, before - after, 'what gc says it freed is what git counts');
    assert.deepEqual(runIds(repo).sort(), [good, tagged, cancelled].sort());

    const text = await ok(['gc', '--cancelled', '--prune', 'now'], { cwd: repo });
    assert.match(text.stdout, /^deleted 1 run\nobjects: .* -> .* freed\n/);
    assert.deepEqual(runIds(repo).sort(), [good, tagged].sort());
    await intact(repo, { [`${good}:out.txt`]: 'fine\n', [`${tagged}:out.txt`]: 'kept\n' });
    assert.deepEqual((await logIds(repo)).sort(), [good, tagged].sort());
  });

  it('--older-than and --keep-last N per experiment; upstream runs of kept runs stay; running runs are never deleted', async () => {
    const repo = makeRepo('gc-age', { 'a.txt': 'a\n' });
    const up = await runOne(repo, ['--name', 'prepare', '--', 'sh', '-c', 'echo data > out.txt']);
    const old1 = await runOne(repo, ['--name', 'train', '--', 'sh', '-c', 'echo 1 > m.txt']);
    const old2 = await runOne(repo, ['--name', 'train', '--', 'sh', '-c', 'echo 2 > m.txt']);
    const dir = tmpdir('gc-age-flag');
    const started = path.join(dir, 'started');
    const running = (await ok(['-d', '--', 'sh', '-c', `touch ${started}; while [ ! -e ${dir}/stop ]; do sleep 0.1; done`], { cwd: repo })).stdout.trim();
    await until('the command to start', () => existsSync(started), 120000);
    // Everything above was created before this instant; what follows after it.
    const created = (id: string) => JSON.parse(git(repo, 'cat-file', 'blob', `${id}:run.json`)).createdAt as string;
    const mark = [up, old1, old2, running].map(created).sort().pop()!;
    await until('the clock to pass the mark', () => new Date().toISOString() > mark);
    const cutoff = new Date().toISOString();
    await until('the clock to pass the cut-off', () => new Date().toISOString() > cutoff);
    const down = await runOne(repo, ['--name', 'eval', '-i', `${up}:out.txt`, '--', 'cat', 'out.txt']);

    // --keep-last 1 per experiment: the older of the two 'train' runs goes; each other experiment has one run.
    const kl = JSON.parse((await ok(['gc', '--keep-last', '1', '--dry-run', '--json'], { cwd: repo })).stdout);
    assert.deepEqual(kl.runs.map((x: { id: string }) => x.id), [old1]);

    const r = JSON.parse((await ok(['gc', '--older-than', cutoff, '--prune', 'now', '--json'], { cwd: repo })).stdout);
    assert.deepEqual(r.runs.map((x: { id: string }) => x.id).sort(), [old1, old2].sort());
    assert.deepEqual(r.keptAsUpstream, [up], 'prepare stays: eval, which stays, took its output');
    assert.equal(r.keptActive, 1, 'the running run is never deleted');
    assert.deepEqual(runIds(repo).sort(), [up, running, down].sort());
    writeFileSync(path.join(dir, 'stop'), '');
    await ok(['wait', running], { cwd: repo });
    await intact(repo, { [`${up}:out.txt`]: 'data\n' });
    assert.equal((await ok(['lineage', '--upstream', down], { cwd: repo })).stdout.includes('not in this repository'), false);
  });

  it('hundreds of runs at once: the index drops their rows in bulk; log, params and metrics of what stays are right', async () => {
    const repo = makeRepo('gc-bulk', { 'a.txt': 'a\n' });
    const old = await runOne(repo, ['-p', 'lr=0.1', '--', 'sh', '-c', 'echo \'{"acc": 0.5}\' > metrics.json']);
    // 300 more refs holding the same run under other names: as many rows in the index (past its bulk threshold of 200).
    const tip = git(repo, 'rev-parse', `refs/runs/${old}`);
    const copies = Array.from({ length: 300 }, (_, i) => createHashHex(`copy ${i}`));
    execFileSync('git', ['update-ref', '--stdin'], { cwd: repo, env: ENV, input: copies.map((c) => `create refs/runs/${c} ${tip}\n`).join('') });
    assert.equal((await logIds(repo)).length, 301);
    const created = JSON.parse(git(repo, 'cat-file', 'blob', `${old}:run.json`)).createdAt as string;
    await until('the clock to pass the runs made', () => new Date().toISOString() > created);
    const cutoff = new Date().toISOString();
    await until('the clock to pass the cut-off', () => new Date().toISOString() > cutoff);
    const keep = await runOne(repo, ['-p', 'lr=0.2', '--', 'sh', '-c', 'echo \'{"acc": 0.7}\' > metrics.json']);
    const r = JSON.parse((await ok(['gc', '--older-than', cutoff, '--prune', 'now', '--json'], { cwd: repo })).stdout);
    assert.equal(r.runs.length, 301);
    assert.deepEqual(runIds(repo), [keep]);
    assert.deepEqual(await logIds(repo), [keep]);
    const shown = JSON.parse((await ok(['log', '--json', '--where', 'metrics.acc > 0'], { cwd: repo })).stdout.trim());
    assert.equal(shown.id, keep, 'the metrics rows of the deleted runs went with them');
    assert.equal((await ok(['log', '--json', '--where', 'params.lr = 0.1'], { cwd: repo })).stdout, '', 'and their params rows');
    await intact(repo);
  });

  it('a large gc (past the bulk threshold, the index forgetting while git deletes) leaves the index row for row as a rebuild makes it', async () => {
    const repo = makeRepo('gc-bulk-rebuild', { 'a.txt': 'a\n' });
    const old = await runOne(repo, ['-p', 'lr=0.1', '--tag', 'old', '--', 'sh', '-c', 'echo \'{"acc": 0.5}\' > metrics.json']);
    const tip = git(repo, 'rev-parse', `refs/runs/${old}`);
    const copies = Array.from({ length: 260 }, (_, i) => createHashHex(`bulk copy ${i}`));
    execFileSync('git', ['update-ref', '--stdin'], { cwd: repo, env: ENV, input: copies.map((c) => `create refs/runs/${c} ${tip}\n`).join('') });
    const created = JSON.parse(git(repo, 'cat-file', 'blob', `${old}:run.json`)).createdAt as string;
    await until('the clock to pass the runs made', () => new Date().toISOString() > created);
    const cutoff = new Date().toISOString();
    await until('the clock to pass the cut-off', () => new Date().toISOString() > cutoff);
    const kept = [
      await runOne(repo, ['-p', 'lr=0.2', '--tag', 'keep', '--', 'sh', '-c', 'echo \'{"acc": 0.7}\' > metrics.json']),
      await runOne(repo, ['-p', 'lr=0.3', '--', 'true']),
    ];
    assert.equal((await logIds(repo)).length, 263, 'the index holds every run before');
    const r = JSON.parse((await ok(['gc', '--older-than', cutoff, '--prune', 'now', '--json'], { cwd: repo })).stdout);
    assert.equal(r.runs.length, 261);
    assert.deepEqual(runIds(repo).sort(), [...kept].sort());
    const file = path.join(repo, '.git', 'git-run', 'index.sqlite');
    // Every table holding rows of runs, in a fixed order (names and meta keep history of their own by design).
    const dump = () =>
      ['runs ORDER BY id', 'params ORDER BY run, name', 'metrics ORDER BY run, name', 'tags ORDER BY run, tag', 'group_children ORDER BY grp, child', 'inputs ORDER BY run, path']
        .map((t) => `${t}\n${execFileSync('sqlite3', [file, `SELECT * FROM ${t}`], { encoding: 'utf8' })}`)
        .join('');
    const after = dump();
    assert.equal(execFileSync('sqlite3', [file, 'SELECT count(*) FROM runs'], { encoding: 'utf8' }).trim(), '2');
    for (const f of ['', '-wal', '-shm']) rmSync(file + f, { force: true });
    assert.deepEqual((await logIds(repo)).sort(), [...kept].sort(), 'a fresh index (rebuilt from git) lists the runs that stay');
    assert.equal(after, dump(), 'the index after gc is the one a rebuild makes');
    await intact(repo);
  });

  it('prunes the input content cache of entries no remaining run uses; keeps the others', async () => {
    const repo = makeRepo('gc-inputs', { '.gitignore': '*.bin\n', 'a.txt': 'a\n' });
    writeFileSync(path.join(repo, 'kept.bin'), 'kept input\n');
    writeFileSync(path.join(repo, 'gone.bin'), 'gone input\n');
    const keeper = await runOne(repo, ['-i', 'kept.bin', '--', 'cat', 'kept.bin']);
    await runOne(repo, ['-i', 'gone.bin', '--', 'sh', '-c', 'cat gone.bin; exit 1'], 1);
    const cache = path.join(repo, '.git', 'git-run', 'inputs');
    const keptOid = git(repo, 'hash-object', 'kept.bin');
    const goneOid = git(repo, 'hash-object', 'gone.bin');
    assert.deepEqual(readdirSync(cache).sort(), [keptOid, goneOid].sort());
    // Young entries stay by default (a submission may be placing them right now).
    await ok(['gc', '--failed'], { cwd: repo });
    assert.deepEqual(readdirSync(cache).sort(), [keptOid, goneOid].sort());
    const r = JSON.parse((await ok(['gc', '--prune', 'now', '--json'], { cwd: repo })).stdout);
    assert.deepEqual(r.inputCache, { removed: 1, bytes: 'gone input\n'.length });
    assert.deepEqual(readdirSync(cache), [keptOid]);
    assert.deepEqual(runIds(repo), [keeper]);
  });

  it('bad options are refused with exit 2', async () => {
    const repo = makeRepo('gc-bad', { 'a.txt': 'a\n' });
    await runOne(repo, ['--', 'true']);
    await refused(repo, ['gc', '--older-than', 'last tuesday'], "'last tuesday' is not a date", /^hint: write one of: /);
    await refused(repo, ['gc', '--keep-last', 'two'], "--keep-last takes a whole number of runs, not 'two'", 'e.g. --keep-last 5 keeps the 5 newest runs of each experiment');
    await refused(repo, ['gc', '--host', 'nowhere'], "no host profile 'nowhere' in .runconfig", 'name local, or add the profile under "hosts" in .runconfig');
    await refused(repo, ['gc', '--host', 'local', '--failed'], '--host cleans a host; the retention rules select runs in this repository', 'run `git run gc --host <profile>` apart from `git run gc <rules>`');
  });
});
