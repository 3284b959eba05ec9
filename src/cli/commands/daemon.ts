import { GitRunCommand, Command, Option } from '../base.js';
import { runDaemon, startDaemon, stopDaemon, daemonStatus, daemonLog, GitRunError, ErrorCode } from '../../api/index.js';

const ACTIONS = ['start', 'stop', 'status', 'run', 'log'] as const;

export default class DaemonCommand extends GitRunCommand {
  static override paths = [['daemon']];
  static override usage = Command.Usage({
    description: 'the repository daemon: the queue, schedules, and watching runs',
    details: `
      One daemon per repository. While it runs, detached submissions (submit -d, git run -d, hooks, schedules)
      wait in its queue as queued and start when their host has room (max_parallel), first come first served per
      child, so that every group progresses. It also finishes runs whose supervisor died and fires the schedules
      of .runconfig ("on": {"schedule": "<cron>", "branch": "main"}). Without a daemon nothing is lost: detached
      runs have their own supervisors.
    `,
    examples: [
      ['Start it', 'git run daemon start'],
      ['What it does', 'git run daemon status'],
      ['Its log', 'git run daemon log -n 50'],
      ['In the foreground', 'git run daemon run'],
    ],
  });

  action = Option.String({ name: 'start|stop|status|run|log' });
  lines = Option.String('-n', { description: 'log: the last N lines' });
  json = Option.Boolean('--json', false, { description: 'status: one JSON object' });
  timeout = Option.String('--timeout', { description: 'stop: seconds to wait for the runs it supervises (default 30)' });

  async run(): Promise<number> {
    const cwd = process.cwd();
    switch (this.action as (typeof ACTIONS)[number]) {
      case 'start': {
        const { pid, logFile } = await startDaemon(cwd);
        this.out(`daemon started (pid ${pid}); log: ${logFile}\n`);
        return 0;
      }
      case 'stop': {
        const t = this.timeout === undefined ? 30 : Number(this.timeout);
        if (!(t >= 0)) throw new GitRunError(ErrorCode.BadOption, `--timeout takes seconds, not '${this.timeout}'`, 'e.g. --timeout 60');
        const r = await stopDaemon(cwd, t * 1000);
        this.out(r.stopped ? `daemon stopped (pid ${r.pid})\n` : `daemon ${r.pid} is finishing the runs it supervises; it exits when they end\n`);
        return 0;
      }
      case 'status': {
        const s = await daemonStatus(cwd);
        if (this.json) {
          this.out(JSON.stringify(s) + '\n');
          return 0;
        }
        this.out(s.running ? `daemon: running (pid ${s.pid}, since ${s.since})\n` : 'daemon: not running (start it with `git run daemon start`)\n');
        for (const h of s.hosts) this.out(`  ${h.host}: ${h.running}/${h.maxParallel} running${h.ending ? `, ${h.ending} ended (being recorded)` : ''}, ${h.queued} queued${h.oldestQueued ? `, oldest waiting since ${h.oldestQueued}` : ''}\n`);
        for (const sc of s.schedules) this.out(`  schedule ${sc.experiment}: '${sc.expression}' on ${sc.branch ?? 'the current branch'}${sc.lastTick ? `, last tick ${sc.lastTick}` : ''}\n`);
        for (const p of s.problems) this.out(`  problem: ${p}\n`);
        return 0;
      }
      case 'run': {
        const write = (line: string) => this.out(`${new Date().toISOString()} ${line}\n`);
        await runDaemon(cwd, { log: write });
        return 0;
      }
      case 'log': {
        const n = this.lines === undefined ? undefined : Number(this.lines);
        if (n !== undefined && !(Number.isInteger(n) && n >= 0)) throw new GitRunError(ErrorCode.BadOption, `-n takes a whole number, not '${this.lines}'`, 'e.g. git run daemon log -n 20');
        this.out(await daemonLog(cwd, n));
        return 0;
      }
      default:
        throw new GitRunError(ErrorCode.BadOption, `unknown daemon action '${this.action}'`, `use one of: ${ACTIONS.join(', ')}`);
    }
  }
}
