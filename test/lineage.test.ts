import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { makeRepo, gitRun, ok, refused, runIds, git, showJson } from './helpers.js';
import { writeRun } from './lineage-fixture.js';

const short = (id: string) => id.slice(0, 12);
/** The id git gives a file's content. */
const blobId = (content: string) => crypto.createHash('sha1').update(`blob ${Buffer.byteLength(content)}\0${content}`).digest('hex');

/**
 * One repository, built once:
 *
 *   work tree raw.csv --\
 *   prepare (P) --out/train.bin as data/train.bin--> train (T) --model.pt--> eval (E)
 *              \--vocab.txt---------------------------------------------\
 *                                                    T --model.pt as m.pt--> E2 (no name)
 *
 * P is a real run of the CLI; T, E and E2 are written through the library
 * with the inputs a submission records (until `-i <run>:<path>` lands).
 */
describe('lineage: upstream and downstream runs', function () {
  this.timeout(180000);
  let repo: string;
  let P: string, T: string, E: string, E2: string;
  const oids: Record<string, string> = Object.create(null);
  const lineage = async (...args: string[]) => (await ok(['lineage', ...args], { cwd: repo })).stdout;

  before(async () => {
    repo = makeRepo('lineage', { 'a.txt': 'a\n' });
    await ok(['-q', '--name', 'prepare', '--', 'sh', '-c', 'mkdir out; echo data > out/train.bin; echo v > vocab.txt'], { cwd: repo });
    P = runIds(repo)[0]!;
    T = await writeRun(repo, P, {
      name: 'train',
      inputs: [{ run: P, path: 'out/train.bin', dest: 'data/train.bin' }, { worktree: 'raw.csv', content: 'a,b\n' }, { raw: 'ffffffffff:nope.bin' }],
      outputs: { 'model.pt': 'weights\n' },
    });
    E = await writeRun(repo, P, { name: 'eval', inputs: [{ run: T, path: 'model.pt' }] });
    E2 = await writeRun(repo, P, { inputs: [{ run: T, path: 'model.pt', dest: 'm.pt' }, { run: P, path: 'vocab.txt' }] });
    oids.train = git(repo, 'rev-parse', `refs/runs/${P}:outputs/out/train.bin`);
    oids.vocab = git(repo, 'rev-parse', `refs/runs/${P}:outputs/vocab.txt`);
    oids.model = git(repo, 'rev-parse', `refs/runs/${T}:outputs/model.pt`);
    oids.raw = blobId('a,b\n');
  });

  it('is the commit graph: a spec commit has the upstream runs\' finishing commits as parents', async () => {
    assert.equal(git(repo, 'rev-parse', `${T}^1`), git(repo, 'rev-parse', `refs/runs/${P}`));
    assert.deepEqual(git(repo, 'rev-list', '--parents', '-n', '1', E2).split(' ').slice(1), [git(repo, 'rev-parse', `refs/runs/${T}`), git(repo, 'rev-parse', `refs/runs/${P}`)]);
    assert.match(git(repo, 'log', '--graph', '--oneline', `refs/runs/${E}`), /submitted: sh -c mkdir out/);
  });

  it('prints both directions by default, each link with its paths and object id', async () => {
    const rawOid = oids.raw!;
    const [first, second] = await consumersInOrder([E, E2]);
    const line = (id: string) => (id === E ? `-> ${short(E)} succeeded eval: model.pt as model.pt (${short(oids.model!)})` : `-> ${short(E2)} succeeded true: model.pt as m.pt (${short(oids.model!)})`);
    assert.equal(
      await lineage(T),
      [
        `${short(T)} succeeded train`,
        'upstream:',
        `  <- ${short(P)} succeeded prepare: out/train.bin as data/train.bin (${short(oids.train!)})`,
        `  <- work tree raw.csv: raw.csv as raw.csv (${short(rawOid)})`,
        'downstream:',
        `  ${line(first!)}`,
        `  ${line(second!)}`,
        '',
      ].join('\n'),
    );
    assert.equal(await lineage('--upstream', 'train'), (await lineage(T)).split('downstream:')[0]);
  });

  it('--downstream and --depth: a run reached twice is shown once expanded', async () => {
    const all = await lineage('--downstream', 'prepare');
    const lines = all.split('\n');
    assert.equal(lines[0], `${short(P)} succeeded prepare`);
    assert.equal(lines[1], 'downstream:');
    assert.ok(lines.includes(`  -> ${short(T)} succeeded train: out/train.bin as data/train.bin (${short(oids.train!)})`), all);
    assert.ok(lines.includes(`     -> ${short(E)} succeeded eval: model.pt as model.pt (${short(oids.model!)})`), all);
    // E2 is one link from P (vocab.txt) and two through T: listed both ways, expanded once.
    assert.equal(lines.filter((l) => l.includes(short(E2))).length, 2, all);
    assert.equal(lines.filter((l) => l.includes('(see above)')).length, 1, all);
    const one = await lineage('--downstream', '--depth', '1', short(P));
    assert.ok(!one.includes(short(E)), one);
    assert.ok(one.includes(short(T)) && one.includes(short(E2)), one);
  });

  it('--json: one object with nodes and edges', async () => {
    const g = JSON.parse(await lineage('--json', '--depth', '1', 'train'));
    assert.equal(g.root, T);
    assert.equal(g.direction, 'both');
    assert.equal(g.depth, 1);
    const byId = new Map(g.nodes.map((n: { id: string }) => [n.id, n]));
    assert.deepEqual(byId.get(P), { kind: 'run', id: P, name: 'prepare', status: 'succeeded', command: ['sh', '-c', 'mkdir out; echo data > out/train.bin; echo v > vocab.txt'], createdAt: (await showJson(repo, P)).createdAt, side: 'upstream', depth: 1, missing: false });
    const data = g.nodes.find((n: { kind: string }) => n.kind === 'data');
    assert.deepEqual(data, { kind: 'data', id: `worktree:${oids.raw}:raw.csv`, oid: oids.raw, path: 'raw.csv', side: 'upstream', depth: 1 });
    assert.equal(g.nodes.length, 5, 'train, prepare, raw.csv, eval, E2');
    const edges = g.edges.map((e: Record<string, unknown>) => JSON.stringify(e)).sort();
    assert.deepEqual(
      edges,
      [
        { from: P, to: T, fromPath: 'out/train.bin', path: 'data/train.bin', oid: oids.train, type: 'blob' },
        { from: `worktree:${oids.raw}:raw.csv`, to: T, fromPath: 'raw.csv', path: 'raw.csv', oid: oids.raw, type: 'blob' },
        { from: T, to: E, fromPath: 'model.pt', path: 'model.pt', oid: oids.model, type: 'blob' },
        { from: T, to: E2, fromPath: 'model.pt', path: 'm.pt', oid: oids.model, type: 'blob' },
      ]
        .map((e) => JSON.stringify(e))
        .sort(),
    );
  });

  it('--dot: a Graphviz digraph with every node and edge, labels escaped', async () => {
    await ok(['edit', E, '--name', 'say "hi"\\ \x1b[2J'], { cwd: repo });
    const dot = await lineage('--dot', 'train');
    assert.match(dot, /^digraph lineage \{\n/);
    assert.match(dot, /\n\}\n$/);
    assert.ok(dot.includes(`"${T}" [label="${short(T)}\\ntrain\\nsucceeded", style=bold];`), dot);
    assert.ok(dot.includes(`"${E}" [label="${short(E)}\\nsay \\"hi\\"\\\\ \\\\e[2J\\nsucceeded"];`), dot);
    assert.ok(dot.includes(`"${P}" -> "${T}" [label="out/train.bin -> data/train.bin\\n${short(oids.train!)}"];`), dot);
    assert.ok(!dot.includes('\x1b'));
    // Every statement line is a node or an edge between declared nodes; quotes balance on every line.
    const declared = new Set([...dot.matchAll(/^ {2}("(?:[^"\\]|\\.)*") \[/gm)].map((m) => m[1]));
    for (const m of dot.matchAll(/^ {2}("(?:[^"\\]|\\.)*") -> ("(?:[^"\\]|\\.)*")/gm)) assert.ok(declared.has(m[1]!) && declared.has(m[2]!), m[0]);
    for (const l of dot.split('\n').slice(3, -2)) assert.match(l, /^ {2}"(?:[^"\\]|\\.)*"( -> "(?:[^"\\]|\\.)*")? \[(?:[a-z]+=(?:"(?:[^"\\]|\\.)*"|[a-z]+)(?:, )?)+\];$/, l);
    const text = await lineage('--downstream', 'train');
    assert.ok(text.includes(`say "hi"\\ \\e[2J: model.pt`), text);
    await ok(['edit', E, '--name', 'eval'], { cwd: repo });
  });

  it('show lists upstream and downstream (text and --json)', async () => {
    const j = await showJson(repo, 'train');
    assert.deepEqual(j.upstream, [
      { run: P, path: 'out/train.bin', oid: oids.train, dest: 'data/train.bin' },
      { worktree: 'raw.csv', oid: oids.raw, path: 'raw.csv' },
      'ffffffffff:nope.bin',
    ]);
    const down = (await consumersInOrder([E, E2])).map((id) => (id === E ? { run: E, path: 'model.pt', dest: 'model.pt', oid: oids.model } : { run: E2, path: 'model.pt', dest: 'm.pt', oid: oids.model }));
    assert.deepEqual(j.downstream, down);
    assert.deepEqual((await showJson(repo, P)).downstream.map((d: { run: string; path: string }) => `${d.run} ${d.path}`).sort(), [`${T} out/train.bin`, `${E2} vocab.txt`].sort());
    const text = (await ok(['show', 'train'], { cwd: repo })).stdout;
    const rows = [
      ['data/train.bin', `<- ${short(P)}:out/train.bin`, short(oids.train!)],
      ['raw.csv', '<- work tree raw.csv', short(oids.raw!)],
      ['ffffffffff:nope.bin', '(unchecked text, no lineage)', ''],
    ];
    const upstream = rows.map((r) => `  ${r[0]!.padEnd(19)}  ${r[1]!.padEnd(29)}  ${r[2]}`.trimEnd()).join('\n');
    assert.ok(text.includes(`\nUpstream:\n${upstream}\n`), text);
    assert.match(text, new RegExp(`\\nDownstream:\\n  ${short(down[0]!.run)}  took model\\.pt as ${down[0]!.dest.replace('.', '\\.')}\\n`));
  });

  it('--where selects by upstream run (id prefix or name), downstream run and input object id', async () => {
    const ids = async (where: string) => (await ok(['log', '--format', '%H', '--where', where], { cwd: repo })).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(await ids(`upstream = ${P.slice(0, 8)}`), [T, E2].sort());
    assert.deepEqual(await ids("upstream = 'prepare'"), [T, E2].sort());
    assert.deepEqual(await ids('upstream in (train, prepare)'), [T, E, E2].sort());
    assert.deepEqual(await ids(`downstream = ${E.slice(0, 6)}`), [T]);
    assert.deepEqual(await ids('downstream = eval or downstream = train'), [P, T].sort());
    assert.deepEqual(await ids(`input = ${oids.model!.slice(0, 7)}`), [E, E2].sort());
    assert.deepEqual(await ids(`input = ${oids.raw}`), [T]);
    assert.deepEqual(await ids(`not upstream = ${T.slice(0, 8)} and kind = run`), [P, T].sort());
    const bad = await gitRun(['log', '--where', 'input = model.pt'], { cwd: repo });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: input is an object id, not 'model\.pt' at column 9 of --where\nhint: write 4 or more hex digits/);
    const op = await gitRun(['log', '--where', `upstream > ${P.slice(0, 8)}`], { cwd: repo });
    assert.equal(op.code, 2);
    assert.match(op.stderr, /'>' does not apply to upstream/);
  });

  it('bad options and unknown runs are refused, nothing written', async () => {
    await refused(repo, ['lineage', '--depth', '0', T], "--depth takes a whole number of 1 or more, not '0'", 'e.g. --depth 1 for the runs one link away');
    await refused(repo, ['lineage', '--depth', 'x', T], "--depth takes a whole number of 1 or more, not 'x'", 'e.g. --depth 1 for the runs one link away');
    await refused(repo, ['lineage', '--json', '--dot', T], '--json and --dot are two forms of the same graph', 'choose one');
    await refused(repo, ['lineage', 'deadbeef'], "no run matches 'deadbeef'", 'list runs with `git run log --oneline`');
  });

  it("a hostile clone's records: an upstream that is not here, and a cycle, end", async () => {
    const ghost = 'e'.repeat(40);
    const X = await writeRun(repo, P, { name: 'orphan', inputs: [{ raw: { path: 'x.bin', oid: '1'.repeat(40), type: 'blob', mode: '100644', size: 1, from: { run: ghost, path: 'x.bin' } } }] });
    const text = await lineage('orphan');
    assert.ok(text.includes(`  <- ${short(ghost)} (not in this repository): x.bin as x.bin (111111111111)`), text);
    // A cycle: Y says it took from a run id Z; a ref refs/runs/Z (any name a clone may carry) whose record says it took from Y.
    const Z = 'c'.repeat(40);
    const Y = await writeRun(repo, P, { name: 'cyc-y', inputs: [{ raw: { path: 'z.bin', oid: '2'.repeat(40), type: 'blob', mode: '100644', size: 1, from: { run: Z, path: 'z.bin' } } }] });
    const zRun = await writeRun(repo, P, { name: 'cyc-z', inputs: [{ raw: { path: 'y.bin', oid: '3'.repeat(40), type: 'blob', mode: '100644', size: 1, from: { run: Y, path: 'y.bin' } } }] });
    git(repo, 'update-ref', `refs/runs/${Z}`, git(repo, 'rev-parse', `refs/runs/${zRun}`));
    git(repo, 'update-ref', '-d', `refs/runs/${zRun}`);
    const up = await lineage('--upstream', 'cyc-y');
    assert.equal(up, [`${short(Y)} succeeded cyc-y`, 'upstream:', `  <- ${short(Z)} succeeded true: z.bin as z.bin (${'2'.repeat(12)})`, `     <- ${short(Y)} succeeded cyc-y: y.bin as y.bin (${'3'.repeat(12)}) (see above)`, ''].join('\n'));
    const g = JSON.parse(await lineage('--json', Z));
    assert.equal(g.nodes.length, 2);
    assert.equal(g.edges.length, 2, 'each link once');
    assert.ok(X);
  });

  /** Runs in the order the index lists consumers: creation time, then id. */
  async function consumersInOrder(list: string[]): Promise<string[]> {
    const withTime = await Promise.all(list.map(async (id) => ({ id, at: (await showJson(repo, id)).createdAt as string })));
    return withTime.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id < b.id ? -1 : 1)).map((x) => x.id);
  }
});

