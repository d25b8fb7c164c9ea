// A UDP relay between one client and one server whose upstream socket can be replaced mid-
// session, as a NAT does when it rebinds: after `rebind()` the server sees the client's
// datagrams come from a new source port, and the old port is gone.
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import type { Cleanup } from './helpers.js';

export class RebindingRelay {
  private upstream: Socket | null = null;
  private client: { readonly address: string; readonly port: number } | null = null;
  /** Every datagram forwarded to the server, in order. */
  readonly forwardedUp: Buffer[] = [];
  /** How many times the upstream socket was replaced. */
  rebinds = 0;

  private constructor(
    private readonly front: Socket,
    private readonly serverPort: number,
  ) {
    front.on('message', (msg, from) => {
      this.client = { address: from.address, port: from.port };
      this.forwardedUp.push(Buffer.from(msg));
      this.upstream?.send(msg, this.serverPort, '127.0.0.1');
    });
  }

  static async start(cleanup: Cleanup, serverPort: number): Promise<RebindingRelay> {
    const front = await bound();
    const relay = new RebindingRelay(front, serverPort);
    await relay.rebind();
    relay.rebinds = 0;
    cleanup.add(() => relay.close());
    return relay;
  }

  /** The port clients send to. */
  port(): number {
    return this.front.address().port;
  }

  /** The source port the server sees now. */
  upstreamPort(): number {
    return this.upstream?.address().port ?? -1;
  }

  /** Replaces the upstream socket: the server sees a new source port; the old one is closed. */
  async rebind(): Promise<void> {
    const next = await bound();
    next.on('message', (reply) => {
      const client = this.client;
      if (client !== null) this.front.send(reply, client.port, client.address);
    });
    const old = this.upstream;
    this.upstream = next;
    this.rebinds += 1;
    if (old !== null) await new Promise<void>((resolve) => old.close(() => resolve()));
  }

  private async close(): Promise<void> {
    for (const socket of [this.front, this.upstream]) {
      if (socket !== null) await new Promise<void>((resolve) => socket.close(() => resolve()));
    }
  }
}

/** A UDP socket bound to a free loopback port. */
export async function bound(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return socket;
}
