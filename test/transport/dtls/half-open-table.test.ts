// Proves the admission rules of the half-open handshake table (transport/dtls/half-open-table.ts)
// with examples and with a property over arbitrary sequences of admissions, removals and
// recharges. The property: the table agrees, decision by decision and eviction by eviction,
// with a brute-force model (an array in admission order searched front to back), and after
// every step (1) the limits hold (total, per address, bytes, the members' reserve), (2) a
// non-member never pushed out a member, (3) a member whose charge fits bytesMax is never
// refused while there is any capacity, and (4) the invariants of the indexes hold.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { HalfOpenTable } from '../../../transport/dtls/half-open-table.js';
import type { Admission, HalfOpenLimits, HalfOpenSlot } from '../../../transport/dtls/half-open-table.js';
import { fcParams } from '../../fc-params.js';

const slot = (key: string, address: string, member = false, bytes = 100): HalfOpenSlot => ({
  key,
  address,
  member,
  bytes,
});
const keysOf = (admission: Admission): string[] =>
  admission.admitted ? admission.evicted.map((e) => `${e.key}:${e.reason}`) : [admission.reason];

/** The brute-force model: slots in admission order, every rule a linear search from the front. */
class Model {
  slots: HalfOpenSlot[] = [];

  constructor(private readonly limits: HalfOpenLimits) {}

  admit(s: HalfOpenSlot, free: number): Admission {
    const capacity = Math.min(this.limits.countMax, free);
    const othersCapacity = capacity - this.limits.reservedForMembers;
    if (capacity <= 0 || s.bytes > this.limits.bytesMax) return { admitted: false, reason: 'no-room' };
    if (!s.member && othersCapacity <= 0) return { admitted: false, reason: 'members-only' };
    const gone = new Set<string>();
    const evicted: { key: string; reason: 'address' | 'total' | 'bytes' }[] = [];
    const left = (): HalfOpenSlot[] => this.slots.filter((x) => !gone.has(x.key));
    const take = (match: (x: HalfOpenSlot) => boolean, reason: 'address' | 'total' | 'bytes'): boolean => {
      const victim = left().find(match);
      if (victim === undefined) return false;
      gone.add(victim.key);
      evicted.push({ key: victim.key, reason });
      return true;
    };
    while (left().filter((x) => x.address === s.address).length >= this.limits.perAddressMax) {
      if (!take((x) => x.address === s.address && (s.member || !x.member), 'address'))
        return { admitted: false, reason: s.member ? 'no-room' : 'members-only' };
    }
    while (!s.member && left().filter((x) => !x.member).length >= othersCapacity) {
      if (!take((x) => !x.member, 'total')) return { admitted: false, reason: 'members-only' };
    }
    for (;;) {
      const overCount = left().length >= capacity;
      const overBytes = left().reduce((sum, x) => sum + x.bytes, 0) + s.bytes > this.limits.bytesMax;
      if (!overCount && !overBytes) break;
      const reason = overCount ? 'total' : 'bytes';
      if (!take((x) => !x.member, reason) && !(s.member && take((x) => x.member, reason))) {
        return { admitted: false, reason: s.member ? 'no-room' : 'members-only' };
      }
    }
    this.slots = [...left(), s];
    return { admitted: true, evicted };
  }
}

