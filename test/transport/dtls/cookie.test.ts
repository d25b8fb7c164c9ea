// Proves the stateless cookies of RFC 6347 §4.2.1: a cookie verifies only for the address,
// port and hello fields it was made for, survives one secret rotation, and expires after the
// second; driven by a virtual clock.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { CookieJar } from '../../../transport/dtls/cookie.js';
import type { ClientHelloPrefix } from '../../../transport/dtls/handshake-messages.js';
import { ManualTimers } from './fake-timers.js';

const hello = (random: Uint8Array, cookie: Uint8Array = new Uint8Array(0)): ClientHelloPrefix => ({
  version: 0xfefd,
  random,
  sessionId: new Uint8Array(0),
  cookie,
});

describe('CookieJar', () => {
  it('verifies its cookie only for the same address, port and hello', () => {
    const clock = new ManualTimers();
    const jar = new CookieJar(clock, randomBytes, 60_000);
    const random = randomBytes(32);
    const cookie = jar.make('127.0.0.1', 4000, hello(random));
    assert.equal(cookie.length, 32);
    assert.ok(jar.verify('127.0.0.1', 4000, hello(random, cookie)));
    assert.ok(!jar.verify('127.0.0.2', 4000, hello(random, cookie)));
    assert.ok(!jar.verify('127.0.0.1', 4001, hello(random, cookie)));
    assert.ok(!jar.verify('127.0.0.1', 4000, hello(randomBytes(32), cookie)));
    assert.ok(!jar.verify('127.0.0.1', 4000, { ...hello(random, cookie), version: 0xfeff }));
    assert.ok(!jar.verify('127.0.0.1', 4000, { ...hello(random, cookie), sessionId: Uint8Array.of(1) }));
    const flipped = Uint8Array.from(cookie);
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    assert.ok(!jar.verify('127.0.0.1', 4000, hello(random, flipped)));
    assert.ok(!jar.verify('127.0.0.1', 4000, hello(random, cookie.subarray(0, 31))));
  });

  it('accepts a cookie of the previous secret and refuses it after two rotations', () => {
    const clock = new ManualTimers();
    const jar = new CookieJar(clock, randomBytes, 1000);
    const random = randomBytes(32);
    const cookie = jar.make('::1', 5684, hello(random));
    clock.advance(1500);
    assert.ok(jar.verify('::1', 5684, hello(random, cookie)), 'previous secret still accepted');
    const fresh = jar.make('::1', 5684, hello(random));
    assert.notDeepEqual(fresh, cookie);
    clock.advance(1000);
    assert.ok(!jar.verify('::1', 5684, hello(random, cookie)), 'two rotations later it is refused');
    assert.ok(jar.verify('::1', 5684, hello(random, fresh)));
  });

  it('drops both secrets after a long quiet period', () => {
    const clock = new ManualTimers();
    const jar = new CookieJar(clock, randomBytes, 1000);
    const random = randomBytes(32);
    const cookie = jar.make('10.0.0.1', 1, hello(random));
    clock.advance(5000);
    assert.ok(!jar.verify('10.0.0.1', 1, hello(random, cookie)));
  });
});
