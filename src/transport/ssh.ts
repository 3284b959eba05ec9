/**
 * SSH connections with ssh2: the only module that imports it. One connection
 * per host serves a whole process (a sweep), with keepalives so a dead link
 * is noticed within a minute. The host key is checked against known_hosts in
 * ssh2's hostVerifier, which runs during key exchange, before any
 * authentication: an unknown or changed key ends the connection with nothing
 * sent. Authentication uses the agent and the identity files OpenSSH would.
 */
import type { Client, ClientChannel, ConnectConfig } from 'ssh2';
import { readFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Readable, Duplex } from 'node:stream';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { resolveSshTarget, type SshTarget } from './sshconfig.js';
import { verifyHostKey, hostKeyName, type Verdict } from './knownhosts.js';
import { shQuote } from '../util/shell.js';

import { stepFailed, type ExecResult, type HostShell, type ShellStream } from './shell.js';

export type { ExecResult };

/** Largest answer a control step may give (log chunks are at most 1 MiB each). */
const MAX_STEP_OUTPUT = 64 * 2 ** 20;

/**
 * One long-lived `sh` session on the host that runs short steps one after
 * another. Opening an SSH session costs a fork, PAM and a login shell on the
 * server (about 80 ms on the benchmark host), and a run takes a dozen short
 * steps (check, start, polls, logs, clean-up); through this shell each costs
 * one `sh -c` there. Every step runs in its own `sh -c` with stdin from
 * /dev/null, so a step cannot read the next one or break the shell; its
 * output goes to files and comes back framed by a random token and byte
 * counts, parsed strictly (the host's answers are not trusted).
 */
export class ControlShell {
  private buf: Buffer = Buffer.alloc(0);
  private pending: { token: string; resolve: (r: ExecResult) => void; reject: (e: Error) => void } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private dead: Error | null = null;

  constructor(private readonly ch: ClientChannel, private readonly fail: (e: Error) => GitRunError) {
    ch.on('data', (d: Buffer) => this.onData(d));
    ch.stderr.on('data', () => undefined);
    const end = () => this.die(new Error('the control session ended'));
    ch.on('close', end);
    ch.on('error', (e: Error) => this.die(e));
  }

  get alive(): boolean {
    return !this.dead;
  }

  run(script: string): Promise<ExecResult> {
    const next = this.queue.then(() => this.one(script));
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.ch.end();
  }

  private one(script: string): Promise<ExecResult> {
    if (this.dead) return Promise.reject(this.fail(this.dead));
    const token = randomBytes(8).toString('hex');
    return new Promise((resolve, reject) => {
      this.pending = { token, resolve, reject };
      this.ch.write(`sh -c ${shQuote(script)} </dev/null >"$T/o" 2>"$T/e"; c=$?; printf '@@%s %d %d %d\\n' ${token} "$c" $(wc -c <"$T/o") $(wc -c <"$T/e"); cat "$T/o" "$T/e"\n`);
    });
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    const p = this.pending;
    if (!p) return this.die(new Error('the control session sent output nobody asked for'));
    const nl = this.buf.indexOf(10);
    if (nl < 0) {
      if (this.buf.length > 200) this.die(new Error('the control session sent a malformed answer'));
      return;
    }
    const m = /^@@([0-9a-f]{16}) (\d{1,3}) (\d{1,10}) (\d{1,10})$/.exec(this.buf.subarray(0, nl).toString('latin1'));
    if (!m || m[1] !== p.token) return this.die(new Error('the control session sent a malformed answer'));
    const [o, e] = [Number(m[3]), Number(m[4])];
    if (o + e > MAX_STEP_OUTPUT) return this.die(new Error(`a remote step answered with ${o + e} bytes (at most ${MAX_STEP_OUTPUT})`));
    if (this.buf.length < nl + 1 + o + e) return;
    if (this.buf.length > nl + 1 + o + e) return this.die(new Error('the control session sent more than it announced'));
    const stdout = Buffer.from(this.buf.subarray(nl + 1, nl + 1 + o));
    const stderr = this.buf.subarray(nl + 1 + o).toString();
    this.buf = Buffer.alloc(0);
    this.pending = null;
    p.resolve({ code: Number(m[2]), signal: null, stdout, stderr });
  }

  private die(e: Error): void {
    if (this.dead) return;
    this.dead = e;
    this.pending?.reject(this.fail(e));
    this.pending = null;
    this.ch.end();
  }
}

export class SshConnection implements HostShell {
  private closed = false;
  private control: Promise<ControlShell | null> | null = null;
  constructor(
    private readonly client: Client,
    readonly target: SshTarget,
    private readonly jumps: SshConnection[],
  ) {
    client.on('close', () => (this.closed = true));
  }

