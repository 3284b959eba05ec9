/**
 * `git run hook`: the post-commit shim, installed into real repositories,
 * fired by real `git commit`s; its background work read back through the
 * hook log and the runs it submitted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, ENV, ROOT, git, gitRun, makeRepo, nodeCmd, ok, runIds, showJson, tmpdir, until, writeFiles } from './helpers.js';

interface Event {
  at: string;
  inv: string;
  level: 'ok' | 'info' | 'error';
  event: string;
  commit: string | null;
  branch: string | null;
  experiment: string | null;
  message: string;
  runs?: string[];
  worker?: { pid: number; start: string; end: string; commits: number };
}


/** git with its exit status and both streams (a hook writes to git's stderr). */
function gitFull(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('git', args, { cwd, env: { ...ENV, ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Write files, stage exactly them, commit; returns the new commit. */
function commit(cwd: string, message: string, files: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}): string {
  writeFiles(cwd, files);
  if (Object.keys(files).length) git(cwd, 'add', '--', ...Object.keys(files));
  const r = gitFull(cwd, ['commit', '-q', '--allow-empty', '-m', message], env);
  assert.equal(r.code, 0, r.stderr);
  return git(cwd, 'rev-parse', 'HEAD');
}

async function events(cwd: string): Promise<Event[]> {
  const r = await ok(['hook', 'log', '-n', '0', '--json'], { cwd });
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event);
}

/** The events of the hook invocation for `sha`, once it has logged its outcome. */
async function outcome(cwd: string, sha: string, done: (e: Event[]) => boolean = (e) => e.length > 0): Promise<Event[]> {
  return until(`the hook's events for ${sha.slice(0, 12)}`, async () => {
    const mine = (await events(cwd)).filter((e) => e.commit === sha);
    return done(mine) ? mine : null;
  }, 30000);
}

const submitted = (es: Event[]) => es.filter((e) => e.event === 'submitted');

const config = (experiments: Record<string, unknown>, hosts: Record<string, unknown> = {}) => JSON.stringify({ hosts, experiments }, null, 2) + '\n';

describe('git run hook', function () {
  // A ceiling, not a measure: each commit starts a background submission, and a loaded machine takes minutes.
  this.timeout(300000);

  it('install writes an executable shim (idempotent); uninstall removes it, and says so when there is none', async () => {
    const repo = makeRepo('hook-install', { 'a.txt': 'a\n' });
    const hooks = path.join(repo, '.git', 'hooks');
    const file = path.join(hooks, 'post-commit');
    const r = await ok(['hook', 'install'], { cwd: repo });
    assert.match(r.stderr, /installed: .*post-commit/);
    assert.match(r.stderr, /no experiment of \.runconfig has "on"/);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^#!\/bin\/sh\n# git-run hook shim/);
    assert.ok(text.includes(`'${process.execPath}'`) && text.includes(`'${CLI}'`), 'the node binary and the CLI are recorded');
    assert.match(text, /git run hook post-commit/, 'falls back to git run');
    assert.equal(statSync(file).mode & 0o777, 0o755);
    const again = await ok(['hook', 'install'], { cwd: repo });
    assert.match(again.stderr, /already installed/);
    assert.equal(readFileSync(file, 'utf8'), text);
    assert.deepEqual(readdirSync(hooks).filter((f) => f.startsWith('post-commit')), ['post-commit']);
    // A shim whose recorded paths changed is rewritten in place.
    writeFileSync(file, text.replace(CLI, '/old/place/git-run.cjs'));
    assert.match((await ok(['hook', 'install'], { cwd: repo })).stderr, /updated: /);
    assert.equal(readFileSync(file, 'utf8'), text);

    const u = await ok(['hook', 'uninstall'], { cwd: repo });
    assert.match(u.stderr, /removed .*post-commit/);
    assert.equal(existsSync(file), false);
    const none = await gitRun(['hook', 'uninstall'], { cwd: repo });
    assert.equal(none.code, 0);
    assert.match(none.stderr, /post-commit hook is not installed in .*hooks: nothing to remove/);
  });

  it("chains the user's hook: it runs first, its output shows and its status is the shim's; uninstall restores it byte for byte, mode too", async () => {
    const repo = makeRepo('hook-chain', { 'a.txt': 'a\n' });
    const file = path.join(repo, '.git', 'hooks', 'post-commit');
    const user = '#!/bin/sh\n# my own hook\necho "user hook ran for $(git rev-parse --short HEAD)" >&2\necho ran >> .git/user-hook-ran\nexit 3\n';
    writeFileSync(file, user);
    chmodSync(file, 0o750);
    const r = await ok(['hook', 'install'], { cwd: repo });
    assert.match(r.stderr, /it runs the hook that was there first: .*post-commit\.git-run-chained/);
    assert.equal(readFileSync(file + '.git-run-chained', 'utf8'), user);
    assert.match(readFileSync(file, 'utf8'), /git-run hook shim/);

    const c = gitFull(repo, ['commit', '--allow-empty', '-m', 'second']);
    assert.equal(c.code, 0, 'a post-commit hook never fails a commit');
    assert.match(c.stderr, /user hook ran for [0-9a-f]+/);
    assert.equal(readFileSync(path.join(repo, '.git', 'user-hook-ran'), 'utf8'), 'ran\n');
    await outcome(repo, git(repo, 'rev-parse', 'HEAD'));
    // The shim returns the chained hook's exit status.
    const direct = spawnSync(file, [], { cwd: repo, env: ENV, encoding: 'utf8' });
    assert.equal(direct.status, 3);
    assert.match(direct.stderr, /user hook ran/);
    // Installing again keeps chaining the same hook.
    await ok(['hook', 'install'], { cwd: repo });
    assert.equal(readFileSync(file + '.git-run-chained', 'utf8'), user);

    const u = await ok(['hook', 'uninstall'], { cwd: repo });
    assert.match(u.stderr, /the hook it chained is back in its place/);
    assert.equal(readFileSync(file, 'utf8'), user);
    assert.equal(statSync(file).mode & 0o777, 0o750);
    assert.equal(existsSync(file + '.git-run-chained'), false);
    // Not installed now: the user's hook is left alone.
    const again = await ok(['hook', 'uninstall'], { cwd: repo });
    assert.match(again.stderr, /not installed .*is not git-run's; left as it is/);
    assert.equal(readFileSync(file, 'utf8'), user);
  });

  it('honours core.hooksPath, and a matching commit submits runs of that commit\'s tree, not the work tree', async () => {
    const repo = makeRepo('hook-submit', {
      '.runconfig': config(
        { show: { command: nodeCmd("process.stdout.write(require('fs').readFileSync('data.txt', 'utf8'))"), host: 'here', on: { commit: { branches: ['main'], paths: ['data.txt'] } } } },
        { here: { type: 'local', max_parallel: 2 } },
      ),
      'data.txt': 'v0\n',
    });
    git(repo, 'config', 'core.hooksPath', 'githooks');
    await ok(['hook', 'install'], { cwd: repo });
    assert.ok(existsSync(path.join(repo, 'githooks', 'post-commit')));
    assert.equal(existsSync(path.join(repo, '.git', 'hooks', 'post-commit')), false);

    const sha = commit(repo, 'v1', { 'data.txt': 'v1\n' });
    // Edited at once, before the background submission could have read it.
    writeFileSync(path.join(repo, 'data.txt'), 'not committed\n');
    const es = await outcome(repo, sha, (e) => submitted(e).length > 0);
    assert.equal(submitted(es).length, 1);
    const e = submitted(es)[0]!;
    assert.equal(e.experiment, 'show');
    assert.equal(e.branch, 'main');
    const id = e.runs![0]!;
    await ok(['wait', id], { cwd: repo });
    const run = await showJson(repo, id);
    assert.equal(run.code.commit, sha);
    assert.equal(run.code.dirty, false);
    assert.equal(run.host, 'here');
    assert.equal((await ok(['logs', id], { cwd: repo })).stdout, 'v1\n');
  });

  it('submits nothing for a commit on another branch or one that changes no matching path, and logs why', async () => {
    const repo = makeRepo('hook-nomatch', {
      '.runconfig': config({
        onmain: { command: ['true'], on: { commit: { branches: ['main', 'release/*'] } } },
        src: { command: ['true'], on: { commit: { paths: ['src/', ':(glob)**/*.py'] } } },
      }),
    });
    await ok(['hook', 'install'], { cwd: repo });
    git(repo, 'checkout', '-q', '-b', 'dev');
    const a = commit(repo, 'docs', { 'README.md': 'hi\n' });
    const es = await outcome(repo, a);
    assert.equal(es.length, 1);
    assert.equal(es[0]!.event, 'nothing');
    assert.match(es[0]!.message, /onmain: branch 'dev' matches none of main, release\/\*/);
    assert.match(es[0]!.message, /src: no changed file matches src\/, :\(glob\)\*\*\/\*\.py/);
    assert.deepEqual(runIds(repo), []);
    // Both match on release/2 with a Python file deep down.
    git(repo, 'checkout', '-q', '-b', 'release/2');
    const b = commit(repo, 'code', { 'lib/deep/x.py': 'print(1)\n' });
    const bs = await outcome(repo, b, (e) => submitted(e).length === 2);
    assert.deepEqual(submitted(bs).map((e) => e.experiment).sort(), ['onmain', 'src']);
    // release/v3/rc is not release/*.
    git(repo, 'checkout', '-q', '-b', 'release/v3/rc');
    const c = commit(repo, 'more', { 'lib/y.py': '\n' });
    const cs = await outcome(repo, c, (e) => submitted(e).length === 1);
    assert.deepEqual(submitted(cs).map((e) => e.experiment), ['src']);
  });

  it('commits made during a rebase, a merge, a cherry-pick or a revert submit nothing unless "during" says so', async () => {
    const repo = makeRepo('hook-during', {
      '.runconfig': config({
        plain: { command: ['true'], on: { commit: {} } },
        rebases: { command: ['true'], on: { commit: { during: ['rebase'] } } },
        merges: { command: ['true'], on: { commit: { during: ['merge', 'cherry-pick'] } } },
      }),
      'a.txt': 'a\n',
    });
    await ok(['hook', 'install'], { cwd: repo });
    // An invocation ends with its submissions, or with the line that says why the others did not fire.
    const names = async (sha: string) => submitted(await outcome(repo, sha, (e) => submitted(e).length === 3 || e.some((x) => x.event === 'nothing'))).map((e) => e.experiment).sort();

    git(repo, 'checkout', '-q', '-b', 'side');
    const s1 = commit(repo, 's1', { 'b.txt': 'b\n' });
    assert.deepEqual(await names(s1), ['merges', 'plain', 'rebases']);
    git(repo, 'checkout', '-q', 'main');
    const m1 = commit(repo, 'm1', { 'c.txt': 'c\n' });
    assert.deepEqual(await names(m1), ['merges', 'plain', 'rebases']);

    // A rebase replays s1 onto main: the new commit is made during the rebase.
    git(repo, 'checkout', '-q', 'side');
    assert.equal(gitFull(repo, ['rebase', '-q', 'main']).code, 0);
    const s1r = git(repo, 'rev-parse', 'HEAD');
    assert.notEqual(s1r, s1);
    assert.deepEqual(await names(s1r), ['rebases']);

    // The commit that concludes a merge (MERGE_HEAD is gone by then: two parents tell).
    git(repo, 'checkout', '-q', 'main');
    assert.equal(gitFull(repo, ['merge', '-q', '--no-ff', '--no-commit', 'side']).code, 0);
    const merge = commit(repo, 'merge side');
    assert.equal(git(repo, 'rev-list', '--parents', '-n', '1', merge).split(' ').length, 3);
    assert.deepEqual(await names(merge), ['merges']);

    // A cherry-pick.
    git(repo, 'checkout', '-q', '-b', 'picks', m1);
    const t = commit(repo, 'to pick', { 'd.txt': 'd\n' });
    await names(t);
    git(repo, 'checkout', '-q', 'main');
    assert.equal(gitFull(repo, ['cherry-pick', t]).code, 0);
    const picked = git(repo, 'rev-parse', 'HEAD');
    assert.deepEqual(await names(picked), ['merges']);
    // A revert leaves no marker behind: the reflog says what made the commit.
    assert.equal(gitFull(repo, ['revert', '--no-edit', 'HEAD']).code, 0);
    const reverted = git(repo, 'rev-parse', 'HEAD');
    assert.deepEqual(await names(reverted), []);
    assert.match((await events(repo)).find((e) => e.commit === reverted)!.message, /plain: made during a revert/);
    const everything = await events(repo);
    assert.match(everything.find((e) => e.commit === s1r && e.event === 'submitted')!.message, /rebases/);
    for (const sha of [s1r, merge, picked, reverted]) {
      const plain = everything.filter((e) => e.commit === sha && e.experiment === 'plain');
      assert.deepEqual(plain, [], 'plain never submits a commit made during an operation');
    }
  });

  it('GIT_RUN_SKIP=1 makes a commit submit nothing', async () => {
    const repo = makeRepo('hook-skip', { '.runconfig': config({ every: { command: ['true'], on: { commit: {} } } }) });
    await ok(['hook', 'install'], { cwd: repo });
    const skipped = commit(repo, 'wip', {}, { GIT_RUN_SKIP: '1' });
    const next = commit(repo, 'real');
    const es = await outcome(repo, next, (e) => submitted(e).length === 1);
    assert.equal(submitted(es).length, 1);
    assert.deepEqual((await events(repo)).filter((e) => e.commit === skipped), []);
    assert.equal(runIds(repo).length, 1);
    // By hand, GIT_RUN_SKIP is honoured too (and logged).
    const r = await ok(['hook', 'post-commit', `--commit=${skipped}`], { cwd: repo, env: { GIT_RUN_SKIP: '1' } });
    assert.match(r.stderr, /GIT_RUN_SKIP=1: nothing submitted/);
    assert.equal(runIds(repo).length, 1);
  });

  it('a broken .runconfig or an unreachable host never fails the commit: the hook log and git run status show it until the hook works again', async () => {
    const good = { every: { command: ['true'], on: { commit: {} } } };
    const repo = makeRepo('hook-broken', { '.runconfig': config(good) });
    await ok(['hook', 'install'], { cwd: repo });
    // An invalid trigger is refused where configuration is checked, with its JSON path...
    writeFileSync(path.join(repo, '.runconfig'), config({ every: { command: ['true'], on: { commit: { branchs: ['main'], supersede: 'yes', during: ['rebas'] } } } }));
    const s = await gitRun(['submit', 'every'], { cwd: repo });
    assert.equal(s.code, 2);
    assert.match(s.stderr, /experiments\.every\.on\.commit\.branchs: unknown key 'branchs': did you mean 'branches'\?/);
    assert.match(s.stderr, /experiments\.every\.on\.commit\.supersede: expected true or false/);
    assert.match(s.stderr, /experiments\.every\.on\.commit\.during\[0\]: expected one of rebase, merge, cherry-pick, revert, got "rebas": did you mean 'rebase'\?/);
    // ...and committed anyway, it fails nothing but the hook.
    git(repo, 'add', '.runconfig');
    const bad = commit(repo, 'typo');
    const es = await outcome(repo, bad);
    assert.equal(es[0]!.level, 'error');
    assert.match(es[0]!.message, /experiments\.every\.on\.commit\.branchs: unknown key/);
    const st = await ok(['status'], { cwd: repo });
    assert.match(st.stdout, new RegExp(`post-commit hook failed \\(commit ${bad.slice(0, 12)}, .*\\): .*experiments\\.every\\.on\\.commit\\.branchs`));
    const log = await ok(['hook', 'log'], { cwd: repo });
    assert.match(log.stdout, new RegExp(`post-commit  ${bad.slice(0, 12)} main  error: .*branchs`));

    // Not JSON at all.
    const worse = commit(repo, 'worse', { '.runconfig': '{ nope' });
    assert.match((await outcome(repo, worse))[0]!.message, /not valid JSON/);

    // A host that cannot be reached.
    const far = commit(repo, 'far', {
      '.runconfig': config({ every: { command: ['true'], host: 'far', on: { commit: {} } } }, { far: { type: 'ssh', host: 'far', ssh_config: 'ssh_config' } }),
      ssh_config: 'Host far\n  HostName 127.0.0.1\n  Port 1\n  ConnectTimeout 5\n',
    });
    const fs = await outcome(repo, far);
    assert.equal(fs[0]!.level, 'error');
    assert.equal(fs[0]!.experiment, 'every');
    assert.match((await ok(['status'], { cwd: repo })).stdout, new RegExp(`commit ${far.slice(0, 12)}`));
    assert.deepEqual(runIds(repo), []);

    // Fixed: the next commit submits, and status has nothing to report.
    const fixed = commit(repo, 'fixed', { '.runconfig': config(good) });
    await outcome(repo, fixed, (e) => submitted(e).length === 1);
    assert.doesNotMatch((await ok(['status'], { cwd: repo })).stdout, /hook failed/);
  });

  it('back-to-back commits are each submitted once, by one background worker at a time that drains what the shim noted', async function () {
    // Twenty submissions one after another: minutes on a loaded machine.
    this.timeout(400000);
    const repo = makeRepo('hook-rapid', { '.runconfig': config({ every: { command: ['true'], on: { commit: {} } } }) });
    await ok(['hook', 'install'], { cwd: repo });
    const shas: string[] = [];
    for (let i = 0; i < 20; i++) shas.push(commit(repo, `c${i}`, { 'n.txt': `${i}\n` }));
    for (const sha of shas) await outcome(repo, sha, (e) => submitted(e).length === 1);
    const all = submitted(await events(repo));
    assert.deepEqual(all.map((e) => e.commit).sort(), [...shas].sort());
    // Each worker logs the stretch it held the queue: they never overlap, and every submission falls inside one.
    const workers = await until('the last worker\'s account', async () => {
      const ws = (await events(repo)).filter((e) => e.event === 'drained');
      return ws.reduce((n, w) => n + w.worker!.commits, 0) >= shas.length ? ws : null;
    });
    const stretches = workers.map((w) => w.worker!).sort((a, b) => a.start.localeCompare(b.start));
    for (let i = 1; i < stretches.length; i++) assert.ok(stretches[i]!.start >= stretches[i - 1]!.end, `worker ${stretches[i]!.pid} started (${stretches[i]!.start}) before worker ${stretches[i - 1]!.pid} ended (${stretches[i - 1]!.end})`);
    for (const e of all) assert.ok(stretches.some((w) => w.start <= e.at && e.at <= w.end), `${e.commit} was submitted outside every worker's stretch`);
    assert.equal(stretches.reduce((n, w) => n + w.commits, 0), shas.length, 'each noted commit handled once');
    assert.ok(new Set(stretches.map((w) => w.pid)).size < shas.length, `coalesced: ${stretches.length} stretches for ${shas.length} commits`);
    assert.deepEqual(readdirSync(path.join(repo, '.git', 'git-run', 'hook-queue')), [], 'nothing left noted');
    assert.equal(existsSync(path.join(repo, '.git', 'git-run', 'hook-worker.pid')), false, 'the lock is let go');
    // Submitting a commit again (by hand) is refused by its marker.
    const again = await ok(['hook', 'post-commit', `--commit=${shas[0]}`, '--head=refs/heads/main', '--state='], { cwd: repo });
    assert.match(again.stderr, /already submitted/);
    assert.equal(submitted(await events(repo)).length, shas.length);
    const commits = [];
    for (const id of runIds(repo)) commits.push((await showJson(repo, id)).code.commit);
    assert.deepEqual(commits.sort(), [...shas].sort());
  });

  it("a worker that died leaves its lock and its notes: the next commit's worker breaks the lock and submits them", async () => {
    const repo = makeRepo('hook-dead-worker', { '.runconfig': config({ every: { command: ['true'], on: { commit: {} } } }) });
    await ok(['hook', 'install'], { cwd: repo });
    const state = path.join(repo, '.git', 'git-run');
    // A commit the shim noted, then its worker died holding the queue (a process that has exited).
    const lost = commit(repo, 'noted', {}, { GIT_RUN_SKIP: '1' });
    writeFileSync(path.join(state, 'hook-queue', lost), `${lost} refs/heads/main \n`);
    const dead = spawnSync('true').pid;
    writeFileSync(path.join(state, 'hook-worker.pid'), `${dead}\n`);
    const next = commit(repo, 'next', { 'n.txt': 'n\n' });
    for (const sha of [lost, next]) {
      const es = await outcome(repo, sha, (e) => submitted(e).length === 1);
      assert.equal(submitted(es)[0]!.branch, 'main');
    }
    await until('the queue drained and the lock let go', () => (!readdirSync(path.join(state, 'hook-queue')).length && !existsSync(path.join(state, 'hook-worker.pid'))) || null);
    assert.equal(runIds(repo).length, 2);
  });

  it('supersede: a newer commit cancels the queued runs of an older one (the running one goes on)', async () => {
    // The first child of each commit runs until the test lets it go (a file appears): no moment to hit.
    const release = path.join(tmpdir('hook-supersede-release'), 'go');
    const hold = `const fs=require('fs');const t=setInterval(()=>{if({i}!==1||fs.existsSync(${JSON.stringify(release)}))clearInterval(t)},20)`;
    const repo = makeRepo('hook-supersede', {
      '.runconfig': config(
        { slow: { command: nodeCmd(hold), params: { i: { values: [1, 2, 3] } }, host: 'one', on: { commit: { supersede: true } } } },
        { one: { type: 'local', max_parallel: 1 } },
      ),
    });
    await ok(['hook', 'install'], { cwd: repo });
    const first = commit(repo, 'first', { 'n.txt': '1\n' });
    const group1 = submitted(await outcome(repo, first, (e) => submitted(e).length === 1))[0]!.runs!;
    const children1 = group1.slice(1);
    assert.equal(children1.length, 3);
    await until('the first child running', async () => (await showJson(repo, children1[0]!)).status === 'running' || null);
    const second = commit(repo, 'second', { 'n.txt': '2\n' });
    const es = await outcome(repo, second, (e) => e.some((x) => x.event === 'superseded'));
    const sup = es.find((e) => e.event === 'superseded')!;
    assert.deepEqual([...sup.runs!].sort(), children1.slice(1).sort());
    assert.match(sup.message, new RegExp(`cancelled 2 queued runs of ${first.slice(0, 12)}: superseded by ${second.slice(0, 12)}`));
    const group2 = submitted(es)[0]!.runs!;
    writeFileSync(release, '');
    await gitRun(['wait', ...children1, ...group2.slice(1)], { cwd: repo });
    const statuses = [];
    for (const id of children1) statuses.push((await showJson(repo, id)).status);
    assert.deepEqual(statuses, ['succeeded', 'cancelled', 'cancelled']);
    for (const id of group2.slice(1)) assert.equal((await showJson(repo, id)).status, 'succeeded');
  });

  it('works from a linked worktree, and falls back to `git run` when the recorded paths are gone', async () => {
    const repo = makeRepo('hook-worktree', { '.runconfig': config({ every: { command: ['true'], on: { commit: { branches: ['wt', 'main'] } } } }) });
    await ok(['hook', 'install'], { cwd: repo });
    const wt = path.join(tmpdir('hook-wt'), 'wt');
    git(repo, 'worktree', 'add', '-q', '-b', 'wt', wt);
    const a = commit(wt, 'in the worktree', { 'w.txt': 'w\n' });
    const es = await outcome(repo, a, (e) => submitted(e).length === 1);
    assert.equal(submitted(es)[0]!.branch, 'wt');

    // The recorded node and CLI are gone: `git run` (git-run on PATH) takes over.
    const file = path.join(repo, '.git', 'hooks', 'post-commit');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^n=.*$/m, "n='/nonexistent/node'; g='/nonexistent/git-run.cjs'"));
    const bin = tmpdir('hook-bin');
    writeFileSync(path.join(bin, 'git-run'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`);
    chmodSync(path.join(bin, 'git-run'), 0o755);
    const b = commit(repo, 'fallback', {}, { PATH: `${bin}:${process.env.PATH}` });
    await outcome(repo, b, (e) => submitted(e).length === 1);
  });

  it('bad input: an unknown hook, -n, a hooks directory that cannot be written (nothing written); hook log -n and --json', async () => {
    const repo = makeRepo('hook-bad', { 'a.txt': 'a\n' });
    const u = await gitRun(['hook', 'pre-push'], { cwd: repo });
    assert.equal(u.code, 2);
    assert.match(u.stderr, /error: unknown hook or action 'pre-push'\nhint: .*post-commit/);
    const n = await gitRun(['hook', 'log', '-n', 'x'], { cwd: repo });
    assert.equal(n.code, 2);
    assert.match(n.stderr, /invalid -n 'x'/);
    const empty = await ok(['hook', 'log'], { cwd: repo });
    assert.equal(empty.stdout, '');
    assert.match(empty.stderr, /no hook events/);

    // core.hooksPath under a regular file: no directory can be made there.
    writeFileSync(path.join(repo, 'afile'), 'x\n');
    git(repo, 'config', 'core.hooksPath', 'afile/hooks');
    const before = readdirSync(repo).sort();
    const w = await gitRun(['hook', 'install'], { cwd: repo });
    assert.equal(w.code, 2);
    assert.match(w.stderr, /error: cannot write the hooks directory .*afile\/hooks/);
    assert.match(w.stderr, /hint: .*core\.hooksPath/);
    assert.deepEqual(readdirSync(repo).sort(), before);
    assert.equal(readFileSync(path.join(repo, 'afile'), 'utf8'), 'x\n');
    if (process.getuid?.() !== 0) {
      // A directory without write permission (root writes anyway).
      const ro = path.join(repo, 'ro');
      mkdirSync(ro);
      chmodSync(ro, 0o555);
      git(repo, 'config', 'core.hooksPath', 'ro');
      const r = await gitRun(['hook', 'install'], { cwd: repo });
      assert.equal(r.code, 2);
      assert.deepEqual(readdirSync(ro), []);
      chmodSync(ro, 0o755);
    }
    git(repo, 'config', '--unset', 'core.hooksPath');

    // A log of three invocations.
    writeFiles(repo, { '.runconfig': config({ every: { command: ['true'], on: { commit: { branches: ['nope'] } } } }) });
    git(repo, 'add', '.runconfig');
    await ok(['hook', 'install'], { cwd: repo });
    const shas = [commit(repo, 'one'), commit(repo, 'two'), commit(repo, 'three')];
    for (const s of shas) await outcome(repo, s);
    await until("the last worker's account", async () => ((await events(repo)).at(-1)?.event === 'drained' ? true : null));
    const last = await ok(['hook', 'log', '-n', '1', '--json'], { cwd: repo });
    const lines = last.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const e = JSON.parse(lines[0]!) as Event;
    // A worker's stretch ends with its account, after the commits it handled.
    assert.deepEqual(e, (await events(repo)).at(-1));
    assert.equal(e.event, 'drained');
    assert.match(e.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    const mine = (await events(repo)).filter((x) => x.commit === shas.at(-1));
    assert.deepEqual(mine.map((x) => x.event), ['nothing']);
    assert.equal((await ok(['hook', 'log', '-n', '2'], { cwd: repo })).stdout.trim().split('\n').length, 2);
    const text = await ok(['hook', 'log', '-n', '0'], { cwd: repo });
    assert.match(text.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  post-commit  [0-9a-f]{12} main  no experiment matches: every: branch 'main' matches none of nope$/m);
    assert.ok(readFileSync(path.join(repo, '.git', 'git-run', 'hook.log'), 'utf8').split('\n').filter(Boolean).length >= 3, 'one line per event');
  });

  it('the JSON Schema describes "on" next to every key of a run definition', () => {
    const runconfig = JSON.parse(readFileSync(path.join(ROOT, 'schema', 'runconfig.schema.json'), 'utf8'));
    const definition = JSON.parse(readFileSync(path.join(ROOT, 'schema', 'definition.schema.json'), 'utf8'));
    const experiment = runconfig.$defs.experiment;
    assert.deepEqual(Object.keys(experiment.properties).sort(), [...Object.keys(definition.properties), 'on'].sort());
    for (const [k, v] of Object.entries(experiment.properties)) if (k !== 'on') assert.deepEqual(v, { $ref: `definition.schema.json#/properties/${k}` });
    assert.deepEqual(experiment.required, definition.required);
    assert.deepEqual(Object.keys(runconfig.$defs.commitTrigger.properties).sort(), ['branches', 'during', 'paths', 'supersede']);
  });
});
