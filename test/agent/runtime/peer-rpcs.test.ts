// Proves the node's RPC traffic (agent/runtime/peer-rpcs.ts) through its host interface, with a
// fake host whose core records what it is stepped with and a fake network client:
// - an RPC whose sender claims another node than the transport authenticated is refused
//   (NET_AUTH), logged and counted, and never reaches the core (an impersonation attack);
// - a node that is not running refuses every RPC (NET_UNREACHABLE);
// - a request goes to the core with a reply token, and the core's answer settles that reply;
//   a request the core refuses is rejected (NET_REJECTED) and reported as a
//   protocol violation; a ClientForward goes to the client operations, not to the core;
// - a peer flooding forged or protocol-breaking requests gets at most
//   PEER_REFUSAL_LOGS_PER_SECOND_MAX log lines a second, every one still counted, and the next
//   line says how many were left out (a key holder must not fill the gateway's disk);
// - the core's requests leave with a deadline of rpcTimeoutMs plus as much again per 64 KiB
//   carried, and their responses and failures are stepped back into the core;
// - the entries of an AppendEntries and a forwarded command reach the core and the client
//   operations copied out of the received message (no view keeps the datagram alive);
// - the peer address a sender advertises reaches the host only when the transport
//   authenticated the sender as the member it claims to be: not over an unauthenticated
//   transport (no identity), and not from a member speaking for another (impersonation);
// - a node whose handshakes every peer refused (NET_AUTH) for 30 s logs once that no peer
//   accepts its keys (a removed or rekeyed gateway still running), and says so no more once one answers;
// - a node holding state of an earlier recovery epoch than a request's or a response's term (a
//   member `coraft recover` left out, back with its old data) stops with LeftOutError (exit 78)
//   and never steps it, while a node holding nothing (a wiped member being added) steps it; a
//   node of a later epoch logs once per peer that the sender was left out, and steps it (the core
//   refuses it as stale).
import type { PersistenceEngine } from '../../../contracts/persistence.js';
import { EMPTY_BATCH, MemoryPersistenceEngine } from '../../../storage/memory.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import type { SnapshotChunkRequest } from '../../../agent/core/ready.js';
import { strict as assert } from 'node:assert';
import { PEER_REFUSAL_LOGS_PER_SECOND_MAX, PeerRpcs } from '../../../agent/runtime/peer-rpcs.js';
import { LeftOutError, NetworkError } from '../../../contracts/errors.js';
import { exitCodeFor } from '../../../agent/runtime/agent.js';
import type { PeerRpcHost } from '../../../agent/runtime/peer-rpcs.js';
import { DefaultMembershipManager } from '../../../agent/membership/default.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import type { CoreInput, StepResult } from '../../../agent/core/ready.js';
import type { NodeId, Term } from '../../../contracts/log.js';
import type {
  AppendEntriesRequest,
  ClientForwardRequest,
  ClientForwardResponse,
  RequestMessage,
  RequestVoteRequest,
  ResponseFor,
} from '../../../contracts/messages.js';
import type { InboundContext, NetworkClient } from '../../../contracts/network.js';
import type { AddressPlan } from '../../../agent/membership/address-updates.js';

