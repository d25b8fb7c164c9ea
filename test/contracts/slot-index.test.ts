// Proves the slot index of the request id table and the CoAP duplicate cache (contracts/slot-index.ts):
// - property: after any sequence of adds and removes of slots (each slot holding its own id, any
//   seed, index sizes small enough that most ids share a run with others), `find` gives the slot
//   of every id held and -1 for every other id, and `count` is the number of slots held: removal
//   shifts the rest of a run back so that no id is lost behind the hole it leaves;
// - ids that differ in any one byte are told apart.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { SLOT_KEY_BYTES as REQUEST_ID_BYTES, SlotIndex } from '../../contracts/slot-index.js';
import { fcParams } from '../fc-params.js';

/** The id of `n` (two of its bytes, the rest zero: many ids of one shape). */
function idOf(n: number): Uint8Array {
  const id = new Uint8Array(REQUEST_ID_BYTES);
  id[3] = n & 0xff;
  id[11] = n >>> 8;
  return id;
}

describe('SlotIndex', () => {
  it('finds exactly the ids of the slots it holds, whatever the adds and removes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }),
        fc.nat(),
        fc.array(fc.record({ slot: fc.nat(23), id: fc.nat(300) }), { minLength: 1, maxLength: 400 }),
        (slotCount, seed, ops) => {
          const ids = new Uint8Array(slotCount * REQUEST_ID_BYTES);
          const index = new SlotIndex(slotCount, seed);
          const held = new Map<number, number>(); // slot -> id number
          for (const op of ops) {
            const slot = op.slot % slotCount;
            const current = held.get(slot);
            if (current !== undefined) {
              index.remove(ids, slot);
              held.delete(slot);
              continue;
            }
            if ([...held.values()].includes(op.id)) continue; // one slot per id, as the table keeps
            ids.set(idOf(op.id), slot * REQUEST_ID_BYTES);
            index.add(ids, slot);
            held.set(slot, op.id);
          }
          assert.equal(index.count(), held.size);
          for (const [slot, id] of held) assert.equal(index.find(ids, idOf(id)), slot);
          for (let n = 0; n <= 300; n += 7)
            if (![...held.values()].includes(n)) assert.equal(index.find(ids, idOf(n)), -1);
        },
      ),
      fcParams(200, 'request id index finds exactly the ids it holds'),
    );
  });

  it('tells apart ids that differ in one byte', () => {
    const ids = new Uint8Array(2 * REQUEST_ID_BYTES);
    const index = new SlotIndex(2, 7);
    for (let at = 0; at < REQUEST_ID_BYTES; at += 1) {
      const near = idOf(5);
      near[at] = (near[at] ?? 0) ^ 0x80;
      ids.set(idOf(5), 0);
      index.add(ids, 0);
      assert.equal(index.find(ids, idOf(5)), 0);
      assert.equal(index.find(ids, near), -1);
      index.remove(ids, 0);
      assert.equal(index.count(), 0);
    }
  });
});
