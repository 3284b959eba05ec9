import assert from 'node:assert/strict';
import path from 'node:path';
import { makeRepo, gitRun, ok, runIds, showJson, git, writeFiles, refused } from './helpers.js';

/** Run the CLI to make one run; its id. */
async function makeRun(repo: string, args: string[], cwd = repo): Promise<string> {
  const before = new Set(runIds(repo));
  await gitRun(args, { cwd });
  const made = runIds(repo).filter((id) => !before.has(id));
  assert.equal(made.length, 1, `one new run from git run ${args.join(' ')}`);
  return made[0]!;
}

const short = (id: string) => id.slice(0, 12);


const TRAIN_A = `printf '{"acc": 0.9, "loss": 0.5}' > metrics.json
echo model-a > model.txt
echo old > old.txt
`;
const TRAIN_B = `printf '{"acc": 0.95, "f1": 0.7}' > metrics.json
echo model-b > model.txt
echo extra > extra.txt
`;

describe('git run diff', () => {
  let repo: string;
  let a: string;
  let b: string;
  let ja: Record<string, any>;
  let jb: Record<string, any>;

  before(async () => {
    repo = makeRepo('diff', { 'train.sh': TRAIN_A, 'sub/notes.txt': 'first\n', 'same.txt': 'same\n' });
    a = await makeRun(repo, ['-q', '-p', 'lr=0.1', '-p', 'layers=2', '--seed', '1', '--', 'sh', 'train.sh']);
    // Code edited between the runs (not committed: b's snapshot is dirty).
    writeFiles(repo, { 'train.sh': TRAIN_B, 'sub/notes.txt': 'second\n' });
    b = await makeRun(repo, ['-q', '-p', 'lr=0.2', '-p', 'dropout=0.5', '--seed', '2', '--', 'sh', 'train.sh']);
    ja = await showJson(repo, a);
    jb = await showJson(repo, b);
  });

  const header = () => [`--- a ${short(a)}`, `+++ b ${short(b)}`];
  const codeLines = () => [
    'code:',
    `  a: tree ${short(ja.code.tree)} on commit ${short(ja.code.commit)}`,
    `  b: tree ${short(jb.code.tree)} on commit ${short(jb.code.commit)}, dirty`,
  ];
  const rest = [
    'params:',
    '  + dropout  0.5',
    '  - layers   2',
    '  ~ lr       0.1 -> 0.2',
    'seed: 1 -> 2',
    'metrics:',
    '  name    a     b  delta  change',
    '  acc   0.9  0.95  +0.05  +5.56%',
    '  loss  0.5     -      -       -',
    '  f1      -   0.7      -       -',
    'outputs:',
    '  + extra.txt     6 B',
    '  ~ metrics.json  25 B -> 24 B',
    '  ~ model.txt     8 B -> 8 B',
    '  - old.txt       4 B',
  ];

  it('shows only the sections that differ: code stat, params, seed, metrics, outputs', async () => {
    const r = await ok(['diff', short(a), short(b)], { cwd: repo });
    assert.equal(
      r.stdout,
      [
        ...header(),
        ...codeLines(),
        '  sub/notes.txt | 2 +-',
        '  train.sh      | 6 +++---',
        '  2 files changed, 4 insertions(+), 4 deletions(-)',
        ...rest,
      ].join('\n') + '\n',
    );
  });

  it('--json: one object with the differing sections, values raw', async () => {
    const r = await ok(['diff', '--json', a, b], { cwd: repo });
    assert.equal(r.stdout.split('\n').length, 2, 'one line');
    const out = (j: Record<string, any>, p: string) => {
      const o = j.outputs.find((x: any) => x.path === p);
      return { oid: o.oid, size: o.size };
    };
    assert.deepEqual(JSON.parse(r.stdout), {
      a: { id: a, name: null },
      b: { id: b, name: null },
      code: {
        a: ja.code,
        b: jb.code,
        files: [
          { path: 'sub/notes.txt', status: 'M', added: 1, deleted: 1 },
          { path: 'train.sh', status: 'M', added: 3, deleted: 3 },
        ],
        stat: ' sub/notes.txt | 2 +-\n train.sh      | 6 +++---\n 2 files changed, 4 insertions(+), 4 deletions(-)\n',
      },
      params: { added: { dropout: 0.5 }, removed: { layers: 2 }, changed: { lr: { a: 0.1, b: 0.2 } } },
      seed: { a: 1, b: 2 },
      metrics: {
        acc: { a: 0.9, b: 0.95, delta: 0.05, percent: 5.55555555556 },
        loss: { a: 0.5, b: null, delta: null, percent: null },
        f1: { a: null, b: 0.7, delta: null, percent: null },
      },
      outputs: {
        added: [{ path: 'extra.txt', ...out(jb, 'extra.txt') }],
        removed: [{ path: 'old.txt', ...out(ja, 'old.txt') }],
        changed: [
          { path: 'metrics.json', a: out(ja, 'metrics.json'), b: out(jb, 'metrics.json') },
          { path: 'model.txt', a: out(ja, 'model.txt'), b: out(jb, 'model.txt') },
        ],
      },
    });
  });

  it('--patch adds git\'s patch of the two snapshots after the sections', async () => {
    const r = await ok(['diff', '-p', a, b], { cwd: repo });
    const patch = git(repo, 'diff', ja.code.tree, jb.code.tree) + '\n';
    assert.ok(patch.includes(`\n-printf '{"acc": 0.9, "loss": 0.5}' > metrics.json\n`), patch);
    assert.ok(patch.includes(`\n+printf '{"acc": 0.95, "f1": 0.7}' > metrics.json\n`), patch);
    const sections = (await ok(['diff', a, b], { cwd: repo })).stdout;
    assert.equal(r.stdout, sections + '\n' + patch);
    const j = JSON.parse((await ok(['diff', '--json', '--patch', a, b], { cwd: repo })).stdout);
    assert.equal(j.code.patch, patch);
  });

  it('paths after -- limit the code diff, relative to where the user stands', async () => {
    const only = [...header(), ...codeLines(), '  train.sh | 6 +++---', '  1 file changed, 3 insertions(+), 3 deletions(-)', ...rest].join('\n') + '\n';
    assert.equal((await ok(['diff', a, b, '--', 'train.sh'], { cwd: repo })).stdout, only);
    assert.equal((await ok(['diff', a, b, 'train.sh'], { cwd: repo })).stdout, only, 'the -- may be left out');
    const sub = (await ok(['diff', '-p', a, b, '--', 'notes.txt'], { cwd: path.join(repo, 'sub') })).stdout;
    assert.ok(sub.includes('\n  sub/notes.txt | 2 +-\n  1 file changed, 1 insertion(+), 1 deletion(-)\n'), sub);
    assert.ok(sub.endsWith('\n-first\n+second\n'), sub);
    assert.ok(!sub.includes('train.sh |'), sub);
    // A path where nothing differs: the code section keeps the commits, without a stat.
    const none = (await ok(['diff', a, b, '--', 'same.txt'], { cwd: repo })).stdout;
    assert.equal(none, [...header(), ...codeLines(), ...rest].join('\n') + '\n');
  });

  it('a run against itself: no differences; two identical runs: only run_args; --all shows every section and the unchanged entries', async () => {
    const r1 = await makeRun(repo, ['-q', '--seed', '7', '-p', 'x=1', '--', 'true']);
    const r2 = await makeRun(repo, ['-q', '--no-skip', '--force-ignores-success', '--seed', '7', '-p', 'x=1', '--', 'true']);
    assert.notEqual(r1, r2);
    const j1 = await showJson(repo, r1);
    assert.equal((await ok(['diff', r1, r1], { cwd: repo })).stdout, `--- a ${short(r1)}\n+++ b ${short(r1)}\n(no differences)\n`);
    // The second identical run differs only in the flags that made it run again (--no-skip is force: true).
    const w0 = 'force_ignores_success'.length;
    assert.equal(
      (await ok(['diff', r1, r2], { cwd: repo })).stdout,
      [`--- a ${short(r1)}`, `+++ b ${short(r2)}`, 'run_args:', `  ~ ${'force'.padEnd(w0)}  false -> true`, `  ~ ${'force_ignores_success'.padEnd(w0)}  false -> true`, `  ~ ${'skip'.padEnd(w0)}  true -> false`].join('\n') + '\n',
    );
    const all = (await ok(['diff', '--all', r1, r2], { cwd: repo })).stdout.replace(/duration: {2}.*/, 'duration:  D');
    const j2 = await showJson(repo, r2);
    const w = Math.max(...Object.keys(j1.runArgs).map((k) => k.length));
    const argLines = (ra: Record<string, unknown>) =>
      Object.keys(ra)
        .sort()
        .map((k) => `    ${k.padEnd(w)}  ${typeof ra[k] === 'string' ? ra[k] : JSON.stringify(ra[k])}`);
    assert.deepEqual(Object.keys(j2.runArgs).sort(), Object.keys(j1.runArgs).sort());
    // skip, force and force_ignores_success differ (the flags that made a second identical run), nothing else.
    const expected = [
      `--- a ${short(r1)}`,
      `+++ b ${short(r2)}`,
      'code:',
      `  a: tree ${short(j1.code.tree)} on commit ${short(j1.code.commit)}, dirty`,
      `  b: tree ${short(j1.code.tree)} on commit ${short(j1.code.commit)}, dirty`,
      'command:',
      '  a: true',
      '  b: true',
      'cwd: (top)',
      'params:',
      '    x  1',
      'seed: 7',
      'env:',
      '  (none)',
      'run_args:',
      ...argLines(j1.runArgs).map((l) =>
        l.trimStart().startsWith('skip ') ? `  ~ ${'skip'.padEnd(w)}  true -> false`
        : l.trimStart().startsWith('force ') ? `  ~ ${'force'.padEnd(w)}  false -> true`
        : l.trimStart().startsWith('force_ignores_success ') ? `  ~ ${'force_ignores_success'.padEnd(w)}  false -> true`
        : l,
      ),
      'host: local',
      'metrics:',
      '  (none)',
      'outputs:',
      '  (none)',
      'result:',
      '  status:    succeeded',
      '  exit code: 0',
      '  duration:  D',
    ];
    assert.equal(all, expected.join('\n') + '\n');
    assert.equal(j2.runArgs.skip, false);
    // And without --all only run_args shows.
    const d = JSON.parse((await ok(['diff', '--json', r1, r2], { cwd: repo })).stdout);
    assert.deepEqual(Object.keys(d), ['a', 'b', 'runArgs']);
    assert.deepEqual(d.runArgs, { added: {}, removed: {}, changed: { force: { a: false, b: true }, skip: { a: true, b: false }, force_ignores_success: { a: false, b: true } } });
  });

  it('command, cwd and result: status, exit code and duration', async () => {
    const ok1 = await makeRun(repo, ['-q', '--seed', '3', '--', 'true']);
    const bad = await makeRun(repo, ['-q', '--seed', '3', '--', 'sh', '-c', 'exit 3'], path.join(repo, 'sub'));
    const r = (await ok(['diff', ok1, bad], { cwd: repo })).stdout.replace(/duration: {2}.*/, 'duration:  D');
    assert.equal(
      r,
      [
        `--- a ${short(ok1)}`,
        `+++ b ${short(bad)}`,
        'command:',
        '  a: true',
        "  b: sh -c 'exit 3'",
        'cwd: (top) -> sub/',
        'result:',
        '  status:    succeeded -> failed',
        '  exit code: 0 -> 3',
        '  duration:  D',
      ].join('\n') + '\n',
    );
    const j = JSON.parse((await ok(['diff', '--json', ok1, bad], { cwd: repo })).stdout);
    assert.deepEqual(j.command, { a: ['true'], b: ['sh', '-c', 'exit 3'] });
    assert.deepEqual(j.cwd, { a: '', b: 'sub/' });
    assert.equal(j.result.a.status, 'succeeded');
    assert.equal(j.result.b.status, 'failed');
    assert.equal(j.result.b.exitCode, 3);
    assert.equal(typeof j.result.a.duration, 'number');
    assert.equal(j.code, undefined, 'the same code');
  });

  it('refuses anything but two runs, unknown and ambiguous runs, with a hint and nothing written', async () => {
    await refused(repo, ['diff'], 'git run diff compares two runs; none was given', /git run diff <a> <b>/);
    await refused(repo, ['diff', short(a)], `git run diff compares two runs; only one was given ('${short(a)}')`, /git run diff <a> <b>/);
    await refused(repo, ['diff', short(a), short(b), short(a)], `git run diff compares exactly two runs; 3 were given (${short(a)}, ${short(b)}, ${short(a)})`, /git run compare/);
    await refused(repo, ['diff', short(a), 'deadbeef'], "no run matches 'deadbeef'", /git run log --oneline/);
    await refused(repo, ['diff', 'zz!', short(a)], "'zz!' is not a run id, nor the name of a run", /git run log --oneline/);
    const tip = git(repo, 'rev-parse', `refs/runs/${a}`);
    git(repo, 'update-ref', `refs/runs/abcd${'0'.repeat(36)}`, tip);
    git(repo, 'update-ref', `refs/runs/abcd${'1'.repeat(36)}`, tip);
    try {
      await refused(repo, ['diff', 'abcd', short(b)], `'abcd' is ambiguous: it names 2 runs (abcd00000000, abcd11111111)`, /give more digits/);
    } finally {
      git(repo, 'update-ref', '-d', `refs/runs/abcd${'0'.repeat(36)}`);
      git(repo, 'update-ref', '-d', `refs/runs/abcd${'1'.repeat(36)}`);
    }
  });
});
