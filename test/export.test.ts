import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { git, gitRun, makeRepo, ok, refState, runIds, showJson, tmpdir } from './helpers.js';
import { startSshd, sshdAvailable, onHost, type Sshd } from './sshd.js';

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const big = Buffer.alloc(64 * 1024, 'x');

/** A repository with two runs: `prep` writes a big output (an LFS object at 4KiB) and a small one; `train` takes the small one as input. */
async function twoRuns(label: string): Promise<{ repo: string; prep: string; train: string }> {
  const repo = makeRepo(label, { '.runconfig': JSON.stringify({ large_output: '4KiB' }), 'train.sh': 'cat data.txt\n' });
  await ok(['-q', '--name', 'prep', '--', 'sh', '-c', `mkdir out && head -c ${big.length} /dev/zero | tr '\\0' x > out/big.bin && echo prepared > out/data.txt`], { cwd: repo });
  const prep = runIds(repo)[0]!;
  await ok(['-q', '--name', 'train', '-i', `data.txt=${prep}:out/data.txt`, '--', 'sh', 'train.sh'], { cwd: repo });
  const train = runIds(repo).find((x) => x !== prep)!;
  await ok(['edit', train, '--tag', 'best', '--notes', 'exported'], { cwd: repo });
  return { repo, prep, train };
}

