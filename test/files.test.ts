import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, ok, runIds, tmpdir } from './helpers.js';

describe('a run\'s files: cat and checkout', () => {
  it('cat prints an output, or else a file of the code', async () => {
    const repo = makeRepo('cat', { 'train.py': 'code\n', 'conf.txt': 'v1' });
    await ok(['-q', '--', 'node', '-e', `const fs=require('fs');fs.mkdirSync('res');fs.writeFileSync('res/m.txt','model');fs.writeFileSync('conf.txt','v2')`], { cwd: repo });
    const id = runIds(repo)[0]!.slice(0, 6);
    assert.equal((await ok(['cat', `${id}:res/m.txt`], { cwd: repo })).stdout, 'model');
    assert.equal((await ok(['cat', `${id}:conf.txt`], { cwd: repo })).stdout, 'v2', 'outputs over code');
    assert.equal((await ok(['cat', `${id}:train.py`], { cwd: repo })).stdout, 'code\n');
    assert.equal((await ok(['cat', `${id}:./res/m.txt`], { cwd: repo })).stdout, 'model');
  });

  it('checkout writes the run directory as the run left it, or a part of it', async () => {
    const repo = makeRepo('checkout', { 'train.py': 'code\n', 'conf.txt': 'v1', 'sub/x.txt': 'x' });
    await ok(['-q', '--', 'node', '-e', `const fs=require('fs');fs.mkdirSync('res');fs.writeFileSync('res/m.txt','model');fs.writeFileSync('conf.txt','v2')`], { cwd: repo });
    const id = runIds(repo)[0]!;
    const all = path.join(tmpdir('co-all'), 'out');
    await ok(['checkout', id.slice(0, 8), '--to', all], { cwd: repo });
    assert.deepEqual(readdirSync(all).sort(), ['conf.txt', 'res', 'sub', 'train.py']);
    assert.equal(readFileSync(path.join(all, 'conf.txt'), 'utf8'), 'v2');
    const part = path.join(tmpdir('co-part'), 'out');
    await ok(['checkout', id.slice(0, 8), 'res', '--to', part], { cwd: repo });
    assert.deepEqual(readdirSync(part), ['res']);
    assert.equal(readFileSync(path.join(part, 'res/m.txt'), 'utf8'), 'model');
    assert.equal(existsSync(path.join(repo, 'res')), false, 'the work tree is untouched');
  });
});