  /** Start the control shell now, while the caller does other work (it takes the host a login shell's start-up). */
  warmUp(): void {
    void this.controlShell();
  }

  /** The control shell, started on first use; null when the host cannot keep one (then each step opens a session). */
  private controlShell(): Promise<ControlShell | null> {
    if (!this.control) {
      // $T holds each step's output; the shell removes it when the connection closes its stdin.
      const boot = 'T=$(mktemp -d 2>/dev/null) || { T="${TMPDIR:-/tmp}/git-run-ctl.$$" && mkdir -m 700 "$T"; } || exit 97; export T; sh -s; rm -rf "$T"';
      this.control = this.channel(boot).then(
        (ch) => new ControlShell(ch, (e) => this.fail(e)),
        () => null,
      );
    }
    return this.control.then((c) => {
      if (c && !c.alive) {
        this.control = null;
        return this.controlShell();
      }
      return c;
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Run a POSIX shell script on the host (through `sh -c`, whatever the login shell). */
  channel(script: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.exec(`sh -c ${shQuote(script)}`, (err, ch) => (err ? reject(this.fail(err)) : resolve(ch)));
    });
  }

  /** Run a script to completion; `input` is its standard input. Without input it is a step of the control shell. */
  async exec(script: string, input?: Buffer | string | Readable, onStdout?: (d: Buffer) => void): Promise<ExecResult> {
    if (input === undefined && !onStdout) {
      const control = await this.controlShell();
      if (control) return control.run(script);
    }
    const ch = await this.channel(script);
    return new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      let err = '';
      let code: number | null = null;
      let signal: string | null = null;
      ch.on('data', (d: Buffer) => (onStdout ? onStdout(d) : out.push(d)));
      ch.stderr.on('data', (d: Buffer) => (err += d.toString()));
      ch.on('exit', (c: number | null, s?: string) => {
        code = c;
        signal = s ?? null;
      });
      ch.on('error', (e: Error) => reject(this.fail(e)));
      ch.on('close', () => resolve({ code, signal, stdout: Buffer.concat(out), stderr: err }));
      if (input === undefined) ch.end();
      else if (typeof input === 'string' || Buffer.isBuffer(input)) ch.end(input);
      else input.pipe(ch);
    });
  }

  /** Run a script and fail with its stderr unless it exits 0. */
  async run(script: string, input?: Buffer | string | Readable): Promise<Buffer> {
    const r = await this.exec(script, input);
    // exitCode tells a step that ran and failed from a connection that broke (no exitCode: the outcome is unknown).
    if (r.code !== 0) throw stepFailed(this.target.alias, r);
    return r.stdout;
  }

  /** Run a script in a session of its own, its standard output read as a stream. */
  async stream(script: string): Promise<ShellStream> {
    const ch = await this.channel(script);
    const exited = new Promise<number | null>((resolve) => {
      ch.on('exit', (c: number | null) => resolve(c));
      ch.on('close', () => resolve(null));
    });
    ch.end();
    return { stdout: ch as unknown as Readable, stderr: ch.stderr, exited, close: () => void ch.close() };
  }

  private fail(e: Error): GitRunError {
    return new GitRunError(ErrorCode.SshFailed, `connection to ${this.target.alias} failed: ${e.message}`, 'check that the host is reachable (`ssh ' + this.target.alias + ' true`)', { host: this.target.alias });
  }

  close(): void {
    void this.control?.then((c) => c?.close());
    this.client.end();
    for (const j of this.jumps) j.close();
  }
}

function readKey(file: string): Buffer | null {
  try {
    return existsSync(file) ? readFileSync(file) : null;
  } catch {
    return null;
  }
}

