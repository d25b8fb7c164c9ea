/**
 * The simulated network: NetworkClient and NetworkServer for every simulated node, carrying
 * messages through virtual time with seeded faults — latency drawn from a range (which
 * reorders messages), loss, duplication, directed link cuts (partitions of any shape,
 * asymmetric ones included), clogged links (heavy extra delay), and a node that is down.
 * Every random choice comes from the injected Prng, so a run replays exactly from its seed.
 */
import { NetworkError } from '../../contracts/errors.js';
import type { NodeId } from '../../contracts/log.js';
import type { RequestMessage, ResponseFor, ResponseMessage } from '../../contracts/messages.js';
import type { InboundContext, NetworkClient, NetworkServer, RpcHandler } from '../../contracts/network.js';
import type { Prng } from '../../contracts/prng.js';
import type { VirtualTimers } from './virtual-time.js';

/** Fault rates of the network; every rate is a probability per message. */
export interface NetworkFaults {
  /** Probability a request or a response is lost. */
  readonly lossRate: number;
  /**
   * Probability a request is delivered twice. A Raft RPC's second copy is handled again (as
   * after a miss in the CoAP server's duplicate cache, which Raft's RPCs must tolerate); a
   * forwarded client request's second copy is answered with the first copy's response, as that
   * cache does (RFC 7252 §4.5), unless the target restarted in between. The sender takes the
   * first answer to arrive.
   */
  readonly duplicateRate: number;
  /** Latency of one message, ms, uniform in [min, max]. */
  readonly latencyMinMs: number;
  readonly latencyMaxMs: number;
  /** Probability a message is held back by an extra `reorderDelayMs`, overtaken by later ones. */
  readonly reorderRate: number;
  readonly reorderDelayMs: number;
  /**
   * Probability a message is held for long, up to `staleDelayMaxMs` (absent: never): a request
   * of a term long past, reaching a node that has moved on, as a message stuck in a queue does.
   */
  readonly staleRate?: number;
  readonly staleDelayMaxMs?: number;
}

/**
 * How long the 'stale' fault holds a message at most, ms: one sent before the network heals may
 * arrive that much later.
 */
export const STALE_DELAY_MAX_MS = 5_000;

/** The 'stale' fault's rates, drawn from `prng` (one draw). */
export function staleFaults(prng: Prng): Required<Pick<NetworkFaults, 'staleRate' | 'staleDelayMaxMs'>> {
  return { staleRate: 0.002 + prng.nextFloat() * 0.008, staleDelayMaxMs: STALE_DELAY_MAX_MS };
}

/** A network without faults: 1 to 3 ms per message. */
export const RELIABLE_NETWORK: NetworkFaults = {
  lossRate: 0,
  duplicateRate: 0,
  latencyMinMs: 1,
  latencyMaxMs: 3,
  reorderRate: 0,
  reorderDelayMs: 0,
};

/** Counters of what the network did. */
export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  /** Second copies of client requests answered from the first copy's handling. */
  deduplicated: number;
  /** Messages held for long (the 'stale' fault). */
  stale: number;
}

/** One send's state, shared by the copies of its request. */
interface Exchange {
  /** The handler (one incarnation of the target) that ran the request, and its outcome. */
  handledBy: RpcHandler | null;
  handling: Promise<ResponseMessage> | null;
}

/** Replaces a response in flight: the Byzantine-fault hook (returns null to leave it alone). */
export type ResponseForger = (request: RequestMessage, response: ResponseMessage) => ResponseMessage | null;

