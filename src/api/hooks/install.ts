/**
 * Installing and removing the hook shims: `git run hook install` writes them
 * into the hooks directory (`git rev-parse --git-path hooks`, which honours
 * core.hooksPath); the logic stays in `git run hook <name>`.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Repo } from '../../git/repo.js';
import { hooksPath } from '../../git/hooks.js';
import { mkdirShared, sharedPerm } from '../../git/shared.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';
import { loadRunConfig } from '../context.js';
import { shQuote } from '../../util/shell.js';
import { QUEUE_DIR, STARTING_FILE, STATE_DIR, WORKER_FILE, queueDir } from './queue.js';

/** The hooks git-run can install. */
export const HOOK_NAMES = ['post-commit'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** The line that marks a file as git-run's shim. */
const SHIM_MARK = '# git-run hook shim';
/** Where the hook that was there before is kept, next to the shim (a hook may find its helpers through $0). */
const CHAINED = '.git-run-chained';

/** The directory git runs hooks from. */
export const hooksDir = hooksPath;


/**
 * The post-commit shim. Builtins only in the foreground (no process is
 * started but the background one): the git directory from .git (a file in a
 * linked worktree), the commit from HEAD and the loose ref it names (a
 * commit always leaves its branch's ref loose), and which of git's
 * in-progress markers exist now. It notes the commit in the queue
 * (`<common dir>/git-run/hook-queue/<sha>`, one line: commit, HEAD's ref,
 * markers) and starts a worker (`hook post-commit --drain`) only when
 * neither the worker holding the queue (hook-worker.pid) nor the one the
 * last commit started (hook-worker.starting) is alive: back-to-back commits
 * start one node process, not one each (see ./queue.ts). Without the queue
 * directory it starts `hook post-commit` for this commit alone, as before.
 * `node` and `cli` are absolute paths recorded at install; when either is
 * gone, `git run` (git-run on PATH).
 */
export function postCommitShim(node: string, cli: string): string {
  const quiet = '</dev/null >/dev/null 2>&1 &';
  return [
    '#!/bin/sh',
    `${SHIM_MARK} (post-commit): written by \`git run hook install\`; \`git run hook uninstall\` removes it and puts back the hook it chains.`,
    '# It runs the chained hook (post-commit.git-run-chained, if any), notes the commit for `git run hook post-commit --drain` (started in the background unless one is at work) and returns at once.',
    `s=0; if [ -x "$0${CHAINED}" ]; then "$0${CHAINED}" "$@"; s=$?; fi`,
    'case ${GIT_RUN_SKIP:-0} in 0|"") ;; *) exit $s;; esac',
    'd=${GIT_DIR:-.git}; if [ -f "$d" ]; then read -r d 2>/dev/null <"$d"; d=${d#gitdir: }; fi',
    'c=$d; if [ -f "$d/commondir" ]; then read -r c 2>/dev/null <"$d/commondir"; case $c in /*) ;; *) c=$d/$c;; esac; fi',
    'h=; r=; read -r r 2>/dev/null <"$d/HEAD"; case $r in "ref: "*) r=${r#ref: }; read -r h 2>/dev/null <"$c/$r";; *) h=$r; r=;; esac',
    'w=; for f in rebase-merge rebase-apply MERGE_HEAD CHERRY_PICK_HEAD REVERT_HEAD sequencer; do if [ -e "$d/$f" ]; then w=$w$f,; fi; done',
    `n=${shQuote(node)}; g=${shQuote(cli)}`,
    `bg() { if [ -x "$n" ] && [ -f "$g" ]; then "$n" "$g" hook post-commit "$@" ${quiet} else git run hook post-commit "$@" ${quiet} fi; }`,
    `q=$c/${STATE_DIR}`,
    `if [ -n "$h" ] && { printf '%s %s %s\\n' "$h" "$r" "$w" >"$q/${QUEUE_DIR}/$h"; } 2>/dev/null; then`,
    `  a=; b=; read -r a 2>/dev/null <"$q/${WORKER_FILE}"; read -r b 2>/dev/null <"$q/${STARTING_FILE}"`,
    `  if { [ -n "$a" ] && kill -0 "$a"; } 2>/dev/null || { [ -n "$b" ] && kill -0 "$b"; } 2>/dev/null; then :; else bg --drain; { echo $! >"$q/${STARTING_FILE}"; } 2>/dev/null; fi`,
    'else bg --commit="$h" --head="$r" --state="$w"; fi',
    'exit $s',
    '',
  ].join('\n');
}

const isShim = (text: string | null) => text !== null && text.split('\n', 3).some((l) => l.startsWith(SHIM_MARK));

/** The file's text (a symlink's target's), or null when there is no file; a dangling symlink reads as ''. */
async function readHook(file: string): Promise<string | null> {
  try {
    await fs.lstat(file);
  } catch {
    return null;
  }
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return '';
  }
}

