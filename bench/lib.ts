/**
 * Shared helpers for the benchmarks in bench/: timing with
 * process.hrtime.bigint, order statistics (never a single timing), a small
 * text table, child processes, machine facts and the results file
 * (bench/results/<name>.json, git-ignored).
 */
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { promises as fs, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this file runs as dist/bench/lib.js. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The compiled, unbundled command-line entry point (tsc output). */
export const CLI_UNBUNDLED = path.join(ROOT, 'dist', 'src', 'bin', 'git-run.js');

/** What users run: package.json's "bin" for git-run when it is built, else the tsc output. */
export const CLI: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin?: string | Record<string, string> };
    const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.['git-run'];
    if (bin && existsSync(path.join(ROOT, bin))) return path.join(ROOT, bin);
  } catch {
    // fall through
  }
  return CLI_UNBUNDLED;
})();

/** Milliseconds taken by `fn`, measured with the monotonic high-resolution clock. */
export async function timeMs<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  const t1 = process.hrtime.bigint();
  return { ms: Number(t1 - t0) / 1e6, value };
}

export interface Stats {
  n: number;
  median: number;
  p10: number;
  p90: number;
  min: number;
  max: number;
  mean: number;
}

/** The p-th percentile (0..100) of `xs` with linear interpolation between ranks. */
export function percentile(xs: readonly number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo);
}

export const median = (xs: readonly number[]): number => percentile(xs, 50);

export function stats(xs: readonly number[]): Stats {
  return {
    n: xs.length,
    median: median(xs),
    p10: percentile(xs, 10),
    p90: percentile(xs, 90),
    min: Math.min(...xs),
    max: Math.max(...xs),
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
  };
}

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

/** Stats rounded for the JSON file, samples included. */
export function statsJson(xs: readonly number[]): Stats & { samples: number[] } {
  const s = stats(xs);
  return {
    n: s.n,
    median: round(s.median, 2),
    p10: round(s.p10, 2),
    p90: round(s.p90, 2),
    min: round(s.min, 2),
    max: round(s.max, 2),
    mean: round(s.mean, 2),
    samples: xs.map((x) => round(x, 2)),
  };
}

/** A plain table: first column left-aligned, the others right-aligned. */
export function printTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/** A table row for a named sample set, in milliseconds. */
export function statsRow(label: string, xs: readonly number[]): string[] {
  const s = stats(xs);
  return [label, String(s.n), ...[s.median, s.p10, s.p90, s.min, s.max].map((x) => x.toFixed(1))];
}

export const STATS_HEADERS = ['', 'n', 'median ms', 'p10', 'p90', 'min', 'max'];

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a program to completion (no shell), collecting its output. */
export function run(cmd: string, args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; input?: string }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Like run, but throws unless the exit status is 0. */
export async function runOk(cmd: string, args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; input?: string }): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${opts.cwd}) exited ${r.code ?? r.signal}:\n${r.stderr}${r.stdout}`);
  }
  return r;
}

/** The environment for the benchmarked tools: no inherited repository
 * location, a fixed identity, a private HOME (no user config). */
export function benchEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const v of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_PREFIX', 'GIT_COMMON_DIR', 'GIT_NAMESPACE', 'GIT_CONFIG', 'GIT_CONFIG_GLOBAL']) {
    delete env[v];
  }
  return {
    ...env,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    GIT_AUTHOR_NAME: 'Bench Mark',
    GIT_AUTHOR_EMAIL: 'bench@example.invalid',
    GIT_COMMITTER_NAME: 'Bench Mark',
    GIT_COMMITTER_EMAIL: 'bench@example.invalid',
  };
}

function firstLine(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]!.trim();
  } catch {
    return 'unavailable';
  }
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  git: string;
  [extra: string]: string | number;
}

export function machine(extra: Record<string, string> = {}): Machine {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    git: firstLine('git', ['--version']),
    /** 1-minute load average when the benchmark started its report: other work on the machine skews timings. */
    loadAverage1m: round(os.loadavg()[0]!, 2),
    ...extra,
  };
}

/** The git-run revision measured: HEAD of this repository, "+ uncommitted src/" when src/ has local changes
 * (the benchmarks run whatever was last built into dist/). */
export function revision(): string {
  const head = firstLine('git', ['-C', ROOT, 'rev-parse', '--short=12', 'HEAD']);
  let dirty = false;
  try {
    dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
  } catch {
    // not a git checkout
  }
  return dirty ? `${head} + uncommitted src/` : head;
}

/** The command that produced the figures, as a user would type it from the repository root. */
export function commandLine(): string {
  const script = path.relative(ROOT, process.argv[1] ?? '');
  return ['node', script, ...process.argv.slice(2)].join(' ');
}

/** Write the figures to bench/results/<name>.json; returns the file written. */
export async function writeResults(name: string, data: unknown): Promise<string> {
  const dir = path.join(ROOT, 'bench', 'results');
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  await fs.writeFile(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}

/** A positive integer from `--name=N` / `--name N` on the command line, or the default. */
export function intArg(name: string, dflt: number): number {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    let v: string | undefined;
    if (a === `--${name}`) v = argv[i + 1];
    else if (a.startsWith(`--${name}=`)) v = a.slice(name.length + 3);
    else continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} needs a positive integer, got ${v}`);
    return n;
  }
  return dflt;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const fmtRatio = (x: number): string => x.toFixed(2);

