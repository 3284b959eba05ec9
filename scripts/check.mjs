#!/usr/bin/env node
// Everything a commit must pass, in order; each step says how to fix what fails.
//   node scripts/check.mjs      (or: npm run check)
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

step('lint: architecture rules', 'keep each rule named in the message', () => {
  const problems = [];
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
    if (rel.startsWith('src/cli/') && /from '\.\.\/\.\.\/(store|git|executors)\//.test(text)) problems.push(`${rel}: the CLI calls the api layer only`);
  }
  for (const [pkg, users] of importers) if (users.length > 1) problems.push(`${pkg} is imported in ${users.length} modules (${users.join(', ')}): import each package in one module`);
  return problems;
});

step('tests', 'run `npx mocha` for the full report; each test names its repository in the temp dir (KEEP_TEST_REPOS=1 keeps them)', () => run('npm', ['test']));

process.exit(failed ? 1 : 0);
