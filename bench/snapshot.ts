/**
 * Snapshot step: git-run's takeSnapshot() against the native recipe
 *
 *   cp .git/index $T && GIT_INDEX_FILE=$T git -c gc.auto=0 add -A && GIT_INDEX_FILE=$T git write-tree
 *
 * on a generated dirty tree of 20,000 files / 200 MiB in nested directories
 * (committed, then made dirty: modified, deleted and untracked files, plus
 * ignored files that must stay out of the snapshot).
 *
 * Cold: the first snapshot after a batch of changes (100 modified, 10
 * deleted, 100 new files) is reported apart; whoever runs first also writes
 * the batch's new blobs, so there are two batches and each side goes first
 * once. (The page cache is warm: the files were just written, and this
 * benchmark cannot drop caches.) Warm: for each measured pair, one tracked
 * file is edited, then both are timed, interleaved, alternating which goes
 * first. Goal: median(takeSnapshot) / median(native) <= 1.5 (warm).
 *
 * Checked every time: both give the same tree; the user's .git/index is
 * byte-identical (and keeps its mtime) after takeSnapshot; no temporary
 * index is left behind. Checked once: the tree holds exactly the expected paths
 * and an edited file's content.
 *
 * With --fixture DIR the committed tree is generated once into DIR (with a
 * gitignored data/ directory of --data-mib MiB) and reused by later runs: each
 * run first puts the work tree back to the commit (`reset --hard`, `clean -fd`,
 * which touch only what the previous run changed), then makes it dirty again.
 * That is how the 200,000-file / 2 GiB case is run (issue 16; goal <= 1.2):
 *
 *   node dist/bench/snapshot.js --files 200000 --mib 2048 --fixture /tmp/gitrun-fixture-snapshot-200k
 *
 * Usage: node dist/bench/snapshot.js [--iterations N] [--files N] [--mib N] [--fixture DIR] [--data-mib N] [--goal X]
 */