class FakeHost implements PeerRpcHost {
  running = true;
  readonly stepped: CoreInput[] = [];
  refuse: string | null = null;
  readyScheduled = 0;
  readonly forwarded: ClientForwardRequest[] = [];
  readonly addressesSeen: string[] = [];
  readonly fatalErrors: unknown[] = [];
  fatal(error: unknown): void {
    this.fatalErrors.push(error);
    this.running = false;
  }
  peerAddressSeen(id: NodeId, address: string): AddressPlan | null {
    this.addressesSeen.push(`${id}@${address}`);
    const next = { voters: ['n1', id], learners: [], oldVoters: null, members: [{ id, address }] };
    return { kind: 'propose', next, previous: '127.0.0.1:1' };
  }
  isRunning(): boolean {
    return this.running;
  }
  /** The core's last log index (what an AppendEntries adds to comes after it). */
  lastIndex = 0;
  /** The core's current term. */
  term = 0;
  requireCore(): { step(input: CoreInput): StepResult; getLastIndex(): number; getTerm(): Term } {
    return {
      getLastIndex: () => this.lastIndex,
      getTerm: () => this.term,
      step: (input) => {
        this.stepped.push(input);
        return this.refuse === null ? { ok: true } : { ok: false, reason: this.refuse };
      },
    };
  }
  scheduleReady(): void {
    this.readyScheduled += 1;
  }
  answerForward(request: ClientForwardRequest): Promise<ClientForwardResponse> {
    this.forwarded.push(request);
    return Promise.resolve({
      type: 'ClientForwardResponse',
      code: '',
      message: '',
      leaderHint: 'n1',
      result: new Uint8Array([7]),
    });
  }
}

/** A network client that records what it sends and answers from `answer`. */
class RecordingClient implements NetworkClient {
  readonly sent: { target: NodeId; request: RequestMessage; timeoutMs: number }[] = [];
  answer: (request: RequestMessage) => Promise<unknown> = () => Promise.reject(new Error('unreachable'));
  send<R extends RequestMessage>(target: NodeId, request: R, timeoutMs: number): Promise<ResponseFor<R>> {
    this.sent.push({ target, request, timeoutMs });
    return this.answer(request) as Promise<ResponseFor<R>>;
  }
  setPeers(): void {}
  close(): Promise<void> {
    return Promise.resolve();
  }
}

class CountingMetrics extends NoopMetrics {
  readonly counts = new Map<string, number>();
  override increment(name: string, count = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + count);
  }
}

function setUp(storage: PersistenceEngine = new MemoryPersistenceEngine()) {
  const host = new FakeHost();
  const client = new RecordingClient();
  const logger = new MemoryLogger();
  const metrics = new CountingMetrics();
  const violations: string[] = [];
  const observer = { onProtocolViolation: (peer: NodeId, reason: string) => violations.push(`${peer}: ${reason}`) };
  // What the address book hears (peer-reach.ts).
  const advertised: string[] = [];
  const advertisedAddresses = {
    advertised: (id: NodeId, address: string) => void advertised.push(`${id}@${address}`),
    overridden: () => [],
  };
  // The clock the RPC traffic reads (the key-refusal watch); tests move `clock.now`.
  const clock = { now: 0 };
  const timers = {
    nowMs: () => clock.now,
    setTimer: () => ({ cancel: () => undefined }),
  };
  const rpcs = new PeerRpcs(
    host,
    {
      client,
      membership: new DefaultMembershipManager(),
      logger,
      metrics,
      observer,
      storage,
      advertisedAddresses,
      timers,
    },
    { nodeId: 'n1', rpcTimeoutMs: 100 },
  );
  return { host, client, logger, metrics, violations, rpcs, storage, advertised, clock };
}

