import assert from 'node:assert/strict';
import { makeRepo, gitRun, ok, runIds, refused } from './helpers.js';

const short = (id: string) => id.slice(0, 12);


/** Writes metrics.json from its arguments: acc, then loss. */
const TRAIN = `printf '{"acc": %s, "loss": %s}' "$1" "$2" > metrics.json\n`;

describe('git run compare', () => {
  let repo: string;
  let group: string;
  /** The group's children, in the sweep's order: lr 0.1, 0.3, 0.2. */
  let kids: string[];
  let single: string;

  before(async () => {
    repo = makeRepo('compare', {
      'train.sh': TRAIN,
      'sweep.json': JSON.stringify({
        command: ['sh', 'train.sh', '{acc}', '{lr}'],
        params: { lr: { values: [0.1, 0.3, 0.2] }, acc: { values: [0.7] }, tag: 'x,"y"' },
        seed: 4,
      }),
    });
    const g = JSON.parse((await ok(['submit', '--json', 'sweep.json'], { cwd: repo })).stdout);
    group = g.id;
    kids = g.children;
    assert.equal(kids.length, 3);
    // The sweep's children: acc 0.7 for all, loss = lr. Make acc vary by hand below.
    const before = new Set(runIds(repo));
    await ok(['-q', '-p', 'lr=0.05', '-p', 'depth=3', '--seed', '9', '--', 'sh', 'train.sh', '0.91', '0.05'], { cwd: repo });
    single = runIds(repo).find((id) => !before.has(id))!;
  });

  it('a group expands to its children: id, status, name, the params that vary, every metric', async () => {
    const r = await ok(['compare', short(group)], { cwd: repo });
    assert.equal(
      r.stdout,
      [
        'id            status     name                      param:lr  metric:acc  metric:loss',
        `${short(kids[0]!)}  succeeded  lr=0.1 acc=0.7 tag=x,"y"       0.1         0.7          0.1`,
        `${short(kids[1]!)}  succeeded  lr=0.3 acc=0.7 tag=x,"y"       0.3         0.7          0.3`,
        `${short(kids[2]!)}  succeeded  lr=0.2 acc=0.7 tag=x,"y"       0.2         0.7          0.2`,
      ].join('\n') + '\n',
    );
  });

  it('--all-params, --metric (repeatable, in its order), missing values as -, columns in the order the runs name them', async () => {
    const r = await ok(['compare', single, short(group), '--all-params', '--metric', 'loss', '--metric', 'acc'], { cwd: repo });
    assert.equal(
      r.stdout,
      [
        'id            status     name                      param:lr  param:depth  param:acc  param:tag  metric:loss  metric:acc',
        `${short(kids[0]!)}  succeeded  lr=0.1 acc=0.7 tag=x,"y"       0.1            -        0.7  x,"y"              0.1         0.7`,
        `${short(kids[1]!)}  succeeded  lr=0.3 acc=0.7 tag=x,"y"       0.3            -        0.7  x,"y"              0.3         0.7`,
        `${short(kids[2]!)}  succeeded  lr=0.2 acc=0.7 tag=x,"y"       0.2            -        0.7  x,"y"              0.2         0.7`,
        `${short(single)}  succeeded  -                             0.05            3          -  -                 0.05        0.91`,
      ].join('\n') + '\n',
    );
  });

  it('sorts by creation time by default, or by any column; --sort=-COLUMN descends; missing values last', async () => {
    const ids = async (...args: string[]) => (await ok(['compare', '--json', ...args], { cwd: repo })).stdout.trim().split('\n').map((l) => JSON.parse(l).id);
    assert.deepEqual(await ids(single, group), [...kids, single], 'created first, listed first, whatever the order named');
    assert.deepEqual(await ids(group, '--sort', 'param:lr'), [kids[0], kids[2], kids[1]]);
    assert.deepEqual(await ids(group, '--sort=-param:lr'), [kids[1], kids[2], kids[0]]);
    assert.deepEqual(await ids(group, single, '--sort', 'metric:loss'), [single, kids[0], kids[2], kids[1]]);
    assert.deepEqual(await ids(group, single, '--sort=-metric:acc'), [single, ...kids], 'ties keep their order');
    assert.deepEqual(await ids(single, group, '--sort', 'param:depth'), [single, ...kids], 'runs without the param come last');
    assert.deepEqual(await ids(single, group, '--sort=-param:depth'), [single, ...kids], 'last in either direction');
    assert.deepEqual(await ids(group, '--sort', 'params.lr'), [kids[0], kids[2], kids[1]], 'as --where names it');
    assert.deepEqual(await ids(single, group, '--sort', 'name'), [kids[0], kids[2], kids[1], single], 'a run without a name last');
    assert.deepEqual(await ids(kids[1]!, kids[0]!, kids[1]!), [kids[1], kids[0]], 'each run once; created together, in the order named');
    assert.deepEqual(await ids(kids[1]!, kids[0]!, group, '--sort', 'param:lr'), [kids[0], kids[2], kids[1]], 'each run once');
  });

  it('--json: one object per run and line, the table\'s columns, null where missing', async () => {
    const r = await ok(['compare', '--json', group, single], { cwd: repo });
    const rows = r.stdout.split('\n');
    assert.equal(rows.pop(), '');
    assert.deepEqual(
      rows.map((l) => JSON.parse(l)),
      [
        ...kids.map((id, i) => ({ id, status: 'succeeded', name: `lr=${[0.1, 0.3, 0.2][i]} acc=0.7 tag=x,"y"`, params: { lr: [0.1, 0.3, 0.2][i], acc: 0.7, tag: 'x,"y"', depth: null }, metrics: { acc: 0.7, loss: [0.1, 0.3, 0.2][i] } })),
        { id: single, status: 'succeeded', name: null, params: { lr: 0.05, acc: null, tag: null, depth: 3 }, metrics: { acc: 0.91, loss: 0.05 } },
      ],
    );
  });

  it('--csv: RFC 4180 quoting, a header of param:NAME and metric:NAME, missing values empty', async () => {
    const r = await ok(['compare', '--csv', '--all-params', group, single, '--sort=-param:lr'], { cwd: repo });
    assert.equal(
      r.stdout,
      [
        'id,status,name,param:lr,param:acc,param:tag,param:depth,metric:acc,metric:loss',
        `${kids[1]},succeeded,"lr=0.3 acc=0.7 tag=x,""y""",0.3,0.7,"x,""y""",,0.7,0.3`,
        `${kids[2]},succeeded,"lr=0.2 acc=0.7 tag=x,""y""",0.2,0.7,"x,""y""",,0.7,0.2`,
        `${kids[0]},succeeded,"lr=0.1 acc=0.7 tag=x,""y""",0.1,0.7,"x,""y""",,0.7,0.1`,
        `${single},succeeded,,0.05,,,3,0.91,0.05`,
      ].join('\r\n') + '\r\n',
    );
  });

  it('--where selects runs (a group among them stands for its children), alone or among the runs named', async () => {
    // Sorted: children created together tie on creation time, and --where does not know their sweep's order.
    const ids = async (...args: string[]) => (await ok(['compare', '--json', '--sort', 'param:lr', ...args], { cwd: repo })).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l).id);
    assert.deepEqual(await ids('--where', 'metrics.loss > 0.15'), [kids[2], kids[1]]);
    assert.deepEqual(await ids('--where', 'metrics.acc > 0.8 or params.lr = 0.1'), [single, kids[0]]);
    assert.deepEqual(await ids('--where', 'status = succeeded'), [single, kids[0], kids[2], kids[1]], 'the group and its children, each once');
    assert.deepEqual(await ids(group, '--where', 'params.lr < 0.25'), [kids[0], kids[2]], 'only those of the runs named');
    assert.deepEqual(await ids(single, '--where', 'params.lr < 0.01'), []);
    assert.equal((await ok(['compare', '--where', 'params.lr < 0.01'], { cwd: repo })).stdout, 'id  status  name\n');
    const bad = await gitRun(['compare', '--where', 'metrics.acc >'], { cwd: repo });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: missing value after '>' at column 14 of --where\nhint: /);
  });

  it('refuses no runs, an unknown column or metric, --csv with --json, unknown runs', async () => {
    await refused(repo, ['compare'], 'git run compare needs at least one run', /git run compare 3f2a9c 7d8e1b\), or select them with --where/);
    await refused(
      repo,
      ['compare', group, '--sort', 'metric:acu'],
      "unknown --sort column 'metric:acu'",
      "did you mean 'metric:acc'? columns: id, status, name, created, param:lr, param:acc, param:tag, metric:acc, metric:loss; a leading '-' sorts descending (--sort=-metric:acc)",
    );
    await refused(repo, ['compare', group, '--sort=-lr'], "unknown --sort column 'lr'", /^hint: did you mean '-param:lr'\? /);
    await refused(repo, ['compare', group, '--sort', 'acc'], "unknown --sort column 'acc'", /^hint: did you mean 'param:acc' or 'metric:acc'\? /);
    await refused(repo, ['compare', group, '--sort', 'bogus'], "unknown --sort column 'bogus'", /^hint: columns: id, status, name, created, /);
    await refused(repo, ['compare', group, '--metric', 'los'], "no run among these has a metric 'los'", "did you mean 'loss'? their metrics: acc, loss");
    await refused(repo, ['compare', '--json', '--csv', group], '--json and --csv cannot be used together', 'choose one output format: --json (one object per line) or --csv');
    await refused(repo, ['compare', group, 'deadbeef'], "no run matches 'deadbeef'", /git run log --oneline/);
  });
});
