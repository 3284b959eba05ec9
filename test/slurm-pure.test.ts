import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseMem, parseTime, resourcesOf, sbatchOptionProblem } from '../src/executors/slurm/resources.js';
import { expandTasks, parseSacct, parseScontrol, parseSqueue, phaseOf, stateWords } from '../src/executors/slurm/state.js';
import { batchScript } from '../src/executors/slurm/script.js';

describe('Slurm executor, pure parts', () => {
  it('parses every Slurm time format, and refuses what Slurm would not take', () => {
    const good: Array<[unknown, number]> = [
      ['30', 30],
      [30, 30],
      ['5:30', 6],
      ['1:00:00', 60],
      ['01:02:03', 63],
      ['2-0', 2880],
      ['1-12', 2160],
      ['1-2:30', 1590],
      ['0-0:0:30', 1],
    ];
    for (const [v, m] of good) assert.equal(parseTime(v), m, JSON.stringify(v));
    for (const v of ['', 'abc', '1h', '1:60', '1:00:60', '1-24', '-1', '1.5', 0, -5, 1.5, '0', '1--2', '1-2-3', '1:2:3:4', ' 30', '30\n', null, true, ['30']]) assert.equal(parseTime(v), null, JSON.stringify(v));
  });

  it('parses memory sizes N[K|M|G|T], and refuses others', () => {
    assert.equal(parseMem('500'), 500);
    assert.equal(parseMem('500M'), 500);
    assert.equal(parseMem('8G'), 8192);
    assert.equal(parseMem('8g'), 8192);
    assert.equal(parseMem('1T'), 1048576);
    assert.equal(parseMem('2048K'), 2);
    assert.equal(parseMem(100), 100);
    for (const v of ['', 'lots', '8GB', '1.5G', '-1', '0', '8 G', 'G', 0, 1.5, null]) assert.equal(parseMem(v), null, JSON.stringify(v));
  });

  it('turns resources into #SBATCH options, and names every problem: unknown keys with the near miss, bad values, refused sbatch options', () => {
    const ok = resourcesOf({ skip: true, leave: 'code', remote_dir: '/x', time: '1:00:00', mem: '8G', cpus_per_task: 4, gpus: 'a100:2', partition: 'debug', account: 'proj-1', qos: 'normal', constraint: 'intel&avx2', nodes: 1, ntasks: 2, sbatch: ['--exclusive', '--mail-type=END'] });
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.options, ['--account=proj-1', '--constraint=intel&avx2', '--cpus-per-task=4', '--exclusive', '--gpus=a100:2', '--mail-type=END', '--mem=8G', '--nodes=1', '--ntasks=2', '--partition=debug', '--qos=normal', '--time=1:00:00']);
    const bad = resourcesOf({ memory: '8G', tme: '10', xyzzy: 1, time: '1h', mem: 'lots', cpus_per_task: 0, partition: 'a b', sbatch: ['--output=x', '-o', '--exclusive\n', '--x y', '--wrap=true', '--arr=1-3', '--job-name=a'] });
    const text = bad.problems.join('\n');
    assert.match(text, /unknown resource 'memory': did you mean 'mem'\?/);
    assert.match(text, /unknown resource 'tme': did you mean 'time'\?/);
    assert.match(text, /unknown resource 'xyzzy' \(a Slurm host takes/);
    assert.match(text, /time "1h" is not a Slurm time/);
    assert.match(text, /mem "lots" is not a Slurm memory size/);
    assert.match(text, /cpus_per_task 0 is not a whole number/);
    assert.match(text, /partition "a b" is not a name Slurm takes/);
    for (const o of ['--output=x', '--wrap=true', '--arr=1-3', '--job-name=a']) assert.match(text, new RegExp(`sbatch option "${o}" is set by git-run itself`));
    assert.match(text, /"-o" does not start with -- \(and -o is --output/);
    assert.match(text, /holds a newline/);
    assert.match(text, /"--x y" holds a blank/);
    assert.equal(bad.options.length, 0, 'nothing of a bad set is used');
    assert.equal(sbatchOptionProblem('--exclusive'), null);
    assert.match(sbatchOptionProblem(7)!, /is a string/);
    assert.deepEqual(resourcesOf({ sbatch: '--exclusive' }).options, ['--exclusive'], 'one option may be given as a string');
    assert.match(resourcesOf({ sbatch: { a: 1 } }).problems[0]!, /sbatch is a list of options/);
  });

  it('maps Slurm states onto git-run: pending is queued, PREEMPTED and requeue states do not end a run', () => {
    for (const s of ['PENDING', 'REQUEUED', 'REQUEUE_HOLD', 'SUSPENDED']) assert.equal(phaseOf(s), 'queued', s);
    for (const s of ['RUNNING', 'COMPLETING']) assert.equal(phaseOf(s), 'running', s);
    for (const s of ['FAILED', 'OUT_OF_MEMORY', 'TIMEOUT', 'NODE_FAIL', 'BOOT_FAIL', 'DEADLINE']) assert.equal(phaseOf(s), 'failed', s);
    assert.equal(phaseOf('CANCELLED'), 'cancelled');
    assert.equal(phaseOf('CANCELLED+'), 'cancelled');
    assert.equal(phaseOf('COMPLETED'), 'completed');
    assert.equal(phaseOf('PREEMPTED'), 'unknown');
    assert.equal(phaseOf('SOMETHING_NEW'), 'unknown');
    assert.equal(stateWords('TIMEOUT'), 'Slurm: TIMEOUT (the time limit was reached)');
  });

  it("parses squeue's array notation: a pending part listed by the array's own id is its tasks, not forgotten jobs", () => {
    assert.deepEqual(expandTasks('0,2-5%2'), [0, 2, 3, 4, 5]);
    assert.deepEqual(expandTasks('1-7:3'), [1, 4, 7]);
    assert.equal(expandTasks('a-b'), null);
    assert.equal(expandTasks('5-1'), null);
    const jobs = parseSqueue(
      [
        '12_[4-6%2]|PENDING|JobArrayTaskLimit|git-run-abc',
        '12_0|RUNNING|None|git-run-abc',
        '13|PENDING|Priority|git-run-def',
        '14|COMPLETED|None|a name | with bars',
        'garbage line',
        '15|lowercase|None|x',
        '',
      ].join('\n'),
    );
    assert.deepEqual([...jobs.keys()].sort(), ['12_0', '12_4', '12_5', '12_6', '13', '14']);
    assert.deepEqual(jobs.get('12_5'), { state: 'PENDING', reason: 'JobArrayTaskLimit', name: 'git-run-abc' });
    assert.deepEqual(jobs.get('12_0'), { state: 'RUNNING', reason: null, name: 'git-run-abc' });
    assert.equal(jobs.get('14')!.name, 'a name | with bars');
  });

  it('parses scontrol -o and sacct -P lines (a requeued job or a recycled id: every record, oldest first)', () => {
    const sc = parseScontrol('JobId=21 ArrayJobId=20 ArrayTaskId=1 ArrayTaskThrottle=2 JobName=git-run-x y UserId=root(0) GroupId=root(0) JobState=TIMEOUT Reason=TimeLimit Dependency=(null) Requeue=1 Restarts=2 BatchFlag=1 ExitCode=0:15\nJobId=30 JobName=plain UserId=root(0) JobState=COMPLETED Reason=None ExitCode=0:0');
    assert.deepEqual(sc.get('20_1'), { state: 'TIMEOUT', reason: 'TimeLimit', name: 'git-run-x y', exitCode: '0:15', restarts: 2 });
    assert.equal(sc.get('30')!.state, 'COMPLETED');
    const sa = parseSacct('40|REQUEUED|0:15|2026-12-07T20:05:33|git-run-a\n40|COMPLETED|0:0|2026-12-07T20:05:33|git-run-a\n41_3|CANCELLED by 0|0:15|2026-12-07T20:06:00|allocation\nnonsense');
    assert.deepEqual(sa.get('40'), [
      { state: 'REQUEUED', reason: null, name: 'git-run-a', exitCode: '0:15', submit: '2026-12-07T20:05:33' },
      { state: 'COMPLETED', reason: null, name: 'git-run-a', exitCode: '0:0', submit: '2026-12-07T20:05:33' },
    ]);
    assert.equal(sa.get('41_3')![0]!.state, 'CANCELLED');
  });

  it('generates a batch script that runs the command from its run directory, writes the exit status and notes a SIGTERM', function () {
    this.timeout(30000);
    const s = batchScript({ options: ['--time=10', '--mem=1G'], runDir: null, map: 'arrays/x/map', codeDir: 'code/t', placeInputs: '', manifest: 'true', paramsDir: '.git-run' });
    const lines = s.split('\n');
    assert.equal(lines[0], '#!/bin/sh');
    assert.deepEqual(lines.slice(1, 3), ['#SBATCH --time=10', '#SBATCH --mem=1G']);
    assert.doesNotMatch(s, /#SBATCH --(output|array|job-name)/, 'paths and names go on the command line');
    // Run it as Slurm would (task 1 of an array), with $HOME a scratch directory: what it does is what matters.
    const home = mkdtempSync(path.join(os.tmpdir(), 'git-run-slurm-script-'));
    for (const [i, cmd] of ['exit 0', 'echo "out $GIT_RUN_X"; echo err >&2; exit 3'].entries()) {
      const r = path.join(home, 'runs', String(i));
      mkdirSync(r, { recursive: true });
      writeFileSync(path.join(r, 'run.sh'), `cd "$R/work" || exit 1\nexport GIT_RUN_X=x\n${cmd}\n`);
      writeFileSync(path.join(r, 'params.json'), '{}');
    }
    mkdirSync(path.join(home, 'arrays/x'), { recursive: true });
    writeFileSync(path.join(home, 'arrays/x/map'), `${path.join(home, 'runs/0')}\nruns/1\n`);
    mkdirSync(path.join(home, 'code/t'), { recursive: true });
    writeFileSync(path.join(home, 'code/t/f.txt'), 'code');
    writeFileSync(path.join(home, 'job.sh'), s);
    chmodSync(path.join(home, 'job.sh'), 0o755);
    const run = spawnSync('sh', [path.join(home, 'job.sh')], { env: { ...process.env, HOME: home, SLURM_ARRAY_TASK_ID: '1', SLURM_RESTART_COUNT: '2' }, encoding: 'utf8' });
    assert.equal(run.status, 3, run.stderr);
    const r1 = path.join(home, 'runs/1');
    assert.equal(readFileSync(path.join(r1, 'exit'), 'utf8'), '3\n');
    assert.equal(readFileSync(path.join(r1, 'attempt'), 'utf8'), '2\n');
    assert.equal(readFileSync(path.join(r1, 'stdout'), 'utf8'), 'out x\n');
    assert.equal(readFileSync(path.join(r1, 'stderr'), 'utf8'), 'err\n');
    assert.equal(readFileSync(path.join(r1, 'work/f.txt'), 'utf8'), 'code', 'the code was copied from the cache');
    assert.equal(readFileSync(path.join(r1, 'work/.git-run/params.json'), 'utf8'), '{}');
    // A SIGTERM (time limit, scancel, requeue) is noted, passed on, and the exit still written.
    writeFileSync(path.join(home, 'runs/0/run.sh'), 'touch "$R/started"; exec sleep 30\n');
    const term = spawnSync('sh', ['-c', `sh ${path.join(home, 'job.sh')} & p=$!; for i in $(seq 400); do [ -e ${home}/runs/0/started ] && break; sleep 0.05; done; kill -TERM $p; wait $p`], { env: { ...process.env, HOME: home, SLURM_ARRAY_TASK_ID: '0' }, encoding: 'utf8', timeout: 25000 });
    assert.notEqual(term.status, 0);
    assert.equal(readFileSync(path.join(home, 'runs/0/signal'), 'utf8'), 'TERM\n');
    assert.equal(readFileSync(path.join(home, 'runs/0/exit'), 'utf8'), '143\n');
  });
});
