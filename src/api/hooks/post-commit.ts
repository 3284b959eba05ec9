/**
 * The post-commit hook's work for one commit: which experiments the commit
 * triggers (`"on": {"commit": ...}` in the commit's own .runconfig), their
 * submission for the commit's tree, once per commit and experiment, and
 * superseding older commits' queued runs. Every outcome is an event of the
 * hook log; nothing it meets (a broken .runconfig, an unreachable host, a
 * bug) fails the commit. The queue (./queue.ts) calls this for each commit
 * the shim noted.
 */
import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';
import { openRepo, type Repo } from '../../git/repo.js';
import { revParse } from '../../git/objects.js';
import { adjustSharedPerm, mkdirShared, sharedPerm, writeFileShared } from '../../git/shared.js';
import { changesMatch, committerTimes, headSymbolicRef, isAncestor, parentCount, reflogSubject } from '../../git/hooks.js';
import { readRun } from '../../store/runs.js';
import { branchMatches, commitTriggers, type CommitTrigger, type During } from '../../core/config.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';
import { loadRunConfig } from '../context.js';
import { submitInBackground } from '../run.js';
import { cancelRuns } from '../control.js';
import { HookLog, type HookEvent } from './log.js';

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
  const subject = await reflogSubject(repo, sha);
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
    if (!(await changesMatch(repo, sha, root, t.paths))) return `no changed file matches ${t.paths.join(', ')}`;
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
  return postCommitIn(await openRepo(opts.cwd ?? process.cwd()), opts);
}

/** runPostCommit in a repository already open (the queue's worker handles many commits). */
export async function postCommitIn(repo: Repo, opts: PostCommitOptions): Promise<HookEvent[]> {
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
  const head = opts.head ?? (await headSymbolicRef(repo));
  log.branch = head.startsWith('refs/heads/') ? head.slice('refs/heads/'.length) : null;
  const skip = (opts.env ?? process.env).GIT_RUN_SKIP;
  if (skip && skip !== '0') {
    await log.add('info', 'skipped', null, `GIT_RUN_SKIP=${skip}: nothing submitted`);
    return;
  }
  if (!repo.topLevel) throw new GitRunError(ErrorCode.NotARepository, 'a bare repository: there is no work tree to run from', 'install the hook in a clone with a work tree');
  const state = opts.state ?? MARKERS.filter((m) => existsSync(path.join(repo.gitDir, m)));
  const parents = await parentCount(repo, sha);
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
  const perm = await sharedPerm(repo);
  try {
    mkdirShared(perm, dir);
    writeFileShared(perm, file, JSON.stringify(marker) + '\n', 'wx');
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
    adjustSharedPerm(perm, tmp);
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
  const times = await committerTimes(repo, markers.map((m) => m.commit));
  let newest = markers[0]!;
  for (const m of markers.slice(1)) {
    const [tn, tm] = [times.get(newest.commit) ?? 0, times.get(m.commit) ?? 0];
    if (tm > tn || (tm === tn && ((await isAncestor(repo, newest.commit, m.commit)) || (!(await isAncestor(repo, m.commit, newest.commit)) && m.at > newest.at)))) newest = m;
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
