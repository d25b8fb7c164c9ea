// Proves the sockets' lookup (transport/literal-lookup.ts): an IP literal is answered at once,
// within the call, with its family (so node:dgram sends a datagram without waiting a tick), the
// same address again from its memo, and a host name through dns.lookup; a datagram sent on a
// socket that uses it is in the receiver's queue when send returns (with dns.lookup it left only
// after a tick: after every queued microtask, such as a Ready loop's inline sync); and a UDP
// endpoint built on it still delivers datagrams both ways.
import { strict as assert } from 'node:assert';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { literalLookup } from '../../transport/literal-lookup.js';
import { openUdpEndpoint } from '../../transport/udp.js';

function lookupNow(lookup: ReturnType<typeof literalLookup>, host: string, family = 0): [string, number] | null {
  let answer: [string, number] | null = null;
  lookup(host, family, (error, address, answered) => {
    assert.equal(error, null);
    answer = [address, answered];
  });
  return answer;
}

/** Bytes waiting in the receive queue of the IPv4 UDP socket bound to 127.0.0.1:`port` (/proc/net/udp). */
function receiveQueueBytes(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local) return Number.parseInt(fields[4]?.split(':')[1] ?? '0', 16);
  }
  throw new Error(`no UDP socket on 127.0.0.1:${port}`);
}

async function bound(socket: Socket): Promise<number> {
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket.address().port;
}

describe('literalLookup', () => {
  it('answers IPv4 and IPv6 literals within the call, with their family, again from its memo', () => {
    const lookup = literalLookup();
    assert.deepEqual(lookupNow(lookup, '127.0.0.1', 4), ['127.0.0.1', 4]);
    assert.deepEqual(lookupNow(lookup, '127.0.0.1', 4), ['127.0.0.1', 4]);
    assert.deepEqual(lookupNow(lookup, '::1', 6), ['::1', 6]);
    assert.deepEqual(lookupNow(lookup, '::ffff:10.0.0.1', 6), ['::ffff:10.0.0.1', 6]);
    assert.deepEqual(lookupNow(lookup, '10.1.2.3'), ['10.1.2.3', 4]);
  });

  it("answers an IPv4 literal in its IPv4-mapped form for a dual-stack socket's sends", () => {
    const lookup = literalLookup(true);
    assert.deepEqual(lookupNow(lookup, '127.0.0.1', 6), ['::ffff:127.0.0.1', 6]);
    assert.deepEqual(lookupNow(lookup, '127.0.0.1', 6), ['::ffff:127.0.0.1', 6]);
    assert.deepEqual(lookupNow(lookup, '::1', 6), ['::1', 6]);
  });

  it('lets a datagram leave within the send call, where dns.lookup defers it', async function () {
    if (process.platform !== 'linux') this.skip();
    const receiver = createSocket('udp4');
    const fast = createSocket({ type: 'udp4', lookup: literalLookup() });
    const slow = createSocket('udp4');
    try {
      const port = await bound(receiver);
      await bound(fast);
      await bound(slow);
      // No await from here: the event loop cannot read the receiver's queue meanwhile.
      assert.equal(receiveQueueBytes(port), 0);
      fast.send(Buffer.from('fast'), port, '127.0.0.1');
      const queued = receiveQueueBytes(port);
      assert.ok(queued > 0, 'with literalLookup the datagram is queued when send returns');
      slow.send(Buffer.from('slow'), port, '127.0.0.1');
      assert.equal(receiveQueueBytes(port), queued, 'with dns.lookup it has not left yet');
    } finally {
      for (const socket of [receiver, fast, slow]) socket.close();
    }
  });

  it('resolves a host name through dns.lookup, after the call', async () => {
    const lookup = literalLookup();
    let sync = true;
    const answer = await new Promise<[string, number]>((resolve, reject) => {
      lookup('localhost', 4, (error, address, family) => (error ? reject(error) : resolve([address, family])));
      sync = false;
    });
    assert.equal(sync, false, 'a name is not answered within the call');
    assert.deepEqual(answer, ['127.0.0.1', 4]);
  });

  it('refuses what neither a literal nor a name is, as dns.lookup does', async () => {
    const lookup = literalLookup();
    const error = await new Promise<unknown>((resolve) => lookup('no-such-host.invalid', 4, (e) => resolve(e)));
    assert.ok(error instanceof Error);
  });

  it('carries datagrams of a UDP endpoint and of a plain dgram socket that use it', async () => {
    const endpoint = await openUdpEndpoint({ address: '127.0.0.1' });
    const peer = createSocket({ type: 'udp4', lookup: literalLookup() });
    try {
      await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
      const received = new Promise<string>((resolve) =>
        endpoint.onMessage((data) => resolve(Buffer.from(data).toString())),
      );
      const { port } = endpoint.localAddress();
      await new Promise<void>((resolve, reject) =>
        peer.send(Buffer.from('ping'), port, '127.0.0.1', (error) => (error ? reject(error) : resolve())),
      );
      assert.equal(await received, 'ping');
      const back = new Promise<string>((resolve) => peer.once('message', (data) => resolve(data.toString())));
      await endpoint.send(new TextEncoder().encode('pong'), '127.0.0.1', peer.address().port);
      assert.equal(await back, 'pong');
    } finally {
      peer.close();
      await endpoint.close();
    }
  });
});
