// Helpers of the DTLS flood tests: running the flooder (flooder.ts) in a child process so it
// does not share the server's event loop, timing a member's handshake, sampling the server's
// gauges while the flood runs, and measuring the heap after a collection.
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DtlsClientEndpoint } from '../../../transport/dtls/client.js';
import type { DtlsServerEndpoint } from '../../../transport/dtls/server.js';
import type { DtlsStats } from '../../../transport/dtls/stats.js';
import type { FloodFigures, FloodOptions } from './flooder.js';

setFlagsFromString('--expose-gc');
const collect: unknown = runInNewContext('gc');

/** The heap in use after a full collection, in bytes (heap plus array buffers). */
export function heapAfterCollection(): number {
  if (typeof collect === 'function') {
    collect();
    collect();
  }
  const memory = process.memoryUsage();
  return memory.heapUsed + memory.arrayBuffers;
}

/** A flood running in a child process. */
export class ChildFlood {
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
  ) {}

  /** Starts the flooder with `options` and resolves once every port is bound. */
  static async start(options: FloodOptions): Promise<ChildFlood> {
    const script = fileURLToPath(new URL('./flooder.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(options)], { stdio: 'pipe' });
    child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.value !== 'READY') throw new Error(`flooder did not start: ${String(first.value)}`);
    return new ChildFlood(child, lines);
  }

  /** Stops the flood and resolves with its figures. */
  async stop(): Promise<FloodFigures> {
    this.child.stdin.end();
    const line = await this.lines.next();
    return JSON.parse(String(line.value)) as FloodFigures;
  }

  /** Kills the flooder (cleanup after a failed test). */
  kill(): void {
    this.child.kill('SIGKILL');
  }
}

/**
 * Times one member handshake from a fresh client endpoint bound to `bindAddress`: resolves
 * with the milliseconds it took, or rejects once `limitMs` passed without a session.
 */
export async function timeMemberHandshake(options: {
  identity: string;
  psk: Uint8Array;
  bindAddress: string;
  port: number;
  limitMs: number;
}): Promise<number> {
  const client = await DtlsClientEndpoint.open({
    identity: options.identity,
    psk: options.psk,
    bindAddress: options.bindAddress,
  });
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect('127.0.0.1', options.port),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no session within ${options.limitMs} ms`)), options.limitMs);
      }),
    ]);
    return Date.now() - started;
  } finally {
    clearTimeout(timer);
    await client.close();
  }
}

/** Samples a server's stats every 10 ms until stopped; keeps the largest gauges seen. */
export class GaugeSampler {
  readonly max = { handshakesInProgress: 0, handshakesInProgressBytes: 0, others: 0 };
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly server: DtlsServerEndpoint) {
    this.timer = setInterval(() => this.sample(), 10);
  }

  sample(): DtlsStats {
    const stats = this.server.stats();
    this.max.handshakesInProgress = Math.max(this.max.handshakesInProgress, stats.handshakesInProgress);
    this.max.handshakesInProgressBytes = Math.max(this.max.handshakesInProgressBytes, stats.handshakesInProgressBytes);
    this.max.others = Math.max(this.max.others, stats.handshakesInProgress - stats.handshakesInProgressMembers);
    return stats;
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}
