// Proves the snapshot size bounds (agent/kv/snapshot-limit.ts, agent/trust/snapshot-limit.ts), which
// the agent opens its storage engine with:
// - property: under any small limits, after every command of a log that fills every part of the
//   state (keys, sessions keeping responses, request ids, history, leases), the KV image is within
//   kvSnapshotBytesMax and the node state within nodeStateBytesMax;
// - each part filled to its worst case stays within the bound: a history of one-byte deletes (lease
//   revocations), whose framing is several times its bytes; keys with empty values up to keyCountMax;
//   sessions that each keep their most responses under the longest client id; and a trust image with
//   every list full and every field at its longest, which comes close to its bound.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { resolveKvOptions } from '../../../agent/kv/options.js';
import type { KvOptions } from '../../../agent/kv/options.js';
import { kvSnapshotBytesMax } from '../../../agent/kv/snapshot-limit.js';
import type { KvOperation, KvSession } from '../../../agent/kv/types.js';
import { TrustedStateMachine } from '../../../agent/trust/trusted-state-machine.js';
import { TRUST_IMAGE_BYTES_MAX, nodeStateBytesMax } from '../../../agent/trust/snapshot-limit.js';
import { encodeTrustImage } from '../../../agent/trust/trust-codec.js';
import { KNOWN_MAX, LINKS_MAX, NONCES_MAX, REVOKED_MAX } from '../../../agent/trust/trust-state.js';
import { ADMIN_COMMAND_BYTES_MAX, NONCE_HEX_LENGTH } from '../../../agent/trust/admin-command.js';
import { GENERATION_MAX, WRAPPED_LINK_BYTES } from '../../../agent/trust/crypto.js';
import { NODE_ID_LENGTH_MAX } from '../../../contracts/log.js';
import { fcParams } from '../../fc-params.js';
import { Driver, commandEntry } from './kv-helpers.js';

const limitsArb = fc.record({
  keyBytesMax: fc.integer({ min: 1, max: 4 }),
  valueBytesMax: fc.integer({ min: 0, max: 40 }),
  keyCountMax: fc.integer({ min: 1, max: 40 }),
  dataBytesMax: fc.integer({ min: 44, max: 1500 }),
  sessionCountMax: fc.integer({ min: 1, max: 4 }),
  clientIdBytesMax: fc.integer({ min: 1, max: 12 }),
  sessionResponsesMax: fc.integer({ min: 1, max: 6 }),
  cachedResponseBytesMax: fc.integer({ min: 64, max: 100 }),
  sessionBytesMax: fc.integer({ min: 1124, max: 1500 }),
  requestIdsMax: fc.integer({ min: 1, max: 12 }),
  historyRevisionsMax: fc.integer({ min: 0, max: 30 }),
  historyBytesMax: fc.integer({ min: 0, max: 300 }),
  leaseCountMax: fc.integer({ min: 0, max: 4 }),
  leaseKeysMax: fc.integer({ min: 1, max: 8 }),
});

/** A step of a filling log: an operation, its client (or none) and whether it carries a request id. */
const stepArb = fc.record({
  operation: fc.oneof(
    fc.record({ op: fc.constant('put'), key: fc.string({ minLength: 1, maxLength: 3 }), size: fc.nat(40) }),
    fc.record({ op: fc.constant('delete'), key: fc.string({ minLength: 1, maxLength: 3 }) }),
    fc.record({ op: fc.constant('lease-put'), key: fc.string({ minLength: 1, maxLength: 3 }), lease: fc.nat() }),
    fc.record({ op: fc.constant('grant') }),
    fc.record({ op: fc.constant('revoke'), lease: fc.nat() }),
    fc.record({ op: fc.constant('txn'), keys: fc.array(fc.string({ minLength: 1, maxLength: 2 }), { maxLength: 6 }) }),
  ),
  client: fc.option(fc.integer({ min: 0, max: 5 }), { nil: null }),
  requestId: fc.boolean(),
});
type Step = typeof stepArb extends fc.Arbitrary<infer T> ? T : never;

/** Client ids from 1 to 12 characters, so that some exceed small clientIdBytesMax limits. */
const CLIENTS = ['a', 'bb', 'client-3', 'client-four', 'c5', 'client-six-xx'];

class Filler {
  readonly d: Driver;
  private readonly leases: number[] = [];
  private readonly seqs: number[] = [];
  private requestIds = 0;

  constructor(readonly sm: KvStateMachine) {
    this.d = new Driver(sm);
  }

