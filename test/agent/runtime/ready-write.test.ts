// Proves the rule of agent/runtime/ready-write.ts's appliedWhileWriting, for every count of synced
// committed entries up to well past the threshold: a leader applies all of them while its write is
// under way; a follower applies a batch of FOLLOWER_OVERLAP_ENTRIES_MIN or more meanwhile, and
// fewer only after its answer (so its write asks to overlap nothing). ready-order.test.ts checks
// the follower's order on real nodes with one entry.
import { strict as assert } from 'node:assert';
import { FOLLOWER_OVERLAP_ENTRIES_MIN, appliedWhileWriting } from '../../../agent/runtime/ready-write.js';

describe('appliedWhileWriting (ready-write.ts)', () => {
  it('a leader applies every synced entry while it writes', () => {
    for (let synced = 0; synced <= 4 * FOLLOWER_OVERLAP_ENTRIES_MIN; synced += 1)
      assert.equal(appliedWhileWriting(true, synced), synced);
  });

  it('a follower applies only a batch while it writes, and fewer entries after its answer', () => {
    assert.ok(FOLLOWER_OVERLAP_ENTRIES_MIN > 1, 'one entry, the one-client case, waits for the answer');
    for (let synced = 0; synced <= 4 * FOLLOWER_OVERLAP_ENTRIES_MIN; synced += 1)
      assert.equal(
        appliedWhileWriting(false, synced),
        synced >= FOLLOWER_OVERLAP_ENTRIES_MIN ? synced : 0,
        `${synced}`,
      );
  });
});
