// Proves the server's delayed empty ACKs (transport/coap/delayed-acks.ts), on virtual time the test
// steps through:
// - property: whatever the arrival times and handler durations (up to 2,500 requests, enough for
//   the queue to be cut down under a load that never empties it), a request is acknowledged,
//   once, exactly when its handler took longer than SEPARATE_RESPONSE_AFTER_MS; `answered` says
//   so for each; and nothing is left once every request was answered;
// - clear() forgets every request, and no timer fires after it;
// - a request answered before its delay ends is not kept (its body could be 64 KiB): collected
//   while its slot still waits in the queue.
import { strict as assert } from 'node:assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { DelayedAcks, SEPARATE_RESPONSE_AFTER_MS } from '../../../transport/coap/delayed-acks.js';
import { fcParams } from '../../fc-params.js';
import { VirtualTimers } from '../virtual-timers.js';

interface Request {
  readonly id: number;
}

describe('delayed empty ACKs', () => {
  it('acknowledges, once, exactly the requests whose handler took longer than the delay', () => {
    // Handler durations avoid the delay itself, where the order of an answer and the timer at the same instant decides.
    const duration = fc.oneof(
      fc.integer({ min: 0, max: SEPARATE_RESPONSE_AFTER_MS - 1 }),
      fc.integer({ min: SEPARATE_RESPONSE_AFTER_MS + 1, max: 3 * SEPARATE_RESPONSE_AFTER_MS }),
    );
    const request = fc.record({ gapMs: fc.integer({ min: 0, max: 3 }), durationMs: duration });
    const load = fc.oneof(
      fc.array(request, { maxLength: 60 }),
      fc.array(request, { minLength: 2000, maxLength: 2500 }),
    );
    fc.assert(
      fc.property(load, (requests) => {
        const timers = new VirtualTimers();
        const acked: number[] = [];
        const acks = new DelayedAcks<Request>(timers, (r) => acked.push(r.id));
        const events: { atMs: number; kind: 'arrive' | 'answer'; request: Request; durationMs: number }[] = [];
        let atMs = 0;
        requests.forEach((r, id) => {
          atMs += r.gapMs;
          const req = { id };
          events.push({ atMs, kind: 'arrive', request: req, durationMs: r.durationMs });
          events.push({ atMs: atMs + r.durationMs, kind: 'answer', request: req, durationMs: r.durationMs });
        });
        // In time order; at one instant arrivals go first (a handler of 0 ms answers after its request arrived).
        events.sort(
          (a, b) => a.atMs - b.atMs || (a.kind === b.kind ? a.request.id - b.request.id : a.kind === 'arrive' ? -1 : 1),
        );
        for (const event of events) {
          timers.advanceToSync(event.atMs);
          if (event.kind === 'arrive') acks.watch(event.request);
          else
            assert.equal(
              acks.answered(event.request),
              event.durationMs > SEPARATE_RESPONSE_AFTER_MS,
              `request ${event.request.id}, handler ${event.durationMs} ms`,
            );
        }
        const expected = requests.flatMap((r, id) => (r.durationMs > SEPARATE_RESPONSE_AFTER_MS ? [id] : []));
        assert.deepEqual(
          [...acked].sort((a, b) => a - b),
          expected,
          'each slow one acknowledged once',
        );
        assert.ok(acks.isEmpty, 'nothing left');
        timers.advanceToSync(atMs + 10 * SEPARATE_RESPONSE_AFTER_MS);
        assert.equal(acked.length, expected.length, 'no acknowledgement after the answers');
      }),
      fcParams(60, 'delayed acks acknowledge the slow requests once'),
    );
  });

  it('keeps no request answered before its delay ended', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const timers = new VirtualTimers();
    const acks = new DelayedAcks<{ readonly body: Uint8Array }>(timers, () => assert.fail('none is acknowledged'));
    // Made in a function of its own, so that no reference stays in this frame.
    const fill = (): WeakRef<object>[] =>
      Array.from({ length: 2000 }, (_, i) => {
        const request = { body: new Uint8Array(1024) };
        acks.watch(request);
        timers.advanceToSync(i * 0.04);
        assert.equal(acks.answered(request), false);
        return new WeakRef(request);
      });
    const refs = fill();
    // Every slot is still in the queue (80 ms of arrivals, none due yet).
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    assert.equal(refs.filter((ref) => ref.deref() !== undefined).length, 0, 'every answered request collected');
    assert.ok(acks.isEmpty);
  });

  it('forgets every request at clear, and fires no timer after it', () => {
    const timers = new VirtualTimers();
    const acked: number[] = [];
    const acks = new DelayedAcks<Request>(timers, (r) => acked.push(r.id));
    acks.watch({ id: 1 });
    acks.watch({ id: 2 });
    acks.clear();
    assert.ok(acks.isEmpty);
    assert.equal(timers.pendingCount, 0);
    timers.advanceToSync(10 * SEPARATE_RESPONSE_AFTER_MS);
    assert.deepEqual(acked, []);
  });
});
