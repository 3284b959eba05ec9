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
import { cancelSlurm, liveSlurm, preflightSlurm, refreshSlurm, shellFor, shellOfProfile, startSlurm, type SlurmHandle } from './jobs.js';
import { hostGcInput, hostGcScript, parseHostGc } from '../ssh/gc.js';
import { isFinal } from '../../core/record.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';
import { shQuote } from '../../util/shell.js';

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
  async gcHost(_repo, profile, keep, opts) {
    // The ssh executor's clean-up, on the login node (or here), plus the arrays' directories (map, batch
    // script, Slurm's output): one stays while a live run's array needs it (named by the array's first run).
    const input = hostGcInput(keep, { dryRun: opts.dryRun, graceMinutes: Math.floor(opts.graceMs / 60000) });
    input.runParents.push('arrays');
    for (const { view } of keep.live) {
      const name = (view.state?.handle as SlurmHandle | undefined)?.jobName;
      if (typeof name === 'string' && name.startsWith('git-run-')) input.runs.push(name.slice('git-run-'.length));
    }
    const shell = await shellOfProfile(keep.profile);
    // A job still in Slurm's queue (another clone's, one whose record did not land) is not over: its run
    // directories stay, an array's with it (its map lists them). squeue silent: nothing can be told, nothing goes.
    const jobs = await shell.exec(
      [
        `B=${shQuote(input.base)}; case "$B" in /*) ;; *) B="$HOME/$B" ;; esac`,
        'names=$(squeue -h -u "$(id -un)" -o %j) || exit 3',
        'for n in $names; do case "$n" in git-run-*) id=${n#git-run-}; echo "$id"; [ -f "$B/arrays/$id/map" ] && sed \'s|.*/||\' "$B/arrays/$id/map";; esac; done',
        'exit 0',
      ].join('\n'),
    );
    if (jobs.code !== 0) throw new GitRunError(ErrorCode.SshFailed, `Slurm's queue on ${keep.profile?.host ?? 'this machine'} could not be read (squeue: ${jobs.stderr.toString().trim() || `exit ${jobs.code}`}): nothing was removed`, 'check that squeue works there, then run `git run gc --host` again');
    input.runs.push(...jobs.stdout.toString().split('\n').filter((l) => /^[0-9a-f]{40,64}$/.test(l)));
    return parseHostGc(profile, (await shell.run(hostGcScript(input))).toString('utf8'));
  },
  close: closeAll,
};
