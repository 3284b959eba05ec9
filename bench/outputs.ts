/**
 * Outputs back from an ssh host as git objects (issue 16, decision 0023)
 * against the tar path, on a real OpenSSH server on 127.0.0.1, side by side
 * (the order of the two swaps each round), each run timed from spawn to exit:
 *
 *   A  a run that writes a --mib MiB checkpoint of incompressible bytes
 *      (AES-CTR of zeros, a new key each round): the first send;
 *   B  the same checkpoint with --changed MiB at one place replaced by other
 *      incompressible bytes: goal, bytes fetched <= 2x the changed part;
 *   C  the checkpoint of A again, from another command: a repeated output,
 *      ~0 bytes;
 *
 * with "outputs_objects": true (objects) and false (tar) in two host
 * profiles of the same host, and "large_output": "off" (above the LFS
 * threshold the tar path is kept: decision 0023). Bytes fetched are the
 * run's own record (result.json outputBytesFetched: the pack, or the tar
 * stream). Then a run with one small output (`echo i > out.txt`), default
 * profile (tar through the control shell) against objects forced, --small
 * rounds: the objects path must not make it slower, which is why it is not
 * the default below 16 MiB.
 *
 * Usage: node dist/bench/outputs.js [--rounds N] [--mib N] [--changed N] [--small N]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSshd, type Sshd } from '../test/sshd.js';
import { CLI, benchEnv, commandLine, fmtRatio, intArg, machine, median, printTable, revision, run, runOk, smallRepo, statsJson, statsRow, STATS_HEADERS, timeMs, writeResults, runBench } from './lib.js';

const ROUNDS = intArg('rounds', 3);
const MIB = intArg('mib', 100);
const CHANGED = intArg('changed', 1);
const SMALL = intArg('small', 6);

/** A node command writing `mib` MiB (AES-CTR of zeros under key k), with [at, at+len) MiB from key k2. */
function checkpoint(k: number, at = 0, len = 0, k2 = 0): string[] {
  const src =
    `const c=require('crypto');const M=1048576;const s=c.createCipheriv('aes-128-ctr',Buffer.alloc(16,${k}),Buffer.alloc(16));` +
    `const t=c.createCipheriv('aes-128-ctr',Buffer.alloc(16,${k2}),Buffer.alloc(16));const fd=require('fs').openSync('ck.bin','w');` +
    `for(let i=0;i<${MIB};i++){const b=s.update(Buffer.alloc(M));const o=(i>=${at}&&i<${at + len})?t.update(Buffer.alloc(M)):b;require('fs').writeSync(fd,o);}`;
  return [process.execPath, '-e', src];
}

