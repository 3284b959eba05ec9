import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, catRunFile } from '../../api/index.js';

export default class CatCommand extends GitRunCommand {
  static override paths = [['cat']];
  static override usage = Command.Usage({
    description: "print a file of a run: one of its outputs, or else a file of its code",
    examples: [['An output', 'git run cat 3f2a9c:results/model.json']],
  });

  spec = Option.String({ name: 'run>:<path' });

  async run(): Promise<number> {
    const repo = await repoAt();
    const { data } = await catRunFile(repo, this.spec);
    this.out(data);
    return 0;
  }
}
