// Helpers of the DTLS loopback tests: starting endpoints that are closed after each test,
// a lossy UDP relay, and waiting for a condition with a deadline.
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { DtlsClientEndpoint } from '../../../transport/dtls/client.js';
import type { DtlsClientOptions } from '../../../transport/dtls/client-options.js';
import type { DtlsDeps } from '../../../transport/dtls/options.js';
import { DtlsServerEndpoint } from '../../../transport/dtls/server.js';
import { scaledMs } from '../../timing.js';
import type { DtlsServerOptions } from '../../../transport/dtls/server-options.js';

/** Closes everything a test opened. */
export class Cleanup {
  private readonly closers: (() => Promise<void>)[] = [];

  add(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  async run(): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) await close();
  }
}

/** Errors contained by endpoints; a test fails if any appear. */
export const internalErrors: unknown[] = [];
const deps = (extra: DtlsDeps): DtlsDeps => ({ onInternalError: (e) => internalErrors.push(e), ...extra });

export async function startServer(
  cleanup: Cleanup,
  options: Partial<DtlsServerOptions> & Pick<DtlsServerOptions, 'pskLookup'>,
  extra: DtlsDeps = {},
): Promise<DtlsServerEndpoint> {
  const server = await DtlsServerEndpoint.listen(
    { host: '127.0.0.1', port: 0, retransmitInitialMs: 200, ...options },
    deps(extra),
  );
  cleanup.add(() => server.close());
  return server;
}

export async function startClient(
  cleanup: Cleanup,
  options: Partial<DtlsClientOptions> & Pick<DtlsClientOptions, 'identity' | 'psk'>,
  extra: DtlsDeps = {},
): Promise<DtlsClientEndpoint> {
  const client = await DtlsClientEndpoint.open(
    { bindAddress: '127.0.0.1', retransmitInitialMs: 200, ...options },
    deps(extra),
  );
  cleanup.add(() => client.close());
  return client;
}

/** Makes `server` echo every datagram back, prefixed with the peer identity. */
export function echo(server: DtlsServerEndpoint): void {
  server.onMessage((data, peer) => {
    void server
      .send(Buffer.concat([Buffer.from(`${peer.identity ?? '?'}:`), data]), peer.address, peer.port)
      .catch(() => undefined);
  });
}

/** Collects what a client receives and resolves waiters for specific payloads. */
export class Inbox {
  readonly received: string[] = [];
  private waiters: { text: string; resolve: () => void }[] = [];

  constructor(client: DtlsClientEndpoint) {
    client.onMessage((data) => {
      const text = Buffer.from(data).toString();
      this.received.push(text);
      for (const w of this.waiters.filter((x) => x.text === text)) w.resolve();
      this.waiters = this.waiters.filter((x) => x.text !== text);
    });
  }

  waitFor(text: string): Promise<void> {
    if (this.received.includes(text)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ text, resolve }));
  }
}

/** A handshake message of a plaintext (epoch 0) DTLS record: its type and its body (whole, unfragmented). */
export interface PlaintextHandshake {
  readonly type: number;
  readonly body: Buffer;
}

/**
 * The handshake messages in the plaintext records of one datagram (RFC 6347 §4.1, §4.2.2):
 * what an eavesdropper sees of the first flights. Encrypted records are skipped.
 */
export function plaintextHandshakes(datagram: Buffer): PlaintextHandshake[] {
  const found: PlaintextHandshake[] = [];
  for (let at = 0; at + 13 <= datagram.length;) {
    const contentType = datagram[at];
    const epoch = datagram.readUInt16BE(at + 3);
    const length = datagram.readUInt16BE(at + 11);
    const record = datagram.subarray(at + 13, at + 13 + length);
    at += 13 + length;
    if (contentType !== 22 || epoch !== 0 || record.length < 12) continue;
    const bodyLength = record.readUIntBE(1, 3);
    found.push({ type: record[0] ?? -1, body: record.subarray(12, 12 + bodyLength) });
  }
  return found;
}

/** Polls `condition` every 5 ms until it holds; rejects after `timeoutMs` (scaled: test/timing.ts). */
export async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + scaledMs(timeoutMs);
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A UDP relay between clients and one server that drops datagrams as `drop` decides. Each
 * client gets its own upstream socket, so the server sees one source port per client.
 */
export class LossyRelay {
  private readonly upstreams = new Map<string, Socket>();
  readonly dropped = { up: 0, down: 0 };
  /** Every datagram forwarded to the server, in order. */
  readonly forwardedUp: Buffer[] = [];
  /** Every datagram forwarded from the server to a client, in order. */
  readonly forwardedDown: Buffer[] = [];

  private constructor(
    private readonly front: Socket,
    serverPort: number,
    private readonly drop: (direction: 'up' | 'down', index: number) => boolean,
  ) {
    let upIndex = 0;
    front.on('message', (msg, from) => {
      const key = `${from.address}:${from.port}`;
      let upstream = this.upstreams.get(key);
      if (upstream === undefined) {
        const socket = createSocket('udp4');
        let downIndex = 0;
        socket.on('message', (reply) => {
          if (this.drop('down', downIndex++)) this.dropped.down += 1;
          else {
            this.forwardedDown.push(Buffer.from(reply));
            front.send(reply, from.port, from.address);
          }
        });
        socket.bind(0, '127.0.0.1');
        this.upstreams.set(key, socket);
        upstream = socket;
      }
      if (this.drop('up', upIndex++)) this.dropped.up += 1;
      else {
        this.forwardedUp.push(Buffer.from(msg));
        upstream.send(msg, serverPort, '127.0.0.1');
      }
    });
  }

  static async start(
    cleanup: Cleanup,
    serverPort: number,
    drop: (direction: 'up' | 'down', index: number) => boolean,
  ): Promise<LossyRelay> {
    const front = createSocket('udp4');
    await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', () => resolve()));
    const relay = new LossyRelay(front, serverPort, drop);
    cleanup.add(() => relay.close());
    return relay;
  }

  port(): number {
    return this.front.address().port;
  }

  /** The socket that forwards the datagrams of the first client, as the server sees it. */
  firstUpstream(): Socket | undefined {
    return [...this.upstreams.values()][0];
  }

  private async close(): Promise<void> {
    for (const s of [this.front, ...this.upstreams.values()]) await new Promise<void>((r) => s.close(() => r()));
  }
}
