/**
 * The chaos harness's outside clients: every request is its own `coap-client-notls` process
 * (libcoap, Debian's libcoap3-bin), so the agents are driven by a CoAP stack that shares none of
 * our code. Each of the concurrent clients runs one operation at a time (GET, PUT or DELETE on a
 * few keys) against the local endpoint of any node, dead or paused ones included, and records it
 * in the history. No request is retried by the client: libcoap retransmits a confirmable request
 * on its own (same message id and token), and a PUT or DELETE without a definite answer is
 * recorded as `info` (it may or may not have happened).
 *
 * Two traps of such harnesses are avoided here:
 * - coap-client exits 0 whatever the answer, so the outcome is read from its output: the
 *   payload of a 2.xx on stdout, `d.dd diagnostic` of an error on stderr, nothing at all when
 *   no answer came within `-B` seconds.
 * - libcoap sets SO_REUSEADDR before the kernel picks its source port, so two concurrent
 *   processes can share a port; with libcoap's default token one could accept the other's
 *   answer. Every request gets its own random 8-byte token (`-T`).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { SeededPrng } from '../../contracts/prng.js';
import type { Completion, HistoryRecorder } from './recorder.js';
import type { ClientCounts } from './clients.js';

/** The libcoap client binary (plain CoAP: the local endpoint listens on loopback without DTLS). */
export const LIBCOAP_CLIENT = 'coap-client-notls';

/** Options of the libcoap clients. */
export interface LibcoapClientOptions {
  /** Concurrent clients. Default 6. Limit: 1 to 64. */
  readonly clients: number;
  /** Distinct keys used (k0, k1, ...). Default 8. Limit: >= 1. */
  readonly keyCount: number;
  /** How long coap-client waits for an answer (`-B`), whole seconds. Default 4. Limit: 1 to 60. */
  readonly waitSeconds: number;
  /** Pause between two operations of one client, ms, uniform in [0, max]. Default 20. */
  readonly thinkTimeMaxMs: number;
}

export const DEFAULT_LIBCOAP_CLIENT_OPTIONS: LibcoapClientOptions = {
  clients: 6,
  keyCount: 8,
  waitSeconds: 4,
  thinkTimeMaxMs: 20,
};

/** What one coap-client run answered. */
export type LibcoapAnswer =
  /** A 2.xx answer and its payload. */
  | { readonly kind: 'success'; readonly payload: string }
  /** A 4.xx or 5.xx answer: its code (e.g. "5.03") and diagnostic. */
  | { readonly kind: 'error'; readonly code: string; readonly diagnostic: string }
  /** No answer within the wait. */
  | { readonly kind: 'none' };

/** A libcoap log line: date, time, level. */
const LOG_LINE = /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? (?:EMRG|ALRT|CRIT|ERR|WARN|NOTE|INFO|DEBG|OSC)\b/;

/**
 * Reads coap-client's output: an error answer is a line `d.dd diagnostic` on stderr; otherwise
 * any stdout is a 2.xx answer's payload, and silence is no answer. A 2.xx without a payload
 * cannot be told from silence, so every request of this workload asks for an answer that has
 * one (PUT and DELETE answer JSON, a GET the value).
 */
export function parseLibcoapOutput(rawStdout: string, stderr: string): LibcoapAnswer {
  // libcoap writes its log lines (`Dec 03 09:30:08.762 WARN ...`) to stdout; `-v 0` silences them, and any left are
  // dropped.
  const stdout = rawStdout
    .split(/(?<=\n)/)
    .filter((line) => !LOG_LINE.test(line))
    .join('');
  for (const line of stderr.split('\n')) {
    const match = /^([245])\.(\d\d)(?: (.*))?$/.exec(line.trim());
    if (match === null) continue;
    const code = `${match[1] ?? ''}.${match[2] ?? ''}`;
    if (code.startsWith('2.'))
      return { kind: 'success', payload: stdout.endsWith('\n') ? stdout.slice(0, -1) : stdout };
    return { kind: 'error', code, diagnostic: match[3] ?? '' };
  }
  // coap-client ends what it prints with a newline of its own.
  const payload = stdout.endsWith('\n') ? stdout.slice(0, -1) : stdout;
  if (payload.length > 0) return { kind: 'success', payload };
  return { kind: 'none' };
}

