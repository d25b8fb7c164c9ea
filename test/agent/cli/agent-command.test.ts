// Proves how `coraft agent` waits for its end (agent/cli/agent-command.ts, untilStopped): a fatal
// error of the node stops the agent and ends the command with the error's exit code (74 for a
// persistence error), without a timer polling for it; SIGTERM stops it with 0.
import { strict as assert } from 'node:assert';
import { untilStopped } from '../../../agent/cli/agent-command.js';
import { EXIT } from '../../../agent/runtime/agent.js';
import { PersistenceError } from '../../../contracts/errors.js';
import { MemoryLogger } from '../../../agent/observability/noop.js';

/** An agent that records its stop and fails when told to. */
class FakeAgent {
  stops: string[] = [];
  private failWith: (error: unknown) => void = () => undefined;
  private readonly fatal = new Promise<unknown>((resolve) => (this.failWith = resolve));
  stop(reason: string): Promise<void> {
    this.stops.push(reason);
    return Promise.resolve();
  }
  whenFatal(): Promise<unknown> {
    return this.fatal;
  }
  fail(error: unknown): void {
    this.failWith(error);
  }
}

describe('coraft agent: until stopped', () => {
  const signals = ['SIGTERM', 'SIGINT'] as const;
  let before: Map<NodeJS.Signals, NodeJS.SignalsListener[]>;
  beforeEach(() => {
    before = new Map(signals.map((s) => [s, process.listeners(s)]));
  });
  afterEach(() => {
    // Remove only the listeners the command added.
    for (const s of signals)
      for (const listener of process.listeners(s))
        if (!(before.get(s) ?? []).includes(listener)) process.off(s, listener);
  });

  it('stops the agent and exits 74 when the node fails on its disk', async () => {
    const agent = new FakeAgent();
    const ended = untilStopped(agent, new MemoryLogger());
    agent.fail(new PersistenceError('STORAGE_FULL', 'disk full'));
    assert.equal(await ended, EXIT.ioError);
    assert.deepEqual(agent.stops, ['fatal error']);
  });

  it('stops the agent and exits 0 on SIGTERM', async () => {
    const agent = new FakeAgent();
    const ended = untilStopped(agent, new MemoryLogger());
    process.emit('SIGTERM');
    assert.equal(await ended, EXIT.ok);
    assert.deepEqual(agent.stops, ['SIGTERM']);
  });
});
