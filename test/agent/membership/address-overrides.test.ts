// Proves the rule by which a node reaches a member elsewhere than its configuration says
// (agent/membership/address-overrides.ts):
// - a peer's authenticated claim of another well-formed address overrides its configured one,
//   one override per member (the last claim); a non-peer, a malformed address, or an address
//   another peer is reached at makes none (and ends the member's earlier one);
// - the override ends when the member says its configured address again (it moved back), when
//   a configuration names that address (a leader recorded it), names another one than before (a
//   later move was recorded) or no longer lists the member; an unrelated change keeps it;
// - whatever the claims and configurations, no two peers share an address in the book, and
//   every override is of a peer and differs from its configured address;
// - addresses are compared as places: ::ffff:127.0.0.1 is 127.0.0.1, 0:0::1 is ::1, and a host
//   name is the address it was last resolved to.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { AddressOverrides } from '../../../agent/membership/address-overrides.js';
import type { ClusterMember } from '../../../contracts/log.js';
import { fcParams } from '../../fc-params.js';

const peers: readonly ClusterMember[] = [
  { id: 'n2', address: '127.0.0.1:7002' },
  { id: 'n3', address: '127.0.0.1:7003' },
  { id: 'n4', address: 'gw4.local:5684' },
];

function moved(id: string, address: string, members = peers): ClusterMember[] {
  return members.map((m) => (m.id === id ? { ...m, address } : m));
}

