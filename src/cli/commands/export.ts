import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, exportRuns, exportToHost, GitRunError, ErrorCode } from '../../api/index.js';
import { short } from '../render.js';
import { escapeText } from '../escape.js';

export default class ExportCommand extends GitRunCommand {
  static override paths = [['export']];
  static override usage = Command.Usage({
    description: 'copy runs out: to a directory a person can read, to a git bundle for `git run import`, or to a host',
    details:
      'A directory gets one folder per run (run.json, result.json, metrics.json, logs/, code/, outputs/ with big outputs\' content, metadata.json) and index.json. A destination ending in .bundle gets a git bundle of the runs\' refs and a notes commit of their metadata. With --host, the readable copy goes to a host of .runconfig (<profile>[:<path>]). The destination must not exist (or be an empty directory).',
    examples: [
      ['A readable copy', 'git run export 3f2a9c exported/'],
      ['A bundle with the runs it took inputs from', 'git run export 3f2a9c 81be07 runs.bundle --with-upstream'],
      ['To a host', 'git run export 3f2a9c --host gpu1:results/3f2a9c'],
    ],
  });

  withUpstream = Option.Boolean('--with-upstream', false, { description: 'also every run they took inputs from, recursively' });
  host = Option.String('--host', { description: '<profile>[:<path>]: place the readable copy on that host (default path: git-run-export/<first run id>)' });
  json = Option.Boolean('--json', false, { description: 'print one JSON object' });
  args = Option.Rest({ required: 1 });

  async run(): Promise<number> {
    const repo = await repoAt();
    const opts = { withUpstream: this.withUpstream };
    if (this.host !== undefined) {
      const r = await exportToHost(repo, this.args, this.host, opts);
      if (this.json) this.out(JSON.stringify(r) + '\n');
      else this.err(`exported ${r.runs.length} run${r.runs.length === 1 ? '' : 's'} to ${escapeText(r.host)}:${escapeText(r.path)}\n`);
      return 0;
    }
    if (this.args.length < 2) {
      throw new GitRunError(ErrorCode.BadOption, 'export needs runs and then a destination', 'git run export <run>... <dir | file.bundle>, or git run export <run>... --host <profile>[:<path>]');
    }
    const r = await exportRuns(repo, this.args.slice(0, -1), this.args[this.args.length - 1]!, opts);
    if (this.json) this.out(JSON.stringify(r) + '\n');
    else this.err(`exported ${r.runs.length} run${r.runs.length === 1 ? '' : 's'} (${r.runs.map((x) => short(x.id)).join(', ')}) to ${r.kind === 'bundle' ? 'the bundle ' : ''}${escapeText(r.dest)}\n`);
    return 0;
  }
}