async function open(target: SshTarget, sock: Duplex | undefined, jumps: SshConnection[]): Promise<SshConnection> {
  let verdict: Verdict | null = null;
  const keys = target.identityFiles.map(readKey).filter((k): k is Buffer => k !== null);
  const auth = [
    ...(target.agent && !target.identitiesOnly ? [{ type: 'agent' as const, username: target.user, agent: target.agent }] : []),
    ...keys.map((key) => ({ type: 'publickey' as const, username: target.user, key })),
    ...(target.agent && target.identitiesOnly ? [{ type: 'agent' as const, username: target.user, agent: target.agent }] : []),
  ];
  // Loaded on first use: a local run never pays for ssh2.
  const { Client: SshClient } = await import('ssh2');
  const client = new SshClient();
  const config: ConnectConfig = {
    host: target.hostname,
    port: target.port,
    username: target.user,
    readyTimeout: target.connectTimeoutMs,
    keepaliveInterval: 15000,
    keepaliveCountMax: 3,
    // ssh2 tries these in order: the agent, then each identity file (OpenSSH's order).
    authHandler: auth as unknown as ConnectConfig['authHandler'],
    hostVerifier: (key: Buffer) => {
      verdict = verifyHostKey(target.knownHostsFiles, target.hostname, target.port, key);
      return verdict.ok;
    },
    ...(sock ? { sock } : {}),
  };
  // ssh2 may emit more than one 'error' (a timeout, then the socket closing): one left without a listener
  // would crash the process. After the first, they are ends the connection's users see anyway.
  client.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', (e: Error) => {
      const v = verdict as Verdict | null;
      const name = hostKeyName(target.hostname, target.port);
      if (v && !v.ok && v.reason === 'unknown') {
        reject(new GitRunError(ErrorCode.HostKeyUnknown, `the host key of ${name} is not in known_hosts (${target.knownHostsFiles.join(', ') || 'none configured'}): refused before authenticating`, `check the key's fingerprint with the host's administrator, then trust it: \`ssh ${target.alias} true\` and answer yes, or \`ssh-keyscan -p ${target.port} ${target.hostname} >> ~/.ssh/known_hosts\``, { host: target.alias }));
      } else if (v && !v.ok) {
        reject(new GitRunError(ErrorCode.HostKeyChanged, `the host key of ${name} does not match known_hosts${v.file ? ` (${v.file}:${v.line})` : ''}${v.reason === 'revoked' ? ': it is revoked' : ': it has CHANGED'}; someone may be intercepting the connection. Refused before authenticating`, `if the host was really re-installed, remove the old key with \`ssh-keygen -R ${JSON.stringify(name)}\` and trust the new one after checking its fingerprint`, { host: target.alias }));
      } else {
        reject(new GitRunError(ErrorCode.SshFailed, `cannot connect to ${target.alias} (${target.user}@${target.hostname}:${target.port}): ${e.message}`, `check that \`ssh ${target.alias} true\` works (keys in the agent or IdentityFile)`, { host: target.alias }));
      }
    });
    client.connect(config);
  });
  return new SshConnection(client, target, jumps);
}

/** Connect to an alias, through its ProxyJump hosts if any. */
export async function connect(alias: string, configFile: string | null = null): Promise<SshConnection> {
  const target = await resolveSshTarget(alias, configFile);
  const jumps: SshConnection[] = [];
  let sock: Duplex | undefined;
  for (const hop of target.proxyJump) {
    // user@host:port in ProxyJump: resolve the host part as OpenSSH would.
    const m = /^(?:([^@]+)@)?([^:]+)(?::(\d+))?$/.exec(hop);
    const hopTarget = await resolveSshTarget(m?.[2] ?? hop, configFile);
    if (m?.[1]) hopTarget.user = m[1];
    if (m?.[3]) hopTarget.port = Number(m[3]);
    const j = await open(hopTarget, sock, jumps.slice());
    jumps.push(j);
    sock = await new Promise<Duplex>((resolve, reject) => {
      (j as unknown as { client: Client }).client.forwardOut('127.0.0.1', 0, target.hostname, target.port, (err, stream) => (err ? reject(err) : resolve(stream)));
    });
  }
  return open(target, sock, jumps);
}

/** One connection per host alias for the life of the process. */
const pool = new Map<string, Promise<SshConnection>>();

/** A host that could not be reached is not tried again for this long: `status` with fifty runs on a host
 * that is down would otherwise wait for fifty connection timeouts. */
const RETRY_AFTER_MS = 30_000;
const unreachable = new Map<string, { at: number; error: unknown }>();

export async function connection(alias: string, configFile: string | null = null): Promise<SshConnection> {
  const key = `${configFile ?? ''}\0${alias}`;
  const existing = pool.get(key);
  if (existing) {
    const c = await existing.catch(() => null);
    if (c?.isOpen) return c;
  }
  const down = unreachable.get(key);
  if (down && Date.now() - down.at < RETRY_AFTER_MS) throw down.error;
  const p = connect(alias, configFile).then((c) => (c.warmUp(), c));
  pool.set(key, p);
  p.then(
    () => unreachable.delete(key),
    (error: unknown) => {
      pool.delete(key);
      unreachable.set(key, { at: Date.now(), error });
    },
  );
  return p;
}

export function closeAll(): void {
  for (const p of pool.values()) void p.then((c) => c.close(), () => undefined);
  pool.clear();
}
