/**
 * The daemon's choice of what to start (src/api/daemon/queue.ts), alone: a
 * pure function of the queued runs, the running counts and the capacities.
 * The daemon tests drive the same choice end to end.
 */
import assert from 'node:assert/strict';
import { dispatchOrder, runsToPrepare, runsToStart, type QueuedRun } from '../src/api/daemon/queue.js';

/** Group `g`'s child `i` (0-based), submitted at minute `t`, on `host`. */
const child = (g: string, i: number, t: number, host = 'local'): QueuedRun => ({ id: `${g}${i}`, host, rank: i, createdAt: `2026-12-02T08:${String(t).padStart(2, '0')}:00.000Z` });
const ids = (runs: QueuedRun[]) => runs.map((r) => r.id);
const caps = (m: Record<string, number>) => (host: string) => m[host] ?? 1;

describe('the daemon queue: what to start', () => {
  it('first come, first served per child: the first children of every group before any second child', () => {
    const a = [0, 1, 2].map((i) => child('A', i, 1));
    const b = [0, 1, 2].map((i) => child('B', i, 2));
    const single = child('S', 0, 3);
    const order = dispatchOrder([...b, single, ...a]);
    assert.deepEqual(ids(order), ['A0', 'B0', 'S0', 'A1', 'B1', 'A2', 'B2']);
    // A sweep submitted after a large one starts at once, beside it.
    assert.deepEqual(ids(runsToStart(order, new Map(), caps({ local: 2 }))), ['A0', 'B0']);
  });

  it('a host at capacity takes nothing; another host behind it is not held up', () => {
    const order = dispatchOrder([child('A', 0, 1, 'gpu'), child('A', 1, 1, 'gpu'), child('B', 0, 2, 'cpu'), child('B', 1, 2, 'cpu'), child('C', 0, 3, 'gpu')]);
    const capacity = caps({ gpu: 2, cpu: 1 });
    assert.deepEqual(ids(runsToStart(order, new Map([['gpu', 2]]), capacity)), ['B0']);
    assert.deepEqual(ids(runsToStart(order, new Map([['gpu', 1], ['cpu', 1]]), capacity)), ['A0']);
    assert.deepEqual(ids(runsToStart(order, new Map(), capacity)), ['A0', 'B0', 'C0']);
    // Running counts above capacity (runs started by others) start nothing there, and never go negative.
    assert.deepEqual(ids(runsToStart(order, new Map([['gpu', 5], ['cpu', 3]]), capacity)), []);
  });

  it('the order is a function of the records alone: a restart, or any listing order, gives the same', () => {
    const queued = [child('A', 0, 5), child('A', 1, 5), child('B', 0, 5), child('B', 1, 5), child('C', 0, 4), child('D', 3, 1)];
    const want = ids(dispatchOrder(queued));
    assert.deepEqual(want, ['C0', 'A0', 'B0', 'A1', 'B1', 'D3'], 'same index and time: by id');
    for (let k = 0; k < queued.length; k++) {
      const rotated = [...queued.slice(k), ...queued.slice(0, k)];
      assert.deepEqual(ids(dispatchOrder(rotated)), want);
      assert.deepEqual(ids(dispatchOrder(rotated.reverse())), want);
    }
    // A daemon restarted after starting the first two continues where it was.
    const rest = queued.filter((q) => !['C0', 'A0'].includes(q.id));
    assert.deepEqual(ids(runsToStart(dispatchOrder(rest), new Map([['local', 2]]), caps({ local: 3 }))), ['B0']);
    assert.deepEqual(ids(dispatchOrder(rest)), want.slice(2));
  });

  it('prepares the next runs of each host ahead of their turn, one per slot', () => {
    const order = dispatchOrder([child('A', 0, 1, 'x'), child('A', 1, 1, 'x'), child('A', 2, 1, 'x'), child('B', 0, 2, 'y')]);
    assert.deepEqual(ids(runsToPrepare(order, caps({ x: 2, y: 1 }))), ['A0', 'B0', 'A1']);
  });

  it('keys of the user are data: a host named __proto__ or constructor is a host like any other', () => {
    const order = dispatchOrder([child('A', 0, 1, '__proto__'), child('B', 0, 1, 'constructor'), child('C', 0, 1, '__proto__')]);
    assert.deepEqual(ids(runsToStart(order, new Map([['constructor', 0]]), () => 1)), ['A0', 'B0']);
  });
});
