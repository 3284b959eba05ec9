/**
 * The repository a command works in: where its git directory, common
 * directory and work tree are, and who the user is. Resolved once per process
 * with a single `git rev-parse`.
 */
import os from 'node:os';
import path from 'node:path';
import { git, gitText, type Env, type GitOptions, type GitResult } from './gateway.js';
import { ErrorCode, GitCommandError, GitRunError } from '../errors/index.js';

export interface Ident {
  name: string;
  email: string;
}

export class Repo {
  private identCache: Ident | null = null;

  constructor(
    /** Absolute git directory of this work tree (differs from commonDir in a linked worktree). */
    readonly gitDir: string,
    /** Absolute directory shared by all worktrees: objects, refs, and git-run's own state. */
    readonly commonDir: string,
    /** Absolute top of the work tree, null in a bare repository. */
    readonly topLevel: string | null,
    /** Where the user stands, relative to topLevel, '' or 'sub/dir/'. */
    readonly prefix: string,
    /** 'sha1' or 'sha256'. */
    readonly objectFormat: string,
  ) {}

  get zeroOid(): string {
    return '0'.repeat(this.objectFormat === 'sha256' ? 64 : 40);
  }

  /** Directory for git-run's private files (temporary indexes, local runs). */
  get stateDir(): string {
    return path.join(this.commonDir, 'git-run');
  }

  private opts(extra: Partial<GitOptions> = {}): GitOptions {
    const env: Env = { GIT_DIR: this.gitDir, ...(this.topLevel ? { GIT_WORK_TREE: this.topLevel } : {}), ...extra.env };
    return { cwd: extra.cwd ?? this.topLevel ?? this.gitDir, ...extra, env };
  }

  git(args: readonly string[], extra: Partial<GitOptions> = {}): Promise<GitResult> {
    return git(args, this.opts(extra));
  }

  text(args: readonly string[], extra: Partial<GitOptions> = {}): Promise<string> {
    return gitText(args, this.opts(extra));
  }

  /** Options for a long-lived process or a command with its own index/work tree. */
  processOptions(extra: Partial<GitOptions> = {}): GitOptions {
    return this.opts(extra);
  }

  /** The user as git knows them; a fallback from the OS when git has no identity,
   * so that a run is never refused for want of user.email. */
  async ident(): Promise<Ident> {
    if (this.identCache) return this.identCache;
    const r = await this.git(['var', 'GIT_AUTHOR_IDENT'], { okCodes: [128] });
    const m = /^(.*) <(.*)> \d+ [+-]\d{4}$/.exec(r.stdout.toString('utf8').trim());
    if (r.code === 0 && m) this.identCache = { name: m[1]!, email: m[2]! };
    else {
      const user = os.userInfo().username || 'unknown';
      this.identCache = { name: user, email: `${user}@${os.hostname()}` };
    }
    return this.identCache;
  }

  /** Environment that makes commit-tree use the creator's identity. */
  async identEnv(): Promise<Env> {
    const id = await this.ident();
    return { GIT_AUTHOR_NAME: id.name, GIT_AUTHOR_EMAIL: id.email, GIT_COMMITTER_NAME: id.name, GIT_COMMITTER_EMAIL: id.email };
  }
}

/** Find the repository that contains `cwd`, as git itself would. */
export async function openRepo(cwd: string = process.cwd()): Promise<Repo> {
  const base = ['rev-parse', '--absolute-git-dir', '--git-common-dir', '--show-object-format'];
  let out: string;
  let bare = false;
  try {
    out = await gitText([...base, '--is-bare-repository', '--show-toplevel', '--show-prefix'], { cwd });
  } catch (e) {
    const stderr = e instanceof GitCommandError ? String(e.data.stderr) : String(e);
    if (/not a git repository/i.test(stderr)) {
      throw new GitRunError(
        ErrorCode.NotARepository,
        `not a git repository: ${cwd}`,
        'run git-run inside a git repository, or create one with `git init`',
        { cwd },
      );
    }
    if (/must be run in a work tree/.test(stderr)) {
      out = await gitText([...base, '--is-bare-repository'], { cwd });
      bare = true;
    } else throw e;
  }
  const lines = out.split('\n');
  const [gitDir, common, format, isBare, top, prefix] = lines;
  bare = bare || isBare === 'true';
  return new Repo(gitDir!, path.resolve(cwd, common!), bare ? null : top!, bare ? '' : prefix ?? '', format!);
}
