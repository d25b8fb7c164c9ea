/**
 * The real clock, timers and randomness the transports use in production. Tests inject
 * virtual ones; each transport gets its own instances (no module-level singletons).
 */
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { TimerHandle, Timers } from '../contracts/clock.js';
import type { Prng } from '../contracts/prng.js';
import { assert } from '../contracts/assert.js';

/** A pending setTimeout (a class: one timer per request is on the hot path). */
class RealTimer implements TimerHandle {
  constructor(private readonly timeout: NodeJS.Timeout) {}

  cancel(): void {
    clearTimeout(this.timeout);
  }
}

/** Timers on the process's monotonic clock. */
class RealTimers implements Timers {
  nowMs(): number {
    return performance.now();
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    assert(Number.isFinite(delayMs) && delayMs >= 0, 'timer delay is a finite non-negative number');
    return new RealTimer(setTimeout(callback, delayMs));
  }
}

/** Timers on the process's monotonic clock and setTimeout. */
export function createRealTimers(): Timers {
  return new RealTimers();
}

const POOL_WORDS = 1024;

/**
 * Randomness from the operating system's CSPRNG, for CoAP tokens (RFC 7252 §5.3.1 asks for
 * unguessable tokens on unsecured transports) and retransmission jitter.
 */
export function createCryptoPrng(): Prng {
  const pool = new Uint32Array(POOL_WORDS);
  let next = POOL_WORDS;
  const nextUint32 = (): number => {
    if (next >= POOL_WORDS) {
      randomFillSync(pool);
      next = 0;
    }
    const value = pool[next] ?? 0;
    next += 1;
    return value;
  };
  const nextFloat = (): number => nextUint32() / 0x1_0000_0000;
  return {
    nextUint32,
    nextFloat,
    intBetween(min: number, maxExclusive: number): number {
      assert(
        Number.isSafeInteger(min) && Number.isSafeInteger(maxExclusive) && maxExclusive > min,
        'intBetween range is a non-empty integer range',
      );
      return min + Math.floor(nextFloat() * (maxExclusive - min));
    },
    chance: (p: number): boolean => nextFloat() < p,
  };
}
