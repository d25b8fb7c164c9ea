// Proves the leases of the KV state machine, by applying entries and reading results and state:
// - a grant's id is its log index and raises the store revision; a put, a cas and a
//   transaction's put attach their key; a put without a lease detaches it; a delete detaches it;
// - a revoke deletes every key of the lease at its own index (one revision, history deletes) and
//   forgets the lease; an expiry does the same only when it names the lease's refresh index (a
//   keepalive ordered before it in the log cancels it);
// - attaching to, keeping alive or revoking an unknown lease is KV_LEASE_NOT_FOUND and changes
//   nothing; TTL bounds, leaseCountMax and leaseKeysMax are enforced, a refused transaction leaves
//   the attachments as they were;
// - a grant retried in its session returns the first answer (the same id) and grants nothing more;
// - a snapshot carries the leases and the attachments (a restored replica answers and behaves
//   alike, byte-identical snapshots); version 5 is written only while a lease exists (else the
//   version 3 or 4 an older member reads), and a version 3 snapshot (no leases) is still read.
import { strict as assert } from 'node:assert';
import { Decoder, Encoder } from 'cbor-x';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { decodeKvResult, encodeKvQuery } from '../../../agent/kv/encoding.js';
import type { KvResult } from '../../../agent/kv/types.js';
import { bytes, Driver, textOf } from './kv-helpers.js';
import type { SnapshotMeta } from '../../../contracts/log.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';

function metaAt(index: number): SnapshotMeta {
  return { lastIncludedIndex: index, lastIncludedTerm: 1, configuration: simpleConfiguration(['n1']) };
}

function leaseOf(sm: KvStateMachine, id: number): KvResult {
  return decodeKvResult(sm.query(encodeKvQuery({ op: 'lease', id })));
}

function keysOf(sm: KvStateMachine, id: number): readonly string[] | null {
  const result = leaseOf(sm, id);
  return result.type === 'lease' ? result.keys : null;
}

function grant(d: Driver, ttlMs = 5000): number {
  const result = d.run({ op: 'lease-grant', ttlMs });
  assert.equal(result.type, 'lease', JSON.stringify(result));
  return result.type === 'lease' ? result.id : 0;
}

const leasedPut = (d: Driver, key: string, lease: number): KvResult =>
  d.run({ op: 'put', key, value: bytes(key), returnPrevious: false, lease });

const changesSince = (sm: KvStateMachine, since: number): KvResult =>
  decodeKvResult(sm.query(encodeKvQuery({ op: 'changes', since, prefix: '', exact: false, limit: 100 })));