// --- shared by memo.ts and sweep.ts -----------------------------------------

/** The same 20 small files (about 30 KB) that bench/launch.ts commits. */
export function smallFiles(): Array<[string, string]> {
  const files: Array<[string, string]> = [['README.md', '# bench project\n\nA small project for the launch benchmark.\n']];
  for (let i = 0; i < 8; i++) files.push([`src/module_${i}.py`, `def f${i}(x):\n    return x * ${i + 1}\n`.repeat(20)]);
  for (let i = 0; i < 4; i++) files.push([`configs/exp_${i}.yaml`, `lr: 0.0${i + 1}\nepochs: ${10 * (i + 1)}\nseed: ${i}\n`]);
  for (let i = 0; i < 6; i++) {
    const rows = Array.from({ length: 50 }, (_, r) => `${r},${(r * (i + 3)) % 97},${(r * 7 + i) % 13}`).join('\n');
    files.push([`data/part_${i}.csv`, `id,a,b\n${rows}\n`]);
  }
  files.push(['train.py', 'import sys\nprint("training", sys.argv[1:])\n']);
  if (files.length !== 20) throw new Error(`expected 20 files, made ${files.length}`);
  return files;
}

/** A fresh `git init` repository at `dir` with smallFiles() committed and a clean work tree. */
export async function smallRepo(dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await runOk('git', ['init', '-q'], { cwd: dir, env });
  for (const [name, text] of smallFiles()) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), text);
  }
  await runOk('git', ['add', '-A'], { cwd: dir, env });
  await runOk('git', ['commit', '-q', '-m', 'init'], { cwd: dir, env });
  const st = await runOk('git', ['status', '--porcelain'], { cwd: dir, env });
  if (st.stdout.trim()) throw new Error(`${dir} is not clean after setup:\n${st.stdout}`);
}

/** Every ref under refs/runs/ as "name tip" lines, sorted (git's order). */
export async function runRefs(repo: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const r = await runOk('git', ['for-each-ref', '--format=%(refname) %(objectname)', 'refs/runs/'], { cwd: repo, env });
  return r.stdout.split('\n').filter(Boolean);
}

