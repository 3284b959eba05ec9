import assert from 'node:assert/strict';
/**
 * Sharing runs (issue 14): two clones and a bare remote, real git, the real
 * CLI, the real sshd for a remote that refuses authentication.
 * docs/decisions/0017-sharing.md
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ENV, git, gitRun, makeRepo, ok, refState, refused, runIds, showJson, tmpdir } from './helpers.js';
import { sshdAvailable, startSshd, type Sshd } from './sshd.js';

/** A bare remote, clone A (made with some code, pushed) and clone B (cloned from the remote). */
function team(label: string): { bare: string; a: string; b: string } {
  const a = makeRepo(`${label}-a`, { 'train.sh': 'echo "trained lr=$1" > model.txt\n' });
  const bare = path.join(tmpdir(`${label}-remote`), 'shared.git');
  git(path.dirname(bare), 'init', '-q', '--bare', '-b', 'main', bare);
  git(a, 'remote', 'add', 'origin', bare);
  git(a, 'push', '-q', '-u', 'origin', 'main');
  const b = path.join(tmpdir(`${label}-b`), 'b');
  git(path.dirname(b), 'clone', '-q', bare, b);
  git(b, 'config', 'user.name', 'Bea Tester');
  git(b, 'config', 'user.email', 'bea@example.test');
  return { bare, a, b };
}

const json = async (args: string[], cwd: string, env?: NodeJS.ProcessEnv) => JSON.parse((await ok([...args], { cwd, ...(env ? { env } : {}) })).stdout);
const train = ['--seed', '3', '--', 'sh', 'train.sh', '0.1'];
const refsOf = (repo: string, prefix: string) => git(repo, 'for-each-ref', '--format=%(refname) %(objectname)', prefix);

