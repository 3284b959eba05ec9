/**
 * Explanations of the run key in words: `git run why` and `--dry-run`.
 * Everything shown comes from run records, which may come from another
 * clone: escaped.
 */
import type { DryRun, Explanation } from '../api/index.js';
import { commandLine, short } from './render.js';
import { escapeText } from './escape.js';

/** The lines that say what differs (indented by `pad`). */
export function explanationLines(ex: Explanation, pad = '  '): string[] {
  const out: string[] = [];
  if (ex.against) {
    const name = ex.against.name ? ` ${JSON.stringify(escapeText(ex.against.name))}` : '';
    out.push(`${ex.sameKey ? 'same key as' : 'compared with'} the earlier run ${short(ex.against.id)}${name} (${ex.against.status}, ${ex.against.createdAt.replace('T', ' ').slice(0, 19)}):`);
    if (!ex.sameKey && !ex.differences.length) out.push(`${pad}its key differs in no recorded part (another version of git-run made it)`);
    for (const d of ex.differences) {
      out.push(`${pad}${escapeText(d.text)}`);
      if (d.part === 'code' && ex.diffstat) for (const l of ex.diffstat.split('\n')) out.push(`${pad}  ${escapeText(l)}`);
    }
  }
  for (const n of ex.notes) out.push(`${ex.against ? pad : ''}${escapeText(n)}`);
  const lo = ex.leftOut;
  if (lo.credential.length || lo.other) {
    const parts = [lo.credential.length ? `${lo.credential.map(escapeText).join(', ')} (${lo.credential.length === 1 ? 'looks' : 'look'} like a credential: set "env_include" in .runconfig to key on ${lo.credential.length === 1 ? 'it' : 'them'})` : '', lo.other ? `${lo.other} session variable${lo.other === 1 ? '' : 's'} (terminal, ssh agent, PWD...)` : ''].filter(Boolean);
    out.push(`not in the key: ${parts.join('; ')}`);
  }
  return out;
}

export function whyText(id: string, ex: Explanation): string {
  const head = ex.against && !ex.sameKey ? `run ${short(id)} was run, not reused: its key differs from the nearest earlier run's` : ex.sameKey ? `run ${short(id)} was run although an earlier run has its key` : `run ${short(id)} was run: there was nothing to reuse`;
  return [head, ...explanationLines(ex)].join('\n') + '\n';
}

export function dryRunText(plan: DryRun): string {
  const lines: string[] = [];
  const runs = plan.children.filter((c) => !c.reuse).length;
  if (plan.group) lines.push(`${plan.children.length} runs: ${runs} would run, ${plan.children.length - runs} would be reused${plan.seeded ? '' : ' (no seed given: each run gets a random seed, so none can be reused)'}`);
  for (const c of plan.children) {
    const what = `${c.name ? `${escapeText(c.name)}: ` : ''}${escapeText(commandLine(c.command))} (seed ${c.seed})`;
    if (c.reuse) lines.push(`would reuse run ${short(c.reuse.id)} (${c.reuse.status}${c.reuse.matched === 'portable key' ? ', made in another clone: same portable key, machine variables such as HOME, USER and PATH not compared' : ''}): ${what}`);
    else {
      lines.push(`would run: ${what}`);
      if (c.why) for (const l of explanationLines(c.why)) lines.push(`  ${l}`);
    }
  }
  if (!plan.group && !plan.seeded && runs) lines.push('(no seed given: the run gets a random seed, so it is never reused; pass --seed to make it reusable)');
  lines.push('nothing was written (--dry-run)');
  return lines.join('\n') + '\n';
}
