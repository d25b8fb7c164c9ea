// Proves, with real agent processes over coaps on loopback, that peers are bound to identities,
// not addresses:
// - a follower restarted on a new peer port, with only its own agent.json changed, is
//   replicated to again within seconds: the leader sees it authenticated (its link key) at an
//   address other than the configured one and records the new address through the log, so
//   every member's list shows it;
// - a member that moved and was elected before any leader recorded its new address records it
//   itself: the followers list it there and forward writes to it;
// - when the configuration was never logged (each member's list from its own agent.json), the
//   followers reach the moved leader where its authenticated RPCs say it listens: writes and
//   reads through them are forwarded; a later leader records that address through the log;
// - no unauthenticated datagram moves a member: a DTLS handshake as that member with a wrong
//   key (OpenSSL's libcoap client, advertising another address) and plain CoAP datagrams to the
//   peer port change no address;
// - DTLS Connection ID through a relay that changes its source ports mid-session: the leader's
//   session with a follower behind the relay survives every rebinding with no new handshake
//   (no ClientHello crosses the relay) and every write commits.
// Needs `npm run build` first (the agents run dist/).
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { AgentProcesses, findFreePorts } from '../../../agent/cli/agent-processes.js';
import { RebindingRelay } from '../../transport/dtls/rebinding-relay.js';
import { Cleanup } from '../../transport/dtls/helpers.js';
import { runProcess, startCluster, waitFor } from './helpers.js';

interface Status {
  readonly nodeId: string;
  readonly state: string;
  readonly commitIndex: number;
  readonly lastApplied: number;
  readonly members: readonly { readonly id: string; readonly address: string }[];
}

async function status(cluster: AgentProcesses, id: string): Promise<Status | null> {
  try {
    return (await cluster.agent(id).client.json('GET', '/status')) as Status;
  } catch {
    // Not answering (yet): the caller polls.
    return null;
  }
}

async function write(cluster: AgentProcesses, id: string, key: string): Promise<void> {
  await cluster.agent(id).client.json('PUT', `/kv/${key}`, { value: key });
}

/** Edits the agent.json of `id` with `change`. */
function editConfig(cluster: AgentProcesses, id: string, change: (config: Record<string, unknown>) => void): void {
  const file = cluster.agent(id).init.config;
  const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  change(config);
  writeFileSync(file, JSON.stringify(config, null, 2));
}

function setMemberAddress(config: Record<string, unknown>, id: string, address: string): void {
  const members = config['members'] as { id: string; address: string }[];
  const member = members.find((m) => m.id === id);
  assert.ok(member !== undefined);
  member.address = address;
}

/**
 * Moves the stopped member `id` to a free port on 127.0.0.1: only its own agent.json changes,
 * where it listens and its own entry. Returns its new address.
 */
async function moveToFreePort(cluster: AgentProcesses, id: string): Promise<string> {
  const address = `127.0.0.1:${await findFreePorts(1)}`;
  editConfig(cluster, id, (config) => {
    (config['listen'] as { peer: string }).peer = address;
    setMemberAddress(config, id, address);
  });
  return address;
}

/** The address `cluster`'s agent `id` gives for member `of`. */
async function addressSeen(cluster: AgentProcesses, id: string, of: string): Promise<string | null> {
  return (await status(cluster, id))?.members.find((m) => m.id === of)?.address ?? null;
}

/** Waits until every running agent has applied at least what the leader has committed now. */
async function waitConverged(cluster: AgentProcesses, leader: string, ids: readonly string[]): Promise<number> {
  const target = (await status(cluster, leader))?.commitIndex ?? 0;
  const started = Date.now();
  await waitFor(
    `${ids.join(',')} applied ${target}`,
    async () => {
      const all = await Promise.all(ids.map((id) => status(cluster, id)));
      return all.every((s) => s !== null && s.lastApplied >= target);
    },
    20_000,
  );
  return Date.now() - started;
}

