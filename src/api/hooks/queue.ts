/**
 * The post-commit queue: the shim notes each commit as a file and at most one
 * background worker per repository submits what was noted, so back-to-back
 * commits start one node process instead of one each (five in a row took
 * 46, 76, 134, 194 and 230 ms when each started its own and they piled up
 * on two cores).
 *
 *   <git common dir>/git-run/
 *     hook-queue/<sha>        one line, written by the shim: "<sha> <HEAD's ref or ''> <markers,>"
 *     hook-worker.pid         the worker that holds the queue (created whole with link(2): never seen half-written)
 *     hook-worker.starting    the process the last shim started (alive: the next shim starts none)
 *
 * The worker takes the lock, submits every noted commit oldest first
 * (postCommitIn), deletes each note after it, and looks again until the
 * queue is empty; it then lets go of the lock and looks once more, so that a
 * commit noted after its last look but while it still held the lock (the
 * shim saw it alive and started nobody) is not left behind. A worker that
 * dies leaves its notes and a lock whose process is gone: the next worker
 * breaks such a lock and submits them. A note is deleted only after its
 * commit was handled, so a crash repeats at most that commit, which its
 * per-commit marker then refuses (submitted once).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { openRepo, type Repo } from '../../git/repo.js';
import { adjustSharedPerm, sharedPerm } from '../../git/shared.js';
import { postCommitIn } from './post-commit.js';
import { HookLog } from './log.js';

export const STATE_DIR = 'git-run';
export const QUEUE_DIR = 'hook-queue';
export const WORKER_FILE = 'hook-worker.pid';
export const STARTING_FILE = 'hook-worker.starting';

export const queueDir = (repo: Repo): string => path.join(repo.stateDir, QUEUE_DIR);
const workerFile = (repo: Repo): string => path.join(repo.stateDir, WORKER_FILE);

/** A note older than this that has no complete line is from a shim that died while writing it: handled from its name alone. */
const TORN_AFTER_MS = 60_000;

/** Whether a process exists (EPERM: it does, and is someone else's). */
function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const readPid = async (file: string): Promise<number> => Number((await fs.readFile(file, 'utf8').catch(() => '')).trim() || NaN);

/**
 * Take the queue's lock, or return false when a live worker holds it. The
 * lock file is made whole beside its place and linked in (link fails when
 * one exists). A lock whose process is gone is moved aside under this
 * process's name and checked: if what was moved is not the dead worker's
 * (another worker broke it first and took the lock meanwhile), it is put back
 * and this one gives way.
 */
async function takeLock(repo: Repo): Promise<boolean> {
  const lock = workerFile(repo);
  const tmp = `${lock}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${process.pid}\n`);
  adjustSharedPerm(await sharedPerm(repo), tmp);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await fs.link(tmp, lock);
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = await readPid(lock);
      if (alive(holder)) return false;
      const aside = `${lock}.stale.${process.pid}`;
      try {
        await fs.rename(lock, aside);
      } catch {
        continue;
      }
      const moved = await readPid(aside);
      if (moved !== holder && alive(moved)) {
        await fs.link(aside, lock).catch(() => undefined);
        await fs.rm(aside, { force: true });
        return false;
      }
      await fs.rm(aside, { force: true });
    }
    return false;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

async function dropLock(repo: Repo): Promise<void> {
  const lock = workerFile(repo);
  if ((await readPid(lock)) === process.pid) await fs.rm(lock, { force: true });
}

interface Note {
  file: string;
  commit: string;
  head?: string;
  state?: string[];
  mtimeMs: number;
}

