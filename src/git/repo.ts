/**
 * The repository a command works in: where its git directory, common
 * directory and work tree are, and who the user is. Resolved once per process
 * with a single `git rev-parse`.
 */
import os from 'node:os';
import path from 'node:path';
import { git, gitText, type Env, type GitOptions, type GitResult } from './gateway.js';
import { ErrorCode, GitCommandError, GitRunError } from '../errors/index.js';
import { LooseObjectWriter } from './loose.js';
import { sharedPerm } from './shared.js';

export interface Ident {
  name: string;
  email: string;
}

export class Repo {
  private identCache: Promise<Ident> | null = null;
  /** Set while many refs move (a sweep): ref updates go through one long-lived process. */
  refUpdater: { update(u: import('./transaction.js').RefUpdate[]): Promise<boolean>; close(): void } | null = null;
  /** HEAD as the first rev-parse saw it (null before the first commit); used once, by the first snapshot. */
  head: { commit: string; tree: string } | null = null;
  private headUsed = false;

  /** HEAD and its tree: the value read when the repository was opened, the
   * first time; asked again afterwards, so a long-lived Repo sees new commits. */
  async currentHead(): Promise<{ commit: string; tree: string } | null> {
    if (!this.headUsed) {
      this.headUsed = true;
      return this.head;
    }
    const r = await this.git(['rev-parse', '-q', '--verify', 'HEAD^{commit}'], { okCodes: [1, 128] });
    if (r.code !== 0) return null;
    const commit = r.stdout.toString('utf8').trim();
    return { commit, tree: await this.text(['rev-parse', `${commit}^{tree}`]) };
  }
  private writer: LooseObjectWriter | null = null;
  /** For every git process: a dry run's scratch object directory (see scratch()). */
  private extraEnv: Env = {};

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
    /** Absolute object directory (honours GIT_OBJECT_DIRECTORY). */
    readonly objectsDir: string,
  ) {}

  /** In-process writer for the small objects of a run's records. */
  get objects(): LooseObjectWriter {
    this.writer ??= new LooseObjectWriter(this.objectsDir, this.objectFormat, () => sharedPerm(this));
    return this.writer;
  }

  /** The creator as git writes it in a commit: "Name <email>". */
  async identString(): Promise<string> {
    const id = await this.ident();
    return `${id.name} <${id.email}>`;
  }

  get zeroOid(): string {
    return '0'.repeat(this.objectFormat === 'sha256' ? 64 : 40);
  }

  /** Directory for git-run's private files (temporary indexes, local runs). */
  get stateDir(): string {
    return path.join(this.commonDir, 'git-run');
  }

  private opts(extra: Partial<GitOptions> = {}): GitOptions {
    const env: Env = { GIT_DIR: this.gitDir, ...(this.topLevel ? { GIT_WORK_TREE: this.topLevel } : {}), ...this.extraEnv, ...extra.env };
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

  /** The user as git knows them; a fallback from the OS when git has no
   * identity, so that a run is never refused for want of user.email. */
  ident(): Promise<Ident> {
    this.identCache ??= readIdent(this.topLevel ?? this.gitDir);
    return this.identCache;
  }

  /**
   * The same repository, but every object written goes to `objectsDir` (the
   * real objects stay readable as an alternate): a dry run plans a
   * submission for real and then deletes the directory, leaving the
   * repository as it was.
   */
  scratch(objectsDir: string): Repo {
    const r = new Repo(this.gitDir, this.commonDir, this.topLevel, this.prefix, this.objectFormat, objectsDir);
    r.head = this.head;
    r.identCache = this.identCache;
    r.extraEnv = { ...this.extraEnv, GIT_OBJECT_DIRECTORY: objectsDir, GIT_ALTERNATE_OBJECT_DIRECTORIES: this.objectsDir };
    return r;
  }

  /** Use an identity lookup started earlier (before the repository was opened). */
  primeIdent(p: Promise<Ident>): void {
    this.identCache = p;
  }

}

/** `git var GIT_AUTHOR_IDENT` from `cwd`: needs no repository information,
 * so it can start before openRepo returns. */
export async function readIdent(cwd: string): Promise<Ident> {
  // Set in the environment, they are what `git var` would answer: no process needed.
  const { GIT_AUTHOR_NAME: name, GIT_AUTHOR_EMAIL: email } = process.env;
  if (name && email) return { name, email };
  const r = await git(['var', 'GIT_AUTHOR_IDENT'], { cwd, okCodes: [128] });
  const m = /^(.*) <(.*)> \d+ [+-]\d{4}$/.exec(r.stdout.toString('utf8').trim());
  if (r.code === 0 && m) return { name: m[1]!, email: m[2]! };
  const user = os.userInfo().username || 'unknown';
  return { name: user, email: `${user}@${os.hostname()}` };
}

/** Find the repository that contains `cwd`, as git itself would. */
export async function openRepo(cwd: string = process.cwd()): Promise<Repo> {
  const base = ['rev-parse', '--absolute-git-dir', '--git-common-dir', '--show-object-format', '--git-path', 'objects'];
  const worktree = [...base, '--is-bare-repository', '--show-toplevel', '--show-prefix'];
  // HEAD and its tree come in the same call (the snapshot needs them); a
  // repository with no commit yet makes it fail, and is asked again without.
  const attempts = [[...worktree, 'HEAD', 'HEAD^{tree}'], worktree, [...base, '--is-bare-repository']];
  let lastError: unknown;
  for (const [n, args] of attempts.entries()) {
    const r = await git(args, { cwd, okCodes: [128] });
    if (r.code !== 0) {
      lastError = r.stderr;
      if (/not a git repository/i.test(r.stderr)) {
        throw new GitRunError(ErrorCode.NotARepository, `not a git repository: ${cwd}`, 'run git-run inside a git repository, or create one with `git init`', { cwd });
      }
      continue;
    }
    const [gitDir, common, format, objects, isBare, top, prefix, head, headTree] = r.stdout.toString('utf8').split('\n');
    const bare = n === 2 || isBare === 'true';
    const repo = new Repo(gitDir!, path.resolve(cwd, common!), bare ? null : top!, bare ? '' : prefix ?? '', format!, path.resolve(cwd, objects!));
    repo.head = n === 0 ? { commit: head!, tree: headTree! } : null;
    return repo;
  }
  throw new GitCommandError(attempts[2]!, 128, String(lastError));
}