const exists = async (file: string) => !!(await fs.lstat(file).catch(() => null));

export interface HookInstall {
  hook: HookName;
  file: string;
  /** installed: new; updated: our shim rewritten (new paths); unchanged: already there as it would be written. */
  action: 'installed' | 'updated' | 'unchanged';
  /** The user's hook, now run first by the shim. */
  chained: string | null;
}

/**
 * Write the shims. The .runconfig of the work tree is checked first (a
 * trigger that cannot work is better known now than from the hook log).
 * Nothing is written unless every step can be: the shim is written beside
 * its place first, then the user's hook is moved aside and the shim moved in.
 */
export async function installHooks(repo: Repo, opts: { node: string; cli: string }): Promise<HookInstall[]> {
  if (!repo.topLevel) throw new GitRunError(ErrorCode.NotARepository, `${repo.gitDir} is a bare repository: no commit is made there`, 'install the hooks in a clone with a work tree');
  await loadRunConfig(repo);
  // The shim notes commits here; without it, it starts one process per commit.
  const perm = await sharedPerm(repo);
  try {
    mkdirShared(perm, queueDir(repo));
  } catch {
    /* without it, one process per commit */
  }
  const dir = await hooksDir(repo);
  const notWritable = (e: unknown) =>
    new GitRunError(
      ErrorCode.HooksNotWritable,
      `cannot write the hooks directory ${dir}: ${(e as Error).message}`,
      'make it writable, or point core.hooksPath at a directory you can write (`git config core.hooksPath <dir>`)',
      { dir },
    );
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (e) {
    throw notWritable(e);
  }
  const out: HookInstall[] = [];
  for (const hook of HOOK_NAMES) {
    const file = path.join(dir, hook);
    const chainedFile = file + CHAINED;
    const text = postCommitShim(opts.node, opts.cli);
    const current = await readHook(file);
    const ours = isShim(current);
    const chained = (await exists(chainedFile)) ? chainedFile : null;
    if (ours && current === text) {
      out.push({ hook, file, action: 'unchanged', chained });
      continue;
    }
    if (!ours && current !== null && chained) {
      throw new GitRunError(
        ErrorCode.DestinationNotEmpty,
        `${file} is not git-run's shim, and ${path.basename(chainedFile)} (a hook git-run chained earlier) is there too`,
        `something replaced git-run's shim: keep the hook you want as ${hook} and remove or rename ${chainedFile}, then install again`,
        { file, chained: chainedFile },
      );
    }
    const tmp = `${file}.git-run-tmp-${process.pid}`;
    try {
      await fs.writeFile(tmp, text, { flag: 'wx', mode: 0o755 });
      await fs.chmod(tmp, 0o755);
    } catch (e) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw notWritable(e);
    }
    const chain = !ours && current !== null;
    try {
      if (chain) await fs.rename(file, chainedFile);
      try {
        await fs.rename(tmp, file);
      } catch (e) {
        if (chain) await fs.rename(chainedFile, file);
        throw e;
      }
    } catch (e) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw notWritable(e);
    }
    out.push({ hook, file, action: ours ? 'updated' : 'installed', chained: chain ? chainedFile : chained });
  }
  return out;
}

export interface HookUninstall {
  hook: HookName;
  file: string;
  /** removed: the shim is gone; restored: the chained hook is back in its place; absent: the shim was not there. */
  action: 'removed' | 'restored' | 'absent';
  /** When absent: what is there instead (a hook that is not git-run's), else null. */
  other: string | null;
}

/** Remove the shims and put back the hooks they chain (renamed back: the same bytes and mode). */
export async function uninstallHooks(repo: Repo): Promise<HookUninstall[]> {
  const dir = await hooksDir(repo);
  const out: HookUninstall[] = [];
  for (const hook of HOOK_NAMES) {
    const file = path.join(dir, hook);
    const chainedFile = file + CHAINED;
    const current = await readHook(file);
    if (!isShim(current)) {
      out.push({ hook, file, action: 'absent', other: current !== null ? file : (await exists(chainedFile)) ? chainedFile : null });
      continue;
    }
    try {
      if (await exists(chainedFile)) {
        await fs.rename(chainedFile, file);
        out.push({ hook, file, action: 'restored', other: null });
      } else {
        await fs.rm(file);
        out.push({ hook, file, action: 'removed', other: null });
      }
    } catch (e) {
      throw new GitRunError(ErrorCode.HooksNotWritable, `cannot change ${file}: ${(e as Error).message}`, 'make the hooks directory writable and try again', { file });
    }
  }
  return out;
}
