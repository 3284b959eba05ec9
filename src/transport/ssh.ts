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
import type { Readable, Duplex } from 'node:stream';
import { ErrorCode, GitRunError } from '../errors/index.js';
import { resolveSshTarget, type SshTarget } from './sshconfig.js';
import { verifyHostKey, hostKeyName, type Verdict } from './knownhosts.js';

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: string;
}

/** Quote one word for a POSIX shell: every byte arrives as it is. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export class SshConnection {
  private closed = false;
  constructor(
    private readonly client: Client,
    readonly target: SshTarget,
    private readonly jumps: SshConnection[],
  ) {
    client.on('close', () => (this.closed = true));
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

  /** Run a script to completion; `input` is its standard input. */
  async exec(script: string, input?: Buffer | string | Readable, onStdout?: (d: Buffer) => void): Promise<ExecResult> {
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
    if (r.code !== 0) {
      throw new GitRunError(ErrorCode.SshFailed, `on ${this.target.alias}: a remote step failed (exit ${r.code ?? r.signal}): ${r.stderr.trim() || 'no message'}`, 'check the host profile and that the remote has a POSIX shell, tar and GNU find', { host: this.target.alias });
    }
    return r.stdout;
  }

  private fail(e: Error): GitRunError {
    return new GitRunError(ErrorCode.SshFailed, `connection to ${this.target.alias} failed: ${e.message}`, 'check that the host is reachable (`ssh ' + this.target.alias + ' true`)', { host: this.target.alias });
  }

  close(): void {
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

export async function connection(alias: string, configFile: string | null = null): Promise<SshConnection> {
  const key = `${configFile ?? ''}\0${alias}`;
  const existing = pool.get(key);
  if (existing) {
    const c = await existing.catch(() => null);
    if (c?.isOpen) return c;
  }
  const p = connect(alias, configFile);
  pool.set(key, p);
  p.catch(() => pool.delete(key));
  return p;
}

export function closeAll(): void {
  for (const p of pool.values()) void p.then((c) => c.close(), () => undefined);
  pool.clear();
}
