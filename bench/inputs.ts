/**
 * What a large gitignored data input costs (issue 12's goals):
 *
 * (a) A repository (the 20 small files of bench/launch.ts, `*.bin` in
 *     .gitignore) with a --size MiB data.bin (default 1024) in its work tree,
 *     unchanged since the last run: `git run -q -i data.bin -- true` against
 *     `git run -q -- true`, alternating (the order swaps each round), each
 *     timed from spawn to exit. One untimed run with the input first fills
 *     the stat cache and the content cache, as the user's previous run would
 *     have. Goal: median(with) / median(without) <= 1.2.
 * (b) The first hashing of that file: the library's own hashing
 *     (src/git/content.ts hashFile, in this process) against `git
 *     hash-object --no-filters data.bin`, alternating; the file is read once
 *     untimed first, so both read it from the page cache. Goal:
 *     median(ours) / median(git) <= 1.2. git streams a file above
 *     core.bigFileThreshold (512 MiB) through its pack writer, which deflates
 *     it even when nothing is written: that is what `git hash-object` costs
 *     a user for such a file, and it is slow; the fast path git takes below
 *     the threshold (`git -c core.bigFileThreshold=<larger> hash-object`,
 *     the file mapped and hashed) is timed too, and the ratio against it is
 *     the stricter one. --hash-iterations rounds (default 5).
 *
 * The file lives in the file system of the repository (not a tmpfs), under
 * --dir (default: the system's temporary directory; check `df` first).
 *
 * Usage: node dist/bench/inputs.js [--iterations N] [--size MiB] [--dir D]
 */
import crypto from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, benchEnv, commandLine, fmtRatio, intArg, machine, median, printTable, revision, runOk, smallRepo, statsJson, statsRow, STATS_HEADERS, strArg, timeMs, writeResults, runBench } from './lib.js';
import { hashFile } from '../src/git/content.js';

const ITERATIONS = intArg('iterations', 10);
const SIZE_MIB = intArg('size', 1024);
const HASH_ITERATIONS = intArg('hash-iterations', 5);

/** size MiB of incompressible bytes: a 64 MiB random block, each copy stamped with its index so no two blocks are equal. */
function writeData(file: string, mib: number): void {
  const block = crypto.randomBytes(Math.min(64, mib) * 2 ** 20);
  const fd = openSync(file, 'w');
  try {
    for (let done = 0, i = 0; done < mib * 2 ** 20; i++) {
      block.writeUInt32LE(i, 0);
      const n = Math.min(block.length, mib * 2 ** 20 - done);
      writeSync(fd, block, 0, n);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

async function main(): Promise<void> {
  const base = mkdtempSync(path.join(strArg('dir', os.tmpdir()), 'git-run-bench-inputs-'));
  const home = path.join(base, 'home');
  const repo = path.join(base, 'repo');
  const env = benchEnv(home);
  try {
    await runOk('mkdir', ['-p', home, repo], { cwd: base });
    await smallRepo(repo, env);
    writeFileSync(path.join(repo, '.gitignore'), '*.bin\n');
    await runOk('git', ['add', '.gitignore'], { cwd: repo, env });
    await runOk('git', ['commit', '-q', '-m', 'ignore data'], { cwd: repo, env });
    const data = path.join(repo, 'data.bin');
    writeData(data, SIZE_MIB);

    // (b) first hashing, both from the page cache.
    await runOk('git', ['hash-object', '--no-filters', 'data.bin'], { cwd: repo, env });
    const ours: number[] = [];
    const theirs: number[] = [];
    const mapped: number[] = [];
    let oid = '';
    const threshold = `core.bigFileThreshold=${SIZE_MIB + 1}m`;
    for (let i = 0; i < HASH_ITERATIONS; i++) {
      const steps = [
        async () => ours.push((await timeMs(async () => (oid = hashFile('sha1', data, SIZE_MIB * 2 ** 20).oid))).ms),
        async () => theirs.push((await timeMs(() => runOk('git', ['hash-object', '--no-filters', 'data.bin'], { cwd: repo, env }))).ms),
        async () => mapped.push((await timeMs(() => runOk('git', ['-c', threshold, 'hash-object', '--no-filters', 'data.bin'], { cwd: repo, env }))).ms),
      ];
      // The order rotates each round.
      for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length]!();
    }
    const gitOid = (await runOk('git', ['hash-object', '--no-filters', 'data.bin'], { cwd: repo, env })).stdout.trim();
    if (gitOid !== oid) throw new Error(`ids differ: ours ${oid}, git's ${gitOid}`);

    // (a) a run with the unchanged input against one without.
    const gitRun = (args: string[]) => runOk(process.execPath, [CLI, '-q', ...args, '--', 'true'], { cwd: repo, env });
    await gitRun(['-i', 'data.bin']);
    await gitRun([]);
    const withInput: number[] = [];
    const without: number[] = [];
    for (let i = 0; i < ITERATIONS; i++) {
      const a = async () => withInput.push((await timeMs(() => gitRun(['-i', 'data.bin']))).ms);
      const b = async () => without.push((await timeMs(() => gitRun([]))).ms);
      if (i % 2) {
        await b();
        await a();
      } else {
        await a();
        await b();
      }
    }

    const runRatio = median(withInput) / median(without);
    const hashRatio = median(ours) / median(theirs);
    const mappedRatio = median(ours) / median(mapped);
    printTable(STATS_HEADERS, [
      statsRow(`git run -i data.bin (${SIZE_MIB} MiB) -- true`, withInput),
      statsRow('git run -- true', without),
      statsRow(`hashFile (${SIZE_MIB} MiB)`, ours),
      statsRow('git hash-object --no-filters', theirs),
      statsRow(`git -c ${threshold} hash-object --no-filters`, mapped),
    ]);
    console.log(`(a) unchanged input: ratio of medians ${fmtRatio(runRatio)} (goal <= 1.2)`);
    console.log(`(b) first hashing: ratio of medians ${fmtRatio(hashRatio)} against git hash-object (goal <= 1.2); ${fmtRatio(mappedRatio)} against git's fast path (bigFileThreshold raised)`);
    const file = await writeResults('inputs', {
      command: commandLine(),
      revision: revision(),
      machine: machine({ dataDir: base }),
      sizeMiB: SIZE_MIB,
      iterations: ITERATIONS,
      run: { withInput: statsJson(withInput), without: statsJson(without), ratio: runRatio },
      hashing: { ours: statsJson(ours), git: statsJson(theirs), gitMapped: statsJson(mapped), ratio: hashRatio, ratioMapped: mappedRatio },
    });
    console.log(`results: ${file}`);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

runBench(main);
