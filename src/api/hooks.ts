/**
 * Git hooks: `git run hook install` writes shims into the hooks directory
 * (`git rev-parse --git-path hooks`, which honours core.hooksPath); the logic
 * stays here, in `git run hook <name>`.
 *
 * The post-commit shim returns at once. In the foreground it only runs the
 * hook that was there before (chained: kept next to it as
 * `post-commit.git-run-chained`, run first, its exit status returned), reads
 * the new commit and what git is in the middle of (rebase, merge,
 * cherry-pick: files in the git directory that are gone a moment later) with
 * shell builtins, and starts `git-run hook post-commit` in the background.
 * That process decides which experiments the commit triggers (`"on":
 * {"commit": ...}` in the commit's .runconfig), submits their runs for the
 * commit's tree, and writes what happened, one JSON line per event, to
 * `<git common dir>/git-run/hook.log`. Nothing it meets (a broken .runconfig,
 * an unreachable host, a bug) fails or slows the commit: it is logged, and
 * `git run status` shows the failures since the last success.
 */
import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { openRepo, type Repo } from '../git/repo.js';
import { revParse } from '../git/objects.js';
import { readRun } from '../store/runs.js';
import { branchMatches, commitTriggers, type CommitTrigger, type During } from '../core/config.js';
import { ErrorCode, GitRunError, isGitRunError } from '../errors/index.js';
import { loadRunConfig } from './context.js';
import { submitInBackground } from './run.js';
import { cancelRuns } from './control.js';
import { shQuote } from '../util/shell.js';

