/**
 * The gateway: the only module that starts git. Everything else asks for a
 * git operation through these functions, so that the environment scrubbing,
 * the `-c` settings and the error handling are decided in one place.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { GitCommandError } from '../errors/index.js';

/** Settings for every git we start: never start a background gc (20k new
 * loose objects would otherwise trigger one, which then holds locks), never
 * quote paths (we read -z output or raw bytes). */
const BASE_CONFIG = ['-c', 'gc.auto=0', '-c', 'core.quotePath=false', '-c', 'maintenance.auto=false'];

/** Variables that point git at a repository, index or work tree. A hook or a
 * parent git sets them; we always name the repository explicitly instead. */
const LOCATION_VARS = ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_PREFIX', 'GIT_COMMON_DIR', 'GIT_NAMESPACE'];

export type Env = Record<string, string | undefined>;

/** process.env copied once: reading it is slow (each key is a call into the C++ layer). */
let base: NodeJS.ProcessEnv | null = null;

export function scrubbedEnv(extra: Env = {}): NodeJS.ProcessEnv {
  if (!base) {
    base = { ...process.env };
    for (const v of LOCATION_VARS) delete base[v];
  }
  const env: NodeJS.ProcessEnv = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface GitOptions {
  cwd: string;
  env?: Env;
  input?: string | Buffer;
  /** Exit codes that are answers rather than failures (e.g. 1 for "not found"). */
  okCodes?: number[];
  /**
   * Called once git has the whole input (it is flushed to the pipe), while git
   * works on it: work of our own that can overlap git's (it may block this thread).
   */
  whileRunning?: () => void;
}

export interface GitResult {
  stdout: Buffer;
  stderr: string;
  code: number;
}

/** Run one git command to completion. Throws GitCommandError unless the exit
 * code is 0 or listed in okCodes. */
export function git(args: readonly string[], opts: GitOptions): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    // No stdin pipe unless there is input: one pipe fewer to set up per process.
    const child = spawn('git', [...BASE_CONFIG, ...args], {
      cwd: opts.cwd,
      env: scrubbedEnv(opts.env),
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    // What whileRunning threw: reported once git is done (never while it may still be writing).
    let failed: { e: unknown } | null = null;
    const during = () => {
      try {
        opts.whileRunning?.();
      } catch (e) {
        failed = { e };
      }
    };
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      const res = { stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), code: code ?? -1 };
      if (failed) reject(failed.e);
      else if (code === 0 || (code !== null && opts.okCodes?.includes(code))) resolve(res);
      else reject(new GitCommandError(args, code, res.stderr));
    });
    if (child.stdin) {
      // A git that exits before reading all of its input (EPIPE) reports the
      // real problem through its exit code and stderr; ignore the pipe error.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input, during);
    } else during();
  });
}

/** Convenience: stdout as a string with the trailing newline removed. */
export async function gitText(args: readonly string[], opts: GitOptions): Promise<string> {
  const r = await git(args, opts);
  return r.stdout.toString('utf8').replace(/\n$/, '');
}

/** Start a long-lived git process (cat-file --batch, update-ref --stdin ...). */
export function spawnGit(args: readonly string[], opts: Omit<GitOptions, 'input' | 'okCodes'>): ChildProcessWithoutNullStreams {
  return spawn('git', [...BASE_CONFIG, ...args], {
    cwd: opts.cwd,
    env: scrubbedEnv(opts.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Start git in the background, detached from this process, its output discarded (housekeeping nobody waits for). */
export function spawnGitDetached(args: readonly string[], opts: Omit<GitOptions, 'input' | 'okCodes'>): void {
  const child = spawn('git', [...BASE_CONFIG, ...args], { cwd: opts.cwd, env: scrubbedEnv(opts.env), stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}

/**
 * One `git cat-file --batch` process serving many object reads: reading a
 * hundred runs costs one process, not three hundred.
 * https://git-scm.com/docs/git-cat-file#_batch_output
 */
export class CatFileBatch {
  private readonly child: ChildProcessWithoutNullStreams;
  private buf: Buffer = Buffer.alloc(0);
  /** Requests in order of writing; `head` is the next to be answered (shift() would be quadratic over 100,000 reads). */
  private waiting: Array<{ resolve: (v: { oid: string; type: string; data: Buffer } | null) => void; reject: (e: Error) => void }> = [];
  private head = 0;
  private stderr = '';
  private dead: Error | null = null;

  constructor(opts: Omit<GitOptions, 'input' | 'okCodes'>) {
    this.child = spawnGit(['cat-file', '--batch'], opts);
    this.child.stdout.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.drain();
    });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    const fail = (e: Error) => {
      this.dead = e;
      for (const w of this.waiting.splice(this.head)) w.reject(e);
      this.waiting = [];
      this.head = 0;
    };
    this.child.on('error', fail);
    this.child.on('close', (code) => {
      if (this.waiting.length > this.head) fail(new GitCommandError(['cat-file', '--batch'], code, this.stderr));
    });
    this.child.stdin.on('error', () => undefined);
  }

  private next(): { resolve: (v: { oid: string; type: string; data: Buffer } | null) => void; reject: (e: Error) => void } {
    const w = this.waiting[this.head++]!;
    if (this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
    }
    return w;
  }

  private drain(): void {
    let at = 0;
    const buf = this.buf;
    while (this.head < this.waiting.length) {
      const nl = buf.indexOf(10, at);
      if (nl < 0) break;
      const header = buf.subarray(at, nl).toString('utf8');
      if (header.endsWith(' missing') || header.endsWith(' ambiguous')) {
        at = nl + 1;
        this.next().resolve(null);
        continue;
      }
      const [oid, type, sizeStr] = header.split(' ');
      const size = Number(sizeStr);
      if (buf.length < nl + 1 + size + 1) break;
      const data = Buffer.from(buf.subarray(nl + 1, nl + 1 + size));
      at = nl + 1 + size + 1;
      this.next().resolve({ oid: oid!, type: type!, data });
    }
    this.buf = at ? buf.subarray(at) : buf;
  }

  /** Read `<object>` or `<rev>:<path>`; null when it does not exist. */
  read(spec: string): Promise<{ oid: string; type: string; data: Buffer } | null> {
    if (this.dead) return Promise.reject(this.dead);
    if (/[\n]/.test(spec)) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(spec + '\n');
    });
  }

  close(): void {
    this.child.stdin.end();
  }
}
