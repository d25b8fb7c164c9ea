// Proves the CPU-profile summary of the vs-etcd bench (bench/_cpu-profile.ts) charges each
// sample's time delta to the function sampled, sums the same function over several profiles,
// leaves idle time out of the busy total, groups by file, names files relative to the checkout
// or from node_modules on, counts only the samples of a time window when given one, and refuses
// what is not a profile.
import { strict as assert } from 'node:assert';
import { addProfile, shortUrl, topCosts } from '../../bench/_cpu-profile.js';

const ROOT = '/work/coraft';

function profile(samples: number[], deltas: number[]): unknown {
  const node = (id: number, functionName: string, url: string, lineNumber: number): unknown => ({
    id,
    callFrame: { functionName, scriptId: '1', url, lineNumber, columnNumber: 0 },
    hitCount: 0,
    children: [],
  });
  return {
    nodes: [
      node(1, '(root)', '', -1),
      node(2, '(idle)', '', -1),
      node(3, 'seal', `file://${ROOT}/dist/transport/dtls/record.js`, 41),
      node(4, 'encode', `file://${ROOT}/node_modules/cbor-x/encode.js`, 9),
      node(5, '', `file://${ROOT}/dist/transport/dtls/record.js`, 99),
      node(6, '(garbage collector)', '', -1),
    ],
    startTime: 0,
    endTime: 1,
    samples,
    timeDeltas: deltas,
  };
}

describe('bench cpu profile summary', () => {
  it('charges sample time to functions and files, over several profiles, idle apart', () => {
    const self = new Map();
    const frames = new Map();
    addProfile(profile([2, 3, 3, 4, 5, 6], [1000, 3000, 3000, 2000, 1000, 1000]), self, frames);
    addProfile(profile([3, 2], [2000, 5000]), self, frames);
    const costs = topCosts(self, ROOT, 10);
    assert.equal(costs.idleMs, 6);
    assert.equal(costs.busyMs, 12);
    assert.deepEqual(costs.functions[0], { name: 'seal dist/transport/dtls/record.js:42', selfMs: 8, percent: 66.7 });
    assert.deepEqual(
      costs.functions.map((f) => f.name),
      [
        'seal dist/transport/dtls/record.js:42',
        'encode node_modules/cbor-x/encode.js:10',
        '(anonymous) dist/transport/dtls/record.js:100',
        '(garbage collector)',
      ],
    );
    assert.deepEqual(costs.files[0], { name: 'dist/transport/dtls/record.js', selfMs: 9, percent: 75 });
    assert.equal(topCosts(self, ROOT, 1).functions.length, 1);
  });

  it('counts only the samples within a window of the profile clock', () => {
    // startTime 0: the samples are taken at 1000, 4000, 7000, 9000, 10000 and 11000 µs.
    const self = new Map();
    addProfile(profile([2, 3, 3, 4, 5, 6], [1000, 3000, 3000, 2000, 1000, 1000]), self, new Map(), {
      fromUs: 4000,
      toUs: 9000,
    });
    const costs = topCosts(self, ROOT, 10);
    assert.equal(costs.idleMs, 0);
    assert.equal(costs.busyMs, 8);
    assert.deepEqual(
      costs.functions.map((f) => [f.name, f.selfMs]),
      [
        ['seal dist/transport/dtls/record.js:42', 6],
        ['encode node_modules/cbor-x/encode.js:10', 2],
      ],
    );
  });

  it('shortens file names and refuses a non-profile', () => {
    assert.equal(shortUrl(`file://${ROOT}/dist/agent/runtime/node.js`, ROOT), 'dist/agent/runtime/node.js');
    assert.equal(shortUrl('file:///elsewhere/node_modules/lmdb/read.js', ROOT), 'node_modules/lmdb/read.js');
    assert.equal(shortUrl('node:dgram', ROOT), 'node:dgram');
    assert.throws(() => addProfile({ samples: [] }, new Map(), new Map()), /not a V8 CPU profile/);
  });
});
