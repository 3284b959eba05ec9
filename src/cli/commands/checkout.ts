import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, checkoutRun } from '../../api/index.js';
import { short } from '../render.js';

export default class CheckoutCommand extends GitRunCommand {
  static override paths = [['checkout']];
  static override usage = Command.Usage({
    description: "write a run's files (its code with its outputs over it) into a new directory",
    details: 'Never writes into your work tree unless you name a directory there with --to. The directory must be empty or absent (or pass --force).',
    examples: [
      ['Everything the run left', 'git run checkout 3f2a9c --to /tmp/run'],
      ['Only its results/ folder', 'git run checkout 3f2a9c results --to /tmp/results'],
    ],
  });

  to = Option.String('--to', { description: 'destination directory (default: ./run-<id>)' });
  force = Option.Boolean('--force', false, { description: 'write into a non-empty directory' });
  run_ = Option.String({ name: 'run' });
  subpath = Option.String({ required: false, name: 'path' });

  async run(): Promise<number> {
    const repo = await repoAt();
    const dest = this.to ?? `run-${this.run_.slice(0, 12)}`;
    const r = await checkoutRun(repo, this.run_, this.subpath ?? null, dest, this.force);
    this.err(`checked out ${r.files} file${r.files === 1 ? '' : 's'} of run ${short(r.view.id)} into ${r.dest}\n`);
    return 0;
  }
}
