import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, editRun } from '../../api/index.js';
import { block } from '../render.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';

export default class EditCommand extends GitRunCommand {
  static override paths = [['edit']];
  static override usage = Command.Usage({
    description: "edit a run's name, notes or tags (while it runs or after)",
    examples: [['Rename and tag', 'git run edit 3f2a9c --name "lr sweep" --tag best']],
  });

  name = Option.String('--name', { description: 'new name' });
  notes = Option.String('--notes', { description: 'new notes' });
  tag = Option.Array('--tag', { description: 'add a tag (repeatable)' });
  untag = Option.Array('--untag', { description: 'remove a tag (repeatable)' });
  run_ = Option.String({ name: 'run' });

  async run(): Promise<number> {
    if (this.name === undefined && this.notes === undefined && !this.tag?.length && !this.untag?.length) {
      throw new GitRunError(ErrorCode.BadOption, 'nothing to edit', 'give at least one of --name, --notes, --tag, --untag');
    }
    const repo = await repoAt();
    const view = await editRun(repo, this.run_, {
      ...(this.name !== undefined ? { name: this.name } : {}),
      ...(this.notes !== undefined ? { notes: this.notes } : {}),
      tag: (this.tag ?? []).flatMap((t) => t.split(',')).filter(Boolean),
      untag: (this.untag ?? []).flatMap((t) => t.split(',')).filter(Boolean),
    });
    this.out(block(view, this.color));
    return 0;
  }
}
