/**
 * Sharing runs through any git remote (docs/decisions/0017-sharing.md):
 * `push` sends run refs with every run they depend on and the metadata
 * notes; `pull` brings them back; notes are merged, never forced; a run ref
 * only ever moves forward, and one that differs from the run here is
 * reported and left alone (runs are immutable: another object under the
 * same name is hostile or a bug).
 */
import type { Repo } from '../git/repo.js';
import { NOTES_REF, RUNS_PREFIX, RunRef } from '../git/refs.js';
import { revParse } from '../git/objects.js';
import { updateRefs, type RefUpdate } from '../git/transaction.js';
import {
  branchRemote, checkRunTips, dropTemporaryRef, fetchNotes, fetchObjects, isAncestor, listRemoteRuns, mergeNotes, missingObjects, pushRefs, remoteNames,
  temporaryNotesRef, objectType, shareRefspecs, configValues, addConfigValue, removeConfigValue, remoteNotesRef, type TransferFailure,
} from '../git/remote.js';
import { listRunRefs, packRefsIfMany, resolveRun } from '../store/runs.js';
import { ErrorCode, GitRunError, isGitRunError } from '../errors/index.js';
import { escapeText as shown } from '../util/escape.js';
import { pushLfsObjects } from './lfs.js';

export interface ShareOptions {
  /** A configured remote's name, a URL or a path; default: the branch's upstream remote, else origin. */
  remote?: string;
  /** git's progress text as it comes (on a terminal); nothing otherwise. */
  progress?: (chunk: string) => void;
}

export interface PushOptions extends ShareOptions {
  /** Runs to push (ids, prefixes, names); empty or absent: every run. */
  runs?: string[];
}

export interface Skipped {
  ref: string;
  reason: string;
}

export interface PushResult {
  remote: string;
  /** Runs whose refs were sent (new on the remote, or moved forward there). */
  pushed: string[];
  /** Runs the remote already had as they are here. */
  upToDate: number;
  /** Runs not sent: the remote holds another state of them (pull first) or another object. */
  skipped: Skipped[];
  /** 'merged': the remote's notes had moved and were merged here first; 'sent'; 'up to date'; 'none': no notes anywhere. */
  notes: 'merged' | 'sent' | 'up to date' | 'none';
}

export interface PullResult {
  remote: string;
  /** Runs new here. */
  added: string[];
  /** Runs here that moved forward to the remote's newer state (a run that was running when pushed, now finished). */
  updated: string[];
  upToDate: number;
  /** Refs from the remote left alone, with why (names escaped by the printer: they come from the remote). */
  skipped: Skipped[];
  notes: 'merged' | 'fast-forward' | 'up to date' | 'none' | 'skipped';
}

/** Races with the remote (notes moved between our look and our push) or with this repository (an edit while pulling) are retried this often. */
const ATTEMPTS = 5;
/** Refspecs per `git push` when runs are named one by one (command lines have a length limit). */
const REFSPECS_PER_PUSH = 2000;

const looksLikeUrl = (w: string) => w.includes(':') || w.includes('/') || w.startsWith('.');

/** The remote a word names, or null when it names none (the caller may try it as a run). */
async function remoteOf(repo: Repo, word: string): Promise<string | null> {
  if ((await remoteNames(repo)).includes(word)) return word;
  return looksLikeUrl(word) ? word : null;
}

async function unknownRemote(repo: Repo, word: string, orRun = false): Promise<GitRunError> {
  const names = await remoteNames(repo);
  return new GitRunError(
    ErrorCode.UnknownRemote,
    orRun ? `'${shown(word)}' is neither a remote nor a run` : `no remote named '${shown(word)}'`,
    `${names.length ? `remotes here: ${names.join(', ')}` : 'this repository has no remote'}; add one with \`git remote add <name> <url>\`, or give a URL or a path`,
    { remote: word },
  );
}