describe('KvStateMachine leases', () => {
  it('grants with the log index as id, attaches keys, and revokes them at one index', () => {
    const d = new Driver(new KvStateMachine());
    d.put('x', 'free');
    const id = grant(d);
    assert.equal(id, 2);
    assert.equal(d.sm.revision, 2, 'a grant raises the store revision');
    assert.equal(leasedPut(d, 'a', id).type, 'put');
    assert.equal(d.run({ op: 'cas', key: 'b', expectedRevision: 0, value: bytes('b'), lease: id }).type, 'cas');
    const txn = d.run({
      op: 'txn',
      compare: [],
      success: [{ op: 'put', key: 'c', value: bytes('c'), lease: id }],
      failure: [],
    });
    assert.equal(txn.type, 'txn');
    leasedPut(d, 'd', id);
    d.put('d', 'detached');
    assert.deepEqual(keysOf(d.sm, id), ['a', 'b', 'c']);
    const revoked = d.run({ op: 'lease-revoke', id });
    const index = d.sm.lastApplied;
    assert.deepEqual(revoked, { type: 'lease-end', id, ended: true, deletedKeys: 3, storeRevision: index });
    for (const key of ['a', 'b', 'c']) assert.equal(textOf(d.get(key)), null);
    assert.equal(textOf(d.get('d')), 'detached');
    assert.equal(textOf(d.get('x')), 'free');
    const changes = changesSince(d.sm, index - 1);
    assert.equal(changes.type, 'changes');
    if (changes.type === 'changes')
      assert.deepEqual(
        changes.events.map((e) => [e.type, e.key, e.revision]),
        [
          ['delete', 'a', index],
          ['delete', 'b', index],
          ['delete', 'c', index],
        ],
      );
    assert.equal(leaseOf(d.sm, id).type, 'error');
    d.sm.checkInvariants();
  });

  it('expires only a lease not refreshed since the index the expiry names', () => {
    const d = new Driver(new KvStateMachine());
    const id = grant(d);
    leasedPut(d, 'a', id);
    const kept = d.run({ op: 'lease-keepalive', id });
    assert.equal(kept.type, 'lease');
    const refresh = d.sm.lastApplied;
    assert.equal(kept.type === 'lease' ? kept.refreshIndex : 0, refresh);
    const revisionBefore = d.sm.revision;
    const stale = d.run({ op: 'lease-expire', id, refreshIndex: id });
    assert.deepEqual(stale, { type: 'lease-end', id, ended: false, deletedKeys: 0, storeRevision: revisionBefore });
    assert.equal(textOf(d.get('a')), 'a', 'a stale expiry deletes nothing');
    assert.equal(d.sm.revision, revisionBefore, 'nor raises the revision');
    const expired = d.run({ op: 'lease-expire', id, refreshIndex: refresh });
    assert.equal(expired.type === 'lease-end' && expired.ended, true);
    assert.equal(textOf(d.get('a')), null);
    assert.equal(d.run({ op: 'lease-expire', id, refreshIndex: refresh }).type, 'lease-end', 'a second one is a no-op');
    d.sm.checkInvariants();
  });

  it('refuses unknown leases and enforces the lease limits, changing nothing', () => {
    const d = new Driver(new KvStateMachine({ leaseCountMax: 1, leaseKeysMax: 2, leaseTtlMsMin: 500 }));
    for (const op of [
      { op: 'lease-keepalive', id: 9 },
      { op: 'lease-revoke', id: 9 },
      { op: 'put', key: 'k', value: bytes('v'), returnPrevious: false, lease: 9 },
    ] as const) {
      const result = d.run(op);
      assert.equal(result.type === 'error' && result.code, 'KV_LEASE_NOT_FOUND', op.op);
    }
    assert.equal(textOf(d.get('k')), null);
    const short = d.run({ op: 'lease-grant', ttlMs: 100 });
    assert.equal(short.type === 'error' && short.code, 'KV_LEASE_TTL');
    const id = grant(d);
    const second = d.run({ op: 'lease-grant', ttlMs: 1000 });
    assert.equal(second.type === 'error' && second.code, 'KV_LEASE_LIMIT');
    leasedPut(d, 'a', id);
    leasedPut(d, 'b', id);
    assert.equal(leasedPut(d, 'a', id).type, 'put', 'rewriting a key already on the lease fits');
    const third = leasedPut(d, 'c', id);
    assert.equal(third.type === 'error' && third.code, 'KV_LEASE_LIMIT');
    assert.equal(textOf(d.get('c')), null);
    const txn = d.run({
      op: 'txn',
      compare: [],
      success: [
        { op: 'put', key: 'b', value: bytes('detached') },
        { op: 'put', key: 'e', value: bytes('e'), lease: id },
        { op: 'put', key: 'f', value: bytes('f'), lease: id },
      ],
      failure: [],
    });
    assert.equal(txn.type === 'error' && txn.code, 'KV_LEASE_LIMIT', JSON.stringify(txn));
    d.sm.checkInvariants();
    assert.deepEqual(keysOf(d.sm, id), ['a', 'b'], 'the refused branch is undone');
    assert.equal(textOf(d.get('b')), 'b');
    assert.equal(textOf(d.get('e')), null);
  });

  it('answers a grant retried in its session with the first answer and grants once', () => {
    const d = new Driver(new KvStateMachine());
    const session = { clientId: 'c1', seq: 1 };
    const first = d.run({ op: 'lease-grant', ttlMs: 3000 }, session);
    const retry = d.run({ op: 'lease-grant', ttlMs: 3000 }, session);
    assert.deepEqual(retry, first);
    assert.equal(d.sm.leases().length, 1, 'one lease granted');
    const attach = { op: 'put', key: 'k', value: bytes('v'), returnPrevious: false, lease: 1 } as const;
    const put = d.run(attach, { clientId: 'c1', seq: 2 });
    d.run({ op: 'lease-revoke', id: 1 });
    assert.deepEqual(d.run(attach, { clientId: 'c1', seq: 2 }), put, 'a retried attach is not run again');
    assert.equal(textOf(d.get('k')), null);
  });

  it('carries leases and attachments in a snapshot', () => {
    const d = new Driver(new KvStateMachine());
    const one = grant(d, 2000);
    const two = grant(d, 9000);
    leasedPut(d, 'a', one);
    leasedPut(d, 'b', two);
    d.put('c', 'free');
    d.run({ op: 'lease-keepalive', id: two });
    const image = d.sm.snapshot();
    const replica = new KvStateMachine();
    replica.restore(metaAt(d.sm.lastApplied), image);
    assert.deepEqual(replica.leases(), d.sm.leases());
    assert.deepEqual(leaseOf(replica, one), leaseOf(d.sm, one));
    assert.deepEqual(Buffer.from(replica.snapshot()), Buffer.from(image));
    const r = new Driver(replica);
    for (const driver of [d, r]) {
      const ended = driver.run({ op: 'lease-revoke', id: one });
      assert.equal(ended.type === 'lease-end' && ended.deletedKeys, 1);
      driver.sm.checkInvariants();
    }
    assert.deepEqual(Buffer.from(replica.snapshot()), Buffer.from(d.sm.snapshot()));
  });

  it('writes version 5 only for a state with a lease, so a cluster without leases upgrades member by member', () => {
    const d = new Driver(new KvStateMachine());
    const versionOf = (sm: KvStateMachine): unknown =>
      (new Decoder({ mapsAsObjects: true, useRecords: false }).decode(sm.snapshot()) as unknown[])[1];
    d.put('k', 'v');
    assert.equal(versionOf(d.sm), 3);
    const id = grant(d);
    assert.equal(versionOf(d.sm), 5);
    d.run({ op: 'lease-revoke', id });
    assert.equal(versionOf(d.sm), 3);
  });

  it('reads a version 3 snapshot (no leases) as a state without leases', () => {
    const raw = new Encoder({ mapsAsObjects: true, useRecords: false });
    const v3 = raw.encode(['coraft-kv', 3, 4, 0, [['k', Buffer.from('v'), 3]], [], [], 3, 3, []]);
    const sm = new KvStateMachine();
    sm.restore(metaAt(4), v3);
    assert.deepEqual(sm.leases(), []);
    assert.equal(textOf(new Driver(sm).get('k')), 'v');
    const bad = raw.encode(['coraft-kv', 5, 4, 0, [['k', Buffer.from('v'), 3, 2]], [], [], 3, 3, [], 0, false, []]);
    assert.throws(() => new KvStateMachine().restore(metaAt(4), bad), /names lease 2, not granted/);
  });
});
