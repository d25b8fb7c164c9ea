/**
 * What both DTLS endpoints share: real timers and randomness by default, peer keys, and
 * binding and closing a UDP socket.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import { isDualStack } from '../address-family.js';
import { literalLookup } from '../literal-lookup.js';
import { systemResolver } from '../peer-book.js';

/** Timers on the process's monotonic clock. Timers are unref'd: the socket keeps the process alive. */
export function realTimers(): Timers {
  return {
    nowMs: () => performance.now(),
    setTimer: (delayMs: number, callback: () => void): TimerHandle => {
      const handle = setTimeout(callback, delayMs);
      handle.unref();
      return { cancel: () => clearTimeout(handle) };
    },
  };
}

const RANDOM_POOL_BYTES = 4096;
let randomPool = new Uint8Array(0);
let randomPoolOffset = 0;

/**
 * Cryptographic random bytes from node:crypto, drawn from a pool refilled 4 KiB at a time:
 * one randomBytes call per handshake costs more than the bytes. Each byte is handed out once.
 */
export function realRandomBytes(count: number): Uint8Array {
  if (count > RANDOM_POOL_BYTES / 4) return cryptoRandomBytes(count);
  if (randomPoolOffset + count > randomPool.length) {
    randomPool = cryptoRandomBytes(RANDOM_POOL_BYTES);
    randomPoolOffset = 0;
  }
  const out = randomPool.slice(randomPoolOffset, randomPoolOffset + count);
  randomPoolOffset += count;
  return out;
}

/** The map key of a peer; the port comes first so IPv6 colons cannot make it ambiguous. */
export function peerKey(address: string, port: number): string {
  return `${port}/${address}`;
}

/**
 * Binds a UDP socket of the address's family and asks for a receive buffer of
 * `receiveBufferBytes` (null: the system's default); rejects when binding (or looking up a host
 * name) fails. A dual-stack socket (bound to "::") sends to an IPv4 address at its IPv4-mapped
 * form; its receivers unmap the sources (unmappedAddress), so that sessions know an IPv4 peer by
 * its IPv4 address.
 */
export async function bindSocket(
  host: string,
  port: number,
  receiveBufferBytes: number | null = null,
  resolveHost: (host: string) => Promise<string> = systemResolver,
): Promise<Socket> {
  // A host name is bound where the peers find it: its first address of either family, as the
  // address book looks names up (a socket of the name's type would look up IPv4 only, and glibc
  // answers that for a name of ::1 alone with 127.0.0.1, where no peer sends).
  const address = isIP(host) === 0 ? await resolveHost(host) : host;
  // isIP tries the IPv4 pattern first: an IPv4 address never compiles Node's IPv6 regular
  // expression, which isIPv6 compiles on its first call (3.5-5 ms of every agent's start-up, issue 17).
  // A dual-stack socket sends to IPv4 peers at their IPv4-mapped form (address-family.ts).
  const lookup = literalLookup(isDualStack(address));
  const socket = createSocket({ type: isIP(address) === 6 ? 'udp6' : 'udp4', lookup });
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      socket.close();
      reject(error);
    };
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
      if (receiveBufferBytes !== null) socket.setRecvBufferSize(receiveBufferBytes);
      resolve(socket);
    });
  });
}

/** Closes a socket and resolves once it is closed. */
export function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.close(() => resolve());
  });
}

/** How often idle sessions are looked for: a quarter of the idle timeout, within 25 ms..30 s. */
export function sweepIntervalMs(sessionIdleTimeoutMs: number): number {
  return Math.min(30_000, Math.max(25, Math.floor(sessionIdleTimeoutMs / 4)));
}

/**
 * Closes sessions that received nothing for `idleMs`, checking every
 * {@link sweepIntervalMs}. `sessions` lists the established sessions to check.
 */
export class IdleSweeper {
  private timer: TimerHandle | null = null;

  constructor(
    private readonly timers: Timers,
    private readonly idleMs: number,
    private readonly sessions: () => Iterable<{
      readonly lastReceivedMs: number;
      close(): void;
      drop(reason: 'internal'): void;
    }>,
    private readonly onExpired: () => void,
    private readonly onError: (error: unknown) => void,
  ) {
    this.arm();
  }

  /** Stops sweeping. */
  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private arm(): void {
    this.timer = this.timers.setTimer(sweepIntervalMs(this.idleMs), () => {
      const oldestMs = this.timers.nowMs() - this.idleMs;
      // Copy first: closing a session removes it from the collection being walked.
      for (const session of [...this.sessions()]) {
        if (session.lastReceivedMs >= oldestMs) continue;
        this.onExpired();
        try {
          session.close();
        } catch (error) {
          // A timer callback must not throw: report the bug and drop the session silently.
          this.onError(error);
          session.drop('internal');
        }
      }
      this.arm();
    });
  }
}