/** The notes in the queue, oldest first; `torn`: notes still being written (young, without their line). */
async function notes(repo: Repo): Promise<{ ready: Note[]; torn: number }> {
  const dir = queueDir(repo);
  const perm = await sharedPerm(repo);
  const ready: Note[] = [];
  let torn = 0;
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(name)) continue;
    const file = path.join(dir, name);
    const [text, st] = await Promise.all([fs.readFile(file, 'utf8').catch(() => null), fs.stat(file).catch(() => null)]);
    if (text === null || !st) continue;
    // The shim wrote it under the committer's umask: given the shared mode here, as git would have.
    if (perm) shareShimFile(perm, file);
    const line = text.endsWith('\n') ? text.slice(0, -1) : null;
    const fields = line?.split(' ');
    if (fields && fields.length === 3 && fields[0] === name) {
      ready.push({ file, commit: name, head: fields[1]!, state: fields[2]!.split(',').filter(Boolean), mtimeMs: st.mtimeMs });
    } else if (Date.now() - st.mtimeMs > TORN_AFTER_MS) {
      // Its line never came: HEAD's ref and git's markers are read now, as `hook post-commit --commit` by hand does.
      ready.push({ file, commit: name, mtimeMs: st.mtimeMs });
    } else torn++;
  }
  ready.sort((a, b) => a.mtimeMs - b.mtimeMs || a.file.localeCompare(b.file));
  return { ready, torn };
}

/** Submit every noted commit, until the queue is empty; returns how many. */
async function drain(repo: Repo): Promise<number> {
  let n = 0;
  for (;;) {
    const { ready, torn } = await notes(repo);
    if (!ready.length && !torn) return n;
    if (!ready.length) {
      // A shim is between creating its note and writing the line (a single write): a moment.
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    for (const note of ready) {
      await postCommitIn(repo, { commit: note.commit, env: {}, ...(note.head !== undefined ? { head: note.head } : {}), ...(note.state ? { state: note.state } : {}) });
      await fs.rm(note.file, { force: true });
      n++;
    }
  }
}

/**
 * The worker the shim starts (`git run hook post-commit --drain`): submits
 * what was noted, unless another worker holds the queue. Logs one `drained`
 * event per stretch it held the queue (its pid, start and end), which is how
 * the tests see that workers never overlap.
 *
 * The shim starts no worker while the lock's holder or the process the last
 * shim started is alive, so every way out of here first stops being that
 * process (lets go of the lock, clears hook-worker.starting when it names
 * this process or its parent, `git run`) and only then looks at the queue:
 * a note written before that look is seen; one written after finds no live
 * worker and starts one. Notes left while another live worker holds the lock
 * are that worker's: it looks again after letting go.
 */
export async function drainPostCommits(opts: { cwd?: string } = {}): Promise<void> {
  const repo = await openRepo(opts.cwd ?? process.cwd());
  const perm = await sharedPerm(repo);
  if (perm) shareShimFile(perm, path.join(repo.stateDir, STARTING_FILE));
  for (;;) {
    if (await takeLock(repo)) {
      const start = new Date().toISOString();
      let commits = 0;
      try {
        commits = await drain(repo);
      } finally {
        // Logged before letting go: the next worker's stretch starts after this one's end.
        const end = new Date().toISOString();
        await new HookLog(repo, 'post-commit').add('info', 'drained', null, `worker ${process.pid} submitted ${commits} noted commit${commits === 1 ? '' : 's'}`, { worker: { pid: process.pid, start, end, commits } });
        await dropLock(repo);
      }
    }
    await clearStarting(repo);
    const { ready, torn } = await notes(repo);
    if (!ready.length && !torn) return;
    if (alive(await readPid(workerFile(repo)))) return;
  }
}

/** A file the shim wrote with shell redirections (so under the committer's umask), gone meanwhile or not. */
function shareShimFile(perm: number, file: string): void {
  try {
    adjustSharedPerm(perm, file);
  } catch {
    /* handled and deleted by now */
  }
}

/** Stop being the worker the last shim started (so that the next shim starts one if this one is done). */
async function clearStarting(repo: Repo): Promise<void> {
  const file = path.join(repo.stateDir, STARTING_FILE);
  const pid = await readPid(file);
  if (pid === process.pid || pid === process.ppid) await fs.rm(file, { force: true });
}
