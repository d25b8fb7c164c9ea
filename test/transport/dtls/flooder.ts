// A hostile DTLS client for the flood tests and the dtls-flood bench: from many UDP ports of
// one source address it completes the cookie exchange (ClientHello, HelloVerifyRequest,
// ClientHello with the cookie) and then goes silent, leaving the server a half-open handshake.
// In 'continuous' mode each port starts over with a fresh random as soon as the server
// answered (ServerHello) or refused silently (no answer within `retryAfterMs`), for as long as
// the flood runs (optionally after sending a ClientKeyExchange, so the server builds a full
// session for it); in 'once' mode each port goes on until it is admitted once (a port the
// server refused or did not answer starts over after `retryAfterMs`).
//
// Run as a program (`node --import tsx test/transport/dtls/flooder.ts '<json options>'`) it
// floods in its own process, prints `READY` once every port is bound, and prints its figures
// as one JSON line at the end, so that the server's event loop is not shared with the flood.
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ContentType, DTLS_1_2, HandshakeType, TLS_PSK_WITH_AES_128_CCM_8 } from '../../../transport/dtls/constants.js';
import { encodeHandshakeFragment } from '../../../transport/dtls/fragments.js';
import {
  encodeClientHello,
  encodePskIdentity,
  parseHelloVerifyRequest,
} from '../../../transport/dtls/handshake-messages.js';
import { encodeRecord, splitRecords } from '../../../transport/dtls/record.js';

/** What to flood, from where, and how. */
export interface FloodOptions {
  readonly serverAddress: string;
  readonly serverPort: number;
  /** The source address of every port (loopback has all of 127/8). */
  readonly sourceAddress: string;
  readonly ports: number;
  readonly mode: 'once' | 'continuous';
  /** Stop after this long, in ms. */
  readonly durationMs: number;
  /** A port that got no answer for this long starts over, in ms. Default 300. */
  readonly retryAfterMs?: number;
  /**
   * What a port sends after the server's ServerHello flight: nothing (the default), or a
   * ClientKeyExchange alone, which makes the server build a session that waits for a
   * Finished that never comes.
   */
  readonly secondFlight?: 'none' | 'key-exchange';
}

/** What a flood achieved. */
export interface FloodFigures {
  /** ClientHellos without a cookie sent. */
  readonly hellosSent: number;
  /** ClientHellos with a valid cookie sent (each one a half-open handshake if admitted). */
  readonly verifiedHellosSent: number;
  /** ServerHellos received: verified hellos the server admitted. */
  readonly admitted: number;
}

/** A ClientHello record offering only TLS_PSK_WITH_AES_128_CCM_8. */
export function clientHelloRecord(random: Uint8Array, cookie: Uint8Array, messageSeq: number): Uint8Array {
  const body = encodeClientHello({
    version: DTLS_1_2,
    random,
    sessionId: new Uint8Array(0),
    cookie,
    cipherSuites: [TLS_PSK_WITH_AES_128_CCM_8],
    compressionMethods: Uint8Array.of(0),
    extensions: [],
  });
  return encodeRecord(
    ContentType.handshake,
    DTLS_1_2,
    0,
    messageSeq,
    encodeHandshakeFragment(HandshakeType.clientHello, body.length, messageSeq, 0, body),
  );
}

/** A ClientKeyExchange record presenting the PSK identity `identity` (message_seq 2, after the two ClientHellos). */
export function clientKeyExchangeRecord(identity: string): Uint8Array {
  const body = encodePskIdentity(Buffer.from(identity));
  return encodeRecord(
    ContentType.handshake,
    DTLS_1_2,
    0,
    2,
    encodeHandshakeFragment(HandshakeType.clientKeyExchange, body.length, 2, 0, body),
  );
}

/** The handshake type of the first record of a datagram, or null. */
function firstHandshakeType(datagram: Uint8Array): number | null {
  const record = splitRecords(datagram, 4).records[0];
  if (record?.type !== ContentType.handshake) return null;
  return record.fragment[0] ?? null;
}

/** One attacking port: a tiny state machine driven by the server's answers and a retry timer. */
class FloodPort {
  private random = randomBytes(32);
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Whether the verified hello is out and its ServerHello not yet counted (the server may repeat it). */
  private awaitingServerHello = false;

  constructor(
    private readonly socket: Socket,
    private readonly options: FloodOptions,
    private readonly figures: { hellosSent: number; verifiedHellosSent: number; admitted: number },
  ) {
    socket.on('message', (datagram) => this.onAnswer(datagram));
  }

  start(): void {
    if (this.stopped) return;
    this.awaitingServerHello = false;
    this.random = randomBytes(32);
    this.send(clientHelloRecord(this.random, new Uint8Array(0), 0));
    this.figures.hellosSent += 1;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
  }

  private send(datagram: Uint8Array): void {
    this.socket.send(datagram, this.options.serverPort, this.options.serverAddress);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.start(), this.options.retryAfterMs ?? 300);
  }

  private onAnswer(datagram: Uint8Array): void {
    if (this.stopped) return;
    const type = firstHandshakeType(datagram);
    if (type === HandshakeType.helloVerifyRequest) {
      const record = splitRecords(datagram, 4).records[0];
      const hvr = record === undefined ? null : parseHelloVerifyRequest(record.fragment.subarray(12));
      if (hvr === null) return;
      this.send(clientHelloRecord(this.random, hvr.cookie, 1));
      this.figures.verifiedHellosSent += 1;
      this.awaitingServerHello = true;
    } else if (type === HandshakeType.serverHello && this.awaitingServerHello) {
      this.awaitingServerHello = false;
      this.figures.admitted += 1;
      if (this.options.secondFlight === 'key-exchange')
        this.socket.send(clientKeyExchangeRecord('flood'), this.options.serverPort, this.options.serverAddress);
      // Silent from here on: the server holds a half-open handshake for this port.
      if (this.options.mode === 'continuous') this.start();
      else if (this.timer !== null) clearTimeout(this.timer);
    }
  }
}

/** A running flood: stop it to get its figures. */
export interface Flood {
  stop(): Promise<FloodFigures>;
}

/** Binds `options.ports` sockets on the source address and starts flooding. */
export async function startFlood(options: FloodOptions): Promise<Flood> {
  const figures = { hellosSent: 0, verifiedHellosSent: 0, admitted: 0 };
  const sockets = await Promise.all(
    Array.from(
      { length: options.ports },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = createSocket('udp4');
          socket.once('error', reject);
          socket.bind(0, options.sourceAddress, () => resolve(socket));
        }),
    ),
  );
  const ports = sockets.map((socket) => new FloodPort(socket, options, figures));
  for (const port of ports) port.start();
  let stopped: Promise<FloodFigures> | null = null;
  let timer: NodeJS.Timeout | null = null;
  const stop = (): Promise<FloodFigures> => {
    stopped ??= (async () => {
      if (timer !== null) clearTimeout(timer);
      for (const port of ports) port.stop();
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      // Release the sockets: a memory test measures the server after the flood.
      ports.length = 0;
      sockets.length = 0;
      return { ...figures };
    })();
    return stopped;
  };
  timer = setTimeout(() => void stop(), options.durationMs).unref();
  return { stop };
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as FloodOptions;
  const flood = await startFlood(options);
  process.stdout.write('READY\n');
  const done = new Promise<void>((resolve) => {
    setTimeout(resolve, options.durationMs);
    process.stdin.once('end', resolve);
    process.stdin.resume();
  });
  await done;
  process.stdout.write(`${JSON.stringify(await flood.stop())}\n`);
  process.exit(0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) void main();
