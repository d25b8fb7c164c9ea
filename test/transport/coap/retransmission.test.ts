// Proves the CoAP client's adaptive retransmission timeout (transport/coap/retransmission.ts)
// against the fixed one, on simulated links with virtual time, requests sent one after another
// with the peer RPC deadline (600 ms here):
// - on a slow link (200 ms round trip, longer than the fixed first timeout of a quarter of the
//   deadline) the fixed timeout resends most requests for nothing; the adaptive one at most the
//   first, then never again;
// - on a fast link (2 ms round trip) that loses the first copy of every fourth request, the
//   adaptive timeout resends after tens of ms where the fixed one waits 150 ms or more;
// - the deadline still ends a request (NET_TIMEOUT at exactly rpcTimeoutMs), and no more than
//   maxRetransmit copies go out, however small the measured RTO.
import { strict as assert } from 'node:assert';
import { SeededPrng } from '../../../contracts/prng.js';
import { NetworkError } from '../../../contracts/errors.js';
import { CoapClient } from '../../../transport/coap/client.js';
import { CoapResponseCode, CoapType } from '../../../transport/coap/codes.js';
import { decodeMessage, encodeMessage } from '../../../transport/coap/message.js';
import type { DatagramEndpoint, DatagramHandler } from '../../../transport/datagram.js';
import { VirtualTimers } from '../virtual-timers.js';

const DEADLINE_MS = 600;
const SERVER = { address: '10.0.0.1', port: 5684 };
const CLIENT = { address: '10.0.0.2', port: 40000 };

/** Two endpoints joined by a link with a fixed one-way delay that drops what `lose` says. */
class Link {
  /** Datagrams from the client to the server so far. */
  sent = 0;
  dropNext = false;
  dead = false;
  private readonly handlers = new Map<number, DatagramHandler>();

  constructor(
    private readonly timers: VirtualTimers,
    private readonly oneWayMs: number,
  ) {}

  endpoint(at: { address: string; port: number }): DatagramEndpoint {
    return {
      send: (data, _address, port) => {
        const copy = Uint8Array.from(data);
        if (port === SERVER.port) {
          this.sent += 1;
          if (this.dead || this.dropNext) {
            this.dropNext = false;
            return Promise.resolve();
          }
        }
        this.timers.setTimer(this.oneWayMs, () => this.handlers.get(port)?.(copy, { ...at, identity: null }));
        return Promise.resolve();
      },
      onMessage: (handler) => this.handlers.set(at.port, handler),
      localAddress: () => at,
      close: () => Promise.resolve(),
    };
  }
}

/** A server that answers every confirmable request at once, piggybacked (duplicates too). */
function answerEverything(server: DatagramEndpoint): void {
  server.onMessage((data, from) => {
    const decoded = decodeMessage(data);
    if (!decoded.ok || decoded.message.type !== CoapType.CON) return;
    const { messageId, token } = decoded.message;
    const answer = { type: CoapType.ACK, code: CoapResponseCode.Changed, messageId, token, options: [] };
    void server.send(encodeMessage({ ...answer, payload: new Uint8Array(0) }), from.address, from.port);
  });
}

interface Run {
  readonly client: CoapClient;
  readonly link: Link;
  readonly timers: VirtualTimers;
  /** Sends one request and lets virtual time run until it settles; resolves with its latency, ms, or its error. */
  request(): Promise<number | NetworkError>;
}

function setUp(rttMs: number, adaptiveRetransmission: boolean): Run {
  const timers = new VirtualTimers();
  const link = new Link(timers, rttMs / 2);
  answerEverything(link.endpoint(SERVER));
  const client = new CoapClient(
    { openEndpoint: () => Promise.resolve(link.endpoint(CLIENT)), timers, prng: new SeededPrng(11) },
    { adaptiveRetransmission },
  );
  const request = async (): Promise<number | NetworkError> => {
    const started = timers.nowMs();
    let outcome: number | NetworkError | null = null;
    client.request(SERVER, { method: 'POST', path: ['raft', 'AppendEntries'] }, DEADLINE_MS).then(
      () => (outcome = timers.nowMs() - started),
      (error: unknown) => (outcome = error instanceof NetworkError ? error : new NetworkError('NET_UNREACHABLE', '?')),
    );
    while (outcome === null) await timers.advance(1);
    return outcome;
  };
  return { client, link, timers, request };
}

async function latencies(run: Run, count: number, lose: (i: number) => boolean): Promise<number[]> {
  const result: number[] = [];
  for (let i = 0; i < count; i += 1) {
    run.link.dropNext = lose(i);
    const outcome = await run.request();
    assert.equal(typeof outcome, 'number', `request ${i} answered`);
    result.push(Number(outcome));
  }
  return result;
}

describe('CoapClient: adaptive retransmission timeout', function () {
  this.timeout(60_000);

  it('stops resending every request on a link slower than the fixed first timeout', async () => {
    const fixed = setUp(200, false);
    const adaptive = setUp(200, true);
    await latencies(fixed, 20, () => false);
    await latencies(adaptive, 20, () => false);
    // Fixed: the first timeout is drawn from [150, 225] ms (a quarter of the deadline, × 1.5).
    assert.ok(fixed.client.stats.retransmissions >= 8, `fixed: ${fixed.client.stats.retransmissions} resent`);
    assert.ok(adaptive.client.stats.retransmissions <= 1, `adaptive: ${adaptive.client.stats.retransmissions}`);
    assert.equal(adaptive.link.sent, 20 + adaptive.client.stats.retransmissions);
  });

  it('recovers from a lost datagram within tens of ms on a fast link', async () => {
    const lose = (i: number): boolean => i % 4 === 3;
    const fixed = await latencies(setUp(2, false), 40, lose);
    const adaptive = await latencies(setUp(2, true), 40, lose);
    const lost = (all: number[]): number[] => all.filter((_, i) => lose(i));
    const worst = (all: number[]): number => Math.max(...all);
    const best = (all: number[]): number => Math.min(...all);
    assert.ok(best(lost(fixed)) >= 150, `fixed: a lost request took ${best(lost(fixed))} ms at best`);
    // After the first loss the RTO is the floor (ackTimeoutMinMs, 20 ms) × up to 1.5, plus the round trip.
    const afterFirst = lost(adaptive).slice(1);
    assert.ok(worst(afterFirst) <= 40, `adaptive: a lost request took ${worst(afterFirst)} ms at worst`);
    assert.ok(worst(adaptive.filter((_, i) => !lose(i))) <= 3, 'requests not lost take one round trip');
  });

  it('still ends a request at its deadline, with at most maxRetransmit copies resent', async () => {
    const run = setUp(2, true);
    await latencies(run, 10, () => false);
    run.link.dead = true;
    const before = run.link.sent;
    const startedMs = run.timers.nowMs();
    const outcome = await run.request();
    assert.ok(outcome instanceof NetworkError && outcome.code === 'NET_TIMEOUT', 'NET_TIMEOUT');
    // Time runs in 1 ms steps: the request failed within the step of its deadline.
    assert.ok(Math.abs(run.timers.nowMs() - startedMs - DEADLINE_MS) <= 1, 'at the deadline');
    assert.equal(run.link.sent - before, 1 + 4, 'the first copy and maxRetransmit (4) more');
  });
});
