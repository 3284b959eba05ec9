/**
 * What a 20 MiB output costs with Git LFS and without (issue 14,
 * informational): two repositories (the small files of bench/launch.ts),
 * one with "large_output": "10MiB" (the default; the output becomes an LFS
 * object through `git lfs clean`), one with "off" (an ordinary blob), each
 * timing `git run -q -p round=<i> -- node -e <write --size MiB>` from spawn
 * to exit, alternating (the order swaps each round). The bytes differ by
 * round, so neither store deduplicates them. Reported: the ratio of medians
 * (LFS / blob).
 *
 * Usage: node dist/bench/lfs.js [--iterations N] [--size MiB]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, benchEnv, commandLine, fmtRatio, intArg, machine, median, printTable, revision, runOk, smallRepo, statsJson, statsRow, STATS_HEADERS, timeMs, writeResults, runBench } from './lib.js';

const ITERATIONS = intArg('iterations', 10);
const SIZE_MIB = intArg('size', 20);

async function main(): Promise<void> {
  const base = mkdtempSync(path.join(os.tmpdir(), 'git-run-bench-lfs-'));
  const home = path.join(base, 'home');
  const env = benchEnv(home);
  try {
    await runOk('mkdir', ['-p', home], { cwd: base });
    const repos: Record<'lfs' | 'blob', string> = { lfs: path.join(base, 'lfs'), blob: path.join(base, 'blob') };
    for (const [kind, repo] of Object.entries(repos)) {
      await runOk('mkdir', ['-p', repo], { cwd: base });
      await smallRepo(repo, env);
      writeFileSync(path.join(repo, '.runconfig'), JSON.stringify({ large_output: kind === 'lfs' ? '10MiB' : 'off' }));
      await runOk('git', ['add', '.runconfig'], { cwd: repo, env });
      await runOk('git', ['commit', '-q', '-m', 'large_output'], { cwd: repo, env });
    }
    const write = `const b=Buffer.alloc(${SIZE_MIB}*1048576);for(let i=0;i<b.length;i+=4)b.writeUInt32LE((i*2654435761+Number(process.env.GIT_RUN_PARAM_ROUND||0))>>>0,i);require('fs').writeFileSync('model.bin',b)`;
    const gitRun = (repo: string, round: number) => runOk(process.execPath, [CLI, '-q', '-p', `round=${round}`, '--', process.execPath, '-e', write], { cwd: repo, env });
    // One untimed run each: git-lfs's first start, the page cache.
    await gitRun(repos.lfs, -1);
    await gitRun(repos.blob, -1);
    const times: Record<'lfs' | 'blob', number[]> = { lfs: [], blob: [] };
    for (let i = 0; i < ITERATIONS; i++) {
      const order: Array<'lfs' | 'blob'> = i % 2 ? ['blob', 'lfs'] : ['lfs', 'blob'];
      for (const k of order) times[k].push((await timeMs(() => gitRun(repos[k], i))).ms);
    }
    const ratio = median(times.lfs) / median(times.blob);
    printTable(STATS_HEADERS, [statsRow(`${SIZE_MIB} MiB output as an LFS object`, times.lfs), statsRow(`${SIZE_MIB} MiB output as a blob`, times.blob)]);
    console.log(`ratio of medians (LFS / blob): ${fmtRatio(ratio)}`);
    const file = await writeResults('lfs', { command: commandLine(), revision: revision(), machine: machine(), sizeMiB: SIZE_MIB, iterations: ITERATIONS, lfs: statsJson(times.lfs), blob: statsJson(times.blob), ratio });
    console.log(`results: ${file}`);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

runBench(main);
