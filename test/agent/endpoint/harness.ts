// Shared set-up of the local endpoint tests: a one-node cluster (a real RaftNodeImpl with the
// KV state machine and memory storage) behind a real LocalEndpoint, either on virtual time
// with the endpoint on the in-memory datagram network (deterministic, byte-level checks), or
// on real time with the endpoint on loopback UDP (for libcoap's coap-client). Raw "wire"
// clients send hand-built CoAP messages and keep every message they receive, decoded.
import type { Timers } from '../../../contracts/clock.js';
import type { MetricDimensions, Metrics } from '../../../contracts/metrics.js';
import type { NetworkClient, NetworkServer } from '../../../contracts/network.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { LocalEndpoint, type LocalEndpointOptions } from '../../../agent/endpoint/local-endpoint.js';
import type { EndpointAccess } from '../../../agent/endpoint/access.js';
import { KvStateMachine, type KvOptions } from '../../../agent/kv/index.js';
import { LeaseKeeper, leaseKeeperHostOf } from '../../../agent/kv/lease-keeper.js';
import { DefaultMembershipManager } from '../../../agent/membership/default.js';
import { MemoryLogger } from '../../../agent/observability/noop.js';
import { DEFAULT_RAFT_CONFIGURATION } from '../../../contracts/raft-configuration.js';
import { RaftNodeImpl } from '../../../agent/runtime/node.js';
import { RealTimers } from '../../../agent/runtime/timers.js';
import { RELIABLE_NETWORK, SimNetwork } from '../../../agent/sim/network.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { MemoryPersistenceEngine } from '../../../storage/memory.js';
import { CoapMethodCode, CoapOption, CoapType, type CoapMethod } from '../../../transport/coap/codes.js';
import { createUdpCoapTransport } from '../../../transport/coap/index.js';
import { CoapClient } from '../../../transport/coap/client.js';
import type { CoapClientRequest, CoapClientResponse } from '../../../transport/coap/index.js';
import {
  decodeMessage,
  encodeMessage,
  type CoapMessage,
  type CoapOptionValue,
} from '../../../transport/coap/message.js';
import { stringOption, uintOption } from '../../../transport/coap/options.js';
import type { DatagramEndpoint } from '../../../transport/datagram.js';
import { openUdpEndpoint } from '../../../transport/udp.js';
import { MemoryNetwork, type MemoryEndpoint } from '../../transport/memory-datagram.js';
import { createTestSerializer } from '../../transport/test-serializer.js';

/** Records every counter increment as `name{dimensions}`. */
export class RecordingMetrics implements Metrics {
  readonly counts: string[] = [];
  readonly gauges = new Map<string, number>();
  increment(name: string, count = 1, dimensions: MetricDimensions = {}): void {
    for (let i = 0; i < count; i += 1) this.counts.push(`${name}${JSON.stringify(dimensions)}`);
  }
  setGauge(name: string, value: number): void {
    this.gauges.set(name, value);
  }
  observe(): void {}
  observeDurationMs(): void {}
  flush(): Promise<void> {
    return Promise.resolve();
  }
  /** How many increments named `name` carried `dimensions`. */
  count(name: string, dimensions: MetricDimensions): number {
    return this.counts.filter((c) => c === `${name}${JSON.stringify(dimensions)}`).length;
  }
}

/** A one-node cluster and its endpoint. */
export interface EndpointNode {
  readonly node: RaftNodeImpl;
  readonly endpoint: LocalEndpoint;
  readonly metrics: RecordingMetrics;
  stop(): Promise<void>;
}

async function startNode(
  timers: Timers,
  peer: { client: NetworkClient; server: NetworkServer },
  openEndpoint: () => Promise<DatagramEndpoint>,
  options: Partial<LocalEndpointOptions>,
  kv: Partial<KvOptions> = {},
  access?: EndpointAccess,
): Promise<EndpointNode> {
  const metrics = new RecordingMetrics();
  let endpoint: LocalEndpoint | null = null;
  const stateMachine = new KvStateMachine(kv);
  const node = new RaftNodeImpl(
    {
      timers,
      prng: new SeededPrng(7),
      ...peer,
      storage: new MemoryPersistenceEngine(),
      stateMachine,
      logger: new MemoryLogger(),
      metrics,
      membership: new DefaultMembershipManager(),
      observer: {
        onApply: (entry) => endpoint?.onApply(entry),
      },
    },
    { nodeId: 'n1', raft: DEFAULT_RAFT_CONFIGURATION, bootstrap: simpleConfiguration(['n1']) },
  );
  await node.start();
  const keeper = new LeaseKeeper({ timers, source: stateMachine, host: leaseKeeperHostOf(node), metrics });
  keeper.start();
  endpoint = new LocalEndpoint(
    {
      node,
      timers,
      openEndpoint,
      metrics,
      bootId: 'test-boot',
      leases: keeper,
      ...(access === undefined ? {} : { access }),
    },
    options,
  );
  await endpoint.start();
  const started = endpoint;
  return {
    node,
    endpoint: started,
    metrics,
    stop: async () => {
      await started.stop();
      keeper.stop();
      await node.stop();
    },
  };
}

/** A one-node cluster on virtual time, its endpoint on the in-memory network. */
export interface VirtualEndpointNode extends EndpointNode {
  readonly timers: VirtualTimers;
  readonly network: MemoryNetwork;
  readonly address: { readonly address: string; readonly port: number };
  /** Lets `ms` of virtual time pass. */
  run(ms: number): Promise<void>;
  /** A raw client on a port of its own, authenticated as `identity` (default: none). */
  wire(identity?: string | null): Wire;
}

