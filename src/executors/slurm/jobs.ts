/**
 * Slurm jobs for runs: submission (one sbatch for a run, one job array for a
 * sweep's children that ask for the same resources), the end recorded from
 * the exit file first and Slurm second, cancel with scancel. The host is a
 * login node reached with ssh, or this machine; the code cache, input
 * staging, output collection and --leave are the ssh executor's (../ssh/).
 */
import type { Repo } from '../../git/repo.js';
import { readRun, recordEnd, recordStart, type RunView } from '../../store/runs.js';
import { isFinal, type HostProfile, type RunHandle, type RunResult, type RunSpec, type RunState } from '../../core/record.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';
import { connection } from '../../transport/ssh.js';
import { localShell, type HostShell } from '../../transport/shell.js';
import { shQuote } from '../../util/shell.js';
import { bootId, isAlive, processStart, thisHost } from '../../util/process.js';
import { PARAMS_DIR, controlDirFor, discardControlDir } from '../rundir.js';
import { finalStatus, type ObservedExit, type ObservedOutputs } from '../status.js';
import type { Started, StartOptions } from '../executor.js';
import { MANIFEST, pollRemote, ensureCodeOnce, envAssignments, fetchLogs, fetchOutputs, leaveRemote, remotePaths, stageRemoteInputs } from '../ssh/remote.js';
import { resolvedInputs } from '../inputs.js';
import { failpoint } from '../../core/failpoint.js';
import { resourcesOf } from './resources.js';
import { batchScript } from './script.js';
import { phaseOf, stateWords } from './state.js';
import { ONE_SHOT_FRESH, watcherFor, type JobEnd, type Watched } from './watch.js';

/** A Slurm run's handle, in its state commit: enough for any later process to find the job and check it is still ours. */
export interface SlurmHandle extends RunHandle {
  executor: 'slurm';
  profile: string;
  /** The ssh alias of the login node; null: this machine. */
  alias: string | null;
  runDir: string;
  codeDir: string;
  /** The job as Slurm names it: "123", or "123_4" for a task of an array. */
  job: string;
  /** The job's name, which carries the run id (a job of that id under another name is not ours). */
  jobName: string;
  /** The batch script submitted. */
  script: string;
  /** When Slurm took the job (squeue's %V right after sbatch): tells our record in accounting from a recycled id's. */
  submitted?: string | null;
  supervisor: { host: string; pid: number; start: string | null; bootId: string | null };
}

const hostKey = (view: RunView) => view.spec.hostProfile?.host ?? '';

/** The shell of a run's host: its login node over ssh, or this machine. */
export async function shellFor(view: RunView): Promise<HostShell> {
  return shellOfProfile(view.spec.hostProfile ?? null);
}

export async function shellOfProfile(profile: HostProfile | null): Promise<HostShell> {
  const alias = profile?.host ?? null;
  return alias ? connection(alias, profile?.sshConfig ?? null) : localShell();
}

/**
 * Before anything is written: every run's resources checked, sbatch found on
 * the host, and Slurm's own word on each set of resources (`sbatch
 * --test-only`: a partition that does not exist, a time over the limit).
 */
