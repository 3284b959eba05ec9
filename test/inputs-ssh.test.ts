import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, ok, git, runIds, nodeCmd } from './helpers.js';
import { startSshd, sshdAvailable, onHost, type Sshd } from './sshd.js';

describe('inputs over SSH (a real sshd on 127.0.0.1)', function () {
  let sshd: Sshd;
  before(async function () {
    if (!sshdAvailable(this)) return;
    sshd = await startSshd();
  });
  after(() => sshd?.stop());

  const remoteRepo = (label: string, files: Record<string, string> = {}) => {
    const remoteDir = `/tmp/git-run-remote-${label}-${process.pid}`;
    const repo = makeRepo(label, {
      ...files,
      '.runconfig': JSON.stringify({ hosts: { box: { type: 'ssh', host: 'testhost', ssh_config: sshd.config, remote_dir: remoteDir } } }),
    });
    return { repo, remoteDir };
  };

  async function runOk(repo: string, args: string[]): Promise<{ id: string; stdout: string }> {
    const before = runIds(repo);
    const r = await ok(['-q', ...args], { cwd: repo, env: { SSH_AUTH_SOCK: '' } });
    const made = runIds(repo).filter((i) => !before.includes(i));
    assert.equal(made.length, 1);
    return { id: made[0]!, stdout: r.stdout };
  }

  const result = (repo: string, id: string) => JSON.parse(git(repo, 'cat-file', 'blob', `refs/runs/${id}:result.json`));

  it('trains on an artifact and a gitignored work-tree file on the host: placed at their paths, in $GIT_RUN_INPUTS, sent once per content id, not outputs unless changed', async () => {
    const { repo, remoteDir } = remoteRepo('ssh-inputs', { '.gitignore': '*.bin\n', 'README.md': 'x\n' });
    const big = 'd'.repeat(200000);
    writeFileSync(path.join(repo, 'data.bin'), big);
    const prep = await runOk(repo, ['--host', 'box', '--', 'sh', '-c', 'mkdir -p out/dir && echo prepared > out/data.txt && echo A > out/dir/a']);
    const read = ['sh', '-c', 'cat out/data.txt; cat in/dir/a; wc -c < data.bin; echo "$GIT_RUN_INPUTS"'];
    const a = await runOk(repo, ['--host', 'box', '-i', `${prep.id}:out/data.txt`, '-i', `in/dir=${prep.id}:out/dir`, '-i', 'data.bin', '--', ...read]);
    const lines = a.stdout.split('\n');
    assert.deepEqual(lines.slice(0, 3), ['prepared', 'A', '200000']);
    const env = JSON.parse(lines[3]!);
    assert.deepEqual(env.map((i: { path: string }) => i.path), ['out/data.txt', 'in/dir', 'data.bin']);
    assert.equal(env[2].oid, git(repo, 'hash-object', 'data.bin'));
    assert.equal(env[0].from.run, prep.id);
    assert.ok(result(repo, a.id).inputBytesSent > 200000, 'the first run sent the data');
    assert.equal(git(repo, 'ls-tree', '-r', '--name-only', `refs/runs/${a.id}`, '--', 'outputs'), '', 'inputs left alone are no outputs');
    assert.equal(git(repo, 'rev-parse', `${a.id}^@`), git(repo, 'rev-parse', `refs/runs/${prep.id}`));
    // The host keeps each content id once, read-only.
    const oid = git(repo, 'hash-object', 'data.bin');
    assert.equal(onHost(sshd, `stat -c %a ${remoteDir}/inputs/${oid}`).trim(), '444');
    // A second run on the host sends no input bytes; its command changes one input: that one is an output.
    const b = await runOk(repo, ['--host', 'box', '-i', 'data.bin', '-i', `${prep.id}:out/data.txt`, '--', 'sh', '-c', 'rm -f data.bin; echo mine > data.bin; cat out/data.txt']);
    assert.equal(b.stdout, 'prepared\n');
    assert.equal(result(repo, b.id).inputBytesSent, 0, 'each content id is sent once per host');
    assert.deepEqual(git(repo, 'ls-tree', '-r', '--name-only', `refs/runs/${b.id}`, '--', 'outputs').split('\n'), ['outputs/data.bin']);
    assert.equal(git(repo, 'show', `refs/runs/${b.id}:outputs/data.bin`), 'mine');
    assert.equal(onHost(sshd, `wc -c < ${remoteDir}/inputs/${oid}`).trim(), '200000', 'the host cache is untouched');
  });

  it('a cache entry written in place on the host is sent again', async () => {
    const { repo, remoteDir } = remoteRepo('ssh-inputs-inplace', { '.gitignore': '*.bin\n', 'README.md': 'x\n' });
    writeFileSync(path.join(repo, 'data.bin'), 'original');
    // The command (root here, so 0444 does not stop it) appends to its input in place, through the link.
    await runOk(repo, ['--host', 'box', '-i', 'data.bin', '--', 'sh', '-c', 'chmod u+w data.bin; echo more >> data.bin']);
    const again = await runOk(repo, ['--host', 'box', '-i', 'data.bin', '--', ...nodeCmd('process.stdout.write(require("fs").readFileSync("data.bin"))')]);
    assert.equal(again.stdout, 'original');
    assert.ok(result(repo, again.id).inputBytesSent > 0, 'sent again');
    void remoteDir;
  });
});
