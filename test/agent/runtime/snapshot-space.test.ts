// Proves that the storage engine the agent opens takes every snapshot the key-value limits let its state
// grow to (agent/runtime/open-storage.ts, snapshotBytesMaxFor):
// - a store written full under the default limits (64 MiB of 64 KiB values, the history window full)
//   is snapshotted through the engine openStorage opens, for wal and lmdb-direct: a 68 MiB image, which
//   the engines' former fixed 64 MiB limit refused as STORAGE_FULL (the members then stopped, and
//   stopped again at every restart on replaying the same log);
// - a map too small for two such snapshots is refused at open, naming the setting and the kv limits,
//   and opens once the kv limits are lowered;
// - the limit follows agent.json's kv limits.
import { strict as assert } from 'node:assert';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { DEFAULT_KV_OPTIONS } from '../../../agent/kv/options.js';
import { TrustedStateMachine } from '../../../agent/trust/trusted-state-machine.js';
import { nodeStateBytesMax } from '../../../agent/trust/snapshot-limit.js';
import { openStorage, snapshotBytesMaxFor } from '../../../agent/runtime/open-storage.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { Driver } from '../kv/kv-helpers.js';
import { makeTempDir, removeDir } from '../../storage/helpers.js';
import { minimalConfig } from './minimal-config.js';

const MIB = 1024 * 1024;

/** A node state whose store holds 64 KiB values up to the default data limit, the history window full too. */
function fullNodeState(): TrustedStateMachine {
  const node = new TrustedStateMachine(new KvStateMachine(DEFAULT_KV_OPTIONS), {
    cluster: 'c1',
    genesisAdminKey: null,
  });
  const d = new Driver(node.kv);
  const value = new Uint8Array(DEFAULT_KV_OPTIONS.valueBytesMax).fill(0x61);
  let refused = 0;
  for (let k = 0; refused === 0; k += 1) {
    const result = d.run({ op: 'put', key: `key-${k}`, value, returnPrevious: false });
    if (result.type === 'error') refused += 1;
  }
  assert.ok(node.kv.stats().dataBytes > DEFAULT_KV_OPTIONS.dataBytesMax - DEFAULT_KV_OPTIONS.valueBytesMax - 1024);
  return node;
}

describe('the snapshot space of the storage engine the agent opens', function () {
  this.timeout(120_000);
  let dir: string;

  beforeEach(() => {
    dir = makeTempDir('coraft-snapshot-space-');
  });

  afterEach(() => {
    removeDir(dir);
  });

  for (const storage of ['wal', 'lmdb-direct']) {
    it(`${storage}: takes the snapshot of a store written full under the default kv limits`, async () => {
      const node = fullNodeState();
      const engine = await openStorage(minimalConfig(dir, { storage }));
      try {
        const meta = {
          lastIncludedIndex: node.kv.lastApplied,
          lastIncludedTerm: 1,
          configuration: simpleConfiguration(['n1']),
        };
        const writer = engine.beginSnapshot(meta);
        const encoder = node.captureSnapshot();
        let bytes = 0;
        for (let chunk = encoder.next(MIB); chunk !== null; chunk = encoder.next(MIB)) {
          bytes += chunk.byteLength;
          await writer.write(chunk);
        }
        assert.ok(bytes > 64 * MIB, `the image is larger than the former fixed limit (${bytes} bytes)`);
        assert.ok(bytes <= nodeStateBytesMax(DEFAULT_KV_OPTIONS));
        assert.equal(await writer.commit(), true);
        assert.equal((await engine.load()).snapshot?.lastIncludedIndex, node.kv.lastApplied);
      } finally {
        await engine.close();
      }
    });
  }

  it('refuses a map too small for two of the largest snapshots, naming what to change', async () => {
    const mapSizeMaxBytes = 256 * MIB;
    await assert.rejects(openStorage(minimalConfig(dir, { storageOptions: { mapSizeMaxBytes } })), (error: Error) => {
      assert.equal((error as { code?: string }).code, 'CONFIG_INVALID');
      assert.match(error.message, /storageOptions\.mapSizeMaxBytes: expected at least \d+/);
      assert.match(error.message, /kv\.dataBytesMax/);
      return true;
    });
    const smaller = minimalConfig(dir, { storageOptions: { mapSizeMaxBytes }, kv: { dataBytesMax: 16 * MIB } });
    const engine = await openStorage(smaller);
    await engine.close();
  });

  it('follows the kv limits of agent.json', () => {
    const defaults = snapshotBytesMaxFor({});
    assert.ok(defaults >= nodeStateBytesMax(DEFAULT_KV_OPTIONS) && defaults % MIB === 0);
    assert.equal(
      snapshotBytesMaxFor({ dataBytesMax: DEFAULT_KV_OPTIONS.dataBytesMax + 10 * MIB }),
      defaults + 10 * MIB,
    );
    assert.throws(() => snapshotBytesMaxFor({ dataBytesMax: -1 }), { code: 'CONFIG_INVALID' });
  });
});
