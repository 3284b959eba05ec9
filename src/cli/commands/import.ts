import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, importBundle } from '../../api/index.js';
import { short } from '../render.js';

export default class ImportCommand extends GitRunCommand {
  static override paths = [['import']];
  static override usage = Command.Usage({
    description: 'bring the runs of a bundle made by `git run export ... <file>.bundle` into this repository, with their metadata',
    details: 'The bundle is checked whole first (git bundle verify, then that it holds only runs and their notes): a bad one writes nothing. Notes are merged with what is here (no edit lost, never forced); a run here whose history the bundle does not continue is kept as it is and reported.',
    examples: [['Import', 'git run import runs.bundle']],
  });

  json = Option.Boolean('--json', false, { description: 'print one JSON object' });
  file = Option.String({ name: 'file.bundle' });

  async run(): Promise<number> {
    const repo = await repoAt();
    const r = await importBundle(repo, this.file);
    if (this.json) {
      this.out(JSON.stringify(r) + '\n');
      return 0;
    }
    for (const id of r.added) this.out(`${short(id)} added\n`);
    for (const id of r.updated) this.out(`${short(id)} updated\n`);
    for (const id of r.unchanged) this.out(`${short(id)} already here\n`);
    for (const id of r.diverged) this.out(`${short(id)} kept as it is here: its history differs from the bundle's\n`);
    return 0;
  }
}
