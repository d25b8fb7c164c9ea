// Proves the space quota of the KV state machine (agent/kv/quota.ts): a write that would leave the
// store above the replicated quota is refused at apply with KV_QUOTA_EXCEEDED and the diagnostic
// `quota exceeded: N of M bytes`, raising the NOSPACE alarm; deletes, shrinking writes and
// shrinking transactions still run and clear the alarm; the quota and the alarm travel in
// snapshots. And that every replica decides identically whatever its own agent.json says: the
// quota is only what the log carries (a property over random logs, with replicas restored from
// snapshots midway), and the keeper proposes only on a leader whose applied value differs.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { Encoder } from 'cbor-x';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { QuotaKeeper, spaceStatusOf } from '../../../agent/kv/quota-keeper.js';
import { decodeQuotaCommand, encodeQuotaCommand, QUOTA_KEY_OVERHEAD_BYTES } from '../../../agent/kv/quota.js';
import { decodeKvSnapshot } from '../../../agent/kv/snapshot.js';
import { responseForKvError } from '../../../agent/endpoint/responses.js';
import { encodeKvCommand } from '../../../agent/kv/encoding.js';
import type { KvResult } from '../../../agent/kv/types.js';
import type { LogEntry } from '../../../contracts/log.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { Driver, bytes } from './kv-helpers.js';
import { fcParams } from '../../fc-params.js';

/** The size the quota counts for one key with a value of `valueBytes` bytes (ASCII key). */
function sizeOf(key: string, valueBytes: number): number {
  return key.length + valueBytes + QUOTA_KEY_OVERHEAD_BYTES;
}

function setQuota(d: Driver, quotaBytes: number): void {
  assert.equal(d.applyRaw(encodeQuotaCommand(quotaBytes)).length, 0);
}

function errorOf(result: KvResult): string {
  assert.equal(result.type, 'error', JSON.stringify(result));
  return result.type === 'error' ? `${result.code}: ${result.message}` : '';
}

