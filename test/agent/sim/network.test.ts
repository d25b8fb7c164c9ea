// Proves the simulated network's duplicate fault keeps the transport contract that forwarding
// relies on (RFC 7252 §4.5 duplicate detection): a forwarded client request delivered twice
// runs once, and both copies carry that one answer, so a refusal the
// sender receives is never the answer of a copy that ran after another copy proposed the write
// (the sweep found runs where the sender was told "not leader" for a write that then committed).
// A Raft RPC delivered twice still runs twice (Raft must tolerate it), and a target restarted
// between the copies (a lost duplicate cache) runs the second copy again.
import { strict as assert } from 'node:assert';
import { SimNetwork, RELIABLE_NETWORK } from '../../../agent/sim/network.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { SeededPrng } from '../../../contracts/prng.js';
import type { RequestMessage, ResponseMessage } from '../../../contracts/messages.js';
import type { RpcHandler } from '../../../contracts/network.js';

const ALWAYS_TWICE = { ...RELIABLE_NETWORK, duplicateRate: 1, latencyMinMs: 1, latencyMaxMs: 30 };

const forward: RequestMessage = {
  type: 'ClientForwardRequest',
  sourceId: 'a',
  kind: 'write',
  payload: new Uint8Array([1]),
  timeoutMs: 1000,
};
const append: RequestMessage = {
  type: 'AppendEntriesRequest',
  term: 1,
  leaderId: 'a',
  prevLogIndex: 0,
  prevLogTerm: 0,
  entries: [],
  leaderCommit: 0,
};

/** A handler that proposes on its first call and refuses afterwards, as a leader that steps down. */
function leaderThatStepsDown(calls: { count: number }): RpcHandler {
  return (request) => {
    calls.count += 1;
    const first = calls.count === 1;
    const response: ResponseMessage =
      request.type === 'ClientForwardRequest'
        ? {
            type: 'ClientForwardResponse',
            code: first ? '' : 'RAFT_NOT_LEADER',
            message: '',
            leaderHint: null,
            result: new Uint8Array(first ? [42] : []),
          }
        : {
            type: 'AppendEntriesResponse',
            term: 1,
            success: true,
            conflictIndex: null,
            conflictTerm: null,
            lastLogIndex: 0,
          };
    return Promise.resolve(response);
  };
}

async function sendTwice(
  seed: number,
  request: RequestMessage,
  restartBetween = false,
): Promise<{ calls: number; response: ResponseMessage; network: SimNetwork }> {
  const timers = new VirtualTimers();
  const network = new SimNetwork(timers, new SeededPrng(seed), ALWAYS_TWICE);
  const calls = { count: 0 };
  const b = network.endpoint('b').server;
  b.setHandler(leaderThatStepsDown(calls));
  await b.start();
  if (restartBetween) {
    // Restart b (a new handler, as a restarted node's) once the first copy has run.
    const check = (): void => {
      if (calls.count === 1) b.setHandler(leaderThatStepsDown(calls));
      else timers.setTimer(0.5, check);
    };
    timers.setTimer(0.5, check);
  }
  const answer = network.endpoint('a').client.send('b', request, 1000);
  await timers.runUntil(500);
  return { calls: calls.count, response: await answer, network };
}

describe('simulated network: duplicated requests', () => {
  it('runs a forwarded client request once per send, whatever order the copies arrive in', async () => {
    for (let seed = 1; seed <= 20; seed += 1) {
      const { calls, response, network } = await sendTwice(seed, forward);
      assert.equal(calls, 1, `seed ${seed}: the handler ran once`);
      assert.equal(network.stats.duplicated, 1);
      assert.equal(network.stats.deduplicated, 1);
      assert.ok(
        response.type === 'ClientForwardResponse' && response.code === '',
        `seed ${seed}: the sender gets the answer of the one run`,
      );
    }
  });

  it('runs a duplicated Raft RPC twice', async () => {
    const { calls, network } = await sendTwice(1, append);
    assert.equal(calls, 2);
    assert.equal(network.stats.deduplicated, 0);
  });

  it('runs the second copy again on a target restarted in between (its duplicate cache is gone)', async () => {
    let restartedRuns = 0;
    for (let seed = 1; seed <= 20; seed += 1) {
      const { calls } = await sendTwice(seed, forward, true);
      if (calls === 2) restartedRuns += 1;
    }
    assert.ok(restartedRuns > 0, 'some second copy reached the restarted target');
  });
});
