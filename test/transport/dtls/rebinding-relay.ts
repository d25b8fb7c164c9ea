// A UDP relay in front of one server whose upstream sockets can be replaced mid-session, as a
// NAT does when it rebinds: each client gets its own upstream socket (the server sees one
// source port per client), and after `rebind()` every client's datagrams come from a new
// source port and the old ports are gone.
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';

/** Something that closes what a test opened. */
interface Closer {
  add(close: () => Promise<void>): void;
}

interface Link {
  readonly client: { readonly address: string; readonly port: number };
  upstream: Socket;
}

export class RebindingRelay {
  /** The link of each client, made once (a promise, so that datagrams that race its socket wait in order). */
  private readonly links = new Map<string, Promise<Link>>();
  private readonly made: Link[] = [];
  /** Every datagram forwarded to the server, in order. */
  readonly forwardedUp: Buffer[] = [];
  /** Every datagram forwarded from the server to a client, in order. */
  readonly forwardedDown: Buffer[] = [];
  /** How many times the upstream sockets were replaced. */
  rebinds = 0;

  private constructor(
    private readonly front: Socket,
    private readonly serverPort: number,
    private readonly serverAddress: string,
  ) {
    front.on('message', (msg, from) => void this.forward(msg, from.address, from.port));
  }

  /** Starts a relay on a free loopback port (or `port`) toward `serverAddress:serverPort`. */
  static async start(
    cleanup: Closer,
    serverPort: number,
    options: { readonly port?: number; readonly serverAddress?: string } = {},
  ): Promise<RebindingRelay> {
    const front = await bound(options.port ?? 0);
    const relay = new RebindingRelay(front, serverPort, options.serverAddress ?? '127.0.0.1');
    cleanup.add(() => relay.close());
    return relay;
  }

  /** The port clients send to. */
  port(): number {
    return this.front.address().port;
  }

  /** The source port the server sees now for the first client (-1 before any). */
  upstreamPort(): number {
    const first = this.made[0];
    return first === undefined ? -1 : first.upstream.address().port;
  }

  /** How many ClientHellos (epoch-0 handshake records of type 1) went up: the handshakes started. */
  clientHellos(): number {
    return this.forwardedUp.filter((d) => d[0] === 22 && d.readUInt16BE(3) === 0 && d[13] === 1).length;
  }

  /** Replaces every upstream socket: the server sees new source ports; the old ones are closed. */
  async rebind(): Promise<void> {
    this.rebinds += 1;
    for (const link of this.made) {
      const old = link.upstream;
      link.upstream = await this.upstreamFor(link.client);
      await new Promise<void>((resolve) => old.close(() => resolve()));
    }
  }

  private async forward(msg: Buffer, address: string, port: number): Promise<void> {
    const key = `${port}/${address}`;
    let pending = this.links.get(key);
    if (pending === undefined) {
      const client = { address, port };
      pending = this.upstreamFor(client).then((upstream) => {
        const link = { client, upstream };
        this.made.push(link);
        return link;
      });
      this.links.set(key, pending);
    }
    const link = await pending;
    this.forwardedUp.push(Buffer.from(msg));
    link.upstream.send(msg, this.serverPort, this.serverAddress);
  }

  private async upstreamFor(client: { readonly address: string; readonly port: number }): Promise<Socket> {
    const socket = await bound(0);
    socket.on('message', (reply) => {
      this.forwardedDown.push(Buffer.from(reply));
      this.front.send(reply, client.port, client.address);
    });
    return socket;
  }

  private async close(): Promise<void> {
    const sockets = [this.front, ...this.made.map((l) => l.upstream)];
    for (const socket of sockets) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

/** A UDP socket bound to `port` (0: a free one) on loopback. */
export async function bound(port = 0): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(port, '127.0.0.1', () => resolve()));
  return socket;
}
