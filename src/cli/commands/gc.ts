import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, collectGarbage, collectHostGarbage, GitRunError, ErrorCode } from '../../api/index.js';
import { humanSize } from '../render.js';
import { escapeText } from '../escape.js';

export default class GcCommand extends GitRunCommand {
  static override paths = [['gc']];
  static override usage = Command.Usage({
    description: 'delete runs by retention rules and reclaim the space; or clean a host',
    details: `
      Selects finished runs (a group counts as one, with its children) by the rules given: --failed and
      --cancelled select by status (either), --older-than by creation time, and --keep-last N keeps the
      newest N of each experiment (where it was submitted from, else its name, else its command) and selects
      the rest; --keep-tagged keeps any run with a tag. Without a selecting rule no run is deleted. A run
      that a run that stays took inputs from stays too, and queued or running runs are never deleted.
      The selected runs go in one transaction (as \`git run rm\`), then the notes' reflog is expired and
      \`git gc\` prunes what nothing reaches any more, and the input content cache loses what no remaining
      run uses. Objects and cache entries younger than --prune stay (a submission may be writing them).

      With --host <profile>, removes instead from that host the code caches, input cache entries and run
      directories that no queued or running run of this repository needs, and says how many bytes went.
    `,
    examples: [
      ['Delete failed and cancelled runs', 'git run gc --failed --cancelled'],
      ['Delete runs older than 90 days, except tagged ones and the newest 5 of each experiment', "git run gc --older-than '90 days ago' --keep-tagged --keep-last 5"],
      ['What would go', 'git run gc --older-than 2026-01-01 --dry-run'],
      ['Clean a host', 'git run gc --host gpu1'],
    ],
  });

  failed = Option.Boolean('--failed', false, { description: 'select failed runs' });
  cancelled = Option.Boolean('--cancelled', false, { description: 'select cancelled runs' });
  olderThan = Option.String('--older-than', { description: 'select runs created before this date (as log --since takes it)' });
  keepTagged = Option.Boolean('--keep-tagged', false, { description: 'keep runs that have a tag' });
  keepLast = Option.String('--keep-last', { description: 'keep the newest N runs of each experiment' });
  prune = Option.String('--prune', { description: "objects and cache entries younger than this date stay (default '10 minutes ago'; 'now' for all)" });
  host = Option.String('--host', { description: 'clean this host profile instead' });
  dryRun = Option.Boolean('--dry-run', false, { description: 'say what would go, change nothing' });
  json = Option.Boolean('--json', false, { description: 'one JSON object' });

  async run(): Promise<number> {
    let keepLast: number | undefined;
    if (this.keepLast !== undefined) {
      if (!/^\d+$/.test(this.keepLast)) throw new GitRunError(ErrorCode.BadOption, `--keep-last takes a whole number of runs, not '${escapeText(this.keepLast)}'`, 'e.g. --keep-last 5 keeps the 5 newest runs of each experiment');
      keepLast = Number(this.keepLast);
    }
    const repo = await repoAt();
    const tty = !this.json && !!(this.context.stderr as NodeJS.WriteStream).isTTY;
    if (this.host !== undefined) {
      if (this.failed || this.cancelled || this.olderThan !== undefined || this.keepTagged || keepLast !== undefined) {
        throw new GitRunError(ErrorCode.BadOption, '--host cleans a host; the retention rules select runs in this repository', 'run `git run gc --host <profile>` apart from `git run gc <rules>`');
      }
      const r = await collectHostGarbage(repo, this.host, { dryRun: this.dryRun, ...(this.prune !== undefined ? { prune: this.prune } : {}) });
      if (this.json) this.out(JSON.stringify({ ...r, dryRun: this.dryRun }) + '\n');
      else {
        const v = this.dryRun ? 'would remove' : 'removed';
        this.out(`${v} on ${escapeText(r.host)}: ${r.removed.code} code cache${r.removed.code === 1 ? '' : 's'}, ${r.removed.runs} run director${r.removed.runs === 1 ? 'y' : 'ies'}, ${r.removed.inputs} input cache entr${r.removed.inputs === 1 ? 'y' : 'ies'}${r.removed.other ? `, ${r.removed.other} other` : ''}; ${humanSize(r.bytesFreed)} ${this.dryRun ? 'to free' : 'freed'}\n`);
        if (r.keptRunning) this.out(`kept ${r.keptRunning} run director${r.keptRunning === 1 ? 'y' : 'ies'} whose command may still be running\n`);
      }
      return 0;
    }
    const r = await collectGarbage(repo, {
      failed: this.failed,
      cancelled: this.cancelled,
      keepTagged: this.keepTagged,
      dryRun: this.dryRun,
      ...(this.olderThan !== undefined ? { olderThan: this.olderThan } : {}),
      ...(keepLast !== undefined ? { keepLast } : {}),
      ...(this.prune !== undefined ? { prune: this.prune } : {}),
      ...(tty ? { onProgress: (what: string) => this.err(`\r\x1b[K${what}...`) } : {}),
    });
    if (tty) this.err('\r\x1b[K');
    if (this.json) {
      this.out(JSON.stringify(r) + '\n');
      return 0;
    }
    const groups = r.runs.filter((x) => x.kind === 'group').length;
    const children = r.runs.filter((x) => x.parent !== null).length;
    const runs = r.runs.length - groups;
    const what = `${runs} run${runs === 1 ? '' : 's'}${groups ? ` (${children} of them in ${groups} group${groups === 1 ? '' : 's'})` : ''}`;
    if (r.dryRun) {
      this.out(`would delete ${what}\n`);
    } else {
      this.out(`deleted ${what}\n`);
      if (r.before && r.after) {
        const size = (c: typeof r.before) => c!.size + c!.sizePack + c!.sizeGarbage;
        this.out(`objects: ${humanSize(size(r.before))} -> ${humanSize(size(r.after))} (${r.before.count + r.before.inPack} -> ${r.after.count + r.after.inPack} objects): ${humanSize(Math.max(0, r.freedBytes))} freed\n`);
      }
      if (r.inputCache.removed) this.out(`input cache: ${r.inputCache.removed} entr${r.inputCache.removed === 1 ? 'y' : 'ies'} removed, ${humanSize(r.inputCache.bytes)} freed\n`);
      if (r.runDirs) this.out(`run directories: ${r.runDirs} removed\n`);
      if (r.lfs.removed) this.out(`Git LFS objects: ${r.lfs.removed} removed, ${humanSize(r.lfs.bytes)} freed\n`);
    }
    if (r.keptAsUpstream.length) this.out(`kept ${r.keptAsUpstream.length} selected run${r.keptAsUpstream.length === 1 ? '' : 's'} that runs which stay depend on\n`);
    if (r.keptActive) this.out(`kept ${r.keptActive} selected run${r.keptActive === 1 ? '' : 's'} that ${r.keptActive === 1 ? 'is' : 'are'} not finished\n`);
    return 0;
  }
}
