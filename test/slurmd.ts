/**
 * A real one-node Slurm cluster on 127.0.0.1 for the tests (after
 * ../shared/infra's start-munge.sh, start-slurm.sh, start-mariadb.sh and
 * start-slurmdbd.sh, adapted): slurmctld and slurmd as root, no systemd, no
 * cgroups, its own config, state, spool and logs under a temporary directory,
 * and ports chosen free at start so that a second cluster on this machine (a
 * benchmark, another test process) never collides with it.
 *
 * Tests share one cluster per mocha process (`slurmCluster()`, started on
 * first use, stopped by a root `after` hook or at process exit); a benchmark
 * starts its own (`startSlurmCluster()`). Every daemon we start runs in the
 * foreground as our child, so its pid is known without reading a pid file,
 * an early death is seen at once, and it is stopped by that pid, never by name.
 * Every start step checks its result and fails with the daemon's log tail:
 * a cluster that does not come up must say why in CI's output.
 *
 * munged is the exception: there is one per machine (its socket is
 * /run/munge/munge.socket.2, where every Slurm client looks), so a running one
 * is reused, one we start is left running (another process's cluster may be
 * using it), and a concurrent start by another process is tolerated.
 *
 * Without Slurm installed, tests skip with a message on a developer machine;
 * in CI (CI=true) that is a failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const SBIN = '/usr/sbin';
const DAEMONS = ['slurmctld', 'slurmd'] as const;
const CLIENTS = ['sbatch', 'squeue', 'scontrol', 'scancel', 'sinfo'] as const;
const ACCOUNTING = ['slurmdbd', 'mariadbd', 'mariadb-install-db', 'mariadb', 'mariadb-admin', 'sacct', 'sacctmgr'] as const;
const MUNGE = ['munged', 'munge', 'unmunge'] as const;

export interface SlurmOptions {
  /** slurmdbd (and a private mariadbd) so that sacct works; off: squeue and scontrol only, as at many sites. */
  accounting?: boolean;
  /** CPUs the node announces (default max(8, nproc)): jobs here sleep more than they compute, and a sweep must run several at a time. */
  cpus?: number;
}

export interface SlurmCluster {
  dir: string;
  /** The slurm.conf clients read (SLURM_CONF). */
  conf: string;
  /** process.env plus SLURM_CONF: pass it to sbatch, squeue... and to git-run. */
  env: NodeJS.ProcessEnv;
  nodeName: string;
  partition: string;
  cpus: number;
  accounting: boolean;
  ports: { slurmctld: number; slurmd: number; slurmdbd?: number; mariadb?: number };
  /** Run a Slurm client (sbatch, squeue, sacct...) against this cluster; throws with its stderr when it fails. */
  cmd(program: string, args: string[]): string;
  /** `scontrol show job ID` as fields (JobState, ExitCode, Reason...), or null when the controller no longer knows the job. */
  job(id: string): Map<string, string> | null;
  /** Poll until the job has ended (a final state in scontrol); returns its fields. */
  waitJobEnd(id: string, timeoutMs?: number): Promise<Map<string, string>>;
  /** Poll until `squeue` lists no job. */
  waitQueueEmpty(timeoutMs?: number): Promise<void>;
  /** Poll until the node is idle (registered, nothing allocated). */
  waitIdle(timeoutMs?: number): Promise<void>;
  /** Cancel every job and stop the daemons (by pid), keeping the directory. */
  halt(): Promise<void>;
  /** Stop the daemons and start them again on the same ports with the same state: jobs survive. */
  restart(): Promise<void>;
  /** Stop, delete the controller's state, start: job ids start again at 1 (a recycled id). Accounting keeps its records. */
  wipe(): Promise<void>;
  /** Halt and remove the directory (KEEP_TEST_REPOS=1 keeps it). */
  stop(): Promise<void>;
  /** The last lines of every daemon log, for an error message. */
  logTail(lines?: number): string;
}

/** Whether the Slurm binaries are here (and, with accounting, mariadb and slurmdbd): CI fails without them; elsewhere the test skips. */
export function slurmAvailable(ctx: Mocha.Context, opts: SlurmOptions = {}): boolean {
  const missing = missingBinaries(opts);
  if (!missing.length) return true;
  const install = opts.accounting ? 'slurmctld slurmd slurm-client munge mariadb-server slurmdbd' : 'slurmctld slurmd slurm-client munge';
  if (process.env.CI) throw new Error(`Slurm is missing in CI (${missing.join(', ')} not found): .ci/run must install ${install}`);
  console.log(`    (skipping: no Slurm here (${missing.join(', ')} not found); apt-get install ${install} to run the Slurm tests)`);
  ctx.skip();
  return false;
}

