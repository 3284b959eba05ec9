import { GitRunCommand, Command, Option } from '../base.js';
import { repoAt, activeRuns, liveStates, runToJson, daemonStatus, hookProblems } from '../../api/index.js';
import { oneline, duration, runDuration } from '../render.js';
import { escapeText } from '../escape.js';

export default class StatusCommand extends GitRunCommand {
  static override paths = [['status']];
  static override usage = Command.Usage({ description: 'list active runs (queued or running)' });

  json = Option.Boolean('--json', false, { description: 'one JSON object per line' });

  async run(): Promise<number> {
    const repo = await repoAt();
    const runs = await activeRuns(repo);
    // A started run may still wait in a scheduler's queue: its host's word, with the reason (Priority, Resources...).
    const live = await liveStates(repo, runs);
    for (const v of runs) {
      const l = live.get(v.id);
      if (this.json) this.out(JSON.stringify({ ...(await runToJson(repo, v)), ...(l ? { live: l } : {}) }) + '\n');
      else {
        const d = runDuration(v);
        const waiting = l && l.status === 'queued' ? `  (queued: ${escapeText(l.state)}${l.reason ? `, ${escapeText(l.reason)}` : ''})` : '';
        this.out(`${oneline(v, this.color)}${waiting}${d !== null && !waiting ? `  [${duration(d)}]` : ''}\n`);
      }
    }
    if (!runs.length && !this.json && (this.context.stdout as NodeJS.WriteStream).isTTY) this.out('no active runs\n');
    if (!this.json) {
      // The workload per host, and whether the daemon that starts queued runs is there.
      const d = await daemonStatus(process.cwd());
      if (d.hosts.length) {
        this.out(`\n${d.running ? `daemon running (pid ${d.pid})` : 'no daemon'}\n`);
        for (const h of d.hosts) this.out(`  ${h.host}: ${h.running}/${h.maxParallel} running${h.ending ? `, ${h.ending} ended (being recorded)` : ''}, ${h.queued} queued${h.oldestQueued ? `, oldest waiting since ${h.oldestQueued}` : ''}\n`);
        if (!d.running && runs.some((v) => v.status === 'queued' && v.spec.dispatch === 'daemon')) this.out('  queued runs wait for the daemon: start it with `git run daemon start`\n');
      }
    }
    // The hook's last failure since it last worked (a broken .runconfig, an unreachable host): never the commit's.
    const hook = (await hookProblems(repo)).at(-1);
    if (hook) (this.json ? (s: string) => this.err(s) : (s: string) => this.out(s))(`${hook.hook} hook failed (commit ${hook.commit?.slice(0, 12) ?? '?'}, ${hook.at}): ${escapeText(hook.message.replace(/\n\s*/g, ' '))}; see \`git run hook log\`\n`);
    return 0;
  }
}
