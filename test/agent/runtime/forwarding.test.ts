// Proves the forwarding client's retry rules (agent/runtime/forwarding.ts) with a fake host and
// network client on virtual time: a "not leader" answer sends the same bytes to the next leader;
// a failed forward (outcome unknown) of a write is retried only when the write carries an
// identity the state machine deduplicates (`retryUnknown`), and when every attempt fails the
// caller hears the unknown outcome ("may or may not have been applied"), not a later refusal. A node that
// leads runs a request itself first; a hand-off refusal or a lost lead sends it on as another attempt would,
// any other refusal is the answer. A request that found no leader for LEADER_WAIT_MS_MAX is refused
// "no leader is known", however long its deadline.
import { strict as assert } from 'node:assert';
import type { NodeId } from '../../../contracts/log.js';
import type {
  ClientForwardRequest,
  ClientForwardResponse,
  RequestMessage,
  ResponseFor,
} from '../../../contracts/messages.js';
import type { NetworkClient } from '../../../contracts/network.js';
import { NetworkError, NotLeaderError, ProposalError } from '../../../contracts/errors.js';
import { ForwardingClient, LEADER_WAIT_MS_MAX } from '../../../agent/runtime/forwarding.js';
import type { ForwardingHost, LeaderChange } from '../../../agent/runtime/forwarding.js';
import { VirtualTimers } from '../../transport/virtual-timers.js';

class FakeHost implements ForwardingHost {
  leader: NodeId | null = 'n2';
  getNodeId(): NodeId {
    return 'n1';
  }
  isLeader(): boolean {
    return false;
  }
  getLeaderId(): NodeId | null {
    return this.leader;
  }
  submitCommand(): Promise<Uint8Array> {
    return Promise.reject(new Error('not used'));
  }
  readState(): Promise<Uint8Array> {
    return Promise.reject(new Error('not used'));
  }
  runAdmin(): Promise<Uint8Array> {
    return Promise.reject(new Error('not used'));
  }
  waitForLeader(_timeoutMs?: number): Promise<void> {
    return Promise.resolve();
  }
  private readonly changeWaiters: { from: NodeId; changed: () => void }[] = [];
  leaderChange(from: NodeId): LeaderChange {
    if (this.leader !== from) return { changed: Promise.resolve(), cancel: () => undefined };
    const waiter = { from, changed: (): void => undefined };
    const changed = new Promise<void>((resolve) => {
      waiter.changed = resolve;
    });
    this.changeWaiters.push(waiter);
    return { changed, cancel: () => this.changeWaiters.splice(this.changeWaiters.indexOf(waiter) >>> 0, 1) };
  }
  /** This node learns of `leader`: the forwards waiting on another one are told. */
  learnLeader(leader: NodeId | null): void {
    this.leader = leader;
    for (const waiter of this.changeWaiters.splice(0)) if (waiter.from !== leader) waiter.changed();
  }
  get changeWaitersLeft(): number {
    return this.changeWaiters.length;
  }
  isRunning(): boolean {
    return true;
  }
}

/** An answer, a failure, or 'silent': the target never answers (it went away). */
type Script = (target: NodeId, request: ClientForwardRequest) => ClientForwardResponse | Error | 'silent';

/** A network client that answers forwards from a script and records where they went. */
class ScriptedClient implements NetworkClient {
  readonly sent: { target: NodeId; payload: Uint8Array }[] = [];
  constructor(private readonly script: Script) {}
  send<R extends RequestMessage>(target: NodeId, request: R): Promise<ResponseFor<R>> {
    assert.equal(request.type, 'ClientForwardRequest');
    if (request.type !== 'ClientForwardRequest') return Promise.reject(new Error('unexpected'));
    this.sent.push({ target, payload: request.payload });
    const answer = this.script(target, request);
    if (answer === 'silent') return new Promise(() => undefined);
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer as ResponseFor<R>);
  }
  setPeers(): void {}
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A host that leads until told otherwise, and proposes writes through `propose`. */
class LeadingHost extends FakeHost {
  leading = true;
  readonly proposed: Uint8Array[] = [];
  constructor(private readonly propose: (attempt: number) => Promise<Uint8Array>) {
    super();
    this.leader = 'n1';
  }
  override isLeader(): boolean {
    return this.leading;
  }
  override submitCommand(command?: Uint8Array): Promise<Uint8Array> {
    this.proposed.push(command ?? new Uint8Array(0));
    return this.propose(this.proposed.length);
  }
}

