import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, ok, git, runIds, until } from './helpers.js';
import { startSshd, sshdAvailable, onHost, type Sshd } from './sshd.js';

describe('git run gc --host (a real sshd on 127.0.0.1)', function () {
  this.timeout(300000);
  let sshd: Sshd;
  before(async function () {
    if (!sshdAvailable(this)) return;
    sshd = await startSshd();
  });
  after(() => sshd?.stop());

  const env = { SSH_AUTH_SOCK: '' };
  const onBox = (script: string) => onHost(sshd, script).trim();
  const exists = (p: string) => onBox(`test -e '${p}' && echo yes || echo no`) === 'yes';

  it('removes a stale code cache, run directory and input entry; keeps what a running run uses; --dry-run removes nothing', async () => {
    const remoteDir = `/tmp/git-run-remote-gchost-${process.pid}`;
    const flag = `${remoteDir}-flags`;
    onBox(`rm -rf ${remoteDir} ${flag}; mkdir -p ${flag}`);
    const repo = makeRepo('gc-host', {
      '.gitignore': '*.bin\n',
      'a.txt': 'a\n',
      '.runconfig': JSON.stringify({ hosts: { box: { type: 'ssh', host: 'testhost', ssh_config: sshd.config, remote_dir: remoteDir } } }),
    });
    writeFileSync(path.join(repo, 'stale.bin'), 's'.repeat(100000));
    // A finished run that left its directory and code behind (--leave all), on one tree...
    await ok(['-q', '--host', 'box', '--leave', 'all', '-i', 'stale.bin', '--', 'sh', '-c', 'echo done > out.txt'], { cwd: repo, env });
    const stale = runIds(repo)[0]!;
    const staleTree = JSON.parse(git(repo, 'cat-file', 'blob', `${stale}:run.json`)).code.tree as string;
    // ...and a running one on another tree.
    writeFileSync(path.join(repo, 'b.txt'), 'b\n');
    writeFileSync(path.join(repo, 'live.bin'), 'l'.repeat(1000));
    const live = (await ok(['-d', '--host', 'box', '--leave', 'all', '-i', 'live.bin', '--', 'sh', '-c', `touch ${flag}/started; while [ ! -e ${flag}/stop ]; do sleep 0.1; done; cat live.bin | wc -c`], { cwd: repo, env })).stdout.trim();
    await until('the live run to start on the host', () => exists(`${flag}/started`), 120000);
    const liveTree = JSON.parse(git(repo, 'cat-file', 'blob', `${live}:run.json`)).code.tree as string;
    assert.notEqual(liveTree, staleTree);
    const staleOid = git(repo, 'hash-object', 'stale.bin');
    const liveOid = git(repo, 'hash-object', 'live.bin');
    const listing = () => onBox(`cd ${remoteDir} && find . -maxdepth 2 | sort`);
    // The object store holds both trees (the first came by tar and fills it in the background: wait for that).
    const storeRef = (tree: string) => onBox(`git --git-dir=${remoteDir}/store.git rev-parse -q --verify refs/code/${tree} || true`) === tree;
    await until('the store to hold both trees', () => storeRef(staleTree) && storeRef(liveTree) && onBox(`ls -d ${remoteDir}/.fill-* 2>/dev/null | wc -l`) === '0', 120000);
    const before = listing();
    for (const p of [`code/${staleTree}`, `code/${liveTree}`, `runs/${stale}`, `runs/${live}`, `inputs/${staleOid}`, `inputs/${liveOid}`]) assert.ok(before.includes(`./${p}`), `${p} in\n${before}`);

    const dry = JSON.parse((await ok(['gc', '--host', 'box', '--prune', 'now', '--dry-run', '--json'], { cwd: repo, env })).stdout);
    assert.equal(listing(), before, 'a dry run removes nothing');
    // (The stale input is still linked from the stale run directory, which a dry run leaves: it is not counted yet.)
    assert.deepEqual(dry.removed, { code: 3, runs: 1, inputs: 0, other: 0 }, JSON.stringify(dry));

    const r = await ok(['gc', '--host', 'box', '--prune', 'now'], { cwd: repo, env });
    assert.match(r.stdout, /^removed on box: 3 code caches, 1 run directory, 1 input cache entry; [\d.]+ (KiB|MiB) freed\n$/);
    assert.ok(!exists(`${remoteDir}/code/${staleTree}`) && !exists(`${remoteDir}/code/${staleTree}.ok`), 'the stale code cache and its marker went');
    assert.ok(!exists(`${remoteDir}/runs/${stale}`) && !exists(`${remoteDir}/inputs/${staleOid}`));
    for (const p of [`code/${liveTree}`, `code/${liveTree}.ok`, `runs/${live}`, `inputs/${liveOid}`]) assert.ok(exists(`${remoteDir}/${p}`), `${p} stays`);
    // The store: the stale tree's ref and the objects only it held went; the live tree's stay.
    assert.ok(!storeRef(staleTree) && storeRef(liveTree), 'the stale tree left the store, the live one stays');
    assert.equal(onBox(`git --git-dir=${remoteDir}/store.git cat-file -e ${staleTree} 2>/dev/null && echo yes || echo no`), 'no', 'git gc pruned the stale tree object');
    assert.equal(onBox(`git --git-dir=${remoteDir}/store.git cat-file -t ${liveTree}`), 'tree');
    const json = JSON.parse((await ok(['gc', '--host', 'box', '--prune', 'now', '--json'], { cwd: repo, env })).stdout);
    assert.deepEqual(json.removed, { code: 0, runs: 0, inputs: 0, other: 0 }, 'nothing more to remove');

    // The live run never noticed.
    onBox(`touch ${flag}/stop`);
    await ok(['wait', live], { cwd: repo, env });
    const shown = JSON.parse((await ok(['show', '--json', live], { cwd: repo, env })).stdout);
    assert.equal(shown.status, 'succeeded');
    assert.equal((await ok(['logs', live], { cwd: repo, env })).stdout.trim(), '1000');
    onBox(`rm -rf ${remoteDir} ${flag}`);
  });
});
