#!/usr/bin/env node
// The executable: dist/git-run.cjs (package.json's bin) and the code it loads, dist/bundle/ (decision 0024).
// The tsc output is bundled as ES modules split into chunks, so that a command loads only the code it reaches:
// `git run -- cmd` parses the run path (some 250 KB), not the query language, the index, the daemon, the UI
// server or clipanion's 29 subcommands, which come in by import() where they are needed. One bundle in one
// file made every launch compile all of it (700 KB+, most of `git-run --version`'s 280 ms on this machine).
// dist/git-run.cjs stays the one entry (hooks and detached supervisors name it, tests run it): a few lines
// that import the entry chunk.
import { spawnSync } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const out = path.join(root, 'dist/bundle');
// Chunk names carry a hash: the last build's chunks would pile up beside the new ones.
rmSync(out, { recursive: true, force: true });
const r = spawnSync(
  process.execPath,
  [
    path.join(root, 'node_modules/esbuild/bin/esbuild'),
    path.join(root, 'dist/src/bin/git-run.js'),
    '--bundle',
    '--splitting',
    '--format=esm',
    '--platform=node',
    '--target=node20',
    '--packages=external',
    '--log-level=warning',
    '--entry-names=[name]',
    '--chunk-names=[name]-[hash]',
    `--outdir=${out}`,
  ],
  { cwd: root, stdio: 'inherit' },
);
if (r.status !== 0) process.exit(r.status ?? 1);
const entry = path.join(root, 'dist/git-run.cjs');
writeFileSync(
  entry,
  [
    '#!/usr/bin/env node',
    '// git-run: the code is in ./bundle/ (ES modules, split so that each command loads only what it needs; see',
    '// scripts/bundle.mjs). Detached supervisors and hooks start this file again by its path (process.argv[1]).',
    "'use strict';",
    "import('./bundle/git-run.js').catch((e) => {",
    "  process.stderr.write(`git-run: cannot load ${__dirname}/bundle/git-run.js: ${e && e.message}\\nhint: rebuild git-run (\\`npm run build\\`)\\n`);",
    '  process.exitCode = 70;',
    '});',
    '',
  ].join('\n'),
);
chmodSync(entry, 0o755);
