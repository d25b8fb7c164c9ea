/**
 * Seeded pseudo-random numbers: the core's only source of randomness. xoshiro128** (Blackman
 * and Vigna), seeded through splitmix32 so that every 32-bit seed gives a well-mixed state.
 * The same seed always gives the same sequence on every platform.
 */
import { assert } from './assert.js';

/** Randomness injected into the core and the simulator. */
export interface Prng {
  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number;
  /** A uniformly distributed integer in [min, maxExclusive). */
  intBetween(min: number, maxExclusive: number): number;
  /** A uniformly distributed number in [0, 1). */
  nextFloat(): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
}

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** xoshiro128** seeded from a 32-bit integer. */
export class SeededPrng implements Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    assert(Number.isSafeInteger(seed), 'prng seed is a safe integer');
    const mix = splitmix32(seed >>> 0);
    this.s0 = mix();
    this.s1 = mix();
    this.s2 = mix();
    this.s3 = mix();
    // Invariant: the state is never all zero (xoshiro's one fixed point).
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  intBetween(min: number, maxExclusive: number): number {
    assert(Number.isSafeInteger(min) && Number.isSafeInteger(maxExclusive), 'intBetween bounds are integers');
    assert(maxExclusive > min, 'intBetween range is not empty');
    const span = maxExclusive - min;
    assert(span <= 0x1_0000_0000, 'intBetween span fits 32 bits');
    return min + Math.floor(this.nextFloat() * span);
  }

  nextFloat(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }

  chance(p: number): boolean {
    return this.nextFloat() < p;
  }

  /** A new generator seeded from this one: independent streams for independent parts. */
  fork(): SeededPrng {
    return new SeededPrng(this.nextUint32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
