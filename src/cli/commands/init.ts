import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, writeStarterConfig } from '../../api/index.js';

export default class InitCommand extends GitRunCommand {
  static override paths = [['init']];
  static override usage = Command.Usage({
    description: 'write a starter .runconfig at the top of the work tree',
    examples: [['Start a configuration', 'git run init']],
  });

  force = Option.Boolean('--force', false, { description: 'replace an existing .runconfig' });

  async run(): Promise<number> {
    const file = await writeStarterConfig(await repoAt(), this.force);
    this.err(`wrote ${file}\n`);
    return 0;
  }
}