import { promises as fs, mkdirSync, writeFileSync, appendFileSync, readFileSync, statSync, unlinkSync, existsSync, readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { openRepo } from '../src/git/repo.js';
import { takeSnapshot } from '../src/git/snapshot.js';
import {
  benchEnv, commandLine, fmtRatio, intArg, machine, printTable, revision, run, runOk, stats, statsJson, statsRow, STATS_HEADERS, strArg, timeMs, writeResults, runBench, prng } from './lib.js';

const ITERATIONS = intArg('iterations', 20);
const FILES = intArg('files', 20_000);
const TOTAL_BYTES = intArg('mib', 200) * 2 ** 20;
/** A directory that keeps the generated, committed tree across runs ('' = a temporary one, deleted at the end). */
const FIXTURE = strArg('fixture', '');
/** The gitignored data/ directory's size (in a kept fixture only: it is written once). */
const DATA_MIB = intArg('data-mib', 256);
const GOAL = Number(strArg('goal', FILES >= 100_000 ? '1.2' : '1.5'));


const rand = prng(20_000);
const randInt = (n: number) => Math.floor(rand() * n);
/** Random bytes to slice file contents from; each file also starts with its own path, so no two are alike. */
const POOL = crypto.randomBytes(16 * 2 ** 20);

function content(name: string, size: number): Buffer {
  const head = Buffer.from(`${name} ${crypto.randomBytes(6).toString('hex')}\n`);
  const n = Math.max(0, size - head.length);
  const off = randInt(POOL.length - n);
  return Buffer.concat([head, POOL.subarray(off, off + n)]);
}

/** File sizes: log-normal (σ = 1), scaled so they sum to `total`; about 10 KiB on average for the defaults. */
function sizes(count: number, total: number): number[] {
  const raw = Array.from({ length: count }, () => {
    const u = 1 - rand();
    const v = rand();
    return Math.exp(Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
  });
  const sum = raw.reduce((a, b) => a + b, 0);
  return raw.map((r) => Math.max(64, Math.round((r * total) / sum)));
}

const EXT = ['py', 'txt', 'json', 'bin', 'csv', 'dat'];

/** 20,000 paths in nested directories: 10 x 10 x 5 leaf directories of 40 files each (for the defaults). */
function layout(count: number): string[] {
  const names: string[] = [];
  for (let i = 0; names.length < count; i++) {
    const leaf = Math.floor(i / 40);
    const dir = `d${Math.floor(leaf / 50) % 10}/s${Math.floor(leaf / 5) % 10}/t${leaf % 5}${leaf >= 500 ? `/x${Math.floor(leaf / 500)}` : ''}`;
    names.push(`${dir}/file_${String(i).padStart(5, '0')}.${EXT[i % EXT.length]}`);
  }
  return names;
}

function writeFile(top: string, name: string, data: Buffer): void {
  const file = path.join(top, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
}

const sha256 = (file: string) => crypto.createHash('sha256').update(readFileSync(file)).digest('hex');

async function main(): Promise<void> {
  const tmp = await fs.realpath(os.tmpdir());
  const root = FIXTURE ? path.resolve(FIXTURE) : await fs.mkdtemp(path.join(tmp, 'git-run-bench-snapshot-'));
  const marker = path.join(root, 'fixture.json');
  const want = { files: FILES, mib: TOTAL_BYTES / 2 ** 20, dataMib: DATA_MIB, layout: 2 };
  let reuse = false;
  if (FIXTURE && existsSync(marker)) {
    const had = JSON.parse(readFileSync(marker, 'utf8')) as typeof want;
    if (JSON.stringify(had) !== JSON.stringify(want)) throw new Error(`${marker} holds ${JSON.stringify(had)}, not ${JSON.stringify(want)}: remove ${root} or pass its --files/--mib/--data-mib`);
    reuse = true;
  } else if (FIXTURE) {
    await fs.rm(root, { recursive: true, force: true });
  }
  mkdirSync(root, { recursive: true });
  const home = path.join(root, 'home');
  mkdirSync(home, { recursive: true });
  // takeSnapshot starts git with this process's environment: give both sides the same one.
  const env = benchEnv(home);
  for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k];
  Object.assign(process.env, env);
  const top = path.join(root, 'repo');
  mkdirSync(top, { recursive: true });
  const git = (args: string[], input?: string) => runOk('git', args, { cwd: top, env, ...(input !== undefined ? { input } : {}) });

  try {
    // --- generate and commit -------------------------------------------------
    const tGen = process.hrtime.bigint();
    const names = layout(FILES);
    const sz = sizes(FILES, TOTAL_BYTES);
    const bytes = sz.reduce((a, b) => a + b, 0);
    let genS = 0;
    let commitS = 0;
    if (reuse) {
      // Back to the commit: only what the last run changed is rewritten (ignored files stay).
      await git(['reset', '-q', '--hard', 'HEAD']);
      await git(['clean', '-fdq']);
      // The dirty batches below use the generator's random stream after the contents: draw the same numbers.
      for (let i = 0; i < names.length; i++) rand();
    } else {
      await git(['init', '-q']);
      writeFile(top, '.gitignore', Buffer.from('build/\n*.tmp\ndata/\n'));
      names.forEach((n, i) => writeFile(top, n, content(n, sz[i]!)));
      // A gitignored data directory: git must not descend into it, nor git-run.
      if (FIXTURE) for (let i = 0; i < 32; i++) writeFile(top, `data/shard_${i}.bin`, Buffer.concat(Array.from({ length: DATA_MIB / 32 }, () => POOL.subarray(0, 2 ** 20))));
      genS = Number(process.hrtime.bigint() - tGen) / 1e9;
      const tCommit = process.hrtime.bigint();
      await git(['-c', 'gc.auto=0', 'add', '-A']);
      await git(['-c', 'gc.auto=0', 'commit', '-q', '--no-verify', '-m', 'generated tree']);
      commitS = Number(process.hrtime.bigint() - tCommit) / 1e9;
      if (FIXTURE) writeFileSync(marker, JSON.stringify(want));
    }
    const head = (await git(['rev-parse', 'HEAD'])).stdout.trim();
    const headTree = (await git(['rev-parse', 'HEAD^{tree}'])).stdout.trim();

    // --- make it dirty, in two equal batches ----------------------------------
    const tracked = new Set(names);
    const pick = () => {
      const all = [...tracked];
      return all[randInt(all.length)]!;
    };
    const modified = new Set<string>();
    const deleted: string[] = [];
    const untracked: string[] = [];
    /** 50 files rewritten at the same size, 50 appended to, 10 deleted, 100 new (60 beside tracked files, 40 in new directories). */
    const makeDirty = (batch: number) => {
      for (let i = 0; i < 100; i++) {
        const n = pick();
        if (i % 2) appendFileSync(path.join(top, n), content(n, 1 + randInt(4096)));
        else writeFile(top, n, content(n, statSync(path.join(top, n)).size));
        modified.add(n);
      }
      for (let i = 0; i < 10; i++) {
        const n = pick();
        unlinkSync(path.join(top, n));
        tracked.delete(n);
        modified.delete(n);
        deleted.push(n);
      }
      for (let i = 0; i < 100; i++) {
        const n = i < 60 ? `${path.dirname(pick())}/new_${batch}_${i}.py` : `new${batch}/a${i % 4}/b/new_${i}.txt`;
        writeFile(top, n, content(n, 512 + randInt(20_000)));
        untracked.push(n);
      }
    };
    // Ignored: must stay out of the snapshot.
    for (let i = 0; i < 50; i++) writeFile(top, `build/out_${i}.o`, content(`build/${i}`, 8192));
    for (let i = 0; i < 10; i++) writeFile(top, `${path.dirname(pick())}/scratch_${i}.tmp`, content(`tmp${i}`, 1024));

    const userIndex = path.join(top, '.git', 'index');
    const snapTmp = path.join(top, '.git', 'git-run', 'tmp');
    const repo = await openRepo(top);

    const checkIndex = (before: string, mtimeBefore: number, what: string) => {
      if (sha256(userIndex) !== before) throw new Error(`${what} changed the user's .git/index`);
      if (statSync(userIndex).mtimeMs !== mtimeBefore) throw new Error(`${what} changed the mtime of the user's .git/index`);
    };
    const ours = async () => {
      const before = sha256(userIndex);
      const mtime = statSync(userIndex).mtimeMs;
      const { ms, value } = await timeMs(() => takeSnapshot(repo, { sendIgnoreFile: null }));
      checkIndex(before, mtime, 'takeSnapshot');
      if (existsSync(snapTmp) && readdirSync(snapTmp).length) throw new Error(`takeSnapshot left files in ${snapTmp}: ${readdirSync(snapTmp).join(', ')}`);
      if (value.commit !== head || !value.dirty) throw new Error(`takeSnapshot: commit ${value.commit} dirty ${value.dirty}, expected ${head} and dirty`);
      return { ms, tree: value.tree };
    };
    let nativeCount = 0;
    const recipe = 'cp .git/index "$T" && GIT_INDEX_FILE="$T" git -c gc.auto=0 add -A && GIT_INDEX_FILE="$T" git write-tree; s=$?; rm -f "$T"; exit $s';
    const native = async () => {
      const before = sha256(userIndex);
      const mtime = statSync(userIndex).mtimeMs;
      const T = path.join(top, '.git', `bench-native-${process.pid}-${nativeCount++}.index`);
      const { ms, value } = await timeMs(() => run('sh', ['-c', recipe], { cwd: top, env: { ...env, T } }));
      if (value.code !== 0) throw new Error(`native recipe exited ${value.code ?? value.signal}: ${value.stderr}`);
      checkIndex(before, mtime, 'the native recipe');
      return { ms, tree: value.stdout.trim() };
    };

    // --- cold: the first snapshot after a batch of changes --------------------
    // The first to run after a batch also writes the batch's new blobs; each
    // side goes first once. Batch 2 adds to batch 1, so takeSnapshot's cold
    // run has the (slightly) larger change set to hash.
    const cold = async (batch: number, oursFirst: boolean) => {
      makeDirty(batch);
      // Let the kernel write back what was just written before anything is timed.
      await runOk('sync', [], { cwd: top, env });
      const first = oursFirst ? await ours() : await native();
      const second = oursFirst ? await native() : await ours();
      const [o, nat] = oursFirst ? [first, second] : [second, first];
      if (o.tree !== nat.tree) throw new Error(`cold batch ${batch}: trees differ: takeSnapshot ${o.tree}, native ${nat.tree}`);
      if (o.tree === headTree) throw new Error('the snapshot equals HEAD: the tree was not dirty');
      return { ours: o, native: nat };
    };
    const mach = machine();
    const cold1 = await cold(1, false);
    const cold2 = await cold(2, true);
    const expectedPaths = tracked.size + 1 + untracked.length; // + .gitignore

    // The snapshot holds what `git add -A` would commit, nothing else.
    const listed = (await git(['ls-tree', '-r', '-z', '--name-only', cold2.ours.tree])).stdout.split('\0').filter(Boolean);
    const inTree = new Set(listed);
    const problems: string[] = [];
    if (listed.length !== expectedPaths) problems.push(`${listed.length} paths, expected ${expectedPaths}`);
    for (const n of untracked) if (!inTree.has(n)) problems.push(`untracked ${n} missing`);
    for (const n of deleted) if (inTree.has(n)) problems.push(`deleted ${n} still there`);
    for (const n of listed) if (n.startsWith('build/') || n.startsWith('data/') || n.endsWith('.tmp')) problems.push(`ignored ${n} included`);
    if (problems.length) throw new Error(`the snapshot is not the expected tree:\n  ${problems.slice(0, 10).join('\n  ')}`);
    for (const probe of [...modified].slice(0, 20)) {
      const probeBytes = await runGitBlob(top, env, `${cold2.ours.tree}:${probe}`);
      if (!probeBytes.equals(readFileSync(path.join(top, probe)))) throw new Error(`the snapshot's ${probe} differs from the work tree`);
    }

    // --- warm: edit one file, then time both, interleaved ---------------------
    const oursMs: number[] = [];
    const nativeMs: number[] = [];
    const started = Date.now();
    for (let i = 0; i < ITERATIONS; i++) {
      const n = pick();
      appendFileSync(path.join(top, n), `edit ${i} ${crypto.randomBytes(8).toString('hex')}\n`);
      const pair = i % 2 === 0 ? [ours, native] : [native, ours];
      const [first, second] = [await pair[0]!(), await pair[1]!()];
      const [o, nat] = i % 2 === 0 ? [first, second] : [second, first];
      if (o.tree !== nat.tree) throw new Error(`iteration ${i}: trees differ: takeSnapshot ${o.tree}, native ${nat.tree}`);
      const got = await runGitBlob(top, env, `${o.tree}:${n}`);
      if (!got.equals(readFileSync(path.join(top, n)))) throw new Error(`iteration ${i}: the edit of ${n} is not in the snapshot`);
      oursMs.push(o.ms);
      nativeMs.push(nat.ms);
    }
    const elapsed = (Date.now() - started) / 1000;

    const a = stats(oursMs);
    const b = stats(nativeMs);
    const ratio = a.median / b.median;
    const cmd = commandLine();
    const fileCount = listed.length;
    console.log(`command: ${cmd}   (git-run ${revision()})`);
    console.log(`machine: ${mach.cpus} cores, node ${process.version}, ${mach.git}, load average ${mach.loadAverage1m} at start`);
    console.log(
      `tree: ${FILES.toLocaleString('en')} files, ${(bytes / 2 ** 20).toFixed(1)} MiB committed (${reuse ? `reused from ${root}` : `generated in ${genS.toFixed(1)} s, add+commit ${commitS.toFixed(1)} s`}); ` +
        `dirty: ${modified.size} modified, ${deleted.length} deleted, ${untracked.length} untracked, 60 ignored files${FIXTURE ? ` and an ignored data/ of ${DATA_MIB} MiB` : ''}; snapshot holds ${fileCount} paths`,
    );
    console.log('');
    printTable(
      ['cold: first snapshot after a batch of changes', 'takeSnapshot ms', 'native ms'],
      [
        ['batch 1 (native first)', cold1.ours.ms.toFixed(1), cold1.native.ms.toFixed(1)],
        ['batch 2 (takeSnapshot first)', cold2.ours.ms.toFixed(1), cold2.native.ms.toFixed(1)],
      ],
    );
    console.log(`cold, each side when it went first: takeSnapshot ${cold2.ours.ms.toFixed(1)} ms, native ${cold1.native.ms.toFixed(1)} ms (ratio ${fmtRatio(cold2.ours.ms / cold1.native.ms)}; one sample each)`);
    console.log('');
    printTable(STATS_HEADERS, [statsRow('takeSnapshot()', oursMs), statsRow('native recipe', nativeMs)]);
    console.log('');
    console.log(`ratio takeSnapshot / native (warm medians): ${fmtRatio(ratio)}   goal <= ${GOAL.toFixed(2)}: ${ratio <= GOAL ? 'MET' : 'NOT MET'}`);
    console.log(`checks passed: same tree every time (${ITERATIONS + 2} pairs), .git/index byte-identical and mtime kept, no temporary index left, expected paths and contents`);
    console.log(`measured section: ${elapsed.toFixed(1)} s`);

    const file = await writeResults(FIXTURE ? `snapshot-${FILES}` : 'snapshot', {
      benchmark: 'snapshot',
      command: cmd,
      nativeRecipe: 'cp .git/index $T && GIT_INDEX_FILE=$T git -c gc.auto=0 add -A && GIT_INDEX_FILE=$T git write-tree',
      date: new Date().toISOString(),
      gitRunRevision: revision(),
      machine: mach,
      tree: {
        files: FILES,
        mib: Number((bytes / 2 ** 20).toFixed(1)),
        generateSeconds: Number(genS.toFixed(2)),
        addCommitSeconds: Number(commitS.toFixed(2)),
        modified: modified.size,
        deleted: deleted.length,
        untracked: untracked.length,
        ignored: 60,
        snapshotPaths: fileCount,
      },
      iterations: ITERATIONS,
      unit: 'ms',
      cold: {
        note: 'one sample each: the first snapshot after a batch of 100 modified, 10 deleted, 100 new files; whoever runs first also writes the new blobs',
        batch1NativeFirst: { takeSnapshot: Number(cold1.ours.ms.toFixed(2)), native: Number(cold1.native.ms.toFixed(2)) },
        batch2TakeSnapshotFirst: { takeSnapshot: Number(cold2.ours.ms.toFixed(2)), native: Number(cold2.native.ms.toFixed(2)) },
        ratioWhenFirst: Number((cold2.ours.ms / cold1.native.ms).toFixed(3)),
      },
      warm: { takeSnapshot: statsJson(oursMs), native: statsJson(nativeMs) },
      ratio: Number(ratio.toFixed(3)),
      goal: GOAL,
      goalMet: ratio <= GOAL,
      fixture: FIXTURE ? { dir: root, reused: reuse, dataMib: DATA_MIB } : null,
      checks: { sameTree: true, userIndexByteIdentical: true, userIndexMtimeKept: true, noTemporaryIndexLeft: true, expectedPaths: true },
    });
    console.log(`figures written to ${path.relative(process.cwd(), file) || file}`);
  } finally {
    if (!FIXTURE) await fs.rm(root, { recursive: true, force: true });
  }
}

/** A blob's raw bytes (run() decodes as UTF-8, which would mangle binary data). */
async function runGitBlob(cwd: string, env: NodeJS.ProcessEnv, spec: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['cat-file', 'blob', spec], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`git cat-file blob ${spec}: ${err}`))));
  });
}

runBench(main);
