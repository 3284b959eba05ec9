/**
 * A scale fixture for query benchmarks: `<dir>/runs`, a repository holding
 * <count> runs in git-run's own storage format, and `<dir>/commits`, the
 * same runs as a commit-message-based tracker would keep them (one commit
 * per run, its fields as `key: value` lines), to compare queries against.
 *
 *   runs/     main: ~300 source commits (src/model.py, configs/*.yaml, ...)
 *             refs/runs/<id>: spec -> started -> finished commits (a group:
 *             spec -> children), each run's code/ the tree of one main commit
 *             refs/notes/runs: metadata events of ~30% of the runs
 *   commits/  main: one commit per run, in the same order, author date = createdAt
 *             code: the same source commits (their trees are the run commits' trees)
 *
 * Each repository is written by ONE `git fast-import` process reading a stream
 * on its stdin: spawning git per object would take hours at 100,000 runs. A
 * run's id is its spec commit's object id, and the id is needed before the
 * commit is written (the ref's name, a child's `parent`, the group's
 * children.json), so every object on the way to a spec commit (the source
 * trees, run.json, the spec tree) is hashed here as git would hash it, and the
 * marks fast-import exports are checked against those ids afterwards.
 *
 * Everything comes from a seeded PRNG: the same count gives the same
 * repositories, byte for byte. fixtureModel() is the pure half (no I/O), so a
 * test can compare what the CLI reads with what was meant to be written.
 *
 * Usage: npm run bench:fixture -- <dir> <count>
 *        (node dist/bench/fixture.js <dir> <count>)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { prng, runOk } from './lib.js';
import { LooseObjectWriter } from '../src/git/loose.js';
import { NOTES_REF, RUNS_PREFIX } from '../src/git/refs.js';
import { NATIVE_RUN_ARGS } from '../src/core/definition.js';
import { childName, childSeed, substitute } from '../src/core/sweep.js';
import { groupStatus } from '../src/api/groups.js';
import {
  canonicalJson, foldMetadata, formatEvent, runKey,
  type GroupChild, type Metadata, type MetadataEvent, type RunResult, type RunSpec, type RunState, type Status,
} from '../src/core/record.js';
import type { LocalHandle } from '../src/executors/local/supervise.js';
import type { RemoteHandle } from '../src/executors/ssh/remote.js';

// --- hashing as git does (SHA-1 repositories) --------------------------------

const hasher = new LooseObjectWriter('', 'sha1');
const oidOf = (type: 'blob' | 'tree' | 'commit', body: string | Buffer): string => hasher.hash(type, typeof body === 'string' ? Buffer.from(body) : body).oid;

interface TreeItem {
  mode: '100644' | '40000';
  name: string;
  oid: string;
}

/** A tree object's body: entries in git's order (a tree sorts as if named "name/"). */
function treeBody(items: TreeItem[]): Buffer {
  const key = (e: TreeItem) => Buffer.from(e.name + (e.mode === '40000' ? '/' : ''));
  const parts: Buffer[] = [];
  for (const e of [...items].sort((a, b) => Buffer.compare(key(a), key(b)))) parts.push(Buffer.from(`${e.mode} ${e.name}\0`), Buffer.from(e.oid, 'hex'));
  return Buffer.concat(parts);
}

type Dir = Map<string, string | Dir>;

/** The root tree id of files given as path -> blob id. */
function treeOfFiles(blobs: Map<string, string>): string {
  const root: Dir = new Map();
  for (const [p, oid] of blobs) {
    const parts = p.split('/');
    let d = root;
    for (const part of parts.slice(0, -1)) {
      let sub = d.get(part);
      if (!(sub instanceof Map)) d.set(part, (sub = new Map()));
      d = sub;
    }
    d.set(parts[parts.length - 1]!, oid);
  }
  const hashDir = (d: Dir): string =>
    oidOf('tree', treeBody([...d].map(([name, v]) => (typeof v === 'string' ? { mode: '100644' as const, name, oid: v } : { mode: '40000' as const, name, oid: hashDir(v) }))));
  return hashDir(root);
}

/** "<unix seconds> +0000": every fixture date is UTC, so the bytes do not depend on the machine's time zone. */
const stamp = (ms: number): string => `${Math.floor(ms / 1000)} +0000`;

function commitBody(tree: string, parents: string[], ident: string, ms: number, message: string): string {
  return [`tree ${tree}`, ...parents.map((p) => `parent ${p}`), `author ${ident} ${stamp(ms)}`, `committer ${ident} ${stamp(ms)}`, '', message].join('\n');
}

// --- the deterministic model --------------------------------------------------

export const FIXTURE_SEED = 20_250_106;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** First source commit; runs start a week later and spread over the following year. */
export const START = Date.UTC(2025, 0, 6, 9, 0, 0);
const RUNS_FROM = START + 7 * DAY;
const SPAN = 365 * DAY;
export const SOURCE_COMMITS = 300;

export const LRS = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3];
export const BATCHES = [16, 32, 64, 128];
export const OPTIMIZERS = ['sgd', 'adam', 'adamw'];
export const DROPOUTS = [0, 0.1, 0.2, 0.3, 0.5];
export const TAGS = ['baseline', 'ablation', 'best', 'v2', 'paper', 'debug'];
const DATASETS = ['cifar10', 'cifar100', 'imagenet-64'];
const SCHEDULES = ['cosine', 'step', 'constant'];

interface Creator {
  ident: string;
  /** The workstation its local runs start on. */
  machine: string;
  home: string;
  host: { platform: string; arch: string; release: string };
}

const LINUX = { platform: 'linux', arch: 'x64', release: '6.8.0-45-generic' };
export const CREATORS: Creator[] = [
  { ident: 'Ada Lovelace <ada@lab.example>', machine: 'ada-ws', home: '/home/ada', host: LINUX },
  { ident: 'Grace Hopper <grace@lab.example>', machine: 'grace-laptop', home: '/home/grace', host: { platform: 'linux', arch: 'x64', release: '6.5.0-35-generic' } },
  { ident: 'Alan Turing <alan@lab.example>', machine: 'bletchley', home: '/home/alan', host: LINUX },
  { ident: 'Zoë Müller <zoe@lab.example>', machine: 'zoe-ws', home: '/home/zoe', host: LINUX },
  { ident: 'Katherine Johnson <kj@lab.example>', machine: 'kj-mac', home: '/Users/kj', host: { platform: 'darwin', arch: 'arm64', release: '23.6.0' } },
];
const CREATOR_WEIGHTS = [35, 25, 15, 15, 10];

interface HostChoice {
  name: 'local' | 'gpu1' | 'cluster';
  /** The ssh alias (hostProfile.host), null for local. */
  alias: string | null;
  /** What `ssh -G` resolves the alias to: the remote handle's hostname. */
  hostname: string | null;
  /** The profile's extra keys: run_args at the dataset level. */
  profileArgs: Record<string, unknown>;
  maxParallel: number | null;
}

