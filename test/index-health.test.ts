import assert from 'node:assert/strict';
/**
 * The derived index is a cache: whatever happens to its file, queries answer
 * what git says (healing it) or say plainly what to remove. Damage is made by
 * hand here, as a crash, a bad disk or a curious user would leave it.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import crypto from 'node:crypto';
import path from 'node:path';
import { makeRepo, ok, gitRun, git, runIds, writeFiles } from './helpers.js';
import { RunIndex } from '../src/index/db.js';
import { openIndex } from '../src/api/query.js';
import { openRepo } from '../src/git/repo.js';

const indexFile = (repo: string) => path.join(repo, '.git', 'git-run', 'index.sqlite');
const sqlite = (repo: string, sql: string) => execFileSync('sqlite3', [indexFile(repo), sql], { encoding: 'utf8' });

/** Three runs (one failed), indexed. */
async function threeRuns(label: string): Promise<{ repo: string; ids: string[] }> {
  const repo = makeRepo(label, { 'a.txt': 'a' });
  for (const i of [1, 2, 3]) await gitRun(['-q', '-p', `i=${i}`, '--', 'sh', '-c', `exit $(( ${i} == 2 ))`], { cwd: repo });
  const ids = (await ok(['log', '--format', '%H'], { cwd: repo })).stdout.trim().split('\n');
  assert.equal(ids.length, 3);
  return { repo, ids };
}

/** Every reader answers as git says: log, status, log --where, show. */
async function answersAsGit(repo: string, ids: string[]): Promise<void> {
  assert.deepEqual((await ok(['log', '--format', '%H'], { cwd: repo })).stdout.trim().split('\n'), ids);
  assert.equal((await ok(['log', '--format', '%H', '--where', 'status = failed'], { cwd: repo })).stdout, `${ids[1]}\n`);
  assert.equal((await ok(['log', '--format', '%H', '--where', 'params.i >= 2'], { cwd: repo })).stdout, `${ids[0]}\n${ids[1]}\n`);
  const s = await gitRun(['status'], { cwd: repo });
  assert.equal(s.code, 0, s.stderr);
}