function which(name: string): string | null {
  for (const dir of [SBIN, '/usr/bin', ...(process.env.PATH ?? '').split(':')]) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}

function missingBinaries(opts: SlurmOptions): string[] {
  const names: string[] = [...DAEMONS, ...CLIENTS, ...MUNGE];
  if (opts.accounting) names.push(...ACCOUNTING);
  const missing = names.filter((n) => !which(n));
  // slurmd runs jobs as their user and munged must be started as munge: the harness runs as root (as CI does).
  if (process.getuid?.() !== 0) missing.push('root privileges');
  return missing;
}

const shared = new Map<boolean, Promise<SlurmCluster>>();
const live = new Set<Daemons>();

/** The cluster this mocha process's tests share (one with accounting, one without), started on first use. */
export function slurmCluster(opts: SlurmOptions = {}): Promise<SlurmCluster> {
  const key = !!opts.accounting;
  let c = shared.get(key);
  if (!c) {
    c = startSlurmCluster(opts);
    // A failed start is not cached: the next file's `before` tries again and reports its own error.
    c.catch(() => shared.delete(key));
    shared.set(key, c);
  }
  return c;
}

// mocha's root hook when loaded by mocha; a benchmark importing this module stops its own cluster.
if (typeof after === 'function') {
  after(async function () {
    this.timeout(120000);
    await stopSlurmClusters();
  });
}
// A mocha killed by an error, or a benchmark that threw: no daemon outlives the process (synchronous, by pid).
const killAll = () => {
  for (const d of live) d.killNow();
  mariadb?.killNow();
};
process.on('exit', killAll);
// A CI timeout or a developer's kill: the daemons go too, then the signal does what it would have done.
for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    killAll();
    process.kill(process.pid, sig);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function poll<T>(what: string, fn: () => T | null | undefined | false, timeoutMs: number, explain: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    const v = fn();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`Slurm test cluster: ${what} did not happen within ${timeoutMs / 1000} s\n${explain()}`);
    await sleep(delay);
  }
}

function tail(file: string, lines: number): string {
  if (!existsSync(file)) return `(${file}: not written)`;
  const all = readFileSync(file, 'utf8').split('\n');
  return `--- ${file} (last ${lines} lines)\n${all.slice(-lines - 1).join('\n')}`;
}

const handedOut = new Set<number>();