/** The remote to use: the one named, else the branch's upstream remote, else origin. */
export async function resolveRemote(repo: Repo, word: string | undefined): Promise<string> {
  if (word !== undefined) {
    if (!word || word.startsWith('-')) throw new GitRunError(ErrorCode.UnknownRemote, `'${shown(word)}' is not a remote`, 'name a remote (`git remote -v` lists them), a URL or a path', { remote: word });
    const r = await remoteOf(repo, word);
    if (r) return r;
    throw await unknownRemote(repo, word);
  }
  const upstream = await branchRemote(repo);
  if (upstream) return upstream;
  if ((await remoteNames(repo)).includes('origin')) return 'origin';
  throw new GitRunError(ErrorCode.NoRemote, 'no remote to share runs with: the branch has no upstream and there is no remote named origin', 'name one (`git run push <remote>`), or add one with `git remote add origin <url>`');
}

function refused(remote: string, f: TransferFailure): GitRunError {
  const lines = f.stderr
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l && !/^(hint:|Enumerating|Counting|Compressing|Writing|Total|remote: (Enumerating|Counting|Compressing|Total))/.test(l));
  return new GitRunError(
    ErrorCode.RemoteFailed,
    `the remote '${shown(remote)}' could not be reached or refused: ${shown(lines.slice(0, 4).join(' / ')) || `git exited ${f.code}`}`,
    'check its URL (`git remote -v`), that it is a git repository, and your access to it (for ssh: your key, `ssh -T <host>`); nothing was changed',
    { remote, exitCode: f.code, stderr: f.stderr },
  );
}

/**
 * The first word of `push`'s arguments is a remote when it names one (a
 * configured remote, a URL or a path), else the runs start there.
 */
export async function splitPushArgs(repo: Repo, words: string[]): Promise<{ remote: string | undefined; runs: string[] }> {
  if (!words.length) return { remote: undefined, runs: [] };
  const [first, ...rest] = words as [string, ...string[]];
  if (first.startsWith('-') || (await remoteOf(repo, first))) return { remote: first, runs: rest };
  // Not a remote: a run, when it names one; otherwise the unknown remote is the likelier mistake.
  try {
    await resolveRun(repo, first);
  } catch (e) {
    if (isGitRunError(e) && e.code === ErrorCode.RunNotFound) throw await unknownRemote(repo, first, true);
    throw e;
  }
  return { remote: undefined, runs: words };
}

/** The runs to send: those named, their groups and group members, and every upstream run, transitively. */
async function closure(repo: Repo, ids: string[]): Promise<string[]> {
  const { RunIndex } = await import('../index/db.js');
  const index = RunIndex.open(repo);
  try {
    await index.sync(repo);
    const seen = new Set(ids);
    const missing: Array<{ run: string; upstream: string }> = [];
    let level = ids;
    while (level.length) {
      const next: string[] = [];
      for (const [run, other, how, known] of index.relativesOf(level)) {
        if (!known) {
          // A child or group gone (deleted with `git run rm`) does not dangle lineage; an upstream run would.
          if (how === 'upstream') missing.push({ run, upstream: other });
          continue;
        }
        if (!seen.has(other)) {
          seen.add(other);
          next.push(other);
        }
      }
      level = next;
    }
    if (missing.length) {
      const m = missing[0]!;
      throw new GitRunError(
        ErrorCode.UpstreamMissing,
        `run ${m.run.slice(0, 12)} took inputs from run ${m.upstream.slice(0, 12)}, which this repository does not have${missing.length > 1 ? ` (and ${missing.length - 1} more such link${missing.length > 2 ? 's' : ''})` : ''}: pushing it would leave its lineage dangling on the remote`,
        `fetch the upstream run first (\`git run pull\` from where it is), or leave ${m.run.slice(0, 12)} out; nothing was pushed`,
        { missing },
      );
    }
    return [...seen];
  } finally {
    index.close();
  }
}

