/**
 * `git run lineage --downstream` of a run with 10,000 downstream runs (issue
 * 12), against `git run log -n 50` on the same repository; goal: the ratio
 * of medians <= 2.
 *
 * The fixture: a repository with one real run (`git run --name upstream --
 * sh -c 'echo d > data.bin'`), then <count> finished runs that each took
 * upstream:data.bin as an input, written as git-run writes them (run.json
 * with the input, the spec commit's parent the upstream's finishing commit,
 * a finishing commit with result.json and logs) by LooseObjectWriter, and
 * their refs created by one `git update-ref --stdin` and packed (as git-run
 * packs them past 1,000 loose ones). The index is built by one untimed
 * `git run log -n 1` before timing.
 *
 * Timed, interleaved rounds (the two sides alternate going first), after
 * warm-up rounds: `git run lineage --downstream <upstream id>` (output read
 * through a pipe, as `| less` would) and `git run log -n 50`. Checked: the
 * lineage lists exactly <count> downstream runs, each once, and its --json
 * has <count> edges from the upstream.
 *
 * Usage: node dist/bench/lineage.js [--count N] [--rounds N] [--warmup N] [--fixture DIR]
 *        (--fixture: build the repository in DIR once and keep it; a later run with the same DIR reuses it)
 */
import crypto from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, benchEnv, commandLine, fmtRatio, intArg, machine, printTable, revision, runOk, runBench, stats, strArg, statsJson, statsRow, STATS_HEADERS, timeMs, writeResults } from './lib.js';
import { LooseObjectWriter } from '../src/git/loose.js';
import type { RunInput, RunResult, RunSpec } from '../src/core/record.js';