describe('the index under contention', function () {
  this.timeout(240000);

  it('a write lock held past the busy timeout is a clear error (exit 2), not a bug; released, the query answers', async () => {
    const { default: Database } = await import('better-sqlite3');
    const repo = makeRepo('index-busy', { 'a.txt': 'a\n' });
    await ok(['-q', '--', 'true'], { cwd: repo });
    const [id] = runIds(repo);
    await ok(['log', '--oneline'], { cwd: repo });
    // A metadata edit: the next query must write it into the index.
    await ok(['edit', id!, '--tag', 'held'], { cwd: repo });
    const file = `${repo}/.git/git-run/index.sqlite`;
    const holder = new Database(file, { timeout: 1000 });
    holder.exec('BEGIN EXCLUSIVE');
    try {
      const r = await gitRun(['log', '--oneline'], { cwd: repo });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, `error: the query index (${file}) stayed locked by other git-run processes\nhint: run the command again once the machine is less busy; nothing was lost\n`);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    assert.match((await ok(['log', '--tag', 'held', '--format', '%H'], { cwd: repo })).stdout, new RegExp(id!));
  });
});

describe('lineage end to end, with -i', function () {
  this.timeout(240000);

  it('prepare, train on its output (by name) and on gitignored work-tree data: lineage, show and --where agree', async () => {
    const repo = makeRepo('lineage-e2e', { '.gitignore': '*.csv\n', 'raw.csv': 'a,b\n' });
    await ok(['-q', '--name', 'prep', '--', 'sh', '-c', 'mkdir out; echo d > out/data.bin'], { cwd: repo });
    const [P] = runIds(repo);
    await ok(['-q', '--name', 'train', '-i', 'in/data.bin=prep:out/data.bin', '-i', 'raw.csv', '--', 'sh', '-c', 'cat in/data.bin raw.csv > model.txt'], { cwd: repo });
    const T = runIds(repo).find((i) => i !== P)!;
    const data = git(repo, 'rev-parse', `refs/runs/${P}:outputs/out/data.bin`);
    const raw = blobId('a,b\n');
    assert.equal((await ok(['cat', 'train:model.txt'], { cwd: repo })).stdout, 'd\na,b\n');
    assert.equal(git(repo, 'rev-parse', `${T}^1`), git(repo, 'rev-parse', `refs/runs/${P}`), 'the spec commit has the upstream as parent');
    assert.equal(
      (await ok(['lineage', 'train'], { cwd: repo })).stdout,
      [
        `${short(T)} succeeded train`,
        'upstream:',
        `  <- ${short(P)} succeeded prep: out/data.bin as in/data.bin (${short(data)})`,
        `  <- work tree raw.csv: raw.csv as raw.csv (${short(raw)})`,
        'downstream: none',
        '',
      ].join('\n'),
    );
    assert.equal((await ok(['lineage', '--downstream', 'prep'], { cwd: repo })).stdout, [`${short(P)} succeeded prep`, 'downstream:', `  -> ${short(T)} succeeded train: out/data.bin as in/data.bin (${short(data)})`, ''].join('\n'));
    const j = await showJson(repo, 'train');
    assert.deepEqual(j.upstream, [{ run: P, path: 'out/data.bin', oid: data, dest: 'in/data.bin' }, { worktree: 'raw.csv', oid: raw, path: 'raw.csv' }]);
    assert.deepEqual((await showJson(repo, 'prep')).downstream, [{ run: T, path: 'out/data.bin', dest: 'in/data.bin', oid: data }]);
    const ids = async (where: string) => (await ok(['log', '--format', '%H', '--where', where], { cwd: repo })).stdout.trim();
    assert.equal(await ids('upstream = prep'), T);
    assert.equal(await ids(`input = ${raw.slice(0, 8)}`), T);
    assert.equal(await ids('downstream = train'), P);
  });
});