/** Merge the remote's notes (fetched into `theirsRef`) into refs/notes/runs by compare-and-swap. False: the local notes moved meanwhile. */
async function takeNotes(repo: Repo, ours: string | null, theirs: string, theirsRef: string): Promise<{ tip: string; how: 'merged' | 'fast-forward' } | false> {
  let tip: string;
  let how: 'merged' | 'fast-forward' = 'fast-forward';
  if (!ours || (await isAncestor(repo, ours, theirs))) tip = theirs;
  else {
    tip = await mergeNotes(repo, ours, theirsRef, await repo.ident());
    how = 'merged';
  }
  const update: RefUpdate = ours ? { ref: NOTES_REF, update: tip, old: ours } : { ref: NOTES_REF, create: tip };
  return (await updateRefs(repo, [update], 'git-run: notes merged from a remote')) ? { tip, how } : false;
}

export async function pushRuns(repo: Repo, opts: PushOptions): Promise<PushResult> {
  const remote = await resolveRemote(repo, opts.remote);
  const all = !opts.runs?.length;
  const local = new Map((await listRunRefs(repo)).map((r) => [r.id, r.tip]));
  const named = all ? [...local.keys()] : await Promise.all(opts.runs!.map((w) => resolveRun(repo, w)));
  const ids = (await closure(repo, [...new Set(named)])).filter((id) => local.has(id));
  for (let attempt = 1; ; attempt++) {
    const there = await listRemoteRuns(repo, remote);
    if ('code' in there) throw refused(remote, there);
    const theirs = new Map(there.runs.map((r) => [r.ref, r.oid]));
    const send: string[] = [];
    const skipped: Skipped[] = [];
    let upToDate = 0;
    for (const id of ids) {
      const ref = new RunRef(id).name;
      const mine = local.get(id)!;
      const other = theirs.get(ref);
      if (other === mine) upToDate++;
      else if (!other || (await isAncestor(repo, other, mine))) send.push(id);
      else skipped.push({ ref, reason: (await isAncestor(repo, mine, other)) ? 'the remote has a newer state of this run: `git run pull` first' : 'the remote holds another object under this run\'s name: left alone' });
    }
    let notesTip = await revParse(repo, NOTES_REF);
    let notes: PushResult['notes'] = notesTip ? (notesTip === there.notes ? 'up to date' : 'sent') : there.notes ? 'up to date' : 'none';
    if (there.notes && notesTip !== there.notes && !(notesTip && (await isAncestor(repo, there.notes, notesTip)))) {
      // The remote's notes moved since we last saw them: merge them here first, so the push is a fast-forward.
      const f = await fetchNotes(repo, remote, { ...(opts.progress ? { progress: opts.progress } : {}) });
      if ('code' in f) throw refused(remote, f);
      try {
        const fetched = await revParse(repo, f.notesRef);
        const took = fetched ? await takeNotes(repo, notesTip, fetched, f.notesRef) : false;
        if (!took) {
          if (attempt < ATTEMPTS) continue;
          throw new GitRunError(ErrorCode.RemoteFailed, 'the metadata notes kept moving while merging them', 'push again; nothing was pushed', { remote });
        }
        notesTip = took.tip;
        notes = took.how === 'merged' ? 'merged' : 'up to date';
      } finally {
        await dropTemporaryRef(repo, f.notesRef);
      }
    }
    const notesSpec = notesTip && notesTip !== there.notes ? [`${NOTES_REF}:${NOTES_REF}`] : [];
    if (notes === 'merged' && !notesSpec.length) notes = 'up to date';
    if (!send.length && !notesSpec.length) return { remote, pushed: [], upToDate, skipped, notes };
    // Every run here, none skipped: the glob is what a plain `git push` would send (and fits any command line).
    const globbed = all && !skipped.length && send.length + upToDate === local.size;
    const chunks: string[][] = [];
    if (globbed) chunks.push([`${RUNS_PREFIX}*:${RUNS_PREFIX}*`]);
    else for (let i = 0; i < send.length; i += REFSPECS_PER_PUSH) chunks.push(send.slice(i, i + REFSPECS_PER_PUSH).map((id) => `${RUNS_PREFIX}${id}:${RUNS_PREFIX}${id}`));
    if (!chunks.length) chunks.push([]);
    // Notes go with the last batch: a run's metadata never lands before the run.
    chunks[chunks.length - 1]!.push(...notesSpec);
    let raced = false;
    for (const specs of chunks) {
      const r = await pushRefs(repo, remote, specs, { ...(opts.progress ? { progress: opts.progress } : {}) });
      if ('ok' in r) continue;
      // Rejected as not a fast-forward: the remote moved since ls-remote. Look again and retry (atomic: nothing landed).
      if (r.rejected.length && r.rejected.every((x) => /fetch first|non-fast-forward|stale info|atomic|failed to update ref|cannot lock/.test(x.reason)) && attempt < ATTEMPTS) {
        raced = true;
        break;
      }
      throw refused(remote, r.rejected.length ? { code: r.code, stderr: r.rejected.map((x) => `${x.ref} ${x.reason}`).join('\n') } : r);
    }
    if (raced) continue;
    // The LFS content of the runs sent, after their refs (a pull fetches none: content is fetched when it is read).
    if (send.length) await pushLfsObjects(repo, remote, send);
    return { remote, pushed: send, upToDate, skipped, notes };
  }
}

