/**
 * The derived query index: a SQLite file (WAL) under the git directory that
 * holds what every run's commits and notes say, so that finding runs (by
 * key, status, time, params, metrics, tags...) does not read every run from
 * git. It is never the source of truth: it follows the refs and the notes,
 * and deleting or damaging the file loses nothing (it is rebuilt).
 *
 * Keeping up with git cheaply: before listing 100,000 refs, the index
 * compares a stamp of the places a ref update must touch (the refs/runs and
 * refs/notes directories, where git creates each update's lock file, and
 * packed-refs) with the stamp of its last sync. Equal, and not taken in the
 * same instant as a change could still land (git's racy-timestamp rule),
 * means nothing moved. Otherwise it lists the refs and reads only runs whose
 * ref moved, and only notes that changed between the two notes commits.
 *
 * Several processes (the CLI, detached supervisors) use it at once: WAL, a
 * busy timeout, and each sync's writes in one transaction.
 * The only module that imports better-sqlite3.
 */
import Database from 'better-sqlite3';
import path from 'node:path';
import { mkdirSync, rmSync, renameSync, rmdirSync, lstatSync, readdirSync, existsSync } from 'node:fs';
import type { Repo } from '../git/repo.js';
import { CatFileBatch } from '../git/gateway.js';
import { NOTES_REF } from '../git/refs.js';
import { revParse } from '../git/objects.js';
import { changedNotes, listNotes } from '../git/notes.js';
import { adjustSharedPerm, sharedPerm } from '../git/shared.js';
import { forEachRunRef, looseRunRefs, packedStamp, refsStamp } from '../git/refscan.js';
import { diskFull, ErrorCode, GitRunError } from '../errors/index.js';
import { foldMetadata, groupStatus, type GroupChild, type RunResult, type RunSpec, type RunState, type Status } from '../core/record.js';
import { parseMetrics, parseSummary, metricStats, METRICS_FILE, SUMMARY_FILE, type MetricStats } from '../core/metrics.js';
import { canonicalJson } from '../core/record.js';

const SCHEMA_VERSION = 10;

/**
 * The query drivers' indexes (issue 16). Nothing in a sync reads them: a sync
 * that writes most of the index (a rebuild) drops them and makes them again
 * after its inserts, one sorted build each instead of a B-tree insert per row.
 */
const DRIVER_INDEXES: ReadonlyArray<readonly [string, string]> = [
  ['params_num', 'params(name, num, run)'],
  ['params_text', 'params(name, text, run)'],
  ['metrics_num', 'metrics(name, num, run)'],
  ['tags_tag', 'tags(tag, run)'],
];

/** The tables and indexes (exported for the query-plan tests). */
export const SCHEMA = `
  CREATE TABLE runs (
    id TEXT PRIMARY KEY, tip TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL, started_at TEXT, ended_at TEXT, duration REAL,
    parent TEXT, name TEXT, notes TEXT, creator TEXT, host TEXT, source_commit TEXT, tree TEXT,
    seed INTEGER, exit_code INTEGER, command TEXT,
    -- a local run's host and executor, to check liveness without reading it
    executor TEXT, handle_host TEXT,
    -- 'daemon' for a run waiting in the daemon's queue until started
    dispatch TEXT,
    note_blob TEXT,
    -- the run key without machine variables, and the clone that made the run (memoization across clones: decision 0017)
    portable_key TEXT, clone TEXT
  );
  CREATE INDEX runs_key ON runs(key);
  CREATE INDEX runs_portable_key ON runs(portable_key);
  -- (created_at, id): the order every listing is in, walked without touching the rows (issue 16)
  CREATE INDEX runs_created ON runs(created_at, id);
  CREATE INDEX runs_parent ON runs(parent);
  CREATE INDEX runs_commit ON runs(source_commit);
  CREATE INDEX runs_status ON runs(status);
  -- a run named on the command line by its name (store/runs.ts resolveRun)
  CREATE INDEX runs_name ON runs(name);
  CREATE TABLE params (run TEXT NOT NULL, name TEXT NOT NULL, text TEXT NOT NULL, num REAL, PRIMARY KEY (run, name)) WITHOUT ROWID;
  -- num: the metric's value (metrics.json's, else the history's last); min, max, count (and the steps of min and max) over its history (decision 0020), or of num alone
  CREATE TABLE metrics (run TEXT NOT NULL, name TEXT NOT NULL, num REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, count INTEGER NOT NULL, min_step REAL, max_step REAL, PRIMARY KEY (run, name)) WITHOUT ROWID;
  CREATE TABLE tags (run TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (run, tag)) WITHOUT ROWID;
  -- ---- Query drivers (issue 16): a selective --where starts from the runs that have such a value ----
  ${DRIVER_INDEXES.map(([name, on]) => `CREATE INDEX ${name} ON ${on};`).join('\n  ')}
  -- ---- end of the query drivers ----
  CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
  -- every param and metric name ever indexed (a DISTINCT over 500,000 rows took 120 ms on each query)
  CREATE TABLE names (kind TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (kind, name)) WITHOUT ROWID;
  -- a group's children as its children.json lists them: reused ones belong to another parent (or none)
  CREATE TABLE group_children (grp TEXT NOT NULL, child TEXT NOT NULL, PRIMARY KEY (grp, child)) WITHOUT ROWID;
  CREATE INDEX group_children_child ON group_children(child);
  -- a run's inputs as its run.json lists them (lineage): an artifact of another run (upstream, upstream_path),
  -- or a work-tree path (worktree). Downstream of X: the rows whose upstream is X. Unchecked text inputs of old records have no row.
  CREATE TABLE inputs (
    run TEXT NOT NULL, path TEXT NOT NULL, oid TEXT NOT NULL, type TEXT,
    upstream TEXT, upstream_path TEXT, worktree TEXT,
    PRIMARY KEY (run, path)
  ) WITHOUT ROWID;
  CREATE INDEX inputs_upstream ON inputs(upstream);
  CREATE INDEX inputs_oid ON inputs(oid);
  -- rows of runs, kept by triggers (hand edits fire them too): a count(*) took 150-190 ms in a new process at 100,000 runs (under load)
  INSERT INTO meta (k, v) VALUES ('rows', '0');
  CREATE TRIGGER runs_added AFTER INSERT ON runs BEGIN UPDATE meta SET v = CAST(v AS INTEGER) + 1 WHERE k = 'rows'; END;
  CREATE TRIGGER runs_removed AFTER DELETE ON runs BEGIN UPDATE meta SET v = CAST(v AS INTEGER) - 1 WHERE k = 'rows'; END;
`;

/** The tables holding rows of one run, and the column naming it. */
const RUN_TABLES = ['runs', 'params', 'metrics', 'tags', 'group_children', 'inputs'] as const;
const runColumn = (t: (typeof RUN_TABLES)[number]) => (t === 'runs' ? 'id' : t === 'group_children' ? 'grp' : 'run');
/** Past this many runs gone in one sync, their rows are deleted table by table rather than run by run. */
const BULK_GONE = 200;

export interface IndexedRun {
  id: string;
  tip: string;
  key: string;
  kind: 'run' | 'group';
  /** As the commits say (a group's from its children); running for a started run (liveness is checked elsewhere). */
  status: Status;
  createdAt: string;
  parent: string | null;
  executor: string | null;
  handleHost: string | null;
}

/** A run's row as a one-line listing needs it (lineRows), with its parent's. */
export interface LineRow {
  id: string;
  status: string;
  kind: string;
  /** The argument vector as JSON text (null if the record had none). */
  command: string | null;
  name: string | null;
  parent: string | null;
  /** The parent's row: null when the run has no parent or the index has no row for it. */
  parentId: string | null;
  parentName: string | null;
  parentParent: string | null;
}

