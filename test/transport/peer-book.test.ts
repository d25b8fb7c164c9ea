// Proves peer address handling: "host:port" and "[v6]:port" parse and anything else is a
// ConfigError naming the member; IP literals need no lookup; host names are resolved once
// through the injected resolver, and a failed lookup is NET_UNREACHABLE and retried later.
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
    const book = new PeerBook((host) => {
      lookups.push(host);
      return fail ? Promise.reject(new Error('no such host')) : Promise.resolve('10.9.9.9');
    });
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
});
