// Helpers of the interop tests: running a real peer (OpenSSL, libcoap) as a child process,
// watching its output, and finding a free UDP port.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { scaledMs } from '../../timing.js';

/** Whether `command` is on the PATH. */
export function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** A free UDP port on 127.0.0.1 (bound and released; a race with other processes is unlikely). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** A child process whose combined output can be awaited. */
export class Peer {
  output = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;
  private watchers: { text: string; resolve: () => void }[] = [];

  constructor(command: string, args: readonly string[]) {
    this.child = spawn(command, args, { stdio: 'pipe' });
    const take = (chunk: Buffer): void => {
      this.output += chunk.toString();
      for (const w of this.watchers.filter((x) => this.output.includes(x.text))) w.resolve();
      this.watchers = this.watchers.filter((x) => !this.output.includes(x.text));
    };
    this.child.stdout.on('data', take);
    this.child.stderr.on('data', take);
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /**
   * Resolves once the output contains `text`; rejects (with the output) on exit or after `timeoutMs`
   * (scaled: test/timing.ts).
   */
  waitFor(text: string, timeoutMs = 10_000): Promise<void> {
    const limitMs = scaledMs(timeoutMs);
    if (this.output.includes(text)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${text}" within ${limitMs} ms; output:\n${this.output}`)),
        limitMs,
      );
      void this.exited.then(() => {
        clearTimeout(timer);
        if (this.output.includes(text)) resolve();
        else reject(new Error(`exited without "${text}"; output:\n${this.output}`));
      });
      this.watchers.push({
        text,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  write(text: string): void {
    this.child.stdin.write(text);
  }

  end(): void {
    this.child.stdin.end();
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  /** Waits for the exit, killing the process after `timeoutMs` (scaled: test/timing.ts). */
  async exit(timeoutMs = 5000): Promise<number | null> {
    const timer = setTimeout(() => this.kill(), scaledMs(timeoutMs));
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