export async function preflightSlurm(specs: RunSpec[]): Promise<void> {
  const problems = new Set<string>();
  const sets = new Map<string, string[]>();
  for (const s of specs) {
    const r = resourcesOf(s.runArgs);
    for (const p of r.problems) problems.add(p);
    sets.set(JSON.stringify(r.options), r.options);
  }
  if (problems.size) throw new GitRunError(ErrorCode.BadOption, `bad Slurm resources: ${[...problems].join('; ')}`, 'resources are run_args: time, mem, cpus_per_task, gpus, partition, account, qos, constraint, nodes, ntasks, and sbatch (a list of extra long options)');
  if (!specs.length) return;
  const shell = await shellOfProfile(specs[0]!.hostProfile ?? null);
  const where = specs[0]!.hostProfile?.host ?? 'this machine';
  const found = await shell.exec('command -v sbatch');
  if (found.code !== 0) throw new GitRunError(ErrorCode.BadHostProfile, `sbatch is not on PATH on ${where}: Slurm's client commands are needed there to submit`, specs[0]!.hostProfile?.host ? `install Slurm's client on ${where}, or point "host" at the cluster's login node` : 'install Slurm\'s client here (sbatch, squeue, scancel), or give the profile a "host": the cluster\'s login node');
  for (const options of sets.values()) {
    const probe = ['#!/bin/sh', ...options.map((o) => `#SBATCH ${o}`), 'true', ''].join('\n');
    const r = await shell.exec(`cd "$HOME" && sbatch --test-only --job-name=git-run-check --output=/dev/null`, probe);
    if (r.code !== 0) {
      const said = r.stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/^sbatch: Job \d+ to start/.test(l)).join('; ');
      throw new GitRunError(ErrorCode.BadOption, `Slurm refuses these resources on ${where}: ${said || `sbatch --test-only exited ${r.code}`}`, `check the resources (${options.join(' ') || 'none'}) against the cluster: \`sinfo\` lists partitions and limits`);
    }
  }
}

const watcherOf = (view: RunView, shell: HostShell) => watcherFor(hostKey(view), shell);

const watchedOf = (view: RunView): Watched => {
  const h = view.state!.handle as SlurmHandle;
  return { id: view.id, runDir: h.runDir, job: h.job, name: h.jobName, submitted: h.submitted ?? null };
};

/** What to write for one run (its directory made beforehand): its command (run.sh), its parameters and the tree it uses. */
function runFiles(view: RunView): string {
  const params = JSON.stringify({ params: view.spec.params, seed: view.spec.seed, id: view.id, name: view.spec.name ?? null }, null, 2) + '\n';
  const cwd = view.spec.cwd.replace(/\/+$/, '') || '.';
  const runSh = `cd "$R/work/"${shQuote(cwd)} || exit 1\nexec env ${envAssignments(view).join(' ')} ${view.spec.command.map(shQuote).join(' ')}\n`;
  const p = remotePaths(view);
  return [
    `R=${shQuote(p.run)}; case "$R" in /*) ;; *) R="$HOME/$R" ;; esac`,
    `printf '%s\\n' ${shQuote(view.spec.code.tree)} > "$R/tree" && printf '%s' ${shQuote(params)} > "$R/params.json" && printf '%s' ${shQuote(runSh)} > "$R/run.sh" || exit 1`,
  ].join('\n');
}

/** Runs submitted together: same code, inputs, resources and place on the host. */
function batches(views: RunView[]): RunView[][] {
  const groups = new Map<string, RunView[]>();
  for (const v of views) {
    const k = JSON.stringify([v.spec.code.tree, v.spec.inputs, resourcesOf(v.spec.runArgs).options, remotePaths(v).base, v.spec.runArgs.run_dir ?? null]);
    groups.set(k, [...(groups.get(k) ?? []), v]);
  }
  return [...groups.values()];
}

/** The job name of a run, or of an array (its first run's id). */
const jobNameOf = (id: string) => `git-run-${id}`;

interface Submitted {
  job: string;
  script: string;
  submitted: string | null;
  /** The job's name when it is not the batch's first run's (a job found already submitted). */
  name?: string;
}

/**
 * Put code and inputs on the host, write each run's files and submit them in
 * one step: a run as one job, several as one array (`--array=0-N%P`, P from
 * max_parallel). Returns the job of each run.
 */
