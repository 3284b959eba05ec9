/**
 * The ssh executor: commands run on a host reached with ssh, in a run
 * directory under its remote_dir, from a code cache keyed by tree
 * (./remote.ts).
 */
import path from 'node:path';
import type { Executor } from '../executor.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';
import { checkName } from '../../transport/sshconfig.js';
import { closeAll, connection } from '../../transport/ssh.js';
import { localExecutor } from '../local/index.js';
import { copyDirToShell } from '../copyin.js';
import { gcSshHost } from './gc.js';
import { cancelRemote, connectionFor, pollRemote, readRemoteFile, refreshRemote, stageRemoteInputs, startRemote } from './remote.js';

export const sshExecutor: Executor = {
  type: 'ssh',
  checksLocally: false,
  sendsCode: true,

  checkProfile(name, profile, top) {
    const { host: alias, ssh_config: sshConfig, ...runArgs } = profile;
    if (typeof alias !== 'string' || !alias) throw new GitRunError(ErrorCode.BadHostProfile, `host profile '${name}' has no "host" (the ssh alias or name)`, `add "host": "<name in ~/.ssh/config>" to hosts.${name} in .runconfig`);
    checkName('host', alias);
    return { record: { type: 'ssh', host: alias, ...(typeof sshConfig === 'string' ? { sshConfig: path.resolve(top, sshConfig) } : {}) }, runArgs };
  },
  reach: (profile) => connection(profile!.host!, profile!.sshConfig ?? null),
  // The start is recorded by whoever drives the run, once the host is reached.
  startedAtPublish: () => null,

  // The code goes with the start, in as few round trips as the host allows.
  prepareCode: () => null,
  stageInputs: async (repo, view) => void (await stageRemoteInputs(null, repo, view)),
  start: (repo, view, opts) => startRemote(repo, view, opts),

  refresh: (repo, view) => refreshRemote(repo, view),
  async readLive(_repo, view, offsets) {
    if (!view.state) return { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), ended: false, pollMs: 250 };
    const poll = await pollRemote(await connectionFor(view), view, offsets);
    return { stdout: poll.stdout, stderr: poll.stderr, ended: poll.exit !== null || !poll.alive, pollMs: 250 };
  },
  async readFile(_repo, view, rel, offset, max) {
    if (!view.state) return { data: Buffer.alloc(0), ended: false };
    const r = await readRemoteFile(await connectionFor(view), view, rel, offset, max);
    return { data: r.data, ended: r.gone || r.exit !== null };
  },
  async cancel(repo, view, graceMs) {
    // Not started: the marker in its state directory here stops it, as for a local run.
    if (!view.state) return localExecutor.cancel(repo, view, graceMs);
    await cancelRemote(await connectionFor(view), view, graceMs / 1000);
  },
  async requestCancel(repo, view) {
    if (!view.state) return localExecutor.requestCancel(repo, view);
    await cancelRemote(await connectionFor(view), view);
  },
  close: closeAll,
  copyIn: async (_repo, profile, localDir, remotePath) => copyDirToShell(await connection(profile!.host!, profile!.sshConfig ?? null), localDir, remotePath),
  gcHost: (repo, profile, keep, opts) => gcSshHost(repo, profile, keep, { dryRun: opts.dryRun, graceMinutes: Math.floor(opts.graceMs / 60000) }),
};
