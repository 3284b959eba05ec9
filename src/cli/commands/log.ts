import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, listRuns, parseStatuses, runToJson } from '../../api/index.js';
import { block, oneline } from '../render.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';

export default class LogCommand extends GitRunCommand {
  static override paths = [['log']];
  static override usage = Command.Usage({
    description: 'list runs, newest first',
    examples: [
      ['The last five runs, one line each', 'git run log -n 5 --oneline'],
      ['Failed runs as JSON lines', 'git run log --status failed --json'],
    ],
  });

  limit = Option.String('-n,--max-count', { description: 'show at most N runs' });
  oneline = Option.Boolean('--oneline', false, { description: 'one line per run' });
  status = Option.String('--status', { description: 'only runs with this status (comma-separated list)' });
  json = Option.Boolean('--json', false, { description: 'one JSON object per line' });

  async run(): Promise<number> {
    let limit: number | undefined;
    if (this.limit !== undefined) {
      limit = Number(this.limit);
      if (!Number.isInteger(limit) || limit < 0) throw new GitRunError(ErrorCode.BadOption, `-n takes a whole number, not '${this.limit}'`, 'e.g. git run log -n 10');
    }
    const repo = await repoAt();
    const status = parseStatuses(this.status);
    const runs = await listRuns(repo, { ...(limit !== undefined ? { limit } : {}), ...(status ? { status } : {}) });
    for (const [i, v] of runs.entries()) {
      if (this.json) this.out(JSON.stringify(await runToJson(repo, v)) + '\n');
      else if (this.oneline) this.out(oneline(v, this.color) + '\n');
      else this.out((i ? '\n' : '') + block(v, this.color));
    }
    return 0;
  }
}
