#!/usr/bin/env node
// Everything a commit must pass, in order; each step says how to fix what fails.
//   node scripts/check.mjs      (or: npm run check)
//   node scripts/check.mjs --no-tests   (typecheck and lint only, while working)
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
let failed = false;
const step = (name, fix, fn) => {
  process.stdout.write(`== ${name}\n`);
  const problems = fn();
  if (problems.length) {
    failed = true;
    for (const p of problems) process.stdout.write(`  ${p}\n`);
    process.stdout.write(`  fix: ${fix}\n`);
  }
};
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  return r.status === 0 ? [] : [`${cmd} ${args.join(' ')} exited ${r.status}`];
};
const files = (dir) =>
  readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });

step('typecheck', 'read the compiler errors above; the project is strict TypeScript', () => run('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']));

// Where executors are reached only through their registry, and no code asks which type a host is.
const SEAM_BOUND = ['src/api/', 'src/daemon/', 'src/cli/'];
// isRemote(...), x.type === 'ssh', 'local' !== y.type, a 'local' | 'ssh' union...
const HOST_TYPE_BRANCH = /\bisRemote\b|\btype\s*[!=]==?\s*['"](ssh|local|slurm)['"]|['"](ssh|local|slurm)['"]\s*[!=]==?\s*[\w.?]*type\b|['"](local|ssh)['"]\s*\|\s*['"](local|ssh)['"]|\.executor\s*[!=]==?\s*['"]/;
// A git argument vector: repo.git([...]), repo.text([...]), spawnGit([...]), git([...]) and the like.
const GIT_ARGV = /\b(?:repo|r|this\.repo)\.(?:git|text|lines)\(\s*\[|\b(?:spawnGit|spawnGitDetached|gitText|git)\(\s*\[/;
const importsOf = (text) => [...text.matchAll(/^(?:import|export) [^;]*? from '(\.[^']*)';$/gms)].map((m) => m[1]);

step('lint: architecture rules', 'keep each rule named in the message', () => {
  const problems = [];
  const gitArgv = [];
  const importers = new Map();
  for (const f of files(path.join(root, 'src'))) {
    const rel = path.relative(root, f);
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/^import .* from '([^.][^']*)';$/gm)) {
      const pkg = m[1].startsWith('node:') ? null : m[1].split('/')[0];
      if (pkg) importers.set(pkg, [...(importers.get(pkg) ?? []), rel]);
    }
    if (/console\.(log|error|warn)\(/.test(text)) problems.push(`${rel}: prints with console: the library never prints; the CLI writes to its context streams`);
    // child_process's exec/execSync and shell: true run a local shell. Methods named exec (an ssh channel,
    // whose protocol takes one command string, every outside value shQuote'd; SQLite) are not this.
    if (/shell:\s*true|(?<![.\w])execSync?\(/.test(text)) problems.push(`${rel}: builds a shell command from a string: use an argument vector`);
    if (rel.startsWith('src/') && !rel.startsWith('src/git/') && /from 'node:child_process'/.test(text) && /['"]git['"]/.test(text)) {
      problems.push(`${rel}: starts git outside src/git/: go through the gateway`);
    }
    for (const spec of importsOf(text)) {
      const target = path.relative(root, path.resolve(path.dirname(f), spec)).replace(/\.js$/, '.ts');
      // The CLI reaches the library through src/api/ (at any depth: src/cli/x.ts and src/cli/commands/x.ts alike).
      if (rel.startsWith('src/cli/') && /^src\/(store|git|executors|transport)\//.test(target)) problems.push(`${rel}: imports ${target}: the CLI calls the api layer only`);
      // Executors are reached through their registry (src/executors/index.ts) only.
      if (SEAM_BOUND.some((d) => rel.startsWith(d)) && target.startsWith('src/executors/') && target !== 'src/executors/index.ts') {
        problems.push(`${rel}: imports ${target}, an executor's internals: go through the registry (src/executors/index.ts)`);
      }
      if (SEAM_BOUND.some((d) => rel.startsWith(d)) && target.startsWith('src/transport/')) problems.push(`${rel}: imports ${target}: transports belong to the executors that use them`);
    }
    if (SEAM_BOUND.some((d) => rel.startsWith(d))) {
      for (const [i, line] of text.split('\n').entries()) {
        if (HOST_TYPE_BRANCH.test(line)) problems.push(`${rel}:${i + 1}: branches on a host type (${line.trim().slice(0, 80)}): ask the run's executor (src/executors/index.ts) instead`);
      }
    }
    if (rel.startsWith('src/') && !rel.startsWith('src/git/')) {
      for (const [i, line] of text.split('\n').entries()) {
        if (GIT_ARGV.test(line)) gitArgv.push(`${rel}:${i + 1}: ${line.trim().slice(0, 100)}`);
      }
    }
  }
  for (const g of gitArgv) problems.push(`${g}: a git command line outside src/git/: make it a named function there`);
  for (const [pkg, users] of importers) if (users.length > 1) problems.push(`${pkg} is imported in ${users.length} modules (${users.join(', ')}): import each package in one module`);
  return problems;
});

if (!process.argv.includes('--no-tests')) step('tests', 'run `npx mocha` for the full report; each test names its repository in the temp dir (KEEP_TEST_REPOS=1 keeps them)', () => run('npm', ['test']));

process.exit(failed ? 1 : 0);
