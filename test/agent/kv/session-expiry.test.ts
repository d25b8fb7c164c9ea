// Proves the session table's expiry (agent/kv/sessions.ts expire), which looks at the sessions only once the
// oldest of them can have expired:
// - property: over any sequence of commands of a few clients, log-clock steps, expiries and snapshot reloads, every
//   expire(clock) removes exactly the sessions unused for at least ttlMs as of clock (those a look at every session
//   finds), and keeps every other one as it was; the table's invariants hold after every step.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { SessionTable } from '../../../agent/kv/sessions.js';
import { fcParams } from '../../fc-params.js';

const stepArb = fc.oneof(
  fc.record({ kind: fc.constant('apply' as const), client: fc.nat(3), tickMs: fc.nat(40) }),
  fc.record({ kind: fc.constant('expire' as const), tickMs: fc.nat(120) }),
  fc.record({ kind: fc.constant('reload' as const) }),
);

describe('SessionTable.expire', () => {
  it('removes exactly the sessions unused for ttlMs, whenever it is asked', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.array(stepArb, { maxLength: 80 }), (ttlMs, steps) => {
        const table = new SessionTable({ countMax: 3, ttlMs, responsesMax: 4, bytesMax: 1000 });
        const nextSeq = new Map<number, number>();
        let clockMs = 0;
        for (const step of steps) {
          if (step.kind === 'reload') table.load(table.list());
          else if (step.kind === 'expire') {
            clockMs += step.tickMs;
            const before = table.list();
            const live = before.filter((s) => clockMs - s.lastUsedMs < ttlMs);
            assert.equal(table.expire(clockMs), before.length - live.length);
            assert.deepEqual(table.list(), live);
          } else {
            clockMs += step.tickMs;
            const seq = nextSeq.get(step.client) ?? 1;
            const clientId = `c${step.client}`;
            const known = table.lookup(clientId) !== undefined;
            // A session opens with watermark 1; a known one moves its watermark up to the sequence.
            const outcome = table.apply(clientId, seq, known ? seq : 1, clockMs, () => ({
              response: Uint8Array.of(seq),
              retained: Uint8Array.of(seq),
            }));
            if (outcome.kind === 'ran') nextSeq.set(step.client, seq + 1);
            else nextSeq.set(step.client, 1);
          }
          table.checkInvariants(clockMs);
        }
      }),
      fcParams(),
    );
  });
});