/** A filter: a boolean SQL expression over `runs r`, with its `?` arguments. */
export interface Condition {
  sql: string;
  args: Array<string | number>;
  /** Supersets of the runs it holds for, each a `SELECT ... AS run` with its arguments (see select). */
  drivers?: Array<{ sql: string; args: Array<string | number> }>;
}

export interface IndexQuery {
  conditions: Condition[];
  /** Only runs whose source commit is one of these (a revision range's commits). */
  commits?: string[];
  limit?: number;
  /** When given, each statement select ran is added to it, with its query plan and the rows it gave (benchmarks, tests). */
  explain?: SelectStep[];
  /** Thresholds (tests exercise every path with small ones). */
  tuning?: { probe?: number; window?: number };
}

/** One statement of a selection: why it ran, SQLite's plan for it, the rows it gave. */
export interface SelectStep {
  step: 'probe' | 'driven' | 'window' | 'ordered';
  sql: string;
  plan: string[];
  rows: number;
}

/** A driver with fewer runs than this drives the query at once (counting stops here: a probe reads at most this many index entries). */
const PROBE = 2000;
/** With no driver that small, the newest this many runs are tried first (a dense filter finds its page there). */
const WINDOW = 5000;

/**
 * One input link: the consuming run, where it placed the input, the content id, where it came from, and the
 * run at the other end (upstream for inputsOf, the consumer for consumersOf) as the index has it (nulls: no
 * such run here). A tuple, as SQLite returns it raw: half the time of a row object at 10,000 links.
 */
export type LinkRow = readonly [
  run: string,
  path: string,
  oid: string,
  type: string | null,
  upstream: string | null,
  upstreamPath: string | null,
  worktree: string | null,
  otherName: string | null,
  otherStatus: Status | null,
  otherKind: string | null,
  otherCreatedAt: string | null,
  otherCommand: string | null,
];

export interface RunSummary {
  id: string;
  name: string | null;
  status: Status;
  kind: string;
  createdAt: string;
  /** The argument vector as JSON text. */
  command: string;
}

/** A row of the web page's runs table (tableRows). */
export interface TableRow {
  id: string;
  name: string | null;
  status: Status;
  kind: string;
  createdAt: string;
  parent: string | null;
  host: string | null;
  /** The argument vector as JSON text. */
  command: string;
  duration: number | null;
  /** How many runs name this one their parent. */
  children: number;
  params: Array<[string, string | number]>;
  metrics: Array<[string, number]>;
  tags: string[];
}

/** The columns of a LinkRow, in its order. */
const LINK_SELECT = 'SELECT i.run, i.path, i.oid, i.type, i.upstream, i.upstream_path, i.worktree, r.name, r.status, r.kind, r.created_at, r.command FROM inputs i';

type Row = { id: string; tip: string; key: string; kind: string; status: string; created_at: string; parent: string | null; executor: string | null; handle_host: string | null };

const MAX_LOOSE_KEPT = 5000;

/** A stamp newer than this when taken may share its time stamp with a change still to come. */
const RACY_MS = 2000;

const num = (v: unknown): number | null => {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
};
const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : canonicalJson(v));

/**
 * Open the file, making (or replacing a cache of another shape with) the
 * schema. Several processes open it at once (the CLI, supervisors, the
 * daemon): the shape is made or replaced inside an exclusive transaction,
 * never by deleting a file another process may be using.
 */
function openFile(file: string): Database.Database {
  const db = new Database(file, { timeout: 10000 });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // INSERT OR REPLACE deletes the row it replaces: its delete trigger must fire too, or the row count drifts.
    db.pragma('recursive_triggers = ON');
    if ((db.pragma('user_version', { simple: true }) as number) !== SCHEMA_VERSION) {
      db.exec('BEGIN EXCLUSIVE');
      try {
        // Looked at again under the lock: another process may have just made it.
        if ((db.pragma('user_version', { simple: true }) as number) !== SCHEMA_VERSION) {
          // A cache of another shape (or a new file): start again, it is rebuilt from git.
          const old = db.prepare("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'").all() as Array<{ type: string; name: string }>;
          for (const o of old.filter((x) => x.type === 'table')) db.exec(`DROP TABLE IF EXISTS "${o.name.replace(/"/g, '""')}"`);
          db.exec(SCHEMA);
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
        }
        db.exec('COMMIT');
      } catch (e) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw e;
      }
    }
  } catch (e) {
    db.close();
    throw e;
  }
  addFunctions(db);
  return db;
}

/** SQL functions the queries use: regexp (the REGEXP operator). */
function addFunctions(db: Database.Database): void {
  const patterns = new Map<string, RegExp>();
  db.function('regexp', { deterministic: true }, (pattern: unknown, value: unknown) => {
    if (typeof value !== 'string' || typeof pattern !== 'string') return 0;
    let re = patterns.get(pattern);
    if (!re) patterns.set(pattern, (re = new RegExp(pattern)));
    return re.test(value) ? 1 : 0;
  });
}

/**
 * The file as it is, to read (the disk is full); null when that fails too or
 * it is of another shape. WAL's shared-memory file may have no room to grow
 * (SQLITE_IOERR_SHMSIZE, read-only connections too): in exclusive locking mode
 * SQLite keeps that in the process's memory instead. Nothing is written
 * through it (the index is marked read-only); other processes wait on its lock
 * until the command ends.
 */
function openReadOnly(file: string): Database.Database | null {
  let db: Database.Database | null = null;
  try {
    db = new Database(file, { fileMustExist: true, timeout: 10000 });
    db.pragma('locking_mode = EXCLUSIVE');
    // Temporary tables (a revision range's commits) in memory: there is no room on disk.
    db.pragma('temp_store = MEMORY');
    if ((db.pragma('user_version', { simple: true }) as number) !== SCHEMA_VERSION) throw new Error('another shape');
    addFunctions(db);
    return db;
  } catch {
    db?.close();
    return null;
  }
}

/**
 * Not a database any more (damaged, truncated): it is only a cache. Moved
 * aside (one copy kept, to look at) under a guard directory, so that two
 * processes finding it damaged do not move each other's fresh one.
 */