describe('KV space quota', () => {
  it('refuses a write beyond the quota with its diagnostic, raises NOSPACE, accepts again once space is freed', () => {
    const d = new Driver(new KvStateMachine());
    const quota = 2 * sizeOf('a', 100);
    setQuota(d, quota);
    assert.equal(d.put('a', 'x'.repeat(100)).type, 'put');
    assert.equal(d.put('b', 'x'.repeat(100)).type, 'put');
    assert.equal(d.sm.stats().usageBytes, quota);
    const refused = d.put('c', 'x');
    assert.equal(errorOf(refused), `KV_QUOTA_EXCEEDED: quota exceeded: ${quota + sizeOf('c', 1)} of ${quota} bytes`);
    assert.equal(d.sm.read('c'), null, 'the refused write changed nothing');
    assert.equal(d.sm.stats().quotaAlarm, true);
    assert.deepEqual(spaceStatusOf(d.sm.stats(), quota, false).alarms, ['NOSPACE']);
    // A write that grows an existing key is refused too; one that shrinks it runs.
    assert.equal(errorOf(d.put('a', 'x'.repeat(101))).startsWith('KV_QUOTA_EXCEEDED'), true);
    assert.equal(d.put('a', 'x'.repeat(100)).type, 'put', 'a write that leaves the size as it was runs');
    assert.equal(d.sm.stats().quotaAlarm, true, 'no space was freed yet');
    // Deleting frees space and clears the alarm; the write that was refused now runs.
    assert.equal(d.run({ op: 'delete', key: 'b', returnPrevious: false }).type, 'delete');
    assert.equal(d.sm.stats().quotaAlarm, false);
    assert.deepEqual(spaceStatusOf(d.sm.stats(), quota, false).alarms, []);
    assert.equal(d.put('c', 'x').type, 'put');
  });

  it('maps the refusal to 4.13 with the diagnostic as payload', () => {
    const response = responseForKvError({
      type: 'error',
      code: 'KV_QUOTA_EXCEEDED',
      message: 'quota exceeded: 9 of 8 bytes',
    });
    assert.equal(response.code, (4 << 5) | 13, '4.13');
    assert.equal(Buffer.from(response.payload ?? new Uint8Array(0)).toString(), 'quota exceeded: 9 of 8 bytes');
  });

  it('judges a transaction by its whole branch: one that frees space runs, one that grows is undone', () => {
    const d = new Driver(new KvStateMachine());
    const quota = 2 * sizeOf('a', 50);
    setQuota(d, quota);
    d.put('a', 'x'.repeat(50));
    d.put('b', 'x'.repeat(50));
    const grow = d.run({ op: 'txn', compare: [], success: [{ op: 'put', key: 'c', value: bytes('y') }], failure: [] });
    assert.match(errorOf(grow), /^KV_QUOTA_EXCEEDED: quota exceeded: \d+ of \d+ bytes$/);
    const revision = d.sm.revision;
    // Put first (over the quota on its own), then delete a larger key: the branch shrinks the store.
    const shrink = d.run({
      op: 'txn',
      compare: [],
      success: [
        { op: 'put', key: 'c', value: bytes('y') },
        { op: 'delete', key: 'b' },
      ],
      failure: [],
    });
    assert.equal(shrink.type, 'txn');
    assert.equal(d.sm.read('b'), null);
    assert.ok(d.sm.revision > revision);
    // A branch that grows the store with two puts is undone as a whole.
    const before = d.sm.snapshot();
    const both = d.run({
      op: 'txn',
      compare: [],
      success: [
        { op: 'put', key: 'd', value: bytes('1') },
        { op: 'put', key: 'e', value: bytes('x'.repeat(60)) },
      ],
      failure: [],
    });
    assert.equal(errorOf(both).startsWith('KV_QUOTA_EXCEEDED'), true);
    assert.equal(d.sm.read('d'), null);
    assert.equal(d.sm.stats().keyCount, 2);
    assert.ok(before.length > 0);
  });

  it('keeps the quota and the alarm in snapshots and reads a version 3 snapshot as no quota', () => {
    const d = new Driver(new KvStateMachine());
    setQuota(d, sizeOf('k', 10));
    d.put('k', 'x'.repeat(10));
    d.put('l', 'x');
    const image = d.sm.snapshot();
    const decoded = decodeKvSnapshot(image);
    const raw = new Encoder({ mapsAsObjects: true, useRecords: false });
    assert.equal((raw.decode(image) as unknown[])[1], 4, 'a quota is written as version 4');
    assert.equal(
      (raw.decode(new KvStateMachine().snapshot()) as unknown[])[1],
      3,
      'no quota: version 3, which earlier members read',
    );
    assert.equal(decoded.quotaBytes, sizeOf('k', 10));
    assert.equal(decoded.quotaAlarm, true);
    const other = new KvStateMachine();
    other.restore({ lastIncludedIndex: d.sm.lastApplied, lastIncludedTerm: 1, configuration: EMPTY_CONFIG }, image);
    assert.deepEqual(other.stats(), d.sm.stats());
    const v3 = new Encoder({ mapsAsObjects: true, useRecords: false }).encode([
      'coraft-kv',
      3,
      4,
      0,
      [],
      [],
      [],
      0,
      0,
      [],
    ]);
    assert.equal(decodeKvSnapshot(v3).quotaBytes, 0);
    assert.equal(decodeKvSnapshot(v3).quotaAlarm, false);
  });

  it('reads only well-formed quota commands, and no other command as one', () => {
    assert.equal(decodeQuotaCommand(encodeQuotaCommand(1234)), 1234);
    const put = encodeKvCommand({
      op: 'put',
      key: 'quota',
      value: bytes('quota'),
      returnPrevious: false,
      session: null,
      timeMs: 0,
    });
    assert.equal(decodeQuotaCommand(put), null);
    const encoder = new Encoder({ mapsAsObjects: true, useRecords: false });
    assert.throws(() => decodeQuotaCommand(encoder.encode({ op: 'quota', bytes: -1 })), { code: 'CODEC_MALFORMED' });
    assert.throws(() => decodeQuotaCommand(encoder.encode({ op: 'quota', bytes: 1, x: 1 })), {
      code: 'CODEC_MALFORMED',
    });
    const d = new Driver(new KvStateMachine());
    assert.match(errorOf(decodeResult(d.applyRaw(encoder.encode({ op: 'quota' })))), /^KV_MALFORMED/);
  });

  // Property: replicas that apply the same log give byte-identical results and snapshots,
  // whatever quota their own configuration holds (none of it reaches the state machine) and
  // whether they applied every entry or restored a snapshot midway.
  it('decides identically on every replica, including one restored from a snapshot midway', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant<'quota'>('quota'), bytes: fc.integer({ min: 0, max: 400 }) }),
      fc.record({ kind: fc.constant<'put'>('put'), key: fc.constantFrom('a', 'b', 'c', 'd'), size: fc.nat(120) }),
      fc.record({ kind: fc.constant<'delete'>('delete'), key: fc.constantFrom('a', 'b', 'c', 'd') }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), fc.nat(60), (ops, cut) => {
        const log: LogEntry[] = ops.map((o, i) => ({
          term: 1,
          index: i + 1,
          type: 'command',
          command:
            o.kind === 'quota'
              ? encodeQuotaCommand(o.bytes)
              : encodeKvCommand(
                  o.kind === 'put'
                    ? {
                        op: 'put',
                        key: o.key,
                        value: new Uint8Array(o.size),
                        returnPrevious: false,
                        session: null,
                        timeMs: i,
                      }
                    : { op: 'delete', key: o.key, returnPrevious: false, session: null, timeMs: i },
                ),
        }));
        const a = new KvStateMachine({ dataBytesMax: 1 << 20 });
        const b = new KvStateMachine({ dataBytesMax: 1 << 20 });
        const at = Math.min(cut, log.length);
        for (const entry of log.slice(0, at)) b.apply(entry);
        const c = new KvStateMachine({ dataBytesMax: 1 << 20 });
        c.restore({ lastIncludedIndex: at, lastIncludedTerm: 1, configuration: EMPTY_CONFIG }, b.snapshot());
        for (const entry of log) {
          const expected = Buffer.from(a.apply(entry));
          if (entry.index <= at) continue;
          assert.deepEqual(Buffer.from(b.apply(entry)), expected);
          assert.deepEqual(Buffer.from(c.apply(entry)), expected);
        }
        assert.deepEqual(Buffer.from(b.snapshot()), Buffer.from(a.snapshot()));
        assert.deepEqual(Buffer.from(c.snapshot()), Buffer.from(a.snapshot()));
        const stats = a.stats();
        if (stats.quotaBytes > 0 && stats.usageBytes > stats.quotaBytes) {
          // Over the quota only when it was lowered below the size: no write grew the store past it.
          assert.ok(ops.some((o) => o.kind === 'quota'));
        }
      }),
      fcParams(),
    );
  });

  it('the keeper proposes its quota only on a leader whose applied value differs, one at a time', async () => {
    const timers = new VirtualTimers();
    const proposed: number[] = [];
    let leader = false;
    let applied = 0;
    let release: () => void = () => undefined;
    const keeper = new QuotaKeeper(
      {
        isRunning: () => true,
        isLeader: () => leader,
        appliedQuotaBytes: () => applied,
        submitCommand: (command) => {
          const quota = decodeQuotaCommand(command);
          assert.ok(quota !== null);
          proposed.push(quota);
          return new Promise((resolve) => {
            release = () => {
              applied = quota;
              resolve(new Uint8Array(0));
            };
          });
        },
      },
      { timers, logger: silentLogger() },
      { quotaBytes: 5000, checkIntervalMs: 10, proposeTimeoutMs: 100 },
    );
    assert.equal(keeper.maybePropose(), false, 'a follower proposes nothing');
    leader = true;
    assert.equal(keeper.maybePropose(), true);
    assert.equal(keeper.maybePropose(), false, 'one proposal at a time');
    release();
    await Promise.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(keeper.maybePropose(), false, 'the applied quota is the configured one');
    assert.deepEqual(proposed, [5000]);
    keeper.stop();
  });
});

const EMPTY_CONFIG = { voters: [], learners: [], oldVoters: null, members: [] };

function decodeResult(raw: Uint8Array): KvResult {
  return decodeKvResultBytes(raw);
}

import { decodeKvResult as decodeKvResultBytes } from '../../../agent/kv/encoding.js';
import type { DiagnosticLogger } from '../../../contracts/logger.js';

function silentLogger(): DiagnosticLogger {
  const none = (): void => undefined;
  return { log: none, trace: none, debug: none, info: none, warning: none, error: none, critical: none };
}
