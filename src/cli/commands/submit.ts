import { GitRunCommand, Command, Option } from '../base.js';
import { submitDetached, prepareSubmission, dryRunSubmission, runChildren, runToJson, getRuns, groupStatus, type Progress, type SubmitOptions, type Status } from '../../api/index.js';
import { runArgsFromFlags } from '../run-args.js';
import { short, paint } from '../render.js';
import { escapeText } from '../escape.js';
import { maxParallelText, metadataText } from '../execute-run.js';
import { whileRecording } from '../reader.js';
import { dryRunText } from '../why-text.js';
import type { RunView } from '../../api/index.js';

export default class SubmitCommand extends GitRunCommand {
  static override paths = [['submit']];
  static override usage = Command.Usage({
    description: 'submit a run definition: one run, or a sweep as a group of child runs',
    details: `
      The definition is a JSON file, or the name of an experiment under "experiments" in .runconfig. \`name=value\` arguments override its parameters; flags override its fields. A definition with more than one parameter combination, or repeat > 1, makes a group (parent run) with one child per combination and repetition.

      A child whose run key (code, or only the deps paths of it; command, parameters, seed, inputs, and the environment the command sees) matches an existing run that is running or finished is not run again: the group points at the existing run. --force (or --no-skip) reruns running and failed ones; succeeded ones only with --force-ignores-success as well.

      Runs in the foreground with progress on a terminal (at most max_parallel children at once; --sequential: one at a time); -d returns at once.
    `,
    examples: [
      ['A sweep from a file', 'git run submit sweep.json'],
      ['An experiment of .runconfig, with a parameter and a flag overridden', 'git run submit baseline lr=0.01 --repeat 3'],
      ['Rerun everything, even what succeeded', 'git run submit sweep.json --force --force-ignores-success'],
      ['What would run, and why (writes nothing)', 'git run submit sweep.json --dry-run'],
    ],
  });

  detach = Option.Boolean('-d,--detach', false, { description: 'print the id and return at once' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'no summary and no progress on stderr; only runs that did not succeed are listed' });
  json = Option.Boolean('--json', false, { description: 'print the group (or run) and its children as one JSON object' });
  name = Option.String('--name', { description: 'name (overrides the definition)' });
  notes = Option.String('--notes', { description: 'notes (overrides the definition)' });
  tags = Option.String('--tags', { description: 'comma-separated tags (override the definition)' });
  repeat = Option.String('--repeat', { description: 'repetitions of each combination' });
  seed = Option.String('--seed', { description: 'the seed children derive theirs from' });
  host = Option.String('--host', { description: 'host profile (default: local)' });
  commit = Option.String('--commit', { description: "run this commit's code (and its .runconfig) instead of the work tree's" });
  yes = Option.Boolean('--yes', false, { description: 'allow a sweep of more than 1000 runs' });
  force = Option.Boolean('--force', false, { description: 'rerun identical runs that are running or did not succeed' });
  noSkip = Option.Boolean('--no-skip', false, { description: 'same as --force (remotemanager: skip=False)' });
  forceIgnoresSuccess = Option.Boolean('--force-ignores-success', false, { description: 'with --force, rerun succeeded ones too' });
  sequential = Option.Boolean('--sequential', false, { description: 'children one after another (asynchronous: false)' });
  maxParallel = Option.String('--max-parallel', { description: 'children at once (default: the host profile, locally the CPUs)' });
  leave = Option.String('--leave', { description: 'none, code (default) or all' });
  localDir = Option.String('--local-dir', { description: 'where run directories are made' });
  remoteDir = Option.String('--remote-dir', { description: 'main directory on a remote host' });
  runDir = Option.String('--run-dir', { description: 'directory inside remote_dir where runs execute' });
  sendIgnore = Option.String('--send-ignore', { description: 'ignore file for the snapshot' });
  fetchIgnore = Option.String('--fetch-ignore', { description: 'ignore file for outputs' });
  runArg = Option.Array('--run-arg', { description: 'a custom run_arg key=value (repeatable)' });
  onLocal = Option.Boolean('--on-local', false, { description: "run the host profile here, without transfer (Runaway's --on-local)" });
  deps = Option.Array('--dep', { description: 'a pathspec the results depend on (repeatable; overrides the definition\'s "deps"): the run key covers only these files of the code' });
  dryRun = Option.Boolean('-n,--dry-run', false, { description: 'say which runs would run and which would be reused, and why; write nothing' });
  inputs = Option.Array('-i,--input', { description: "an input (repeatable), added to the definition's: <run>:<path>, a work-tree path, or dest=<either>" });
  storeInputs = Option.Boolean('--store-inputs', false, { description: "keep work-tree inputs' content in git objects (default: only their ids)" });
  target = Option.String({ name: 'file.json|experiment' });
  assignments = Option.Rest({ name: 'name=value' });

  async run(): Promise<number> {
    // From the first record written to the last, a reader going away must not stop the submission.
    return this.detach ? this.submit() : whileRecording(() => this.submit());
  }