describe('peers bound to identities (3 agent processes)', function () {
  this.timeout(120_000);
  let cluster: AgentProcesses | null = null;
  const cleanup = new Cleanup();
  afterEach(async () => {
    await cluster?.close();
    cluster = null;
    await cleanup.run();
  });

  it('a follower restarted on a new port is replicated to again, and every member lists its new address', async () => {
    const started = await startCluster({ nodes: 3 });
    cluster = started.cluster;
    const { leader } = started;
    const mover = cluster.nodes.map((n) => n.id).find((id) => id !== leader) ?? '';
    await write(cluster, leader, 'before');
    await waitConverged(cluster, leader, ['n1', 'n2', 'n3']);
    const oldAddress = await addressSeen(cluster, leader, mover);
    assert.ok(oldAddress !== null);
    assert.equal(await cluster.signal(mover, 'SIGTERM'), 0);
    const newAddress = await moveToFreePort(cluster, mover);
    for (let i = 0; i < 5; i += 1) await write(cluster, leader, `while-down-${i}`);
    const restartedMs = Date.now();
    cluster.start(mover);
    await waitFor(
      'the leader to record the new address',
      async () => (await addressSeen(cluster as AgentProcesses, leader, mover)) === newAddress,
      20_000,
    );
    const caughtUpMs = await waitConverged(cluster, leader, [mover]);
    const elapsedMs = Date.now() - restartedMs;
    console.log(`      ${mover} replicated to again ${elapsedMs} ms after its restart (caught up in ${caughtUpMs} ms)`);
    assert.ok(elapsedMs < 20_000);
    await write(cluster, leader, 'after');
    await waitConverged(cluster, leader, ['n1', 'n2', 'n3']);
    for (const id of ['n1', 'n2', 'n3']) assert.equal(await addressSeen(cluster, id, mover), newAddress, id);
  });

  it('a member that moved and leads before its address was recorded records it: followers forward to it', async () => {
    const started = await startCluster({ nodes: 3 });
    cluster = started.cluster;
    const { leader } = started;
    const [mover, other] = cluster.nodes.map((n) => n.id).filter((id) => id !== leader);
    assert.ok(mover !== undefined && other !== undefined);
    // The configuration is in the log (here: the other member moved once and the leader recorded
    // it), so each member's view of the mover comes from the log, not from its own agent.json.
    assert.equal(await cluster.signal(other, 'SIGTERM'), 0);
    const otherAddress = await moveToFreePort(cluster, other);
    cluster.start(other);
    await waitFor(
      'the leader to record the other member',
      async () => (await addressSeen(cluster as AgentProcesses, leader, other)) === otherAddress,
      20_000,
    );
    await write(cluster, leader, 'before');
    await waitConverged(cluster, leader, ['n1', 'n2', 'n3']);
    assert.equal(await cluster.signal(mover, 'SIGTERM'), 0);
    await cluster.signal(leader, 'SIGKILL');
    const newAddress = await moveToFreePort(cluster, mover);
    // The other member still lists the mover at its old address, so only the mover can win.
    cluster.start(mover);
    assert.equal(await cluster.waitForLeader(30_000, leader), mover);
    await waitFor(
      `${other} to list ${mover} at ${newAddress}`,
      async () => (await addressSeen(cluster as AgentProcesses, other, mover)) === newAddress,
      20_000,
    );
    // A write through the follower is forwarded to the leader at its new address.
    await write(cluster, other, 'through-the-follower');
    assert.equal(await addressSeen(cluster, mover, mover), newAddress);
  });

  it('a moved member leading on a configuration never logged is reached by followers at its new address', async () => {
    const started = await startCluster({ nodes: 3 });
    cluster = started.cluster;
    const { leader } = started;
    const [mover, other] = cluster.nodes.map((n) => n.id).filter((id) => id !== leader);
    assert.ok(mover !== undefined && other !== undefined);
    await write(cluster, leader, 'before');
    await waitConverged(cluster, leader, ['n1', 'n2', 'n3']);
    const oldAddress = await addressSeen(cluster, other, mover);
    // No membership change: each member's list comes from its own agent.json.
    assert.equal(await cluster.signal(mover, 'SIGTERM'), 0);
    await cluster.signal(leader, 'SIGKILL');
    const newAddress = await moveToFreePort(cluster, mover);
    cluster.start(mover);
    assert.equal(await cluster.waitForLeader(30_000, leader), mover);
    // The follower's configuration still names the old address; it reaches the leader where the
    // leader's authenticated RPCs say it listens: writes and reads through it are forwarded.
    assert.equal(await addressSeen(cluster, other, mover), oldAddress);
    await write(cluster, other, 'through-the-follower');
    const read = (await cluster.agent(other).client.json('GET', '/kv/through-the-follower')) as { value: string };
    assert.equal(read.value, 'through-the-follower');
    // The mover hands leadership to the follower on SIGTERM; as leader the follower records the
    // address it reached the mover at, and the mover, back, is replicated to and forwards there.
    assert.equal(await cluster.signal(mover, 'SIGTERM'), 0);
    assert.equal(await cluster.waitForLeader(30_000, mover), other);
    await waitFor(
      `${other} to record ${mover} at ${newAddress}`,
      async () => (await addressSeen(cluster as AgentProcesses, other, mover)) === newAddress,
      20_000,
    );
    cluster.start(mover);
    await write(cluster, mover, 'through-the-mover');
    await waitConverged(cluster, other, [mover, other]);
  });

  it('an unauthenticated datagram or a handshake with a wrong key moves no member', async () => {
    const started = await startCluster({ nodes: 3 });
    cluster = started.cluster;
    const { leader } = started;
    const victim = cluster.nodes.map((n) => n.id).find((id) => id !== leader) ?? '';
    const before = await addressSeen(cluster, leader, victim);
    const leaderPeer = (cluster.nodes.find((n) => n.id === leader)?.endpoint ?? '').replace(
      /:(\d+)$/,
      (_, p: string) => `:${Number(p) - 1}`,
    );
    const forged = '127.0.0.1:9';
    // A handshake as the victim with a wrong key, carrying the address option: refused in DTLS.
    await runProcess('coap-client-openssl', [
      '-B',
      '3',
      '-m',
      'post',
      '-u',
      victim,
      '-k',
      'not the link key',
      '-O',
      `65004,${forged}`,
      `coaps://${leaderPeer}/raft/PreVote`,
    ]);
    // Plain CoAP to the DTLS peer port: not even a record.
    await runProcess('coap-client-notls', [
      '-B',
      '2',
      '-m',
      'post',
      '-O',
      `65004,${forged}`,
      `coap://${leaderPeer}/raft/PreVote`,
    ]);
    // A write after the attacks commits behind anything they could have proposed.
    await write(cluster, leader, 'after-attack');
    await waitConverged(cluster, leader, ['n1', 'n2', 'n3']);
    for (const id of ['n1', 'n2', 'n3']) assert.equal(await addressSeen(cluster, id, victim), before, id);
  });

  it('the leader’s session with a follower behind a rebinding relay survives with no new handshake', async () => {
    const relayPort = await findFreePorts(1);
    cluster = await AgentProcesses.create({ transport: 'coaps', storage: 'lmdb', nodes: 3 });
    const behind = 'n2';
    const behindPeer = Number(cluster.agent(behind).init.endpoint.split(':')[1] ?? '0') - 1;
    const relayAddress = `127.0.0.1:${relayPort}`;
    // Everyone, n2 included, lists n2 at the relay; n2 listens behind it.
    for (const id of ['n1', 'n2', 'n3'])
      editConfig(cluster, id, (config) => setMemberAddress(config, behind, relayAddress));
    const relay = await RebindingRelay.start(cleanup, behindPeer, { port: relayPort });
    cluster.start('n1');
    cluster.start('n3');
    const leader = await cluster.waitForLeader(30_000);
    cluster.start(behind);
    await waitConverged(cluster, leader, ['n1', 'n2', 'n3']);
    // The third member stops: every commit now needs n2, through the relay.
    const other = leader === 'n1' ? 'n3' : 'n1';
    await cluster.signal(other, 'SIGTERM');
    await write(cluster, leader, 'warm-up');
    const hellos = relay.clientHellos();
    assert.ok(hellos > 0, 'the leader reaches n2 through the relay');
    for (let i = 0; i < 30; i += 1) {
      if (i % 10 === 5) await relay.rebind();
      await write(cluster, leader, `rebinding-${i}`);
    }
    await waitConverged(cluster, leader, [behind]);
    assert.equal(relay.rebinds, 3);
    assert.equal(relay.clientHellos(), hellos, 'no handshake crossed the relay after the rebindings began');
    assert.equal(await addressSeen(cluster, leader, behind), relayAddress);
  });
});