async function submitBatch(shell: HostShell, repo: Repo, views: RunView[], maxParallel: number | null, onBytes?: (n: number) => void): Promise<Submitted[]> {
  const first = views[0]!;
  const p = remotePaths(first);
  await ensureCodeOnce(shell, repo, first, onBytes);
  const inputs = await stageRemoteInputs(shell, repo, first);
  const array = views.length > 1;
  const jobDir = array ? `${p.base}/arrays/${first.id}` : p.run;
  const script = batchScript({
    options: resourcesOf(first.spec.runArgs).options,
    runDir: array ? null : p.run,
    map: array ? `${jobDir}/map` : null,
    codeDir: p.code,
    placeInputs: inputs.place,
    manifest: MANIFEST,
    paramsDir: PARAMS_DIR,
  });
  const name = jobNameOf(first.id);
  const throttle = maxParallel !== null && maxParallel < views.length ? `%${maxParallel}` : '';
  const steps = [
    `J=${shQuote(jobDir)}; case "$J" in /*) ;; *) J="$HOME/$J" ;; esac; mkdir -p "$J" || exit 1`,
    ...(array ? [': > "$J/map.tmp" || exit 1'] : []),
    // Every run's directory in one mkdir, not one process per run (relative places are under $HOME, as in runFiles).
    `(cd "$HOME" && mkdir -p -- ${views.map((v) => shQuote(remotePaths(v).run)).join(' ')}) || exit 1`,
    ...views.flatMap((v) => [runFiles(v), ...(array ? ['printf \'%s\\n\' "$R" >> "$J/map.tmp" || exit 1'] : [])]),
    ...(array ? ['mv "$J/map.tmp" "$J/map" || exit 1'] : []),
    `printf '%s' ${shQuote(script)} > "$J/job.sh" || exit 1`,
    'command -v sbatch >/dev/null 2>&1 || { echo "sbatch is not on PATH" >&2; exit 127; }',
    // Paths go on the command line (quoted), not in #SBATCH lines, which sbatch splits at blanks.
    `out=$(cd "$HOME" && sbatch --parsable --job-name=${shQuote(name)} --output="$J/slurm${array ? '-%a' : ''}.out" ${array ? `--array=0-${views.length - 1}${throttle} ` : ''}"$J/job.sh") || exit $?`,
    'printf \'job %s\\n\' "$out"',
    // When Slurm took it, in its own words: what accounting keeps of a job that never started (no name there).
    'printf \'submitted %s\\n\' "$(squeue -h -j "${out%%;*}" -o %V 2>/dev/null | head -n 1)"',
  ].join('\n');
  const lines = (await shell.run('sh -s', steps)).toString().split('\n');
  const out = lines.find((l) => l.startsWith('job ')) ?? '';
  const m = /^job (\d{1,12})(;\S+)?$/.exec(out);
  if (!m) throw new GitRunError(ErrorCode.SshFailed, `sbatch on ${shell.target.alias} did not answer with a job id (got ${JSON.stringify(out.slice(0, 80))})`, 'check the Slurm client on the host', { exitCode: -1 });
  const at = /^submitted ([0-9T:-]{10,32})$/.exec(lines.find((l) => l.startsWith('submitted ')) ?? '')?.[1] ?? null;
  return views.map((_, i) => ({ job: array ? `${m[1]}_${i}` : m[1]!, script, submitted: at }));
}

/**
 * Jobs already in Slurm's queue for these runs: a process killed between
 * sbatch and the start record left them running unrecorded. Found by the
 * job's name (`git-run-<id>`: a run's own job, or an array named after its
 * first run, whose map gives each task's run), so a resume records them
 * instead of submitting them again. Squeue silent: none found (as before).
 */