describe('HalfOpenTable', () => {
  const limits = { countMax: 4, perAddressMax: 2, reservedForMembers: 1, bytesMax: 10_000 };

  it('pushes out the oldest of a full address, and only from that address', () => {
    const table = new HalfOpenTable(limits);
    assert.deepEqual(keysOf(table.admit(slot('a1', 'A'), 100)), []);
    assert.deepEqual(keysOf(table.admit(slot('b1', 'B'), 100)), []);
    assert.deepEqual(keysOf(table.admit(slot('a2', 'A'), 100)), []);
    assert.deepEqual(keysOf(table.admit(slot('a3', 'A'), 100)), ['a1:address']);
    assert.equal(table.countOf('A'), 2);
    assert.ok(table.has('b1'));
  });

  it('keeps the reserve for members: others push out each other, never a member', () => {
    const table = new HalfOpenTable(limits);
    table.admit(slot('m1', 'M', true), 100);
    for (const k of ['x1', 'y1', 'z1']) assert.deepEqual(keysOf(table.admit(slot(k, k.slice(0, 1)), 100)), []);
    // Full (4): a fourth non-member pushes out the oldest non-member, not the member.
    assert.deepEqual(keysOf(table.admit(slot('w1', 'W'), 100)), ['x1:total']);
    table.remove('m1');
    // Three non-members fill the others' share (4 - 1) although one slot is free.
    assert.deepEqual(keysOf(table.admit(slot('v1', 'V'), 100)), ['y1:total']);
    assert.equal(table.count, 3);
    // A member takes the reserved slot without pushing anyone out.
    assert.deepEqual(keysOf(table.admit(slot('m2', 'M', true), 100)), []);
    assert.equal(table.count, 4);
  });

  it('refuses a non-member when members hold every slot, and admits a member by pushing out the oldest member', () => {
    const table = new HalfOpenTable({ ...limits, perAddressMax: 4 });
    for (const k of ['m1', 'm2', 'm3', 'm4']) table.admit(slot(k, 'M', true), 100);
    assert.deepEqual(keysOf(table.admit(slot('x1', 'X'), 100)), ['members-only']);
    assert.deepEqual(keysOf(table.admit(slot('n1', 'N', true), 100)), ['m1:total']);
  });

  it('counts bytes: a newcomer or a grown handshake pushes out the oldest to stay within bytesMax', () => {
    const table = new HalfOpenTable({ ...limits, perAddressMax: 4, bytesMax: 1000 });
    table.admit(slot('a', 'A', false, 400), 100);
    table.admit(slot('b', 'B', false, 400), 100);
    assert.deepEqual(keysOf(table.admit(slot('c', 'C', false, 400), 100)), ['a:bytes']);
    assert.deepEqual(
      table.recharge('c', 700).map((e) => e.key),
      ['b'],
    );
    assert.equal(table.bytes, 700);
    // A handshake that cannot fit even alone goes itself.
    assert.deepEqual(
      table.recharge('c', 1200).map((e) => e.key),
      ['c'],
    );
    assert.equal(table.count, 0);
    assert.deepEqual(keysOf(table.admit(slot('d', 'D', false, 1200), 100)), ['no-room']);
  });

  it('is bounded by the capacity an admission passes, and refuses at 0', () => {
    const table = new HalfOpenTable(limits);
    table.admit(slot('a', 'A', true), 2);
    table.admit(slot('b', 'B', true), 2);
    assert.deepEqual(keysOf(table.admit(slot('c', 'C', true), 2)), ['a:total']);
    assert.deepEqual(keysOf(table.admit(slot('d', 'D', true), 0)), ['no-room']);
  });

  it('agrees with the brute-force model and keeps its limits on arbitrary sequences', () => {
    const limitsArb = fc.integer({ min: 1, max: 10 }).chain((countMax) =>
      fc.record({
        countMax: fc.constant(countMax),
        perAddressMax: fc.integer({ min: 1, max: countMax }),
        reservedForMembers: fc.integer({ min: 0, max: countMax - 1 }),
        bytesMax: fc.integer({ min: 500, max: 6000 }),
      }),
    );
    const op = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          kind: fc.constant('admit' as const),
          address: fc.integer({ min: 0, max: 4 }),
          port: fc.integer({ min: 0, max: 9 }),
          member: fc.boolean(),
          bytes: fc.integer({ min: 50, max: 2500 }),
          free: fc.integer({ min: -1, max: 12 }),
        }),
      },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('recharge' as const),
          pick: fc.nat(),
          bytes: fc.integer({ min: 50, max: 7000 }),
        }),
      },
    );
    fc.assert(
      fc.property(limitsArb, fc.array(op, { maxLength: 80 }), (l, ops) => {
        const table = new HalfOpenTable(l);
        const model = new Model(l);
        for (const o of ops) {
          if (o.kind === 'admit') {
            const key = `${o.port}/${o.address}`;
            // The server removes a handshake of the same key before admitting its successor.
            table.remove(key);
            model.slots = model.slots.filter((x) => x.key !== key);
            const s = slot(key, `10.0.0.${o.address}`, o.member, o.bytes);
            const before = new Map(model.slots.map((x) => [x.key, x]));
            const expected = model.admit(s, o.free);
            const got = table.admit(s, o.free);
            assert.deepEqual(got, expected);
            if (got.admitted && !s.member)
              assert.ok(
                got.evicted.every((e) => before.get(e.key)?.member === false),
                'a non-member pushed out a member',
              );
            if (s.member && Math.min(l.countMax, o.free) > 0 && s.bytes <= l.bytesMax)
              assert.ok(got.admitted, 'a member was refused');
          } else if (model.slots.length > 0) {
            const victim = model.slots[o.pick % model.slots.length]!;
            if (o.kind === 'remove') {
              assert.ok(table.remove(victim.key));
              model.slots = model.slots.filter((x) => x.key !== victim.key);
            } else {
              const evicted = table.recharge(victim.key, o.bytes);
              // The model: the new charge, then the oldest non-members (and members, for a member) until it fits,
              // itself last.
              model.slots = model.slots.map((x) => (x.key === victim.key ? { ...x, bytes: o.bytes } : x));
              const expected: string[] = [];
              const total = (): number => model.slots.reduce((sum, x) => sum + x.bytes, 0);
              while (total() > l.bytesMax) {
                const next =
                  model.slots.find((x) => x.key !== victim.key && !x.member) ??
                  (victim.member ? model.slots.find((x) => x.key !== victim.key) : undefined) ??
                  model.slots.find((x) => x.key === victim.key)!;
                expected.push(next.key);
                model.slots = model.slots.filter((x) => x.key !== next.key);
              }
              assert.deepEqual(
                evicted.map((e) => e.key),
                expected,
              );
            }
          }
          table.checkInvariants();
          assert.equal(table.count, model.slots.length);
          assert.ok(
            table.count - table.memberCount <= l.countMax - l.reservedForMembers,
            'non-members stay out of the reserve',
          );
          assert.deepEqual(table.oldest()?.key, model.slots[0]?.key);
        }
      }),
      fcParams(300, 'half-open table agrees with the model'),
    );
  });
});
