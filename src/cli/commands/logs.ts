import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, getRun, streamLogs, followMetrics, GitRunError, ErrorCode } from '../../api/index.js';
import { formatNumber } from '../render.js';
import { escapeText } from '../escape.js';

export default class LogsCommand extends GitRunCommand {
  static override paths = [['logs']];
  static override usage = Command.Usage({
    description: "print a run's output (stdout by default)",
    details: `
      With --metrics, prints the run's metric history instead (metrics.jsonl, which the run appends to at $GIT_RUN_METRICS): one line per line of the file, \`step name=value ...\` (--json: one JSON object per line, {"step": 10, "values": {"loss": 0.31}}). With -f, new points as the run writes them, locally or on its host, until it ends. Broken lines are skipped and said on stderr.
    `,
    examples: [
      ['Follow a running run', 'git run logs -f 3f2a9c'],
      ['Its stderr', 'git run logs --stderr 3f2a9c'],
      ['Watch its metrics as it trains', 'git run logs -f --metrics 3f2a9c'],
    ],
  });

  follow = Option.Boolean('-f,--follow', false, { description: 'keep printing until the run ends' });
  stderr = Option.Boolean('--stderr', false, { description: 'print stderr instead of stdout' });
  metrics = Option.Boolean('--metrics', false, { description: 'print the metric history (metrics.jsonl) instead of the output' });
  json = Option.Boolean('--json', false, { description: 'with --metrics: one JSON object per line' });
  run_ = Option.String({ name: 'run' });

  async run(): Promise<number> {
    if (this.json && !this.metrics) throw new GitRunError(ErrorCode.BadOption, '--json needs --metrics (the output itself is printed as it is)', 'git run logs --metrics --json <run>');
    if (this.stderr && this.metrics) throw new GitRunError(ErrorCode.BadOption, '--stderr and --metrics cannot be combined', 'choose one: the run\'s stderr, or its metric history');
    const repo = await repoAt();
    const view = await getRun(repo, this.run_);
    if (this.metrics) {
      await followMetrics(
        repo,
        view.id,
        (l) => {
          const text = this.json
            ? JSON.stringify({ step: l.step, values: l.values })
            : [formatNumber(l.step), ...Object.entries(l.values).map(([k, x]) => `${escapeText(k)}=${formatNumber(x)}`)].join(' ');
          this.context.stdout.write(text + '\n');
        },
        { follow: this.follow, broken: (line, why) => this.context.stderr.write(`warning: metrics line ${line} skipped: ${escapeText(why)}\n`) },
      );
      return 0;
    }
    const stream = this.stderr ? 'stderr' : 'stdout';
    await streamLogs(repo, view.id, (_s, chunk) => this.context.stdout.write(chunk), { streams: [stream], follow: this.follow });
    return 0;
  }
}
