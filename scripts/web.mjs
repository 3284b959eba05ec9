#!/usr/bin/env node
// The web page of `git run ui`, built into dist/ui: the TypeScript typechecked against the DOM,
// bundled with uPlot into one script, uPlot's CSS appended to ours; nothing fetched at run time (clusters are offline).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const web = path.join(root, 'src/ui/web');
const out = path.join(root, 'dist/ui');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(web, 'tsconfig.json')]);
mkdirSync(out, { recursive: true });
run(process.execPath, [path.join(root, 'node_modules/esbuild/bin/esbuild'), path.join(web, 'app.ts'), '--bundle', '--minify', '--format=iife', '--target=es2020', '--log-level=warning', `--outfile=${path.join(out, 'app.js')}`]);
writeFileSync(path.join(out, 'app.css'), readFileSync(path.join(web, 'style.css'), 'utf8') + readFileSync(path.join(root, 'node_modules/uplot/dist/uPlot.min.css'), 'utf8'));
copyFileSync(path.join(web, 'index.html'), path.join(out, 'index.html'));