/** The outcome of a write, in Jepsen's terms, from coap-client's answer. */
export function writeCompletion(answer: LibcoapAnswer): Completion {
  switch (answer.kind) {
    case 'success':
      return { type: 'ok', value: null };
    case 'error':
      // 4.xx: the request was refused as it stood, nothing ran. 5.xx: the node could not say.
      return { type: answer.code.startsWith('4.') ? 'fail' : 'info' };
    case 'none':
      return { type: 'info' };
  }
}

/** The outcome of a read: 2.05 with the value, 4.04 absent; anything else did not happen. */
export function readCompletion(answer: LibcoapAnswer): Completion {
  if (answer.kind === 'success') return { type: 'ok', value: answer.payload };
  if (answer.kind === 'error' && answer.code === '4.04') return { type: 'ok', value: null };
  return { type: 'fail' };
}

/** A fresh token: 8 random bytes, given to `-T` as 8 letters and digits (libcoap takes the text as the token bytes). */
export function randomToken(): string {
  return [...randomBytes(8)].map((byte) => 'abcdefghijklmnopqrstuvwxyz0123456789'[byte % 36] ?? 'a').join('');
}

/** Runs one coap-client process and reads its answer. */
export function runLibcoap(args: readonly string[], waitSeconds: number): Promise<LibcoapAnswer> {
  return new Promise((resolve, reject) => {
    execFile(
      LIBCOAP_CLIENT,
      ['-v', '0', '-B', String(waitSeconds), '-T', randomToken(), ...args],
      { timeout: (waitSeconds + 10) * 1000, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error !== null && (error.code === 'ENOENT' || error.killed === true)) {
          reject(new Error(`${LIBCOAP_CLIENT} could not run: ${error.message}`));
          return;
        }
        resolve(parseLibcoapOutput(stdout, stderr));
      },
    );
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The set of libcoap clients; values written are unique across the round (`v1`, `v2`, ...). */
export class LibcoapClients {
  readonly counts: ClientCounts = { ok: 0, fail: 0, info: 0 };
  private readonly options: LibcoapClientOptions;
  private readonly loops: Promise<void>[] = [];
  private running = false;
  private nextValue = 1;
  /** The first error that stopped a client (coap-client missing, say); the round fails with it. */
  failure: Error | null = null;

  constructor(
    private readonly endpoints: ReadonlyMap<string, string>,
    private readonly prng: SeededPrng,
    private readonly history: HistoryRecorder,
    options: Partial<LibcoapClientOptions> = {},
  ) {
    this.options = { ...DEFAULT_LIBCOAP_CLIENT_OPTIONS, ...options };
    if (this.options.clients < 1 || this.options.clients > 64) throw new Error('libcoap clients: 1 to 64');
  }

  /** Starts the clients; each sends every request to the endpoint of the node `pickNode` chooses. */
  start(pickNode: (prng: SeededPrng) => string): void {
    this.running = true;
    for (let i = 1; i <= this.options.clients; i += 1) {
      const prng = this.prng.fork();
      this.loops.push(
        this.loop(`c${i}`, prng, pickNode).catch((error: unknown) => {
          this.failure ??= error instanceof Error ? error : new Error(String(error));
          this.running = false;
        }),
      );
    }
  }

  /** Stops issuing operations and waits for those in progress. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(name: string, prng: SeededPrng, pickNode: (prng: SeededPrng) => string): Promise<void> {
    while (this.running) {
      await this.runOne(name, prng, pickNode(prng));
      await sleep(prng.intBetween(0, this.options.thinkTimeMaxMs + 1));
    }
  }

  private async runOne(name: string, prng: SeededPrng, node: string): Promise<void> {
    const endpoint = this.endpoints.get(node);
    if (endpoint === undefined) throw new Error(`no endpoint for ${node}`);
    const key = `k${prng.intBetween(0, this.options.keyCount)}`;
    const roll = prng.nextFloat();
    const op = roll < 0.5 ? 'get' : roll < 0.85 ? 'put' : 'delete';
    const uri = `coap://${endpoint}/kv/${key}`;
    const wait = this.options.waitSeconds;
    let completion: Completion;
    if (op === 'put') {
      const value = `v${this.nextValue}`;
      this.nextValue += 1;
      const id = this.history.invoke(name, 'put', key, value);
      completion = writeCompletion(await runLibcoap(['-m', 'put', '-e', value, uri], wait));
      this.history.complete(name, id, completion);
    } else {
      const id = this.history.invoke(name, op, key, null);
      const answer = await runLibcoap(['-m', op, uri], wait);
      completion = op === 'get' ? readCompletion(answer) : writeCompletion(answer);
      this.history.complete(name, id, completion);
    }
    this.counts[completion.type] += 1;
  }
}
