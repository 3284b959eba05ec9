import assert from 'node:assert/strict';
import { rmSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, gitRun, ok, git, runIds } from './helpers.js';
import { openRepo } from '../src/git/repo.js';
import { openIndex, selectRuns, readViews, readLines, type RunQuery } from '../src/api/query.js';
import { oneline } from '../src/cli/render.js';

/**
 * `git run log --oneline` prints from the index's rows alone when they hold
 * every field of the line (readLines: no git process). These tests prove it
 * prints exactly what the slow path prints (every run read from git through
 * readViews, then oneline()), with the index fresh, just after changes it
 * has not seen (a new run, a renamed run, a renamed group seen by its
 * children), rebuilt from nothing, and when a row cannot say it (a child
 * whose group's ref was deleted: the CLI falls back to reading git).
 */
describe('git run log --oneline from the index rows', function () {
  let repo: string;
  const ids: Record<string, string> = {};

  const runWith = async (args: string[]) => {
    const before = new Set(runIds(repo));
    await gitRun(['-q', ...args], { cwd: repo });
    return runIds(repo).find((i) => !before.has(i))!;
  };

  /** The slow path in-process: select, read every run from git, format. Also says whether the rows could serve. */
  const slow = async (q: RunQuery, color: boolean): Promise<{ text: string; served: boolean }> => {
    const r = await openRepo(repo);
    const index = await openIndex(r);
    try {
      const selected = await selectRuns(r, q, index);
      let text = '';
      for await (const views of readViews(r, index, selected)) for (const v of views) text += oneline(v, color) + '\n';
      return { text, served: readLines(index, selected) !== null };
    } finally {
      index.close();
    }
  };

  /** The CLI's output (the fast path when served) against the slow path, for a few selections, plain and in color. */
  const same = async (what: string, expectServed = true) => {
    const cases: Array<{ args: string[]; q: RunQuery }> = [
      { args: [], q: {} },
      { args: ['-n', '3'], q: { limit: 3 } },
      { args: ['--where', 'params.lr > 0.05'], q: { where: 'params.lr > 0.05' } },
      { args: ['--status', 'failed'], q: { status: ['failed'] } },
      { args: ['--param', 'lr=0.2'], q: { params: [['lr', '0.2']] } },
    ];
    for (const { args, q } of cases) {
      for (const color of [false, true]) {
        const cli = (await ok(['log', '--oneline', `--color=${color ? 'always' : 'never'}`, ...args], { cwd: repo })).stdout;
        const ref = await slow(q, color);
        assert.equal(cli, ref.text, `${what}: git run log --oneline ${args.join(' ')} (color ${color}) differs from the runs read from git`);
        if (!q.status && !q.params) assert.ok(cli.length > 0, `${what}: ${args.join(' ')} printed nothing: the comparison proves nothing`);
        if (expectServed && ref.text) assert.ok(ref.served, `${what}: the index rows could not serve ${args.join(' ')}`);
      }
    }
  };

  before(async function () {
    this.timeout(300_000);
    repo = makeRepo('log-lines', { 'm.sh': 'printf \'{"acc": %s}\' "$GIT_RUN_PARAM_lr" > metrics.json; exit "${GIT_RUN_PARAM_code:-0}"\n' });
    ids.A = await runWith(['-p', 'lr=0.1', '--', 'sh', 'm.sh']);
    ids.B = await runWith(['-p', 'lr=0.01', '-p', 'code=3', '--', 'sh', 'm.sh']);
    // A command that needs quoting, and a name with a control character (escaped when printed).
    ids.C = await runWith(['-p', 'lr=0.3', '--', 'sh', '-c', "sh m.sh; echo 'it''s \"quoted\" $HOME'"]);
    writeFileSync(path.join(repo, 'sweep.json'), JSON.stringify({ command: ['sh', 'm.sh'], name: 'sweep', params: { lr: { values: [0.1, 0.2, 0.4] } } }));
    const g = JSON.parse((await ok(['submit', '--json', 'sweep.json'], { cwd: repo })).stdout);
    ids.G = g.id;
    await ok(['edit', ids.A!, '--name', 'first'], { cwd: repo });
    await ok(['edit', ids.C!, '--name', 'bell\u0007 and\ttab'], { cwd: repo });
  });

  it('prints what the runs read from git print, fresh, after unseen changes, and rebuilt', async function () {
    this.timeout(300_000);
    await same('fresh index');
    // Changes the index has not seen yet, each followed at once by a listing (inside the index's racy window).
    await ok(['edit', ids.G!, '--name', 'renamed sweep'], { cwd: repo });
    await same('after a group was renamed (its children show the new name)');
    await ok(['edit', ids.A!, '--name', 'first again', '--notes', 'n'], { cwd: repo });
    ids.D = await runWith(['-p', 'lr=0.2', '--', 'sh', 'm.sh']);
    await same('after a rename and a new run');
    // The index rebuilt from git alone.
    for (const f of readdirSync(path.join(repo, '.git', 'git-run'))) if (f.startsWith('index.sqlite')) rmSync(path.join(repo, '.git', 'git-run', f));
    await same('rebuilt index');
    const shown = (await ok(['log', '--oneline', '--color=never'], { cwd: repo })).stdout;
    assert.match(shown, /\(renamed sweep\)/, 'the children show their group\'s name');
    assert.match(shown, /\(first again\)/);
    assert.ok(shown.includes('(bell\\x07 and\\ttab)'), 'the control characters are escaped');
  });

  it('falls back to reading git when a child\'s group has no row, and prints the same', async function () {
    this.timeout(300_000);
    git(repo, 'update-ref', '-d', `refs/runs/${ids.G}`);
    const r = await openRepo(repo);
    const index = await openIndex(r);
    try {
      const all = await selectRuns(r, {}, index);
      assert.equal(readLines(index, all), null, 'a child without its group is not served from the rows');
    } finally {
      index.close();
    }
    await same('a child whose group is gone', false);
  });
});
