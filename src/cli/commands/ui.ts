import { existsSync, realpathSync } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt } from '../../api/index.js';
import { startUi } from '../../api/ui/server.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';

/** dist/ui, next to the running binary (dist/git-run.cjs) or two levels up from dist/src/bin/git-run.js. */
function assetsDir(): string {
  const entry = realpathSync(process.argv[1] ?? '.');
  const dir = path.dirname(entry);
  const found = [path.join(dir, 'ui'), path.join(dir, '..', '..', 'ui')].find((d) => existsSync(path.join(d, 'index.html')));
  if (!found) throw new GitRunError(ErrorCode.BadInput, `the web page's files are not next to ${entry}`, 'rebuild git-run (`npm run build`): it bundles them into dist/ui');
  return found;
}

/**
 * The command that opens `url`: $BROWSER when set, as git web--browse and
 * Python's webbrowser take it (the first of its ':'-separated commands,
 * split at spaces, "%s" standing for the address or else the address last),
 * so that a remote shell or a test names its own; else the platform's opener.
 */
export function openerFor(url: string, browser: string | undefined): string[] {
  const words = (browser ?? '').split(':')[0]!.split(/\s+/).filter(Boolean);
  if (words.length) return words.some((w) => w.includes('%s')) ? words.map((w) => w.split('%s').join(url)) : [...words, url];
  return [process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open', url];
}

export default class UiCommand extends GitRunCommand {
  static override paths = [['ui']];
  static override usage = Command.Usage({
    description: "look at the runs in a web browser (127.0.0.1 only, a private address)",
    details: 'Serves the runs table, run pages, comparisons, diffs and charts until interrupted; the printed address carries a token without which nothing is served. Read-only, except the name, notes and tags of runs.',
    examples: [['Serve on any free port', 'git run ui'], ['On port 8765, opening a browser', 'git run ui --port 8765 --open']],
  });

  port = Option.String('--port', { description: 'port on 127.0.0.1 (default: any free one)' });
  open = Option.Boolean('--open', false, { description: 'open the address in a browser' });

  async run(): Promise<number> {
    let port = 0;
    if (this.port !== undefined) {
      if (!/^\d{1,5}$/.test(this.port) || Number(this.port) > 65535) throw new GitRunError(ErrorCode.BadOption, `--port takes a number from 0 to 65535, not '${this.port}'`, 'e.g. --port 8765 (0: any free port)');
      port = Number(this.port);
    }
    const repo = await repoAt();
    const ui = await startUi(repo, { port, assetsDir: assetsDir() });
    this.out(`git run ui: serving ${repo.topLevel ?? repo.gitDir} at\n  ${ui.url}\n(Ctrl-C stops it)\n`);
    if (this.open) {
      // As an argument vector, its output never mixed with ours; a machine without an opener still serves.
      const [opener, ...args] = openerFor(ui.url, process.env.BROWSER);
      const child = spawn(opener!, args, { stdio: 'ignore', detached: true });
      child.on('error', () => this.err(`could not start ${opener}: open the address above by hand\n`));
      child.unref();
    }
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await ui.close();
    return 0;
  }
}
