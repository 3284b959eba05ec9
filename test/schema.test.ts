import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { NATIVE_RUN_ARGS, DEFINITION_KEYS } from '../src/core/definition.js';
import { STARTER_CONFIG } from '../src/api/context.js';
import { makeRepo, ok, showJson, runIds, ROOT } from './helpers.js';

const require = createRequire(import.meta.url);
// ajv is CommonJS; the 2020-12 build matches the schemas' dialect.
const Ajv2020 = require('ajv/dist/2020').default;
const load = (f: string) => JSON.parse(readFileSync(path.join(ROOT, f), 'utf8'));

describe('the JSON Schemas that ship with git-run', () => {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const definition = load('schema/definition.schema.json');
  const runconfig = load('schema/runconfig.schema.json');
  ajv.addSchema(definition);
  const validConfig = ajv.compile(runconfig);
  const validDefinition = ajv.getSchema('definition.schema.json')!;

  it('describe every native run_arg and definition key the code knows', () => {
    for (const k of Object.keys(NATIVE_RUN_ARGS)) assert.ok(k in definition.properties, `definition schema has ${k}`);
    for (const k of DEFINITION_KEYS) assert.ok(k in definition.properties, `definition schema has ${k}`);
    assert.deepEqual(Object.keys(runconfig.properties.defaults.properties).sort(), Object.keys(NATIVE_RUN_ARGS).sort());
  });

  it('accept .runconfig.example, the starter config and the demo definitions', () => {
    assert.ok(validConfig(load('.runconfig.example')), JSON.stringify(validConfig.errors));
    assert.ok(validConfig(STARTER_CONFIG), JSON.stringify(validConfig.errors));
    assert.ok(validDefinition({ command: 'python train.py --lr {lr}', params: { lr: { from: 0.00001, to: 1, log: true }, uri: { values: ['a', 'b'] } }, repeat: 3, seed: '120482382048' }));
  });

  it('reject what the checker rejects', () => {
    for (const bad of [{}, { command: [] }, { command: ['x'], repeat: 0 }, { command: ['x'], params: { x: { values: [] } } }, { command: ['x'], leave: 'some' }, { comand: ['x'] }]) {
      assert.equal(validDefinition(bad), false, JSON.stringify(bad));
    }
  });

  it('the example experiment of .runconfig.example runs as documented', async () => {
    const repo = makeRepo('example-experiment', {
      '.runconfig': readFileSync(path.join(ROOT, '.runconfig.example'), 'utf8'),
      'train.py': 'import sys\nprint(" ".join(sys.argv[1:]))\n',
    });
    const g = JSON.parse((await ok(['submit', '--json', 'example'], { cwd: repo })).stdout);
    assert.equal(g.children.length, 8, '4 learning rates (0.0001 to 0.1, inclusive) x 2 data sets');
    assert.equal(g.status, 'succeeded');
    const lrs = new Set<number>();
    for (const id of g.children) lrs.add((await showJson(repo, id)).params.lr);
    assert.deepEqual([...lrs].sort((a, b) => a - b), [0.0001, 0.001, 0.01, 0.1]);
    assert.equal(runIds(repo).length, 9);
  });
});