async function alreadySubmitted(shell: HostShell, views: RunView[]): Promise<Map<string, Submitted>> {
  const found = new Map<string, Submitted>();
  if (!views.length) return found;
  const base = remotePaths(views[0]!).base;
  const step = [
    `B=${shQuote(base)}; case "$B" in /*) ;; *) B="$HOME/$B" ;; esac`,
    'q=$(squeue -h -t all -u "$(id -un)" -o \'%F %j %V\' 2>/dev/null) || exit 0',
    'printf \'%s\\n\' "$q" | while read -r job name at; do',
    '  case "$name" in git-run-*) id=${name#git-run-} ;; *) continue ;; esac',
    '  if [ -f "$B/arrays/$id/map" ]; then k=0; while read -r r; do echo "task $job $k ${r##*/} $at $id"; k=$((k+1)); done < "$B/arrays/$id/map"; else echo "single $job 0 $id $at -"; fi',
    'done',
  ].join('\n');
  const r = await shell.exec('sh -s', step);
  if (r.code !== 0) return found;
  const ours = new Map(views.map((v) => [v.id, v]));
  const scripts = new Map<string, string>();
  // The host's answer is parsed strictly: only lines that name one of these runs count.
  for (const line of r.stdout.toString().split('\n')) {
    const m = /^(task|single) (\d{1,12}) (\d{1,7}) ([0-9a-f]{40,64}) ([0-9T:-]{10,32}|N\/A) (-|[0-9a-f]{40,64})$/.exec(line);
    const v = m ? ours.get(m[4]!) : undefined;
    if (!m || !v || found.has(v.id)) continue;
    const jobDir = m[1] === 'task' ? `${base}/arrays/${m[6]}` : remotePaths(v).run;
    if (!scripts.has(jobDir)) {
      const sh = await shell.exec(`J=${shQuote(jobDir)}; case "$J" in /*) ;; *) J="$HOME/$J" ;; esac; cat "$J/job.sh"`);
      scripts.set(jobDir, sh.code === 0 ? sh.stdout.toString() : '');
    }
    found.set(v.id, { job: m[1] === 'task' ? `${m[2]}_${m[3]}` : m[2]!, script: scripts.get(jobDir)!, submitted: m[5] === 'N/A' ? null : m[5]!, name: m[1] === 'task' ? jobNameOf(m[6]!) : jobNameOf(v.id) });
  }
  return found;
}

/** Submit runs (queued) to Slurm, record each as started with its job, and follow them. Null for a run that was not this process's to start. */
export async function startSlurm(repo: Repo, given: RunView[], opts: StartOptions & { maxParallel?: number | null } = {}): Promise<Array<Started | null>> {
  const shell = await shellFor(given[0]!);
  const out = new Map<string, Started | null>();
  const queued = given.filter((v) => v.status === 'queued');
  const adopted = await alreadySubmitted(shell, queued);
  const adopt = queued.filter((v) => adopted.has(v.id));
  const work: Array<{ batch: RunView[]; subs: Submitted[] | null }> = adopt.length ? [{ batch: adopt, subs: adopt.map((v) => adopted.get(v.id)!) }] : [];
  for (const batch of batches(queued.filter((v) => !adopted.has(v.id)))) work.push({ batch, subs: null });
  for (const { batch, subs: known } of work) {
    let subs: Submitted[];
    try {
      subs = known ?? (await submitBatch(shell, repo, batch, opts.maxParallel ?? null, opts.transfer));
      // Tests kill the process here (GIT_RUN_FAILPOINT=slurm:after-sbatch): submitted, not yet recorded.
      if (!known) failpoint('slurm:after-sbatch');
    } catch (e) {
      // A step that ran and failed (sbatch refused, the code did not arrive whole) started nothing: the runs failed, with the reason.
      // A broken link leaves the outcome unknown: the runs stay queued, for the next process.
      if (!(e instanceof GitRunError) || typeof e.data.exitCode !== 'number') throw e;
      for (const v of batch) {
        const failed = failToSubmit(repo, shell, v, e);
        out.set(v.id, { view: v, ended: failed.then(() => undefined), finish: () => failed });
      }
      continue;
    }
    const startedAt = new Date().toISOString();
    await Promise.all(
      batch.map(async (v, i) => {
        const p = remotePaths(v);
        const handle: SlurmHandle = {
          executor: 'slurm',
          profile: v.spec.host,
          alias: v.spec.hostProfile?.host ?? null,
          hostname: shell.target.hostname,
          runDir: p.run,
          codeDir: p.code,
          job: subs[i]!.job,
          jobName: subs[i]!.name ?? jobNameOf(batch[0]!.id),
          script: subs[i]!.script,
          submitted: subs[i]!.submitted,
          supervisor: { host: thisHost(), pid: process.pid, start: processStart(process.pid), bootId: bootId() },
        };
        const view = await recordStart(repo, v, { status: 'running', startedAt, handle } as RunState);
        if (!view) {
          // Cancelled while queued: the canceller recorded it; its job goes too.
          await shell.exec(`scancel ${shQuote(handle.job)}`).catch(() => undefined);
          await discardControlDir(controlDirFor(repo, v.id, v.spec.runArgs));
          out.set(v.id, null);
          return;
        }
        out.set(v.id, follow(repo, shell, view, opts.output));
      }),
    );
  }
  const started = given.map((v) => out.get(v.id) ?? null);
  // A cancelled sweep: one scancel for all its jobs (one array), not one per child.
  void opts.cancelled?.then(() => cancelSlurm(...started.flatMap((s) => (s ? [s.view] : []))).catch(() => undefined));
  return started;
}

