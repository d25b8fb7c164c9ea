// Proves that a write entering through a node's local endpoint is applied once on the two paths
// issue 13 found applying it twice, deterministically (simulated cluster, virtual time, an
// in-memory datagram network between a CoAP client and the real LocalEndpoint; no sleeps):
// - forwarding: the follower forwards the PUT to the leader, which proposes it, replicates it,
//   and is cut off; the next leader commits that entry; another client overwrites the key; a
//   duplicate of the forward reaches the old leader, now a follower, which answers "not leader",
//   so the follower retries at the new leader with the same bytes. The state machine must not
//   run it again: the key keeps the later value and the client gets the first result.
// - restart: the leader's own endpoint proposes the PUT and the node dies before answering; the
//   next leader commits the entry and another client overwrites the key; the node restarts (a
//   new endpoint incarnation, with an empty CoAP duplicate cache) and receives the client's
//   retransmission of the same request. It must get the first result, not run the write again.
// Both retries answer as the first proposal did (2.01: it created the key), though the key exists by then.
// And an explicit `?client=` id in the endpoint's namespace is refused (an attack on another
// incarnation's session).
import { strict as assert } from 'node:assert';
import { SeededPrng } from '../../../contracts/prng.js';
import type { NodeId } from '../../../contracts/log.js';
import type { RequestMessage, ResponseMessage } from '../../../contracts/messages.js';
import { LocalEndpoint } from '../../../agent/endpoint/local-endpoint.js';
import { decodeKvCommand } from '../../../agent/kv/index.js';
import type { RaftNodeImpl } from '../../../agent/runtime/node.js';
import { CoapClient } from '../../../transport/coap/index.js';
import type { CoapClientResponse } from '../../../transport/coap/index.js';
import { MemoryNetwork } from '../../transport/memory-datagram.js';
import { SimHarness } from '../../sim/harness.js';

const CLIENT_ADDRESS = '10.9.9.9';
const ENDPOINT_PORT = 5683;

/** A forward whose answer the test holds back. */
interface Held {
  readonly request: RequestMessage;
  readonly resolve: (response: ResponseMessage) => void;
  readonly reject: (error: unknown) => void;
}

/** The address of node `id`'s endpoint on the memory network. */
function endpointAddress(id: NodeId): string {
  return `10.0.0.${id.slice(1)}`;
}

function startEndpoint(
  sim: SimHarness,
  net: MemoryNetwork,
  node: RaftNodeImpl,
  bootId: string,
): Promise<LocalEndpoint> {
  const endpoint = new LocalEndpoint(
    {
      node,
      timers: sim.timers,
      bootId,
      openEndpoint: () => Promise.resolve(net.open(endpointAddress(node.getNodeId()), null, ENDPOINT_PORT)),
    },
    { requestTimeoutMs: 20_000 },
  );
  return endpoint.start().then(() => endpoint);
}

/** A CoAP client on the memory network that retransmits every second for a long time. */
function client(sim: SimHarness, net: MemoryNetwork): CoapClient {
  return new CoapClient(
    { openEndpoint: () => Promise.resolve(net.open(CLIENT_ADDRESS)), timers: sim.timers, prng: new SeededPrng(7) },
    { ackTimeoutMs: 1000, ackRandomFactor: 1, maxRetransmit: 20, retransmitDelayMaxMs: 1000 },
  );
}

function put(coap: CoapClient, id: NodeId, key: string, value: string): Promise<CoapClientResponse> {
  return coap.request(
    { address: endpointAddress(id), port: ENDPOINT_PORT },
    { method: 'PUT', path: ['kv', key], payload: new TextEncoder().encode(value) },
    60_000,
  );
}

/** How many entries of `node`'s log from index `from` put `value` at `key`. */
function putsOf(node: RaftNodeImpl, from: number, key: string, value: string): number {
  const core = node.requireCore();
  return core.entriesBetween(from, core.getLastIndex()).filter((entry) => {
    if (entry.type !== 'command') return false;
    try {
      const command = decodeKvCommand(entry.command);
      return command.op === 'put' && command.key === key && new TextDecoder().decode(command.value) === value;
    } catch {
      // Not a KV command.
      return false;
    }
  }).length;
}

/**
 * The revision a 2.01 answer to a PUT reports: the first proposal created the key, so its retry,
 * answered from the session after another client wrote the key, says 2.01 Created as well.
 */
function revisionOf(response: CoapClientResponse): number {
  assert.equal(
    response.code,
    0x41,
    `2.01 Created, got ${response.code.toString(16)}: ${new TextDecoder().decode(response.payload)}`,
  );
  const body: unknown = JSON.parse(new TextDecoder().decode(response.payload));
  assert.ok(typeof body === 'object' && body !== null && 'revision' in body && typeof body.revision === 'number');
  return body.revision;
}

