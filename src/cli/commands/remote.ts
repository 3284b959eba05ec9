import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, configureRemote } from '../../api/index.js';
import { escapeText } from '../escape.js';

export default class RemoteCommand extends GitRunCommand {
  static override paths = [['remote']];
  static override usage = Command.Usage({
    description: 'make plain git fetch and git push carry runs and their metadata',
    details: `
      Adds refspecs to the remote's configuration: refs/runs/* both ways (never forced: a run only moves forward), refs/notes/runs pushed without force, and the remote's notes fetched to refs/notes/remotes/<remote>/runs, beside yours, since a fetch cannot merge notes. \`git run pull\` (or \`git run push\`) merges them; so does \`git notes --ref=runs merge -s cat_sort_uniq refs/notes/remotes/<remote>/runs\`. A remote that had no push refspec gets \`HEAD\` first, so a plain \`git push\` still pushes the current branch. --remove takes out what was added.
    `,
    examples: [
      ['Opt in', 'git run remote origin'],
      ['Opt out', 'git run remote origin --remove'],
    ],
  });

  remove = Option.Boolean('--remove', false, { description: 'take the refspecs out again' });
  remote = Option.String({ name: 'remote' });

  async run(): Promise<number> {
    const repo = await repoAt();
    const r = await configureRemote(repo, this.remote, this.remove);
    const where = escapeText(r.remote);
    const changed = [...r.fetch.map((s) => `fetch ${s}`), ...r.push.map((s) => `push ${s}`)];
    if (!changed.length) this.out(`${where}: already ${this.remove ? 'without' : 'with'} git-run's refspecs\n`);
    else for (const c of changed) this.out(`${this.remove ? 'removed' : 'added'} remote.${where}.${escapeText(c).replace(' ', ' = ')}\n`);
    if (!this.remove) this.out(`plain \`git fetch ${where}\` now brings runs, and notes into ${escapeText(r.notesRef)}; \`git run pull ${where}\` merges those notes\n`);
    return 0;
  }
}