/** Starts a one-node cluster on virtual time and waits until it leads. */
export async function virtualEndpointNode(
  options: Partial<LocalEndpointOptions> = {},
  kv: Partial<KvOptions> = {},
  timers: VirtualTimers = new VirtualTimers(),
  access?: EndpointAccess,
): Promise<VirtualEndpointNode> {
  const network = new MemoryNetwork();
  const peers = new SimNetwork(timers, new SeededPrng(3), RELIABLE_NETWORK);
  const socket = network.open('127.0.0.1');
  const started = await startNode(timers, peers.endpoint('n1'), () => Promise.resolve(socket), options, kv, access);
  const run = (ms: number): Promise<void> => timers.runUntil(timers.nowMs() + ms).then(() => undefined);
  await run(1000);
  if (!started.node.isLeader()) throw new Error('the one-node cluster did not elect itself');
  return {
    ...started,
    timers,
    network,
    address: socket.localAddress(),
    run,
    wire: (identity = null) => new Wire(network.open('127.0.0.1', identity), socket.localAddress()),
  };
}

/** A one-node cluster on real time, its endpoint on loopback UDP. */
export async function udpEndpointNode(
  options: Partial<LocalEndpointOptions> = {},
): Promise<EndpointNode & { readonly port: number }> {
  const peer = createUdpCoapTransport({
    serializer: createTestSerializer(),
    listenAddress: '127.0.0.1',
    listenPort: 0,
  });
  const started = await startNode(
    new RealTimers(),
    peer,
    () => openUdpEndpoint({ address: '127.0.0.1', port: 0, receiveBufferBytes: 4 * 1024 * 1024 }),
    options,
  );
  const deadline = Date.now() + 10_000;
  while (!started.node.isLeader() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  if (!started.node.isLeader()) throw new Error('the one-node cluster did not elect itself');
  return { ...started, port: started.endpoint.localAddress().port };
}

/** What a wire request carries. */
export interface WireRequest {
  readonly method?: CoapMethod;
  readonly path: string;
  readonly messageId: number;
  readonly token: Uint8Array;
  readonly type?: CoapType;
  /** 0 registers, 1 deregisters. */
  readonly observe?: number;
  readonly options?: readonly CoapOptionValue[];
  readonly payload?: Uint8Array;
}

/** Builds a request datagram; a path's query part becomes Uri-Query options. */
export function requestDatagram(spec: WireRequest): Uint8Array {
  const [pathPart = '', queryPart] = spec.path.split('?');
  const options: CoapOptionValue[] = [];
  if (spec.observe !== undefined) options.push(uintOption(CoapOption.Observe, spec.observe));
  for (const segment of pathPart.split('/').filter((s) => s !== ''))
    options.push(stringOption(CoapOption.UriPath, segment));
  for (const argument of queryPart === undefined ? [] : queryPart.split('&'))
    options.push(stringOption(CoapOption.UriQuery, argument));
  return encodeMessage({
    type: spec.type ?? CoapType.CON,
    code: CoapMethodCode[spec.method ?? 'GET'],
    messageId: spec.messageId,
    token: spec.token,
    options: [...options, ...(spec.options ?? [])],
    payload: spec.payload ?? new Uint8Array(0),
  });
}

/** A raw CoAP client on the in-memory network. */
export class Wire {
  readonly received: CoapMessage[] = [];
  /** Acknowledge every confirmable message as it arrives (as a live client does). */
  autoAck = false;

  constructor(
    readonly socket: MemoryEndpoint,
    private readonly server: { readonly address: string; readonly port: number },
  ) {
    socket.onMessage((data) => {
      const decoded = decodeMessage(data);
      if (!decoded.ok) return;
      this.received.push(decoded.message);
      if (this.autoAck && decoded.message.type === CoapType.CON) void this.reply('ack', decoded.message.messageId);
    });
  }

  /** Sends a request (not waiting for anything). */
  send(spec: WireRequest): Promise<void> {
    return this.socket.send(requestDatagram(spec), this.server.address, this.server.port);
  }

  /** Sends an empty ACK or RST for `messageId`. */
  reply(type: 'ack' | 'rst', messageId: number): Promise<void> {
    return this.socket.send(
      encodeMessage({
        type: type === 'ack' ? CoapType.ACK : CoapType.RST,
        code: 0,
        messageId,
        token: new Uint8Array(0),
        options: [],
        payload: new Uint8Array(0),
      }),
      this.server.address,
      this.server.port,
    );
  }

  /** Messages received with `token`. */
  withToken(token: Uint8Array): CoapMessage[] {
    return this.received.filter((m) => Buffer.from(m.token).equals(token));
  }
}

/** One request from a fresh CoAP client on the virtual network, run to its answer. */
export async function callEndpoint(h: VirtualEndpointNode, request: CoapClientRequest): Promise<CoapClientResponse> {
  const client = new CoapClient({
    openEndpoint: () => Promise.resolve(h.network.open('127.0.0.1')),
    timers: h.timers,
    prng: new SeededPrng(5),
  });
  const pending = client.request(h.address, request, 10_000);
  await h.run(1000);
  const response = await pending;
  await client.close();
  return response;
}
