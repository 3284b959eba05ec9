import path from 'node:path';
import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, installHooks, uninstallHooks, hookTriggers, hookLog, runPostCommit, drainPostCommits, hooksDir, HOOK_NAMES, GitRunError, ErrorCode, type HookEvent } from '../../api/index.js';

/** Variables git sets for a hook that must not reach what the hook starts (runs keep their own dates and index). */
const HOOK_ENV = ['GIT_INDEX_FILE', 'GIT_PREFIX', 'GIT_AUTHOR_DATE', 'GIT_REFLOG_ACTION', 'GIT_EDITOR'];

export default class HookCommand extends GitRunCommand {
  static override paths = [['hook']];
  static override usage = Command.Usage({
    description: 'install git hooks that submit experiments on commit; show what they did',
    details: `
      \`install\` writes a post-commit shim into the hooks directory (\`git rev-parse --git-path hooks\`: .git/hooks, or core.hooksPath). A post-commit hook that is already there is kept as post-commit.git-run-chained and still runs, first, with its output and exit status. Installing again is harmless (it updates the paths the shim records). \`uninstall\` removes the shim and puts the chained hook back, byte for byte; when the shim is not installed it says so and exits 0.

      After each commit the shim starts \`git run hook post-commit\` in the background and returns at once. It submits, for the commit's tree, the experiments of the commit's .runconfig whose trigger matches: \`"on": {"commit": {"branches": ["main", "release/*"], "paths": ["src/", "*.py"]}}\` (branch globs; pathspecs matched against the files the commit changed relative to its first parent). Commits made during a rebase, merge, cherry-pick or revert submit nothing unless the trigger lists it in \`"during"\`; neither do commits made with GIT_RUN_SKIP=1. \`"supersede": true\` cancels the experiment's queued runs of older commits on the same branch.

      What happened goes to <git common dir>/git-run/hook.log, one JSON line per event; \`log\` shows the last ones (-n, default 20; -n 0: all). A failure (a broken .runconfig, an unreachable host) never fails the commit: it is logged, and \`git run status\` shows it until the hook next works.
    `,
    examples: [
      ['Install the post-commit hook', 'git run hook install'],
      ['What the hook did lately', 'git run hook log -n 5'],
      ['Remove it (and restore the hook it chained)', 'git run hook uninstall'],
      ['Commit without submitting', 'GIT_RUN_SKIP=1 git commit -m wip'],
    ],
  });

  action = Option.String({ name: 'install|uninstall|log|post-commit' });
  count = Option.String('-n', { description: 'log: the last N events (default 20; 0: all)' });
  json = Option.Boolean('--json', false, { description: 'log: one JSON object per line' });
  commit = Option.String('--commit', { hidden: true });
  head = Option.String('--head', { hidden: true });
  state = Option.String('--state', { hidden: true });
  drain = Option.Boolean('--drain', false, { hidden: true });

  async run(): Promise<number> {
    switch (this.action) {
      case 'install':
        return this.install();
      case 'uninstall':
        return this.uninstall();
      case 'log':
        return this.log();
      case 'post-commit':
        return this.postCommit();
      default:
        throw new GitRunError(ErrorCode.BadOption, `unknown hook or action '${this.action}'`, `git run hook install | uninstall | log, or a hook git-run handles: ${HOOK_NAMES.join(', ')}`, { action: this.action });
    }
  }

  private async install(): Promise<number> {
    const repo = await repoAt();
    const done = await installHooks(repo, { node: process.execPath, cli: path.resolve(process.argv[1]!) });
    for (const h of done) {
      this.err(`${h.action === 'unchanged' ? 'already installed' : h.action}: ${h.file}\n`);
      if (h.chained) this.err(`  it runs the hook that was there first: ${h.chained}\n`);
    }
    const triggers = await hookTriggers(repo);
    if (!triggers.length) this.err('hint: no experiment of .runconfig has "on": {"commit": {...}} yet: add one to submit it on commit\n');
    for (const t of triggers) {
      const on = [t.trigger.branches ? `branches ${t.trigger.branches.join(', ')}` : 'any branch', ...(t.trigger.paths ? [`paths ${t.trigger.paths.join(' ')}`] : [])];
      this.err(`  on commit: ${t.experiment} (${on.join('; ')})\n`);
    }
    return 0;
  }

  private async uninstall(): Promise<number> {
    const repo = await repoAt();
    for (const h of await uninstallHooks(repo)) {
      if (h.action === 'restored') this.err(`removed ${h.file}; the hook it chained is back in its place\n`);
      else if (h.action === 'removed') this.err(`removed ${h.file}\n`);
      else this.err(`git-run's ${h.hook} hook is not installed in ${path.dirname(h.file)}: nothing to remove${h.other ? ` (${h.other} is not git-run's; left as it is)` : ''}\n`);
    }
    return 0;
  }

  private async log(): Promise<number> {
    const n = this.count === undefined ? 20 : Number(this.count);
    if (!Number.isInteger(n) || n < 0) throw new GitRunError(ErrorCode.BadOption, `invalid -n '${this.count}': expected a whole number >= 0`, 'e.g. -n 5; -n 0 shows every event');
    const repo = await repoAt();
    const events = await hookLog(repo, n);
    for (const e of events) this.out(this.json ? JSON.stringify(e) + '\n' : formatEvent(e));
    if (!events.length && !this.json) this.err(`no hook events (is the hook installed? \`git run hook install\`; hooks directory: ${await hooksDir(repo)})\n`);
    return 0;
  }

  private async postCommit(): Promise<number> {
    for (const v of HOOK_ENV) delete process.env[v];
    // The shim's worker: submits every commit the shims noted (its outcomes go to the hook log).
    if (this.drain) return drainPostCommits().then(() => 0);
    const events = await runPostCommit({
      ...(this.commit ? { commit: this.commit } : {}),
      ...(this.head !== undefined ? { head: this.head } : {}),
      ...(this.state !== undefined ? { state: this.state.split(',').filter(Boolean) } : {}),
    });
    // Started by the shim, this goes nowhere; run by hand, it says what happened.
    for (const e of events) this.err(formatEvent(e));
    return 0;
  }
}

function formatEvent(e: HookEvent): string {
  const where = [e.commit ? e.commit.slice(0, 12) : '', e.branch ?? (e.commit ? '(detached)' : '')].filter(Boolean).join(' ');
  const text = `${e.level === 'error' ? 'error: ' : ''}${e.message}${e.hint ? ` (hint: ${e.hint})` : ''}`;
  return `${e.at.replace(/\.\d+Z$/, 'Z')}  ${e.hook}  ${where}  ${text.replace(/\n\s*/g, ' ')}\n`;
}