async function main(): Promise<void> {
  const count = intArg('count', 10_000);
  const rounds = intArg('rounds', 15);
  const warmup = intArg('warmup', 2);
  const kept = strArg('fixture', '');
  const top = kept ? path.resolve(kept) : mkdtempSync(path.join(os.tmpdir(), 'gitrun-bench-lineage-'));
  const reuse = !!kept && existsSync(path.join(top, 'repo', '.git', 'packed-refs')) && existsSync(path.join(top, `count-${count}`));
  const home = path.join(top, 'home');
  const repo = path.join(top, 'repo');
  const env = benchEnv(home);
  // The binary measured: a copy, because others rebuild dist/ meanwhile; next to it, so that it finds the same node_modules.
  const cli = path.join(path.dirname(CLI), `.lineage-bench-${process.pid}.cjs`);
  copyFileSync(CLI, cli);
  const gitRun = (args: string[]) => runOk(process.execPath, [cli, ...args], { cwd: repo, env });
  const git = (args: string[], input?: string) => runOk('git', args, { cwd: repo, env, ...(input !== undefined ? { input } : {}) });
  try {
    let fixtureMs = 0;
    if (!reuse) {
      rmSync(top, { recursive: true, force: true });
      await runOk('mkdir', ['-p', home, repo], { cwd: os.tmpdir() });
      await git(['init', '-q', '-b', 'main']);
      writeFileSync(path.join(repo, 'train.py'), 'print("train")\n');
      await git(['add', '-A']);
      await git(['commit', '-q', '-m', 'initial']);
      await gitRun(['-q', '--name', 'upstream', '--', 'sh', '-c', 'echo d > data.bin']);
      const first = (await git(['for-each-ref', '--format=%(refname:lstrip=2)', 'refs/runs/'])).stdout.trim();
      const upTip = (await git(['rev-parse', `refs/runs/${first}`])).stdout.trim();
      const upSpec = JSON.parse((await git(['cat-file', 'blob', `${upTip}:run.json`])).stdout) as RunSpec;
      const dataOid = (await git(['rev-parse', `${upTip}:outputs/data.bin`])).stdout.trim();

      const started = Date.now();
      const w = new LooseObjectWriter(path.join(repo, '.git', 'objects'), 'sha1');
      const empty = await w.write('blob', '');
      const logs = await w.writeTree([{ mode: '100644', name: 'stdout', oid: empty }, { mode: '100644', name: 'stderr', oid: empty }]);
      const author = 'Bench Mark <bench@example.invalid>';
      const input: RunInput = { path: 'data.bin', oid: dataOid, type: 'blob', mode: '100644', size: 2, from: { run: first, path: 'data.bin' } };
      const refs: string[] = [];
      const t0 = Date.parse(upSpec.createdAt);
      for (let i = 0; i < count; i++) {
        const when = new Date(t0 + 1000 + i * 1000);
        const spec: RunSpec = {
          ...upSpec,
          command: ['python3', 'train.py', '--part', String(i)],
          params: {},
          inputs: [input],
          parent: null,
          createdAt: when.toISOString(),
          key: crypto.createHash('sha256').update(`bench ${i}`).digest('hex'),
          nonce: crypto.createHash('sha1').update(`nonce ${i}`).digest('hex').slice(0, 16),
        };
        delete spec.keyParts;
        const runJson = await w.write('blob', JSON.stringify(spec, null, 2) + '\n');
        const specTree = await w.writeTree([{ mode: '100644', name: 'run.json', oid: runJson }, { mode: '40000', name: 'code', oid: spec.code.tree }]);
        const id = await w.writeCommit({ tree: specTree, parents: [upTip], author, message: `submitted: python3 train.py --part ${i}\n`, when });
        const result: RunResult = { status: 'succeeded', exitCode: 0, signal: null, error: null, startedAt: when.toISOString(), endedAt: when.toISOString(), host: null };
        const resultBlob = await w.write('blob', JSON.stringify(result, null, 2) + '\n');
        const endTree = await w.writeTree([
          { mode: '100644', name: 'run.json', oid: runJson },
          { mode: '40000', name: 'code', oid: spec.code.tree },
          { mode: '40000', name: 'logs', oid: logs },
          { mode: '100644', name: 'result.json', oid: resultBlob },
        ]);
        const end = await w.writeCommit({ tree: endTree, parents: [id], author, message: 'succeeded (exit 0)\n', when });
        refs.push(`create refs/runs/${id} ${end}\n`);
      }
      await git(['update-ref', '--stdin'], refs.join(''));
      await git(['pack-refs', '--all']);
      fixtureMs = Date.now() - started;
      writeFileSync(path.join(top, `count-${count}`), '');
    }
    // The index, built by the first query (timed, reported apart), as after a fetch.
    const rebuild = await timeMs(() => gitRun(['log', '-n', '1', '--oneline']));
    const up = (await gitRun(['log', '--where', "name = 'upstream'", '--format', '%H'])).stdout.trim();

    // Checked: every downstream run once, and the JSON's edges.
    const text = (await gitRun(['lineage', '--downstream', up])).stdout;
    const lines = text.split('\n').filter((l) => l.startsWith('  -> '));
    const ids = new Set(lines.map((l) => l.slice(5, 17)));
    if (lines.length !== count || ids.size !== count) throw new Error(`lineage listed ${lines.length} links (${ids.size} runs), expected ${count}`);
    const g = JSON.parse((await gitRun(['lineage', '--downstream', '--json', up])).stdout) as { edges: Array<{ from: string }>; nodes: unknown[] };
    if (g.edges.length !== count || g.edges.some((e) => e.from !== up) || g.nodes.length !== count + 1) throw new Error('lineage --json does not hold every downstream run');

    const lineage: number[] = [];
    const log: number[] = [];
    const lineageJson: number[] = [];
    for (let r = 0; r < warmup + rounds; r++) {
      const sides: Array<[number[], string[]]> = [
        [lineage, ['lineage', '--downstream', up]],
        [log, ['log', '-n', '50']],
        [lineageJson, ['lineage', '--downstream', '--json', up]],
      ];
      if (r % 2) sides.reverse();
      for (const [into, args] of sides) {
        const { ms } = await timeMs(() => gitRun(args));
        if (r >= warmup) into.push(ms);
      }
    }
    const ratio = stats(lineage).median / stats(log).median;
    const ratioJson = stats(lineageJson).median / stats(log).median;
    printTable(STATS_HEADERS, [statsRow(`lineage --downstream (${count})`, lineage), statsRow(`lineage --downstream --json`, lineageJson), statsRow('log -n 50', log)]);
    process.stdout.write(`\nratio of medians, lineage / log -n 50: ${fmtRatio(ratio)} (goal <= 2); --json: ${fmtRatio(ratioJson)}\n`);
    process.stdout.write(`fixture: ${count} downstream runs written in ${(fixtureMs / 1000).toFixed(1)} s; index built in ${(rebuild.ms / 1000).toFixed(1)} s\n`);
    const file = await writeResults('lineage', {
      command: commandLine(),
      revision: revision(),
      machine: machine(),
      count,
      rounds,
      warmup,
      fixtureMs,
      indexBuildMs: rebuild.ms,
      lineage: statsJson(lineage),
      lineageJson: statsJson(lineageJson),
      log: statsJson(log),
      ratio,
      ratioJson,
    });
    process.stdout.write(`results: ${file}\n`);
  } finally {
    if (!kept) rmSync(top, { recursive: true, force: true });
    rmSync(cli, { force: true });
  }
}

runBench(main);