async function main(): Promise<void> {
  const base = mkdtempSync(path.join(os.tmpdir(), 'git-run-bench-outputs-'));
  const home = path.join(base, 'home');
  const repo = path.join(base, 'repo');
  const env = { ...benchEnv(home), SSH_AUTH_SOCK: '' };
  let sshd: Sshd | null = null;
  try {
    await runOk('mkdir', ['-p', home, repo], { cwd: base });
    sshd = await startSshd(path.join(base, 'sshd'));
    await smallRepo(repo, env);
    const profile = { type: 'ssh', host: 'testhost', ssh_config: sshd.config, remote_dir: path.join(base, 'remote') };
    writeFileSync(path.join(repo, '.runconfig'), JSON.stringify({ large_output: 'off', hosts: { objects: { ...profile, outputs_objects: true }, tar: { ...profile, outputs_objects: false }, plain: profile } }));
    await runOk('git', ['add', '.runconfig'], { cwd: repo, env });
    await runOk('git', ['commit', '-q', '-m', 'hosts'], { cwd: repo, env });

    const ids = async () => new Set((await runOk('git', ['for-each-ref', '--format=%(refname:lstrip=2)', 'refs/runs/'], { cwd: repo, env })).stdout.split('\n').filter(Boolean));
    /** One run: wall ms, and the bytes its record says came back. */
    const gitRun = async (host: string, cmd: string[]): Promise<{ ms: number; bytes: number; transfer: string }> => {
      const before = await ids();
      const { ms, value } = await timeMs(() => run(process.execPath, [CLI, '-q', '--host', host, '--', ...cmd], { cwd: repo, env }));
      if (value.code !== 0) throw new Error(`git run --host ${host} failed (${value.code}): ${value.stderr}`);
      const id = [...(await ids())].find((i) => !before.has(i))!;
      const r = JSON.parse((await runOk('git', ['cat-file', 'blob', `refs/runs/${id}:result.json`], { cwd: repo, env })).stdout);
      if (r.status !== 'succeeded') throw new Error(`run ${id} ${r.status}: ${r.error}`);
      return { ms, bytes: r.outputBytesFetched, transfer: r.outputsTransfer };
    };

    const modes = ['objects', 'tar'] as const;
    const res = Object.fromEntries(modes.map((m) => [m, { A: { ms: [] as number[], bytes: [] as number[] }, B: { ms: [] as number[], bytes: [] as number[] }, C: { ms: [] as number[], bytes: [] as number[] } }]));
    for (let r = 0; r < ROUNDS; r++) {
      for (let j = 0; j < modes.length; j++) {
        const mode = modes[(r + j) % modes.length]!;
        const k = 10 + r * 2 + (mode === 'tar' ? 1 : 0);
        const at = (r * 37) % Math.max(1, MIB - CHANGED);
        for (const [step, cmd] of [
          ['A', checkpoint(k)],
          ['B', checkpoint(k, at, CHANGED, 200 + k)],
          ['C', ['sh', '-c', '"$0" "$@"; true', ...checkpoint(k)]],
        ] as const) {
          const got = await gitRun(mode, [...cmd]);
          if (got.transfer !== mode) throw new Error(`expected the ${mode} path, the record says ${got.transfer}`);
          res[mode]![step as 'A' | 'B' | 'C'].ms.push(got.ms);
          res[mode]![step as 'A' | 'B' | 'C'].bytes.push(got.bytes);
        }
      }
    }

    const small = { plain: [] as number[], objects: [] as number[] };
    for (let i = 0; i < SMALL; i++) {
      const order = i % 2 ? (['objects', 'plain'] as const) : (['plain', 'objects'] as const);
      for (const h of order) {
        const got = await gitRun(h, ['sh', '-c', `echo ${h}-${i} > out.txt`]);
        if (got.transfer !== (h === 'plain' ? 'tar' : 'objects')) throw new Error(`small output: ${h} took ${got.transfer}`);
        small[h].push(got.ms);
      }
    }

    const changedBytes = CHANGED * 2 ** 20;
    const rows: string[][] = [];
    for (const m of modes) for (const s of ['A', 'B', 'C'] as const) rows.push(statsRow(`${m} ${s}`, res[m]![s].ms));
    printTable(STATS_HEADERS, [...rows, statsRow('one small output: tar (default)', small.plain), statsRow('one small output: objects forced', small.objects)]);
    const mb = (xs: number[]) => `${(median(xs) / 2 ** 20).toFixed(3)} MiB`;
    printTable(
      ['bytes fetched (median)', 'objects', 'tar'],
      (['A', 'B', 'C'] as const).map((s) => [{ A: `A first ${MIB} MiB`, B: `B ${CHANGED} MiB changed`, C: 'C repeated' }[s], mb(res.objects![s].bytes), mb(res.tar![s].bytes)]),
    );
    const goal = median(res.objects!.B.bytes) / changedBytes;
    console.log(`B: objects fetched ${fmtRatio(goal)}x the changed part (goal <= 2); tar ${fmtRatio(median(res.tar!.B.bytes) / changedBytes)}x`);
    console.log(`B wall: objects / tar ${fmtRatio(median(res.objects!.B.ms) / median(res.tar!.B.ms))}; C wall: ${fmtRatio(median(res.objects!.C.ms) / median(res.tar!.C.ms))}; A wall: ${fmtRatio(median(res.objects!.A.ms) / median(res.tar!.A.ms))}`);
    console.log(`one small output: objects forced / tar ${fmtRatio(median(small.objects) / median(small.plain))}`);
    const file = await writeResults('outputs', {
      command: commandLine(),
      revision: revision(),
      machine: machine(),
      mib: MIB,
      changedMiB: CHANGED,
      rounds: ROUNDS,
      ...Object.fromEntries(modes.map((m) => [m, Object.fromEntries((['A', 'B', 'C'] as const).map((s) => [s, { ms: statsJson(res[m]![s].ms), bytes: res[m]![s].bytes }]))])),
      small: { tar: statsJson(small.plain), objects: statsJson(small.objects) },
      goalRatio: goal,
    });
    console.log(`results: ${file}`);
  } finally {
    sshd?.stop();
    rmSync(base, { recursive: true, force: true });
  }
}

runBench(main);