/** Follow a started run: `ended` when its job has, `finish` records it; `output` gets the command's output as it comes (the foreground). */
function follow(repo: Repo, shell: HostShell, view: RunView, output?: StartOptions['output']): Started {
  let end: JobEnd | null = null;
  const watched = watcherOf(view, shell)
    .watch(watchedOf(view))
    .then((e) => void (end = e));
  const ended = output ? streamUntil(shell, view, watched, output) : watched;
  return { view, ended, finish: async () => (await ended, finalizeSlurm(repo, shell, view, end!)) };
}

/** Pass on a job's output files while it runs (a queued job has none yet), and what is left once it has ended. */
async function streamUntil(shell: HostShell, view: RunView, watched: Promise<void>, output: NonNullable<StartOptions['output']>): Promise<void> {
  let done = false;
  watched.then(
    () => (done = true),
    () => (done = true),
  );
  const offsets = { stdout: 0, stderr: 0 };
  for (let wait = 200; ; wait = Math.min(1000, wait * 2)) {
    const last = done;
    const poll = await pollRemote(shell, view, offsets).catch(() => null);
    let got = false;
    for (const s of ['stdout', 'stderr'] as const) {
      if (poll?.[s].length) {
        offsets[s] += poll[s].length;
        output(s, poll[s]);
        got = true;
      }
    }
    if (last && !got) break;
    if (!got) await Promise.race([new Promise((r) => setTimeout(r, wait)), watched.catch(() => undefined)]);
  }
  await watched;
}

/** Record a run whose submission failed (sbatch's own words), and clear what it left on the host. */
async function failToSubmit(repo: Repo, shell: HostShell, view: RunView, e: GitRunError): Promise<RunView> {
  const result: RunResult = {
    status: 'failed',
    exitCode: null,
    signal: null,
    error: `could not submit to Slurm on ${view.spec.host}: ${typeof e.data.stderr === 'string' && e.data.stderr ? e.data.stderr : e.message}`,
    startedAt: null,
    endedAt: new Date().toISOString(),
    host: { hostname: shell.target.hostname, platform: 'slurm', arch: '', release: '' },
    codeBytesSent: 0,
  };
  const done = await recordEnd(repo, view, { result, stdoutData: Buffer.alloc(0), stderrData: Buffer.alloc(0), outputsTree: null });
  await leaveRemote(shell, done ?? view).catch(() => undefined);
  await discardControlDir(controlDirFor(repo, view.id, view.spec.runArgs));
  return done ?? readRun(repo, view.id);
}

