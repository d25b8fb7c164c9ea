/**
 * DTLS flood bench: how long a member's handshake takes while cookie-completing ClientHellos
 * flood the server from many ports, and how much the server's memory grows meanwhile.
 *
 * The server runs in one child process (bench/_dtls-flood-server.ts, default limits, the
 * member's host configured as a member address), the flood in another
 * (test/transport/dtls/flooder.ts: each port completes the cookie exchange, goes silent, and
 * starts over), and this process plays the member: one fresh client endpoint per probe,
 * one probe after another, each timed from its first ClientHello to the established session.
 *
 * Memory: the server's RSS before the flood (after a collection), its highest RSS during the
 * flood (mostly garbage the collector has not reclaimed yet), and its heap after a collection
 * at the end of the flood, while the flooded half-open handshakes are still held.
 *
 * `npm run bench -- dtls-flood [--json] [--seconds 30] [--ports 200] [--mode continuous|once]
 *   [--flood-address 127.0.0.1] [--member-address 127.0.0.1] [--server-options '{"…":…}']`
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { DtlsClientEndpoint } from '../transport/dtls/client.js';

const PSK = Buffer.from('dtls flood bench key');
const PROBE_TIMEOUT_MS = 30_000;

interface ServerSample {
  readonly afterGc?: boolean;
  readonly rss: number;
  readonly heapUsed: number;
  readonly halfOpen: number;
  readonly stats: Record<string, unknown>;
}

function option(args: readonly string[], name: string, fallback: string): string {
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (arg === `--${name}`) return args[i + 1] ?? fallback;
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
  }
  return fallback;
}

function child(
  script: string,
  args: readonly string[],
  nodeFlags: readonly string[] = [],
): ChildProcessWithoutNullStreams {
  const path = fileURLToPath(new URL(script, import.meta.url));
  return spawn(process.execPath, [...nodeFlags, '--import', 'tsx', path, ...args], { stdio: 'pipe' });
}

function firstLine(process: ChildProcessWithoutNullStreams, what: string): Promise<string> {
  const lines = createInterface({ input: process.stdout });
  return new Promise((resolve, reject) => {
    lines.once('line', resolve);
    process.once('exit', (code) => reject(new Error(`${what} exited with ${String(code)}`)));
  });
}

/** Times one member handshake with a fresh endpoint; null when it failed or took over the timeout. */
async function probe(address: string, port: number, bindAddress: string): Promise<number | null> {
  const client = await DtlsClientEndpoint.open({
    identity: 'member',
    psk: PSK,
    bindAddress,
    handshakeTimeoutMs: PROBE_TIMEOUT_MS,
  });
  const start = performance.now();
  try {
    await client.connect(address, port);
    return performance.now() - start;
  } catch {
    // The failure itself is the figure: the probe counts as failed.
    return null;
  } finally {
    await client.close();
  }
}

function mib(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}

/** Asks the server to collect garbage and resolves with the sample it takes right after. */
async function collected(
  server: ChildProcessWithoutNullStreams,
  samples: readonly ServerSample[],
): Promise<ServerSample> {
  const seen = samples.length;
  server.stdin.write('gc\n');
  for (let i = 0; i < 200; i += 1) {
    const sample = samples.slice(seen).find((s) => s.afterGc === true);
    if (sample !== undefined) return sample;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the flood server did not answer gc');
}

function summary(values: readonly number[]): { readonly p50Ms: number; readonly maxMs: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number =>
    Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN) * 10) / 10;
  return { p50Ms: at(0.5), maxMs: at(1) };
}

/**
 * A member's handshakes while the flood runs (from `floodStart`, for `seconds`), one every half
 * second after a second for the flood to fill the server's tables, each printed with the server's
 * latest sample.
 */
async function probeDuringFlood(
  port: number,
  memberAddress: string,
  floodStart: number,
  seconds: number,
  samples: readonly ServerSample[],
): Promise<{ readonly timings: number[]; readonly failures: number }> {
  const timings: number[] = [];
  let failures = 0;
  await new Promise((r) => setTimeout(r, 1000));
  while (performance.now() - floodStart < seconds * 1000) {
    const ms = await probe('127.0.0.1', port, memberAddress);
    if (ms === null) failures += 1;
    else timings.push(ms);
    console.log(
      `  t=${((performance.now() - floodStart) / 1000).toFixed(1)} s member ` +
        `handshake ${ms === null ? 'FAILED' : `${ms.toFixed(1)} ms`}, server ` +
        `half-open ${samples.at(-1)?.halfOpen ?? '?'}, RSS ${((samples.at(-1)?.rss ?? 0) / 2 ** 20).toFixed(1)} MiB`,
    );
    await new Promise((r) => setTimeout(r, 500));
  }
  return { timings, failures };
}

