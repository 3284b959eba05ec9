/**
 * A real OpenSSH server on 127.0.0.1 for the tests, with its own host key,
 * client key, known_hosts and client config (after ../shared/infra's
 * start-sshd.sh). Without sshd installed, tests skip with a message on a
 * developer machine; in CI (CI=true) that is a failure.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface Sshd {
  dir: string;
  port: number;
  /** An OpenSSH client config with `Host testhost` (key, port, known_hosts). */
  config: string;
  knownHosts: string;
  /** sshd's log (LogLevel VERBOSE: one "Starting session" line per session). */
  log: string;
  stop(): void;
}

const SSHD = '/usr/sbin/sshd';

export function sshdAvailable(ctx: Mocha.Context): boolean {
  if (existsSync(SSHD) && spawnSync('ssh', ['-V']).status === 0) return true;
  if (process.env.CI) throw new Error(`${SSHD} or the ssh client is missing in CI: .ci/run must install openssh-server and openssh-client`);
  console.log('    (skipping: no OpenSSH server here; apt-get install openssh-server openssh-client to run the SSH tests)');
  ctx.skip();
  return false;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Start one; `dir` holds its keys, configs and log (default: a new temporary directory). Also used by bench/transfer.ts. */
export interface SshdOptions {
  /** Environment every session gets (sshd_config SetEnv), e.g. SLURM_CONF for a test cluster's clients. */
  setEnv?: Record<string, string>;
}

export async function startSshd(given?: string, opts: SshdOptions = {}): Promise<Sshd> {
  const dir = given ?? mkdtempSync(path.join(os.tmpdir(), 'git-run-sshd-'));
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o700);
  const port = await freePort();
  const key = (name: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path.join(dir, name)]);
  key('host_ed25519');
  key('client_ed25519');
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(path.join(dir, 'client_ed25519.pub')));
  chmodSync(path.join(dir, 'authorized_keys'), 0o600);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  writeFileSync(
    path.join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${dir}/host_ed25519`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'MaxStartups 100:30:200',
      'MaxSessions 50',
      // One "Starting session" line per session: tests count git-run's round trips.
      'LogLevel VERBOSE',
      ...Object.entries(opts.setEnv ?? {}).map(([k, v]) => `SetEnv ${k}=${v}`),
      '',
    ].join('\n'),
  );
  const knownHosts = path.join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${readFileSync(path.join(dir, 'host_ed25519.pub'), 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
  const config = path.join(dir, 'ssh_config');
  writeFileSync(
    config,
    [
      'Host testhost',
      '  HostName 127.0.0.1',
      `  Port ${port}`,
      '  User root',
      `  IdentityFile ${dir}/client_ed25519`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${knownHosts}`,
      '  GlobalKnownHostsFile /dev/null',
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '',
    ].join('\n'),
  );
  execFileSync(SSHD, ['-t', '-f', path.join(dir, 'sshd_config')]);
  execFileSync(SSHD, ['-f', path.join(dir, 'sshd_config'), '-E', path.join(dir, 'sshd.log')]);
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.end(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    dir,
    port,
    config,
    knownHosts,
    log: path.join(dir, 'sshd.log'),
    stop() {
      try {
        process.kill(Number(readFileSync(path.join(dir, 'sshd.pid'), 'utf8')), 'SIGTERM');
      } catch {
        /* already gone */
      }
      // A directory made here goes with it (KEEP_TEST_REPOS=1 keeps it, as the tests' repositories).
      if (!given && !process.env.KEEP_TEST_REPOS) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Run a shell command on the test host (to look at or tamper with the remote side). */
export function onHost(sshd: Sshd, script: string): string {
  return execFileSync('ssh', ['-F', sshd.config, 'testhost', script], { encoding: 'utf8' });
}
