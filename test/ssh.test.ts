import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { makeRepo, gitRun, ok, showJson, git, runIds, writeFiles, refState, until, nodeCmd } from './helpers.js';
import { startSshd, sshdAvailable, onHost, type Sshd } from './sshd.js';

describe('remote execution over SSH (a real sshd on 127.0.0.1)', function () {
  let sshd: Sshd;
  before(async function () {
    if (!sshdAvailable(this)) return;
    sshd = await startSshd();
  });
  after(() => sshd?.stop());

  /** A repository with an ssh profile; remote_dir unique per test. */
  const remoteRepo = (label: string, files: Record<string, string> = {}, profile: Record<string, unknown> = {}) => {
    const remoteDir = `/tmp/git-run-remote-${label}-${process.pid}`;
    const repo = makeRepo(label, {
      ...files,
      '.runconfig': JSON.stringify({ hosts: { box: { type: 'ssh', host: 'testhost', ssh_config: sshd.config, remote_dir: remoteDir, ...profile } } }),
    });
    return { repo, remoteDir };
  };

  it('runs a command remotely, streams its output, exits with its code and records it like a local run', async () => {
    const { repo } = remoteRepo('ssh-basic', { 'train.sh': 'echo "out $1"; echo err >&2; mkdir -p res; echo model > res/m.txt; echo \'{"acc": 0.5, "val": {"acc": 0.25}}\' > metrics.json; exit 3\n' });
    const r = await gitRun(['--host', 'box', '--', 'sh', 'train.sh', 'x y'], { cwd: repo, env: { SSH_AUTH_SOCK: '' } });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'out x y\n');
    assert.match(r.stderr, /^err\n/);
    const j = await showJson(repo, runIds(repo)[0]!);
    assert.equal(j.status, 'failed');
    assert.equal(j.exitCode, 3);
    assert.equal(j.host, 'box');
    assert.deepEqual(j.outputs.map((o: any) => o.path), ['metrics.json', 'res/m.txt']);
    assert.deepEqual(j.metrics, { acc: 0.5, 'val.acc': 0.25 }, 'metrics come back from the host too');
    assert.equal((await ok(['cat', `${j.id}:res/m.txt`], { cwd: repo })).stdout, 'model\n');
    assert.equal(git(repo, "show", `refs/runs/${j.id}:logs/stderr`), 'err');
  });

  it('sends the code once: an unchanged tree sends 0 bytes, --leave code keeps it, none removes it', async () => {
    const { repo, remoteDir } = remoteRepo('ssh-cache', { 'big.txt': 'x'.repeat(100000) }, { leave: 'code' });
    await ok(['-q', '--host', 'box', '--', 'true'], { cwd: repo });
    const first = await showJson(repo, runIds(repo)[0]!);
    assert.ok(first.codeBytesSent > 100000, `the first run sent the code (${first.codeBytesSent} bytes)`);
    const tree = git(repo, 'rev-parse', 'HEAD^{tree}');
    const code = `${remoteDir}/code/${tree}`;
    assert.equal(onHost(sshd, `cat ${code}.ok`).trim().split(' ')[0], '2', 'two files (.runconfig and big.txt) arrived');
    const stamp = onHost(sshd, `stat -c %Y ${code}/big.txt`);
    await ok(['-q', '--host', 'box', '--', 'true'], { cwd: repo });
    assert.equal(onHost(sshd, `stat -c %Y ${code}/big.txt`), stamp, 'not sent again');
    const second = (await Promise.all(runIds(repo).map((id) => showJson(repo, id)))).find((j) => j.id !== first.id)!;
    assert.equal(second.codeBytesSent, 0, 'an unchanged tree sends 0 bytes');
    // A damaged copy (a file missing) is noticed and replaced.
    onHost(sshd, `rm ${code}/big.txt`);
    await ok(['-q', '--host', 'box', '--', 'true'], { cwd: repo });
    assert.equal(onHost(sshd, `wc -c < ${code}/big.txt`).trim(), '100000');
    assert.equal(onHost(sshd, `ls ${remoteDir}/runs | wc -l`).trim(), '0', '--leave code removes run directories');
    await ok(['-q', '--host', 'box', '--leave', 'none', '--', 'true'], { cwd: repo });
    assert.equal(onHost(sshd, `ls ${remoteDir}/code | wc -l`).trim(), '0', '--leave none removes the cached code too');
    await ok(['-q', '--host', 'box', '--leave', 'all', '--', 'true'], { cwd: repo });
    assert.equal(onHost(sshd, `ls ${remoteDir}/runs | wc -l`).trim(), '1', '--leave all keeps the run directory');
  });

  it('takes few SSH sessions per run: short steps and small outputs go through one control shell', async () => {
    const { repo } = remoteRepo('ssh-sessions', { 'a.txt': 'a' });
    const sessions = () => (readFileSync(path.join(sshd.dir, 'sshd.log'), 'utf8').match(/Starting session: command/g) ?? []).length;
    const before = sessions();
    await ok(['-q', '--host', 'box', '--', 'sh', '-c', 'sleep 1; echo done > out.txt'], { cwd: repo });
    // The control shell, and the stream that sends the code and starts the command; small outputs come back through the control shell.
    assert.equal(sessions() - before, 2, 'a run with a first send opens two sessions, however long it polls');
    const j = await showJson(repo, runIds(repo)[0]!);
    assert.equal(j.status, 'succeeded');
    assert.deepEqual(j.outputs.map((o: any) => o.path), ['out.txt']);
    // Outputs over 16 MiB get a stream of their own. The code is cached (--leave code, the default): no send stream.
    const mid = sessions();
    await ok(['-q', '--host', 'box', '--', 'sh', '-c', 'head -c 17000000 /dev/zero > big.bin; echo small > s.txt'], { cwd: repo });
    assert.equal(sessions() - mid, 2, 'cached code, large outputs: the control shell and a stream for the outputs');
    const big = await showJson(repo, runIds(repo).find((i) => i !== j.id)!);
    assert.deepEqual(big.outputs.map((o: any) => [o.path, o.size]), [['big.bin', 17000000], ['s.txt', 6]]);
  });

  it('a run whose code cannot be put on the host fails with the reason, not lost', async () => {
    // /dev/null is a file: no directory can be made under it, not even by root.
    const { repo } = remoteRepo('ssh-nostart', { 'a.txt': 'a' }, { remote_dir: '/dev/null/git-run' });
    const r = await gitRun(['-q', '--host', 'box', '--', 'true'], { cwd: repo });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /failed: could not start on box: .*Not a directory/, '-q still says why');
    const j = await showJson(repo, runIds(repo)[0]!);
    assert.equal(j.status, 'failed', 'a run that never started failed; it is not lost');
    assert.match(j.error, /could not start on box: .*Not a directory/);
    assert.equal(j.exitCode, null);
  });

  it('applies .sendignore and .fetchignore as the transfer table says', async () => {
    const { repo, remoteDir } = remoteRepo('ssh-ignore', { 'data.bin': 'data', 'a.txt': 'a', 'run.sh': 'echo changed > a.txt; echo new > new.txt; echo c > c.ckpt\n' });
    writeFiles(repo, { '.sendignore': 'data.bin\n' });
    await ok(['-q', '--host', 'box', '--leave', 'all', '--', 'sh', 'run.sh'], { cwd: repo });
    let j = await showJson(repo, runIds(repo)[0]!);
    assert.equal(onHost(sshd, `test -e ${remoteDir}/code/${j.code.tree}/data.bin && echo yes || echo no`).trim(), 'no', 'not sent');
    assert.deepEqual(j.outputs.map((o: any) => o.path).sort(), ['c.ckpt', 'new.txt'], 'only .sendignore: sent files are not fetched back');
    writeFiles(repo, { '.fetchignore': '*.ckpt\n' });
    await ok(['-q', '--host', 'box', '--', 'sh', 'run.sh'], { cwd: repo });
    j = await showJson(repo, runIds(repo).find((i) => i !== j.id)!);
    assert.deepEqual(j.outputs.map((o: any) => o.path).sort(), ['a.txt', 'new.txt'], 'both: .fetchignore rejects');
  });

  it('hostile parameter values arrive byte-exact on the remote', async () => {
    const { repo } = remoteRepo('ssh-hostile', { 'echo.js': 'process.stdout.write(JSON.stringify({argv: process.argv.slice(2), env: process.env.GIT_RUN_PARAM_v}))' });
    const values = [`'; touch /tmp/pwned-${process.pid}; '`, '$(id)', '`id`', 'a\nb', '-rf', '"q"', ' sp ', 'ünï✓', '\\', '*'];
    for (const v of values) {
      const r = await ok(['-q', '--host', 'box', '-p', `v=${v}`, '--', 'node', 'echo.js', '{v}', v], { cwd: repo });
      const got = JSON.parse(r.stdout);
      assert.deepEqual(got.argv, [v, v]);
      assert.equal(got.env, v);
    }
    assert.equal(onHost(sshd, `test -e /tmp/pwned-${process.pid} && echo yes || echo no`).trim(), 'no');
  });

  it('a killed client leaves the remote run going; the next reader reattaches and records it', async () => {
    const { repo, remoteDir } = remoteRepo('ssh-reattach', { 'slow.sh': 'sleep 2; echo done > out.txt; echo finished\n' });
    let killed = false;
    const r = await gitRun(['--host', 'box', '--', 'sh', 'slow.sh'], {
      cwd: repo,
      onSpawn: (child) => {
        // Kill the client once the command is running on the host.
        const t = setInterval(() => {
          if (!killed && onHost(sshd, `ls ${remoteDir}/runs/*/pid 2>/dev/null | wc -l`).trim() === '1') {
            killed = true;
            child.kill('SIGKILL');
            clearInterval(t);
          }
        }, 100);
      },
    });
    assert.equal(r.signal, 'SIGKILL');
    const id = runIds(repo)[0]!;
    await until('finished remotely and recorded', async () => (await showJson(repo, id)).status === 'succeeded', 20000);
    const j = await showJson(repo, id);
    assert.deepEqual(j.outputs.map((o: any) => o.path), ['out.txt']);
    assert.equal(git(repo, "show", `refs/runs/${id}:logs/stdout`), 'finished');
  });

  it('cancel kills the remote process group; logs -f streams remote output', async () => {
    const { repo } = remoteRepo('ssh-cancel');
    const id = (await ok(['-d', '--host', 'box', '--', 'sh', '-c', 'for i in 1 2 3; do echo tick $i; sleep 0.2; done; sleep 61'], { cwd: repo })).stdout.trim();
    await until('running', async () => (await showJson(repo, id)).status === 'running', 20000);
    await until('ticking', async () => (await gitRun(['logs', id], { cwd: repo })).stdout.includes('tick 1'), 20000);
    const c = await ok(['cancel', '--grace', '1', id], { cwd: repo });
    assert.match(c.stdout, /cancelled/);
    const j = await showJson(repo, id);
    assert.equal(j.status, 'cancelled');
    assert.equal(git(repo, "show", `refs/runs/${id}:logs/stdout`), 'tick 1\ntick 2\ntick 3');
    // (sleep 61: another test leaves a sleep 60 of its own on this machine.)
    await until('the remote process group is gone', () => onHost(sshd, `pgrep -f "sleep [6]1" || echo none`).trim() === 'none', 10000);
  });

  it('a sweep runs on the host over one connection, with the same records', async () => {
    const { repo } = remoteRepo('ssh-sweep', { 'd.json': JSON.stringify({ command: ['sh', '-c', 'echo {x} > x.txt'], params: { x: { values: [1, 2, 3] } }, seed: 1 }) }, { max_parallel: 2 });
    const logins = () => readFileSync(path.join(sshd.dir, 'sshd.log'), 'utf8').split('\n').filter((l) => l.includes('Accepted publickey')).length;
    const before = logins();
    const g = JSON.parse((await ok(['submit', '--json', '--host', 'box', 'd.json'], { cwd: repo })).stdout);
    assert.equal(logins() - before, 1, 'one connection for the whole sweep');
    assert.equal(g.status, 'succeeded');
    for (const id of g.children) {
      const k = await showJson(repo, id);
      assert.equal((await ok(['cat', `${id}:x.txt`], { cwd: repo })).stdout, `${k.params.x}\n`);
    }
  });

  it('logs -f follows a remote run to its end', async () => {
    const { repo } = remoteRepo('ssh-follow');
    const id = (await ok(['-d', '--host', 'box', '--', 'sh', '-c', 'for i in 1 2 3 4; do echo line $i; sleep 0.3; done'], { cwd: repo })).stdout.trim();
    const f = await ok(['logs', '-f', id], { cwd: repo });
    assert.equal(f.stdout, 'line 1\nline 2\nline 3\nline 4\n');
    assert.equal((await showJson(repo, id)).status, 'succeeded');
  });

  it('a run that vanished from the host without an exit status becomes lost, never failed', async () => {
    const { repo, remoteDir } = remoteRepo('ssh-lost');
    const id = (await ok(['-d', '--host', 'box', '--', 'sleep', '30'], { cwd: repo })).stdout.trim();
    await until('started remotely', () => onHost(sshd, `cat ${remoteDir}/runs/*/pid 2>/dev/null || true`).trim() !== '');
    // The supervisor (a local process) and the remote wrapper and command all die.
    const sup = JSON.parse(git(repo, 'show', `refs/runs/${id}:state.json`)).handle.supervisor.pid;
    process.kill(sup, 'SIGKILL');
    onHost(sshd, `for f in ${remoteDir}/runs/*/wrapper ${remoteDir}/runs/*/pid; do kill -s KILL -- -$(cat $f); done; true`);
    await until('lost', async () => (await showJson(repo, id)).status === 'lost');
    const j = await showJson(repo, id);
    assert.equal(j.exitCode, null);
    assert.match(j.error, /left no exit status/);
  });

  it('an output refused at its header stops the transfer: the channel closes and the remote tar is killed, nothing drained', async () => {
    const { repo, remoteDir } = remoteRepo('ssh-sparse', { 'a.txt': 'a' });
    // 1 TiB of holes: refused at its header (over the 8 GiB cap per file); draining it would take many minutes.
    const t0 = Date.now();
    const r = await gitRun(['-q', '--host', 'box', '--', 'sh', '-c', 'truncate -s 1T huge.bin && echo small > s.txt'], { cwd: repo });
    const took = Date.now() - t0;
    assert.notEqual(r.code, 0, 'not a success');
    const j = await showJson(repo, runIds(repo)[0]!);
    assert.equal(j.status, 'failed');
    assert.equal(j.exitCode, 0, 'the command itself succeeded');
    assert.match(j.error, /refused: .*huge\.bin.*over the cap/);
    assert.deepEqual(j.outputs, []);
    // Reading 1 TiB through ssh takes far longer than this at any speed this machine has (a drain of 20 GB took 100 s).
    assert.ok(took < 90_000, `the run ended in ${took} ms`);
    // The tar's command line names this run's list ("-T <remote_dir>/runs/<id>/changed"); [-] keeps pgrep's own shell from matching.
    assert.equal(onHost(sshd, `pgrep -f -- '[-]T ${remoteDir}/' || true`).trim(), '', 'no remote tar left reading');
  });

  it('the code cache never shares files with a run directory: a file changed in place does not change what the next run executes', async () => {
    const { repo, remoteDir } = remoteRepo('ssh-cache-copy', { 'code.sh': 'echo original\n' }, { leave: 'code' });
    // The first run rewrites its copy of code.sh in place (same size, same inode, no rename).
    await ok(['-q', '--host', 'box', '--', 'sh', '-c', "printf 'echo modified\\n' 1<> code.sh; sh code.sh"], { cwd: repo });
    const first = await showJson(repo, runIds(repo)[0]!);
    assert.equal(git(repo, 'show', `refs/runs/${first.id}:logs/stdout`), 'modified');
    const tree = git(repo, 'rev-parse', 'HEAD^{tree}');
    assert.equal(onHost(sshd, `cat ${remoteDir}/code/${tree}/code.sh`), 'echo original\n', 'the cache is untouched');
    const r = await ok(['--host', 'box', '--', 'sh', 'code.sh'], { cwd: repo });
    assert.equal(r.stdout, 'original\n', 'the next run of the same tree runs the recorded code');
    const second = (await Promise.all(runIds(repo).map((id) => showJson(repo, id)))).find((x) => x.id !== first.id)!;
    assert.equal(second.codeBytesSent, 0, 'it came from the cache');
  });

  it('a host that cannot be reached is tried once per process, not once per run', async function () {
    // A server that accepts and never says a word: each attempt waits for the connect timeout (2 s here).
    let attempts = 0;
    const silent = net.createServer(() => attempts++);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as net.AddressInfo).port;
    const config = path.join(sshd.dir, `ssh_config-unreachable-${process.pid}`);
    writeFileSync(config, readFileSync(sshd.config, 'utf8'));
    const { repo } = remoteRepo('ssh-unreachable', {}, { ssh_config: config });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await ok(['-d', '--host', 'box', '-p', `i=${i}`, '--', 'sleep', '30'], { cwd: repo })).stdout.trim());
      await until('all three running', async () => (await Promise.all(ids.map((id) => showJson(repo, id)))).every((j) => j.status === 'running') || null, 30000);
      // The host goes silent for newcomers (the supervisors keep their open connections).
      writeFileSync(config, readFileSync(sshd.config, 'utf8').replace(/Port \d+/, `Port ${port}`) + 'Host *\n  ConnectTimeout 2\n');
      const st = await ok(['status'], { cwd: repo });
      assert.equal(st.stdout.split('\n').filter((l) => /running/.test(l) && /sleep 30/.test(l)).length, 3, st.stdout);
      assert.equal(attempts, 1, 'one connection attempt for three runs on the host (not one connect timeout each)');
    } finally {
      writeFileSync(config, readFileSync(sshd.config, 'utf8'));
      for (const id of runIds(repo)) await gitRun(['cancel', '--grace', '0', id], { cwd: repo });
      silent.close();
    }
  });

  it('ProxyJump and the ssh agent work as OpenSSH configures them', async () => {
    const { execFileSync } = await import('node:child_process');
    const agentOut = execFileSync('ssh-agent', ['-s'], { encoding: 'utf8' });
    const sock = /SSH_AUTH_SOCK=([^;]+);/.exec(agentOut)![1]!;
    const agentPid = Number(/SSH_AGENT_PID=(\d+);/.exec(agentOut)![1]);
    try {
      execFileSync('ssh-add', [path.join(sshd.dir, 'client_ed25519')], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      const cfg = path.join(sshd.dir, 'jump_config');
      writeFileSync(cfg, readFileSync(sshd.config, 'utf8') + [
        'Host jumped',
        '  HostName 127.0.0.1',
        `  Port ${sshd.port}`,
        '  User root',
        '  ProxyJump testhost',
        `  UserKnownHostsFile ${sshd.knownHosts}`,
        '  GlobalKnownHostsFile /dev/null',
        '  IdentityFile /nonexistent',
        '',
      ].join('\n'));
      const repo = makeRepo('ssh-jump', { '.runconfig': JSON.stringify({ hosts: { far: { type: 'ssh', host: 'jumped', ssh_config: cfg, remote_dir: `/tmp/git-run-remote-jump-${process.pid}` } } }) });
      const r = await gitRun(['--host', 'far', '--', 'echo', 'through the jump'], { cwd: repo, env: { SSH_AUTH_SOCK: sock } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'through the jump\n');
    } finally {
      process.kill(agentPid, 'SIGTERM');
    }
  });

  it('--on-local runs the profile here, without transfer', async () => {
    const { repo, remoteDir } = remoteRepo('ssh-onlocal');
    await ok(['-q', '--host', 'box', '--on-local', '--', 'true'], { cwd: repo });
    assert.equal(onHost(sshd, `test -e ${remoteDir} && echo yes || echo no`).trim(), 'no');
    assert.equal((await showJson(repo, runIds(repo)[0]!)).status, 'succeeded');
  });

  it('refuses an unknown or changed host key before authenticating, and writes nothing', async () => {
    const { repo } = remoteRepo('ssh-hostkey');
    const before = refState(repo);
    const saved = (await import('node:fs')).readFileSync(sshd.knownHosts, 'utf8');
    try {
      writeFileSync(sshd.knownHosts, '');
      let r = await gitRun(['--host', 'box', '--', 'true'], { cwd: repo });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /host key of \[127\.0\.0\.1\]:\d+ is not in known_hosts.*refused before authenticating/);
      assert.match(r.stderr, /hint: .*ssh-keyscan/);
      const other = path.join(sshd.dir, 'other');
      (await import('node:child_process')).execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
      writeFileSync(sshd.knownHosts, `[127.0.0.1]:${sshd.port} ${(await import('node:fs')).readFileSync(other + '.pub', 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
      const logBefore = onHostLogLines();
      r = await gitRun(['--host', 'box', '--', 'true'], { cwd: repo });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /does not match known_hosts .*CHANGED/);
      assert.match(r.stderr, /ssh-keygen -R/);
      assert.equal(onHostLogLines().filter((l) => /Accepted|publickey/.test(l)).length, logBefore.filter((l) => /Accepted|publickey/.test(l)).length, 'no authentication was attempted');
    } finally {
      writeFileSync(sshd.knownHosts, saved);
    }
    assert.equal(refState(repo), before);
    function onHostLogLines() {
      return readFileSync(path.join(sshd.dir, 'sshd.log'), 'utf8').split('\n');
    }
  });

  it('rejects host and user names that could be taken for options', async () => {
    const { repo } = remoteRepo('ssh-badname', {}, { host: '-oProxyCommand=touch /tmp/x' });
    const before = refState(repo);
    const r = await gitRun(['--host', 'box', '--', 'true'], { cwd: repo });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid host "-oProxyCommand=touch \/tmp\/x"/);
    assert.equal(refState(repo), before);
    void nodeCmd;
  });
});
