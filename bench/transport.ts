/**
 * Transport bench: on loopback, for each transport, RPC round trips per second with latency
 * p50/p99 at 1 and at 64 outstanding requests, and MB/s of 64 KiB messages, beside a plain
 * node:dgram echo as the ceiling, and full DTLS 1.2 PSK handshakes per second (bench/dtls.ts;
 * client and server in this process). The server runs in a child process, as a real peer
 * would (pass --in-process to run it in this process instead). Each figure also gives the CPU
 * time this process spent per call (the client's alone, or both sides' with --in-process),
 * which other load on the machine disturbs far less than the rates.
 *
 *   npm run bench -- transport [--json] [--duration-ms=3000] [--transports=dgram,coap,coaps,http,https]
 *                              [--bulk-outstanding=4] [--in-process] [--handshakes=3000]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { measureHandshakes } from './dtls.js';
import { BENCH_TRANSPORTS, type BenchClient, type BenchServer } from './transport-factories.js';

/** One measurement. */
export interface Figures {
  readonly outstanding: number;
  readonly payloadBytes: number;
  readonly calls: number;
  readonly failures: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly megabytesPerSecond: number;
  /** CPU time of this process (user + system) per completed call, µs; robust to other load on the machine. */
  readonly cpuMicrosPerCall: number;
}

/** Most latencies recorded per measurement; beyond it calls are counted but not timed. */
const LATENCY_SAMPLES_MAX = 2_000_000;
const SMALL_PAYLOAD_BYTES = 0;
const BULK_PAYLOAD_BYTES = 64 * 1024;

function option(args: readonly string[], name: string, fallback: string): string {
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (arg === `--${name}`) return args[i + 1] ?? fallback;
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
  }
  return fallback;
}

/** Keeps `outstanding` calls running for `durationMs` and measures them. */
async function measure(
  client: BenchClient,
  outstanding: number,
  payloadBytes: number,
  durationMs: number,
): Promise<Figures> {
  const latencies = new Float64Array(LATENCY_SAMPLES_MAX);
  let recorded = 0;
  let calls = 0;
  let failures = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const endAt = started + durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < endAt) {
      const t0 = performance.now();
      try {
        await client.call(payloadBytes);
        calls += 1;
        if (recorded < LATENCY_SAMPLES_MAX) latencies[recorded++] = performance.now() - t0;
      } catch {
        // A failed call (a lost dgram, a timeout) is counted, not retried.
        failures += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: outstanding }, worker));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = latencies.subarray(0, recorded).sort();
  const quantile = (q: number): number => sorted[Math.min(recorded - 1, Math.floor(q * recorded))] ?? Number.NaN;
  return {
    outstanding,
    payloadBytes,
    calls,
    failures,
    perSecond: Math.round(calls / seconds),
    p50Ms: round3(quantile(0.5)),
    p99Ms: round3(quantile(0.99)),
    megabytesPerSecond: Math.round(((calls * payloadBytes) / seconds / 1e6) * 10) / 10,
    cpuMicrosPerCall: calls === 0 ? Number.NaN : Math.round((cpu.user + cpu.system) / calls),
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Starts the echo server of `name` in a child process; resolves with its port and a stop function. */
async function startPeerProcess(name: string): Promise<BenchServer> {
  const script = fileURLToPath(new URL('./transport-peer.ts', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script, name], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const stdout = child.stdout;
  if (stdout === null) throw new Error('child has no stdout');
  const lines = createInterface({ input: stdout });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`bench peer ${name} exited with ${String(code)}`)));
  });
  const parsed: unknown = JSON.parse(first);
  const port =
    typeof parsed === 'object' && parsed !== null && 'port' in parsed && typeof parsed.port === 'number'
      ? parsed.port
      : 0;
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin?.end();
      }),
  };
}

function describe(name: string, f: Figures): string {
  const head = `${name.padEnd(8)} ${String(f.outstanding).padStart(2)} outstanding`;
  const fails = f.failures > 0 ? `  (${f.failures} failed)` : '';
  const cpu = `  cpu ${f.cpuMicrosPerCall} µs/call`;
  if (f.payloadBytes === BULK_PAYLOAD_BYTES)
    return `${head}, 64 KiB: ${f.megabytesPerSecond} MB/s  ${f.perSecond} msg/s  p50 ${f.p50Ms} ms${cpu}${fails}`;
  return `${head}: ${f.perSecond.toLocaleString('en')} rt/s  p50 ${f.p50Ms} ms  p99 ${f.p99Ms} ms${cpu}${fails}`;
}

/** Runs the bench; see the module comment for the arguments. */
export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const durationMs = Number(option(args, 'duration-ms', '3000'));
  const bulkOutstanding = Number(option(args, 'bulk-outstanding', '4'));
  const names = option(args, 'transports', Object.keys(BENCH_TRANSPORTS).join(','))
    .split(',')
    .filter((n) => n !== '');
  const inProcess = args.includes('--in-process');
  const results: Record<string, unknown> = {};
  console.log(
    `transport bench: loopback, ${durationMs} ms per figure, ` +
      `server ${inProcess ? 'in this process' : 'in a child process'}`,
  );
  for (const name of names) {
    const transport = BENCH_TRANSPORTS[name];
    if (transport === undefined)
      throw new Error(`unknown transport ${name}; known: ${Object.keys(BENCH_TRANSPORTS).join(', ')}`);
    const server = inProcess ? await transport.startServer() : await startPeerProcess(name);
    const client = await transport.connect(server.port);
    await measure(client, 1, SMALL_PAYLOAD_BYTES, Math.min(500, durationMs));
    const figures = [
      await measure(client, 1, SMALL_PAYLOAD_BYTES, durationMs),
      await measure(client, 64, SMALL_PAYLOAD_BYTES, durationMs),
      await measure(client, bulkOutstanding, BULK_PAYLOAD_BYTES, durationMs),
    ];
    for (const f of figures) console.log(describe(name, f));
    results[name] = { rtt1: figures[0], rtt64: figures[1], bulk64KiB: figures[2] };
    await client.close();
    await server.stop();
  }
  const handshakes = Number(option(args, 'handshakes', '3000'));
  let dtlsHandshakes: Record<string, unknown> | null = null;
  if (handshakes > 0) {
    await measureHandshakes(Math.min(300, handshakes), 4);
    const sequential = await measureHandshakes(handshakes, 1);
    const concurrent = await measureHandshakes(handshakes, 16);
    console.log(
      `dtls handshakes, 1 at a time: ${sequential.handshakesPerSecond}/s  p50 ${sequential.p50Ms} ms  ` +
        `p99 ${sequential.p99Ms} ms`,
    );
    console.log(
      `dtls handshakes, 16 at a time: ${concurrent.handshakesPerSecond}/s  p50 ${concurrent.p50Ms} ms  ` +
        `p99 ${concurrent.p99Ms} ms`,
    );
    dtlsHandshakes = { sequential, concurrent16: concurrent };
  }
  return { durationMs, bulkOutstanding, inProcess, transports: results, dtlsHandshakes };
}
