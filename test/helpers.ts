import assert from 'node:assert/strict';
/**
 * Test harness: every test gets its own repository in a temporary directory,
 * with user and branch pinned, and drives the real, built CLI. Dates are not
 * pinned: runs record when they happened, and no test compares object ids
 * across repositories (one that needs to sets GIT_AUTHOR_DATE and
 * GIT_COMMITTER_DATE itself).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installed binary: the bundle that package.json's bin names. */
export const CLI = fileURLToPath(new URL('../git-run.cjs', import.meta.url));
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The environment tests run git and git-run with: a fixed identity, no system config, no color. */
export const ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Ada Tester',
  GIT_AUTHOR_EMAIL: 'ada@example.test',
  GIT_COMMITTER_NAME: 'Ada Tester',
  GIT_COMMITTER_EMAIL: 'ada@example.test',
  GIT_CONFIG_NOSYSTEM: '1',
  NO_COLOR: '1',
  // The key of environment hashes (api/envkey.ts): the suite's own, not the developer's ~/.config one.
  GIT_RUN_ENV_KEY_FILE: path.join(os.tmpdir(), `git-run-test-env-key-${process.pid}`),
};
// A hook's variables (or one a developer set) must not point git at another repository; GIT_RUN_SKIP would mute hooks.
for (const v of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_RUN_SKIP']) delete ENV[v];

const made: string[] = [];
after(function () {
  // Hundreds of repositories, some large: on a loaded machine removing them takes longer than a test's timeout (seen: over 60 s at load 12).
  this.timeout(0);
  if (!process.env.KEEP_TEST_REPOS) for (const d of made) rmSync(d, { recursive: true, force: true, maxRetries: 3 });
});

export function tmpdir(label: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), `git-run-${label.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}-`));
  made.push(d);
  return d;
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).replace(/\n$/, '');
}

/** A repository named after the test, with files written and (unless `commit: false`) committed. */
export function makeRepo(label: string, files: Record<string, string> = {}, opts: { commit?: boolean } = {}): string {
  const dir = tmpdir(label);
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'config', 'user.name', 'Ada Tester');
  git(dir, 'config', 'user.email', 'ada@example.test');
  git(dir, 'config', 'commit.gpgsign', 'false');
  writeFiles(dir, files);
  if (opts.commit !== false && Object.keys(files).length) {
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'initial');
  }
  return dir;
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    writeFileSync(path.join(dir, p), content);
  }
}

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export interface RunOpts {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Called with the child once started (to send it signals). */
  onSpawn?: (child: ChildProcess) => void;
}

/** Run the CLI to completion. */
export function gitRun(args: string[], opts: RunOpts): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: { ...ENV, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
    opts.onSpawn?.(child);
  });
}

/** Run the CLI and insist on exit 0. */
export async function ok(args: string[], opts: RunOpts): Promise<Result> {
  const r = await gitRun(args, opts);
  if (r.code !== 0) throw new Error(`git run ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

export async function showJson(cwd: string, id: string): Promise<Record<string, any>> {
  return JSON.parse((await ok(['show', '--json', id], { cwd })).stdout);
}

/** All refs and the notes ref: what "nothing was written" compares. */
export function refState(cwd: string): string {
  return git(cwd, 'for-each-ref', '--format=%(refname) %(objectname)');
}

export function runIds(cwd: string): string[] {
  return git(cwd, 'for-each-ref', '--format=%(refname:lstrip=2)', 'refs/runs/').split('\n').filter(Boolean);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A node one-liner as a command (node is always there; python may not be). */
export const nodeCmd = (src: string) => [process.execPath, '-e', src];

/** Expect exit 2 with `error: <message>` and a `hint:` line (equal to the string, or matching the pattern), nothing else, and nothing written. */
export async function refused(repo: string, args: string[], message: string, hint: string | RegExp): Promise<void> {
  const before = refState(repo);
  const r = await gitRun(args, { cwd: repo });
  assert.equal(r.code, 2, `exit 2, got ${r.code}: ${r.stderr}`);
  assert.equal(r.stdout, '');
  const [first, second, ...rest] = r.stderr.split('\n');
  assert.equal(first, `error: ${message}`);
  assert.match(second!, /^hint: /);
  if (typeof hint === 'string') assert.equal(second, `hint: ${hint}`);
  else assert.match(second!, hint);
  assert.deepEqual(rest, ['']);
  assert.equal(refState(repo), before, 'nothing was written');
}

/** The pid a repository's daemon recorded, or null. */
export const daemonPidOf = (repo: string): number | null => {
  try {
    return (JSON.parse(readFileSync(path.join(repo, '.git', 'git-run', 'daemon', 'pid'), 'utf8')) as { pid: number }).pid;
  } catch {
    return null;
  }
};

/** Alive and not a zombie (a daemon's parent exits at once; not every init reaps at once). */
export const aliveProcess = (pid: number | null): boolean => {
  if (!pid) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};
