// Proves that the fast reader of KV snapshots (agent/kv/snapshot-read.ts) never changes what a
// snapshot decodes to. Property: for every byte string, it gives either nothing (null: the general
// path decides) or exactly the image the general cbor-x path gives, which then does not throw;
// checked on the images of generated logs, on those images altered (a byte changed, cut short, a
// byte added), and on one image per check of the general path that breaks that check alone (the
// reader must give up on each: a check it missed would accept what the general path refuses).
// And it reads every image this code writes (versions 3 to 5, a clock past 2^32 written as a
// float64, non-ASCII keys), so a restart takes the fast path; what it leaves to the general path
// (a key with a lone surrogate, versions 1 and 2) still decodes there.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import {
  KV_SNAPSHOT_FORMAT,
  decodeKvSnapshot,
  decodeKvSnapshotGeneral,
  emptyKvSnapshotImage,
  encodeKvSnapshot,
} from '../../../agent/kv/snapshot.js';
import type { KvSnapshotImage } from '../../../agent/kv/snapshot.js';
import { readKvSnapshotFast, readStoredKvSnapshot } from '../../../agent/kv/snapshot-read.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { encodeCbor } from '../../../agent/kv/cbor-output.js';
import { Encoder } from 'cbor-x';
import { fcParams } from '../../fc-params.js';
import { genEntryArb, toLogEntries } from './arbitraries.js';
import { Driver, storedImageOf } from './kv-helpers.js';

/** The general path's image, or its error. */
function general(bytes: Uint8Array): KvSnapshotImage | Error {
  try {
    return decodeKvSnapshotGeneral(bytes);
  } catch (error) {
    return error as Error;
  }
}

/** Windows that split every field (1 byte), most strings (7) and a few (64), and the default. */
const WINDOWS = [1, 7, 64, undefined];

/**
 * The property: the fast reader gives nothing, or what the general path gives; and the reader of
 * a stored image gives the same at every window size, its byte strings copies of their own.
 */
function checkAgrees(bytes: Uint8Array): KvSnapshotImage | null {
  const fast = readKvSnapshotFast(bytes, KV_SNAPSHOT_FORMAT);
  for (const window of WINDOWS) {
    const stored = readStoredKvSnapshot(storedImageOf(bytes), KV_SNAPSHOT_FORMAT, window);
    assert.deepEqual(stored, fast, `the stored image read ${window ?? 'default'} bytes at a time`);
    for (const [, entry] of stored?.entries ?? []) assert.notEqual(entry.value.buffer, bytes.buffer);
  }
  if (fast === null) return null;
  const expected = general(bytes);
  assert.ok(
    !(expected instanceof Error),
    `the fast reader accepted what the general path refuses: ${expected instanceof Error ? expected.message : ''}`,
  );
  assert.deepEqual(fast, expected);
  return fast;
}

/** The snapshot of a state machine that applied `generated` (history kept short, quota set on some). */
function snapshotOf(generated: Parameters<typeof toLogEntries>[0]): Uint8Array {
  const sm = new KvStateMachine({ historyRevisionsMax: 8 });
  for (const entry of toLogEntries(generated, 1)) sm.apply(entry);
  return sm.snapshot();
}

const alteration = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('add' as const), byte: fc.integer({ min: 0, max: 255 }) }),
);

function alter(bytes: Uint8Array, change: AlterChange): Uint8Array {
  const copy = new Uint8Array(bytes);
  if (change.kind === 'set') {
    copy[change.at % copy.length] = change.byte;
    return copy;
  }
  if (change.kind === 'cut') return copy.subarray(0, change.at % copy.length);
  return new Uint8Array([...copy, change.byte]);
}

const small = fc.integer({ min: 0, max: 12 });
const textArb = fc.constantFrom('', 'a', 'b', 'é');
const bytesArb = fc.uint8Array({ minLength: 15, maxLength: 17 });