describe('AddressOverrides', () => {
  it('compares places, not text: IPv4-mapped, uncompressed IPv6 and a resolved host name', () => {
    const members: readonly ClusterMember[] = [
      { id: 'n2', address: '127.0.0.1:7002' },
      { id: 'n3', address: '[::1]:7003' },
      { id: 'n4', address: 'gw4.test:7004' },
    ];
    const overrides = new AddressOverrides((host) => (host === 'gw4.test' ? '10.0.0.4' : null));
    assert.equal(overrides.note(members, 'n2', '[::ffff:127.0.0.1]:7002'), null, 'its configured address');
    assert.equal(overrides.note(members, 'n4', '10.0.0.4:7004'), null, "its host name's address");
    assert.equal(overrides.note(members, 'n2', '[0:0:0:0:0:0:0:1]:7003'), null, "n3's address");
    assert.equal(overrides.note(members, 'n2', '[::ffff:10.0.0.4]:7004'), null, "n4's, by its host name");
    assert.equal(overrides.size, 0);
    assert.equal(overrides.note(members, 'n2', '127.0.0.1:7102')?.to, '127.0.0.1:7102');
    assert.deepEqual(overrides.note(members, 'n2', '[::FFFF:127.0.0.1]:7002'), {
      member: 'n2',
      configured: '127.0.0.1:7002',
      to: null,
    });
    assert.equal(overrides.note(members, 'n2', '127.0.0.1:7102')?.to, '127.0.0.1:7102');
    const rewritten = moved('n2', '[::ffff:127.0.0.1]:7002', members);
    assert.deepEqual(overrides.settle(rewritten), [], 'the configured address in another form is no recorded move');
    assert.equal(overrides.addressOf('n2'), '127.0.0.1:7102');
  });

  it('reaches a peer where it says it listens, one override per member, the last one it said', () => {
    const overrides = new AddressOverrides();
    assert.deepEqual(overrides.note(peers, 'n2', '127.0.0.1:7102'), {
      member: 'n2',
      configured: '127.0.0.1:7002',
      to: '127.0.0.1:7102',
    });
    assert.equal(overrides.note(peers, 'n2', '127.0.0.1:7102'), null, 'the same claim again changes nothing');
    assert.equal(overrides.note(peers, 'n2', 'gw2.local:7202')?.to, 'gw2.local:7202', 'a host name too');
    assert.equal(overrides.size, 1);
    assert.deepEqual(overrides.apply(peers), moved('n2', 'gw2.local:7202'));
  });

  it('ignores a non-peer, a malformed address, and an address another peer is reached at', () => {
    const overrides = new AddressOverrides();
    assert.equal(overrides.note(peers, 'n1', '127.0.0.1:7101'), null, 'this node itself, or a non-member');
    assert.equal(overrides.note(peers, 'n9', '127.0.0.1:7109'), null);
    for (const bad of ['127.0.0.1', '127.0.0.1:0', ':7002', 'a:b:c', `${'h'.repeat(300)}:1`])
      assert.equal(overrides.note(peers, 'n2', bad), null, bad);
    assert.equal(overrides.note(peers, 'n2', '127.0.0.1:7003'), null, "n3's address");
    assert.equal(overrides.note(peers, 'n2', 'GW4.local:5684'), null, "n4's address, whatever the case");
    assert.ok(overrides.note(peers, 'n3', '127.0.0.1:7103') !== null);
    assert.equal(overrides.note(peers, 'n2', '127.0.0.1:7103'), null, 'where n3 is reached now');
    assert.deepEqual(overrides.apply(peers), moved('n3', '127.0.0.1:7103'));
    overrides.note(peers, 'n2', '127.0.0.1:7102');
    assert.equal(overrides.note(peers, 'n2', '127.0.0.1:7003')?.to, null, 'a refused claim ends the earlier one');
    assert.deepEqual(overrides.apply(peers), moved('n3', '127.0.0.1:7103'));
  });

  it('ends when the member moves back, or a configuration records it, a later move, or its removal', () => {
    const overrides = new AddressOverrides();
    overrides.note(peers, 'n2', '127.0.0.1:7102');
    assert.deepEqual(overrides.note(peers, 'n2', '127.0.0.1:7002'), {
      member: 'n2',
      configured: '127.0.0.1:7002',
      to: null,
    });
    assert.equal(overrides.size, 0, 'moved back: reached at its configured address');
    overrides.note(peers, 'n2', '127.0.0.1:7102');
    assert.deepEqual(overrides.settle(moved('n3', '127.0.0.1:7103')), [], 'an unrelated change keeps it');
    assert.equal(overrides.addressOf('n2'), '127.0.0.1:7102');
    assert.deepEqual(overrides.settle(moved('n2', '127.0.0.1:7102')), [
      { member: 'n2', configured: '127.0.0.1:7102', to: null },
    ]);
    overrides.note(peers, 'n2', '127.0.0.1:7102');
    assert.equal(overrides.settle(moved('n2', '127.0.0.1:7202')).length, 1, 'a later move was recorded');
    overrides.note(peers, 'n2', '127.0.0.1:7102');
    assert.equal(overrides.settle(peers.filter((m) => m.id !== 'n2')).length, 1, 'removed');
    assert.equal(overrides.size, 0);
  });

  it('never gives two peers one address, nor keeps an override of a non-peer or of its configured address', () => {
    const address = fc.constantFrom('127.0.0.1:7002', '127.0.0.1:7003', '127.0.0.1:7102', 'gw4.local:5684', 'x:1');
    const id = fc.constantFrom('n2', 'n3', 'n4', 'n9');
    const step = fc.oneof(
      fc.record({ kind: fc.constant('note' as const), id, address }),
      fc.record({ kind: fc.constant('config' as const), id, address, remove: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
        const overrides = new AddressOverrides();
        let members: ClusterMember[] = [...peers];
        for (const s of steps) {
          if (s.kind === 'note') overrides.note(members, s.id, s.address);
          else {
            const next = s.remove ? members.filter((m) => m.id !== s.id) : moved(s.id, s.address, members);
            // A configuration gives each member its own address.
            if (new Set(next.map((m) => m.address)).size === next.length) members = next;
            overrides.settle(members);
          }
          const book = overrides.apply(members);
          assert.equal(new Set(book.map((m) => m.address.toLowerCase())).size, book.length);
          for (const m of members) assert.notEqual(overrides.addressOf(m.id), m.address);
          assert.ok(overrides.size <= members.length);
        }
      }),
      fcParams(300, 'address overrides'),
    );
  });
});
