// Proves peer address handling: "host:port" and "[v6]:port" parse and anything else is a
// ConfigError naming the member; IP literals need no lookup; host names are resolved once
// through the injected resolver, and a failed lookup is NET_UNREACHABLE and retried later; an
// answer older than the TTL is looked up again (a gateway whose name moved to a new IP); two
// peers known at one address (literal or host name) are both refused (NET_ADDRESS), since one
// process there would answer for both, literals also on the fast path that sends to them without
// a lookup; and so is a peer known at this node's own address (it would be sent to itself).
// IPv6 literals compare in one form (`0:0:0:0:0:0:0:1` is `::1`). `reachedAt` tells who is found at
// an address not yet in the book, compared the same way: this node, a peer, or nobody.
import { strict as assert } from 'node:assert';
import { PeerBook } from '../../transport/peer-book.js';
import { formatAddress, parsePeerAddress } from '../../transport/rpc-routes.js';

describe('peer addresses', () => {
  it('parses host:port forms and refuses the rest', () => {
    assert.deepEqual(parsePeerAddress('10.0.0.1:5684'), { host: '10.0.0.1', port: 5684 });
    assert.deepEqual(parsePeerAddress('[::1]:5684'), { host: '::1', port: 5684 });
    assert.deepEqual(parsePeerAddress('gw-3.local:5684'), { host: 'gw-3.local', port: 5684 });
    for (const bad of ['10.0.0.1', '::1:5684', '[nothost]:1', 'a:0', 'a:70000', ':5684', 'a:b'])
      assert.equal(parsePeerAddress(bad), null, bad);
    assert.equal(formatAddress('::1', 5), '[::1]:5');
    assert.equal(formatAddress('10.0.0.1', 5), '10.0.0.1:5');
  });

  it('resolves host names once, reports failures as NET_UNREACHABLE and retries them', async () => {
    const lookups: string[] = [];
    let fail = true;
    const book = new PeerBook(
      (host) => {
        lookups.push(host);
        return fail ? Promise.reject(new Error('no such host')) : Promise.resolve('10.9.9.9');
      },
      60_000,
      () => 1000,
    );
    book.set([
      { id: 'a', address: '10.0.0.1:1' },
      { id: 'b', address: 'gw-b:2' },
    ]);
    assert.deepEqual(book.literal('a'), { address: '10.0.0.1', port: 1 });
    assert.equal(book.literal('b'), null);
    await assert.rejects(book.resolve('b'), { code: 'NET_UNREACHABLE' });
    fail = false;
    assert.deepEqual(await book.resolve('b'), { address: '10.9.9.9', port: 2 });
    assert.deepEqual(await book.resolve('b'), { address: '10.9.9.9', port: 2 });
    assert.deepEqual(lookups, ['gw-b', 'gw-b']);
    await assert.rejects(book.resolve('z'), { code: 'NET_UNREACHABLE', message: /unknown peer z/ });
    assert.throws(
      () =>
        book.set([
          { id: 'c', address: 'nope' },
          { id: '', address: '1.2.3.4:5' },
        ]),
      (error: unknown) => {
        assert.ok(error instanceof Error && 'problems' in error && Array.isArray(error.problems));
        assert.equal(error.problems.length, 2);
        return true;
      },
    );
  });

  it('refuses two peers known at one address and port, by literal or by host name', async () => {
    const book = new PeerBook(() => Promise.resolve('10.0.0.2'));
    book.set([
      { id: 'n2', address: '10.0.0.2:5684' },
      { id: 'n5', address: 'gw2.plant.local:5684' },
      { id: 'n6', address: 'gw2.plant.local:5685' },
    ]);
    assert.deepEqual(await book.resolve('n6'), { address: '10.0.0.2', port: 5685 }, 'another port is another place');
    const shared = /peers n5 and n2 are both reached at 10\.0\.0\.2:5684: one process cannot answer for two members/;
    await assert.rejects(
      book.resolve('n5'),
      (e: unknown) => e instanceof Error && 'code' in e && e.code === 'NET_ADDRESS' && shared.test(e.message),
    );
    await assert.rejects(book.resolve('n2'), /peers n2 and n5 are both reached at 10\.0\.0\.2:5684/);
    book.set([
      { id: 'n2', address: '10.0.0.2:5684' },
      { id: 'n5', address: '10.0.0.2:5684' },
    ]);
    await assert.rejects(book.resolve('n5'), /peers n5 and n2/);
    // Literals are sent to without resolve (rpc-client.ts): two at one place have no such fast path.
    assert.equal(book.literal('n2'), null);
    assert.equal(book.literal('n5'), null);
    book.set([
      { id: 'n2', address: '10.0.0.2:5684' },
      { id: 'n5', address: '10.0.0.2:5685' },
    ]);
    assert.deepEqual(book.literal('n5'), { address: '10.0.0.2', port: 5685 });
  });

  it('knows each literal in one form: IPv4-mapped as IPv4, IPv6 compressed, and compares them so', async () => {
    const book = new PeerBook(() => Promise.resolve('::FFFF:10.0.0.9'), undefined, undefined, '10.0.0.1:5684');
    book.set([
      { id: 'mapped', address: '[::ffff:10.0.0.2]:5684' },
      { id: 'long', address: '[0:0:0:0:0:0:0:1]:5684' },
      { id: 'short', address: '[::1]:5684' },
      { id: 'self', address: '[::ffff:10.0.0.1]:5684' },
      { id: 'named', address: 'gw9.example:5684' },
    ]);
    assert.deepEqual(book.literal('mapped'), { address: '10.0.0.2', port: 5684 });
    assert.deepEqual(await book.resolve('named'), { address: '10.0.0.9', port: 5684 });
    await assert.rejects(book.resolve('long'), { code: 'NET_ADDRESS', message: /both reached at \[::1\]:5684/ });
    await assert.rejects(book.resolve('self'), { code: 'NET_ADDRESS', message: /where this node itself listens/ });
  });

  it("refuses a peer known at this node's own address, by literal or by host name", async () => {
    const book = new PeerBook(
      () => Promise.resolve('10.0.0.1'),
      30_000,
      () => 0,
      '10.0.0.1:5684',
    );
    book.set([
      { id: 'n4', address: 'gw1.plant.local:5684' },
      { id: 'n5', address: '10.0.0.1:5684' },
      { id: 'n6', address: '10.0.0.1:5685' },
    ]);
    const itself = /peer n4 is reached at 10\.0\.0\.1:5684, where this node itself listens/;
    await assert.rejects(book.resolve('n4'), { code: 'NET_ADDRESS', message: itself });
    assert.equal(book.literal('n5'), null, 'no fast path to its own literal');
    await assert.rejects(book.resolve('n5'), {
      code: 'NET_ADDRESS',
      message: /peer n5 is reached at 10\.0\.0\.1:5684/,
    });
    assert.deepEqual(book.literal('n6'), { address: '10.0.0.1', port: 5685 }, 'another port is another place');
  });

  it('looks a host name up again once its answer is older than the TTL', async () => {
    let now = 0;
    let answer = '10.0.0.7';
    const lookups: string[] = [];
    const book = new PeerBook(
      (host) => {
        lookups.push(host);
        return Promise.resolve(answer);
      },
      30_000,
      () => now,
    );
    book.set([{ id: 'gw', address: 'gw.local:5684' }]);
    assert.deepEqual(await book.resolve('gw'), { address: '10.0.0.7', port: 5684 });
    answer = '10.0.0.8'; // DHCP gave the gateway a new address
    now = 29_999;
    assert.deepEqual(await book.resolve('gw'), { address: '10.0.0.7', port: 5684 }, 'within the TTL');
    now = 30_000;
    assert.deepEqual(await book.resolve('gw'), { address: '10.0.0.8', port: 5684 }, 'looked up again');
    assert.equal(lookups.length, 2);
  });

  it('compares IPv6 literals in one form', async () => {
    const book = new PeerBook(
      () => Promise.reject(new Error('no lookups')),
      30_000,
      () => 0,
      '[::1]:5684',
    );
    book.set([
      { id: 'n2', address: '[0:0:0:0:0:0:0:1]:5684' },
      { id: 'n3', address: '[2001:DB8::3]:5684' },
      { id: 'n4', address: '[2001:db8:0::3]:5684' },
    ]);
    await assert.rejects(book.resolve('n2'), /peer n2 is reached at \[::1\]:5684, where this node itself/);
    assert.equal(book.literal('n3'), null, 'no fast path: n4 is at the same literal');
    await assert.rejects(book.resolve('n3'), /peers n3 and n4 are both reached/);
  });

  it('finds who is reached at an address as resolve compares: this node, a peer, or nobody', async () => {
    const names: Record<string, string> = { localhost: '127.0.0.1', 'gw2.local': '10.0.0.2', 'GW3.local': '::1' };
    const book = new PeerBook(
      (host) => (host in names ? Promise.resolve(names[host] ?? '') : Promise.reject(new Error('no such host'))),
      30_000,
      () => 0,
      '127.0.0.1:5700',
    );
    book.set([
      { id: 'n2', address: 'gw2.local:5702' },
      { id: 'n3', address: '[0::1]:5704' },
      { id: 'n9', address: 'gone.local:5706' },
    ]);
    assert.deepEqual(await book.reachedAt('localhost:5700'), { self: true });
    assert.deepEqual(await book.reachedAt('127.0.0.1:5700'), { self: true });
    assert.deepEqual(await book.reachedAt('10.0.0.2:5702'), { peer: 'n2' }, 'the literal of a peer known by name');
    assert.deepEqual(await book.reachedAt('GW3.local:5704'), { peer: 'n3' }, 'a name of a peer known by literal');
    assert.deepEqual(await book.reachedAt('[::1]:5704'), { peer: 'n3' }, 'another form of its literal');
    assert.equal(await book.reachedAt('10.0.0.2:5703'), null, 'another port is another place');
    assert.equal(await book.reachedAt('nowhere.local:5706'), null, 'a host that does not resolve');
    assert.equal(await book.reachedAt('not an address'), null);
  });
});
