import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, pushRuns, splitPushArgs } from '../../api/index.js';
import { escapeText } from '../escape.js';
import { short } from '../render.js';

export default class PushCommand extends GitRunCommand {
  static override paths = [['push']];
  static override usage = Command.Usage({
    description: 'send runs and their metadata to a git remote',
    details: `
      Sends the runs named (every run without names, or with --all), each with its group, a group's children and every upstream run it took inputs from, so lineage never dangles on the other side, and the metadata notes (refs/notes/runs). The remote defaults to the branch's upstream remote, else origin; a URL or a path works too.

      Notes are merged, never forced: when the remote's notes moved since the last pull, they are fetched and merged here first (both sides' edits kept, as \`git notes merge -s cat_sort_uniq\`). Everything goes in one atomic push. A run whose upstream run is missing here is refused and nothing is pushed. A run the remote holds in a newer state is left out (pull first).
    `,
    examples: [
      ['Every run, to the upstream remote', 'git run push'],
      ['Two runs (and their upstream runs) to origin', 'git run push origin 3f2a9c train'],
      ['A summary as JSON', 'git run push --json origin'],
    ],
  });

  all = Option.Boolean('--all', false, { description: 'every run (the default when no run is named)' });
  json = Option.Boolean('--json', false, { description: 'print one JSON object: remote, pushed, upToDate, skipped, notes' });
  words = Option.Rest({ name: 'remote] [run' });

  async run(): Promise<number> {
    const repo = await repoAt();
    const { remote, runs } = await splitPushArgs(repo, this.words);
    if (this.all && runs.length) this.err('warning: --all with runs named: pushing every run\n');
    const tty = !!(this.context.stderr as NodeJS.WriteStream).isTTY && !this.json;
    const r = await pushRuns(repo, { ...(remote !== undefined ? { remote } : {}), runs: this.all ? [] : runs, ...(tty ? { progress: (t: string) => this.err(escapeProgress(t)) } : {}) });
    for (const s of r.skipped) this.err(`warning: ${escapeText(s.ref)}: ${s.reason}\n`);
    if (this.json) {
      this.out(JSON.stringify(r) + '\n');
      return 0;
    }
    const where = escapeText(r.remote);
    if (!r.pushed.length && r.notes !== 'sent' && r.notes !== 'merged') this.out(`${where}: everything up to date (${r.upToDate} run${r.upToDate === 1 ? '' : 's'})\n`);
    else {
      this.out(`${where}: ${r.pushed.length} run${r.pushed.length === 1 ? '' : 's'} pushed${r.upToDate ? `, ${r.upToDate} up to date` : ''}; notes ${r.notes === 'merged' ? 'merged with the remote\'s and sent' : r.notes}\n`);
      for (const id of r.pushed.slice(0, 10)) this.out(`  ${short(id)}\n`);
      if (r.pushed.length > 10) this.out(`  ... and ${r.pushed.length - 10} more\n`);
    }
    return 0;
  }
}

/** git's progress (carriage returns kept, so it redraws in place); other control characters from the remote escaped. */
export const escapeProgress = (t: string): string => t.split(/(\r|\n)/).map((p) => (p === '\r' || p === '\n' ? p : escapeText(p))).join('');