/** A free TCP port on 127.0.0.1 for each name (all held open together, so the ports differ). */
async function freePorts(n: number): Promise<number[]> {
  const base = Number(process.env.GIT_RUN_TEST_SLURM_PORT);
  if (Number.isInteger(base) && base > 0) {
    // A base given: the next free run of ports from it (a second cluster on the same base moves up, never collides).
    // Ports handed out before are skipped even when nothing listens on them yet (a cluster's daemons start
    // after its ports are chosen: the accounting database's port once collided with slurmctld's).
    const out: number[] = [];
    for (let p = base; out.length < n && p < base + 1000; p++) if (!handedOut.has(p) && (await portFree(p))) out.push(p);
    for (const p of out) handedOut.add(p);
    if (out.length === n) return out;
    throw new Error(`GIT_RUN_TEST_SLURM_PORT=${base}: no ${n} free ports found in ${base}..${base + 999}`);
  }
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.on('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function run(program: string, args: string[], env: NodeJS.ProcessEnv = process.env, input?: string): { ok: boolean; out: string; err: string; status: string } {
  const r = spawnSync(program, args, { env, encoding: 'utf8', timeout: 60000, input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  const status = r.error ? `error ${r.error.message}` : r.signal ? `signal ${r.signal}` : `exit ${r.status}`;
  return { ok: !r.error && r.status === 0, out: r.stdout ?? '', err: r.stderr ?? '', status };
}

function must(program: string, args: string[], env?: NodeJS.ProcessEnv, explain: () => string = () => ''): string {
  const r = run(program, args, env);
  if (!r.ok) throw new Error(`Slurm test cluster: ${program} ${args.join(' ')}: ${r.status}\n${r.err.trim()}\n${r.out.trim()}\n${explain()}`);
  return r.out;
}

/** A daemon in the foreground as our child: its stdout and stderr go to DIR/NAME.out (fatal errors before its log file opens land there). */
class Daemon {
  child: ChildProcess;
  exited: { code: number | null; signal: string | null } | null = null;
  readonly out: string;

  constructor(readonly name: string, program: string, args: string[], dir: string, env: NodeJS.ProcessEnv, readonly logs: string[]) {
    this.out = path.join(dir, `${name}.out`);
    const fd = openSync(this.out, 'a');
    this.child = spawn(program, args, { env, detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.child.on('exit', (code, signal) => (this.exited = { code, signal }));
    this.child.on('error', (e) => (this.exited = { code: null, signal: e.message }));
    this.child.unref();
  }

  tail(lines: number): string {
    return [...this.logs, this.out].map((f) => tail(f, lines)).join('\n');
  }

  /** Throw (with the logs) if it died: checked at every poll of a start. */
  alive(): true {
    if (this.exited) throw new Error(`Slurm test cluster: ${this.name} exited during start (${this.exited.signal ?? `exit ${this.exited.code}`})\n${this.tail(30)}`);
    return true;
  }

  killNow(): void {
    if (this.exited || this.child.pid === undefined) return;
    try {
      process.kill(this.child.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }

  /** SIGTERM, wait for the exit (a restarted daemon must find its port and state released), SIGKILL after 20 s. */
  async stop(): Promise<void> {
    if (this.exited || this.child.pid === undefined) return;
    this.killNow();
    const deadline = Date.now() + 20000;
    while (!this.exited && Date.now() < deadline) await sleep(50);
    if (!this.exited) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
      while (!this.exited) await sleep(50);
    }
  }
}

/** munged: reuse a running one; else start it as the munge user (it drops privileges and refuses root-owned files). */
let mungeReady: Promise<void> | null = null;
function ensureMunge(): Promise<void> {
  mungeReady ??= (async () => {
    const works = () => {
      const cred = run('munge', ['-n']);
      return cred.ok && run('unmunge', [], process.env, cred.out).ok;
    };
    if (works()) return;
    const key = '/etc/munge/munge.key';
    const log = '/var/log/munge/munged.log';
    const explain = () => `${tail(log, 20)}\nmunge -n: ${run('munge', ['-n']).err.trim()}`;
    // Debian's postinst normally made the key; a minimal image may not have run it.
    if (!existsSync(key) || readFileSync(key).length === 0) {
      mkdirSync('/etc/munge', { recursive: true });
      must('mungekey', ['--create', `--keyfile=${key}`], process.env, explain);
    }
    must('chown', ['munge:munge', '/etc/munge', key], process.env, explain);
    chmodSync('/etc/munge', 0o700);
    chmodSync(key, 0o400);
    must('install', ['-d', '-o', 'munge', '-g', 'munge', '-m', '0755', '/run/munge'], process.env, explain);
    must('install', ['-d', '-o', 'munge', '-g', 'munge', '-m', '0700', '/var/log/munge', '/var/lib/munge'], process.env, explain);
    // It daemonizes. A failure is not final: another process may have started one a moment ago (then its socket answers).
    let started = run('runuser', ['-u', 'munge', '--', path.join(SBIN, 'munged')]);
    if (!started.ok && !works()) {
      // Its security checks refuse e.g. a group-writable /var/log (some images): --force makes them warnings.
      const first = started;
      started = run('runuser', ['-u', 'munge', '--', path.join(SBIN, 'munged'), '--force']);
      started.err = `${first.status}: ${first.err.trim()}\nthen with --force: ${started.err}`;
    }
    await poll('munged answering on /run/munge', works, 15000, () => `runuser -u munge -- munged: ${started.status}\n${started.err.trim()}\n${explain()}`);
  })();
  mungeReady.catch(() => (mungeReady = null));
  return mungeReady;
}

/** A private mariadbd (its own datadir, socket and TCP port) for slurmdbd, started once per process. */
interface Mariadb {
  port: number;
  socket: string;
  stop(): Promise<void>;
  killNow(): void;
}
let mariadb: Mariadb | null = null;
let mariadbReady: Promise<Mariadb> | null = null;

function ensureMariadb(): Promise<Mariadb> {
  mariadbReady ??= (async () => {
    // mariadbd drops to the mysql user: its directory must be reachable and owned by it (not a root-only mkdtemp).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'git-run-mariadb-'));
    chmodSync(dir, 0o755);
    const uid = Number(must('id', ['-u', 'mysql']).trim());
    const gid = Number(must('id', ['-g', 'mysql']).trim());
    const data = path.join(dir, 'data');
    mkdirSync(data);
    chownSync(dir, uid, gid);
    chownSync(data, uid, gid);
    const socket = path.join(dir, 'mysqld.sock');
    const errLog = path.join(dir, 'mariadb.err');
    const [port] = await freePorts(1);
    const install = run(which('mariadb-install-db')!, ['--no-defaults', '--user=mysql', `--datadir=${data}`, '--auth-root-authentication-method=socket', '--skip-test-db']);
    if (!install.ok) throw new Error(`Slurm test cluster: mariadb-install-db: ${install.status}\n${install.err.trim()}\n${install.out.trim()}`);
    const d = new Daemon(
      'mariadbd',
      which('mariadbd')!,
      ['--no-defaults', '--user=mysql', `--datadir=${data}`, `--socket=${socket}`, `--port=${port}`, '--bind-address=127.0.0.1',
        `--pid-file=${path.join(dir, 'mariadb.pid')}`, `--log-error=${errLog}`, '--innodb-buffer-pool-size=64M', '--skip-log-bin'],
      dir,
      process.env,
      [errLog],
    );
    const admin = ['--no-defaults', `--socket=${socket}`, '--user=root'];
    await poll('mariadbd answering', () => d.alive() && run('mariadb-admin', [...admin, 'ping']).ok, 60000, () => d.tail(30));
    must('mariadb', [...admin, '-e',
      "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmpw'; CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';" +
      " GRANT ALL ON `slurm_acct_%`.* TO 'slurm'@'127.0.0.1'; GRANT ALL ON `slurm_acct_%`.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"],
      process.env, () => d.tail(30));
    mariadb = {
      port,
      socket,
      killNow: () => d.killNow(),
      async stop() {
        await d.stop();
        mariadb = null;
        mariadbReady = null;
        if (!process.env.KEEP_TEST_REPOS) rmSync(dir, { recursive: true, force: true });
      },
    };
    return mariadb;
  })();
  mariadbReady.catch(() => (mariadbReady = null));
  return mariadbReady;
}

/** The daemons of one cluster, for the process-exit hook. */
interface Daemons {
  killNow(): void;
}

/** Stop the clusters slurmCluster() started and the private mariadbd (mocha's root hook does it; a script calls it). */
export async function stopSlurmClusters(): Promise<void> {
  for (const c of shared.values()) await c.then((cl) => cl.stop(), () => undefined);
  shared.clear();
  if (mariadb) await mariadb.stop();
}

/** Start a cluster of its own (a benchmark's, or a test's that must not share). */
export async function startSlurmCluster(opts: SlurmOptions = {}): Promise<SlurmCluster> {
  const missing = missingBinaries(opts);
  if (missing.length) throw new Error(`Slurm test cluster: ${missing.join(', ')} not found: apt-get install slurmctld slurmd slurm-client munge${opts.accounting ? ' mariadb-server slurmdbd' : ''}`);
  const accounting = !!opts.accounting;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'git-run-slurm-'));
  chmodSync(dir, 0o755);
  const state = path.join(dir, 'state');
  const spool = path.join(dir, 'spool');
  const conf = path.join(dir, 'slurm.conf');
  const nodeName = os.hostname().split('.')[0] || 'localhost';
  const cpus = Math.max(opts.cpus ?? 8, os.cpus().length);
  const memMiB = Math.max(1024, Math.floor(os.totalmem() / 1048576) - 512);
  // The database first: its port is then taken when the cluster's are chosen.
  await ensureMunge();
  const db = accounting ? await ensureMariadb() : null;
  const [ctldPort, slurmdPort, dbdPort] = await freePorts(accounting ? 3 : 2);
  const env: NodeJS.ProcessEnv = { ...process.env, SLURM_CONF: conf };
  // A developer's own defaults must not leak into the tests' submissions.
  for (const v of Object.keys(env)) if (/^(SBATCH|SLURM|SQUEUE|SACCT|SCANCEL|SINFO)_/.test(v) && v !== 'SLURM_CONF') delete env[v];

  const cluster = `gr${ctldPort}`;

  writeFileSync(
    conf,
    [
      `ClusterName=${cluster}`,
      `SlurmctldHost=${nodeName}(127.0.0.1)`,
      'SlurmUser=root',
      'SlurmdUser=root',
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${slurmdPort}`,
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `StateSaveLocation=${state}`,
      `SlurmdSpoolDir=${spool}`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/slurmctld.log`,
      `SlurmdLogFile=${dir}/slurmd.log`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      // One CPU a job; the node announces more CPUs than the machine has (config_overrides keeps it from being drained for it).
      'SelectTypeParameters=CR_CPU',
      'SlurmdParameters=config_overrides',
      'SchedulerType=sched/backfill',
      'SchedulerParameters=batch_sched_delay=0,sched_min_interval=0',
      'MpiDefault=none',
      'MailProg=/bin/true',
      'ReturnToService=2',
      // Finished jobs stay in scontrol for an hour: tests read their final state there.
      'MinJobAge=3600',
      'MaxArraySize=10001',
      // A loaded CI machine answers slowly: generous timeouts rather than a node marked down mid-test.
      'MessageTimeout=30',
      'SlurmdTimeout=600',
      'SlurmctldTimeout=300',
      'InactiveLimit=0',
      'KillWait=5',
      ...(accounting
        ? ['AccountingStorageType=accounting_storage/slurmdbd', 'AccountingStorageHost=localhost', `AccountingStoragePort=${dbdPort}`, 'JobAcctGatherType=jobacct_gather/linux']
        : ['AccountingStorageType=accounting_storage/none', 'JobAcctGatherType=jobacct_gather/none']),
      'JobCompType=jobcomp/filetxt',
      `JobCompLoc=${dir}/jobcomp.txt`,
      `NodeName=${nodeName} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${memMiB} State=UNKNOWN`,
      'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO',
      '',
    ].join('\n'),
  );
  if (accounting) {
    const dbdConf = path.join(dir, 'slurmdbd.conf');
    // slurmdbd has no -f: it reads slurmdbd.conf beside $SLURM_CONF, and wants it 0600.
    writeFileSync(
      dbdConf,
      [
        'AuthType=auth/munge',
        'DbdHost=localhost',
        'DbdAddr=127.0.0.1',
        `DbdPort=${dbdPort}`,
        'SlurmUser=root',
        `PidFile=${dir}/slurmdbd.pid`,
        `LogFile=${dir}/slurmdbd.log`,
        'StorageType=accounting_storage/mysql',
        'StorageHost=127.0.0.1',
        `StoragePort=${db!.port}`,
        'StorageUser=slurm',
        'StoragePass=slurmpw',
        `StorageLoc=slurm_acct_${cluster}`,
        '',
      ].join('\n'),
    );
    chmodSync(dbdConf, 0o600);
  }

  let ctld: Daemon | null = null;
  let slurmd: Daemon | null = null;
  let dbd: Daemon | null = null;
  const daemons = () => [ctld, slurmd, dbd].filter((d): d is Daemon => !!d);
  const handle: Daemons = {
    killNow: () => {
      // Jobs first (bounded): a job's slurmstepd outlives slurmd and keeps its command running.
      if (ctld && !ctld.exited) spawnSync('scancel', ['--user', os.userInfo().username], { env, timeout: 5000, stdio: 'ignore' });
      daemons().forEach((d) => d.killNow());
    },
  };
  live.add(handle);

  const logTail = (lines = 30) =>
    [...(accounting ? ['slurmdbd'] : []), 'slurmctld', 'slurmd']
      .flatMap((n) => [path.join(dir, `${n}.log`), path.join(dir, `${n}.out`)])
      .map((f) => tail(f, lines))
      .join('\n');
  const cmd = (program: string, args: string[]) => must(program, args, env, () => logTail(20));
  const sinfoState = () => run('sinfo', ['-h', '-N', '-o', '%t'], env).out.trim();

  async function waitIdle(timeoutMs = 60000): Promise<void> {
    await poll('the node idle', () => daemons().every((d) => d.alive()) && sinfoState() === 'idle', timeoutMs, () => `sinfo: ${sinfoState() || '(no answer)'}\n${logTail()}`);
  }

  async function start(): Promise<void> {
    mkdirSync(state, { recursive: true });
    mkdirSync(spool, { recursive: true });
    const t0 = Date.now();
    for (const p of [ctldPort, slurmdPort, ...(accounting ? [dbdPort] : [])]) {
      // A restart: the previous daemon's port must be released first (else a bind error in its log, and a wait until the deadline).
      const deadline = Date.now() + 30000;
      while (!(await portFree(p))) {
        if (Date.now() > deadline) throw new Error(`Slurm test cluster: port ${p} stays taken (another process took it?)\n${logTail()}`);
        await sleep(100);
      }
    }
    if (accounting) {
      dbd = new Daemon('slurmdbd', path.join(SBIN, 'slurmdbd'), ['-D'], dir, env, [path.join(dir, 'slurmdbd.log')]);
      const d = dbd;
      // Up means it answers and reached mariadb: sacctmgr goes through both.
      await poll('slurmdbd answering (sacctmgr list cluster)', () => d.alive() && run('sacctmgr', ['-n', '-P', 'list', 'cluster'], env).ok, 60000, () => logTail());
    }
    ctld = new Daemon('slurmctld', path.join(SBIN, 'slurmctld'), ['-D', '-i', '-f', conf], dir, env, [path.join(dir, 'slurmctld.log')]);
    const c = ctld;
    await poll('slurmctld answering (scontrol ping)', () => c.alive() && /is UP/.test(run('scontrol', ['ping'], env).out), 60000, () => logTail());
    slurmd = new Daemon('slurmd', path.join(SBIN, 'slurmd'), ['-D', '-N', nodeName, '-f', conf], dir, env, [path.join(dir, 'slurmd.log')]);
    await waitIdle();
    startSeconds.push((Date.now() - t0) / 1000);
  }

  async function halt(cancel = true): Promise<void> {
    if (cancel && ctld && !ctld.exited) {
      // Jobs first: slurmstepd and the job's processes outlive slurmd otherwise.
      run('scancel', ['--user', os.userInfo().username], env);
      await poll('the queue empty after scancel', () => run('squeue', ['-h', '-o', '%i'], env).out.trim() === '' || null, 20000, () => '').catch(() => undefined);
    }
    // The node first, then the controller (it saves its state on SIGTERM), then accounting.
    for (const d of [slurmd, ctld, dbd]) await d?.stop();
    slurmd = ctld = dbd = null;
  }

  const startSeconds: number[] = [];
  try {
    await start();
  } catch (e) {
    await halt().catch(() => undefined);
    live.delete(handle);
    throw e;
  }

  const self: SlurmCluster & { startSeconds: number[] } = {
    dir,
    conf,
    env,
    nodeName,
    partition: 'debug',
    cpus,
    accounting,
    ports: { slurmctld: ctldPort, slurmd: slurmdPort, ...(accounting ? { slurmdbd: dbdPort, mariadb: db!.port } : {}) },
    startSeconds,
    cmd,
    job(id) {
      const r = run('scontrol', ['-o', 'show', 'job', id], env);
      if (!r.ok) {
        if (/Invalid job id/i.test(r.err)) return null;
        throw new Error(`scontrol show job ${id}: ${r.status}: ${r.err.trim()}\n${logTail(20)}`);
      }
      return parseFields(r.out);
    },
    async waitJobEnd(id, timeoutMs = 60000) {
      let last: Map<string, string> | null = null;
      return poll(
        `job ${id} ending`,
        () => {
          last = self.job(id);
          return last && FINAL.has((last.get('JobState') ?? '').split(/[ +]/)[0]) ? last : null;
        },
        timeoutMs,
        () => `last state: ${last ? last.get('JobState') : '(unknown to scontrol)'}\n${logTail(20)}`,
      );
    },
    async waitQueueEmpty(timeoutMs = 120000) {
      await poll('the queue empty', () => run('squeue', ['-h', '-o', '%i'], env).out.trim() === '', timeoutMs, () => `squeue:\n${run('squeue', [], env).out}\n${logTail(20)}`);
    },
    waitIdle,
    halt: () => halt(),
    async restart() {
      // The jobs stay: slurmstepd keeps running them while slurmd is away, and reports to the new one.
      await halt(false);
      await start();
    },
    async wipe() {
      await halt();
      rmSync(state, { recursive: true, force: true });
      rmSync(spool, { recursive: true, force: true });
      rmSync(path.join(dir, 'jobcomp.txt'), { force: true });
      await start();
    },
    async stop() {
      await halt();
      live.delete(handle);
      if (!process.env.KEEP_TEST_REPOS) rmSync(dir, { recursive: true, force: true });
    },
    logTail,
  };
  return self;
}

const FINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL', 'BOOT_FAIL', 'DEADLINE', 'PREEMPTED', 'SPECIAL_EXIT']);

/** `scontrol -o` output: Key=Value pairs separated by spaces (values here have none, except Command/WorkDir paths, which tests do not read). */
export function parseFields(line: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of line.trim().split(/\s+(?=[A-Za-z_:/]+=)/)) {
    const i = part.indexOf('=');
    if (i > 0) m.set(part.slice(0, i), part.slice(i + 1));
  }
  return m;
}
