// Proves the Observe table's bounds as a property against a reference model: for any sequence
// of registrations, refreshes and removals over a few clients, tokens and resources, the
// table holds exactly the registrations of a list model in which a new registration evicts
// the client's oldest past observersPerPeerMax and then the oldest of all past observersMax
// (so a new observer always gets in); and an RST's message id finds only the registration
// that was last notified under it.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { ObserverTable } from '../../../agent/endpoint/observers.js';
import { fcParams } from '../../fc-params.js';

const RESOURCES = ['/status', '/kv/a', '/kv/b'];
const peer = (p: number) => ({ address: '127.0.0.1', port: 40000 + p, identity: null });

type Op =
  | { kind: 'register'; resource: number; peer: number; token: number }
  | { kind: 'deregister'; resource: number; peer: number; token: number };

const op: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom<'register' | 'deregister'>('register', 'register', 'register', 'deregister'),
  resource: fc.integer({ min: 0, max: RESOURCES.length - 1 }),
  peer: fc.integer({ min: 0, max: 3 }),
  token: fc.integer({ min: 0, max: 5 }),
});

describe('ObserverTable', () => {
  it('holds what the eviction model holds, within observersMax and observersPerPeerMax', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 200 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 6 }),
        (ops, perPeer, extra) => {
          const options = { observersMax: perPeer + extra, observersPerPeerMax: perPeer };
          const table = new ObserverTable(options);
          let model: { key: string; peer: number }[] = [];
          for (const [step, o] of ops.entries()) {
            const resource = RESOURCES[o.resource] ?? '/status';
            const key = `${resource}|${o.peer}|${o.token}`;
            if (o.kind === 'deregister') {
              assert.equal(
                table.deregister(resource, peer(o.peer), Uint8Array.from([o.token])),
                model.some((m) => m.key === key),
              );
              model = model.filter((m) => m.key !== key);
              continue;
            }
            model = model.filter((m) => m.key !== key);
            const own = model.filter((m) => m.peer === o.peer);
            if (own.length >= options.observersPerPeerMax) model = model.filter((m) => m !== own[0]);
            if (model.length >= options.observersMax) model = model.slice(1);
            model.push({ key, peer: o.peer });
            const { registration } = table.register(resource, peer(o.peer), Uint8Array.from([o.token]), step);
            assert.ok(table.observersOf(resource).includes(registration), 'a new observer always gets in');
          }
          const held = RESOURCES.flatMap((r) =>
            table.observersOf(r).map((reg) => `${r}|${reg.peer.port - 40000}|${reg.token[0] ?? -1}`),
          );
          assert.deepEqual(held.sort(), model.map((m) => m.key).sort());
          assert.equal(table.size(), model.length);
          assert.ok(table.size() <= options.observersMax);
        },
      ),
      fcParams(100),
    );
  });

  it('finds a registration by the message id of its last notification only', () => {
    const table = new ObserverTable({ observersMax: 4, observersPerPeerMax: 4 });
    const { registration } = table.register('/kv/a', peer(1), Uint8Array.from([1]), 0);
    table.noteMessageId(registration, 10);
    table.noteMessageId(registration, 11);
    assert.equal(table.byMessageId(peer(1), 10), undefined);
    assert.equal(table.byMessageId(peer(2), 11), undefined, 'another client cannot name it');
    assert.equal(table.byMessageId(peer(1), 11), registration);
    assert.ok(table.remove(registration));
    assert.equal(table.byMessageId(peer(1), 11), undefined);
    assert.equal(table.remove(registration), false);
  });
});
