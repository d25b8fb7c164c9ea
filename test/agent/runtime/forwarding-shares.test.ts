// Proves that forwarded reads cannot take a follower's every request to the leader: with a
// network client that, as the peer transports do, refuses (NET_BUSY) past 128 requests
// outstanding to one peer, a flood of 200 reads that the leader does not answer yet leaves
// FORWARDED_READS_MAX of them in flight, refuses the rest RAFT_BUSY (nothing ran), and a write
// sent during the flood is forwarded and answered; once the reads are answered, reads go again.
import { strict as assert } from 'node:assert';
import type { NodeId } from '../../../contracts/log.js';
import type { ClientForwardResponse, RequestMessage, ResponseFor } from '../../../contracts/messages.js';
import type { NetworkClient } from '../../../contracts/network.js';
import { NetworkError } from '../../../contracts/errors.js';
import { FORWARDED_READS_MAX, FORWARDED_WRITES_KEPT_MIN, ForwardingClient } from '../../../agent/runtime/forwarding.js';
import { DEFAULT_COAP_CLIENT_OPTIONS } from '../../../transport/coap/config.js';
import { DEFAULT_HTTP_CLIENT_OPTIONS } from '../../../transport/http/config.js';
import type { ForwardingHost, LeaderChange } from '../../../agent/runtime/forwarding.js';
import { VirtualTimers } from '../../transport/virtual-timers.js';

const OUTSTANDING_PER_PEER_MAX = 128;
const OK: ClientForwardResponse = {
  type: 'ClientForwardResponse',
  code: '',
  message: '',
  leaderHint: 'n2',
  result: new Uint8Array([42]),
};

/** A follower of leader n2. */
const host: ForwardingHost = {
  getNodeId: () => 'n1',
  isLeader: () => false,
  getLeaderId: () => 'n2',
  submitCommand: () => Promise.reject(new Error('not used')),
  readState: () => Promise.reject(new Error('not used')),
  runAdmin: () => Promise.reject(new Error('not used')),
  waitForLeader: () => Promise.resolve(),
  leaderChange: (): LeaderChange => ({ changed: new Promise(() => undefined), cancel: () => undefined }),
  isRunning: () => true,
};

/** Answers writes at once and holds reads until `answerReads`; refuses past OUTSTANDING_PER_PEER_MAX outstanding. */
class BoundedClient implements NetworkClient {
  outstanding = 0;
  private readonly heldReads: (() => void)[] = [];
  send<R extends RequestMessage>(_target: NodeId, request: R): Promise<ResponseFor<R>> {
    if (request.type !== 'ClientForwardRequest') return Promise.reject(new Error('unexpected'));
    if (this.outstanding >= OUTSTANDING_PER_PEER_MAX)
      return Promise.reject(new NetworkError('NET_BUSY', `outstandingPerPeerMax (${OUTSTANDING_PER_PEER_MAX})`));
    if (request.kind !== 'read') return Promise.resolve(OK as ResponseFor<R>);
    this.outstanding += 1;
    return new Promise((resolve) =>
      this.heldReads.push(() => {
        this.outstanding -= 1;
        resolve(OK as ResponseFor<R>);
      }),
    );
  }
  answerReads(): void {
    for (const answer of this.heldReads.splice(0)) answer();
  }
  setPeers(): void {}
  close(): Promise<void> {
    return Promise.resolve();
  }
}

describe('ForwardingClient: reads and writes share the requests to the leader', () => {
  it('keeps writes going through a flood of forwarded reads', async () => {
    const timers = new VirtualTimers();
    const client = new BoundedClient();
    const forwarding = new ForwardingClient(host, client, timers);
    const reads = Array.from({ length: 200 }, () => forwarding.run('read', new Uint8Array([1]), 5000));
    const settled = reads.map((read) =>
      read.then(
        () => 'ok',
        (error: unknown) => (error as { code?: string }).code,
      ),
    );
    await timers.advance(1);
    assert.equal(client.outstanding, FORWARDED_READS_MAX, 'reads hold their share and no more');
    const write = await forwarding.run('write', new Uint8Array([2]), 5000, true);
    assert.deepEqual([...write], [42], 'the write went through during the flood');
    client.answerReads();
    const outcomes = await Promise.all(settled);
    assert.equal(outcomes.filter((o) => o === 'ok').length, FORWARDED_READS_MAX);
    assert.ok(
      outcomes.every((o) => o === 'ok' || o === 'RAFT_BUSY'),
      'the others refused: nothing ran',
    );
    await timers.advance(1);
    const again = forwarding.run('read', new Uint8Array([1]), 5000);
    await timers.advance(1);
    client.answerReads();
    assert.deepEqual([...(await again)], [42], 'the share is given back as reads are answered');
  });

  it('leaves writes their share on every peer transport', () => {
    for (const transport of [DEFAULT_COAP_CLIENT_OPTIONS, DEFAULT_HTTP_CLIENT_OPTIONS])
      assert.ok(transport.outstandingPerPeerMax - FORWARDED_READS_MAX >= FORWARDED_WRITES_KEPT_MIN);
  });
});
