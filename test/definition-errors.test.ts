import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeRepo, gitRun, refState } from './helpers.js';

/** [what, definition text (d.json), extra args, expected message] */
const CASES: Array<[string, string, string[], RegExp]> = [
  ['not JSON', '{ "command": ["true"], }', [], /d\.json is not a valid run definition:\n {2}d\.json: not valid JSON/],
  ['not an object', '["true"]', [], /d\.json: a run definition is a JSON object, got an array/],
  ['unknown key, with the closest known one', '{"comand": ["true"]}', [], /d\.json: comand: unknown key 'comand': did you mean 'command'\?/],
  ["Accio's workflow key", '{"workflow": "geoind", "command": ["true"]}', [], /workflow: unknown key 'workflow': git-run runs a command: use "command"/],
  ['no command', '{"params": {}}', [], /d\.json: command: missing: the command to run/],
  ['command of the wrong type', '{"command": 42}', [], /command: expected an array of strings or a string, got a number/],
  ['a non-string argument', '{"command": ["echo", 1]}', [], /command\[1\]: expected a string, got a number/],
  ['an empty command', '{"command": []}', [], /command: expected at least the program, got an empty array/],
  ['unbalanced quotes', '{"command": "echo \'oops"}', [], /command: unbalanced quotes in the command string/],
  ['params not an object', '{"command": ["true"], "params": [1]}', [], /params: expected an object of parameters, got an array/],
  ['a misspelt range key', '{"command": ["true"], "params": {"x": {"from": 1, "to": 2, "stpe": 1}}}', [], /params\.x\.stpe: unknown key 'stpe': did you mean 'step'\?/],
  ['from > to', '{"command": ["true"], "params": {"x": {"from": 5, "to": 1, "step": 1}}}', [], /params\.x: "from" \(5\) is greater than "to" \(1\)/],
  ['step 0', '{"command": ["true"], "params": {"x": {"from": 0, "to": 1, "step": 0}}}', [], /params\.x\.step: expected a step > 0, got 0/],
  ['negative step', '{"command": ["true"], "params": {"x": {"from": 0, "to": 1, "step": -0.5}}}', [], /params\.x\.step: expected a step > 0, got -0\.5/],
  ['a log range from 0', '{"command": ["true"], "params": {"x": {"from": 0, "to": 1, "log": true}}}', [], /params\.x: a logarithmic range needs positive bounds, got from 0 to 1/],
  ['a log range below 0', '{"command": ["true"], "params": {"x": {"from": -1, "to": 1, "log10": true}}}', [], /a logarithmic range needs positive bounds/],
  ['empty values', '{"command": ["true"], "params": {"x": {"values": []}}}', [], /params\.x\.values: expected at least one value, got an empty array/],
  ['an object among values', '{"command": ["true"], "params": {"x": {"values": [1, {"a": 2}]}}}', [], /params\.x\.values\[1\]: expected a string, number or boolean, got an object/],
  ['a linear range without step', '{"command": ["true"], "params": {"x": {"from": 1, "to": 3}}}', [], /params\.x: a linear range needs a "step"/],
  ['a range bound that is text', '{"command": ["true"], "params": {"x": {"from": "1", "to": 3, "step": 1}}}', [], /params\.x\.from: expected a number, got a string/],
  ['a bad parameter name', '{"command": ["true"], "params": {"bad name": 1}}', [], /params\.bad name: a parameter name starts with a letter/],
  ['repeat 0', '{"command": ["true"], "repeat": 0}', [], /repeat: expected a whole number >= 1, got 0/],
  ['repeat 1.5', '{"command": ["true"], "repeat": 1.5}', [], /repeat: expected a whole number >= 1, got 1\.5/],
  ['a negative seed', '{"command": ["true"], "seed": -1}', [], /seed: expected a whole number from 0/],
  ['a seed that is text', '{"command": ["true"], "seed": "abc"}', [], /seed: expected a whole number .* got "abc"/],
  ['tags not strings', '{"command": ["true"], "tags": [1]}', [], /tags: expected an array of strings/],
  ['a bad environment name', '{"command": ["true"], "env": {"1X": "a"}}', [], /env\.1X: an environment variable name/],
  ['an environment value that is not text', '{"command": ["true"], "env": {"X": 1}}', [], /env\.X: expected a string without NUL bytes, got a number/],
  ['a misspelt native run_arg', '{"command": ["true"], "run_args": {"levae": "all"}}', [], /run_args\.levae: unknown run_arg 'levae': did you mean 'leave'\?/],
  ['leave with a wrong value', '{"command": ["true"], "leave": "some"}', [], /leave: expected "none", "code" or "all", got a string \("some"\)/],
  ['skip that is not a boolean', '{"command": ["true"], "skip": "no"}', [], /skip: expected true or false, got a string/],
  ['max_parallel 0', '{"command": ["true"], "max_parallel": 0}', [], /max_parallel: expected a whole number >= 1/],
  ['a placeholder with no parameter', '{"command": ["echo", "{lrr}"], "params": {"lr": 1}}', [], /command: placeholder \{lrr\} has no parameter: add "lrr" to params, or write \{\{lrr\}\}/],
  ['an override of an unknown parameter', '{"command": ["true"], "params": {"x": 1}, "overrides": [{"params": {"y": 1}, "run_args": {}}]}', [], /overrides\[0\]\.params\.y: no parameter 'y' in params/],
  ['a sweep above the cap without --yes', '{"command": ["true"], "params": {"x": {"from": 0, "to": 2000, "step": 1}}}', [], /d\.json makes 2001 runs, more than 1000[\s\S]*hint: .*--yes/],
  // Counted before anything is built (these were RangeError: Invalid array length, exit 70).
  ['a range of 1e12 values', '{"command": ["true"], "params": {"x": {"from": 1, "to": 1e12, "step": 1}}}', [], /d\.json makes 1000000000000 runs, more than 100000, the most one submission makes \(even with --yes\)[\s\S]*hint: .*several submissions/],
  ['a range of 1e12 values, with --yes', '{"command": ["true"], "params": {"x": {"from": 1, "to": 1e12, "step": 1}}}', ['--yes'], /makes 1000000000000 runs, more than 100000/],
  ['a log range with a tiny step', '{"command": ["true"], "params": {"x": {"from": 1, "to": 10, "log": true, "step": 1e-12}}}', ['--yes'], /makes 1000000000001 runs, more than 100000/],
  ['a log range with a step too small to count', '{"command": ["true"], "params": {"x": {"from": 1, "to": 10, "log": true, "step": 1e-320}}}', [], /makes more than can be counted \(a step too small for its range\) runs/],
  ['a million children with --yes (bounded, not built)', '{"command": ["true"], "params": {"x": {"from": 1, "to": 1000, "step": 1}, "y": {"from": 1, "to": 1000, "step": 1}}}', ['--yes'], /makes 1000000 runs, more than 100000/],
  ['a value listed twice', '{"command": ["true"], "params": {"x": {"values": [9, 9]}}}', [], /d\.json: params\.x\.values\[1\]: 9 is listed already \(values\[0\]\): each value makes one run/],
  ['a value listed twice, as -0 and 0', '{"command": ["true"], "params": {"y": {"values": ["a", 0, -0]}}}', [], /params\.y\.values\[2\]: 0 is listed already \(values\[1\]\)/],
  ['a range whose step is below the precision kept', '{"command": ["true"], "params": {"x": {"from": 1, "to": 1.000000000001, "step": 1e-13}}}', [], /params\.x: the range gives 1 twice \(values are kept to 12 significant digits\): use a larger step/],
  ['a malformed name=value', '{"command": ["true"], "params": {"lr": 1}}', ['lr'], /malformed parameter 'lr': expected name=value/],
  ['name=value for a parameter the definition lacks', '{"command": ["true"], "params": {"lr": 1}}', ['lrr=2'], /d\.json has no parameter 'lrr': did you mean 'lr'\?/],
  ['a bad --repeat', '{"command": ["true"]}', ['--repeat', '0'], /invalid --repeat '0'/],
  ['a bad --seed', '{"command": ["true"]}', ['--seed', 'x1'], /invalid seed 'x1'/],
  ['an unknown host', '{"command": ["true"], "host": "gpu-box"}', [], /unknown host 'gpu-box'/],
];