  run(step: Step): void {
    const operation = this.operationOf(step);
    const session = this.sessionOf(step.client);
    this.d.timeMs += 10;
    if (operation.op === 'lease-grant') this.leases.push(this.sm.lastApplied + 1);
    if (session === null || !step.requestId) {
      this.d.run(operation, session);
      return;
    }
    this.requestIds += 1;
    const requestId = new Uint8Array(16);
    new DataView(requestId.buffer).setUint32(0, this.requestIds);
    this.sm.apply(commandEntry(this.sm.lastApplied + 1, { ...operation, session, timeMs: this.d.timeMs, requestId }));
  }

  private operationOf(step: Step): KvOperation {
    const o = step.operation;
    const lease = (n: number): number => this.leases[n % Math.max(1, this.leases.length)] ?? 1;
    switch (o.op) {
      case 'put':
        return { op: 'put', key: o.key, value: new Uint8Array(o.size), returnPrevious: false };
      case 'delete':
        return { op: 'delete', key: o.key, returnPrevious: false };
      case 'lease-put':
        return { op: 'put', key: o.key, value: new Uint8Array(0), lease: lease(o.lease), returnPrevious: false };
      case 'grant':
        return { op: 'lease-grant', ttlMs: 60_000 };
      case 'revoke':
        return { op: 'lease-revoke', id: lease(o.lease) };
      case 'txn':
        return {
          op: 'txn',
          compare: [],
          success: o.keys.map((key, i) =>
            i % 2 === 0 ? { op: 'put', key, value: new Uint8Array(1) } : { op: 'delete', key },
          ),
          failure: [],
        };
    }
  }

  /** The next command of `client`, its watermark at 1 so that it keeps every response it may. */
  private sessionOf(client: number | null): KvSession | null {
    if (client === null) return null;
    const seq = (this.seqs[client] ?? 0) + 1;
    this.seqs[client] = seq;
    return { clientId: CLIENTS[client] ?? 'a', seq, ackedBelow: 1 };
  }
}

/** Every limit at its smallest but `overrides`, so that the part a test fills decides the bound. */
function tight(overrides: Partial<KvOptions>): KvOptions {
  return resolveKvOptions({
    keyBytesMax: 8,
    valueBytesMax: 8,
    keyCountMax: 1,
    dataBytesMax: 16,
    clientIdBytesMax: 1,
    sessionCountMax: 1,
    sessionResponsesMax: 1,
    cachedResponseBytesMax: 64,
    sessionBytesMax: 1088,
    requestIdsMax: 1,
    historyRevisionsMax: 0,
    historyBytesMax: 0,
    leaseCountMax: 0,
    ...overrides,
  });
}

function validLimits(limits: Partial<KvOptions>): KvOptions | null {
  try {
    return resolveKvOptions(limits);
  } catch {
    return null;
  }
}