/** Images whose fields are drawn near every bound the reader checks, so that many break one check and some none. */
const imageArb: fc.Arbitrary<KvSnapshotImage> = fc.record({
  lastApplied: small,
  clockMs: small,
  entries: fc.array(
    fc.tuple(textArb, fc.record({ value: fc.uint8Array({ maxLength: 3 }), revision: small, lease: small })),
    { maxLength: 3 },
  ),
  sessions: fc.array(
    fc.record({
      clientId: textArb,
      floor: small,
      lastUsedMs: small,
      responses: fc.array(fc.record({ seq: small, response: fc.uint8Array({ maxLength: 2 }) }), { maxLength: 3 }),
    }),
    { maxLength: 2 },
  ),
  requestIds: fc.array(fc.record({ requestId: bytesArb, clientId: textArb, seq: small, usedMs: small }), {
    maxLength: 2,
  }),
  storeRevision: small,
  historyCompacted: small,
  history: fc.array(fc.record({ revision: small, key: textArb, value: fc.option(fc.uint8Array({ maxLength: 2 })) }), {
    maxLength: 3,
  }),
  quotaBytes: fc.constantFrom(0, 0, 1, 2 ** 52),
  quotaAlarm: fc.boolean(),
  leases: fc.array(fc.record({ id: small, ttlMs: small, refreshIndex: small }), { maxLength: 2 }),
});

type AlterChange =
  { kind: 'set'; at: number; byte: number } | { kind: 'cut'; at: number } | { kind: 'add'; byte: number };

const v = new Uint8Array([1, 2]);
const id = (n: number, bytes = 16): Uint8Array => new Uint8Array(bytes).fill(n);

/** A valid version 5 image that uses every part of the layout. */
const valid: KvSnapshotImage = {
  lastApplied: 10,
  clockMs: 10,
  entries: [
    ['a', { value: v, revision: 3, lease: 2 }],
    ['b', { value: v, revision: 4, lease: 0 }],
  ],
  sessions: [
    {
      clientId: 'c1',
      floor: 1,
      lastUsedMs: 2,
      responses: [
        { seq: 1, response: v },
        { seq: 2, response: v },
      ],
    },
    { clientId: 'c2', floor: 1, lastUsedMs: 3, responses: [] },
  ],
  requestIds: [
    { requestId: id(1), clientId: 'c1', seq: 1, usedMs: 2 },
    { requestId: id(2), clientId: 'c2', seq: 1, usedMs: 3 },
  ],
  storeRevision: 5,
  historyCompacted: 2,
  history: [
    { revision: 3, key: 'a', value: v },
    { revision: 4, key: 'b', value: null },
  ],
  quotaBytes: 1000,
  quotaAlarm: false,
  leases: [
    { id: 2, ttlMs: 100, refreshIndex: 2 },
    { id: 6, ttlMs: 100, refreshIndex: 9 },
  ],
};

type Break = (image: KvSnapshotImage) => Partial<KvSnapshotImage>;
const [e0, e1] = valid.entries as [KvSnapshotImage['entries'][0], KvSnapshotImage['entries'][0]];
const entry = (key: string, revision = 3, lease = 0) => [key, { value: v, revision, lease }] as const;
const session = (clientId: string, floor: number, lastUsedMs: number, seqs: number[] = []) => ({
  clientId,
  floor,
  lastUsedMs,
  responses: seqs.map((seq) => ({ seq, response: v })),
});
const rid = (n: number, clientId: string, seq: number, usedMs: number, bytes = 16) => ({
  requestId: id(n, bytes),
  clientId,
  seq,
  usedMs,
});

