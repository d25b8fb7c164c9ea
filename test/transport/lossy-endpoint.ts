// A DatagramEndpoint wrapper that loses datagrams in either direction, chosen by a seeded
// PRNG or by a test's rule: the lossy relay of the transport tests over real UDP.
import type { DatagramEndpoint, DatagramHandler, DatagramPeer } from '../../transport/datagram.js';

export type LossRule = (direction: 'out' | 'in', data: Uint8Array, index: number) => boolean;

export class LossyEndpoint implements DatagramEndpoint {
  private outCount = 0;
  private inCount = 0;
  dropped = 0;

  constructor(
    private readonly inner: DatagramEndpoint,
    private readonly lose: LossRule,
  ) {}

  send(data: Uint8Array, address: string, port: number): Promise<void> {
    const index = this.outCount++;
    if (this.lose('out', data, index)) {
      this.dropped += 1;
      return Promise.resolve();
    }
    return this.inner.send(data, address, port);
  }

  onMessage(handler: DatagramHandler): void {
    this.inner.onMessage((data: Uint8Array, peer: DatagramPeer) => {
      const index = this.inCount++;
      if (this.lose('in', data, index)) {
        this.dropped += 1;
        return;
      }
      handler(data, peer);
    });
  }

  localAddress(): { readonly address: string; readonly port: number } {
    return this.inner.localAddress();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