/** Processes running `git-run __supervise` whose working directory is `repo` (as in bench/launch.ts). */
export function supervisorsIn(repo: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (!argv.includes('__supervise')) continue;
      if (readlinkSync(`/proc/${e}/cwd`) === repo) pids.push(Number(e));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/** Wait (untimed) until no git-run supervisor is left in `repo`; returns how long that took in ms. */
export async function drainSupervisors(repo: string): Promise<number> {
  const t0 = Date.now();
  while (supervisorsIn(repo).length) {
    if (Date.now() - t0 > 30_000) throw new Error(`a git-run supervisor in ${repo} is still running after 30 s`);
    await sleep(2);
  }
  return Date.now() - t0;
}

const CLK_TCK = (() => {
  const n = Number(firstLine('getconf', ['CLK_TCK']));
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/** CPU time (user + system, ms) of this process's terminated and waited-for children and their
 * descendants so far, from /proc/self/stat (cutime + cstime; clock-tick resolution, usually 10 ms).
 * The difference around one command is that command's CPU time, its git processes included. */
export function childCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): cutime and cstime are fields 16 and 17.
  return ((Number(rest[13]) + Number(rest[14])) * 1000) / CLK_TCK;
}

export interface CpuMark {
  /** Busy time of all CPUs of the machine (user, nice, system, irq, softirq, steal), ms. */
  machineBusyMs: number;
  /** This process's CPU time plus childCpuMs(), ms. */
  ownMs: number;
  at: bigint;
}

export function cpuMark(): CpuMark {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + (f[7] ?? 0);
  const u = process.cpuUsage();
  return { machineBusyMs: (busy * 1000) / CLK_TCK, ownMs: (u.user + u.system) / 1000 + childCpuMs(), at: process.hrtime.bigint() };
}

/** The share (0..1) of the machine's CPU capacity that anything other than this process and its
 * waited-for children used between two marks: other work on the machine skews timings. */
export function foreignCpuShare(from: CpuMark, to: CpuMark): number {
  const elapsed = Number(to.at - from.at) / 1e6;
  const foreign = to.machineBusyMs - from.machineBusyMs - (to.ownMs - from.ownMs);
  return Math.max(0, foreign) / (elapsed * os.cpus().length);
}

// --- a generated tree (the layout and sizes of bench/snapshot.ts) -----------

/** mulberry32: a small, fast, seeded PRNG (layout and sizes are reproducible). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GeneratedTree {
  /** Paths written, relative to the top directory. */
  names: string[];
  /** Their total size in bytes. */
  bytes: number;
}

/**
 * Write `count` files totalling about `totalBytes` under `top`, as bench/snapshot.ts generates them:
 * 10 x 10 x 5 nested leaf directories of 40 files each (for 20,000 files), log-normal sizes (sigma 1,
 * about 10 KiB on average for 20,000 files / 200 MiB), random (incompressible) content that starts with
 * the file's own path so no two files are alike. The layout and sizes depend only on `seed`.
 */
export function generateTree(top: string, count: number, totalBytes: number, seed = 20_000): GeneratedTree {
  const rand = prng(seed);
  const pool = crypto.randomBytes(16 * 2 ** 20);
  const raw = Array.from({ length: count }, () => {
    const u = 1 - rand();
    const v = rand();
    return Math.exp(Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
  });
  const sum = raw.reduce((a, b) => a + b, 0);
  const sizes = raw.map((r) => Math.max(64, Math.round((r * totalBytes) / sum)));
  const ext = ['py', 'txt', 'json', 'bin', 'csv', 'dat'];
  const names: string[] = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const leaf = Math.floor(i / 40);
    const dir = `d${Math.floor(leaf / 50) % 10}/s${Math.floor(leaf / 5) % 10}/t${leaf % 5}${leaf >= 500 ? `/x${Math.floor(leaf / 500)}` : ''}`;
    const name = `${dir}/file_${String(i).padStart(5, '0')}.${ext[i % ext.length]}`;
    const head = Buffer.from(`${name} ${crypto.randomBytes(6).toString('hex')}\n`);
    const n = Math.max(0, sizes[i]! - head.length);
    const off = Math.floor(rand() * (pool.length - n));
    const file = path.join(top, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, Buffer.concat([head, pool.subarray(off, off + n)]));
    names.push(name);
    bytes += sizes[i]!;
  }
  return { names, bytes };
}

/** A string from `--name=V` / `--name V`, or the default. */
export function strArg(name: string, dflt: string): string {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}` && argv[i + 1] !== undefined) return argv[i + 1]!;
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return dflt;
}

/** Run a benchmark's main: a failure prints its stack and sets exit status 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    process.exitCode = 1;
  });
}
