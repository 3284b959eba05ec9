import assert from 'node:assert/strict';
/**
 * The launch (decision 0024): `git run -- cmd` on the local executor loads no
 * package (clipanion, better-sqlite3, ssh2, tar, node-cron) and runs no code
 * of the other subcommands' modules; the entry compiles the bundle with the
 * build's code cache, made for that very bundle, and does without it when it
 * does not match. A preloaded module (node's --require, through NODE_OPTIONS)
 * writes every module name the real CLI requires to a file.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { ENV, ROOT, makeRepo, ok, gitRun, tmpdir, runIds } from './helpers.js';

const ENTRY = path.join(ROOT, 'dist', 'git-run.cjs');
const BUNDLE = path.join(ROOT, 'dist', 'bundle', 'git-run.cjs');
const CACHE = path.join(ROOT, 'dist', 'bundle', 'git-run.cache');

/** The modules the CLI required while running `args`, and its result. */
async function requiredBy(args: string[], cwd: string): Promise<{ names: string[]; code: number | null; stderr: string }> {
  const dir = tmpdir('launch-hook');
  const log = path.join(dir, 'required');
  writeFileSync(log, '');
  const hook = path.join(dir, 'hook.cjs');
  writeFileSync(
    hook,
    `const Module = require('node:module');
const { appendFileSync } = require('node:fs');
const load = Module._load;
Module._load = function (request, ...rest) {
  appendFileSync(${JSON.stringify(log)}, request + '\\n');
  return load.call(this, request, ...rest);
};\n`,
  );
  const r = await gitRun(args, { cwd, env: { NODE_OPTIONS: `--require=${hook}` } });
  return { names: [...new Set(readFileSync(log, 'utf8').split('\n').filter(Boolean))], code: r.code, stderr: r.stderr };
}

/** A copy of the built entry and bundle in a directory of its own (packages still resolve: the copy is given the repository's node_modules path). */
function copyOfBuild(label: string, cache: Buffer | null): string {
  const dir = path.join(tmpdir(label), 'dist');
  mkdirSync(path.join(dir, 'bundle'), { recursive: true });
  copyFileSync(ENTRY, path.join(dir, 'git-run.cjs'));
  copyFileSync(BUNDLE, path.join(dir, 'bundle', 'git-run.cjs'));
  if (cache) writeFileSync(path.join(dir, 'bundle', 'git-run.cache'), cache);
  return path.join(dir, 'git-run.cjs');
}

const runCopy = (entry: string, args: string[], cwd: string) =>
  spawnSync(process.execPath, [entry, ...args], { cwd, env: { ...ENV, NODE_PATH: path.join(ROOT, 'node_modules') }, encoding: 'utf8' });

describe('the launch (decision 0024)', function () {
  it('git run -q -- true requires no package; log --where requires the index and clipanion', async function () {
    const repo = makeRepo('launch-loads', { 'a.txt': 'a\n' });
    const run = await requiredBy(['-q', '--', 'true'], repo);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(runIds(repo).length, 1, 'the run is recorded');
    assert.ok(run.names.includes('node:vm'), `the hook saw the entry's requires: ${run.names.join(' ')}`);
    assert.deepEqual(run.names.filter((n) => !n.startsWith('node:') && !path.isAbsolute(n)), [], 'no package on the path of a local run');

    // The same hook sees the heavy parts where they belong: it can tell.
    await ok(['-q', '--', 'true'], { cwd: repo });
    const log = await requiredBy(['log', '-n', '1', '--where', 'params.x > 1'], repo);
    assert.ok(log.names.includes('better-sqlite3'), `log --where opens the index: ${log.names.join(' ')}`);
    assert.ok(log.names.includes('clipanion'), 'a subcommand other than run loads clipanion');
  });

  it('the build made a code cache for this very bundle; a cache of other bytes is not used, a missing bundle is named', async function () {
    const cache = readFileSync(CACHE);
    assert.deepEqual(cache.subarray(0, 32), createHash('sha256').update(readFileSync(BUNDLE, 'utf8')).digest(), 'the cache begins with the sha256 of the bundle it was made from');
    assert.ok(cache.length > 32 + 10_000, `the cache holds V8's data (${cache.length} bytes)`);

    const repo = makeRepo('launch-cache', { 'a.txt': 'a\n' });
    // A cache made for other bytes (its hash does not match), and garbage behind the right hash: both runs still work.
    const other = Buffer.concat([createHash('sha256').update('another bundle').digest(), cache.subarray(32)]);
    const garbage = Buffer.concat([cache.subarray(0, 32), Buffer.alloc(4096, 0x5a)]);
    for (const [label, c] of [['launch-other-cache', other], ['launch-garbage-cache', garbage], ['launch-no-cache', null]] as const) {
      const r = runCopy(copyOfBuild(label, c), ['-q', '--', 'sh', '-c', 'echo ran > out.txt'], repo);
      assert.equal(r.status, 0, `${label}: ${r.stderr}`);
    }
    assert.equal(runIds(repo).length, 3);

    const entry = path.join(tmpdir('launch-entry'), 'git-run.cjs');
    copyFileSync(ENTRY, entry);
    const r = runCopy(entry, ['--version'], repo);
    assert.equal(r.status, 70);
    assert.match(r.stderr, /^git-run: cannot load .*\/bundle\/git-run\.cjs: .*\nhint: rebuild git-run \(`npm run build`\)\n$/);
  });
});