export class SimNetwork {
  private readonly handlers = new Map<NodeId, RpcHandler>();
  private readonly cut = new Set<string>();
  private readonly clogged = new Map<string, number>();
  /** Links whose sends the sender's transport refuses for an address (NET_ADDRESS), with the reason. */
  private readonly refused = new Map<string, string>();
  private faults: NetworkFaults;
  readonly stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    deduplicated: 0,
    stale: 0,
  };
  /** Set by the simulator to inject malformed responses. */
  forger: ResponseForger | null = null;
  /** Told of every response a node's current run sends, when it sends it (the durability checks). */
  onResponse: ((node: NodeId, request: RequestMessage, response: ResponseMessage) => void) | null = null;

  constructor(
    private readonly timers: VirtualTimers,
    private readonly prng: Prng,
    faults: NetworkFaults,
  ) {
    this.faults = faults;
  }

  setFaults(faults: NetworkFaults): void {
    this.faults = faults;
  }

  getFaults(): NetworkFaults {
    return this.faults;
  }

  /** The client and server of node `id`. */
  endpoint(id: NodeId): { client: NetworkClient; server: NetworkServer } {
    return { client: new SimClient(this, id), server: new SimServer(this, id) };
  }

  /** @internal */
  register(id: NodeId, handler: RpcHandler | null): void {
    if (handler === null) this.handlers.delete(id);
    else this.handlers.set(id, handler);
  }

  /** @internal */
  isRegistered(id: NodeId): boolean {
    return this.handlers.has(id);
  }

  /**
   * Hands `request` to node `to` as if node `from` had sent it (authenticated as `from`), with
   * no network in between; resolves with whether the node accepted it.
   */
  async inject(from: NodeId, to: NodeId, request: RequestMessage): Promise<'accepted' | 'rejected' | 'down'> {
    const handler = this.handlers.get(to);
    if (handler === undefined) return 'down';
    try {
      await handler(request, { peerIdentity: from, remoteAddress: `sim:${from}` });
      return 'accepted';
    } catch {
      // Any rejection is the outcome the caller checks for.
      return 'rejected';
    }
  }

  /** Cuts the link from `from` to `to` (one direction). */
  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  /** Splits the nodes into groups that cannot reach each other (both directions). */
  partition(groups: readonly (readonly NodeId[])[]): void {
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.cutLink(x, y);
      }
    }
  }

  /** Adds `delayMs` to every message from `from` to `to`. */
  clog(from: NodeId, to: NodeId, delayMs: number): void {
    this.clogged.set(`${from}>${to}`, delayMs);
  }

  /**
   * Makes node `from`'s transport refuse every send to `to` at once with NET_ADDRESS and `reason`,
   * as a real one does for an address it cannot use (shared with another member, another family).
   */
  refuseAddress(from: NodeId, to: NodeId, reason: string): void {
    this.refused.set(`${from}>${to}`, reason);
  }

  /** Restores every link. */
  heal(): void {
    this.cut.clear();
    this.clogged.clear();
    this.refused.clear();
  }

  canReach(from: NodeId, to: NodeId): boolean {
    return !this.cut.has(`${from}>${to}`);
  }

  /** @internal Sends one request and resolves with the answer, or rejects on timeout. */
  send<R extends RequestMessage>(from: NodeId, target: NodeId, request: R, timeoutMs: number): Promise<ResponseFor<R>> {
    const refusal = this.refused.get(`${from}>${target}`);
    if (refusal !== undefined) return Promise.reject(new NetworkError('NET_ADDRESS', refusal));
    return new Promise<ResponseFor<R>>((resolve, reject) => {
      let settled = false;
      const timer = this.timers.setTimer(timeoutMs, () => {
        if (settled) return;
        settled = true;
        reject(new NetworkError('NET_TIMEOUT', `no answer from ${target} within ${timeoutMs} ms`));
      });
      const settle = (action: () => void): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        action();
      };
      const copies = this.prng.chance(this.faults.duplicateRate) ? 2 : 1;
      if (copies === 2) this.stats.duplicated += 1;
      const exchange: Exchange = { handledBy: null, handling: null };
      for (let copy = 0; copy < copies; copy += 1) {
        this.transmit(from, target, () => this.handle(from, target, request, exchange, settle, resolve, reject));
      }
    });
  }

  /**
   * Runs the target's handler for one delivered copy of a request. A forwarded client request
   * is not idempotent and its sender reads a refusal as "not done": a second copy that reaches
   * the same incarnation of the target shares the first copy's handling, so that one send runs
   * there at most once (the transport's duplicate detection, whose lifetime outlasts any
   * simulated delay; a restarted node has lost its cache and runs it again). Raft RPCs run once
   * per copy.
   */
  private handle<R extends RequestMessage>(
    from: NodeId,
    target: NodeId,
    request: R,
    exchange: Exchange,
    settle: (action: () => void) => void,
    resolve: (response: ResponseFor<R>) => void,
    reject: (error: unknown) => void,
  ): void {
    const handler = this.handlers.get(target);
    if (handler === undefined) return;
    const context: InboundContext = { peerIdentity: from, remoteAddress: `sim:${from}` };
    let handling: Promise<ResponseMessage>;
    if (request.type === 'ClientForwardRequest' && exchange.handledBy === handler && exchange.handling !== null) {
      this.stats.deduplicated += 1;
      handling = exchange.handling;
    } else {
      handling = handler(request, context);
      exchange.handledBy = handler;
      exchange.handling = handling;
    }
    handling.then(
      (response) => {
        if (this.handlers.get(target) === handler) this.onResponse?.(target, request, response);
        const forged = this.forger?.(request, response) ?? null;
        // A forged response is deliberately of the wrong shape; the node must reject it.
        const delivered = (forged ?? response) as ResponseFor<R>;
        this.transmit(target, from, () => settle(() => resolve(delivered)));
      },
      (error: unknown) => this.transmit(target, from, () => settle(() => reject(error))),
    );
  }

  /** Carries one message over the link, subject to cuts, loss and latency. */
  private transmit(from: NodeId, to: NodeId, deliver: () => void): void {
    this.stats.sent += 1;
    if (!this.canReach(from, to) || this.prng.chance(this.faults.lossRate)) {
      this.stats.dropped += 1;
      return;
    }
    const faults = this.faults;
    let delay = faults.latencyMinMs + this.prng.nextFloat() * (faults.latencyMaxMs - faults.latencyMinMs);
    if (this.prng.chance(faults.reorderRate)) delay += faults.reorderDelayMs;
    // Drawn only when the fault is on, so that runs without it keep their schedules.
    const staleRate = faults.staleRate ?? 0;
    if (staleRate > 0 && this.prng.chance(staleRate)) {
      this.stats.stale += 1;
      delay += this.prng.nextFloat() * (faults.staleDelayMaxMs ?? 0);
    }
    delay += this.clogged.get(`${from}>${to}`) ?? 0;
    this.timers.setTimer(delay, () => {
      // A link cut while the message was in flight loses it.
      if (!this.canReach(from, to)) {
        this.stats.dropped += 1;
        return;
      }
      this.stats.delivered += 1;
      deliver();
    });
  }
}

class SimClient implements NetworkClient {
  private closed = false;

  constructor(
    private readonly network: SimNetwork,
    private readonly id: NodeId,
  ) {}

  send<R extends RequestMessage>(target: NodeId, request: R, timeoutMs: number): Promise<ResponseFor<R>> {
    if (this.closed) return Promise.reject(new NetworkError('NET_UNREACHABLE', 'client is closed'));
    return this.network.send(this.id, target, request, timeoutMs);
  }

  setPeers(_members: readonly { readonly id: NodeId; readonly address: string }[]): void {}

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

class SimServer implements NetworkServer {
  private handler: RpcHandler | null = null;
  private running = false;

  constructor(
    private readonly network: SimNetwork,
    private readonly id: NodeId,
  ) {}

  setHandler(handler: RpcHandler): void {
    this.handler = handler;
    if (this.running) this.network.register(this.id, handler);
  }

  start(): Promise<void> {
    this.running = true;
    this.network.register(this.id, this.handler);
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.running = false;
    this.network.register(this.id, null);
    return Promise.resolve();
  }

  isRunning(): boolean {
    return this.running;
  }
}