const vote: RequestVoteRequest = {
  type: 'RequestVoteRequest',
  term: 3,
  candidateId: 'n2',
  lastLogIndex: 5,
  lastLogTerm: 2,
  transfer: false,
};
const from = (peerIdentity: NodeId | null): InboundContext => ({ peerIdentity, remoteAddress: '127.0.0.1:5684' });
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('PeerRpcs', () => {
  it('hands an authenticated sender’s advertised address to the host and the book, and counts a proposal', async () => {
    const { host, rpcs, metrics, logger, advertised } = setUp();
    void rpcs.handle(vote, { ...from('n2'), peerAddress: '127.0.0.1:7009' });
    await flush();
    assert.deepEqual(host.addressesSeen, ['n2@127.0.0.1:7009']);
    assert.deepEqual(advertised, ['n2@127.0.0.1:7009']);
    assert.equal(metrics.counts.get('membership_address_updates_total'), 1);
    assert.ok(logger.records.some((r) => r.level === 'info' && r.fields.to === '127.0.0.1:7009'));
  });

  it('never moves a member on an unauthenticated or impersonating request', async () => {
    const { host, rpcs, advertised } = setUp();
    // No identity (coap, http): the default membership accepts the RPC, but not its address.
    void rpcs.handle(vote, { ...from(null), peerAddress: '10.0.0.66:5684' });
    // n3 authenticated, speaking for n2: refused, and n2 does not move.
    await assert.rejects(rpcs.handle(vote, { ...from('n3'), peerAddress: '10.0.0.66:5684' }), { code: 'NET_AUTH' });
    await flush();
    assert.deepEqual(host.addressesSeen, []);
    assert.deepEqual(advertised, [], 'nor where this node reaches it');
    assert.equal(host.stepped.length, 1, 'the unauthenticated vote itself still reached the core');
  });

  it('refuses an RPC whose sender claims a node other than the authenticated one, before the core', async () => {
    const { host, rpcs, logger, metrics } = setUp();
    await assert.rejects(rpcs.handle(vote, from('n3')), { code: 'NET_AUTH' });
    assert.equal(host.stepped.length, 0, 'the core never saw the forged request');
    assert.equal(metrics.counts.get('raft_rpc_refused_total'), 1);
    assert.ok(
      logger.records.some((r) => r.level === 'warning' && r.fields.claimed === 'n2' && r.fields.identity === 'n3'),
    );
  });

  it('refuses every RPC while the node is not running', async () => {
    const { host, rpcs } = setUp();
    host.running = false;
    await assert.rejects(rpcs.handle(vote, from('n2')), { code: 'NET_UNREACHABLE' });
    assert.equal(host.stepped.length, 0);
  });

  it("hands a request to the core and settles its reply with the core's answer", async () => {
    const { host, rpcs } = setUp();
    const reply = rpcs.handle(vote, from('n2'));
    const input = host.stepped[0];
    assert.ok(input?.kind === 'request' && input.from === 'n2' && input.request === vote);
    assert.equal(host.readyScheduled, 1, 'the Ready loop is woken for the answer');
    const answer = { type: 'RequestVoteResponse', term: 3, voteGranted: true } as const;
    rpcs.dispatch({ kind: 'response', replyTo: input.replyTo, response: answer });
    assert.deepEqual(await reply, answer);
  });

  it('rejects a request the core refuses and reports the protocol violation', async () => {
    const { host, rpcs, violations, metrics } = setUp();
    host.refuse = 'term from the future';
    await assert.rejects(rpcs.handle(vote, from('n2')), { code: 'NET_REJECTED' });
    assert.deepEqual(violations, ['n2: term from the future']);
    assert.equal(metrics.counts.get('raft_protocol_violations_total'), 1);
  });

  it('logs a flood of forged and protocol-breaking requests at a bounded rate, counting every one', async () => {
    const { host, rpcs, logger, metrics, clock } = setUp();
    const lines = (message: string) => logger.records.filter((r) => r.message.startsWith(message));
    const flood = async (count: number, peer: NodeId) => {
      for (let i = 0; i < count; i++) await rpcs.handle(vote, from(peer)).catch(() => undefined);
    };
    await flood(1000, 'n3');
    host.refuse = 'term from the future';
    await flood(1000, 'n2');
    const forged = lines('refused an RPC whose sender is not authenticated');
    const broken = lines('rejected a message that breaks the protocol');
    assert.equal(forged.length + broken.length, PEER_REFUSAL_LOGS_PER_SECOND_MAX, 'one second: the limit, no more');
    assert.equal(metrics.counts.get('raft_rpc_refused_total'), 1000, 'every refusal is counted');
    assert.equal(metrics.counts.get('raft_protocol_violations_total'), 1000, 'every violation is counted');
    // A second later the next line says how many were left out.
    clock.now += 1000;
    await flood(1, 'n2');
    const next = lines('rejected a message that breaks the protocol').at(-1);
    assert.equal(next?.fields.suppressed, 2000 - PEER_REFUSAL_LOGS_PER_SECOND_MAX);
  });

  it('sends a ClientForward to the client operations, not to the core', async () => {
    const { host, rpcs } = setUp();
    const forward: ClientForwardRequest = {
      type: 'ClientForwardRequest',
      sourceId: 'n2',
      kind: 'read',
      payload: new Uint8Array([1]),
      timeoutMs: 1000,
    };
    const response = await rpcs.handle(forward, from('n2'));
    assert.equal(response.type, 'ClientForwardResponse');
    assert.deepEqual(host.forwarded, [forward]);
    assert.equal(host.stepped.length, 0);
  });

  // Memory: decoded byte fields are views into the received message; an entry kept in the log
  // must not keep the whole datagram (or a block-wise body) alive.
  it('copies the entries and a forwarded command out of the message they arrived in', async () => {
    const { host, rpcs } = setUp();
    const datagram = new Uint8Array(16 * 1024).fill(9);
    const entries = [0, 1, 2].map((i) => ({
      term: 2,
      index: 10 + i,
      type: 'command' as const,
      command: datagram.subarray(1000 + 400 * i, 1000 + 400 * i + 300),
    }));
    const append: AppendEntriesRequest = {
      type: 'AppendEntriesRequest',
      term: 2,
      leaderId: 'n2',
      prevLogIndex: 9,
      prevLogTerm: 2,
      entries,
      leaderCommit: 9,
    };
    void rpcs.handle(append, from('n2'));
    const input = host.stepped[0];
    assert.ok(input?.kind === 'request' && input.request.type === 'AppendEntriesRequest');
    assert.deepEqual(input.request.entries, entries, 'the same entries, byte for byte');
    for (const entry of input.request.entries) assert.equal(entry.command.buffer.byteLength, 3 * 300);
    const forward: ClientForwardRequest = {
      type: 'ClientForwardRequest',
      sourceId: 'n2',
      kind: 'write',
      payload: datagram.subarray(100, 400),
      timeoutMs: 1000,
    };
    await rpcs.handle(forward, from('n2'));
    assert.equal(host.forwarded[0]?.payload.buffer.byteLength, 300);
    assert.deepEqual(host.forwarded[0]?.payload, forward.payload);
  });

  // The transport marks a message whose buffer is its own (InboundContext.bytesOwned): entries that
  // fill at least half of it stay views; any other buffer, an append whose entries the log mostly
  // has already, or one of several large commands (the store would copy its value while the log
  // holds the message) is copied as without the mark.
  it('keeps the entries of a message that owns its buffer as they came, when the log keeps most of it', async () => {
    const { host, rpcs } = setUp();
    /** An append of `count` commands of `bytes` each, 10 bytes apart in a record of their own. */
    const appendIn = (count: number, bytes: number): { append: AppendEntriesRequest; record: Uint8Array } => {
      const record = new Uint8Array(count * (bytes + 10) + 100).fill(7);
      const entries = Array.from({ length: count }, (_, i) => ({
        term: 2,
        index: 10 + i,
        type: 'command' as const,
        command: record.subarray(100 + (bytes + 10) * i, 100 + (bytes + 10) * i + bytes),
      }));
      const append = {
        type: 'AppendEntriesRequest',
        term: 2,
        leaderId: 'n2',
        prevLogIndex: 9,
        prevLogTerm: 2,
      } as const;
      return { append: { ...append, entries, leaderCommit: 9 }, record };
    };
    const stepped = (append: AppendEntriesRequest, context: InboundContext, lastIndex = 9): AppendEntriesRequest => {
      host.lastIndex = lastIndex;
      void rpcs.handle(append, context);
      const input = host.stepped.at(-1);
      assert.ok(input?.kind === 'request' && input.request.type === 'AppendEntriesRequest');
      assert.deepEqual(input.request.entries, append.entries, 'the same entries, byte for byte');
      return input.request;
    };
    const owned = { ...from('n2'), bytesOwned: true };
    const small = appendIn(40, 300);
    const single = appendIn(1, 4150);
    for (const { append, record } of [small, single])
      for (const entry of stepped(append, owned).entries) assert.equal(entry.command.buffer, record.buffer, 'a view');
    const copied = (append: AppendEntriesRequest, record: Uint8Array): boolean =>
      append.entries.every((entry) => entry.command.buffer !== record.buffer);
    // The same bytes in a buffer the transport does not vouch for.
    assert.ok(copied(stepped(small.append, from('n2')), small.record));
    // The follower has 31 of the 40 already: the 9 it keeps would hold the whole record.
    const overlap = stepped(small.append, owned, 40);
    assert.ok(copied(overlap, small.record));
    for (const entry of overlap.entries.slice(31)) assert.equal(entry.command.buffer.byteLength, 9 * 300);
    // Three 4 KiB commands: the store copies each value out of a record three times its size.
    const large = appendIn(3, 4150);
    assert.ok(copied(stepped(large.append, owned), large.record));
    const record = new Uint8Array(12_000);

    // A forwarded command: kept when it fills at least half of its own buffer, else copied.
    const forward = (payload: Uint8Array): ClientForwardRequest => ({
      type: 'ClientForwardRequest',
      sourceId: 'n2',
      kind: 'write',
      payload,
      timeoutMs: 1000,
    });
    await rpcs.handle(forward(record.subarray(0, 7000)), { ...from('n2'), bytesOwned: true });
    await rpcs.handle(forward(record.subarray(0, 5000)), { ...from('n2'), bytesOwned: true });
    assert.equal(host.forwarded[0]?.payload.buffer, record.buffer);
    assert.equal(host.forwarded[1]?.payload.buffer.byteLength, 5000);
  });

  it("sends the core's requests with a deadline growing with their bytes, and steps back what comes", async () => {
    const { host, client, rpcs, metrics } = setUp();
    const entries = Array.from({ length: 4 }, (_, i) => ({
      term: 2,
      index: i + 1,
      type: 'command' as const,
      command: new Uint8Array(50 * 1024),
    }));
    const append: AppendEntriesRequest = {
      type: 'AppendEntriesRequest',
      term: 2,
      leaderId: 'n1',
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries,
      leaderCommit: 0,
    };
    const appendResponse = {
      type: 'AppendEntriesResponse',
      term: 2,
      success: true,
      conflictIndex: null,
      conflictTerm: null,
      lastLogIndex: 4,
    };
    client.answer = (request) =>
      request.type === 'AppendEntriesRequest'
        ? Promise.resolve(appendResponse)
        : Promise.reject(new Error('timed out'));
    rpcs.dispatch({ kind: 'request', to: 'n2', seq: 1, request: append });
    rpcs.dispatch({ kind: 'request', to: 'n3', seq: 2, request: vote });
    await flush();
    // 200 KiB of commands (plus per-entry overhead) is three 64 KiB steps: 100 ms * (1 + 3).
    assert.deepEqual(
      client.sent.map((s) => [s.target, s.timeoutMs]),
      [
        ['n2', 400],
        ['n3', 100],
      ],
    );
    assert.deepEqual(
      host.stepped.map((i) => [i.kind, 'seq' in i ? i.seq : null]),
      [
        ['response', 1],
        ['unreachable', 2],
      ],
    );
    assert.equal(metrics.counts.get('raft_rpc_failed_total'), 1);
  });

  it('reports, once, that no peer accepts its keys after every peer refused its handshakes for 30 s', async () => {
    const { client, rpcs, logger, clock } = setUp();
    const refused = new NetworkError('NET_AUTH', 'DTLS handshake with 127.0.0.1:5684 failed: key or identity refused');
    let n3Answers = false;
    client.answer = (request) =>
      n3Answers && request.type === 'RequestVoteRequest' && request.candidateId === 'n1'
        ? Promise.resolve({ type: 'RequestVoteResponse', term: 3, voteGranted: false })
        : Promise.reject(refused);
    const errors = () => logger.records.filter((r) => r.level === 'error' && /no peer accepts/.test(r.message));
    const round = async () => {
      rpcs.dispatch({ kind: 'request', to: 'n2', seq: 1, request: { ...vote, candidateId: 'n1' } });
      rpcs.dispatch({ kind: 'request', to: 'n3', seq: 2, request: { ...vote, candidateId: 'n1' } });
      await flush();
    };
    for (clock.now = 0; clock.now < 30_000; clock.now += 1000) await round();
    assert.equal(errors().length, 0, 'not before 30 s');
    for (; clock.now <= 60_000; clock.now += 1000) await round();
    assert.equal(errors().length, 1, 'once, not every second');
    assert.match(String(errors()[0]?.fields['advice']), /stop it .*coraft provision --add/);
    assert.equal(rpcs.keyRefusals.refusedSinceMs(), 0);
    assert.equal(rpcs.view().keysRefused?.forMs, clock.now, 'the status shows it');
    n3Answers = true;
    await round();
    assert.equal(rpcs.keyRefusals.refusedSinceMs(), null, 'a peer that answers ends it');
    assert.equal(rpcs.view().keysRefused, null);
    assert.ok(logger.records.some((r) => r.level === 'info' && /accepts this node’s keys again/.test(r.message)));
  });

  it('reads a snapshot chunk from storage when it sends it, and sends nothing of a replaced snapshot', async () => {
    const storage = new MemoryPersistenceEngine();
    const { host, client, rpcs } = setUp(storage);
    const data = new Uint8Array(100_000).map((_, i) => i & 0xff);
    const configuration = simpleConfiguration(['n1', 'n2']);
    const snapshot = { lastIncludedIndex: 40, lastIncludedTerm: 2, configuration, data };
    await storage.persist({ ...EMPTY_BATCH, snapshot });
    const chunk: SnapshotChunkRequest = {
      type: 'InstallSnapshotRequest',
      term: 2,
      leaderId: 'n1',
      lastIncludedIndex: 40,
      lastIncludedTerm: 2,
      offset: 65_536,
      dataBytes: 16_000,
      done: false,
      totalBytes: data.byteLength,
      configuration,
    };
    client.answer = () => Promise.resolve({ type: 'InstallSnapshotResponse', term: 2, bytesStored: 81_536 });
    rpcs.dispatch({ kind: 'request', to: 'n2', seq: 7, request: chunk });
    await flush();
    const sent = client.sent[0]?.request;
    assert.ok(sent?.type === 'InstallSnapshotRequest');
    assert.deepStrictEqual(sent.data, data.slice(65_536, 81_536), 'the chunk read from storage');
    assert.equal('dataBytes' in sent, false, 'the wire carries the bytes, not their size');
    const stepped = host.stepped.at(-1);
    assert.ok(stepped?.kind === 'response');
    assert.equal(stepped.request, chunk, 'the core hears back about the chunk it sent');

    // Storage took a newer snapshot since: the chunk is not sent, the core hears unreachable.
    await storage.persist({ ...EMPTY_BATCH, snapshot: { ...snapshot, lastIncludedIndex: 50 } });
    rpcs.dispatch({ kind: 'request', to: 'n2', seq: 8, request: chunk });
    await flush();
    assert.equal(client.sent.length, 1);
    const unreachable = host.stepped.at(-1);
    assert.ok(unreachable?.kind === 'unreachable' && unreachable.seq === 8);
  });

  it('stops the node when a snapshot chunk cannot be read', async () => {
    const storage = new MemoryPersistenceEngine();
    const { host, client, rpcs } = setUp(storage);
    await storage.close();
    const chunk: SnapshotChunkRequest = {
      type: 'InstallSnapshotRequest',
      term: 2,
      leaderId: 'n1',
      lastIncludedIndex: 40,
      lastIncludedTerm: 2,
      offset: 0,
      dataBytes: 10,
      done: false,
      totalBytes: 20,
      configuration: simpleConfiguration(['n1', 'n2']),
    };
    rpcs.dispatch({ kind: 'request', to: 'n2', seq: 1, request: chunk });
    await flush();
    assert.equal(client.sent.length, 0);
    assert.equal(host.fatalErrors.length, 1);
    assert.equal((host.fatalErrors[0] as { code?: string }).code, 'STORAGE_CLOSED');
  });

  describe('recovery epochs (a member coraft recover left out)', () => {
    const RECOVERED = 1_000_000_003;
    const append = (term: number): AppendEntriesRequest => ({
      type: 'AppendEntriesRequest',
      term,
      leaderId: 'n2',
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: [],
      leaderCommit: 0,
    });

    it('stops a node holding state of an earlier epoch on a request of the recovered cluster', async () => {
      const { host, rpcs } = setUp();
      host.term = 7;
      host.lastIndex = 12;
      await assert.rejects(rpcs.handle(append(RECOVERED), from('n2')), { code: 'NET_REJECTED' });
      assert.equal(host.stepped.length, 0, 'the core never adopted the recovered term');
      assert.equal(host.fatalErrors.length, 1);
      const error = host.fatalErrors[0];
      assert.ok(error instanceof LeftOutError);
      assert.match(error.message, /left out by a recovery: n2 speaks for recovery epoch 1 \(term 1000000003\)/);
      assert.match(error.message, /epoch 0 \(term 7, log up to 12\)/);
      assert.match(error.message, /wipe its data folder/);
      assert.equal(exitCodeFor(error), 78, 'a configuration error: systemd does not restart it');
    });

    it('stops it on a response of the recovered cluster too, and steps nothing', async () => {
      const { host, client, rpcs } = setUp();
      host.term = 7;
      host.lastIndex = 12;
      client.answer = () => Promise.resolve({ type: 'RequestVoteResponse', term: RECOVERED, voteGranted: false });
      rpcs.dispatch({ kind: 'request', to: 'n2', seq: 1, request: { ...vote, candidateId: 'n1', term: 8 } });
      await flush();
      assert.equal(host.fatalErrors.length, 1);
      assert.ok(host.fatalErrors[0] instanceof LeftOutError);
      assert.equal(host.stepped.length, 0);
    });

    it('lets a node that holds nothing (a wiped member being added) take the new epoch', () => {
      const { host, rpcs } = setUp();
      void rpcs.handle(append(RECOVERED), from('n2'));
      assert.equal(host.fatalErrors.length, 0);
      assert.equal(host.stepped.length, 1);
      // And a member of the recovered cluster goes on within its epoch.
      host.term = RECOVERED;
      host.lastIndex = 40;
      void rpcs.handle(append(RECOVERED + 1), from('n2'));
      assert.equal(host.stepped.length, 2);
      assert.equal(host.fatalErrors.length, 0);
    });

    it('logs once per peer a member of an earlier epoch, whose requests the core refuses as stale', () => {
      const { host, rpcs, logger } = setUp();
      host.term = RECOVERED;
      host.lastIndex = 40;
      void rpcs.handle(vote, from('n2'));
      void rpcs.handle(vote, from('n2'));
      assert.equal(host.stepped.length, 2, 'the core answers with its term, which tells the sender');
      assert.equal(host.fatalErrors.length, 0);
      const notes = logger.records.filter((r) => r.message.includes('left out by a recovery'));
      assert.equal(notes.length, 1);
      assert.equal(notes[0]?.fields.peer, 'n2');
    });
  });
});
