/**
 * The derived query index: a SQLite file (WAL) under the git directory that
 * caches what every run's commits say, so that finding runs by key, status
 * or time does not read every run from git. It is never the source of truth:
 * each use first compares it with `git for-each-ref refs/runs/` and reads
 * only runs whose ref moved; deleting the file loses nothing.
 * The only module that imports better-sqlite3.
 */
import Database from 'better-sqlite3';
import path from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import type { Repo } from '../git/repo.js';
import { CatFileBatch } from '../git/gateway.js';
import { listRunRefs } from '../store/runs.js';
import type { RunResult, RunSpec, Status } from '../core/record.js';

const SCHEMA_VERSION = 1;

export interface IndexedRun {
  id: string;
  tip: string;
  key: string;
  kind: 'run' | 'group';
  /** As the commits say: running for a started run (liveness is checked elsewhere). */
  status: Status;
  createdAt: string;
  parent: string | null;
}

type Row = { id: string; tip: string; key: string; kind: string; status: string; created_at: string; parent: string | null };

export class RunIndex {
  private constructor(private readonly db: Database.Database) {}

  static open(repo: Repo): RunIndex {
    const dir = repo.stateDir;
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'index.sqlite');
    const open = () => {
      const db = new Database(file, { timeout: 10000 });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      return db;
    };
    let db = open();
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version !== SCHEMA_VERSION) {
      // A cache of another shape: start again (it is rebuilt from git).
      db.close();
      for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
      db = open();
      db.exec(`
        CREATE TABLE IF NOT EXISTS runs (
          id TEXT PRIMARY KEY, tip TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL,
          status TEXT NOT NULL, created_at TEXT NOT NULL, parent TEXT
        );
        CREATE INDEX IF NOT EXISTS runs_key ON runs(key);
      `);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }
    return new RunIndex(db);
  }

  /** Bring the index up to date with the refs: read only runs whose ref moved. */
  async sync(repo: Repo): Promise<void> {
    const refs = await listRunRefs(repo);
    const have = new Map((this.db.prepare('SELECT id, tip FROM runs').all() as Array<{ id: string; tip: string }>).map((r) => [r.id, r.tip]));
    const changed = refs.filter((r) => have.get(r.id) !== r.tip);
    const live = new Set(refs.map((r) => r.id));
    const gone = [...have.keys()].filter((id) => !live.has(id));
    if (!changed.length && !gone.length) return;
    const rows: Row[] = [];
    if (changed.length) {
      const batch = new CatFileBatch(repo.processOptions());
      try {
        await Promise.all(
          changed.map(async ({ id, tip }) => {
            const [spec, result, state] = await Promise.all([batch.read(`${tip}:run.json`), batch.read(`${tip}:result.json`), batch.read(`${tip}:state.json`)]);
            if (!spec) return;
            const s = JSON.parse(spec.data.toString('utf8')) as RunSpec;
            const status: Status = result ? (JSON.parse(result.data.toString('utf8')) as RunResult).status : state ? 'running' : 'queued';
            rows.push({ id, tip, key: s.key, kind: s.kind ?? 'run', status, created_at: s.createdAt, parent: s.parent });
          }),
        );
      } finally {
        batch.close();
      }
    }
    const upsert = this.db.prepare('INSERT OR REPLACE INTO runs (id, tip, key, kind, status, created_at, parent) VALUES (@id, @tip, @key, @kind, @status, @created_at, @parent)');
    const del = this.db.prepare('DELETE FROM runs WHERE id = ?');
    this.db.transaction(() => {
      for (const r of rows) upsert.run(r);
      for (const id of gone) del.run(id);
    })();
  }

  byKey(key: string): IndexedRun[] {
    return (this.db.prepare('SELECT * FROM runs WHERE key = ?').all(key) as Row[]).map(toRun);
  }

  close(): void {
    this.db.close();
  }
}

const toRun = (r: Row): IndexedRun => ({ id: r.id, tip: r.tip, key: r.key, kind: r.kind as IndexedRun['kind'], status: r.status as Status, createdAt: r.created_at, parent: r.parent });
