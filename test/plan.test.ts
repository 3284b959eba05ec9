import assert from 'node:assert/strict';
import { planSubmission, type PlanInput } from '../src/core/plan.js';
import { checkDefinition } from '../src/core/definition.js';
import { runKeyOf } from '../src/core/key.js';

/** A plan's input with everything read from the world given: no git, no file system. */
function input(raw: unknown, over: Partial<PlanInput> = {}): PlanInput {
  const { definition } = checkDefinition(raw);
  assert.ok(definition);
  let n = 0;
  return {
    def: definition,
    direct: false,
    source: 'sweep.json',
    rawParams: (raw as { params?: Record<string, unknown> }).params ?? {},
    assignments: [],
    host: { name: 'local', record: null, maxParallel: null, sendsCode: false },
    configDefaults: {},
    profileArgs: {},
    temporary: {},
    fixedArgs: { send_ignore: null, fetch_ignore: null },
    snapshot: { tree: 'a'.repeat(40), commit: null, dirty: true },
    codeKey: 'b'.repeat(40),
    deps: null,
    inputs: [],
    env: { blob: 'c'.repeat(40), leftOut: ['TERM'] },
    cwd: '',
    creator: 'Ada <ada@example.test>',
    createdAt: '2026-12-02T00:00:00.000Z',
    seed: 42,
    seeded: true,
    queue: false,
    cpus: 8,
    nonce: () => `nonce-${n++}`,
    ...over,
  };
}

describe('planning a submission (pure: core/plan.ts)', () => {
  it('a sweep: one child per combination and repetition, seeds derived from the group seed, the group keyed by its children', () => {
    const raw = { command: ['train', '{lr}'], params: { lr: { values: [0.1, 0.2] } }, repeat: 2, name: 'sweep', tags: ['t'] };
    const p = planSubmission(input(raw));
    assert.equal(p.children.length, 4);
    assert.ok(p.group);
    assert.equal(p.group.kind, 'group');
    assert.equal(p.group.childCount, 4);
    assert.deepEqual({ ...p.group.params }, { lr: { values: [0.1, 0.2] } });
    assert.deepEqual(p.children.map((c) => c.spec.command), [['train', '0.1'], ['train', '0.1'], ['train', '0.2'], ['train', '0.2']]);
    assert.equal(new Set(p.children.map((c) => c.spec.seed)).size, 4, 'each child its own seed');
    assert.equal(new Set(p.children.map((c) => c.spec.nonce)).size, 4);
    // The same input plans the same keys: memoization's premise.
    const again = planSubmission(input(raw));
    assert.deepEqual(again.children.map((c) => c.spec.key), p.children.map((c) => c.spec.key));
    assert.equal(again.group!.key, p.group.key);
    for (const c of p.children) assert.equal(c.spec.key, runKeyOf(c.spec.keyParts!));
    assert.equal(p.events.length, 1);
    assert.deepEqual(p.meta, { name: 'sweep', notes: null, tags: ['t'] });
    assert.equal(p.maxParallel, 8, 'the CPUs by default');
  });

  it('a single run uses the seed itself; the key moves with each part and not with the rest', () => {
    const raw = { command: ['train'], seed: 7 };
    const base = planSubmission(input(raw, { seed: 7 }));
    assert.equal(base.group, null);
    assert.equal(base.children[0]!.spec.seed, 7);
    const key = (over: Partial<PlanInput>) => planSubmission(input(raw, { seed: 7, ...over })).children[0]!.spec.key;
    const k0 = base.children[0]!.spec.key;
    assert.notEqual(key({ codeKey: 'd'.repeat(40) }), k0);
    assert.notEqual(key({ env: { blob: 'e'.repeat(40), leftOut: [] } }), k0);
    assert.notEqual(key({ inputs: [{ path: 'data.bin', oid: 'f'.repeat(40), type: 'blob', mode: '100644', size: 1 }] }), k0);
    assert.notEqual(key({ temporary: { partition: 'gpu' } }), k0, 'a run_arg passed to the executor');
    // What cannot change a result: the snapshot's own id (the code part is codeKey), names left out, when and by whom, native run_args.
    assert.equal(key({ snapshot: { tree: '9'.repeat(40), commit: null, dirty: false } }), k0);
    assert.equal(key({ env: { blob: 'c'.repeat(40), leftOut: ['TERM', 'SSH_AUTH_SOCK'] } }), k0);
    assert.equal(key({ createdAt: '2027-01-01T00:00:00.000Z', creator: 'Bob <b@x>' }), k0);
    assert.equal(key({ temporary: { leave: 'all', force: true } }), k0);
  });

  it("run_args: remotemanager's levels, the submission's over the definition's over the profile's over .runconfig's", () => {
    const raw = { command: ['x', '{a}'], params: { a: { values: [1, 2] } }, run_args: { leave: 'none', custom: 'def' }, overrides: [{ params: { a: 2 }, run_args: { custom: 'child' } }] };
    const p = planSubmission(input(raw, { configDefaults: { leave: 'all', max_parallel: 3 }, profileArgs: { custom: 'profile' }, temporary: { leave: 'code' }, queue: true }));
    const [one, two] = p.children.map((c) => c.spec);
    assert.equal(one!.runArgs.leave, 'code');
    assert.equal(one!.runArgs.custom, 'def');
    assert.equal(two!.runArgs.custom, 'child');
    assert.equal(p.maxParallel, 3);
    assert.equal(one!.dispatch, 'daemon');
    assert.deepEqual(one!.runArgsFrom!.temporary, { leave: 'code' });
    assert.equal(p.sequential, false);
    assert.equal(planSubmission(input({ command: ['x'], asynchronous: false })).sequential, true);
  });
});
