// Shared set-up of the CoAP tests: a server and a raw "wire" endpoint on the in-memory
// network with virtual time, and helpers to build requests and read responses byte by byte.
import { CoapMethodCode, CoapOption, CoapType, type CoapMethod } from '../../../transport/coap/codes.js';
import {
  decodeMessage,
  encodeMessage,
  type CoapMessage,
  type CoapOptionValue,
} from '../../../transport/coap/message.js';
import { stringOption } from '../../../transport/coap/options.js';
import { CoapServer } from '../../../transport/coap/server.js';
import type { CoapServerOptions } from '../../../transport/coap/config.js';
import { MemoryNetwork, type MemoryEndpoint } from '../memory-datagram.js';
import { settle, VirtualTimers } from '../virtual-timers.js';

export interface ServerHarness {
  readonly network: MemoryNetwork;
  readonly timers: VirtualTimers;
  readonly server: CoapServer;
  readonly serverEndpoint: MemoryEndpoint;
  /** A raw client endpoint and every message it received, decoded. */
  readonly wire: MemoryEndpoint;
  readonly received: CoapMessage[];
  /** Sends raw bytes from the wire endpoint to the server and lets everything settle. */
  send(data: Uint8Array): Promise<void>;
}

export async function serverHarness(
  options: Partial<CoapServerOptions> = {},
  identity: string | null = null,
): Promise<ServerHarness> {
  const network = new MemoryNetwork();
  const timers = new VirtualTimers();
  // Each start of the server opens a fresh endpoint; serverEndpoint is the latest.
  let serverEndpoint = network.open('10.0.0.1');
  let opened = 0;
  const server = new CoapServer(
    {
      openEndpoint: () =>
        Promise.resolve(opened++ === 0 ? serverEndpoint : (serverEndpoint = network.open('10.0.0.1'))),
      timers,
    },
    options,
  );
  await server.start();
  const wire = network.open('10.0.0.2', identity);
  const received: CoapMessage[] = [];
  wire.onMessage((data) => {
    const decoded = decodeMessage(data);
    if (!decoded.ok) throw new Error(`server sent a malformed datagram: ${decoded.reason}`);
    received.push(decoded.message);
  });
  return {
    network,
    timers,
    server,
    get serverEndpoint() {
      return serverEndpoint;
    },
    wire,
    received,
    async send(data: Uint8Array): Promise<void> {
      await wire.send(data, serverEndpoint.address, serverEndpoint.port);
      await settle();
    },
  };
}

export interface RequestSpec {
  readonly type?: CoapType;
  readonly method?: CoapMethod;
  readonly messageId: number;
  readonly token?: Uint8Array;
  readonly path?: string;
  readonly options?: readonly CoapOptionValue[];
  readonly payload?: Uint8Array;
}

export function request(spec: RequestSpec): Uint8Array {
  const path = (spec.path ?? '/raft/AppendEntries').split('/').filter((s) => s.length > 0);
  return encodeMessage({
    type: spec.type ?? CoapType.CON,
    code: CoapMethodCode[spec.method ?? 'POST'],
    messageId: spec.messageId,
    token: spec.token ?? Uint8Array.from([1, 2, 3, 4]),
    options: [...path.map((s) => stringOption(CoapOption.UriPath, s)), ...(spec.options ?? [])],
    payload: spec.payload ?? new Uint8Array(0),
  });
}

export function text(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('utf8');
}
