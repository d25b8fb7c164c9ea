// Proves the key material of the trust model: link keys are symmetric in their two ends,
// distinct per pair, per cluster and per generation (a rekey of one end changes its links and
// no other), printable (libcoap's -k takes text) and stable across runs (re-provisioning is
// idempotent); a wrapped link key opens only for its holder, link, generation and cluster,
// under the holder's node secret, and wrapping is deterministic.
import { strict as assert } from 'node:assert';
import {
  deriveEndpointKey,
  deriveLinkKey,
  deriveNodeSecret,
  linkGeneration,
  newFleetSecret,
  unwrapLinkKey,
  wrapLinkKey,
} from '../../../agent/trust/crypto.js';

const secret = Uint8Array.from(Buffer.alloc(32, 7));
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');

describe('trust crypto', () => {
  it('derives one key per pair, the same from both ends, printable', () => {
    const ids = ['gw1', 'gw2', 'gw3', 'gw4'];
    const keys = new Map<string, string>();
    for (const a of ids) {
      for (const b of ids) {
        if (a >= b) continue;
        const key = deriveLinkKey(secret, 'c', a, 1, b, 1);
        assert.deepEqual(deriveLinkKey(secret, 'c', b, 1, a, 1), key, 'symmetric');
        assert.match(text(key), /^[0-9a-f]{64}$/, 'printable');
        keys.set(`${a}-${b}`, text(key));
      }
    }
    assert.equal(new Set(keys.values()).size, keys.size, 'every pair has its own key');
  });

  it('a generation bump changes exactly the links of that member', () => {
    const before = (a: string, b: string): string => text(deriveLinkKey(secret, 'c', a, 1, b, 1));
    const after = (a: string, b: string): string =>
      text(deriveLinkKey(secret, 'c', a, a === 'gw2' ? 2 : 1, b, b === 'gw2' ? 2 : 1));
    assert.notEqual(after('gw1', 'gw2'), before('gw1', 'gw2'));
    assert.notEqual(after('gw2', 'gw3'), before('gw2', 'gw3'));
    assert.equal(after('gw1', 'gw3'), before('gw1', 'gw3'));
    assert.equal(linkGeneration('gw2', 2, 'gw1', 1), '1.2');
  });

  it('binds keys to the cluster and to their purpose', () => {
    assert.notDeepEqual(deriveLinkKey(secret, 'a', 'x', 1, 'y', 1), deriveLinkKey(secret, 'b', 'x', 1, 'y', 1));
    const kv = text(deriveEndpointKey(secret, 'c', 'x', 1, 'kv'));
    const admin = text(deriveEndpointKey(secret, 'c', 'x', 1, 'admin'));
    assert.notEqual(kv, admin);
    assert.notEqual(
      Buffer.from(deriveNodeSecret(secret, 'c', 'x', 1)).toString('hex'),
      Buffer.from(deriveNodeSecret(secret, 'c', 'x', 2)).toString('hex'),
    );
    assert.notDeepEqual(newFleetSecret(), newFleetSecret());
    assert.throws(() => deriveLinkKey(secret, 'c', 'x', 1, 'x', 1), /two different members/);
  });

  it('opens a wrapped key only for its holder, link, generation and cluster', () => {
    const holder = deriveNodeSecret(secret, 'c', 'gw1', 1);
    const other = deriveNodeSecret(secret, 'c', 'gw2', 1);
    const link = deriveLinkKey(secret, 'c', 'gw1', 1, 'gw4', 1);
    const wrapped = wrapLinkKey(holder, 'c', 'gw1', 'gw4', '1.1', link);
    assert.deepEqual(wrapLinkKey(holder, 'c', 'gw1', 'gw4', '1.1', link), wrapped, 'deterministic');
    assert.deepEqual(unwrapLinkKey(holder, 'c', 'gw1', 'gw4', '1.1', wrapped), link);
    assert.equal(unwrapLinkKey(other, 'c', 'gw1', 'gw4', '1.1', wrapped), null, 'another node secret');
    assert.equal(unwrapLinkKey(holder, 'c', 'gw2', 'gw4', '1.1', wrapped), null, 'another holder');
    assert.equal(unwrapLinkKey(holder, 'c', 'gw1', 'gw3', '1.1', wrapped), null, 'another link');
    assert.equal(unwrapLinkKey(holder, 'c', 'gw1', 'gw4', '1.2', wrapped), null, 'another generation');
    assert.equal(unwrapLinkKey(holder, 'd', 'gw1', 'gw4', '1.1', wrapped), null, 'another cluster');
    const flipped = Uint8Array.from(wrapped);
    flipped[20] = (flipped[20] ?? 0) ^ 1;
    assert.equal(unwrapLinkKey(holder, 'c', 'gw1', 'gw4', '1.1', flipped), null, 'altered');
  });
});
