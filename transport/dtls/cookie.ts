/**
 * Stateless HelloVerifyRequest cookies (RFC 6347 §4.2.1). A cookie is an HMAC-SHA256, under a
 * server secret, of the client's address and port and of the leading ClientHello fields the
 * client must repeat (version, random, session_id), so the server keeps no state for a client
 * until it proves it can receive at its source address. Covering only the leading fields lets
 * the server check a cookie from the first fragment of a fragmented ClientHello. The secret rotates every `rotationMs`;
 * a cookie made under the previous
 * secret is still accepted, so a cookie lives between one and two rotation periods.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';
import type { ClientHelloPrefix } from './handshake-messages.js';

/** Length of the cookies made here, in bytes. */
export const COOKIE_BYTES = 32;
const SECRET_BYTES = 32;

interface Secret {
  readonly key: Uint8Array;
  readonly createdMs: number;
}

/** Makes and checks cookies, rotating its secret lazily on the injected clock. */
export class CookieJar {
  private current: Secret;
  private previous: Secret | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly randomBytes: (count: number) => Uint8Array,
    private readonly rotationMs: number,
  ) {
    assert(Number.isFinite(rotationMs) && rotationMs > 0, 'cookie rotation period is positive');
    this.current = { key: randomBytes(SECRET_BYTES), createdMs: clock.nowMs() };
  }

  private rotate(): void {
    const now = this.clock.nowMs();
    const age = now - this.current.createdMs;
    if (age < this.rotationMs) return;
    // After two periods without traffic the old secret is stale too: drop it.
    this.previous = age < 2 * this.rotationMs ? this.current : null;
    this.current = { key: this.randomBytes(SECRET_BYTES), createdMs: now };
    assert(this.current.key.length === SECRET_BYTES, 'secret has its full length');
  }

  /** The cookie for `hello` from `address:port` under the current secret. */
  make(address: string, port: number, hello: ClientHelloPrefix): Uint8Array {
    this.rotate();
    return compute(this.current.key, address, port, hello);
  }

  /** Whether `hello.cookie` was made for this client under the current or previous secret. */
  verify(address: string, port: number, hello: ClientHelloPrefix): boolean {
    if (hello.cookie.length !== COOKIE_BYTES) return false;
    this.rotate();
    if (timingSafeEqual(compute(this.current.key, address, port, hello), hello.cookie)) return true;
    return this.previous !== null && timingSafeEqual(compute(this.previous.key, address, port, hello), hello.cookie);
  }
}

function compute(key: Uint8Array, address: string, port: number, hello: ClientHelloPrefix): Uint8Array {
  assert(port >= 0 && port <= 0xffff, 'port is 16 bits');
  const header = new Uint8Array(5);
  header[0] = port >>> 8;
  header[1] = port & 0xff;
  header[2] = hello.version >>> 8;
  header[3] = hello.version & 0xff;
  header[4] = hello.sessionId.length;
  const mac = createHmac('sha256', key);
  mac.update(header);
  mac.update(hello.random);
  mac.update(hello.sessionId);
  // The address goes last, so its variable length cannot shift another field.
  mac.update(address);
  return mac.digest();
}