/** One image per check of decodeKvSnapshot, each breaking that check alone. */
const BREAKS: Readonly<Record<string, Break>> = {
  'entries out of order': () => ({ entries: [e1, e0] }),
  'a key twice': () => ({ entries: [e0, entry('a')] }),
  'an empty key': () => ({ entries: [entry(''), e1] }),
  'a revision 0': () => ({ entries: [entry('a', 0), e1] }),
  'a revision past lastApplied': () => ({ entries: [entry('a', 11), e1], storeRevision: 10 }),
  'a lease past lastApplied': () => ({ entries: [entry('a', 3, 11), e1] }),
  'a lease not granted': () => ({ entries: [entry('a', 3, 5), e1] }),
  'a store revision below a key': () => ({ storeRevision: 3, history: [] }),
  'a store revision past lastApplied': () => ({ storeRevision: 11 }),
  'a history start past the store revision': () => ({ historyCompacted: 6, history: [] }),
  'a session without client id': () => ({ sessions: [session('', 1, 2)] }),
  'a session twice': () => ({ sessions: [session('c1', 1, 2), session('c1', 1, 3)] }),
  'sessions out of use order': () => ({ sessions: [session('c1', 1, 3), session('c2', 1, 2)] }),
  'a session used after the clock': () => ({ sessions: [session('c1', 1, 11)] }),
  'a session floor 0': () => ({ sessions: [session('c1', 0, 2)] }),
  'a response below the floor': () => ({ sessions: [session('c1', 2, 2, [1])] }),
  'responses out of order': () => ({ sessions: [session('c1', 1, 2, [2, 2])] }),
  'a request id of 15 bytes': () => ({ requestIds: [rid(1, 'c1', 1, 2, 15)] }),
  'a request id of 17 bytes': () => ({ requestIds: [rid(1, 'c1', 1, 2, 17)] }),
  'a request id twice': () => ({ requestIds: [rid(1, 'c1', 1, 2), rid(1, 'c2', 1, 3)] }),
  'a request id without client': () => ({ requestIds: [rid(1, '', 1, 2)] }),
  'a request id sequence 0': () => ({ requestIds: [rid(1, 'c1', 0, 2)] }),
  'request ids out of use order': () => ({ requestIds: [rid(1, 'c1', 1, 3), rid(2, 'c2', 1, 2)] }),
  'a request id used after the clock': () => ({ requestIds: [rid(1, 'c1', 1, 11)] }),
  'a change at the history start': () => ({ history: [{ revision: 2, key: 'a', value: v }] }),
  'a change past the store revision': () => ({ history: [{ revision: 6, key: 'a', value: v }] }),
  'changes out of order': (image) => ({ history: [...image.history].reverse() }),
  'a change without key': () => ({ history: [{ revision: 3, key: '', value: v }] }),
  'a lease id 0': (image) => ({ leases: [{ id: 0, ttlMs: 1, refreshIndex: 1 }, ...image.leases] }),
  'a lease id past lastApplied': (image) => ({ leases: [...image.leases, { id: 11, ttlMs: 1, refreshIndex: 11 }] }),
  'leases out of order': (image) => ({ leases: [...image.leases].reverse() }),
  'a lease ttl 0': () => ({ leases: [{ id: 2, ttlMs: 0, refreshIndex: 2 }] }),
  'a refresh before the grant': () => ({ leases: [{ id: 2, ttlMs: 1, refreshIndex: 1 }] }),
  'a refresh past lastApplied': () => ({ leases: [{ id: 2, ttlMs: 1, refreshIndex: 11 }] }),
  'a quota past QUOTA_BYTES_MAX': () => ({ quotaBytes: 2 ** 40 + 1 }),
};

