import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, pullRuns } from '../../api/index.js';
import { escapeText } from '../escape.js';
import { escapeProgress } from './push.js';

export default class PullCommand extends GitRunCommand {
  static override paths = [['pull']];
  static override usage = Command.Usage({
    description: "bring a git remote's runs and metadata here",
    details: `
      Fetches the remote's runs (refs/runs/*) and metadata notes, merges the notes with the local ones (both sides' edits kept, as \`git notes merge -s cat_sort_uniq\`) and adds the runs, all in one compare-and-swap. Pulled runs show in \`git run log\` at once, and a finished one counts for memoization: the same command on the same code, parameters, seed and inputs is not run again (docs/decisions/0017).

      A run that exists here is never replaced: it only moves forward to a newer state of itself (a run pushed while running, now finished). A ref that is not a run, or another object under a run's name, is reported and left alone.
    `,
    examples: [
      ['From the upstream remote', 'git run pull'],
      ["From a teammate's clone", 'git run pull ../alice/project'],
    ],
  });

  json = Option.Boolean('--json', false, { description: 'print one JSON object: remote, added, updated, upToDate, skipped, notes' });
  remote = Option.String({ required: false, name: 'remote' });

  async run(): Promise<number> {
    const repo = await repoAt();
    const tty = !!(this.context.stderr as NodeJS.WriteStream).isTTY && !this.json;
    const r = await pullRuns(repo, { ...(this.remote !== undefined ? { remote: this.remote } : {}), ...(tty ? { progress: (t: string) => this.err(escapeProgress(t)) } : {}) });
    for (const s of r.skipped) this.err(`warning: ${escapeText(s.ref)} from ${escapeText(r.remote)}: ${s.reason}\n`);
    if (this.json) {
      this.out(JSON.stringify(r) + '\n');
      return 0;
    }
    const where = escapeText(r.remote);
    if (!r.added.length && !r.updated.length && r.notes !== 'merged' && r.notes !== 'fast-forward') this.out(`${where}: everything up to date\n`);
    else this.out(`${where}: ${r.added.length} new run${r.added.length === 1 ? '' : 's'}, ${r.updated.length} updated; notes ${r.notes}\n`);
    return 0;
  }
}
