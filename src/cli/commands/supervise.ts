import { GitRunCommand, Option } from '../base.js';
import { repoAt, superviseRun, getRun } from '../../api/index.js';

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
    const done = await superviseRun(repo, await getRun(repo, this.id));
    await done?.cleanup();
    return 0;
  }
}