function moveAside(file: string): void {
  const guard = `${file}.repair.d`;
  try {
    mkdirSync(guard);
  } catch {
    return; // another process repairs it: open what it makes
  }
  try {
    rmSync(`${file}.damaged`, { recursive: true, force: true });
    try {
      renameSync(file, `${file}.damaged`);
    } catch {
      rmSync(file, { force: true });
    }
    for (const f of [`${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  } finally {
    rmSync(guard, { recursive: true, force: true });
  }
}

const unusable = (what: string, remove: string) =>
  new GitRunError(ErrorCode.IndexUnusable, `${what}: git-run keeps its query index there`, `remove or rename it (\`${remove}\`); nothing of git-run's is lost, the index is rebuilt from git`, { path: remove });

/** The state directory and the index's place as they must be, healed where nothing can be lost. */
function prepareStateDir(dir: string, file: string): string[] {
  const made: string[] = [];
  try {
    if (mkdirSync(dir, { recursive: true })) made.push(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw unusable(`${dir} is not a directory`, `rm ${dir}`);
    if (code === 'ENOSPC' || code === 'EDQUOT') throw diskFull(dir);
    throw e;
  }
  let st;
  try {
    st = lstatSync(file);
  } catch {
    return [...made, file];
  }
  if (st.isFile()) return made;
  if (st.isDirectory()) {
    // An empty directory holds nothing: taken away. One with something in it is not ours to delete.
    try {
      if (!readdirSync(file).length) {
        rmdirSync(file);
        return [...made, file];
      }
    } catch {
      /* said below */
    }
    throw unusable(`${file} is a directory, not a file`, `rm -r ${file}`);
  }
  // A symbolic link (or a special file): never followed or replaced by us.
  throw unusable(`${file} is not a regular file`, `rm ${file}`);
}

/** An error from opening: a full disk or a place that is not a file said plainly; anything else as it is. */
function mapOpenError(e: unknown, file: string): unknown {
  if (isFull(e)) return diskFull(path.dirname(file));
  const code = (e as { code?: string }).code ?? '';
  if (/^SQLITE_CANTOPEN|^SQLITE_READONLY|^SQLITE_IOERR/.test(code)) {
    return new GitRunError(ErrorCode.IndexUnusable, `cannot open the query index ${file} (${code})`, `check that ${path.dirname(file)} is a directory you can write to; removing ${file} loses nothing (it is rebuilt from git)`, { path: file });
  }
  return e;
}

/** SQLite's answer for a file that is not (or no longer) a sound database. */
const isDamage = (e: unknown): boolean => /^SQLITE_(CORRUPT|NOTADB)/.test((e as { code?: string }).code ?? '');

/** Another connection held the write lock past the busy timeout. */
const isBusy = (e: unknown): boolean => /^SQLITE_BUSY/.test((e as { code?: string }).code ?? '');

/** SQLite's answer for a full disk (or a quota reached). */
const isFull = (e: unknown): boolean => /^SQLITE_FULL|^SQLITE_IOERR_(WRITE|FSYNC|SHMSIZE|TRUNCATE)/.test((e as { code?: string }).code ?? '');

/** Up to this many pages (4 KiB each) an index is checked whole on open: quick_check reads every page, 90-110 ms for 2,210 pages (15,000 runs) here under load, so only small ones (about 1,500 runs, a few ms). */
const CHECK_PAGES = 256;

export class RunIndex {
  /** From this many runs written in one sync, and at least as many as the index held, the driver indexes are built after the inserts (tests lower it). */
  static bulkRows = 5000;
  private db: Database.Database;
  /** True when writes failed for want of space: the index answers what it has, without writing. */
  private readOnly = false;
  /** What open created (the state directory, the file): given core.sharedRepository's modes by the first sync. */
  private made: string[] = [];
  private statements = new Map<string, Database.Statement>();
  /** The connection the statements belong to (heal() opens another). */
  private statementsOf: Database.Database | null = null;

  private constructor(
    db: Database.Database,
    private readonly file: string,
  ) {
    this.db = db;
  }

  /**
   * Open (making or healing it as needed) the index of this repository. A
   * damaged file is moved aside to index.sqlite.damaged and rebuilt from git;
   * what cannot be healed safely (the state directory is a file, the index is
   * a directory with something in it) is a GitRunError that says what to remove.
   */
  static open(repo: Repo): RunIndex {
    const dir = repo.stateDir;
    const file = path.join(dir, 'index.sqlite');
    const made = prepareStateDir(dir, file);
    let db: Database.Database;
    try {
      db = openFile(file);
      // A small index is checked whole on every open (damage anywhere, not only in the pages a sync reads);
      // a large one when SQLite reports damage (see guard).
      if ((db.pragma('page_count', { simple: true }) as number) <= CHECK_PAGES && db.pragma('quick_check(1)', { simple: true }) !== 'ok') {
        db.close();
        throw Object.assign(new Error('quick_check failed'), { code: 'SQLITE_CORRUPT' });
      }
    } catch (e) {
      if (isFull(e)) {
        // No room for the WAL or a checkpoint: answer from the index as it is, without writing.
        const ro = openReadOnly(file);
        if (!ro) throw diskFull(dir);
        const index = new RunIndex(ro, file);
        index.readOnly = true;
        return index;
      }
      if (!isDamage(e)) throw mapOpenError(e, file);
      moveAside(file);
      db = openFile(file);
    }
    const index = new RunIndex(db, file);
    index.made = made;
    return index;
  }

  /** Move the damaged file aside and start an empty one (rebuilt by the next sync). */
  private heal(): void {
    try {
      this.db.close();
    } catch {
      /* closing a damaged database may fail too: the file is replaced anyway */
    }
    moveAside(this.file);
    this.db = openFile(this.file);
    this.made.push(this.file);
  }

  /** Run a read; damage found on the way is healed for the next command and said plainly. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (!isDamage(e)) throw e;
      this.heal();
      throw new GitRunError(
        ErrorCode.IndexDamaged,
        `the query index (${this.file}) was damaged; it was moved aside to ${path.basename(this.file)}.damaged and is rebuilt from git`,
        'run the command again: nothing was lost (runs live in git, the index is only a cache)',
      );
    }
  }

  /** Bring the index up to date with the refs and notes: read only what moved. `full`: ignore the stamp. */
  async sync(repo: Repo, opts: { full?: boolean; onProgress?: (done: number, total: number) => void } = {}): Promise<{ read: number; removed: number }> {
    if (this.readOnly) return { read: 0, removed: 0 };
    try {
      // Several processes syncing at once on a loaded machine can wait past the busy timeout for the write lock
      // (seen with 10 commands at once at load 27): what they were writing is what the one holding it writes,
      // so a retry finds less to do. Not a bug of ours, so never exit 70 for it.
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.syncOnce(repo, opts);
        } catch (e) {
          if (!isBusy(e)) throw e;
          if (attempt >= 3) {
            throw new GitRunError(ErrorCode.IndexUnusable, `the query index (${this.file}) stayed locked by other git-run processes`, 'run the command again once the machine is less busy; nothing was lost', { path: this.file });
          }
        }
      }
    } catch (e) {
      if (isDamage(e)) {
        // Damage met while syncing: heal and rebuild now, so this command answers too.
        this.heal();
        return this.syncOnce(repo, { ...opts, full: true });
      }
      if (isFull(e)) {
        // No room to write: answer from what the index has (it may lag behind git until space is freed).
        this.readOnly = true;
        return { read: 0, removed: 0 };
      }
      throw e;
    }
  }

  /** True when the last sync could not write (the disk is full): answers may lag behind git. */
  get stale(): boolean {
    return this.readOnly;
  }

  private async syncOnce(repo: Repo, opts: { full?: boolean; onProgress?: (done: number, total: number) => void }): Promise<{ read: number; removed: number }> {
    if (this.made.length) {
      const perm = await sharedPerm(repo);
      // SQLite makes -wal and -shm with the file's mode as it was at open: they are adjusted too.
      for (const f of [...this.made, ...(this.made.includes(this.file) ? [`${this.file}-wal`, `${this.file}-shm`] : [])]) {
        if (existsSync(f)) adjustSharedPerm(perm, f);
      }
      this.made = [];
    }
    const before = refsStamp(repo.commonDir);
    const stored = this.getMeta('stamp');
    // The stamp alone is not trusted when the index's own count of runs (kept by triggers) disagrees with the
    // count of refs it last saw (rows deleted or added by hand, a half-restored file): then everything is compared again.
    const refCount = this.getMeta('refcount');
    const trusted = refCount !== null && refCount === this.getMeta('rows');
    if (!opts.full && trusted && before && stored === before.stamp) return { read: 0, removed: 0 };
    const packed = packedStamp(repo.commonDir);
    const prevLoose = this.getMeta('loose');
    const rowOf = this.db.prepare('SELECT tip, note_blob FROM runs WHERE id = ?');
    let changed: Array<{ id: string; tip: string }>;
    let gone: string[];
    let isLive: (id: string) => boolean;
    let have: (id: string) => { tip: string; note_blob: string | null } | undefined;
    let count: number;
    const notesTipP = revParse(repo, NOTES_REF);
    const canSkimLoose = !opts.full && trusted && !!before && packed !== null && prevLoose !== null && this.getMeta('packed') === packed;
    let loose = canSkimLoose ? looseRunRefs(repo.commonDir) : null;
    if (canSkimLoose && loose) {
      // packed-refs has not changed since the last sync, so every run ref it
      // holds is as the index has it: only loose refs can have moved (each
      // update is a loose file), and a loose ref gone without packed-refs
      // changing was deleted. Costs one readdir and the loose files, not a
      // listing of 100,000 refs.
      const was = new Set(JSON.parse(prevLoose) as string[]);
      let added = 0;
      changed = [...loose]
        .filter(([id, tip]) => {
          const row = rowOf.get(id) as { tip: string } | undefined;
          if (!row) added++;
          return row?.tip !== tip;
        })
        .map(([id, tip]) => ({ id, tip }));
      gone = [...was].filter((id) => !loose!.has(id) && !!rowOf.get(id));
      count = Number(refCount) + added - gone.length;
      const goneSet = new Set(gone);
      have = (id) => rowOf.get(id) as { tip: string; note_blob: string | null } | undefined;
      isLive = (id) => !goneSet.has(id) && (loose!.has(id) || !!have(id));
    } else {
      const refs = await forEachRunRef(repo);
      const all = new Map((this.db.prepare('SELECT id, tip, note_blob FROM runs').all() as Array<{ id: string; tip: string; note_blob: string | null }>).map((r) => [r.id, r]));
      changed = refs.filter((r) => all.get(r.id)?.tip !== r.tip);
      const live = new Set(refs.map((r) => r.id));
      gone = [...all.keys()].filter((id) => !live.has(id));
      have = (id) => all.get(id);
      isLive = (id) => live.has(id);
      count = refs.length;
      loose = before && packed !== null ? looseRunRefs(repo.commonDir) : null;
    }
    const notesTip = await notesTipP;
    const oldNotesTip = this.getMeta('notes_tip');
    const batch = new CatFileBatch(repo.processOptions());
    try {
      // Which notes to read: those that changed between the two notes commits;
      // all of them when the index has no notes commit to compare with.
      let noteBlobs = new Map<string, string | null>();
      let allNotes = false;
      if ((notesTip ?? '') !== (oldNotesTip ?? '')) {
        if (notesTip && oldNotesTip && (await revParse(repo, `${oldNotesTip}^{commit}`))) {
          noteBlobs = await changedNotes(repo, oldNotesTip, notesTip);
        } else if (notesTip) {
          allNotes = true;
          noteBlobs = await listNotes(repo, notesTip);
        } else allNotes = true; // the notes ref is gone: every run's metadata is empty
      }
      const noteFor = async (id: string): Promise<string | null> => {
        if (noteBlobs.has(id) || allNotes) return noteBlobs.get(id) ?? null;
        const row = have(id);
        if (row) return row.note_blob;
        if (!notesTip) return null;
        // A run new to the index whose note did not change: look where git may have put it.
        for (const p of [`${id.slice(0, 2)}/${id.slice(2)}`, id, `${id.slice(0, 2)}/${id.slice(2, 4)}/${id.slice(4)}`]) {
          const o = await batch.read(`${notesTip}:${p}`);
          if (o) return o.oid;
        }
        return null;
      };
      let done = 0;
      const rows = await Promise.all(
        changed.map(async ({ id, tip }) => {
          const r = await this.readRun(batch, id, tip, await noteFor(id));
          if (opts.onProgress && ++done % 1000 === 0) opts.onProgress(done, changed.length);
          return r;
        }),
      );
      if (opts.onProgress && changed.length >= 1000) opts.onProgress(changed.length, changed.length);
      // Runs whose metadata alone changed.
      const moved = new Set(changed.map((c) => c.id));
      const candidates = allNotes ? (this.db.prepare('SELECT id FROM runs').pluck().all() as string[]) : [...noteBlobs.keys()];
      const metaOnly = candidates.filter((id) => !moved.has(id) && isLive(id) && !!have(id));
      const metas = await Promise.all(
        metaOnly.map(async (id) => {
          const blob = await noteFor(id);
          const data = blob ? (await batch.read(blob))?.data.toString('utf8') ?? '' : '';
          return { id, blob, meta: foldMetadata(data) };
        }),
      );
      const kept = rows.filter((r): r is RunRow => r !== null);
      this.write(kept, metas, gone);
      if (notesTip) this.setMeta('notes_tip', notesTip);
      else this.deleteMeta('notes_tip');
      // Refs that are not runs (no run.json) have no row: the count the next sync compares with is of rows.
      this.setMeta('refcount', String(count - (rows.length - kept.length)));
      // Stored only when trustworthy: a stamp as recent as the clock's resolution allows might not see the next change.
      if (before && Date.now() - before.newest > RACY_MS) this.setMeta('stamp', before.stamp);
      else this.deleteMeta('stamp');
      // What the next sync may take for granted (see the loose-refs path above).
      // (Not worth keeping for thousands of loose refs: git-run packs them past 1000.)
      if (loose && packed !== null && loose.size <= MAX_LOOSE_KEPT) {
        this.setMeta('loose', JSON.stringify([...loose.keys()]));
        this.setMeta('packed', packed);
      } else {
        this.deleteMeta('loose');
        this.deleteMeta('packed');
      }
      return { read: rows.length + metas.length, removed: gone.length };
    } finally {
      batch.close();
    }
  }

  private async readRun(batch: CatFileBatch, id: string, tip: string, noteBlob: string | null): Promise<RunRow | null> {
    const json = async <T>(spec: string): Promise<T | null> => {
      const o = await batch.read(spec);
      if (!o) return null;
      try {
        return JSON.parse(o.data.toString('utf8')) as T;
      } catch {
        return null;
      }
    };
    const [spec, result, state, metricsBlob, summaryBlob, note, children] = await Promise.all([
      json<RunSpec>(`${tip}:run.json`),
      json<RunResult>(`${tip}:result.json`),
      json<RunState>(`${tip}:state.json`),
      batch.read(`${tip}:${METRICS_FILE}`),
      batch.read(`${tip}:${SUMMARY_FILE}`),
      noteBlob ? batch.read(noteBlob) : Promise.resolve(null),
      json<GroupChild[]>(`${tip}:children.json`),
    ]);
    if (!spec) return null;
    const parsed = metricsBlob ? parseMetrics(metricsBlob.data.toString('utf8')) : null;
    const status: Status = result ? result.status : state ? 'running' : 'queued';
    const startedAt = result?.startedAt ?? state?.startedAt ?? null;
    const endedAt = result?.endedAt ?? null;
    const handle = state?.handle as { executor?: string; hostname?: string } | undefined;
    return {
      id,
      tip,
      key: spec.key,
      kind: spec.kind ?? 'run',
      status,
      createdAt: spec.createdAt,
      startedAt,
      endedAt,
      duration: startedAt && endedAt ? (Date.parse(endedAt) - Date.parse(startedAt)) / 1000 : null,
      parent: spec.parent,
      meta: foldMetadata(note?.data.toString('utf8') ?? ''),
      childName: spec.name ?? null,
      creator: spec.creator,
      host: spec.host,
      sourceCommit: spec.code.commit,
      tree: spec.code.tree,
      seed: spec.seed,
      exitCode: result?.exitCode ?? null,
      command: JSON.stringify(spec.command),
      executor: handle?.executor ?? null,
      handleHost: handle?.hostname ?? null,
      dispatch: spec.dispatch ?? null,
      noteBlob,
      // Fields of a record from another clone: kept only when they have the shape we write.
      portableKey: typeof spec.portableKey === 'string' && /^[0-9a-f]{64}$/.test(spec.portableKey) ? spec.portableKey : null,
      clone: typeof spec.clone === 'string' && /^[0-9a-f]{16}$/.test(spec.clone) ? spec.clone : null,
      params: spec.params,
      metrics: metricStats(summaryBlob ? parseSummary(summaryBlob.data.toString('utf8')) : null, parsed && 'metrics' in parsed ? parsed.metrics : null),
      children: Array.isArray(children) ? children.map((c) => c.id).filter((c) => typeof c === 'string') : null,
      inputs: inputRows(spec.inputs),
    };
  }

  private write(rows: RunRow[], metas: Array<{ id: string; blob: string | null; meta: ReturnType<typeof foldMetadata> }>, gone: string[]): void {
    const db = this.db;
    const upsert = db.prepare(`INSERT OR REPLACE INTO runs (id, tip, key, kind, status, created_at, started_at, ended_at, duration, parent, name, notes, creator, host,
      source_commit, tree, seed, exit_code, command, executor, handle_host, dispatch, note_blob, portable_key, clone)
      VALUES (@id, @tip, @key, @kind, @status, @createdAt, @startedAt, @endedAt, @duration, @parent, @name, @notes, @creator, @host,
      @sourceCommit, @tree, @seed, @exitCode, @command, @executor, @handleHost, @dispatch, @noteBlob, @portableKey, @clone)`);
    const delFrom = RUN_TABLES.map((t) => db.prepare(`DELETE FROM ${t} WHERE ${runColumn(t)} = ?`));
    const insChild = db.prepare('INSERT OR IGNORE INTO group_children (grp, child) VALUES (?, ?)');
    const groupsOf = db.prepare('SELECT grp FROM group_children WHERE child = ?').pluck();
    const insParam = db.prepare('INSERT OR REPLACE INTO params (run, name, text, num) VALUES (?, ?, ?, ?)');
    const insMetric = db.prepare('INSERT OR REPLACE INTO metrics (run, name, num, min, max, count, min_step, max_step) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const insTag = db.prepare('INSERT OR IGNORE INTO tags (run, tag) VALUES (?, ?)');
    const insName = db.prepare('INSERT OR IGNORE INTO names (kind, name) VALUES (?, ?)');
    const insInput = db.prepare('INSERT OR REPLACE INTO inputs (run, path, oid, type, upstream, upstream_path, worktree) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const delTags = db.prepare('DELETE FROM tags WHERE run = ?');
    const setMeta = db.prepare('UPDATE runs SET name = ?, notes = ?, note_blob = ? WHERE id = ? AND parent IS NULL');
    const childrenOf = db.prepare('SELECT id FROM runs WHERE parent = ?');
    const parentMeta = db.prepare('SELECT name, notes FROM runs WHERE id = ?');
    const parentTags = db.prepare('SELECT tag FROM tags WHERE run = ?');
    const setChildNotes = db.prepare('UPDATE runs SET notes = ? WHERE id = ?');
    const groups = new Set<string>();
    /** Children have no metadata of their own: their parent's notes and tags (Accio). */
    const inherit = (childId: string, parentId: string) => {
      const p = parentMeta.get(parentId) as { name: string | null; notes: string | null } | undefined;
      setChildNotes.run(p?.notes ?? null, childId);
      delTags.run(childId);
      for (const t of parentTags.all(parentId) as Array<{ tag: string }>) insTag.run(childId, t.tag);
    };
    db.transaction(() => {
      this.deleteRows(gone, delFrom);
      const bulk = rows.length >= RunIndex.bulkRows && rows.length >= Number(this.getMeta('rows') ?? 0);
      if (bulk) for (const [name] of DRIVER_INDEXES) db.exec(`DROP INDEX IF EXISTS ${name}`);
      for (const r of rows) {
        for (const d of delFrom.slice(1)) d.run(r.id);
        upsert.run({ ...r, name: r.parent ? r.childName : r.meta.name, notes: r.meta.notes });
        for (const [k, v] of Object.entries(r.params)) insParam.run(r.id, k, text(v), num(v)), insName.run('param', k);
        for (const [k, v] of r.metrics) insMetric.run(r.id, k, v.last, v.min, v.max, v.count, v.minStep, v.maxStep), insName.run('metric', k);
        for (const t of r.meta.tags) insTag.run(r.id, t);
        for (const c of r.children ?? []) insChild.run(r.id, c);
        for (const i of r.inputs) insInput.run(r.id, i.path, i.oid, i.type, i.upstream, i.upstreamPath, i.worktree);
        if (r.kind === 'group') groups.add(r.id);
        if (r.parent) groups.add(r.parent);
        // A group that reused this run (it is listed there but belongs to another parent, or none).
        for (const g of groupsOf.all(r.id) as string[]) groups.add(g);
      }
      if (bulk) for (const [name, on] of DRIVER_INDEXES) db.exec(`CREATE INDEX ${name} ON ${on}`);
      for (const id of gone) for (const g of groupsOf.all(id) as string[]) groups.add(g);
      for (const m of metas) {
        // A child has no metadata of its own (editing it edits its parent): its name stays its generated one.
        if (setMeta.run(m.meta.name, m.meta.notes, m.blob, m.id).changes === 0) continue;
        delTags.run(m.id);
        for (const t of m.meta.tags) insTag.run(m.id, t);
        groups.add(m.id);
      }
      // Groups: children inherit the metadata, the group's status comes from the children: those children.json
      // lists (reused ones too, and a listed run that is gone counts as lost, as \`show\` has it), else its own.
      const kids = db.prepare('SELECT status FROM runs WHERE parent = ?');
      const listed = db.prepare('SELECT r.status AS status FROM group_children g LEFT JOIN runs r ON r.id = g.child WHERE g.grp = ?');
      const setStatus = db.prepare("UPDATE runs SET status = ? WHERE id = ? AND kind = 'group'");
      for (const g of groups) {
        for (const c of childrenOf.all(g) as Array<{ id: string }>) inherit(c.id, g);
        const fromList = (listed.all(g) as Array<{ status: Status | null }>).map((k) => k.status ?? 'lost');
        const statuses = fromList.length ? fromList : (kids.all(g) as Array<{ status: Status }>).map((k) => k.status);
        if (statuses.length) setStatus.run(groupStatus(statuses), g);
      }
    })();
  }

  /** Delete every row of these runs (inside the caller's transaction). */
  private deleteRows(gone: string[], delFrom = RUN_TABLES.map((t) => this.db.prepare(`DELETE FROM ${t} WHERE ${runColumn(t)} = ?`))): void {
    const db = this.db;
    if (gone.length <= BULK_GONE) {
      for (const id of gone) for (const d of delFrom) d.run(id);
      return;
    }
    // Thousands of runs gone at once (gc, rm of a sweep): one DELETE per table over a temporary list, not six
    // statements per run (49,863 runs: 3.2 s against 12.7 s, measured on the gc benchmark's index). Half of a
    // 240 MB index is rewritten: with SQLite's default 8 MB page cache, dirty pages spill to the WAL and are
    // written again; a larger cache for this statement writes each page once (20.9 s -> 17.2 s under load).
    // When a quarter or more of the runs go, the secondary indexes of their tables are dropped and made again
    // afterwards (one sorted build over what stays, as a rebuild does) rather than edited entry by entry: the
    // deletes took a third of the time without them (under load). Whatever indexes the schema has, by their own SQL.
    const cache = db.pragma('cache_size', { simple: true }) as number;
    db.pragma('cache_size = -262144');
    try {
      const rebuild = gone.length * 4 >= Number(this.getMeta('rows') ?? 0);
      const indexes = rebuild
        ? (db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN (${RUN_TABLES.map(() => '?').join(', ')})`).all(...RUN_TABLES) as Array<{ name: string; sql: string }>)
        : [];
      db.exec('CREATE TEMP TABLE IF NOT EXISTS gone (id TEXT PRIMARY KEY) WITHOUT ROWID; DELETE FROM temp.gone');
      const insGone = db.prepare('INSERT OR IGNORE INTO temp.gone (id) VALUES (?)');
      for (const id of gone) insGone.run(id);
      for (const i of indexes) db.exec(`DROP INDEX "${i.name.replace(/"/g, '""')}"`);
      for (const t of RUN_TABLES) db.prepare(`DELETE FROM ${t} WHERE ${runColumn(t)} IN (SELECT id FROM temp.gone)`).run();
      for (const i of indexes) db.exec(i.sql);
      db.exec('DELETE FROM temp.gone');
    } finally {
      db.pragma(`cache_size = ${cache}`);
    }
  }

  /**
   * Delete the rows of runs whose refs a transaction is deleting right now, while git works (gc of 50,000 runs:
   * both take seconds, and they overlap). The rows stay deleted only if `settle(true)` says the refs went; with
   * `settle(false)`, or when this cannot start (another process is writing, a full disk), nothing changed. The
   * sync that follows compares with every ref either way (the count of rows no longer matches the refs seen).
   */
  forgetWhile(ids: string[]): { settle(gone: boolean): void } | null {
    // A few runs are deleted in milliseconds by the sync after, which then keeps its cheap paths (the count of rows matches).
    if (this.readOnly || ids.length <= BULK_GONE) return null;
    const db = this.db;
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch {
      return null; // the sync after the deletion does it
    }
    try {
      this.deleteRows(ids);
    } catch {
      // Whatever went wrong here (damage, a full disk) the sync after the deletion meets again and handles.
      if (db.inTransaction) db.exec('ROLLBACK');
      return null;
    }
    return {
      settle: (gone: boolean) => {
        if (!db.inTransaction) return;
        if (!gone) {
          db.exec('ROLLBACK');
          return;
        }
        try {
          db.exec('COMMIT');
        } catch {
          if (db.inTransaction) db.exec('ROLLBACK');
        }
      },
    };
  }

  private getMeta(k: string): string | null {
    return (this.db.prepare('SELECT v FROM meta WHERE k = ?').get(k) as { v: string } | undefined)?.v ?? null;
  }

  private setMeta(k: string, v: string): void {
    this.db.prepare('INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)').run(k, v);
  }

  private deleteMeta(k: string): void {
    this.db.prepare('DELETE FROM meta WHERE k = ?').run(k);
  }

  /** Runs of other clones (not `clone`) whose portable key is this one: what a submission reuses when no run key matches. */
  byPortableKey(key: string, clone: string): IndexedRun[] {
    return this.guard(() => {
      return (this.db.prepare("SELECT * FROM runs WHERE portable_key = ? AND clone IS NOT NULL AND clone != ? AND kind = 'run'").all(key, clone) as Row[]).map(toRun);
    });
  }

  byKey(key: string): IndexedRun[] {
    return this.guard(() => {
      return (this.db.prepare('SELECT * FROM runs WHERE key = ?').all(key) as Row[]).map(toRun);
    });
  }

  /** Unfinished runs (by what the records say), for liveness checks. */
  unfinished(): IndexedRun[] {
    return this.guard(() => {
      return (this.db.prepare("SELECT * FROM runs WHERE kind = 'run' AND status IN ('queued', 'running')").all() as Row[]).map(toRun);
    });
  }

  /** Runs waiting in the daemon's queue, oldest first. */
  queuedForDaemon(): Array<{ id: string; host: string; parent: string | null; createdAt: string }> {
    return this.guard(() => {
      return this.db
        .prepare("SELECT id, host, parent, created_at AS createdAt FROM runs WHERE status = 'queued' AND dispatch = 'daemon' AND kind = 'run' ORDER BY created_at, id")
        .all() as Array<{ id: string; host: string; parent: string | null; createdAt: string }>;
    });
  }

  /** Per host profile: running runs (ids), queued runs and the oldest queued one's creation time. */
  workload(): Array<{ host: string; running: string[]; queued: number; oldestQueued: string | null }> {
    return this.guard(() => {
      const rows = this.db
        .prepare("SELECT host, status, id, created_at FROM runs WHERE kind = 'run' AND status IN ('queued', 'running') ORDER BY created_at")
        .all() as Array<{ host: string; status: Status; id: string; created_at: string }>;
      const by = new Map<string, { host: string; running: string[]; queued: number; oldestQueued: string | null }>();
      for (const r of rows) {
        let w = by.get(r.host);
        if (!w) by.set(r.host, (w = { host: r.host, running: [], queued: 0, oldestQueued: null }));
        if (r.status === 'running') w.running.push(r.id);
        else {
          w.queued++;
          w.oldestQueued ??= r.created_at;
        }
      }
      return [...by.values()].sort((a, b) => (a.host < b.host ? -1 : 1));
    });
  }

  /**
   * Ids of the runs that pass every condition, newest first.
   *
   * Walking runs newest first and testing each stops early when matches are
   * common, but reads every run when there are none (100,000 EXISTS lookups).
   * So the conditions' drivers (supersets from the (name, value) indexes) are
   * counted first, each up to PROBE entries: one with fewer drives the query
   * (its runs, tested and sorted). Otherwise, with a limit, the newest WINDOW
   * runs are tried (a dense filter fills its page there); when that falls
   * short, the intersection of the drivers drives it, or without drivers, the
   * walk goes on. Every path applies every condition, in the same order.
   */
  select(q: IndexQuery): string[] {
    return this.guard(() => {
      const where = q.conditions.map((c) => `(${c.sql})`);
      const args = q.conditions.flatMap((c) => c.args);
      if (q.commits) {
        this.db.exec('CREATE TEMP TABLE IF NOT EXISTS selected_commits (c TEXT PRIMARY KEY) WITHOUT ROWID');
        this.db.exec('DELETE FROM selected_commits');
        const ins = this.db.prepare('INSERT OR IGNORE INTO selected_commits (c) VALUES (?)');
        this.db.transaction(() => {
          for (const c of q.commits!) ins.run(c);
        })();
        where.push('r.source_commit IN (SELECT c FROM selected_commits)');
      }
      const limit = q.limit !== undefined ? ' LIMIT ?' : '';
      const limitArgs = q.limit !== undefined ? [q.limit] : [];
      const order = ' ORDER BY r.created_at DESC, r.id DESC';
      const run = (step: SelectStep['step'], sql: string, a: Array<string | number>): string[] => {
        const st = this.db.prepare(sql);
        const out = (step === 'probe' ? [st.pluck().get(...a) as number] : (st.pluck().all(...a) as string[]));
        if (q.explain) {
          const plan = (this.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...a) as Array<{ detail: string }>).map((r) => r.detail);
          q.explain.push({ step, sql, plan, rows: step === 'probe' ? (out[0] as unknown as number) : out.length });
        }
        return out as string[];
      };
      const ordered = (extra: string[], extraArgs: Array<string | number>) => {
        const all = [...extra, ...where];
        return run(extra.length ? 'window' : 'ordered', `SELECT r.id FROM runs r${all.length ? ` WHERE ${all.join(' AND ')}` : ''}${order}${limit}`, [...extraArgs, ...args, ...limitArgs]);
      };
      // CROSS JOIN: SQLite keeps the driver as the outer loop.
      const driven = (d: { sql: string; args: Array<string | number> }) =>
        run('driven', `SELECT r.id FROM (SELECT DISTINCT run FROM (${d.sql})) AS c CROSS JOIN runs r ON r.id = c.run${where.length ? ` WHERE ${where.join(' AND ')}` : ''}${order}${limit}`, [...d.args, ...args, ...limitArgs]);

      const probeMax = q.tuning?.probe ?? PROBE;
      const window = q.tuning?.window ?? WINDOW;
      const drivers: Array<{ sql: string; args: Array<string | number>; count: number }> = [];
      for (const d of q.conditions.flatMap((c) => c.drivers ?? [])) {
        let count: number;
        try {
          count = run('probe', `SELECT count(*) FROM (SELECT 1 FROM (${d.sql}) LIMIT ?)`, [...d.args, probeMax])[0] as unknown as number;
        } catch (e) {
          // A driver SQLite will not take (too deep, too many terms): the query is answered without it.
          if (isDamage(e) || isBusy(e)) throw e;
          continue;
        }
        drivers.push({ ...d, count });
        if (count === 0) break;
      }
      drivers.sort((a, b) => a.count - b.count);
      if (drivers.length && drivers[0]!.count < probeMax) return driven(drivers[0]!);
      if (q.limit !== undefined && drivers.length) {
        // The creation time of the window's oldest run: every run newer than it is in the window.
        const edge = this.db.prepare('SELECT created_at FROM runs ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?').pluck().get(window - 1) as string | undefined;
        if (edge === undefined) return ordered([], []);
        const first = ordered(['r.created_at >= ?'], [edge]);
        if (first.length >= q.limit) return first;
      }
      if (!drivers.length) return ordered([], []);
      return driven(drivers.length === 1 ? drivers[0]! : { sql: drivers.map((d) => `SELECT run FROM (${d.sql})`).join(' INTERSECT '), args: drivers.flatMap((d) => d.args) });
    });
  }

  /** id, tip and status (a group's from its children) of these runs, in this order; unknown ids are left out. */
  rows(ids: string[]): Array<{ id: string; tip: string; status: Status; parent: string | null }> {
    return this.guard(() => {
      const get = this.db.prepare('SELECT id, tip, status, parent FROM runs WHERE id = ?');
      return ids.map((id) => get.get(id) as { id: string; tip: string; status: Status; parent: string | null } | undefined).filter((r): r is { id: string; tip: string; status: Status; parent: string | null } => !!r);
    });
  }

  /**
   * What a one-line listing shows of these runs, from the rows alone (no git read): status, the command as
   * stored (JSON), the name column, and the parent's row where there is one (a child shows its group's name
   * unless it has its own). In the order given; an id without a row has none here.
   */
  lineRows(ids: string[]): LineRow[] {
    return this.guard(() => {
      const sql = `SELECT r.id, r.status, r.kind, r.command, r.name, r.parent, p.id AS parentId, p.name AS parentName, p.parent AS parentParent
        FROM json_each(?) AS sel CROSS JOIN runs r ON r.id = sel.value LEFT JOIN runs p ON p.id = r.parent ORDER BY sel.key`;
      return this.cached(sql).all(JSON.stringify(ids)) as LineRow[];
    });
  }

  /** Runs whose name (a group's or a run's metadata name, a child's generated name) is exactly this, oldest first. */
  named(name: string): Array<{ id: string; createdAt: string }> {
    return this.guard(() => this.db.prepare('SELECT id, created_at AS createdAt FROM runs WHERE name = ? ORDER BY created_at, id').all(name) as Array<{ id: string; createdAt: string }>);
  }

  /**
   * What a push must carry along with these runs: each run's group, a
   * group's children (its own and those its children.json lists), and the
   * runs it took inputs from, as [run, other, how]; `known` says whether the
   * index has the other run.
   */
  relativesOf(ids: string[]): Array<readonly [run: string, other: string, how: 'group' | 'child' | 'upstream', known: 0 | 1]> {
    const sql = `WITH sel(id) AS (SELECT value FROM json_each(?))
      SELECT r.id, r.parent, 'group', EXISTS (SELECT 1 FROM runs p WHERE p.id = r.parent) FROM runs r JOIN sel ON sel.id = r.id WHERE r.parent IS NOT NULL
      UNION ALL SELECT c.parent, c.id, 'child', 1 FROM runs c JOIN sel ON sel.id = c.parent
      UNION ALL SELECT g.grp, g.child, 'child', EXISTS (SELECT 1 FROM runs k WHERE k.id = g.child) FROM group_children g JOIN sel ON sel.id = g.grp
      UNION ALL SELECT i.run, i.upstream, 'upstream', EXISTS (SELECT 1 FROM runs u WHERE u.id = i.upstream) FROM inputs i JOIN sel ON sel.id = i.run WHERE i.upstream IS NOT NULL`;
    return this.guard(() => this.db.prepare(sql).raw(true).all(JSON.stringify(ids)) as Array<readonly [string, string, 'group' | 'child' | 'upstream', 0 | 1]>);
  }

  /** The inputs of these runs (each run's in path order), each with its upstream run as the index has it (null fields: not in the index). */
  inputsOf(ids: string[]): LinkRow[] {
    // One question for a whole level of a lineage walk (json_each: the ids as one parameter, whatever their number).
    return this.guard(() => this.cached(`${LINK_SELECT} LEFT JOIN runs r ON r.id = i.upstream WHERE i.run IN (SELECT value FROM json_each(?)) ORDER BY i.run, i.path`, true).all(JSON.stringify(ids)) as LinkRow[]);
  }

  /** The inputs other runs took from these runs' outputs, each with its consuming run, oldest consumer first. */
  consumersOf(ids: string[]): LinkRow[] {
    return this.guard(() => this.cached(`${LINK_SELECT} LEFT JOIN runs r ON r.id = i.run WHERE i.upstream IN (SELECT value FROM json_each(?)) ORDER BY r.created_at, i.run, i.path`, true).all(JSON.stringify(ids)) as LinkRow[]);
  }

  /** What the index has of these runs, for lineage's nodes (unknown ids left out). */
  summaries(ids: string[]): RunSummary[] {
    return this.guard(() => {
      const get = this.cached('SELECT id, name, status, kind, created_at AS createdAt, command FROM runs WHERE id = ?');
      return ids.map((id) => get.get(id) as RunSummary | undefined).filter((r): r is RunSummary => !!r);
    });
  }

  /** A statement prepared once per connection: a lineage walk asks the same question of thousands of runs. */
  private cached(sql: string, raw = false): Database.Statement {
    if (this.statementsOf !== this.db) {
      this.statements.clear();
      this.statementsOf = this.db;
    }
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = raw ? this.db.prepare(sql).raw(true) : this.db.prepare(sql)));
    return st;
  }

  /** What deleting runs (rm, gc) needs of these runs, by id; unknown ids are left out. */
  removalRows(ids: string[]): RemovalRow[] {
    return this.guard(() => this.cached(`${REMOVAL_SELECT} WHERE r.id IN (SELECT value FROM json_each(?))`).all(JSON.stringify(ids)) as RemovalRow[]);
  }

  /** The runs whose parent is one of these groups. */
  childRows(groups: string[]): RemovalRow[] {
    return this.guard(() => this.cached(`${REMOVAL_SELECT} WHERE r.parent IN (SELECT value FROM json_each(?))`).all(JSON.stringify(groups)) as RemovalRow[]);
  }

  /** [group, child]: the groups whose children.json lists one of these runs (a group's own children, and runs it reused). */
  listings(children: string[]): Array<[string, string]> {
    return this.guard(() => this.cached('SELECT grp, child FROM group_children WHERE child IN (SELECT value FROM json_each(?))', true).all(JSON.stringify(children)) as Array<[string, string]>);
  }

  /** [group, child]: everything these groups' children.json list. */
  listedChildren(groups: string[]): Array<[string, string]> {
    return this.guard(() => this.cached('SELECT grp, child FROM group_children WHERE grp IN (SELECT value FROM json_each(?))', true).all(JSON.stringify(groups)) as Array<[string, string]>);
  }

  /** Every run and group that has no parent (what gc's rules select among), oldest first, with whether it has a tag; `createdBefore`: only those made before. */
  topLevel(createdBefore?: string): Array<RemovalRow & { tagged: number }> {
    const sql = `${REMOVAL_SELECT.replace('FROM runs r', ', EXISTS (SELECT 1 FROM tags t WHERE t.run = r.id) AS tagged FROM runs r')} WHERE r.parent IS NULL`;
    // Only those made before a date (gc --older-than): half of 100,000 rows not read, not sent over.
    if (createdBefore !== undefined) return this.guard(() => this.cached(`${sql} AND r.created_at < ? ORDER BY r.created_at, r.id`).all(createdBefore) as Array<RemovalRow & { tagged: number }>);
    return this.guard(() => this.cached(`${sql} ORDER BY r.created_at, r.id`).all() as Array<RemovalRow & { tagged: number }>);
  }

  /** Object ids (and types) of every input of every run the index has: what the content cache must keep. */
  inputObjects(): Array<[string, string | null]> {
    return this.guard(() => this.cached('SELECT DISTINCT oid, type FROM inputs', true).all() as Array<[string, string | null]>);
  }

  /** Every param and metric name in the index (for --where's and --format's checks). */
  names(): { params: string[]; metrics: string[] } {
    return this.guard(() => {
      return {
        params: this.db.prepare("SELECT name FROM names WHERE kind = 'param' ORDER BY name").pluck().all() as string[],
        metrics: this.db.prepare("SELECT name FROM names WHERE kind = 'metric' ORDER BY name").pluck().all() as string[],
      };
    });
  }

  /**
   * What the web page's runs table shows of these runs, in this order (unknown ids left out): one question per
   * table (json_each: the ids as one parameter) for a page of rows, params, metrics and tags as [name, value] lists.
   */
  tableRows(ids: string[]): TableRow[] {
    return this.guard(() => {
      const sel = JSON.stringify(ids);
      const rows = this.cached(`SELECT id, name, status, kind, created_at AS createdAt, parent, host, command, duration,
        (SELECT count(*) FROM runs c WHERE c.parent = r.id) AS children FROM runs r WHERE r.id IN (SELECT value FROM json_each(?))`).all(sel) as Array<Omit<TableRow, 'params' | 'metrics' | 'tags'>>;
      const byId = new Map<string, TableRow>(rows.map((r) => [r.id, { ...r, params: [], metrics: [], tags: [] }]));
      for (const [run, name, text, num] of this.cached('SELECT run, name, text, num FROM params WHERE run IN (SELECT value FROM json_each(?))', true).all(sel) as Array<[string, string, string, number | null]>) {
        byId.get(run)?.params.push([name, num ?? text]);
      }
      for (const [run, name, num] of this.cached('SELECT run, name, num FROM metrics WHERE run IN (SELECT value FROM json_each(?))', true).all(sel) as Array<[string, string, number]>) byId.get(run)?.metrics.push([name, num]);
      for (const [run, tag] of this.cached('SELECT run, tag FROM tags WHERE run IN (SELECT value FROM json_each(?))', true).all(sel) as Array<[string, string]>) byId.get(run)?.tags.push(tag);
      return ids.map((id) => byId.get(id)).filter((r): r is TableRow => !!r);
    });
  }

  /** [run, value] of one column for every run that has it: what sorting a whole selection by it needs. */
  columnValues(column: { param: string } | { metric: string } | 'name' | 'status' | 'duration'): Array<[string, string | number | null]> {
    return this.guard(() => {
      if (typeof column === 'string') return this.cached(`SELECT id, ${column} FROM runs`, true).all() as Array<[string, string | number | null]>;
      if ('param' in column) return this.cached('SELECT run, coalesce(num, text) FROM params WHERE name = ?', true).all(column.param) as Array<[string, string | number]>;
      return this.cached('SELECT run, num FROM metrics WHERE name = ?', true).all(column.metric) as Array<[string, number]>;
    });
  }

  close(): void {
    this.db.close();
  }
}

/** A run as deleting it needs it. */
export interface RemovalRow {
  id: string;
  tip: string;
  kind: 'run' | 'group';
  /** As the index has it (a group's from its children). */
  status: Status;
  parent: string | null;
  name: string | null;
  /** The argument vector as JSON text. */
  command: string;
  createdAt: string;
  host: string;
}

const REMOVAL_SELECT = 'SELECT r.id, r.tip, r.kind, r.status, r.parent, r.name, r.command, r.created_at AS createdAt, r.host FROM runs r';

interface RunRow {
  id: string;
  tip: string;
  key: string;
  kind: string;
  status: Status;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  duration: number | null;
  parent: string | null;
  meta: ReturnType<typeof foldMetadata>;
  childName: string | null;
  creator: string;
  host: string;
  sourceCommit: string | null;
  tree: string;
  seed: number;
  exitCode: number | null;
  command: string;
  executor: string | null;
  handleHost: string | null;
  dispatch: string | null;
  noteBlob: string | null;
  portableKey: string | null;
  clone: string | null;
  params: Record<string, unknown>;
  /** Each metric's value and its history's min, max and count. */
  metrics: Map<string, MetricStats>;
  /** A group's children as children.json lists them (reused ones included); null for a run. */
  children: string[] | null;
  inputs: InputRow[];
}

interface InputRow {
  path: string;
  oid: string;
  type: string | null;
  upstream: string | null;
  upstreamPath: string | null;
  worktree: string | null;
}

const isStr = (v: unknown): v is string => typeof v === 'string';

/**
 * The rows of a run's inputs. run.json comes from any clone: an input that is
 * text (an old unchecked record) or lacks a path or an id is no lineage and
 * has no row; a field of the wrong type is left out rather than trusted.
 */
function inputRows(inputs: unknown): InputRow[] {
  if (!Array.isArray(inputs)) return [];
  const rows: InputRow[] = [];
  for (const i of inputs as unknown[]) {
    if (!i || typeof i !== 'object') continue;
    const o = i as Record<string, unknown>;
    if (!isStr(o.path) || !isStr(o.oid)) continue;
    const from = o.from && typeof o.from === 'object' ? (o.from as Record<string, unknown>) : null;
    const upstream = from && isStr(from.run) && /^[0-9a-f]{4,64}$/.test(from.run) ? from.run : null;
    rows.push({
      path: o.path,
      oid: o.oid,
      type: isStr(o.type) ? o.type : null,
      upstream,
      upstreamPath: upstream && isStr(from!.path) ? from!.path : null,
      worktree: isStr(o.worktree) ? o.worktree : null,
    });
  }
  return rows;
}

const toRun = (r: Row): IndexedRun => ({
  id: r.id,
  tip: r.tip,
  key: r.key,
  kind: r.kind as IndexedRun['kind'],
  status: r.status as Status,
  createdAt: r.created_at,
  parent: r.parent,
  executor: r.executor,
  handleHost: r.handle_host,
});
