// Proves the members' address set a DTLS server consults for its reserved half-open
// handshakes (transport/dtls/member-hosts.ts): IP literals count at once and IPv4-mapped IPv6
// matches IPv4; host names count once resolved, and a resolution that finishes after a newer
// membership is ignored; a failed resolution is reported; malformed addresses are skipped; and
// the set is bounded.
import { strict as assert } from 'node:assert';
import { MEMBER_ADDRESSES_MAX, MemberHosts, normalizeAddress } from '../../../transport/dtls/member-hosts.js';

/** A resolver whose answers the test releases by hand. */
class ManualResolver {
  readonly pending = new Map<string, { resolve: (a: readonly string[]) => void; reject: (e: Error) => void }>();
  readonly resolve = (host: string): Promise<readonly string[]> =>
    new Promise((resolve, reject) => this.pending.set(host, { resolve, reject }));
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('MemberHosts', () => {
  it('counts IP literals at once, IPv4-mapped IPv6 as IPv4, and replaces the set as a whole', () => {
    const hosts = new MemberHosts(() => Promise.reject(new Error('no lookups expected')));
    hosts.replace(['10.0.0.1:5684', '[fe80::1]:5684', 'not an address']);
    assert.ok(hosts.has('10.0.0.1'));
    assert.ok(hosts.has('::ffff:10.0.0.1'));
    assert.ok(hosts.has('FE80::1'));
    assert.ok(!hosts.has('10.0.0.2'));
    assert.equal(hosts.size, 2);
    hosts.replace(['10.0.0.2:5684']);
    assert.ok(!hosts.has('10.0.0.1'));
    assert.ok(hosts.has('10.0.0.2'));
    assert.equal(normalizeAddress('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeAddress('::ffff:abcd'), '::ffff:abcd');
  });

  it('counts host names once resolved, and ignores a resolution of an older membership', async () => {
    const resolver = new ManualResolver();
    const errors: string[] = [];
    const hosts = new MemberHosts(resolver.resolve, (host) => errors.push(host));
    hosts.replace(['gw1.example:5684', 'gw2.example:5684']);
    assert.ok(!hosts.has('10.0.0.7'));
    resolver.pending.get('gw1.example')?.resolve(['10.0.0.7', '::ffff:10.0.0.8']);
    await tick();
    assert.ok(hosts.has('10.0.0.7') && hosts.has('10.0.0.8'));
    hosts.replace(['10.0.0.9:5684']);
    resolver.pending.get('gw2.example')?.resolve(['10.0.0.10']);
    await tick();
    assert.ok(!hosts.has('10.0.0.10'), 'a late answer for a replaced membership is ignored');
    hosts.replace(['gw3.example:5684']);
    resolver.pending.get('gw3.example')?.reject(new Error('NXDOMAIN'));
    await tick();
    assert.deepEqual(errors, ['gw3.example']);
  });

  it('keeps at most MEMBER_ADDRESSES_MAX addresses', () => {
    const hosts = new MemberHosts();
    hosts.replace(
      Array.from(
        { length: MEMBER_ADDRESSES_MAX + 10 },
        (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:1`,
      ),
    );
    assert.equal(hosts.size, MEMBER_ADDRESSES_MAX);
  });
});