  private async submit(): Promise<number> {
    const runArgs = runArgsFromFlags({ force: this.force, noSkip: this.noSkip, forceIgnoresSuccess: this.forceIgnoresSuccess, sequential: this.sequential, onLocal: this.onLocal, runArg: this.runArg ?? [] });
    const put = (k: string, v: string | undefined) => v !== undefined && (runArgs[k] = v);
    put('leave', this.leave);
    put('local_dir', this.localDir);
    put('remote_dir', this.remoteDir);
    put('run_dir', this.runDir);
    put('send_ignore', this.sendIgnore);
    put('fetch_ignore', this.fetchIgnore);
    if (this.maxParallel !== undefined) runArgs.max_parallel = Number(this.maxParallel);
    const opts: SubmitOptions = {
      target: this.target,
      assignments: this.assignments,
      runArgs,
      yes: this.yes,
      ...(this.name !== undefined ? { name: this.name } : {}),
      ...(this.notes !== undefined ? { notes: this.notes } : {}),
      ...(this.tags !== undefined ? { tags: this.tags.split(',') } : {}),
      ...(this.repeat !== undefined ? { repeat: this.repeat } : {}),
      ...(this.seed !== undefined ? { seed: this.seed } : {}),
      ...(this.host !== undefined ? { host: this.host } : {}),
      ...(this.commit !== undefined ? { commit: this.commit } : {}),
      ...(this.deps?.length ? { deps: this.deps } : {}),
      ...(this.inputs?.length ? { inputs: this.inputs } : {}),
      ...(this.storeInputs ? { storeInputs: true } : {}),
    };
    if (this.dryRun) {
      const plan = await dryRunSubmission(opts);
      this.out(this.json ? JSON.stringify(plan) + '\n' : dryRunText(plan));
      return 0;
    }
    const s = this.detach ? await submitDetached(opts) : await prepareSubmission(opts);
    const id = s.group?.id ?? s.children[0]!.id;
    const fresh = s.children.filter((c) => c.view).length;
    const reused = s.children.length - fresh;
    if (this.detach) {
      if (s.beyondMaxParallel && !this.quiet) this.err(`git-run: ${maxParallelText(s.beyondMaxParallel)}\n`);
      const [main] = await getRuns(s.repo, [id]);
      this.out(this.json ? JSON.stringify({ ...(await runToJson(s.repo, main!)), children: s.children.map((c) => c.id) }) + '\n' : id + '\n');
      return 0;
    }
    const tty = !this.json && !this.quiet && !!(this.context.stderr as NodeJS.WriteStream).isTTY;
    if (!this.json && !this.quiet) {
      const what = s.group ? `group ${short(id)}: ${s.children.length} runs` : `run ${short(id)}`;
      this.err(`${what}${s.groupReused ? ', all reused from an identical group' : reused ? `, ${reused} reused (same key)` : ''}${fresh ? `, ${fresh} to run` : ''}\n`);
      if (s.metadataApplied) this.err(`${metadataText(s.metadataApplied)} (as git run edit would)\n`);
    }
    const show = (p: Progress) => {
      if (!tty) return;
      const ok = p.done - p.failed;
      this.err(`\r\x1b[K[${p.done + p.reused}/${p.total}] ${ok} succeeded, ${p.failed} failed, ${p.running} running${p.reused ? `, ${p.reused} reused` : ''}`);
    };
    let cancel: () => void = () => undefined;
    const cancelled = new Promise<void>((r) => (cancel = r));
    const onSignal = () => {
      this.err('\ngit-run: cancelling the submission\n');
      cancel();
    };
    process.on('SIGINT', onSignal);
    let results: RunView[];
    try {
      results = await runChildren(s, show, cancelled);
    } finally {
      process.off('SIGINT', onSignal);
    }
    if (tty) this.err('\n');
    // Everything the report needs is at hand: reused runs' statuses from the
    // lookup, new runs' from their supervision. Nothing is read again.
    const ended = new Map(results.map((v) => [v.id, v]));
    const rows: Row[] = s.children.map((c) => ({
      id: c.id,
      label: c.plan?.name ?? c.plan?.command.join(' ') ?? '',
      status: ended.get(c.id)?.status ?? c.reused?.status ?? 'queued',
      reused: !!c.reused,
    }));
    const status = s.group ? groupStatus(rows.map((r) => r.status)) : rows[0]!.status;
    if (this.json) {
      const main = s.group ?? ended.get(id) ?? (await getRuns(s.repo, [id]))[0]!;
      this.out(JSON.stringify({ ...(await runToJson(s.repo, { ...main, status })), children: s.group ? rows.map((r) => r.id) : [] }) + '\n');
    } else this.report(rows);
    return status === 'succeeded' ? 0 : 1;
  }

  private report(rows: Row[]): void {
    const counts = new Map<string, number>();
    for (const r of rows) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    // Every run of a small submission; only the ones that did not succeed of a large one.
    for (const r of rows.length <= 20 && !this.quiet ? rows : rows.filter((x) => x.status !== 'succeeded')) {
      this.out(`${short(r.id)} ${paint(r.status.padEnd(9), r.status, this.color)} ${escapeText(r.label)}${r.reused ? '  (reused)' : ''}\n`);
    }
    if (!this.quiet) this.out([...counts].map(([k, n]) => `${n} ${k}`).join(', ') + '\n');
  }
}

interface Row {
  id: string;
  label: string;
  status: Status;
  reused: boolean;
}
