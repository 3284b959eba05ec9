/**
 * The Slurm executor: the ssh executor's code cache and run directories, on
 * a login node reached with ssh (or this machine, without "host"), with the
 * command submitted by sbatch; a sweep's children go as one job array
 * (./jobs.ts). Decision 0016.
 */
import path from 'node:path';
import type { Executor } from '../executor.js';
import type { RunView } from '../../store/runs.js';
import { checkName } from '../../transport/sshconfig.js';
import { closeAll, connection } from '../../transport/ssh.js';
import { localExecutor } from '../local/index.js';
import { pollRemote, readRemoteFile, stageRemoteInputs } from '../ssh/remote.js';
import { cancelSlurm, liveSlurm, preflightSlurm, refreshSlurm, shellFor, startSlurm } from './jobs.js';
import { isFinal } from '../../core/record.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';

export const slurmExecutor: Executor = {
  type: 'slurm',
  checksLocally: false,
  sendsCode: true,

  checkProfile(name, profile, top) {
    const { host: alias, ssh_config: sshConfig, ...runArgs } = profile;
    // Without "host" the jobs are submitted from this machine (a login node).
    if (alias !== undefined && alias !== null && (typeof alias !== 'string' || !alias)) {
      throw new GitRunError(ErrorCode.BadHostProfile, `host profile '${name}' has a "host" that is not an ssh alias: ${JSON.stringify(alias)}`, `set hosts.${name}.host to the login node's name in ~/.ssh/config, or leave it out to submit from this machine`);
    }
    if (typeof alias === 'string') checkName('host', alias);
    return { record: { type: 'slurm', host: typeof alias === 'string' && alias ? alias : null, ...(typeof sshConfig === 'string' ? { sshConfig: path.resolve(top, sshConfig) } : {}) }, runArgs };
  },
  reach: (profile) => (profile?.host ? connection(profile.host, profile.sshConfig ?? null) : null),
  preflight: (_repo, specs) => preflightSlurm(specs),
  // The start is recorded once sbatch has given the job id.
  startedAtPublish: () => null,

  prepareCode: () => null,
  stageInputs: async (repo, view) => void (await stageRemoteInputs(await shellFor(view), repo, view)),
  start: async (repo, view, opts) => (await startSlurm(repo, [view], opts))[0] ?? null,
  startMany: (repo, views, opts) => startSlurm(repo, views, opts),

  refresh: (repo, view) => refreshSlurm(repo, view),
  describe: (_repo, view) => liveSlurm(view),
  async readLive(_repo, view, offsets) {
    if (!view.state) return { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), ended: false, pollMs: 1000 };
    const poll = await pollRemote(await shellFor(view), view, offsets);
    // A job waiting in the queue has no output yet; its end is the exit file, or the record.
    return { stdout: poll.stdout, stderr: poll.stderr, ended: poll.exit !== null || isFinal(view.status), pollMs: 1000 };
  },
  async readFile(_repo, view, rel, offset, max) {
    if (!view.state) return { data: Buffer.alloc(0), ended: false };
    const r = await readRemoteFile(await shellFor(view), view, rel, offset, max);
    return { data: r.data, ended: r.exit !== null || isFinal(view.status) };
  },
  async cancel(repo, view, graceMs) {
    // Not submitted: the marker in its state directory here stops it, as for a local run.
    if (!view.state) return localExecutor.cancel(repo, view, graceMs);
    await cancelSlurm(view);
  },
  async cancelMany(repo, views) {
    // Submitted runs: one scancel per host profile for all their jobs; the others stop as local queued runs do.
    const byHost = new Map<string, RunView[]>();
    for (const v of views) {
      if (!v.state) await localExecutor.requestCancel(repo, v);
      else byHost.set(v.spec.host ?? '', [...(byHost.get(v.spec.host ?? '') ?? []), v]);
    }
    await Promise.all([...byHost.values()].map((vs) => cancelSlurm(...vs)));
  },
  async requestCancel(repo, view) {
    if (!view.state) return localExecutor.requestCancel(repo, view);
    await cancelSlurm(view);
  },
  close: closeAll,
};
