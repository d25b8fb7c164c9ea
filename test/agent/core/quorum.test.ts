// Property tests of the pure quorum maths: the commit index of a majority and of a joint
// configuration equals a brute-force reference (the largest index held by a quorum of every
// half), and vote counting agrees with enumerating the voters. Seeds are printed by fast-check
// on failure; replay with FC_SEED / FC_PATH.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { committedIndex, majorityCommitted, SCRATCH_VOTERS, voteResult } from '../../../agent/core/quorum.js';
import { fcParams } from '../../fc-params.js';

const voterSet = fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), { minLength: 1, maxLength: 7 });
const matches = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), fc.nat({ max: 20 }));

/** The largest index that more than half of `voters` hold: tried one candidate at a time. */
function bruteMajority(voters: readonly string[], match: Readonly<Record<string, number>>): number {
  let best = 0;
  for (let index = 0; index <= 20; index += 1) {
    const holders = voters.filter((v) => (match[v] ?? 0) >= index).length;
    if (holders * 2 > voters.length) best = index;
  }
  return best;
}

/** The sort-based computation the allocation-free one replaced: the quorum-th largest match index. */
function sortedReference(voters: readonly string[], match: ReadonlyMap<string, number>): number {
  if (voters.length === 0) return Number.MAX_SAFE_INTEGER;
  const sorted = voters.map((v) => match.get(v) ?? 0).sort((a, b) => b - a);
  return sorted[Math.floor(voters.length / 2)] ?? 0;
}

/** Up to SCRATCH_VOTERS + 4 distinct ids, so both the scratch path and the sorted fallback are taken. */
const bigVoterSet = fc.uniqueArray(
  fc.integer({ min: 0, max: 40 }).map((n) => `n${n}`),
  { minLength: 0, maxLength: SCRATCH_VOTERS + 4 },
);
const bigMatches = fc
  .array(
    fc.tuple(
      fc.integer({ min: 0, max: 40 }).map((n) => `n${n}`),
      fc.maxSafeNat(),
    ),
    { maxLength: 40 },
  )
  .map((pairs) => new Map(pairs));

describe('quorum', () => {
  it('the allocation-free commit index equals the sort-based one for any match indexes, sizes and joint halves', () => {
    // A sequence of calls of mixed sizes, so a result left in the shared scratch by one call
    // cannot leak into the next.
    const calls = fc.array(fc.tuple(bigVoterSet, fc.option(bigVoterSet, { nil: null }), bigMatches), {
      minLength: 1,
      maxLength: 6,
    });
    fc.assert(
      fc.property(calls, (list) => {
        for (const [incoming, outgoing, match] of list) {
          const matchOf = (id: string): number => match.get(id) ?? 0;
          assert.equal(majorityCommitted(incoming, matchOf), sortedReference(incoming, match));
          const expected =
            outgoing === null
              ? sortedReference(incoming, match)
              : Math.min(sortedReference(incoming, match), sortedReference(outgoing, match));
          assert.equal(committedIndex({ incoming, outgoing }, matchOf), expected);
        }
      }),
      fcParams(),
    );
  });

  it('majority commit index equals the brute-force reference', () => {
    fc.assert(
      fc.property(voterSet, matches, (voters, match) => {
        assert.equal(
          majorityCommitted(voters, (id) => match[id] ?? 0),
          bruteMajority(voters, match),
        );
      }),
      fcParams(),
    );
  });

  it('joint commit index is the largest index held by a majority of both halves', () => {
    fc.assert(
      fc.property(voterSet, voterSet, matches, (incoming, outgoing, match) => {
        const expected = Math.min(bruteMajority(incoming, match), bruteMajority(outgoing, match));
        assert.equal(
          committedIndex({ incoming, outgoing }, (id) => match[id] ?? 0),
          expected,
        );
      }),
      fcParams(),
    );
  });

  it('a joint configuration whose halves are equal decides like a simple one', () => {
    fc.assert(
      fc.property(voterSet, matches, (voters, match) => {
        assert.equal(
          committedIndex({ incoming: voters, outgoing: voters }, (id) => match[id] ?? 0),
          committedIndex({ incoming: voters, outgoing: null }, (id) => match[id] ?? 0),
        );
      }),
      fcParams(),
    );
  });

  it('vote results agree with counting: won needs a majority of each half; lost when one half cannot reach one', () => {
    const votes = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), fc.boolean());
    fc.assert(
      fc.property(voterSet, fc.option(voterSet, { nil: null }), votes, (incoming, outgoing, vote) => {
        const half = (voters: readonly string[]): 'won' | 'lost' | 'pending' => {
          const yes = voters.filter((v) => vote[v] === true).length;
          const open = voters.filter((v) => vote[v] === undefined).length;
          if (yes * 2 > voters.length) return 'won';
          return (yes + open) * 2 > voters.length ? 'pending' : 'lost';
        };
        const halves = outgoing === null ? [half(incoming)] : [half(incoming), half(outgoing)];
        const expected = halves.every((h) => h === 'won')
          ? 'won'
          : halves.some((h) => h === 'lost')
            ? 'lost'
            : 'pending';
        assert.equal(
          voteResult({ incoming, outgoing }, (id) => vote[id]),
          expected,
        );
      }),
      fcParams(),
    );
  });
});
