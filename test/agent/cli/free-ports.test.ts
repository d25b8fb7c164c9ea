// Proves that the test and demo clusters pick their ports outside the kernel's ephemeral range
// (agent/cli/agent-processes.ts): a port found free inside it could be taken by any socket's
// ephemeral bind (another agent's client socket) before the agent given it binds it, and that
// agent would then exit at start with EADDRINUSE.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { ephemeralPorts, findFreePorts, portSearchStart } from '../../../agent/cli/agent-processes.js';
import { fcParams } from '../../fc-params.js';

describe('free ports for local clusters', () => {
  it('reads the ephemeral range, and falls back to Linux default on anything else', () => {
    assert.deepEqual(
      ephemeralPorts(() => '32768\t60999\n'),
      [32_768, 60_999],
    );
    assert.deepEqual(
      ephemeralPorts(() => '49152 65535'),
      [49_152, 65_535],
    );
    assert.deepEqual(
      ephemeralPorts(() => 'garbage'),
      [32_768, 60_999],
    );
    assert.deepEqual(
      ephemeralPorts(() => '60999 32768'),
      [32_768, 60_999],
    );
    assert.deepEqual(
      ephemeralPorts(() => {
        throw new Error('ENOENT');
      }),
      [32_768, 60_999],
    );
  });

  it('starts every search outside the ephemeral range, with room for the ports asked for', () => {
    // Property: for any ephemeral range leaving a gap of at least 1,000 ports, any count up to 20
    // and any random draw, the `count` ports from the start lie outside the range and below 65,000.
    fc.assert(
      fc.property(
        fc.integer({ min: 1024, max: 64_000 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 1, max: 20 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (low, width, count, draw) => {
          const high = Math.min(65_535, low + width);
          fc.pre(Math.max(low - 10_000, 65_000 - high - 1) >= 1000);
          const start = portSearchStart(count, [low, high], () => draw);
          const last = start + count - 1;
          assert.ok(last < low || start > high, `${start}..${last} inside ${low}..${high}`);
          assert.ok(start >= 10_000 && last < 65_000, `${start}..${last}`);
        },
      ),
      fcParams(),
    );
  });

  it("finds free ports outside this machine's ephemeral range", async () => {
    const [low, high] = ephemeralPorts();
    const base = await findFreePorts(6);
    assert.ok(base + 5 < low || base > high, `${base} in ${low}..${high}`);
  });
});