describe('a write through the local endpoint is applied once', function () {
  this.timeout(60_000);

  it('when the forwarder retries at the next leader, which committed the first proposal', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 3);
    await sim.startAll();
    const oldLeader = await sim.waitLeader();
    const old = oldLeader.getNodeId();
    const [f, x] = sim.ids.filter((id) => id !== old);
    assert.ok(f !== undefined && x !== undefined);
    const follower = sim.cluster.node(f);
    assert.ok(follower !== null);
    const net = new MemoryNetwork();
    const endpoint = await startEndpoint(sim, net, follower, 'boot-f');
    const coap = client(sim, net);

    // The first forward from f to the old leader is delivered, but its answer is held back;
    // later a duplicate of it is delivered, whose answer ("not leader") is the one f sees.
    const network = sim.cluster.network;
    const send = network.send.bind(network);
    const forwards: string[] = [];
    let held: Held | null = null;
    network.send = ((from: NodeId, target: NodeId, request: RequestMessage, timeoutMs: number) => {
      if (request.type !== 'ClientForwardRequest') return send(from, target, request, timeoutMs);
      forwards.push(target);
      if (target !== old || held !== null) return send(from, target, request, timeoutMs);
      void network.inject(from, target, request);
      return new Promise<ResponseMessage>((resolve, reject) => {
        held = { request, resolve, reject };
      });
    }) as typeof network.send;

    // The old leader hears no acknowledgement, so it cannot commit what it proposes.
    network.cutLink(f, old);
    network.cutLink(x, old);
    const lastBefore = oldLeader.requireCore().getLastIndex();
    const answer = put(coap, f, 'k', 'w');
    await sim.until(
      () =>
        sim.cluster.node(x)?.requireCore().getLastIndex() === lastBefore + 1 &&
        follower.requireCore().getLastIndex() === lastBefore + 1,
      1000,
      'the proposal reaches both followers',
    );
    const proposedAt = lastBefore + 1;
    network.cutLink(old, f);
    network.cutLink(old, x);
    await sim.until(() => sim.cluster.leaders().some((l) => l.getNodeId() !== old), 5000, 'a new leader is elected');
    const fresh = sim.cluster.leaders().find((l) => l.getNodeId() !== old);
    assert.ok(fresh !== undefined);
    await sim.until(
      () => fresh.requireCore().getAppliedIndex() >= proposedAt,
      2000,
      'the new leader commits the first proposal',
    );
    assert.equal(await sim.put(fresh, 'k', 'other').then((r) => r.type), 'put');
    await sim.until(() => !oldLeader.isLeader(), 5000, 'the old leader steps down (check-quorum)');
    network.heal();

    // The duplicate reaches the old leader, now a follower: "not leader"; f retries at the new one.
    const duplicate = held as Held | null;
    assert.ok(duplicate !== null, 'the first forward was held');
    send(f, old, duplicate.request, 5000).then(duplicate.resolve, duplicate.reject);
    const response = await sim.settle(answer, 20_000);
    assert.equal(forwards[0], old);
    assert.ok(
      putsOf(fresh, proposedAt, 'k', 'w') >= 2,
      'f retried the write at the new leader, which proposed it again',
    );
    assert.equal(revisionOf(response), proposedAt, 'the retry got the result of the first proposal');
    await sim.run(500);
    assert.equal(await sim.get(fresh, 'k'), 'other', 'the write did not run a second time over the later one');
    await coap.close();
    await endpoint.stop();
  });

  it('when the client retransmits the request to the restarted endpoint', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 4);
    await sim.startAll();
    const leader = await sim.waitLeader();
    const id = leader.getNodeId();
    const others = sim.ids.filter((other) => other !== id);
    const net = new MemoryNetwork();
    const first = await startEndpoint(sim, net, leader, 'boot-1');
    const coap = client(sim, net);

    // The followers' acknowledgements are lost: the leader proposes and replicates, never commits.
    for (const other of others) sim.cluster.network.cutLink(other, id);
    const proposedAt = leader.requireCore().getLastIndex() + 1;
    const answer = put(coap, id, 'k', 'w');
    await sim.until(
      () => others.every((other) => sim.cluster.node(other)?.requireCore().getLastIndex() === proposedAt),
      1000,
      'the proposal reaches the followers',
    );
    await first.stop();
    await sim.cluster.crash(id);
    sim.cluster.network.heal();
    await sim.until(() => sim.cluster.leaders().length === 1, 5000, 'a new leader is elected');
    const fresh = sim.leader();
    await sim.until(
      () => fresh.requireCore().getAppliedIndex() >= proposedAt,
      2000,
      'the new leader commits the first proposal',
    );
    assert.equal((await sim.put(fresh, 'k', 'other')).type, 'put');

    // The node comes back with a new endpoint incarnation on the same address; the client is still retransmitting.
    await sim.cluster.start(id);
    const restarted = sim.cluster.node(id);
    assert.ok(restarted !== null);
    const second = await startEndpoint(sim, net, restarted, 'boot-2');
    const response = await sim.settle(answer, 20_000);
    assert.equal(revisionOf(response), proposedAt, 'the retransmission got the result of the first proposal');
    assert.ok(
      putsOf(fresh, proposedAt, 'k', 'w') >= 2,
      'the restarted endpoint proposed the retransmitted write again',
    );
    await sim.run(500);
    assert.equal(await sim.get(fresh, 'k'), 'other', 'the write did not run a second time over the later one');
    await coap.close();
    await second.stop();
  });

  it("refuses an explicit client id in the endpoint's namespace: no client poses as an endpoint session", async () => {
    const sim = new SimHarness(['n1'], 5);
    await sim.startAll();
    const leader = await sim.waitLeader();
    const net = new MemoryNetwork();
    const endpoint = await startEndpoint(sim, net, leader, 'boot-1');
    const coap = client(sim, net);
    const target = { address: endpointAddress('n1'), port: ENDPOINT_PORT };
    const forged = coap.request(
      target,
      {
        method: 'PUT',
        path: ['kv', 'k'],
        query: ['client=@n1/boot-1.0', 'seq=1'],
        payload: new TextEncoder().encode('w'),
      },
      10_000,
    );
    const response = await sim.settle(forged);
    assert.equal(response.code, 0x80, '4.00');
    assert.match(new TextDecoder().decode(response.payload), /reserved for the endpoint's own sessions/);
    assert.equal(await sim.get(leader, 'k'), null, 'nothing was written');
    await coap.close();
    await endpoint.stop();
  });
});
