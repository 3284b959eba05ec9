import { GitRunCommand, Command, Option } from '../base.js';
import { startRun, streamLogs, cancelRuns, signalNumber, type RunView } from '../../api/index.js';
import { short, exitSummary, duration, runDuration } from '../render.js';
import type { LeaveMode } from '../../core/record.js';

/** Options of the run command and whether each takes a value: the entry point
 * uses this to find where git-run's options end and the command begins. */
export const RUN_OPTIONS: Record<string, boolean> = {
  '-d': false, '--detach': false, '-q': false, '--quiet': false,
  '--name': true, '--notes': true, '--tag': true, '--seed': true, '--leave': true,
  '--local-dir': true, '--send-ignore': true, '--fetch-ignore': true,
};

/** The exit code `git run` passes on for a finished run. */
export function exitCodeOf(v: RunView): number {
  const r = v.result;
  if (v.status === 'succeeded') return 0;
  if (v.status === 'cancelled') return 130;
  if (r?.signal) return 128 + signalNumber(r.signal);
  if (r?.exitCode !== null && r?.exitCode !== undefined && r.exitCode !== 0) return r.exitCode;
  return 1;
}

export default class RunCommand extends GitRunCommand {
  static override paths = [Command.Default];
  static override usage = Command.Usage({
    description: 'run a command and record it in the repository',
    details: `
      Snapshots the work tree (tracked files with uncommitted edits, plus untracked files that .gitignore does not ignore, minus .sendignore), runs the command in a run directory made from that snapshot, streams its output, and records code, command, seed, logs, exit status and outputs under refs/runs/. Exits with the command's own exit code. Ctrl-C cancels the run and records it as cancelled.

      Put git-run's options before the command; \`--\` ends them explicitly (needed when the command's name is also a git-run subcommand).
    `,
    examples: [
      ['Run a training script', 'git run -- python train.py --lr 0.1'],
      ['Run in the background and name the run', 'git run -d --name baseline -- python train.py'],
      ['Keep the run directory for inspection', 'git run --leave all -- make test'],
    ],
  });

  detach = Option.Boolean('-d,--detach', false, { description: 'print the run id and return at once' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'no closing status line on stderr' });
  name = Option.String('--name', { description: 'a name for the run' });
  notes = Option.String('--notes', { description: 'free-form notes' });
  tags = Option.Array('--tag', { description: 'a tag (repeatable; commas separate several)' });
  seed = Option.String('--seed', { description: 'the seed (default: random, recorded); passed as GIT_RUN_SEED' });
  leave = Option.String('--leave', { description: 'what stays of the run directory: none (default), code, all' });
  localDir = Option.String('--local-dir', { description: 'where run directories are made (default: inside .git)' });
  sendIgnore = Option.String('--send-ignore', { description: 'ignore file for the snapshot (default: .sendignore)' });
  fetchIgnore = Option.String('--fetch-ignore', { description: 'ignore file for outputs (default: .fetchignore)' });
  command = Option.Rest();

  async run(): Promise<number> {
    const tags = (this.tags ?? []).flatMap((t) => t.split(','));
    const { id, repo } = await startRun({
      command: this.command,
      ...(this.name !== undefined ? { name: this.name } : {}),
      ...(this.notes !== undefined ? { notes: this.notes } : {}),
      tags,
      ...(this.seed !== undefined ? { seed: this.seed } : {}),
      ...(this.leave !== undefined ? { leave: this.leave as LeaveMode } : {}),
      ...(this.localDir !== undefined ? { localDir: this.localDir } : {}),
      ...(this.sendIgnore !== undefined ? { sendIgnore: this.sendIgnore } : {}),
      ...(this.fetchIgnore !== undefined ? { fetchIgnore: this.fetchIgnore } : {}),
    });
    if (this.detach) {
      this.out(id + '\n');
      return 0;
    }
    let interrupted = 0;
    let cancelling: Promise<unknown> | null = null;
    const onSignal = () => {
      interrupted++;
      if (interrupted > 1) process.exit(130); // a second Ctrl-C: stop waiting; the supervisor still records the cancel
      this.err(`\ngit-run: cancelling run ${short(id)} (Ctrl-C again to stop waiting)\n`);
      cancelling = cancelRuns(repo, [id]).catch(() => undefined);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const view = await streamLogs(
        repo,
        id,
        (stream, chunk) => (stream === 'stdout' ? this.context.stdout : this.context.stderr).write(chunk),
        { streams: ['stdout', 'stderr'], follow: true },
      );
      if (cancelling) await cancelling;
      if (!this.quiet) {
        const d = runDuration(view);
        const detail = [exitSummary(view), d !== null ? duration(d) : ''].filter(Boolean).join(', ');
        this.err(`git-run: run ${short(id)} ${view.status}${detail ? ` (${detail})` : ''}\n`);
      }
      return exitCodeOf(view);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}