describe('the index heals itself', () => {
  it('a page overwritten with random bytes: moved aside, rebuilt, every reader answers', async () => {
    const { repo, ids } = await threeRuns('index-page');
    const file = indexFile(repo);
    const size = statSync(file).size;
    assert.ok(size >= 4 * 4096, `a few pages (${size} bytes)`);
    // Pages of different tables and indexes, one after the other (the first page holds the header and the schema).
    const last = Math.floor(size / 4096) - 1;
    for (const page of [1, 2, Math.floor(last / 2), last]) {
      const fd = openSync(file, 'r+');
      writeSync(fd, crypto.randomBytes(4096), 0, 4096, page * 4096);
      closeSync(fd);
      await answersAsGit(repo, ids);
      assert.ok(existsSync(`${file}.damaged`), `page ${page}: the damaged file is kept aside`);
      rmSync(`${file}.damaged`);
    }
  });

  it('a file that is not a database at all (the header overwritten)', async () => {
    const { repo, ids } = await threeRuns('index-header');
    writeFileSync(indexFile(repo), crypto.randomBytes(8192));
    await answersAsGit(repo, ids);
  });

  it('a rebuild makes the query drivers\' indexes after its inserts, and they answer as before', async () => {
    const repo = makeRepo('bulk-rebuild', { 'a.txt': 'a' });
    for (const lr of ['0.1', '0.2', '0.3']) await ok(['-q', '-p', `lr=${lr}`, '--tag', `t${lr}`, '--', 'true'], { cwd: repo });
    const expected = (await ok(['log', '--format=%H', '--where', 'params.lr >= 0.2'], { cwd: repo })).stdout;
    const tagged = (await ok(['log', '--format=%H', '--tag', 't0.1'], { cwd: repo })).stdout;
    assert.equal(expected.trim().split('\n').length, 2);
    for (const f of ['', '-wal', '-shm']) rmSync(indexFile(repo) + f, { force: true });
    const was = RunIndex.bulkRows;
    RunIndex.bulkRows = 2;
    try {
      (await openIndex(await openRepo(repo))).close();
    } finally {
      RunIndex.bulkRows = was;
    }
    const names = sqlite(repo, "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('params_num', 'params_text', 'metrics_num', 'tags_tag') ORDER BY name");
    assert.equal(names, 'metrics_num\nparams_num\nparams_text\ntags_tag\n');
    assert.equal((await ok(['log', '--format=%H', '--where', 'params.lr >= 0.2'], { cwd: repo })).stdout, expected);
    assert.equal((await ok(['log', '--format=%H', '--tag', 't0.1'], { cwd: repo })).stdout, tagged);
  });

  it('rows forgotten while refs are deleted stay only when the deletion is settled as done; a sync finds any it should not have lost', async () => {
    const { repo, ids } = await threeRuns('index-forget');
    // 250 more refs naming the first run's commit: as many rows, past the size where forgetting overlaps git.
    const tip = git(repo, 'rev-parse', `refs/runs/${ids[0]}`);
    const copies = Array.from({ length: 250 }, (_, i) => crypto.createHash('sha1').update(`forget ${i}`).digest('hex'));
    execFileSync('git', ['update-ref', '--stdin'], { cwd: repo, input: copies.map((c) => `create refs/runs/${c} ${tip}\n`).join('') });
    const r = await openRepo(repo);
    const index = await openIndex(r);
    try {
      const count = () => sqlite(repo, 'SELECT count(*) FROM runs').trim();
      assert.equal(count(), '253');
      const undone = index.forgetWhile(copies);
      assert.ok(undone, 'past the threshold the rows are forgotten while git works');
      undone.settle(false);
      assert.equal(count(), '253', 'a deletion that failed leaves every row');
      assert.equal(index.forgetWhile(copies.slice(0, 10)), null, 'a few runs are left to the sync');
      index.forgetWhile(copies)!.settle(true);
      assert.equal(count(), '3');
      // The refs were not deleted here: the sync sees rows and refs disagree and reads the missing runs again.
      await index.sync(r);
      assert.equal(count(), '253');
    } finally {
      index.close();
    }
  });

  it('rows deleted (or added) by hand are found again though no ref moved', async () => {
    const { repo, ids } = await threeRuns('index-rows');
    sqlite(repo, `DELETE FROM runs WHERE id = '${ids[1]}'; DELETE FROM params WHERE run = '${ids[1]}'`);
    await answersAsGit(repo, ids);
    sqlite(repo, `INSERT INTO runs (id, tip, key, kind, status, created_at) SELECT 'ff' || substr(id, 3), tip, key, kind, status, created_at FROM runs WHERE id = '${ids[0]}'`);
    await answersAsGit(repo, ids);
  });

  it('the same with packed run refs', async () => {
    const { repo, ids } = await threeRuns('index-rows-packed');
    git(repo, 'pack-refs', '--all', '--prune');
    await answersAsGit(repo, ids);
    sqlite(repo, `DELETE FROM runs WHERE id = '${ids[2]}'`);
    await answersAsGit(repo, ids);
  });

  it('an empty directory where the file goes is taken away; one with something in it is named, exit 2', async () => {
    const { repo, ids } = await threeRuns('index-dir');
    const file = indexFile(repo);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    mkdirSync(file);
    await answersAsGit(repo, ids);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    mkdirSync(file);
    writeFileSync(path.join(file, 'mine.txt'), 'keep me');
    for (const args of [['log'], ['log', '--where', 'status = failed'], ['status']]) {
      const r = await gitRun(args, { cwd: repo });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, `error: ${file} is a directory, not a file: git-run keeps its query index there\nhint: remove or rename it (\`rm -r ${file}\`); nothing of git-run's is lost, the index is rebuilt from git\n`);
    }
    assert.equal(git(repo, 'status', '--porcelain'), '');
  });

  it('.git/git-run a file: exit 2, saying what to remove', async () => {
    const { repo } = await threeRuns('index-statedir');
    const dir = path.join(repo, '.git', 'git-run');
    rmSync(dir, { recursive: true });
    writeFileSync(dir, '');
    const before = runIds(repo);
    const r = await gitRun(['log'], { cwd: repo });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `error: ${dir} is not a directory: git-run keeps its query index there\nhint: remove or rename it (\`rm ${dir}\`); nothing of git-run's is lost, the index is rebuilt from git\n`);
    assert.deepEqual(runIds(repo), before);
  });
});

describe('groups in the index', () => {
  it('a group whose children were all reused has their status in log, --status and --where, as show says', async () => {
    const repo = makeRepo('group-reused', { 'a.json': JSON.stringify({ command: ['true', '{x}'], params: { x: { values: [1, 2, 3] } }, seed: 5 }) });
    const a = JSON.parse((await ok(['submit', '--json', 'a.json'], { cwd: repo })).stdout);
    // The definition narrowed in place: the file submitted is not part of its runs' code (decision 0013), so each child is one of a's.
    writeFiles(repo, { 'a.json': JSON.stringify({ command: ['true', '{x}'], params: { x: { values: [1, 2] } }, seed: 5 }) });
    const b = JSON.parse((await ok(['submit', '--json', 'a.json'], { cwd: repo })).stdout);
    assert.notEqual(b.id, a.id);
    assert.ok(b.children.every((c: string) => a.children.includes(c)), 'every child reused');
    const show = JSON.parse((await ok(['show', '--json', b.id], { cwd: repo })).stdout);
    assert.equal(show.status, 'succeeded');
    const line = (await ok(['log', '--no-children', '--format', '%H %(status)'], { cwd: repo })).stdout;
    assert.equal(line, `${b.id} succeeded\n${a.id} succeeded\n`);
    assert.equal((await ok(['log', '--no-children', '--format', '%H', '--status', 'succeeded'], { cwd: repo })).stdout, `${b.id}\n${a.id}\n`);
    assert.equal((await ok(['log', '--no-children', '--format', '%H', '--status', 'queued'], { cwd: repo })).stdout, '');
    assert.equal((await ok(['log', '--no-children', '--format', '%H', '--where', 'status = succeeded'], { cwd: repo })).stdout, `${b.id}\n${a.id}\n`);
  });
});