export async function pullRuns(repo: Repo, opts: ShareOptions): Promise<PullResult> {
  const remote = await resolveRemote(repo, opts.remote);
  const progress = opts.progress ? { progress: opts.progress } : {};
  for (let attempt = 1; ; attempt++) {
    // The remote's refs and ours at once (two processes, no dependency between them).
    const [there, localRefs] = await Promise.all([listRemoteRuns(repo, remote), listRunRefs(repo)]);
    if ('code' in there) throw refused(remote, there);
    const local = new Map(localRefs.map((r) => [r.id, r.tip]));
    const skipped: Skipped[] = [];
    const candidates: Array<{ id: string; tip: string; mine: string | undefined }> = [];
    let upToDate = 0;
    for (const { ref, oid } of there.runs) {
      const parsed = RunRef.parse(ref);
      if (!parsed) {
        skipped.push({ ref, reason: 'not a run ref name (refs/runs/<full object id>)' });
        continue;
      }
      const mine = local.get(parsed.id);
      if (mine === oid) upToDate++;
      else candidates.push({ id: parsed.id, tip: oid, mine });
    }
    const lacking = await missingObjects(repo, [...candidates.map((c) => c.tip), ...(there.notes ? [there.notes] : [])]);
    const got = await fetchObjects(repo, remote, [...lacking], progress);
    if ('code' in got) throw refused(remote, got);
    // What to do with the remote's notes is decided while the runs are checked (both only read what was fetched).
    let notesRef: string | null = null;
    const theirNotes = there.notes;
    const notesPlan = (async (): Promise<{ notes: PullResult['notes']; update?: RefUpdate; skip?: Skipped }> => {
      const ours = await revParse(repo, NOTES_REF);
      if (!theirNotes) return { notes: ours ? 'up to date' : 'none' };
      if (theirNotes === ours || (ours && (await isAncestor(repo, theirNotes, ours)))) return { notes: 'up to date' };
      if ((await objectType(repo, theirNotes)) !== 'commit') return { notes: 'skipped', skip: { ref: NOTES_REF, reason: 'not a notes commit: left alone' } };
      if (!ours || (await isAncestor(repo, ours, theirNotes))) {
        return { notes: 'fast-forward', update: ours ? { ref: NOTES_REF, update: theirNotes, old: ours } : { ref: NOTES_REF, create: theirNotes } };
      }
      notesRef = await temporaryNotesRef(repo, theirNotes);
      const merged = await mergeNotes(repo, ours, notesRef, await repo.ident());
      return { notes: 'merged', update: { ref: NOTES_REF, update: merged, old: ours } };
    })();
    try {
      // Each tip checked as a run and placed against ours, two git processes for all (no process per run).
      const [checked, plan] = await Promise.all([checkRunTips(repo, candidates), notesPlan]);
      const updates: RefUpdate[] = [];
      const added: string[] = [];
      const updated: string[] = [];
      for (const c of candidates) {
        const ref = new RunRef(c.id).name;
        const how = checked.get(c.id) ?? { bad: 'not checked' };
        if ('bad' in how) skipped.push({ ref, reason: `not a run: ${how.bad}` });
        else if (how.move === 'new') {
          updates.push({ ref, create: c.tip });
          added.push(c.id);
        } else if (how.move === 'forward') {
          updates.push({ ref, update: c.tip, old: c.mine! });
          updated.push(c.id);
        } else if (how.move === 'behind') upToDate++;
        else skipped.push({ ref, reason: 'differs from the run here (runs never change): left alone' });
      }
      if (plan.skip) skipped.push(plan.skip);
      if (plan.update) updates.push(plan.update);
      // One transaction: every new run with its metadata, or nothing (a local edit meanwhile: look again).
      if (updates.length && !(await updateRefs(repo, updates, `git-run: pull from ${remote}`))) {
        if (attempt < ATTEMPTS) continue;
        throw new GitRunError(ErrorCode.RemoteFailed, 'the runs or their notes kept changing here while pulling', 'pull again; nothing was changed', { remote });
      }
      if (added.length) packRefsIfMany(repo);
      return { remote, added, updated, upToDate, skipped, notes: plan.notes };
    } finally {
      // When the checks failed the notes plan may still be running: its temporary ref is dropped once it is done.
      await notesPlan.catch(() => undefined);
      if (notesRef) await dropTemporaryRef(repo, notesRef);
    }
  }
}

