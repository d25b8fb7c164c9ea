// Proves the plain UDP DatagramEndpoint on loopback: datagrams arrive with the sender's
// address and a null identity, sends resolve once handed to the socket, a datagram over the
// UDP maximum is refused with NET_TOO_LARGE, a taken port is NET_UNREACHABLE, and a closed
// endpoint refuses to send; `post` (no promise) delivers the same and reports each failure a
// send would reject with to the onFailure it was given. Each datagram arrives in a buffer of
// its own that later datagrams leave alone (the DatagramHandler contract that lets the peer RPC
// server keep views of a request's bytes, InboundContext.bytesOwned). A send to a family the
// socket cannot reach is refused at once as NET_ADDRESS; a dual-stack one reaches IPv4.
import { strict as assert } from 'node:assert';
import type { DatagramPeer } from '../../transport/datagram.js';
import { openUdpEndpoint, UDP_PAYLOAD_BYTES_MAX } from '../../transport/udp.js';

describe('UdpEndpoint', () => {
  it('exchanges datagrams with the sender address and no identity', async () => {
    const a = await openUdpEndpoint();
    const b = await openUdpEndpoint({ address: '127.0.0.1', port: 0 });
    const arrived = new Promise<[Uint8Array, DatagramPeer]>((resolve) =>
      b.onMessage((data, peer) => resolve([data, peer])),
    );
    await a.send(Uint8Array.from([1, 2, 3]), '127.0.0.1', b.localAddress().port);
    const [data, peer] = await arrived;
    assert.deepEqual([...data], [1, 2, 3]);
    assert.deepEqual(peer, { address: '127.0.0.1', port: a.localAddress().port, identity: null });
    await a.close();
    await b.close();
  });

  it('gives each datagram a buffer of its own that later datagrams leave alone', async () => {
    const a = await openUdpEndpoint();
    const b = await openUdpEndpoint();
    const sizes = [3000, 12_000, 100, 3000];
    const arrived: Uint8Array[] = [];
    const all = new Promise<void>((resolve) =>
      b.onMessage((data) => {
        arrived.push(data);
        if (arrived.length === sizes.length) resolve();
      }),
    );
    for (const [i, size] of sizes.entries())
      await a.send(new Uint8Array(size).fill(i + 1), '127.0.0.1', b.localAddress().port);
    await all;
    assert.equal(new Set(arrived.map((d) => d.buffer)).size, sizes.length);
    for (const [i, data] of arrived.entries()) {
      assert.equal(data.byteLength, sizes[i]);
      assert.ok(data.buffer.byteLength <= data.byteLength + 64, 'a buffer of this datagram alone');
      assert.ok(
        data.every((byte) => byte === i + 1),
        'unchanged by the datagrams after it',
      );
    }
    await a.close();
    await b.close();
  });

  it('refuses oversized datagrams, a taken port, and sends after close', async () => {
    const a = await openUdpEndpoint();
    await assert.rejects(a.send(new Uint8Array(UDP_PAYLOAD_BYTES_MAX + 1), '127.0.0.1', 9), { code: 'NET_TOO_LARGE' });
    await assert.rejects(openUdpEndpoint({ port: a.localAddress().port }), { code: 'NET_UNREACHABLE' });
    await a.close();
    await assert.rejects(a.send(new Uint8Array(1), '127.0.0.1', 9), { code: 'NET_UNREACHABLE' });
  });

  it('posts datagrams without a promise, giving each failure send would reject with to its onFailure', async () => {
    const a = await openUdpEndpoint();
    const b = await openUdpEndpoint();
    const arrived = new Promise<Uint8Array>((resolve) => b.onMessage((data) => resolve(data)));
    const failures: [string, string][] = [];
    const onFailure =
      (who: string) =>
      (error: Error): void =>
        void failures.push([who, Reflect.get(error, 'code')]);
    a.post(Uint8Array.from([4, 5]), '127.0.0.1', b.localAddress().port, onFailure('first'));
    assert.deepEqual([...(await arrived)], [4, 5]);
    a.post(new Uint8Array(UDP_PAYLOAD_BYTES_MAX + 1), '127.0.0.1', 9, onFailure('oversized'));
    a.post(new Uint8Array(1), '127.0.0.1', 0, onFailure('port 0'));
    // Broadcast without SO_BROADCAST: the socket's own error, through its callback.
    const socketError = new Promise<void>((resolve) =>
      a.post(new Uint8Array(1), '255.255.255.255', 9, (error) => {
        onFailure('broadcast')(error);
        resolve();
      }),
    );
    await socketError;
    await a.close();
    a.post(new Uint8Array(1), '127.0.0.1', 9, onFailure('closed'));
    assert.deepEqual(failures, [
      ['oversized', 'NET_TOO_LARGE'],
      ['port 0', 'NET_UNREACHABLE'],
      ['broadcast', 'NET_UNREACHABLE'],
      ['closed', 'NET_UNREACHABLE'],
    ]);
    await b.close();
  });

  it('binds IPv6 loopback when asked', async function () {
    let a;
    try {
      a = await openUdpEndpoint({ address: '::1' });
    } catch {
      this.skip(); // no IPv6 loopback on this machine
    }
    const b = await openUdpEndpoint({ address: '::1' });
    const arrived = new Promise<DatagramPeer>((resolve) => b.onMessage((_data, peer) => resolve(peer)));
    await a.send(new Uint8Array(1), '::1', b.localAddress().port);
    assert.equal((await arrived).address, '::1');
    await a.close();
    await b.close();
  });

  it('refuses at once, as NET_ADDRESS, a send or post to a family its socket cannot reach', async function () {
    let six;
    try {
      six = await openUdpEndpoint({ address: '::1' });
    } catch {
      this.skip(); // no IPv6 loopback on this machine
    }
    const four = await openUdpEndpoint();
    try {
      const refused = { code: 'NET_ADDRESS', message: /IPv6 \(bound to ::1\) and cannot send to the IPv4 address/ };
      await assert.rejects(six.send(new Uint8Array(1), '127.0.0.1', 5683), refused);
      await assert.rejects(four.send(new Uint8Array(1), '::1', 5683), {
        code: 'NET_ADDRESS',
        message: /IPv4 \(bound to 127\.0\.0\.1\) and cannot send to the IPv6 address \[::1\]:5683/,
      });
      const failures: Error[] = [];
      six.post(new Uint8Array(1), '127.0.0.1', 5683, (error) => failures.push(error));
      assert.equal(failures.length, 1, 'refused before post returns');
      assert.match(failures[0]?.message ?? '', refused.message);
    } finally {
      await six.close();
      await four.close();
    }
  });

  it('reaches IPv4 peers from a dual-stack IPv6 endpoint and names them by their IPv4 address', async function () {
    let six;
    try {
      six = await openUdpEndpoint({ address: '::' });
    } catch {
      this.skip(); // no IPv6 on this machine
    }
    const four = await openUdpEndpoint();
    const atFour = new Promise<DatagramPeer>((resolve) => four.onMessage((_data, peer) => resolve(peer)));
    await six.send(new Uint8Array(1), '127.0.0.1', four.localAddress().port);
    assert.equal((await atFour).address, '127.0.0.1');
    const atSix = new Promise<DatagramPeer>((resolve) => six.onMessage((_data, peer) => resolve(peer)));
    await four.send(new Uint8Array(1), '127.0.0.1', six.localAddress().port);
    assert.equal((await atSix).address, '127.0.0.1');
    await six.close();
    await four.close();
  });
});
