/**
 * Where and as whom to connect, decided exactly as OpenSSH decides it: we
 * ask `ssh -G <host>`, which evaluates ~/.ssh/config and the system config
 * (Host and Match blocks, aliases, defaults) and prints the result. No secret
 * is read here: identity files are paths, the agent is a socket path.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { ErrorCode, GitRunError } from '../errors/index.js';

export interface SshTarget {
  /** The name the user gave (a profile's "host"). */
  alias: string;
  hostname: string;
  user: string;
  port: number;
  identityFiles: string[];
  identitiesOnly: boolean;
  /** Jump hosts, outermost first (ProxyJump), each resolved the same way. */
  proxyJump: string[];
  knownHostsFiles: string[];
  /** The agent socket, when one is configured or in SSH_AUTH_SOCK. */
  agent: string | null;
  connectTimeoutMs: number;
}

/** A name that could be taken for an option, or smuggle a second word, is refused. */
export function checkName(what: string, name: string): void {
  if (!name || name.startsWith('-') || /[\s\x00-\x1f\x7f]/.test(name)) {
    throw new GitRunError(
      ErrorCode.BadHostProfile,
      `invalid ${what} ${JSON.stringify(name)}: it must not be empty, start with '-', or contain white space or control characters`,
      `fix the ${what} in the host profile of .runconfig (or in ~/.ssh/config)`,
      { [what]: name },
    );
  }
}

const expandHome = (p: string) => (p.startsWith('~/') ? os.homedir() + p.slice(1) : p);

/** `configFile`: an OpenSSH config to read instead of ~/.ssh/config (ssh -F). */
export async function resolveSshTarget(alias: string, configFile: string | null = null): Promise<SshTarget> {
  checkName('host', alias);
  const out = await new Promise<string>((resolve, reject) => {
    // `--` ends ssh's options: the alias is checked above, and this keeps it a name.
    const child = spawn('ssh', [...(configFile ? ['-F', configFile] : []), '-G', '--', alias], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => reject(new GitRunError(ErrorCode.BadHostProfile, `cannot run the OpenSSH client to read the configuration of '${alias}': ${e.message}`, 'install the OpenSSH client (Debian: apt-get install openssh-client)')));
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new GitRunError(ErrorCode.BadHostProfile, `ssh -G ${alias} failed: ${stderr.trim()}`, 'check ~/.ssh/config'))));
  });
  const many = new Map<string, string[]>();
  for (const line of out.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const k = line.slice(0, sp).toLowerCase();
    many.set(k, [...(many.get(k) ?? []), line.slice(sp + 1)]);
  }
  const one = (k: string) => many.get(k)?.[0];
  const hostname = one('hostname') ?? alias;
  const user = one('user') ?? os.userInfo().username;
  checkName('host', hostname);
  checkName('user', user);
  const jump = one('proxyjump');
  const agentSetting = one('identityagent');
  const agent = agentSetting && agentSetting !== 'none' && agentSetting !== 'SSH_AUTH_SOCK' ? expandHome(agentSetting) : agentSetting === 'none' ? null : process.env.SSH_AUTH_SOCK ?? null;
  const timeout = one('connecttimeout');
  return {
    alias,
    hostname,
    user,
    port: Number(one('port') ?? 22),
    identityFiles: (many.get('identityfile') ?? []).map(expandHome),
    identitiesOnly: one('identitiesonly') === 'yes',
    proxyJump: jump && jump !== 'none' ? jump.split(',').map((s) => s.trim()) : [],
    knownHostsFiles: [...(many.get('userknownhostsfile') ?? []), ...(many.get('globalknownhostsfile') ?? [])].flatMap((l) => l.split(/\s+/)).filter(Boolean).map(expandHome),
    agent,
    connectTimeoutMs: timeout && timeout !== 'none' ? Number(timeout) * 1000 : 20000,
  };
}