export interface RemoteConfig {
  remote: string;
  /** Refspecs added (or removed, with remove), per direction. */
  fetch: string[];
  push: string[];
  /** Where plain `git fetch` puts the remote's notes (merged into refs/notes/runs by `git run pull`). */
  notesRef: string;
}

/**
 * `git run remote <remote>`: plain `git fetch` and `git push` carry runs and
 * notes too. Run refs both ways without force (a run only moves forward);
 * notes are pushed without force and fetched beside the local ones, since a
 * fetch cannot merge them (`git run pull` or `push` merges). Adding twice
 * adds nothing; `remove` takes out exactly what was added.
 */
export async function configureRemote(repo: Repo, word: string, remove = false): Promise<RemoteConfig> {
  if (!(await remoteNames(repo)).includes(word)) throw await unknownRemote(repo, word);
  const specs = shareRefspecs(word);
  const changed = { fetch: [] as string[], push: [] as string[] };
  for (const dir of ['fetch', 'push'] as const) {
    const key = `remote.${word}.${dir}`;
    const have = await configValues(repo, key);
    for (const s of specs[dir]) {
      if (remove && have.includes(s)) {
        await removeConfigValue(repo, key, s);
        changed[dir].push(s);
      } else if (!remove && !have.includes(s)) {
        // A remote with no push refspec pushes the current branch by default: adding one would change what
        // a plain `git push` sends, so the branches' default is written out first (git's own `HEAD`).
        if (dir === 'push' && !have.length && !changed.push.length) {
          await addConfigValue(repo, key, 'HEAD');
          changed.push.push('HEAD');
        }
        await addConfigValue(repo, key, s);
        changed[dir].push(s);
      }
    }
  }
  if (remove) {
    // The `HEAD` written when the remote was added, when it is all that is left.
    const left = await configValues(repo, `remote.${word}.push`);
    if (changed.push.length && left.length === 1 && left[0] === 'HEAD') {
      await removeConfigValue(repo, `remote.${word}.push`, 'HEAD');
      changed.push.push('HEAD');
    }
  }
  return { remote: word, ...changed, notesRef: remoteNotesRef(word) };
}