/** The hooks git-run can install. */
export const HOOK_NAMES = ['post-commit'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** The line that marks a file as git-run's shim. */
const SHIM_MARK = '# git-run hook shim';
/** Where the hook that was there before is kept, next to the shim (a hook may find its helpers through $0). */
const CHAINED = '.git-run-chained';
/** The log is rotated (to hook.log.1) past this size. */
const LOG_LIMIT = 1 << 20;

export const hookLogFile = (repo: Repo): string => path.join(repo.stateDir, 'hook.log');

/** The directory git runs hooks from. */
export async function hooksDir(repo: Repo): Promise<string> {
  const dir = await repo.text(['rev-parse', '--git-path', 'hooks']);
  return path.resolve(repo.topLevel ?? repo.gitDir, dir);
}


/**
 * The post-commit shim. Builtins only in the foreground (no process is
 * started but the background one): the git directory from .git (a file in a
 * linked worktree), the commit from HEAD and the loose ref it names (a
 * commit always leaves its branch's ref loose), and which of git's
 * in-progress markers exist now. `node` and `cli` are absolute paths
 * recorded at install; when either is gone, `git run` (git-run on PATH).
 */
export function postCommitShim(node: string, cli: string): string {
  const args = 'hook post-commit --commit="$h" --head="$r" --state="$w" </dev/null >/dev/null 2>&1 &';
  return [
    '#!/bin/sh',
    `${SHIM_MARK} (post-commit): written by \`git run hook install\`; \`git run hook uninstall\` removes it and puts back the hook it chains.`,
    '# It runs the chained hook (post-commit.git-run-chained, if any), starts `git run hook post-commit` in the background and returns at once.',
    `s=0; if [ -x "$0${CHAINED}" ]; then "$0${CHAINED}" "$@"; s=$?; fi`,
    'case ${GIT_RUN_SKIP:-0} in 0|"") ;; *) exit $s;; esac',
    'd=${GIT_DIR:-.git}; if [ -f "$d" ]; then read -r d 2>/dev/null <"$d"; d=${d#gitdir: }; fi',
    'c=$d; if [ -f "$d/commondir" ]; then read -r c 2>/dev/null <"$d/commondir"; case $c in /*) ;; *) c=$d/$c;; esac; fi',
    'h=; r=; read -r r 2>/dev/null <"$d/HEAD"; case $r in "ref: "*) r=${r#ref: }; read -r h 2>/dev/null <"$c/$r";; *) h=$r; r=;; esac',
    'w=; for f in rebase-merge rebase-apply MERGE_HEAD CHERRY_PICK_HEAD REVERT_HEAD sequencer; do if [ -e "$d/$f" ]; then w=$w$f,; fi; done',
    `n=${shQuote(node)}; g=${shQuote(cli)}`,
    `if [ -x "$n" ] && [ -f "$g" ]; then "$n" "$g" ${args} else git run ${args} fi`,
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

// --- the log ------------------------------------------------------------------

export interface HookEvent {
  at: string;
  hook: string;
  /** One invocation of the hook: its events share this. */
  inv: string;
  /** ok: the configuration was read and acted on; info: nothing was asked of it (skipped, superseded); error: something failed. */
  level: 'ok' | 'info' | 'error';
  event: 'submitted' | 'nothing' | 'skipped' | 'superseded' | 'failed';
  commit: string | null;
  branch: string | null;
  experiment: string | null;
  message: string;
  hint?: string;
  /** Runs this event made (a group first, then its new children) or cancelled. */
  runs?: string[];
}

class HookLog {
  readonly events: HookEvent[] = [];
  private readonly inv = `${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  commit: string | null = null;
  branch: string | null = null;

  constructor(
    private readonly repo: Repo,
    private readonly hook: string,
  ) {}

  async add(level: HookEvent['level'], event: HookEvent['event'], experiment: string | null, message: string, extra: { hint?: string; runs?: string[] } = {}): Promise<void> {
    const e: HookEvent = { at: new Date().toISOString(), hook: this.hook, inv: this.inv, level, event, commit: this.commit, branch: this.branch, experiment, message, ...extra };
    this.events.push(e);
    // Logging never fails the hook: a full disk loses the line, not the commit.
    try {
      const file = hookLogFile(this.repo);
      await fs.mkdir(path.dirname(file), { recursive: true });
      const size = (await fs.stat(file).catch(() => null))?.size ?? 0;
      if (size > LOG_LIMIT) await fs.rename(file, file + '.1').catch(() => undefined);
      await fs.appendFile(file, JSON.stringify(e) + '\n');
    } catch {
      /* nowhere left to say it */
    }
  }

  async fail(experiment: string | null, e: unknown): Promise<void> {
    if (isGitRunError(e)) await this.add('error', 'failed', experiment, e.message, e.hint ? { hint: e.hint } : {});
    else await this.add('error', 'failed', experiment, `git-run failed unexpectedly (a bug): ${(e as Error)?.stack ?? String(e)}`, { hint: 'report it with the hook log (`git run hook log`)' });
  }
}

function parseLog(text: string): HookEvent[] {
  const out: HookEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as HookEvent;
      if (e && typeof e.at === 'string' && typeof e.message === 'string') out.push(e);
    } catch {
      /* a torn line */
    }
  }
  return out;
}

/** The hook log's events, oldest first: the last `limit` of them (0 or absent: all). */
export async function hookLog(repo: Repo, limit = 0): Promise<HookEvent[]> {
  const file = hookLogFile(repo);
  const read = (f: string) => fs.readFile(f, 'utf8').catch(() => '');
  let events = parseLog(await read(file));
  if (!limit || events.length < limit) events = [...parseLog(await read(file + '.1')), ...events];
  return limit ? events.slice(-limit) : events;
}

/**
 * What `git run status` reports: the failures of the hook invocations after
 * the last one that worked (read its configuration and submitted, or found
 * nothing to submit, without a failure). Empty when all is well.
 */
export async function hookProblems(repo: Repo): Promise<HookEvent[]> {
  if (!existsSync(hookLogFile(repo))) return [];
  const byInv = new Map<string, HookEvent[]>();
  for (const e of await hookLog(repo)) byInv.set(e.inv, [...(byInv.get(e.inv) ?? []), e]);
  let problems: HookEvent[] = [];
  for (const events of byInv.values()) {
    const errors = events.filter((e) => e.level === 'error');
    if (errors.length) problems.push(...errors);
    else if (events.some((e) => e.level === 'ok')) problems = [];
  }
  return problems;
}

// --- post-commit ----------------------------------------------------------------

export interface PostCommitOptions {
  cwd?: string;
  /** The commit, as the shim read it when the hook ran; absent or empty: HEAD now. */
  commit?: string;
  /** HEAD's symbolic ref when the hook ran ('refs/heads/main'); '' for a detached HEAD; absent: read now. */
  head?: string;
  /** git's in-progress markers the shim found (rebase-merge, MERGE_HEAD...); absent: looked for now. */
  state?: string[];
  /** The environment (GIT_RUN_SKIP); default process.env. */
  env?: NodeJS.ProcessEnv;
}

const MARKERS = ['rebase-merge', 'rebase-apply', 'MERGE_HEAD', 'CHERRY_PICK_HEAD', 'REVERT_HEAD', 'sequencer'];

/** What git was in the middle of, from its markers, the commit's parents and the reflog's subject. */
async function operation(repo: Repo, sha: string, parents: number, state: string[]): Promise<During | null> {
  const has = (m: string) => state.includes(m);
  if (has('rebase-merge') || has('rebase-apply')) return 'rebase';
  if (has('MERGE_HEAD')) return 'merge';
  if (has('REVERT_HEAD')) return 'revert';
  if (has('CHERRY_PICK_HEAD') || has('sequencer')) return 'cherry-pick';
  // Concluding a merge removes MERGE_HEAD before post-commit runs: the parents tell.
  if (parents > 1) return 'merge';
  // A single revert leaves no marker; its reflog entry says what made the commit.
  const r = await repo.git(['log', '-g', '-n', '20', '--format=%H %gs', 'HEAD'], { okCodes: [128] });
  const entry = r.stdout.toString('utf8').split('\n').find((l) => l.startsWith(sha + ' '));
  const subject = entry?.slice(sha.length + 1) ?? '';
  if (/^rebase\b/.test(subject)) return 'rebase';
  if (/^(merge\b|commit \(merge\))/.test(subject)) return 'merge';
  if (/^revert\b/.test(subject)) return 'revert';
  if (/^cherry-pick\b/.test(subject)) return 'cherry-pick';
  return null;
}

/** Why a trigger does not fire for this commit, or null when it does. */
async function mismatch(repo: Repo, t: CommitTrigger, sha: string, branch: string | null, op: During | null, root: boolean): Promise<string | null> {
  if (t.branches) {
    if (branch === null) return 'detached HEAD (branches are set)';
    if (!t.branches.some((g) => branchMatches(g, branch))) return `branch '${branch}' matches none of ${t.branches.join(', ')}`;
  }
  if (op && !t.during.includes(op)) return `made during a ${op} (add "${op}" to "during" to run then too)`;
  if (t.paths) {
    const range = root ? ['--root', sha] : [`${sha}^1`, sha];
    const r = await repo.git(['diff-tree', '-r', '--name-only', '--no-commit-id', '-z', ...range, '--', ...t.paths]);
    if (!r.stdout.length) return `no changed file matches ${t.paths.join(', ')}`;
  }
  return null;
}

interface Marker {
  commit: string;
  experiment: string;
  branch: string | null;
  at: string;
  /** New runs submitted (a group, then its children); absent while the submission is under way. */
  runs?: string[];
}

const markerDir = (repo: Repo, experiment: string) => path.join(repo.stateDir, 'hook-submitted', encodeURIComponent(experiment));

/**
 * The post-commit hook's work. Never throws for what it meets in the
 * repository: every outcome is an event of the log (and returned).
 */
export async function runPostCommit(opts: PostCommitOptions = {}): Promise<HookEvent[]> {
  const repo = await openRepo(opts.cwd ?? process.cwd());
  const log = new HookLog(repo, 'post-commit');
  try {
    await postCommit(repo, opts, log);
  } catch (e) {
    await log.fail(null, e);
  }
  return log.events;
}

async function postCommit(repo: Repo, opts: PostCommitOptions, log: HookLog): Promise<void> {
  const rev = opts.commit || 'HEAD';
  const sha = await revParse(repo, `${rev}^{commit}`);
  if (!sha) throw new GitRunError(ErrorCode.BadRevision, `'${rev}' names no commit`, 'the hook runs for a commit: name one with --commit, or run it where HEAD has one');
  log.commit = sha;
  const head = opts.head ?? (await repo.git(['symbolic-ref', '-q', 'HEAD'], { okCodes: [1] })).stdout.toString('utf8').trim();
  log.branch = head.startsWith('refs/heads/') ? head.slice('refs/heads/'.length) : null;
  const skip = (opts.env ?? process.env).GIT_RUN_SKIP;
  if (skip && skip !== '0') {
    await log.add('info', 'skipped', null, `GIT_RUN_SKIP=${skip}: nothing submitted`);
    return;
  }
  if (!repo.topLevel) throw new GitRunError(ErrorCode.NotARepository, 'a bare repository: there is no work tree to run from', 'install the hook in a clone with a work tree');
  const state = opts.state ?? MARKERS.filter((m) => existsSync(path.join(repo.gitDir, m)));
  const parents = (await repo.text(['rev-list', '--parents', '-n', '1', sha])).split(' ').length - 1;
  const op = await operation(repo, sha, parents, state);
  const config = await loadRunConfig(repo, sha);
  const triggers = commitTriggers(config);
  if (!triggers.length) {
    await log.add('ok', 'nothing', null, 'no experiment of the commit\'s .runconfig has "on": {"commit": ...}');
    return;
  }
  const root = parents === 0;
  const reasons: string[] = [];
  let matched = 0;
  for (const { experiment, host, trigger } of triggers) {
    let why: string | null;
    try {
      why = await mismatch(repo, trigger, sha, log.branch, op, root);
    } catch (e) {
      await log.fail(experiment, e);
      continue;
    }
    if (why) {
      reasons.push(`${experiment}: ${why}`);
      continue;
    }
    matched++;
    await submitFor(repo, log, experiment, host, sha);
    if (trigger.supersede) {
      try {
        await supersede(repo, log, experiment);
      } catch (e) {
        await log.fail(experiment, e);
      }
    }
  }
  // Why the others did not fire, last: an invocation's events end with this line or with a submission.
  if (reasons.length) await log.add('ok', 'nothing', null, `${matched ? 'not submitted' : 'no experiment matches'}: ${reasons.join('; ')}`);
}

/** Submit one experiment for the commit, once: an exclusive marker per commit and experiment. */
async function submitFor(repo: Repo, log: HookLog, experiment: string, host: string | null, sha: string): Promise<void> {
  const dir = markerDir(repo, experiment);
  const file = path.join(dir, `${sha}.json`);
  const marker: Marker = { commit: sha, experiment, branch: log.branch, at: new Date().toISOString() };
  try {
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(file, JSON.stringify(marker) + '\n', { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      await log.add('info', 'skipped', experiment, `already submitted for ${sha.slice(0, 12)}`);
      return;
    }
    await log.fail(experiment, e);
    return;
  }
  try {
    const s = await submitInBackground({ target: experiment, commit: sha, cwd: repo.topLevel!, ...(host ? { host } : {}) });
    const fresh = s.children.filter((c) => c.view).map((c) => c.id);
    const main = s.group?.id ?? s.children[0]!.id;
    const runs = s.group && !s.groupReused ? [s.group.id, ...fresh] : fresh;
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify({ ...marker, runs }) + '\n');
    await fs.rename(tmp, file);
    const what = s.group ? `group ${main.slice(0, 12)} (${s.children.length} runs${fresh.length < s.children.length ? `, ${s.children.length - fresh.length} reused` : ''})` : `run ${main.slice(0, 12)}${fresh.length ? '' : ' (reused)'}`;
    await log.add('ok', 'submitted', experiment, `submitted ${experiment}: ${what}`, { runs: [main, ...runs.filter((r) => r !== main)] });
  } catch (e) {
    await fs.rm(file, { force: true }).catch(() => undefined);
    await log.fail(experiment, e);
  }
}

/**
 * Cancel the queued runs of this experiment's older commits on the same
 * branch. Every hook process does this after its own submission, so
 * whichever finishes last sees every marker: the order of commits is their
 * committer time, then ancestry, then the order the hooks marked them.
 */
async function supersede(repo: Repo, log: HookLog, experiment: string): Promise<void> {
  const dir = markerDir(repo, experiment);
  const markers: Marker[] = [];
  for (const f of await fs.readdir(dir).catch(() => [] as string[])) {
    if (!f.endsWith('.json')) continue;
    try {
      const m = JSON.parse(await fs.readFile(path.join(dir, f), 'utf8')) as Marker;
      if (m.branch === log.branch) markers.push(m);
    } catch {
      /* being written */
    }
  }
  if (markers.length < 2) return;
  const times = new Map<string, number>();
  const out = await repo.text(['show', '-s', '--format=%H %ct', ...markers.map((m) => m.commit)]);
  for (const line of out.split('\n')) {
    const [h, t] = line.split(' ');
    if (h) times.set(h, Number(t));
  }
  const isAncestor = async (a: string, b: string) => (await repo.git(['merge-base', '--is-ancestor', a, b], { okCodes: [1] })).code === 0;
  let newest = markers[0]!;
  for (const m of markers.slice(1)) {
    const [tn, tm] = [times.get(newest.commit) ?? 0, times.get(m.commit) ?? 0];
    if (tm > tn || (tm === tn && ((await isAncestor(newest.commit, m.commit)) || (!(await isAncestor(m.commit, newest.commit)) && m.at > newest.at)))) newest = m;
  }
  for (const m of markers) {
    if (m === newest || !m.runs?.length) continue;
    const queued: string[] = [];
    for (const id of m.runs) {
      const v = await readRun(repo, id).catch(() => null);
      if (v && !v.children && v.status === 'queued') queued.push(id);
    }
    if (!queued.length) continue;
    await Promise.all(queued.map((id) => cancelRuns(repo, [id], 1000).catch(() => undefined)));
    await log.add('info', 'superseded', experiment, `cancelled ${queued.length} queued run${queued.length > 1 ? 's' : ''} of ${m.commit.slice(0, 12)}: superseded by ${newest.commit.slice(0, 12)}`, { runs: queued });
  }
}

/** The experiments of the work tree's .runconfig that a commit can trigger (checked: throws on an invalid .runconfig). */
export async function hookTriggers(repo: Repo): Promise<Array<{ experiment: string; host: string | null; trigger: CommitTrigger }>> {
  return commitTriggers(await loadRunConfig(repo));
}