describe('sharing runs: push, pull, remote (issue 14)', function () {
  // Each test starts 10 to 25 git-run processes: seconds each with both cores busy.
  this.timeout(240000);
  it('a run made in one clone is pulled in the other and reused there, on the run key or the portable key; why and --dry-run say which', async () => {
    const { a, b } = team('memo');
    const made = await json(['--json', ...train], a);
    assert.equal(made.status, 'succeeded');
    const pushed = await json(['push', '--json'], a);
    assert.deepEqual(pushed.pushed, [made.id]);
    assert.equal(pushed.remote, 'origin');
    const pulled = await json(['pull', '--json'], b);
    assert.deepEqual(pulled.added, [made.id]);
    assert.equal(pulled.notes, 'none');
    // At once in log (the index follows the refs).
    assert.match((await ok(['log', '--oneline'], { cwd: b })).stdout, new RegExp(`^${made.id.slice(0, 12)} succeeded`));

    // The same user's environment: the full run key matches.
    const same = await json(['--json', ...train], b);
    assert.equal(same.id, made.id);
    assert.deepEqual(same.reused, { matched: 'run key' });

    // Another user on another machine: HOME, USER, PATH differ; the portable key matches (the env-key file is shared: ENV's).
    const home = tmpdir('memo-home');
    const bin = tmpdir('memo-bin');
    const bea = { HOME: home, USER: 'bea', LOGNAME: 'bea', PATH: `${bin}:${process.env.PATH}` };
    const dry = await gitRun(['--dry-run', ...train], { cwd: b, env: bea });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`would reuse run ${made.id.slice(0, 12)} \\(succeeded, made in another clone: same portable key`));
    const r = await gitRun(['--json', ...train], { cwd: b, env: bea });
    assert.equal(r.code, 0, r.stderr);
    const reused = JSON.parse(r.stdout);
    assert.equal(reused.id, made.id);
    assert.deepEqual(reused.reused, { matched: 'portable key' });
    assert.match(r.stderr, /reusing run .*same portable key: a run made in another clone/);
    assert.deepEqual(runIds(b), [made.id], 'nothing new was run');
    const why = await ok(['why', made.id.slice(0, 10)], { cwd: b });
    assert.match(why.stdout, /made in another clone: a submission here reuses it when its run key matches, or else when its portable key does/);
    // ... but not in the clone that made it: there, machine variables are compared as before (a new PATH is a new run).
    const inA = await json(['--json', ...train], a, bea);
    assert.notEqual(inA.id, made.id);
    assert.equal(inA.reused, undefined);

    // A variable that is not a machine variable still counts; so does the env-key file (another key: no match).
    const other = await json(['--json', ...train], b, { ...bea, N_CHARS: '80000' });
    assert.notEqual(other.id, made.id);
    const key2 = path.join(tmpdir('memo-key'), 'env-key');
    const stranger = await json(['--json', ...train], b, { ...bea, GIT_RUN_ENV_KEY_FILE: key2 });
    assert.notEqual(stranger.id, made.id);
    assert.notEqual(stranger.id, other.id);
  });

  it('metadata edited on both sides survives a push and a pull, each way (notes merged, never forced)', async () => {
    const { bare, a, b } = team('notes');
    const run = await json(['--json', '--name', 'first', ...train], a);
    await ok(['push'], { cwd: a });
    await ok(['pull'], { cwd: b });

    // A and B both edit; A pushes first, so B's push must merge the remote's notes.
    await ok(['edit', run.id, '--tag', 'from-a', '--notes', 'said by a'], { cwd: a });
    await ok(['edit', run.id, '--tag', 'from-b'], { cwd: b });
    await ok(['push'], { cwd: a });
    const bPush = await json(['push', '--json'], b);
    assert.equal(bPush.notes, 'merged');
    assert.deepEqual(bPush.pushed, []);
    const aPull = await json(['pull', '--json'], a);
    assert.equal(aPull.notes, 'fast-forward');
    for (const repo of [a, b]) {
      const v = await showJson(repo, run.id);
      assert.deepEqual(v.tags, ['from-a', 'from-b']);
      assert.equal(v.notes, 'said by a');
      assert.equal(v.name, 'first');
    }

    // The other way round: both edit again; A pushes, B pulls (a merge here), B pushes, A pulls.
    await ok(['edit', run.id, '--tag', 'a2'], { cwd: a });
    await ok(['edit', run.id, '--untag', 'from-a', '--tag', 'b2'], { cwd: b });
    await ok(['push'], { cwd: a });
    const bPull = await json(['pull', '--json'], b);
    assert.equal(bPull.notes, 'merged');
    await ok(['push'], { cwd: b });
    await ok(['pull'], { cwd: a });
    for (const repo of [a, b]) assert.deepEqual((await showJson(repo, run.id)).tags, ['a2', 'b2', 'from-b']);
    // Every event of both sides is in the note, one line each, in time order.
    const note = git(bare, 'notes', '--ref=runs', 'show', run.id).split('\n');
    assert.equal(note.length, 5);
    const times = note.map((l) => JSON.parse(l).at as string);
    assert.deepEqual(times, [...times].sort());
    // The notes ref only moved forward on the remote: the merge commits keep both parents.
    assert.equal(git(bare, 'rev-list', '--count', '--merges', 'refs/notes/runs'), '2');
    // Nothing temporary left behind.
    for (const repo of [a, b]) assert.equal(refsOf(repo, 'refs/notes/git-run-tmp/'), '');
  });

  it('a teammate pushing notes while we push: the push looks again, merges and lands (bounded retries)', async () => {
    const { bare, a } = team('race');
    const run = await json(['--json', '--name', 'raced', ...train], a);
    await ok(['push'], { cwd: a });
    await ok(['edit', run.id, '--tag', 'ours'], { cwd: a });
    // The remote's receive-pack plays the teammate, once: it moves the notes after our look (ls-remote) and before our push.
    const marker = path.join(path.dirname(bare), 'raced-once');
    const event = JSON.stringify({ at: '2031-01-01T00:00:00.000Z', by: 'Teammate <t@example.test>', tag: ['theirs'] });
    const script = path.join(path.dirname(bare), 'receive-pack-racing');
    writeFileSync(script, `#!/bin/sh\nif [ ! -e '${marker}' ]; then touch '${marker}'; git --git-dir="$1" notes --ref=runs append -m '${event}' ${run.id} || exit 1; fi\nexec git-receive-pack "$@"\n`, { mode: 0o755 });
    git(a, 'config', 'remote.origin.receivepack', script);
    const r = await json(['push', '--json'], a);
    assert.equal(r.notes, 'merged');
    assert.ok(existsSync(marker), 'the race happened');
    assert.deepEqual((await showJson(a, run.id)).tags, ['ours', 'theirs']);
    assert.equal(git(bare, 'rev-parse', 'refs/notes/runs'), git(a, 'rev-parse', 'refs/notes/runs'));
  });

  it('a run is pushed with its upstream runs (lineage never dangles); a run whose upstream is missing here is refused, nothing pushed', async () => {
    const { bare, a, b } = team('lineage');
    const producer = await json(['--json', '--seed', '1', '--', 'sh', '-c', 'echo data > data.txt'], a);
    const consumer = await json(['--json', '--seed', '1', '-i', `${producer.id}:data.txt`, '--', 'sh', '-c', 'cat data.txt > copy.txt'], a);
    const unrelated = await json(['--json', '--seed', '1', '--', 'true'], a);
    const r = await json(['push', '--json', 'origin', consumer.id.slice(0, 8)], a);
    assert.deepEqual([...r.pushed].sort(), [producer.id, consumer.id].sort());
    assert.deepEqual(runIds(bare).sort(), [producer.id, consumer.id].sort());
    assert.ok(!runIds(bare).includes(unrelated.id));
    await ok(['pull'], { cwd: b });
    const lin = await json(['lineage', '--json', '--upstream', consumer.id], b);
    assert.ok(lin.nodes.some((n: { id: string; missing: boolean }) => n.id === producer.id && !n.missing));

    // Here the upstream run's ref is gone (deleted by hand): pushing the consumer would leave it dangling.
    const c = makeRepo('lineage-c', { 'train.sh': 'x\n' });
    const other = path.join(tmpdir('lineage-other'), 'o.git');
    git(path.dirname(other), 'init', '-q', '--bare', other);
    git(c, 'remote', 'add', 'origin', other);
    const p2 = await json(['--json', '--seed', '2', '--', 'sh', '-c', 'echo d > d.txt'], c);
    const c2 = await json(['--json', '--seed', '2', '-i', `${p2.id}:d.txt`, '--', 'sh', '-c', 'cat d.txt > e.txt'], c);
    git(c, 'update-ref', '-d', `refs/runs/${p2.id}`);
    const hint = `fetch the upstream run first (\`git run pull\` from where it is), or leave ${c2.id.slice(0, 12)} out; nothing was pushed`;
    const msg = `run ${c2.id.slice(0, 12)} took inputs from run ${p2.id.slice(0, 12)}, which this repository does not have: pushing it would leave its lineage dangling on the remote`;
    await refused(c, ['push', 'origin', c2.id], msg, hint);
    await refused(c, ['push'], msg, hint);
    assert.equal(refsOf(other, ''), '', 'nothing reached the remote');
  });

  it('git run remote makes plain git fetch and git push carry runs and notes; --remove undoes it', async () => {
    const { bare, a, b } = team('remote-config');
    const before = git(a, 'config', '--local', '--list');
    const added = await ok(['remote', 'origin'], { cwd: a });
    assert.match(added.stdout, /added remote\.origin\.fetch = refs\/runs\/\*:refs\/runs\/\*/);
    assert.deepEqual(git(a, 'config', '--get-all', 'remote.origin.push').split('\n'), ['HEAD', 'refs/runs/*:refs/runs/*', 'refs/notes/runs:refs/notes/runs']);
    assert.deepEqual(git(a, 'config', '--get-all', 'remote.origin.fetch').split('\n'), ['+refs/heads/*:refs/remotes/origin/*', 'refs/runs/*:refs/runs/*', '+refs/notes/runs:refs/notes/remotes/origin/runs']);
    // Twice: nothing more.
    assert.match((await ok(['remote', 'origin'], { cwd: a })).stdout, /already with git-run's refspecs/);
    const run = await json(['--json', '--name', 'plain', ...train], a);
    git(a, 'push', '-q');
    assert.deepEqual(runIds(bare), [run.id]);
    assert.equal(git(bare, 'rev-parse', 'refs/notes/runs'), git(a, 'rev-parse', 'refs/notes/runs'));

    await ok(['remote', 'origin'], { cwd: b });
    git(b, 'fetch', '-q');
    assert.deepEqual(runIds(b), [run.id]);
    assert.equal(git(b, 'rev-parse', 'refs/notes/remotes/origin/runs'), git(a, 'rev-parse', 'refs/notes/runs'));
    // The notes are merged by git run pull (a fetch cannot merge them).
    await ok(['edit', run.id, '--tag', 'b-side'], { cwd: b });
    const pulled = await json(['pull', '--json'], b);
    assert.equal(pulled.notes, 'merged');
    const v = await showJson(b, run.id);
    assert.equal(v.name, 'plain');
    assert.deepEqual(v.tags, ['b-side']);

    await ok(['remote', '--remove', 'origin'], { cwd: a });
    assert.equal(git(a, 'config', '--local', '--list'), before);
    await refused(a, ['remote', 'nowhere'], "no remote named 'nowhere'", 'remotes here: origin; add one with `git remote add <name> <url>`, or give a URL or a path');
  });

  it('pull moves a run forward to its newer state; a hostile remote: refs that are not runs, another object under a run id, notes with control characters', async () => {
    const { bare, a, b } = team('hostile');
    const run = await json(['--json', ...train], a);
    await ok(['push'], { cwd: a });
    const tip = git(bare, 'rev-parse', `refs/runs/${run.id}`);
    // The remote had the run when it was only submitted (pushed while queued); then its finished state arrived.
    git(bare, 'update-ref', `refs/runs/${run.id}`, run.id);
    assert.deepEqual((await json(['pull', '--json'], b)).added, [run.id]);
    assert.equal((await showJson(b, run.id)).status, 'queued');
    git(bare, 'update-ref', `refs/runs/${run.id}`, tip);
    const forward = await json(['pull', '--json'], b);
    assert.deepEqual(forward.updated, [run.id]);
    assert.equal((await showJson(b, run.id)).status, 'succeeded');

    // Now the remote turns hostile, through a plain clone that writes what it likes.
    const evil = path.join(tmpdir('hostile-evil'), 'e');
    git(path.dirname(evil), 'clone', '-q', bare, evil);
    git(evil, 'fetch', '-q', 'origin', 'refs/runs/*:refs/runs/*');
    const blob = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: evil, env: ENV, input: 'not a run' }).toString().trim();
    const commit = git(evil, 'rev-parse', 'HEAD');
    const other = await json(['--json', '--seed', '9', '--', 'true'], a);
    const note = JSON.stringify({ at: '2030-01-01T00:00:00.000Z', by: 'Mallory \x1b]0;pwned\x07', set: { notes: 'evil\x1b[2Jtext' } });
    git(evil, 'notes', '--ref=runs', 'append', '-m', note, run.id);
    git(evil, 'push', '-q', 'origin', 'refs/notes/runs:refs/notes/runs', `${blob}:refs/runs/${blob}`, `${commit}:refs/runs/${commit}`, `${commit}:refs/runs/junk`);
    // Another run's record under this run's id.
    await ok(['push', 'origin', other.id], { cwd: a });
    git(bare, 'update-ref', `refs/runs/${run.id}`, other.id);

    const before = refsOf(b, 'refs/runs/');
    const r = await gitRun(['pull', '--json'], { cwd: b });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.added, [other.id]);
    assert.equal(out.notes, 'fast-forward');
    const skipped = new Map<string, string>(out.skipped.map((s: { ref: string; reason: string }) => [s.ref, s.reason]));
    assert.match(skipped.get(`refs/runs/${blob}`)!, /^not a run: its tip is not a commit holding run.json/);
    assert.match(skipped.get(`refs/runs/${commit}`)!, /^not a run: its tip is not a commit holding run.json/);
    assert.match(skipped.get('refs/runs/junk')!, /not a run ref name/);
    assert.match(skipped.get(`refs/runs/${run.id}`)!, /^not a run: its tip records another run.json than its spec commit/);
    assert.match(r.stderr, new RegExp(`warning: refs/runs/${run.id} from origin: not a run`));
    // The run here is untouched; only the new run was added.
    assert.equal(refsOf(b, 'refs/runs/'), [before, `refs/runs/${other.id} ${git(a, 'rev-parse', `refs/runs/${other.id}`)}`].sort().join('\n'));
    // The hostile note is printed escaped, never raw.
    const shown = await ok(['show', run.id], { cwd: b });
    assert.ok(!shown.stdout.includes('\x1b'), 'no raw escape reaches the terminal');
    assert.match(shown.stdout, /evil\\e\[2Jtext/);
    assert.equal((await showJson(b, run.id)).notes, 'evil\x1b[2Jtext', '--json stays exact');
  });

  it('bad remotes: none configured, unknown, not a repository; an unknown run; exit 2 and nothing written', async () => {
    const { a } = team('bad');
    const run = await json(['--json', ...train], a);
    await refused(a, ['push', 'nosuch'], "'nosuch' is neither a remote nor a run", 'remotes here: origin; add one with `git remote add <name> <url>`, or give a URL or a path');
    await refused(a, ['pull', 'nosuch'], "no remote named 'nosuch'", 'remotes here: origin; add one with `git remote add <name> <url>`, or give a URL or a path');
    await refused(a, ['push', 'origin', 'deadbeef'], "no run matches 'deadbeef'", 'list runs with `git run log --oneline`');
    const lone = makeRepo('bad-lone', { 'x.txt': 'x' });
    await ok(['--seed', '1', '-q', '--', 'true'], { cwd: lone });
    const none = 'name one (`git run push <remote>`), or add one with `git remote add origin <url>`';
    await refused(lone, ['push'], 'no remote to share runs with: the branch has no upstream and there is no remote named origin', none);
    await refused(lone, ['pull'], 'no remote to share runs with: the branch has no upstream and there is no remote named origin', none);
    const notRepo = tmpdir('bad-not-a-repo');
    writeFileSync(path.join(notRepo, 'file'), 'x');
    const hint = 'check its URL (`git remote -v`), that it is a git repository, and your access to it (for ssh: your key, `ssh -T <host>`); nothing was changed';
    for (const cmd of ['push', 'pull']) {
      await refused(a, [cmd, notRepo], `the remote '${notRepo}' could not be reached or refused: fatal: '${notRepo}' does not appear to be a git repository / fatal: Could not read from remote repository. / Please make sure you have the correct access rights / and the repository exists.`, hint);
    }
    git(a, 'remote', 'add', 'broken', path.join(notRepo, 'missing.git'));
    await refused(a, ['push', 'broken', run.id], `the remote 'broken' could not be reached or refused: fatal: '${path.join(notRepo, 'missing.git')}' does not appear to be a git repository / fatal: Could not read from remote repository. / Please make sure you have the correct access rights / and the repository exists.`, hint);
  });

  describe('over ssh', function () {
    let sshd: Sshd;
    before(async function () {
      if (!sshdAvailable(this)) return;
      sshd = await startSshd();
    });
    after(() => sshd?.stop());

    it('push and pull work over ssh; a key the server does not accept is refused (exit 2, nothing written)', async () => {
      const { a, b } = team('ssh');
      const remoteDir = path.join(sshd.dir, 'remote.git');
      mkdirSync(remoteDir);
      git(remoteDir, 'init', '-q', '--bare');
      const url = `testhost:${remoteDir}`;
      const env = { GIT_SSH_COMMAND: `ssh -F ${sshd.config}` };
      const run = await json(['--json', ...train], a);
      const pushed = JSON.parse((await ok(['push', '--json', url], { cwd: a, env })).stdout);
      assert.deepEqual(pushed.pushed, [run.id]);
      const pulled = JSON.parse((await ok(['pull', '--json', url], { cwd: b, env })).stdout);
      assert.deepEqual(pulled.added, [run.id]);

      // A key the server does not know.
      const dir = tmpdir('ssh-wrong-key');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'stranger')]);
      const config = path.join(dir, 'ssh_config');
      writeFileSync(config, [`Host testhost`, `  HostName 127.0.0.1`, `  Port ${sshd.port}`, '  User root', `  IdentityFile ${dir}/stranger`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${sshd.knownHosts}`, '  StrictHostKeyChecking yes', '  BatchMode yes', ''].join('\n'));
      const other = await json(['--json', '--seed', '4', '--', 'true'], a);
      for (const [repo, args] of [[a, ['push', url, other.id]], [b, ['pull', url]]] as const) {
        const before = refState(repo);
        const r = await gitRun([...args], { cwd: repo, env: { GIT_SSH_COMMAND: `ssh -F ${config}` } });
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /^error: the remote 'testhost:.*' could not be reached or refused: .*Permission denied \(publickey\)/);
        assert.match(r.stderr, /\nhint: check its URL/);
        assert.equal(refState(repo), before);
      }
      assert.ok(!execFileSync('git', ['for-each-ref', 'refs/runs/'], { cwd: remoteDir, encoding: 'utf8' }).includes(other.id));
    });
  });
});