const OK: ClientForwardResponse = {
  type: 'ClientForwardResponse',
  code: '',
  message: '',
  leaderHint: 'n3',
  result: new Uint8Array([42]),
};

async function run<T>(timers: VirtualTimers, promise: Promise<T>): Promise<T> {
  let done = false;
  const observed = promise.finally(() => {
    done = true;
  });
  observed.catch(() => undefined);
  for (let i = 0; i < 100 && !done; i += 1) await timers.advance(10);
  return observed;
}

describe('ForwardingClient', () => {
  it('refuses "no leader is known" once none was known for LEADER_WAIT_MS_MAX, whatever its deadline', async () => {
    const timers = new VirtualTimers();
    class LeaderlessHost extends FakeHost {
      override waitForLeader(timeoutMs: number): Promise<void> {
        return new Promise((resolve) => timers.setTimer(timeoutMs, resolve));
      }
    }
    const host = new LeaderlessHost();
    host.leader = null;
    const client = new ScriptedClient(() => OK);
    let settledAtMs: number | null = null;
    const running = new ForwardingClient(host, client, timers).run('admin', new Uint8Array([1]), 65_000);
    const observed = running.finally(() => {
      settledAtMs = timers.nowMs();
    });
    observed.catch(() => undefined);
    for (let i = 0; i < 70 && settledAtMs === null; i += 1) await timers.advance(1000);
    await assert.rejects(
      observed,
      (error: Error) => error instanceof NotLeaderError && /no leader is known/.test(error.message),
    );
    assert.equal(settledAtMs, LEADER_WAIT_MS_MAX, 'refused once no leader was known for LEADER_WAIT_MS_MAX');
    assert.equal(client.sent.length, 0, 'nothing was sent');
  });

  it('sends the same bytes to the next leader after "not leader"', async () => {
    const timers = new VirtualTimers();
    const host = new FakeHost();
    const client = new ScriptedClient((target) => {
      if (target === 'n3') return OK;
      host.leader = 'n3';
      return {
        type: 'ClientForwardResponse',
        code: 'RAFT_NOT_LEADER',
        message: 'not leader',
        leaderHint: 'n3',
        result: new Uint8Array(0),
      };
    });
    const payload = new Uint8Array([1, 2, 3]);
    const result = await run(timers, new ForwardingClient(host, client, timers).run('write', payload, 1000));
    assert.deepEqual([...result], [42]);
    assert.deepEqual(
      client.sent.map((s) => s.target),
      ['n2', 'n3'],
    );
    assert.ok(
      client.sent.every((s) => s.payload === payload),
      'every attempt carries the same bytes',
    );
  });

  it('retries a failed forward of a write only with retryUnknown', async () => {
    const timers = new VirtualTimers();
    const host = new FakeHost();
    let failures = 1;
    const script: Script = () => (failures-- > 0 ? new NetworkError('NET_UNREACHABLE', 'handshake failed') : OK);
    const plain = new ScriptedClient(script);
    await assert.rejects(
      run(timers, new ForwardingClient(host, plain, timers).run('write', new Uint8Array([1]), 1000)),
      (error: unknown) => {
        assert.ok(error instanceof Error && /may or may not have been applied/.test(error.message));
        return true;
      },
    );
    assert.equal(plain.sent.length, 1);
    failures = 1;
    const identified = new ScriptedClient(script);
    const result = await run(
      timers,
      new ForwardingClient(host, identified, timers).run('write', new Uint8Array([1]), 1000, true),
    );
    assert.deepEqual([...result], [42]);
    assert.equal(identified.sent.length, 2);
  });

  it('names the request whose forward failed: the write, the admin command, or what the caller says', async () => {
    const timers = new VirtualTimers();
    const failed = (): ScriptedClient => new ScriptedClient(() => new NetworkError('NET_TIMEOUT', 'no answer'));
    const forward = (kind: 'write' | 'admin', what?: string): Promise<Uint8Array> =>
      run(
        timers,
        new ForwardingClient(new FakeHost(), failed(), timers).run(kind, new Uint8Array([1]), 1000, false, what),
      );
    await assert.rejects(forward('write'), { message: /^forwarding the write to n2 failed \(no answer\)/ });
    await assert.rejects(forward('admin'), { message: /^forwarding the admin command to n2 failed/ });
    await assert.rejects(forward('write', 'the keepalive of lease 5'), {
      code: 'RAFT_TIMEOUT',
      message: /^forwarding the keepalive of lease 5 to n2 failed \(no answer\); it may or may not have been applied$/,
    });
  });

  it('answers RAFT_BUSY, not an unknown outcome, to a request its client never sent (NET_BUSY)', async () => {
    const timers = new VirtualTimers();
    const busy = new NetworkError('NET_BUSY', 'outstandingPerPeerMax (128) requests already outstanding');
    for (const kind of ['write', 'read'] as const) {
      const client = new ScriptedClient(() => busy);
      await assert.rejects(
        run(timers, new ForwardingClient(new FakeHost(), client, timers).run(kind, new Uint8Array([1]), 1000, true)),
        { code: 'RAFT_BUSY', message: /^not forwarded to n\d: outstandingPerPeerMax/ },
      );
      assert.equal(client.sent.length, 1, `${kind}: not tried again at once`);
    }
  });

  it('reports the unknown outcome of an earlier attempt when a later one is refused', async () => {
    const timers = new VirtualTimers();
    const host = new FakeHost();
    let first = true;
    const client = new ScriptedClient(() => {
      if (first) {
        first = false;
        return new NetworkError('NET_TIMEOUT', 'no answer');
      }
      return {
        type: 'ClientForwardResponse',
        code: 'RAFT_NOT_LEADER',
        message: 'not leader',
        leaderHint: null,
        result: new Uint8Array(0),
      };
    });
    await assert.rejects(
      run(timers, new ForwardingClient(host, client, timers).run('write', new Uint8Array([1]), 1000, true)),
      /may or may not have been applied/,
    );
    assert.ok(client.sent.length >= 2);
  });

  it('sends a retryable request on as soon as the leader it went to is replaced, not at its timeout', async () => {
    const timers = new VirtualTimers();
    for (const [kind, retryUnknown] of [
      ['write', true],
      ['read', false],
    ] as const) {
      const host = new FakeHost();
      // n2 went away with the request: it never answers. n3 answers at once.
      const client = new ScriptedClient((target) => (target === 'n2' ? 'silent' : OK));
      const started = timers.nowMs();
      const running = new ForwardingClient(host, client, timers).run(kind, new Uint8Array([1]), 10_000, retryUnknown);
      await timers.advance(50);
      host.learnLeader('n3');
      const result = await run(timers, running);
      assert.deepEqual([...result], [42]);
      assert.deepEqual(
        client.sent.map((s) => s.target),
        ['n2', 'n3'],
      );
      assert.ok(timers.nowMs() - started < 1000, `${kind} answered after ${timers.nowMs() - started} ms`);
      assert.equal(host.changeWaitersLeft, 0, 'no wait for a change of leader is left behind');
    }
  });

  it('does not give up on the leader early for a write without an identity (it could run twice)', async () => {
    const timers = new VirtualTimers();
    const host = new FakeHost();
    const client = new ScriptedClient((target) => (target === 'n2' ? 'silent' : OK));
    let settled = false;
    void new ForwardingClient(host, client, timers).run('write', new Uint8Array([1]), 10_000).finally(() => {
      settled = true;
    });
    await timers.advance(50);
    host.learnLeader('n3');
    await timers.advance(500);
    assert.equal(settled, false);
    assert.deepEqual(
      client.sent.map((s) => s.target),
      ['n2'],
    );
  });

  it("retries an identified write after the leader's RAFT_TIMEOUT (it stopped before the commit)", async () => {
    const timers = new VirtualTimers();
    const host = new FakeHost();
    const client = new ScriptedClient((target) => {
      if (target === 'n3') return OK;
      host.leader = 'n3';
      return {
        type: 'ClientForwardResponse',
        code: 'RAFT_TIMEOUT',
        message: 'stopped',
        leaderHint: null,
        result: new Uint8Array(0),
      };
    });
    const result = await run(
      timers,
      new ForwardingClient(host, client, timers).run('write', new Uint8Array([1]), 1000, true),
    );
    assert.deepEqual([...result], [42]);
    assert.deepEqual(
      client.sent.map((s) => s.target),
      ['n2', 'n3'],
    );
  });

  it('runs a write here while it leads; after a hand-off refusal, the same bytes go to the next leader', async () => {
    const timers = new VirtualTimers();
    const host: LeadingHost = new LeadingHost(() => {
      host.leading = false;
      host.leader = 'n2';
      return Promise.reject(new ProposalError('RAFT_TRANSFER', 'handing over to n2'));
    });
    const client = new ScriptedClient(() => OK);
    const payload = new Uint8Array([1, 2, 3]);
    const result = await run(timers, new ForwardingClient(host, client, timers).run('write', payload, 1000, true));
    assert.deepEqual([...result], [42]);
    assert.deepEqual(host.proposed, [payload]);
    assert.deepEqual(
      client.sent.map((s) => [s.target, s.payload === payload]),
      [['n2', true]],
    );
  });

  it('tries here again while a hand-off of its own lead goes on, and answers what the write gave', async () => {
    const timers = new VirtualTimers();
    const host = new LeadingHost((attempt) =>
      attempt < 3
        ? Promise.reject(new ProposalError('RAFT_TRANSFER', 'a hand-off is in progress'))
        : Promise.resolve(new Uint8Array([7])),
    );
    const client = new ScriptedClient(() => OK);
    const result = await run(
      timers,
      new ForwardingClient(host, client, timers).run('write', new Uint8Array([1]), 1000),
    );
    assert.deepEqual([...result], [7]);
    assert.equal(host.proposed.length, 3);
    assert.equal(client.sent.length, 0);
  });

  it('throws what the leader itself refused a write with, other than a hand-off, and tries nowhere else', async () => {
    const timers = new VirtualTimers();
    const busy = new ProposalError('RAFT_BUSY', 'too many proposals in flight');
    const host = new LeadingHost(() => Promise.reject(busy));
    const client = new ScriptedClient(() => OK);
    await assert.rejects(
      run(timers, new ForwardingClient(host, client, timers).run('write', new Uint8Array([1]), 1000, true)),
      (e) => e === busy,
    );
    assert.equal(host.proposed.length, 1);
    assert.equal(client.sent.length, 0);
  });

  it('goes to the leader it learns of after losing the lead mid-write ("not leader" here)', async () => {
    const timers = new VirtualTimers();
    const host: LeadingHost = new LeadingHost(() => {
      host.leading = false;
      host.leader = 'n3';
      return Promise.reject(new NotLeaderError('n3', 'lost the lead'));
    });
    const client = new ScriptedClient(() => OK);
    const result = await run(
      timers,
      new ForwardingClient(host, client, timers).run('write', new Uint8Array([1]), 1000, true),
    );
    assert.deepEqual([...result], [42]);
    assert.deepEqual(
      client.sent.map((s) => s.target),
      ['n3'],
    );
  });
});