/** Starts the flooder process against the server's `port`; resolves once it floods (its first line). */
async function startFlooder(
  port: number,
  floodAddress: string,
  ports: number,
  mode: string,
  seconds: number,
): Promise<{ readonly flooder: ReturnType<typeof child>; readonly floodLines: Interface }> {
  const flooder = child('../test/transport/dtls/flooder.ts', [
    JSON.stringify({
      serverAddress: '127.0.0.1',
      serverPort: port,
      sourceAddress: floodAddress,
      ports,
      mode,
      durationMs: seconds * 1000 + 60_000,
    }),
  ]);
  flooder.stderr.pipe(process.stderr);
  const floodLines = createInterface({ input: flooder.stdout });
  await new Promise<void>((resolve) => floodLines.once('line', () => resolve()));
  return { flooder, floodLines };
}

/** Runs the bench; see the module comment for the arguments. */
export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const seconds = Number(option(args, 'seconds', '30'));
  const ports = Number(option(args, 'ports', '200'));
  const floodAddress = option(args, 'flood-address', '127.0.0.1');
  const memberAddress = option(args, 'member-address', '127.0.0.1');
  const mode = option(args, 'mode', 'continuous');
  const serverOptions = option(args, 'server-options', '{}');
  const server = child('./_dtls-flood-server.ts', [memberAddress, serverOptions], ['--expose-gc']);
  server.stderr.pipe(process.stderr);
  const { port } = JSON.parse(await firstLine(server, 'flood server')) as { port: number };
  const samples: ServerSample[] = [];
  createInterface({ input: server.stdout }).on('line', (line) => samples.push(JSON.parse(line) as ServerSample));
  const quiet = await probe('127.0.0.1', port, memberAddress);
  const baseline = await collected(server, samples);
  console.log(
    `dtls-flood: ${ports} ports of ${floodAddress} flooding (${mode}) for ${seconds} s, member ` +
      `at ${memberAddress}, server options ${serverOptions}; quiet handshake ${quiet?.toFixed(1) ?? 'failed'} ms, ` +
      `server RSS ${mib(baseline.rss)} MiB, heap ${mib(baseline.heapUsed)} MiB`,
  );
  const { flooder, floodLines } = await startFlooder(port, floodAddress, ports, mode, seconds);
  const floodStart = performance.now();
  const fromSample = samples.length;
  const { timings, failures } = await probeDuringFlood(port, memberAddress, floodStart, seconds, samples);
  const during = samples.slice(fromSample).filter((s) => s.afterGc !== true);
  const held = await collected(server, samples);
  const flood = new Promise<string>((resolve) => floodLines.once('line', resolve));
  flooder.stdin.end();
  const floodFigures = JSON.parse(await flood) as Record<string, number>;
  const rssMax = Math.max(...during.map((s) => s.rss));
  const halfOpenMax = Math.max(...during.map((s) => s.halfOpen));
  const last = samples.at(-1);
  server.stdin.end();
  const figures = {
    seconds,
    ports,
    floodAddress,
    memberAddress,
    quietHandshakeMs: quiet === null ? null : Math.round(quiet * 10) / 10,
    memberHandshakes: timings.length,
    memberFailures: failures,
    ...summary(timings),
    baselineRssMiB: mib(baseline.rss),
    rssGrowthMiB: mib(rssMax - baseline.rss),
    heapHeldMiB: mib(held.heapUsed - baseline.heapUsed),
    halfOpenAtEnd: held.halfOpen,
    halfOpenMax,
    flood: floodFigures,
    serverStats: last?.stats ?? null,
  };
  console.log(
    `member handshakes during the flood: ${timings.length} ok, ${failures} failed; p50 ${figures.p50Ms} ms, ` +
      `max ${figures.maxMs} ms`,
  );
  console.log(
    `server: RSS ${figures.baselineRssMiB} MiB before, +${figures.rssGrowthMiB} MiB at most during the flood; heap ` +
      `held after a collection at the end +${figures.heapHeldMiB} MiB with ${held.halfOpen} half-open; half-open ` +
      `at most ${halfOpenMax}`,
  );
  console.log(`flood: ${JSON.stringify(floodFigures)}`);
  return figures;
}