describe('KV snapshot fast reader', () => {
  it('reads an image that uses every part of the layout', () => {
    assert.deepEqual(checkAgrees(encodeKvSnapshot(valid)), valid);
  });

  for (const [name, change] of Object.entries(BREAKS)) {
    it(`leaves ${name} to the general path, which refuses it`, () => {
      const bytes = encodeKvSnapshot({ ...valid, ...change(valid) });
      assert.throws(() => decodeKvSnapshotGeneral(bytes), /CODEC_MALFORMED|must|snapshot/u);
      assert.equal(readKvSnapshotFast(bytes, KV_SNAPSHOT_FORMAT), null);
    });
  }

  it('reads every generated snapshot as the general path does', () => {
    fc.assert(
      fc.property(fc.array(genEntryArb, { maxLength: 60 }), (generated) => {
        const bytes = snapshotOf(generated);
        assert.notEqual(checkAgrees(bytes), null, 'a snapshot this code writes takes the fast path');
      }),
      fcParams(200, 'kv snapshot fast reader valid'),
    );
  });

  it('gives nothing or the general path image for altered snapshots', () => {
    fc.assert(
      fc.property(
        fc.array(genEntryArb, { maxLength: 30 }),
        fc.array(alteration, { minLength: 1, maxLength: 3 }),
        (generated, changes) => {
          let bytes = snapshotOf(generated);
          for (const change of changes) bytes = alter(bytes, change);
          checkAgrees(bytes);
        },
      ),
      fcParams(1000, 'kv snapshot fast reader altered'),
    );
  });

  it('gives nothing or the general path image for images that may break any check', () => {
    let read = 0;
    fc.assert(
      fc.property(imageArb, (image) => {
        if (checkAgrees(encodeKvSnapshot(image)) !== null) read += 1;
      }),
      fcParams(3000, 'kv snapshot fast reader checks'),
    );
    assert.ok(read > 0, 'some drawn images are valid');
  });

  it('gives nothing for every byte changed in turn where the general path refuses it', () => {
    const driver = new Driver(new KvStateMachine());
    driver.run({ op: 'lease-grant', ttlMs: 10_000 });
    driver.run({ op: 'put', key: 'k', value: Buffer.from('v'), returnPrevious: false, lease: driver.sm.lastApplied });
    driver.put('é€😀', 'x');
    const bytes = driver.sm.snapshot();
    let fastOnes = 0;
    for (let at = 0; at < bytes.length; at += 1)
      for (const byte of [0x00, 0x17, 0x18, 0x40, 0x5f, 0x60, 0x7f, 0x80, 0x9f, 0xf4, 0xf6, 0xfb, 0xff]) {
        const copy = new Uint8Array(bytes);
        copy[at] = byte;
        if (checkAgrees(copy) !== null) fastOnes += 1;
      }
    assert.ok(fastOnes > 0, 'some altered images are still valid ones');
  });

  it('reads versions 3, 4 and 5, a clock past 2^32 and non-ASCII keys', () => {
    const base = { ...emptyKvSnapshotImage(2 ** 40), clockMs: 1_760_000_000_123 };
    const value = new Uint8Array([1, 2, 3]);
    const entries = [
      ['a', { value, revision: 5, lease: 0 }],
      ['é€😀', { value, revision: 2 ** 33, lease: 0 }],
    ] as const;
    const images: KvSnapshotImage[] = [
      { ...base, entries, storeRevision: 2 ** 33 },
      { ...base, entries, storeRevision: 2 ** 33, quotaBytes: 1 << 20, quotaAlarm: true },
      {
        ...base,
        entries: [['a', { value, revision: 5, lease: 3 }]],
        storeRevision: 5,
        leases: [{ id: 3, ttlMs: 5_000, refreshIndex: 4 }],
      },
    ];
    for (const image of images) assert.deepEqual(checkAgrees(encodeKvSnapshot(image)), image);
  });

  it('leaves a key with a lone surrogate and versions 1 and 2 to the general path', () => {
    const value = new Uint8Array([7]);
    const surrogate = encodeKvSnapshot({
      ...emptyKvSnapshotImage(9),
      entries: [['a\uD800', { value, revision: 3, lease: 0 }]],
      storeRevision: 3,
    });
    assert.equal(readKvSnapshotFast(surrogate, KV_SNAPSHOT_FORMAT), null);
    assert.deepEqual(decodeKvSnapshot(surrogate), decodeKvSnapshotGeneral(surrogate));
    const encoder = new Encoder({ mapsAsObjects: true, useRecords: false });
    const v2 = encodeCbor(encoder, [KV_SNAPSHOT_FORMAT, 2, 9, 0, [['a', Buffer.from(value), 3]], [], []]);
    assert.equal(readKvSnapshotFast(v2, KV_SNAPSHOT_FORMAT), null);
    assert.equal(decodeKvSnapshot(v2).storeRevision, 9);
  });
});
