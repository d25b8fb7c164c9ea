// An in-memory datagram network for transport tests: endpoints on fake addresses exchange
// datagrams through a hub that can drop, duplicate or hold them under test control. Delivery
// is asynchronous (a microtask), like a socket's.
import type { DatagramEndpoint, DatagramHandler, DatagramPeer } from '../../transport/datagram.js';

export interface Datagram {
  readonly data: Uint8Array;
  readonly from: DatagramPeer;
  readonly toAddress: string;
  readonly toPort: number;
}

/** Decides a datagram's fate: deliver, drop, or deliver twice. */
export type Fate = 'deliver' | 'drop' | 'duplicate';

export class MemoryNetwork {
  private readonly endpoints = new Map<string, MemoryEndpoint>();
  private nextPort = 40000;
  /** Every datagram sent, in order. */
  readonly log: Datagram[] = [];
  fate: (datagram: Datagram) => Fate = () => 'deliver';

  /** Opens an endpoint at `address` and `port` (default: the next free one). */
  open(address = '10.0.0.1', identity: string | null = null, port: number = this.nextPort++): MemoryEndpoint {
    const endpoint = new MemoryEndpoint(this, address, port, identity);
    this.endpoints.set(`${address}:${endpoint.port}`, endpoint);
    return endpoint;
  }

  route(datagram: Datagram): void {
    this.log.push(datagram);
    const fate = this.fate(datagram);
    if (fate === 'drop') return;
    const target = this.endpoints.get(`${datagram.toAddress}:${datagram.toPort}`);
    if (target === undefined) return;
    const copies = fate === 'duplicate' ? 2 : 1;
    for (let i = 0; i < copies; i += 1) queueMicrotask(() => target.deliver(datagram.data, datagram.from));
  }

  remove(endpoint: MemoryEndpoint): void {
    this.endpoints.delete(`${endpoint.address}:${endpoint.port}`);
  }
}

export class MemoryEndpoint implements DatagramEndpoint {
  private handler: DatagramHandler | null = null;
  closed = false;

  constructor(
    private readonly network: MemoryNetwork,
    readonly address: string,
    readonly port: number,
    private readonly identity: string | null,
  ) {}

  send(data: Uint8Array, address: string, port: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error('closed'));
    this.network.route({
      data: Uint8Array.from(data),
      from: { address: this.address, port: this.port, identity: this.identity },
      toAddress: address,
      toPort: port,
    });
    return Promise.resolve();
  }

  onMessage(handler: DatagramHandler): void {
    this.handler = handler;
  }

  deliver(data: Uint8Array, from: DatagramPeer): void {
    if (!this.closed) this.handler?.(Buffer.from(data), from);
  }

  localAddress(): { readonly address: string; readonly port: number } {
    return { address: this.address, port: this.port };
  }

  close(): Promise<void> {
    this.closed = true;
    this.network.remove(this);
    return Promise.resolve();
  }
}
