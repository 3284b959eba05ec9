import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, removeRuns, type RemovedRun, type RemoveResult } from '../../api/index.js';
import { commandLine, humanSize, short } from '../render.js';
import { escapeText } from '../escape.js';

export default class RmCommand extends GitRunCommand {
  static override paths = [['rm']];
  static override usage = Command.Usage({
    description: 'delete runs (a group with its children) in one transaction',
    details: `
      Deletes each run's ref and its metadata note, and drops it from the listing of a group that stays
      (so the group's \`show\`, \`compare\` and \`log\` read only runs that exist); a group whose every run
      goes, goes too. A run that other runs took inputs from is refused, and so is a run that is queued or
      running: --force deletes the first anyway (saying which runs it breaks) and cancels the second first.
      The objects stay in git until \`git run gc\` (or \`git gc\`) prunes them.
    `,
    examples: [
      ['Delete a run', 'git run rm 3f2a9c'],
      ['Delete a sweep and its children', 'git run rm lr-sweep'],
      ['What would go, without deleting', 'git run rm --dry-run 3f2a9c 81be07'],
    ],
  });

  force = Option.Boolean('--force', false, { description: 'delete runs other runs depend on, and cancel unfinished ones first' });
  dryRun = Option.Boolean('--dry-run', false, { description: 'say what would be deleted, delete nothing' });
  json = Option.Boolean('--json', false, { description: 'one JSON object per deleted run' });
  runs = Option.Rest({ required: 1, name: 'run' });

  async run(): Promise<number> {
    const repo = await repoAt();
    const r = await removeRuns(repo, this.runs, { force: this.force, dryRun: this.dryRun });
    if (this.json) {
      for (const x of r.runs) {
        this.out(JSON.stringify({ ...x, dryRun: r.dryRun, cancelled: r.cancelled.includes(x.id), dependents: r.dependents.filter((d) => d.upstream === x.id).map((d) => ({ run: d.run, path: d.path })) }) + '\n');
      }
      return 0;
    }
    for (const id of r.cancelled) this.err(`${r.dryRun ? 'would cancel' : 'cancelled'} ${short(id)} first\n`);
    this.out(render(r));
    if (r.lfs.removed) this.out(`Git LFS objects: ${r.lfs.removed} removed, ${humanSize(r.lfs.bytes)} freed\n`);
    if (r.dependents.length) {
      this.err(`warning: ${r.dryRun ? 'this would break' : 'this broke'} the lineage of ${new Set(r.dependents.map((d) => d.run)).size} run(s) that stay:\n`);
      for (const d of r.dependents) this.err(`  ${short(d.run)}${d.name ? ` ${escapeText(d.name)}` : ''} took ${escapeText(d.path)} from ${short(d.upstream)}\n`);
    }
    return 0;
  }
}

const label = (x: RemovedRun) => (x.name !== null ? escapeText(x.name) : commandLine(x.command));

function render(r: RemoveResult): string {
  const verb = r.dryRun ? 'would delete' : 'deleted';
  const lines: string[] = [];
  const groups = new Set(r.runs.filter((x) => x.kind === 'group').map((x) => x.id));
  for (const x of r.runs) {
    if (x.parent && groups.has(x.parent)) continue; // said with its group
    if (x.kind === 'group') {
      const n = r.runs.filter((c) => c.parent === x.id).length;
      lines.push(`${verb} ${short(x.id)} ${x.status} ${label(x)} (group, ${n} run${n === 1 ? '' : 's'})`);
    } else lines.push(`${verb} ${short(x.id)} ${x.status} ${label(x)}${x.parent ? ` (from group ${short(x.parent)})` : ''}`);
  }
  return lines.map((l) => l + '\n').join('');
}