const HOSTS: HostChoice[] = [
  { name: 'local', alias: null, hostname: null, profileArgs: {}, maxParallel: null },
  { name: 'gpu1', alias: 'gpu1', hostname: 'gpu1.lab.example', profileArgs: {}, maxParallel: 4 },
  { name: 'cluster', alias: 'login.cluster.example', hostname: 'cluster-login1', profileArgs: { remote_dir: '/scratch/git-run' }, maxParallel: 16 },
];
const HOST_WEIGHTS = [50, 30, 20];

/** The native run_args defaults, as submit.ts computes them (keys with a null default are absent). */
const NATIVE_DEFAULTS: Record<string, unknown> = Object.fromEntries(Object.entries(NATIVE_RUN_ARGS).filter(([, v]) => v.default !== null).map(([k, v]) => [k, v.default]));
/** No .sendignore / .fetchignore in the fixture's source tree: submit.ts records null for both. */
const FIXED_ARGS = { send_ignore: null, fetch_ignore: null };

/** A pid above Linux's PID_MAX_LIMIT (2^22): the supervisor of a fixture's 'running' run cannot be alive anywhere. */
export const DEAD_PID = 4_194_305;

class Rand {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  weighted<T>(xs: readonly T[], weights: readonly number[]): T {
    const total = weights.reduce((a, b) => a + b, 0);
    let r = this.next() * total;
    for (let i = 0; i < xs.length; i++) if ((r -= weights[i]!) < 0) return xs[i]!;
    return xs[xs.length - 1]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  /** Log-normal milliseconds around `median`, clamped to [lo, hi]. */
  duration(median: number, lo: number, hi: number): number {
    return Math.round(Math.min(hi, Math.max(lo, median * Math.exp(this.normal()))));
  }
  /** Fisher-Yates: the order depends on the seed only, not on the engine's sort. */
  shuffle<T>(xs: readonly T[]): T[] {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
  hex(bytes: number): string {
    let s = '';
    for (let i = 0; i < bytes; i++) s += Math.floor(this.next() * 256).toString(16).padStart(2, '0');
    return s;
  }
  uuid(): string {
    const h = this.hex(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
}

const r4 = (x: number) => Number(x.toFixed(4));

// --- source history ---------------------------------------------------------

export interface SourceCommit {
  oid: string;
  tree: string;
  /** Milliseconds since the epoch (author and committer date). */
  time: number;
  author: string;
  message: string;
  /** Files written by this commit (the first commit writes them all). */
  changes: Array<{ path: string; content: string }>;
  /** Bytes of all files in the tree: what a host without it is sent. */
  bytes: number;
}

const INITIAL_FILES: Record<string, string[]> = {
  'README.md': ['# image classifier', '', 'Train with `python src/train.py --config configs/base.yaml`.', ''],
  'requirements.txt': ['numpy==1.26.4', 'torch==2.3.1', 'pyyaml==6.0.1'],
  '.gitignore': ['__pycache__/', '*.pt', 'wandb/'],
  'src/model.py': ['import torch.nn as nn', '', 'class Net(nn.Module):', '    def __init__(self, width=64, dropout=0.1):', '        super().__init__()', '        self.width = width', ''],
  'src/data.py': ['import numpy as np', '', 'def load(name, batch):', '    return np.load(f"data/{name}.npz")', ''],
  'src/train.py': ['import argparse', 'from model import Net', 'from data import load', '', 'def main():', '    p = argparse.ArgumentParser()', ''],
  'src/utils.py': ['import random', '', 'def seed_everything(seed):', '    random.seed(seed)', ''],
  'src/eval.py': ['import json', '', 'def evaluate(model, data):', '    return {"acc": 0.0}', ''],
  'configs/base.yaml': ['lr: 0.01', 'batch: 64', 'optimizer: adam', 'dropout: 0.1', 'epochs: 10'],
  'configs/small.yaml': ['lr: 0.03', 'batch: 32', 'optimizer: sgd', 'epochs: 5'],
  'configs/large.yaml': ['lr: 0.003', 'batch: 128', 'optimizer: adamw', 'epochs: 30'],
  'tests/test_model.py': ['from src.model import Net', '', 'def test_width():', '    assert Net().width == 64', ''],
  'tests/test_data.py': ['from src.data import load', '', 'def test_load():', '    pass', ''],
  'scripts/sweep.sh': ['#!/bin/sh', 'for lr in 0.001 0.01 0.1; do', '  git run -p lr=$lr -- python src/train.py --lr $lr', 'done'],
};

const AREAS: Array<{ paths: string[]; weight: number; area: string }> = [
  { paths: ['src/model.py'], weight: 25, area: 'model' },
  { paths: ['src/data.py'], weight: 15, area: 'data' },
  { paths: ['src/train.py'], weight: 15, area: 'train' },
  { paths: ['configs/base.yaml', 'configs/small.yaml', 'configs/large.yaml'], weight: 20, area: 'configs' },
  { paths: ['README.md'], weight: 6, area: 'docs' },
  { paths: ['tests/test_model.py', 'tests/test_data.py'], weight: 8, area: 'tests' },
  { paths: ['src/utils.py', 'src/eval.py'], weight: 8, area: 'utils' },
  { paths: ['requirements.txt', 'scripts/sweep.sh'], weight: 3, area: 'build' },
];
const VERBS = ['add', 'fix', 'tune', 'refactor', 'simplify', 'rename', 'document', 'speed up'];
const NOUNS = ['residual block', 'data loader', 'augmentation', 'warmup', 'weight decay', 'checkpointing', 'logging', 'eval loop', 'mixed precision', 'label smoothing'];

function newLine(rand: Rand, file: string, k: number): string {
  if (file.endsWith('.py')) return `    x = ${rand.pick(['conv', 'norm', 'pool', 'attn', 'mlp'])}_${k}(x)  # ${rand.pick(NOUNS)}`;
  if (file.endsWith('.yaml')) return `${rand.pick(['warmup', 'decay', 'clip', 'smoothing', 'width'])}_${k}: ${r4(rand.next())}`;
  if (file.endsWith('.md')) return `- ${rand.pick(VERBS)} ${rand.pick(NOUNS)} (change ${k})`;
  if (file.endsWith('.sh')) return `# ${rand.pick(NOUNS)} ${k}`;
  return `pkg${k}==1.${k % 10}.0`;
}

/** ~300 commits on main touching varied paths, hashed here (run.json needs their ids before anything is written). */
export function sourceHistory(n = SOURCE_COMMITS): SourceCommit[] {
  const rand = new Rand(FIXTURE_SEED);
  const files = new Map<string, string[]>(Object.entries(INITIAL_FILES).map(([p, lines]) => [p, [...lines]]));
  const blobs = new Map<string, string>();
  const commits: SourceCommit[] = [];
  let time = START;
  let parent: string | null = null;
  for (let k = 0; k < n; k++) {
    let touched: string[];
    let message: string;
    if (k === 0) {
      touched = [...files.keys()];
      message = 'Initial commit\n';
    } else {
      const area = rand.weighted(AREAS, AREAS.map((a) => a.weight));
      touched = [...new Set(Array.from({ length: rand.int(1, 2) }, () => rand.pick(area.paths)))];
      // Now and then a change reaches into a second area, or adds a file.
      if (rand.chance(0.25)) touched.push(rand.pick(rand.weighted(AREAS, AREAS.map((a) => a.weight)).paths));
      if (rand.chance(0.04)) {
        const added = rand.chance(0.5) ? `configs/exp_${k}.yaml` : `src/layers/block_${k}.py`;
        files.set(added, [added.endsWith('.py') ? 'import torch.nn as nn' : `name: exp_${k}`]);
        touched.push(added);
      }
      touched = [...new Set(touched)];
      message = `${area.area}: ${rand.pick(VERBS)} ${rand.pick(NOUNS)}\n`;
      if (rand.chance(0.3)) message += `\nPart of the ${rand.pick(NOUNS)} work; see #${k}.\n`;
      for (const f of touched) {
        const lines = files.get(f)!;
        const r = rand.next();
        if (r < 0.45 && lines.length < 60) lines.push(newLine(rand, f, k));
        else if (r < 0.9 || lines.length < 4) lines[rand.int(0, lines.length - 1)] = newLine(rand, f, k);
        else lines.splice(rand.int(1, lines.length - 1), 1);
      }
    }
    const changes = touched.map((p) => ({ path: p, content: files.get(p)!.join('\n') + '\n' }));
    for (const c of changes) blobs.set(c.path, oidOf('blob', c.content));
    let bytes = 0;
    for (const lines of files.values()) bytes += Buffer.byteLength(lines.join('\n') + '\n');
    const tree = treeOfFiles(blobs);
    time += Math.round((SPAN / n) * (0.2 + 1.6 * rand.next()));
    const author = rand.weighted(CREATORS, CREATOR_WEIGHTS).ident;
    const oid = oidOf('commit', commitBody(tree, parent ? [parent] : [], author, time, message));
    commits.push({ oid, tree, time, author, message, changes, bytes });
    parent = oid;
  }
  return commits;
}

// --- runs ---------------------------------------------------------------------

export interface FixtureRun {
  id: string;
  spec: RunSpec;
  /** run.json's text, exactly as writeSpecCommit writes it. */
  runJson: string;
  /** The spec commit's message. */
  submitted: string;
  state: RunState | null;
  result: RunResult | null;
  /** The status its commits record (a group: null; see FixtureEntry.status). */
  status: Status | null;
  stdout: string;
  stderr: string;
  /** metrics.json (top level and outputs/metrics.json), or null when the run wrote none. */
  metrics: Record<string, unknown> | null;
  /** Other files under outputs/. */
  outputs: Array<{ path: string; content: string }>;
  /** Commit times (ms): started, finished. */
  startedAt: number | null;
  endedAt: number | null;
}

export interface FixtureEntry {
  /** The run, or the group. */
  run: FixtureRun;
  children: FixtureRun[];
  /** A group's children.json (its second commit), null for a run. */
  childrenJson: string | null;
  /** The note on run.id (one event per line), empty when none. */
  events: MetadataEvent[];
  /** The folded metadata (children show their group's, under their own name). */
  meta: Metadata;
  /** As git-run reports it: a group's from its children. */
  status: Status;
  createdAt: number;
  creator: string;
}

export interface FixtureModel {
  source: SourceCommit[];
  /** Runs in createdAt order; a group is one entry with its children. Lazy: 100,000 runs never sit in memory at once. */
  entries(): Generator<FixtureEntry>;
}

const summary = (command: string[]): string => {
  // store/runs.ts's spec commit subject.
  const s = command.join(' ').replace(/\s+/g, ' ');
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
};

/** The spec commit (= the run id) of a spec, hashed the way git stores it. */
function specCommit(spec: RunSpec, ms: number): { id: string; runJson: string; submitted: string } {
  const runJson = JSON.stringify(spec, null, 2) + '\n';
  const tree = oidOf('tree', treeBody([{ mode: '100644', name: 'run.json', oid: oidOf('blob', runJson) }, { mode: '40000', name: 'code', oid: spec.code.tree }]));
  const submitted = `submitted: ${summary(spec.command)}\n`;
  return { id: oidOf('commit', commitBody(tree, [], spec.creator, ms, submitted)), runJson, submitted };
}

interface Context {
  creator: Creator;
  host: HostChoice;
  code: SourceCommit;
  createdAt: number;
}

function metricsFor(rand: Rand, params: Record<string, unknown>): Record<string, unknown> {
  const lr = Number(params.lr);
  const best = params.optimizer === 'sgd' ? 0.1 : 0.003;
  let acc = 0.93 - 0.06 * Math.abs(Math.log10(lr / best)) - 0.01 * Math.abs(Math.log2(Number(params.batch) / 64)) - 0.08 * Math.abs(Number(params.dropout) - 0.2) + 0.01 * rand.normal();
  if (params.dataset === 'cifar100') acc -= 0.2;
  if (params.dataset === 'imagenet-64') acc -= 0.3;
  acc = Math.min(0.995, Math.max(0.05, acc));
  const loss = Math.max(0.01, -Math.log(acc) * 1.3 + 0.02 * rand.normal());
  const m: Record<string, unknown> = {
    acc: r4(acc),
    loss: r4(loss),
    val: { acc: r4(Math.max(0.01, acc - 0.015 - 0.01 * Math.abs(rand.normal()))), loss: r4(loss + 0.05 + 0.03 * Math.abs(rand.normal())) },
    epochs: rand.int(3, 12),
  };
  if (rand.chance(0.25)) m.test = { acc: r4(Math.max(0.01, acc - 0.02 - 0.01 * Math.abs(rand.normal()))) };
  return m;
}

function trainingLog(rand: Rand, command: string[], epochs: number, final: Record<string, unknown> | null): string {
  let s = `training: ${command.join(' ')}\n`;
  let loss = 2.3;
  for (let e = 1; e <= epochs; e++) {
    loss *= 0.6 + 0.3 * rand.next();
    s += `epoch ${e}/${final ? epochs : epochs + rand.int(1, 10)} loss ${loss.toFixed(4)}\n`;
  }
  if (final) s += `final acc ${String(final.acc)} loss ${String(final.loss)}\n`;
  return s;
}

const SIGKILL_NOTE = 'Killed\n';

/** What happens to one run after submission: its state, result, logs and outputs. */
function lifecycle(rand: Rand, ctx: Context, id: string, spec: RunSpec, outcome: Status, sendsCode: boolean): Omit<FixtureRun, 'id' | 'spec' | 'runJson' | 'submitted'> {
  const remote = ctx.host.name !== 'local';
  const out: Omit<FixtureRun, 'id' | 'spec' | 'runJson' | 'submitted'> = { state: null, result: null, status: outcome, stdout: '', stderr: '', metrics: null, outputs: [], startedAt: null, endedAt: null };
  if (outcome === 'queued') return out;
  const cancelledEarly = outcome === 'cancelled' && !remote && rand.chance(0.3);
  const monthly = (m: string) => {
    // A machine reboots now and then: one boot id per machine and month.
    const h = crypto.createHash('sha1').update(`${m} ${new Date(ctx.createdAt).toISOString().slice(0, 7)}`).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  };
  if (!cancelledEarly) {
    const startedAt = ctx.createdAt + (remote ? rand.duration(20 * SECOND, 2 * SECOND, 10 * MINUTE) : rand.duration(400, 50, 5 * SECOND));
    const supervisor = { pid: outcome === 'running' ? DEAD_PID : rand.int(1000, 400_000), start: String(rand.int(100_000, 900_000_000)) };
    let handle: LocalHandle | RemoteHandle;
    if (remote) {
      const base = typeof spec.runArgs.remote_dir === 'string' ? spec.runArgs.remote_dir : '.git-run';
      handle = {
        executor: 'ssh',
        profile: spec.host,
        alias: ctx.host.alias!,
        runDir: `${base}/runs/${id}`,
        codeDir: `${base}/code/${spec.code.tree}`,
        hostname: ctx.host.hostname!,
        supervisor: { host: ctx.creator.machine, pid: supervisor.pid, start: supervisor.start, bootId: monthly(ctx.creator.machine) },
      };
    } else {
      handle = {
        executor: 'local',
        hostname: ctx.creator.machine,
        // A 'running' run's supervisor cannot be alive: a pid no kernel hands out, a boot id of no boot.
        bootId: outcome === 'running' ? rand.uuid() : monthly(ctx.creator.machine),
        supervisorPid: supervisor.pid,
        supervisorStart: supervisor.start,
        controlDir: `${ctx.creator.home}/proj/.git/git-run/runs/${id}`,
      };
    }
    out.state = { status: 'running', startedAt: new Date(startedAt).toISOString(), handle };
    out.startedAt = startedAt;
  }
  if (outcome === 'running') return out;

  const started = out.startedAt;
  const runFor = (median: number) => rand.duration(median, 2 * SECOND, 14 * HOUR);
  let exitCode: number | null = null;
  let signal: string | null = null;
  let error: string | null = null;
  let endedAt: number;
  const epochs = rand.int(1, 4);
  switch (outcome) {
    case 'succeeded': {
      endedAt = started! + runFor(20 * MINUTE);
      exitCode = 0;
      if (rand.chance(0.92)) out.metrics = metricsFor(rand, spec.params);
      out.stdout = trainingLog(rand, spec.command, Number(out.metrics?.epochs ?? rand.int(3, 12)), out.metrics);
      if (rand.chance(0.2)) out.stderr = 'UserWarning: the default value of antialias will change in a later version\n';
      if (out.metrics && rand.chance(0.3)) {
        const rows = Array.from({ length: Number(out.metrics.epochs) }, (_, e) => `${e + 1},${r4(2.3 * Math.pow(0.7, e + 1))}`);
        out.outputs.push({ path: 'plots/loss.csv', content: `epoch,loss\n${rows.join('\n')}\n` });
      }
      break;
    }
    case 'failed': {
      endedAt = started! + runFor(3 * MINUTE);
      const how = rand.next();
      if (remote) {
        exitCode = how < 0.6 ? 1 : how < 0.8 ? 2 : 137;
        if (exitCode === 137) error = 'exit 137: killed by signal 9?';
      } else if (how < 0.6) exitCode = 1;
      else if (how < 0.75) exitCode = 2;
      else if (how < 0.9) signal = 'SIGKILL';
      else if (how < 0.95) signal = 'SIGSEGV';
      else {
        exitCode = 127;
        error = `command not found: ${spec.command[0]}`;
      }
      out.stdout = exitCode === 127 ? '' : trainingLog(rand, spec.command, epochs, null);
      out.stderr =
        exitCode === 127
          ? `git-run: ${spec.command[0]}: command not found\n`
          : exitCode === 2
            ? 'usage: train.py [-h] [--lr LR] [--batch BATCH]\ntrain.py: error: unrecognized arguments\n'
            : signal === 'SIGKILL' || exitCode === 137
              ? SIGKILL_NOTE
              : `Traceback (most recent call last):\n  File "src/train.py", line ${rand.int(20, 200)}, in main\n${rand.pick(['RuntimeError: CUDA out of memory', 'ValueError: NaN loss', 'FileNotFoundError: data/cifar10.npz', 'AssertionError'])}\n`;
      if (exitCode !== 127 && rand.chance(0.3)) out.metrics = { loss: r4(2.3 * Math.pow(0.8, epochs)), epoch: epochs };
      break;
    }
    case 'cancelled': {
      if (cancelledEarly) {
        endedAt = ctx.createdAt + rand.duration(30 * SECOND, SECOND, HOUR);
        error = 'cancelled before it started';
      } else {
        endedAt = started! + runFor(10 * MINUTE);
        if (remote) exitCode = 143;
        else signal = 'SIGTERM';
        error = 'cancelled';
        out.stdout = trainingLog(rand, spec.command, epochs, null);
      }
      break;
    }
    default: {
      // lost: found later by whoever looked, with whatever output the host kept.
      endedAt = started! + runFor(HOUR) + rand.duration(3 * HOUR, MINUTE, 3 * DAY);
      error = remote ? 'the command ended without an exit status on the host' : 'its supervisor stopped without recording how the command ended';
      out.stdout = trainingLog(rand, spec.command, epochs, null);
    }
  }
  out.endedAt = endedAt;
  out.result = {
    status: outcome as RunResult['status'],
    exitCode,
    signal,
    error,
    startedAt: out.state?.startedAt ?? null,
    endedAt: new Date(endedAt).toISOString(),
    host: remote ? { hostname: ctx.host.hostname!, platform: 'remote', arch: '', release: '' } : out.state ? { hostname: ctx.creator.machine, ...ctx.creator.host } : null,
    // The supervising process knows what it sent; a run found lost later does not.
    ...(remote && outcome !== 'lost' ? { codeBytesSent: sendsCode ? ctx.code.bytes : 0 } : {}),
  };
  return out;
}

function finishedOutcome(rand: Rand): Status {
  return rand.weighted<Status>(['succeeded', 'failed', 'cancelled', 'lost'], [82, 10, 4, 4]);
}

const NAME_A = ['resnet', 'vit', 'mlp', 'convnext', 'cnn'];
const NAME_B = ['baseline', 'lr-sweep', 'ablation', 'big-batch', 'warmup', 'no dropout', 'long'];
const NOTE_TEXTS = [
  'rerun after fixing the shuffle bug',
  'diverged after epoch 3; lower lr next time',
  'λ schedule: cosine → step',
  'compare with "baseline" from last week',
  'data loader v2 (2x faster)',
  'same as before with seed fixed',
];

function metadataEvents(rand: Rand, creator: string, createdAt: number, group: boolean): MetadataEvent[] {
  const events: MetadataEvent[] = [];
  const set: NonNullable<MetadataEvent['set']> = {};
  if (rand.chance(group ? 0.9 : 0.7)) set.name = `${rand.pick(NAME_A)}-${rand.pick(NAME_B)}-${rand.int(1, 999)}`;
  if (rand.chance(0.3)) set.notes = rand.pick(NOTE_TEXTS);
  const tags = [...new Set(Array.from({ length: rand.int(0, 2) }, () => rand.pick(TAGS)))];
  if (!Object.keys(set).length && !tags.length) tags.push(rand.pick(TAGS));
  // The submission's --name/--notes/--tag: one event at createdAt, as submit.ts writes it.
  events.push({ at: new Date(createdAt).toISOString(), by: creator, ...(Object.keys(set).length ? { set } : {}), ...(tags.length ? { tag: tags } : {}) });
  if (rand.chance(0.35)) {
    // A later `git run edit`, sometimes by a colleague.
    const at = new Date(createdAt + rand.duration(DAY, HOUR, 60 * DAY)).toISOString();
    const by = rand.chance(0.7) ? creator : rand.pick(CREATORS).ident;
    const what = rand.next();
    if (what < 0.4) events.push({ at, by, tag: ['best'] });
    else if (what < 0.6 && tags.length) events.push({ at, by, untag: [tags[0]!] });
    else if (what < 0.8) events.push({ at, by, set: { notes: rand.pick(NOTE_TEXTS) } });
    else events.push({ at, by, tag: ['v2', 'paper'] });
  }
  return events;
}

export function fixtureModel(count: number): FixtureModel {
  if (!Number.isInteger(count) || count < 1) throw new Error(`count must be a positive integer, got ${count}`);
  const source = sourceHistory();
  function* entries(): Generator<FixtureEntry> {
    const rand = new Rand(FIXTURE_SEED ^ 0x5eed);
    // The newest runs are still queued or running (0.2%, at least 2), all with the local executor, so
    // that reading the fixture never writes to it nor reaches for a host: a queued run has no control
    // directory, which executors/local.ts refresh() reads as "being submitted"; a running run's handle
    // names its creator's workstation, not this machine, so refresh() leaves it alone ("not ours to
    // judge"), and even on a machine of that name its supervisor (DEAD_PID, a boot id of no boot)
    // cannot be alive, so it would be judged lost, never waited for. An ssh run that is running would
    // make every read try to connect to gpu1 / the cluster; a queued one is not looked at, but it is
    // kept local too for simplicity.
    const unfinishedFrom = count - Math.max(2, Math.round(count * 0.002));
    const step = SPAN / count;
    /** Trees already sent to a host: the first run there sends the code, later ones find it. */
    const sent = new Set<string>();
    let latest = 0;
    let i = 0;
    while (i < count) {
      const createdAt = Math.round(RUNS_FROM + i * step + rand.next() * step * 0.9);
      while (latest + 1 < source.length && source[latest + 1]!.time <= createdAt) latest++;
      // Mostly the newest commit; sometimes an older one (a branch, a rerun).
      const code = rand.chance(0.2) ? source[Math.max(0, latest - rand.int(1, 15))]! : source[latest]!;
      const creator = rand.weighted(CREATORS, CREATOR_WEIGHTS);
      const unfinished = i >= unfinishedFrom;
      const host = unfinished ? HOSTS[0]! : rand.weighted(HOSTS, HOST_WEIGHTS);
      const ctx: Context = { creator, host, code, createdAt };
      const remaining = unfinishedFrom - i;
      const dataset = { ...NATIVE_DEFAULTS, ...host.profileArgs };
      const runArgs = { ...dataset, ...FIXED_ARGS };
      const hostProfile = host.alias ? { hostProfile: { type: 'ssh' as const, host: host.alias } } : {};
      const env: Record<string, string> = host.name === 'gpu1' && rand.chance(0.5) ? { CUDA_VISIBLE_DEVICES: String(rand.int(0, 3)) } : {};
      const codeRef = { tree: code.tree, commit: code.oid, dirty: false };
      const isoCreated = new Date(createdAt).toISOString();
      const sendsCode = (k: string) => {
        if (sent.has(k)) return false;
        sent.add(k);
        return true;
      };

      if (!unfinished && remaining >= 3 && rand.chance(0.067)) {
        // A group: a sweep over lr (and batch), repeated, as `git run submit sweep.json` writes it.
        let a = 0, b = 0, rep = 0;
        do {
          a = rand.int(1, 4);
          b = rand.int(1, 2);
          rep = rand.int(1, 3);
        } while (a * b * rep < 2 || a * b * rep > Math.min(8, remaining - 1));
        const lrs = rand.shuffle(LRS).slice(0, a).sort((x, y) => x - y);
        const batches = rand.shuffle(BATCHES).slice(0, b).sort((x, y) => x - y);
        const optimizer = rand.pick(OPTIMIZERS);
        const dropout = rand.pick(DROPOUTS);
        const rawParams: Record<string, unknown> = {
          lr: lrs.length > 1 ? { values: lrs } : { value: lrs[0] },
          batch: batches.length > 1 ? { values: batches } : { value: batches[0] },
          optimizer: { value: optimizer },
          dropout: { value: dropout },
        };
        const defCommand = ['python', 'src/train.py', '--lr', '{lr}', '--batch', '{batch}', '--optimizer', '{optimizer}', '--dropout', '{dropout}', '--seed', '{seed}'];
        const groupSeed = rand.int(0, 2 ** 31 - 1);
        const plans: Array<{ params: Record<string, string | number>; repetition: number; seed: number; name: string; command: string[] }> = [];
        for (const lr of lrs) {
          for (const batch of batches) {
            const params = { lr, batch, optimizer, dropout };
            for (let r = 1; r <= rep; r++) {
              const seed = childSeed(groupSeed, params, r);
              plans.push({ params, repetition: r, seed, name: childName(params, r, rep), command: defCommand.map((x) => substitute(x, { ...params, seed }, true)) });
            }
          }
        }
        const childSpecs: RunSpec[] = plans.map((p) => ({
          format: 1,
          command: p.command,
          cwd: '',
          params: p.params,
          seed: p.seed,
          code: codeRef,
          host: host.name,
          runArgs,
          inputs: [],
          env,
          parent: null,
          creator: creator.ident,
          createdAt: isoCreated,
          key: runKey({ tree: code.tree, command: p.command, cwd: '', params: p.params, seed: p.seed, inputs: [], env }),
          nonce: rand.hex(8),
          runArgsFrom: { dataset, runner: {}, temporary: {} },
          ...hostProfile,
          name: p.name,
          repetition: p.repetition,
        }));
        const maxParallel = host.maxParallel ?? rand.pick([2, 4, 8]);
        const groupSpec: RunSpec = {
          format: 1,
          kind: 'group',
          command: defCommand,
          cwd: '',
          params: rawParams,
          seed: groupSeed,
          code: codeRef,
          host: host.name,
          runArgs: { ...dataset, ...FIXED_ARGS, max_parallel: maxParallel },
          inputs: [],
          env,
          parent: null,
          creator: creator.ident,
          createdAt: isoCreated,
          key: crypto.createHash('sha256').update(canonicalJson({ kind: 'group', children: childSpecs.map((s) => s.key) })).digest('hex'),
          nonce: rand.hex(8),
          runArgsFrom: { dataset, runner: {}, temporary: {} },
          childCount: childSpecs.length,
          ...hostProfile,
        };
        const g = specCommit(groupSpec, createdAt);
        const children: FixtureRun[] = childSpecs.map((s) => {
          const spec: RunSpec = { ...s, parent: g.id };
          const c = specCommit(spec, createdAt);
          return { id: c.id, spec, runJson: c.runJson, submitted: c.submitted, ...lifecycle(rand, ctx, c.id, spec, finishedOutcome(rand), sendsCode(`${host.name} ${code.tree}`)) };
        });
        const list: GroupChild[] = children.map((c) => ({ id: c.id, reused: false }));
        const events = rand.chance(0.6) ? metadataEvents(rand, creator.ident, createdAt, true) : [];
        const group: FixtureRun = {
          id: g.id, spec: groupSpec, runJson: g.runJson, submitted: g.submitted,
          state: null, result: null, status: null, stdout: '', stderr: '', metrics: null, outputs: [], startedAt: null, endedAt: null,
        };
        yield {
          run: group,
          children,
          childrenJson: JSON.stringify(list, null, 1) + '\n',
          events,
          meta: foldMetadata(events.map(formatEvent).join('\n')),
          status: groupStatus(children.map((c) => c.status!)),
          createdAt,
          creator: creator.ident,
        };
        i += 1 + children.length;
        continue;
      }

      // A single run: `git run -p lr=... -- python src/train.py ...`.
      const params: Record<string, string | number> = { lr: rand.pick(LRS), batch: rand.pick(BATCHES), optimizer: rand.pick(OPTIMIZERS), dropout: rand.pick(DROPOUTS) };
      if (rand.chance(0.3)) params.dataset = rand.pick(DATASETS);
      if (rand.chance(0.15)) params.schedule = rand.pick(SCHEDULES);
      const command = rand.chance(0.7)
        ? ['python', 'src/train.py', ...Object.entries(params).flatMap(([k, v]) => [`--${k}`, String(v)])]
        : ['python', 'src/train.py', '--config', rand.pick(['configs/base.yaml', 'configs/small.yaml', 'configs/large.yaml'])];
      const seed = rand.int(0, 2 ** 31 - 1);
      const spec: RunSpec = {
        format: 1,
        command,
        cwd: '',
        params,
        seed,
        code: codeRef,
        host: host.name,
        runArgs,
        inputs: [],
        env,
        parent: null,
        creator: creator.ident,
        createdAt: isoCreated,
        key: runKey({ tree: code.tree, command, cwd: '', params, seed, inputs: [], env }),
        nonce: rand.hex(8),
        runArgsFrom: { dataset, runner: {}, temporary: {} },
        ...hostProfile,
      };
      const s = specCommit(spec, createdAt);
      const outcome: Status = !unfinished ? finishedOutcome(rand) : i === count - 1 ? 'queued' : i === count - 2 ? 'running' : rand.chance(0.5) ? 'queued' : 'running';
      const run: FixtureRun = { id: s.id, spec, runJson: s.runJson, submitted: s.submitted, ...lifecycle(rand, ctx, s.id, spec, outcome, sendsCode(`${host.name} ${code.tree}`)) };
      const events = rand.chance(0.3) ? metadataEvents(rand, creator.ident, createdAt, false) : [];
      yield { run, children: [], childrenJson: null, events, meta: foldMetadata(events.map(formatEvent).join('\n')), status: outcome, createdAt, creator: creator.ident };
      i += 1;
    }
  }
  return { source, entries };
}

// --- writing: one fast-import stream per repository -----------------------------

/** git without any repository location inherited from the caller (a hook, a test). */
function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const v of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_PREFIX', 'GIT_COMMON_DIR', 'GIT_NAMESPACE', 'GIT_OBJECT_DIRECTORY']) delete env[v];
  return env;
}

/** fast-import's `data` command: a byte count, then the bytes. */
const data = (s: string): string => `data ${Buffer.byteLength(s)}\n${s}\n`;

const person = (ident: string, ms: number) => `author ${ident} ${stamp(ms)}\ncommitter ${ident} ${stamp(ms)}\n`;

/**
 * A `git fast-import` process fed through its stdin. Commands are gathered
 * into megabyte chunks (one pipe write each) and the writer waits for the
 * pipe to drain, so generating never runs ahead of git by more than a chunk.
 */
class FastImport {
  private readonly child: ChildProcess;
  private chunks: string[] = [];
  private size = 0;
  private lastMark = 0;
  private stderr = '';
  private readonly exit: Promise<number | null>;
  private readonly failed: Promise<never>;
  /** mark -> the object id this side computed for it, checked against --export-marks. */
  readonly expected = new Map<number, string>();

  constructor(
    readonly repo: string,
    readonly marksFile: string,
  ) {
    // --done: a stream cut short (this process dying) is an error, not a smaller repository.
    this.child = spawn('git', ['fast-import', '--quiet', '--done', `--export-marks=${marksFile}`], { cwd: repo, env: gitEnv(), stdio: ['pipe', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.child.stdin!.on('error', () => undefined); // reported through the exit status
    this.exit = new Promise((resolve, reject) => {
      this.child.on('error', reject);
      this.child.on('close', (code) => resolve(code));
    });
    this.failed = this.exit.then((code) => {
      throw new Error(`git fast-import in ${repo} exited ${code} before the stream ended:\n${this.stderr}`);
    });
    this.failed.catch(() => undefined);
  }

  mark(expect?: string): number {
    const m = ++this.lastMark;
    if (expect) this.expected.set(m, expect);
    return m;
  }

  push(s: string): void {
    this.chunks.push(s);
    this.size += s.length;
  }

  async maybeFlush(): Promise<void> {
    if (this.size >= 1 << 20) await this.flush();
  }

  private async flush(): Promise<void> {
    const chunk = this.chunks.join('');
    this.chunks = [];
    this.size = 0;
    // A broken pipe means git stopped reading: its exit status and stderr say why.
    if (!this.child.stdin!.write(chunk)) await Promise.race([once(this.child.stdin!, 'drain').catch(() => this.failed), this.failed]);
  }

  /** End the stream, wait for git to write the pack and the refs, and check every computed id. */
  async finish(): Promise<void> {
    this.push('done\n');
    await this.flush();
    this.child.stdin!.end();
    const code = await this.exit;
    if (code !== 0) throw new Error(`git fast-import in ${this.repo} exited ${code}:\n${this.stderr}`);
    const got = new Map<number, string>();
    for (const line of readFileSync(this.marksFile, 'utf8').split('\n')) {
      const m = /^:(\d+) ([0-9a-f]{40})$/.exec(line);
      if (m) got.set(Number(m[1]), m[2]!);
    }
    let bad = 0;
    for (const [mark, oid] of this.expected) if (got.get(mark) !== oid) bad++;
    if (bad) throw new Error(`${bad} of ${this.expected.size} objects in ${this.repo} do not have the id computed for them: the fixture's hashing differs from git's`);
    rmSync(this.marksFile);
  }
}

function pushSource(fi: FastImport, ref: string, source: SourceCommit[]): void {
  for (const c of source) {
    let s = `commit ${ref}\nmark :${fi.mark(c.oid)}\n${person(c.author, c.time)}${data(c.message)}`;
    for (const ch of c.changes) s += `M 100644 inline ${ch.path}\n${data(ch.content)}`;
    fi.push(s + '\n');
  }
}

/** The finished commit's subject, as recordEnd writes it. */
function endMessage(r: RunResult): string {
  const how = r.signal ? `signal ${r.signal}` : r.exitCode !== null ? `exit ${r.exitCode}` : r.error ?? '';
  return `${r.status}${how ? ` (${how})` : ''}\n`;
}

/** A run's commits on refs/runs/<id>: spec, then started and finished when it got there. Returns the spec's mark. */
function pushRun(fi: FastImport, r: FixtureRun): number {
  const ref = RUNS_PREFIX + r.id;
  const created = Date.parse(r.spec.createdAt);
  const mark = fi.mark(r.id);
  let s = `commit ${ref}\nmark :${mark}\n${person(r.spec.creator, created)}${data(r.submitted)}M 100644 inline run.json\n${data(r.runJson)}M 040000 ${r.spec.code.tree} code\n\n`;
  if (r.state) {
    // The supervisor runs as the submitting user: the same identity writes every commit of the chain.
    s += `commit ${ref}\n${person(r.spec.creator, r.startedAt!)}${data(`started on ${r.state.handle.hostname}\n`)}M 100644 inline state.json\n${data(JSON.stringify(r.state, null, 2) + '\n')}\n`;
  }
  if (r.result) {
    let metrics = 0;
    if (r.metrics) {
      // One blob at two paths: outputs/metrics.json (what the run wrote) and metrics.json at the top.
      metrics = fi.mark();
      s += `blob\nmark :${metrics}\n${data(JSON.stringify(r.metrics) + '\n')}`;
    }
    s += `commit ${ref}\n${person(r.spec.creator, r.endedAt!)}${data(endMessage(r.result))}`;
    s += `M 100644 inline result.json\n${data(JSON.stringify(r.result, null, 2) + '\n')}`;
    s += `M 100644 inline logs/stdout\n${data(r.stdout)}M 100644 inline logs/stderr\n${data(r.stderr)}`;
    if (metrics) s += `M 100644 :${metrics} outputs/metrics.json\nM 100644 :${metrics} metrics.json\n`;
    for (const o of r.outputs) s += `M 100644 inline outputs/${o.path}\n${data(o.content)}`;
    s += '\n';
  }
  fi.push(s);
  return mark;
}

/** Nested values as dotted keys: {"val": {"acc": 1}} -> val.acc. */
function flatten(prefix: string, v: unknown, out: Array<[string, unknown]>): void {
  if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) flatten(`${prefix}.${k}`, x, out);
  else out.push([prefix, v]);
}

/** The commit message a commit-message-based tracker would write for a run: the same fields as `key: value` lines. */
export function trackerMessage(r: FixtureRun, status: Status, meta: Metadata, children: number): string {
  const fields: Array<[string, unknown]> = [
    ['id', r.id],
    ['kind', r.spec.kind ?? 'run'],
    ['status', status],
    ['name', meta.name],
    ['tags', meta.tags.length ? meta.tags.join(', ') : null],
    ['notes', meta.notes],
    ['creator', r.spec.creator],
    ['date', r.spec.createdAt],
    ['host', r.spec.host],
    ['command', r.spec.command.join(' ')],
    ['code.commit', r.spec.code.commit],
    ['code.tree', r.spec.code.tree],
    ['seed', r.spec.seed],
  ];
  flatten('params', r.spec.params, fields);
  fields.push(['parent', r.spec.parent], ['children', children || null], ['key', r.spec.key]);
  if (r.state || r.result) fields.push(['startedAt', r.result?.startedAt ?? r.state?.startedAt ?? null]);
  if (r.result) {
    fields.push(['endedAt', r.result.endedAt], ['exitCode', r.result.exitCode], ['signal', r.result.signal], ['error', r.result.error]);
    if (r.startedAt !== null && r.endedAt !== null) fields.push(['duration', Number(((r.endedAt - r.startedAt) / 1000).toFixed(3))]);
  }
  if (r.metrics) flatten('metrics', r.metrics, fields);
  const lines = fields.filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => `${k}: ${typeof v === 'string' ? v.replace(/\n/g, ' ') : JSON.stringify(v)}`);
  return `run ${r.id.slice(0, 12)} ${status}: ${summary(r.spec.command)}\n\n${lines.join('\n')}\n`;
}

function pushTrackerCommit(fi: FastImport, r: FixtureRun, status: Status, meta: Metadata, children: number): void {
  // The run's code as the commit's whole tree: a tracker that commits the code state it ran.
  fi.push(`commit refs/heads/main\n${person(r.spec.creator, Date.parse(r.spec.createdAt))}${data(trackerMessage(r, status, meta, children))}M 040000 ${r.spec.code.tree} ""\n\n`);
}

export interface FixtureSummary {
  count: number;
  seed: number;
  runsRepository: string;
  commitsRepository: string;
  sourceCommits: number;
  statuses: Record<string, number>;
  groups: number;
  children: number;
  withMetrics: number;
  withNotes: number;
  elapsedSeconds: number;
  /** Phases: generating and streaming; fast-import's end (its last objects, the pack index, the refs); the checkouts. */
  phases: { streamSeconds: number; finishSeconds: number; checkoutSeconds: number };
  looseRunRefs: number;
  packedRefs: boolean;
}

const secs = (from: bigint, to: bigint) => Number((Number(to - from) / 1e9).toFixed(1));

export async function generate(dir: string, count: number, progress: (done: number) => void = () => undefined): Promise<FixtureSummary> {
  const t0 = process.hrtime.bigint();
  const runsDir = path.join(dir, 'runs');
  const commitsDir = path.join(dir, 'commits');
  for (const d of [runsDir, commitsDir]) if (existsSync(d)) throw new Error(`${d} exists: remove it first (the fixture is always written whole)`);
  mkdirSync(dir, { recursive: true });
  const env = gitEnv();
  for (const d of [runsDir, commitsDir]) await runOk('git', ['init', '-q', '-b', 'main', '--object-format=sha1', d], { cwd: dir, env });

  const model = fixtureModel(count);
  const runs = new FastImport(runsDir, path.join(runsDir, '.git', 'fixture-marks'));
  const commits = new FastImport(commitsDir, path.join(commitsDir, '.git', 'fixture-marks'));
  pushSource(runs, 'refs/heads/main', model.source);
  pushSource(commits, 'refs/heads/code', model.source);

  const statuses: Record<string, number> = {};
  let done = 0, groups = 0, children = 0, withMetrics = 0;
  const notes: Array<{ mark: number; text: string }> = [];
  let lastEvent: MetadataEvent | null = null;
  for (const e of model.entries()) {
    const mark = pushRun(runs, e.run);
    if (e.childrenJson !== null) {
      const created = Date.parse(e.run.spec.createdAt);
      runs.push(`commit ${RUNS_PREFIX}${e.run.id}\n${person(e.run.spec.creator, created)}${data(`children: ${e.children.length}\n`)}M 100644 inline children.json\n${data(e.childrenJson)}\n`);
      groups++;
    }
    pushTrackerCommit(commits, e.run, e.status, e.meta, e.children.length);
    statuses[e.status] = (statuses[e.status] ?? 0) + 1;
    if (e.run.metrics) withMetrics++;
    for (const c of e.children) {
      pushRun(runs, c);
      // A child reads with its group's metadata under its own name (api/groups.ts).
      pushTrackerCommit(commits, c, c.status!, { ...e.meta, name: c.spec.name ?? e.meta.name }, 0);
      statuses[c.status!] = (statuses[c.status!] ?? 0) + 1;
      if (c.metrics) withMetrics++;
      children++;
    }
    if (e.events.length) {
      notes.push({ mark, text: e.events.map((ev) => formatEvent(ev).replace(/\n/g, ' ') + '\n').join('') });
      for (const ev of e.events) if (!lastEvent || ev.at > lastEvent.at) lastEvent = ev;
    }
    done += 1 + e.children.length;
    progress(done);
    await runs.maybeFlush();
    await commits.maybeFlush();
  }
  if (notes.length && lastEvent) {
    // One notes commit holding every note; fast-import picks the fan-out (2/38 below 65,536 notes), which readers take at any depth.
    let s = `commit ${NOTES_REF}\n${person(lastEvent.by, Date.parse(lastEvent.at))}${data('git-run: metadata\n')}`;
    for (const n of notes) s += `N inline :${n.mark}\n${data(n.text)}`;
    runs.push(s + '\n');
  }
  const streamed = process.hrtime.bigint();
  await Promise.all([runs.finish(), commits.finish()]);
  const finished = process.hrtime.bigint();
  // A work tree and index for main, as a clone would have.
  for (const d of [runsDir, commitsDir]) await runOk('git', ['read-tree', '-u', '--reset', 'HEAD'], { cwd: d, env });
  const refsDir = path.join(runsDir, '.git', 'refs', 'runs');
  const summary: FixtureSummary = {
    count,
    seed: FIXTURE_SEED,
    runsRepository: runsDir,
    commitsRepository: commitsDir,
    sourceCommits: model.source.length,
    statuses,
    groups,
    children,
    withMetrics,
    withNotes: notes.length,
    elapsedSeconds: secs(t0, process.hrtime.bigint()),
    phases: { streamSeconds: secs(t0, streamed), finishSeconds: secs(streamed, finished), checkoutSeconds: secs(finished, process.hrtime.bigint()) },
    looseRunRefs: existsSync(refsDir) ? readdirSync(refsDir).length : 0,
    packedRefs: existsSync(path.join(runsDir, '.git', 'packed-refs')),
  };
  writeFileSync(path.join(dir, 'fixture.json'), JSON.stringify(summary, null, 2) + '\n');
  return summary;
}

async function main(): Promise<void> {
  const [dirArg, countArg] = process.argv.slice(2);
  const count = Number(countArg);
  if (!dirArg || !Number.isInteger(count) || count < 1) {
    console.error('usage: npm run bench:fixture -- <dir> <count>   (node dist/bench/fixture.js <dir> <count>)');
    process.exitCode = 2;
    return;
  }
  const dir = path.resolve(dirArg);
  const tty = process.stderr.isTTY;
  let shown = 0;
  const s = await generate(dir, count, (done) => {
    if (!tty || (Date.now() - shown < 200 && done < count)) return;
    shown = Date.now();
    process.stderr.write(`\r  ${done.toLocaleString('en-US')} / ${count.toLocaleString('en-US')} runs`);
  });
  if (tty) process.stderr.write('\n');
  console.log(`${s.count} runs (${s.groups} groups with ${s.children} children; ${Object.entries(s.statuses).map(([k, v]) => `${v} ${k}`).join(', ')}), ${s.withMetrics} with metrics, ${s.withNotes} notes, ${s.sourceCommits} source commits`);
  console.log(`generated in ${s.elapsedSeconds.toFixed(1)} s (streaming ${s.phases.streamSeconds} s, fast-import finishing ${s.phases.finishSeconds} s, checkouts ${s.phases.checkoutSeconds} s)`);
  console.log(`runs:    ${s.runsRepository}   (${s.looseRunRefs} loose refs under refs/runs/, ${s.packedRefs ? 'a' : 'no'} packed-refs file)`);
  console.log(`commits: ${s.commitsRepository}`);
  console.log(`summary: ${path.join(dir, 'fixture.json')}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