/** Expect exit 2, an error and a hint, nothing on stdout, no ref or note moved. */
async function refusedWith(repo: string, args: string[], message: RegExp): Promise<void> {
  const before = refState(repo);
  const r = await gitRun(args, { cwd: repo });
  assert.equal(r.code, 2, `exit 2, got ${r.code}: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, message);
  assert.match(r.stderr, /\nhint: /);
  assert.equal(refState(repo), before, 'nothing was written');
}

describe('moving runs: export and import', function () {
  this.timeout(300000);

  it('export to a directory: a readable copy per run (record, code, logs, outputs with big content, metadata) and an index', async () => {
    const { repo, prep, train } = await twoRuns('export-dir');
    const dest = path.join(tmpdir('export-dir-out'), 'copy');
    const r = JSON.parse((await ok(['export', train, dest, '--with-upstream', '--json'], { cwd: repo })).stdout);
    assert.equal(r.kind, 'directory');
    assert.deepEqual(r.runs.map((x: { id: string }) => x.id).sort(), [prep, train].sort());
    const index = JSON.parse(readFileSync(path.join(dest, 'index.json'), 'utf8'));
    assert.deepEqual(index.runs.map((x: { name: string }) => x.name).sort(), ['prep', 'train']);
    assert.ok(existsSync(path.join(dest, 'README')));
    const t = path.join(dest, train);
    assert.equal(readFileSync(path.join(t, 'logs/stdout'), 'utf8'), 'prepared\n');
    assert.equal(JSON.parse(readFileSync(path.join(t, 'result.json'), 'utf8')).status, 'succeeded');
    assert.deepEqual(JSON.parse(readFileSync(path.join(t, 'run.json'), 'utf8')).command, ['sh', 'train.sh']);
    assert.equal(readFileSync(path.join(t, 'code/train.sh'), 'utf8'), 'cat data.txt\n');
    const meta = JSON.parse(readFileSync(path.join(t, 'metadata.json'), 'utf8'));
    assert.equal(meta.name, 'train');
    assert.deepEqual(meta.tags, ['best']);
    const p = path.join(dest, prep);
    assert.equal(sha256(readFileSync(path.join(p, 'outputs/out/big.bin'))), sha256(big), 'the big output\'s content, not its pointer');
    assert.equal(readFileSync(path.join(p, 'outputs/out/data.txt'), 'utf8'), 'prepared\n');
    assert.equal(git(repo, 'status', '--porcelain'), '', 'the work tree is untouched');

    // Only the run named, without --with-upstream; a destination that holds files is refused.
    const one = path.join(tmpdir('export-one'), 'copy');
    await ok(['export', train, one], { cwd: repo });
    assert.deepEqual(readdirSync(one).sort(), ['README', train, 'index.json'].sort());
    await refusedWith(repo, ['export', train, one], /^error: .* exists and is not an empty directory/);
    await refusedWith(repo, ['export', 'nosuchrun', path.join(tmpdir('export-none'), 'x')], /^error: /);
    await refusedWith(repo, ['export', train], /^error: export needs runs and then a destination/);
  });

  it('a bundle imported into a third repository: show, log, cat (big output included) and metadata work there; notes merge on a second import', async () => {
    const { repo, prep, train } = await twoRuns('export-bundle');
    const file = path.join(tmpdir('export-bundle-file'), 'runs.bundle');
    await ok(['export', train, file, '--with-upstream'], { cwd: repo });
    const heads = git(repo, 'bundle', 'list-heads', file).split('\n').map((l) => l.split(' ')[1]).sort();
    assert.deepEqual(heads, ['refs/git-run/lfs', 'refs/notes/runs', `refs/runs/${prep}`, `refs/runs/${train}`].sort());

    const third = makeRepo('export-third', { 'other.txt': 'another project\n' });
    const imported = JSON.parse((await ok(['import', file, '--json'], { cwd: third })).stdout);
    assert.deepEqual(imported.added.sort(), [prep, train].sort());
    const shown = await showJson(third, train);
    assert.equal(shown.status, 'succeeded');
    assert.equal(shown.name, 'train');
    assert.deepEqual(shown.tags, ['best']);
    assert.equal(shown.notes, 'exported');
    assert.match((await ok(['show', train.slice(0, 8)], { cwd: third })).stdout, /^Upstream:/m);
    assert.match((await ok(['log'], { cwd: third })).stdout, /prep/);
    assert.equal(sha256((await ok(['cat', `${prep}:out/big.bin`], { cwd: third })).stdoutBytes), sha256(big), 'the big output came inside the bundle');
    assert.equal(git(third, 'fsck', '--strict', '--no-dangling'), '');

    // Metadata edited on both sides survives another import: merged, never forced.
    await ok(['edit', train, '--tag', 'here'], { cwd: third });
    await ok(['edit', train, '--tag', 'there'], { cwd: repo });
    const again = path.join(tmpdir('export-bundle-again'), 'again.bundle');
    await ok(['export', train, again], { cwd: repo });
    const second = JSON.parse((await ok(['import', again, '--json'], { cwd: third })).stdout);
    assert.deepEqual(second.unchanged, [train]);
    assert.deepEqual((await showJson(third, train)).tags.sort(), ['best', 'here', 'there']);
  });

  it('--with-upstream brings the runs a run took inputs from; without it the lineage names a run that is not there', async () => {
    const { repo, prep, train } = await twoRuns('export-upstream');
    const alone = path.join(tmpdir('export-alone'), 'alone.bundle');
    await ok(['export', train, alone], { cwd: repo });
    const a = makeRepo('export-upstream-a');
    await ok(['import', alone], { cwd: a });
    assert.deepEqual(runIds(a), [train]);
    const withUp = path.join(tmpdir('export-with'), 'with.bundle');
    await ok(['export', train, withUp, '--with-upstream'], { cwd: repo });
    const b = makeRepo('export-upstream-b');
    await ok(['import', withUp], { cwd: b });
    assert.deepEqual(runIds(b).sort(), [prep, train].sort());
    const lineage = (await ok(['lineage', train, '--upstream'], { cwd: b })).stdout;
    assert.match(lineage, new RegExp(prep.slice(0, 12)));
  });

  it('a file that is not a bundle, a truncated bundle and a bundle that is not a run bundle are refused: exit 2, nothing written', async () => {
    const { repo, train } = await twoRuns('export-bad');
    const dir = tmpdir('export-bad-files');
    const target = makeRepo('export-bad-target', { 'a.txt': 'a\n' });

    const text = path.join(dir, 'text.bundle');
    writeFileSync(text, 'hello\n');
    await refusedWith(target, ['import', text], /^error: .*text\.bundle is not a complete git bundle/);

    const good = path.join(dir, 'good.bundle');
    await ok(['export', train, good], { cwd: repo });
    const cut = path.join(dir, 'cut.bundle');
    writeFileSync(cut, readFileSync(good));
    truncateSync(cut, Math.floor(statSync(good).size * 0.6));
    await refusedWith(target, ['import', cut], /^error: .*cut\.bundle is not a complete git bundle/);

    const branch = path.join(dir, 'branch.bundle');
    git(repo, 'bundle', 'create', '-q', branch, 'main');
    await refusedWith(target, ['import', branch], /^error: .*branch\.bundle is not a run bundle: it holds "refs\/heads\/main"/);

    // Run refs beside something else are refused whole.
    const mixed = path.join(dir, 'mixed.bundle');
    git(repo, 'bundle', 'create', '-q', mixed, 'main', `refs/runs/${train}`);
    await refusedWith(target, ['import', mixed], /^error: .*mixed\.bundle is not a run bundle/);

    await refusedWith(target, ['import', path.join(dir, 'absent.bundle')], /^error: .*absent\.bundle is not a file/);
    assert.deepEqual(runIds(target), []);
    // The good one still imports.
    await ok(['import', good], { cwd: target });
    assert.deepEqual(runIds(target), [train]);
  });

  describe('--host: the readable copy on a host', () => {
    let sshd: Sshd;
    before(async function () {
      if (!sshdAvailable(this)) return;
      sshd = await startSshd();
    });
    after(() => sshd?.stop());

    it('lands on the sshd host at the path given (whole, never over something there); a local profile gets a copy too', async () => {
      const { repo, prep } = await twoRuns('export-host');
      const remote = `/tmp/git-run-export-host-${process.pid}`;
      rmSync(remote, { recursive: true, force: true });
      writeFileSync(path.join(repo, '.runconfig'), JSON.stringify({ large_output: '4KiB', hosts: { box: { type: 'ssh', host: 'testhost', ssh_config: sshd.config }, here: { type: 'local' } } }));
      try {
        const r = JSON.parse((await ok(['export', prep, '--host', `box:${remote}/copy`, '--json'], { cwd: repo, env: { SSH_AUTH_SOCK: '' } })).stdout);
        assert.equal(r.path, `${remote}/copy`);
        assert.equal(onHost(sshd, `sha256sum ${remote}/copy/${prep}/outputs/out/big.bin`).split(' ')[0], sha256(big));
        assert.equal(onHost(sshd, `cat ${remote}/copy/${prep}/outputs/out/data.txt`), 'prepared\n');
        assert.match(onHost(sshd, `cat ${remote}/copy/index.json`), new RegExp(prep));
        assert.equal(onHost(sshd, `ls -a ${remote}`).split('\n').filter((l) => l.includes('tmp')).length, 0, 'no scratch left beside it');
        const again = await gitRun(['export', prep, '--host', `box:${remote}/copy`], { cwd: repo, env: { SSH_AUTH_SOCK: '' } });
        assert.equal(again.code, 2, again.stderr);
        assert.match(again.stderr, /^error: .*copy already exists on testhost/);

        await ok(['export', prep, '--host', `here:${remote}/local`], { cwd: repo });
        assert.equal(readFileSync(path.join(remote, 'local', prep, 'outputs/out/data.txt'), 'utf8'), 'prepared\n');
        mkdirSync(path.join(remote, 'taken'));
        const taken = await gitRun(['export', prep, '--host', `here:${remote}/taken`], { cwd: repo });
        assert.equal(taken.code, 2, taken.stderr);
        assert.deepEqual(readdirSync(path.join(remote, 'taken')), []);
        const unknown = await gitRun(['export', prep, '--host', 'nowhere:x'], { cwd: repo });
        assert.equal(unknown.code, 2);
        assert.match(unknown.stderr, /^error: unknown host 'nowhere'/);
      } finally {
        rmSync(remote, { recursive: true, force: true });
      }
    });
  });
});
