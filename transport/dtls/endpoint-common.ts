/**
 * What both DTLS endpoints share: real timers and randomness by default, peer keys, and
 * binding and closing a UDP socket.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TimerHandle, Timers } from '../../agent/contracts.js';

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

/** Cryptographic random bytes from node:crypto. */
export function realRandomBytes(count: number): Uint8Array {
  return cryptoRandomBytes(count);
}

/** The map key of a peer; the port comes first so IPv6 colons cannot make it ambiguous. */
export function peerKey(address: string, port: number): string {
  return `${port}/${address}`;
}

/** Binds a UDP socket of the address's family; rejects when binding fails. */
export function bindSocket(address: string, port: number): Promise<Socket> {
  const socket = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      socket.close();
      reject(error);
    };
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
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