/** Record a run's end from its exit file (first) and Slurm's word (second). */
export async function finalizeSlurm(repo: Repo, shell: HostShell, start: RunView, end: JobEnd): Promise<RunView> {
  let view = start;
  const h = view.state!.handle as SlurmHandle;
  for (;;) {
    if (isFinal(view.status)) return view;
    const state = end.slurm?.state ?? null;
    const phase = state ? phaseOf(state) : null;
    const slurmSays = phase === 'failed' || phase === 'cancelled';
    let exit: ObservedExit | null = null;
    if (end.exit !== null) {
      exit = { code: end.exit, signal: null, error: slurmSays && end.exit !== 0 ? stateWords(state!) : null, note: end.exit > 128 ? `exit ${end.exit}: killed by signal ${end.exit - 128}?` : null };
    } else if (slurmSays) {
      exit = { code: null, signal: null, error: stateWords(state!) };
    } else if (end.cancelMarker && !state) {
      // Cancelled through git-run and then gone from squeue (a pending array task scancel'led leaves no line): the cancel is why.
      exit = { code: null, signal: null, error: `cancelled; Slurm no longer lists job ${h.job}` };
    }
    let outputsTree: string | null = null;
    let outputs: ObservedOutputs | null = null;
    if (end.exit !== null) {
      try {
        outputsTree = await fetchOutputs(shell, repo, view);
        outputs = { collected: true };
      } catch (e) {
        if (!(e instanceof GitRunError)) throw e;
        outputs = { collected: false, reason: e.message };
      }
    }
    const { status, error } = finalStatus({
      started: true,
      exit,
      // Cancelled through git-run, or by anyone with scancel.
      cancelRequested: end.cancelMarker || phase === 'cancelled',
      outputs,
      lostReason: phase === 'completed' ? `Slurm says job ${h.job} COMPLETED, but it left no exit status in its run directory` : `Slurm no longer knows job ${h.job} as ours, and it left no exit status`,
    });
    const logs = await fetchLogs(shell, view).catch(() => ({ stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) }));
    const result: RunResult = {
      status,
      exitCode: end.exit,
      signal: null,
      error,
      startedAt: view.state?.startedAt ?? null,
      endedAt: new Date().toISOString(),
      host: { hostname: shell.target.hostname, platform: 'slurm', arch: '', release: '' },
      ...(resolvedInputs(view.spec).length ? { inputBytesSent: 0 } : {}),
    };
    const done = await recordEnd(repo, view, { result, stdoutData: logs.stdout, stderrData: logs.stderr, outputsTree });
    if (!done) {
      view = await readRun(repo, view.id);
      continue;
    }
    await leaveRemote(shell, done).catch(() => undefined);
    await discardControlDir(controlDirFor(repo, view.id, view.spec.runArgs));
    return done;
  }
}

/** Reattach: one look at the run's job (batched with the host's others); record the end if it ended. */
export async function refreshSlurm(repo: Repo, view: RunView): Promise<boolean> {
  if (isFinal(view.status) || !view.state) return false;
  // Followed by a live process here: it watches the job and records the end; asking the host too would double the scheduler calls.
  const sup = (view.state.handle as SlurmHandle).supervisor;
  if (sup && sup.host === thisHost() && sup.pid !== process.pid && (!sup.bootId || sup.bootId === bootId()) && isAlive(sup.pid, sup.start)) return false;
  let shell: HostShell;
  try {
    shell = await shellFor(view);
  } catch {
    return false; // cannot look: nothing can be said yet
  }
  const end = await watcherOf(view, shell).look(watchedOf(view));
  if (!end) return false;
  await finalizeSlurm(repo, shell, view, end);
  return true;
}

/** What Slurm says of a run now (queued with its reason, or running); null when not known. */
export async function liveSlurm(view: RunView): Promise<{ status: 'queued' | 'running'; reason: string | null; state: string } | null> {
  if (isFinal(view.status) || !view.state) return null;
  const shell = await shellFor(view);
  const w = watcherOf(view, shell);
  // Just looked at (the status's own refresh of this run): that answer, not another round.
  const live = w.recentLive(view.id, ONE_SHOT_FRESH) ?? ((await w.look(watchedOf(view))), w.live(view.id));
  if (!live) return null;
  return { status: live.phase === 'queued' ? 'queued' : 'running', reason: live.reason, state: live.state };
}

/** scancel the jobs of runs in one call (a group's children: their arrays), with the cancel marker in each run directory first. */
export async function cancelSlurm(...views: RunView[]): Promise<void> {
  const started = views.filter((v) => v.state && !isFinal(v.status));
  if (!started.length) return;
  const shell = await shellFor(started[0]!);
  const marks = started.map((v) => `R=${shQuote((v.state!.handle as SlurmHandle).runDir)}; case "$R" in /*) ;; *) R="$HOME/$R" ;; esac; [ -d "$R" ] && date > "$R/cancel"`);
  const jobs = started.map((v) => shQuote((v.state!.handle as SlurmHandle).job));
  // A job that ended meanwhile makes scancel complain: the end is recorded from its files anyway.
  await shell.run(`${marks.join('\n')}\nscancel ${jobs.join(' ')} || true`);
  watcherOf(started[0]!, shell).kick();
}