describe('the snapshot size bound', () => {
  it('holds every image a log can leave, under any limits (KV image and node state)', () => {
    fc.assert(
      fc.property(limitsArb, fc.array(stepArb, { maxLength: 120 }), (limits, steps) => {
        const options = validLimits(limits);
        fc.pre(options !== null);
        const node = new TrustedStateMachine(new KvStateMachine(options), { cluster: 'c1', genesisAdminKey: null });
        const filler = new Filler(node.kv);
        for (const step of steps) {
          filler.run(step);
          assert.ok(node.kv.snapshot().byteLength <= kvSnapshotBytesMax(options), 'the KV image is within its bound');
        }
        assert.ok(node.snapshot().byteLength <= nodeStateBytesMax(options), 'the node state is within its bound');
      }),
      fcParams(150, 'snapshot size bound'),
    );
  });

  // Each of these fills one part under tight() limits, where every other part's allowance is a few hundred bytes:
  // the image then passes the bound unless the part's own framing is counted.
  it('counts the framing of a history of one-byte changes, four times their bytes and more', () => {
    const options = tight({ keyCountMax: 20, leaseCountMax: 1, leaseKeysMax: 20, historyBytesMax: 3000 });
    const d = new Driver(new KvStateMachine({ ...options, historyRevisionsMax: 1000 }));
    for (let round = 0; round < 160; round += 1) {
      const lease = d.sm.lastApplied + 1;
      d.run({ op: 'lease-grant', ttlMs: 60_000 });
      for (let k = 0; k < 20; k += 1)
        d.run({ op: 'put', key: String.fromCharCode(97 + k), value: new Uint8Array(0), lease, returnPrevious: false });
      d.run({ op: 'lease-revoke', id: lease });
    }
    const image = d.sm.snapshot().byteLength;
    const bound = kvSnapshotBytesMax({ ...options, historyRevisionsMax: 1000 });
    // The store is empty: the image is the history's 3,000 one-byte changes, framing and all.
    assert.ok(image > 4 * 3000, `the history's framing outweighs its bytes (${image} bytes)`);
    assert.ok(image <= bound, `${image} <= ${bound}`);
  });

  it('counts the framing of keys with empty values, up to keyCountMax', () => {
    const options = tight({ keyCountMax: 2000, dataBytesMax: 10_000 });
    const d = new Driver(new KvStateMachine(options));
    for (let k = 0; k < 2000; k += 1)
      d.run({ op: 'put', key: `k${k}`, value: new Uint8Array(0), returnPrevious: false });
    assert.equal(d.sm.stats().keyCount, 2000);
    const image = d.sm.snapshot().byteLength;
    assert.ok(image <= kvSnapshotBytesMax(options), `${image} <= ${kvSnapshotBytesMax(options)}`);
  });

  it('counts sessions that each keep their most responses under the longest client id', () => {
    const options = tight({
      sessionCountMax: 20,
      sessionResponsesMax: 50,
      sessionBytesMax: 15_000,
      clientIdBytesMax: 40,
    });
    const d = new Driver(new KvStateMachine(options));
    for (let c = 0; c < 20; c += 1) {
      const clientId = `${c}`.padStart(40, 'x');
      for (let seq = 1; seq <= 50; seq += 1)
        d.run(
          { op: 'put', key: 'k', value: new Uint8Array(1), returnPrevious: false },
          { clientId, seq, ackedBelow: 1 },
        );
    }
    const image = d.sm.snapshot().byteLength;
    assert.ok(image > 15_000, `the sessions keep their most bytes (${image} bytes)`);
    assert.ok(image <= kvSnapshotBytesMax(options), `${image} <= ${kvSnapshotBytesMax(options)}`);
  });

  it('counts request ids up to requestIdsMax', () => {
    const options = tight({ requestIdsMax: 500, clientIdBytesMax: 1 });
    const d = new Driver(new KvStateMachine(options));
    for (let seq = 1; seq <= 500; seq += 1) {
      const requestId = new Uint8Array(16).fill(seq & 0xff);
      requestId[15] = seq >> 8;
      const put = { op: 'put' as const, key: 'k', value: new Uint8Array(1), returnPrevious: false };
      d.sm.apply(commandEntry(seq, { ...put, session: { clientId: 'c', seq, ackedBelow: seq }, timeMs: 0, requestId }));
    }
    const image = d.sm.snapshot().byteLength;
    assert.ok(image > 500 * 16, `the table keeps every id (${image} bytes)`);
    assert.ok(image <= kvSnapshotBytesMax(options), `${image} <= ${kvSnapshotBytesMax(options)}`);
  });

  it('holds a trust image with every list full and every field at its longest, and is close to it', () => {
    const id = (n: number): string => `${n}`.padStart(NODE_ID_LENGTH_MAX, 'n');
    const bytes = encodeTrustImage({
      clockMs: 2 ** 52,
      adminKeyPem: 'k'.repeat(ADMIN_COMMAND_BYTES_MAX),
      known: Array.from({ length: KNOWN_MAX }, (_, i) => id(i)),
      revoked: Array.from({ length: REVOKED_MAX }, (_, i) => id(i + KNOWN_MAX)),
      revokedGenerations: Array.from({ length: REVOKED_MAX }, (_, i): readonly [string, number] => [
        id(i + KNOWN_MAX),
        GENERATION_MAX,
      ]),
      links: Array.from({ length: LINKS_MAX }, (_, i) => ({
        holder: id(i),
        peer: id(i + 1),
        generation: '1000000.1000000',
        wrapped: new Uint8Array(WRAPPED_LINK_BYTES).fill(i & 0xff),
      })),
      nonces: Array.from({ length: NONCES_MAX }, (_, i): readonly [string, number] => [
        `${i}`.padStart(NONCE_HEX_LENGTH, '0'),
        2 ** 52,
      ]),
    }).byteLength;
    assert.ok(bytes <= TRUST_IMAGE_BYTES_MAX, `${bytes} <= ${TRUST_IMAGE_BYTES_MAX}`);
    assert.ok(bytes > 0.8 * TRUST_IMAGE_BYTES_MAX, `the bound is not loose (${bytes} of ${TRUST_IMAGE_BYTES_MAX})`);
  });
});