describe('bad definitions and configs: a clear error naming file and path, and nothing written', () => {
  for (const [what, text, extra, message] of CASES) {
    it(what, async () => {
      const repo = makeRepo(`bad-${what}`, { 'd.json': text, 'a.txt': 'a' });
      const before = refState(repo);
      const r = await gitRun(['submit', 'd.json', ...extra], { cwd: repo });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /\nhint: /);
      assert.equal(refState(repo), before, 'no ref, no note');
    });
  }

  it('a definition or a .runconfig that is not UTF-8 is refused, not decoded with replacement characters', async () => {
    const repo = makeRepo('bad-utf8', { 'a.txt': 'a' });
    writeFileSync(path.join(repo, 'd.json'), Buffer.from('{"command": ["echo", "caf\xe9"]}', 'latin1'));
    const before = refState(repo);
    const r = await gitRun(['submit', 'd.json'], { cwd: repo });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /d\.json: not valid UTF-8 \(the bytes at offset 25 are not a UTF-8 character\)/);
    assert.equal(refState(repo), before);
    writeFileSync(path.join(repo, '.runconfig'), Buffer.concat([Buffer.from('{"experiments": {"e": {"command": ["echo", "'), Buffer.from([0xff, 0xfe]), Buffer.from('"]}}}')]));
    const c = await gitRun(['submit', 'e'], { cwd: repo });
    assert.equal(c.code, 2, c.stderr);
    assert.match(c.stderr, /\.runconfig is not a valid run configuration:\n {2}\(top\): not valid UTF-8 \(the bytes at offset 44/);
    assert.equal(refState(repo), before);
  });

  it('an unknown experiment, with the closest one', async () => {
    const repo = makeRepo('bad-experiment', { '.runconfig': JSON.stringify({ experiments: { baseline: { command: ['true'] } } }) });
    const before = refState(repo);
    const r = await gitRun(['submit', 'baselin'], { cwd: repo });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /'baselin' is neither a file nor an experiment of \.runconfig: did you mean 'baseline'\?/);
    assert.equal(refState(repo), before);
  });

  it('a definition file that does not exist', async () => {
    const repo = makeRepo('bad-missing', { 'a.txt': 'a' });
    const r = await gitRun(['submit', 'nope.json'], { cwd: repo });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read the definition .*nope\.json/);
  });

  it('an invalid experiment in .runconfig names it and the path inside it', async () => {
    const repo = makeRepo('bad-config-exp', { '.runconfig': JSON.stringify({ experiments: { e: { command: ['true'], params: { x: { values: [] } } } } }) });
    const before = refState(repo);
    const r = await gitRun(['submit', 'e'], { cwd: repo });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\.runconfig: experiments\.e: params\.x\.values: expected at least one value/);
    assert.equal(refState(repo), before);
  });

  it('a host of a type this version cannot run on', async () => {
    const repo = makeRepo('bad-host-type', { 'd.json': '{"command": ["true"]}', '.runconfig': JSON.stringify({ hosts: { cluster: { type: 'pbs', host: 'login' } } }) });
    const before = refState(repo);
    const r = await gitRun(['submit', 'd.json', '--host', 'cluster'], { cwd: repo });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /host 'cluster' is of type 'pbs'/);
    assert.equal(refState(repo), before);
  });
});
