#!/usr/bin/env node
// The executable (decision 0024): dist/bundle/git-run.cjs, the tsc output bundled by esbuild into one CommonJS file,
// its V8 code cache dist/bundle/git-run.cache, and dist/git-run.cjs (package.json's bin), a few lines that compile the
// bundle with that cache. Compiling the 770 KB bundle was most of a launch after node's own start; with the cache
// V8 deserializes the functions a run uses instead. The cache is made here, by running `git run -q -- true` once in a
// temporary repository; it is used only with the exact bundle it was made from (its sha256 comes first), and V8
// itself refuses it under another node or other flags: then the bundle is compiled as before.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const out = path.join(root, 'dist/bundle');
const bundle = path.join(out, 'git-run.cjs');
const cache = path.join(out, 'git-run.cache');
rmSync(out, { recursive: true, force: true });
const r = spawnSync(
  process.execPath,
  [
    path.join(root, 'node_modules/esbuild/bin/esbuild'),
    path.join(root, 'dist/src/bin/git-run.js'),
    '--bundle',
    '--format=cjs',
    '--platform=node',
    '--target=node20',
    '--packages=external',
    '--log-level=warning',
    '--log-override:empty-import-meta=silent',
    // import() of a package becomes require(): the bundle runs as a vm.Script, which has no module loader of its own.
    '--supported:dynamic-import=false',
    `--outfile=${bundle}`,
  ],
  { cwd: root, stdio: 'inherit' },
);
if (r.status !== 0) process.exit(r.status ?? 1);
// The bundle is compiled inside a function wrapper, where a #! line is a syntax error.
writeFileSync(bundle, readFileSync(bundle, 'utf8').replace(/^#!.*/, ''));

const entry = path.join(root, 'dist/git-run.cjs');
writeFileSync(
  entry,
  `#!/usr/bin/env node
// git-run's entry: compiles ./bundle/git-run.cjs with the V8 code cache the build made for it (scripts/bundle.mjs,
// decision 0024). Detached supervisors and hooks start this file again by its path (process.argv[1]).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const crypto = require('node:crypto');
const Module = require('node:module');
const file = path.join(__dirname, 'bundle', 'git-run.cjs');
let source;
try {
  source = fs.readFileSync(file, 'utf8');
} catch (e) {
  process.stderr.write(\`git-run: cannot load \${file}: \${e.message}\\nhint: rebuild git-run (\\\`npm run build\\\`)\\n\`);
  process.exit(70);
}
const hash = crypto.createHash('sha256').update(source).digest();
let cachedData;
try {
  // Only the cache of this very bundle: V8 itself checks the node version and flags, not the source's bytes.
  const c = fs.readFileSync(path.join(__dirname, 'bundle', 'git-run.cache'));
  if (c.subarray(0, 32).equals(hash)) cachedData = c.subarray(32);
} catch {
  // No cache: compiled as any script is.
}
const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
const cacheOut = process.env.GIT_RUN_WRITE_CODE_CACHE;
// The build's one run writes what V8 compiled by the end of it.
if (cacheOut) process.once('exit', () => fs.writeFileSync(cacheOut, Buffer.concat([hash, script.createCachedData()])));
const m = new Module(file, module);
m.filename = file;
m.paths = Module._nodeModulePaths(path.dirname(file));
script.runInThisContext()(m.exports, Module.createRequire(file), m, file, path.dirname(file));
`,
);
chmodSync(entry, 0o755);

// The cache: what a plain run compiles (the launch path), made by one run in a throwaway repository.
const tmp = mkdtempSync(path.join(os.tmpdir(), 'git-run-code-cache-'));
try {
  const env = { ...process.env, GIT_AUTHOR_NAME: 'build', GIT_AUTHOR_EMAIL: 'build@localhost', GIT_COMMITTER_NAME: 'build', GIT_COMMITTER_EMAIL: 'build@localhost', GIT_CONFIG_NOSYSTEM: '1', HOME: tmp, XDG_CONFIG_HOME: tmp, GIT_RUN_ENV_KEY_FILE: path.join(tmp, 'env-key'), GIT_RUN_WRITE_CODE_CACHE: cache };
  for (const v of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE']) delete env[v];
  const repo = path.join(tmp, 'repo');
  mkdirSync(repo);
  const git = (...args) => spawnSync('git', args, { cwd: repo, env, stdio: 'ignore' }).status === 0;
  writeFileSync(path.join(repo, 'a.txt'), 'a\n');
  const made = git('init', '-q') && git('add', '-A') && git('commit', '-q', '-m', 'cache') && spawnSync(process.execPath, [entry, '-q', '--', 'true'], { cwd: repo, env, stdio: 'ignore' }).status === 0;
  // Without a cache git-run works as well, only slower to start: the build goes on.
  if (!made || !existsSync(cache)) console.warn('scripts/bundle.mjs: no code cache was made (git-run will compile its bundle at every start)');
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
