import { GitRunCommand, Option } from '../base.js';
import { repoAt, superviseById } from '../../api/index.js';

/** Internal: the detached process that owns one local run. */
export default class SuperviseCommand extends GitRunCommand {
  static override paths = [['__supervise']];
  static override usage = undefined;

  id = Option.String();

  async run(): Promise<number> {
    // The terminal that started the run must not stop its supervisor.
    process.on('SIGINT', () => undefined);
    process.on('SIGHUP', () => undefined);
    const repo = await repoAt();
    await superviseById(repo, this.id);
    return 0;
  }
}
