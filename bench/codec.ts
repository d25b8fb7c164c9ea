/**
 * Codec benchmark: encode, decode and encode+decode operations per second and bytes per
 * message for each serializer, on three messages: a heartbeat (an empty AppendEntries), an
 * AppendEntries with 100 entries of 128 bytes, and an InstallSnapshot with a 1 MiB chunk.
 * It prints one line per codec and message as it goes and returns the figures, plus whether
 * the aim holds (CBOR encodes+decodes the 100-entry AppendEntries at least 20,000 times per
 * second and at least 3 times as often as JSON).
 *
 * Options: `--duration-ms N` per measurement (default 1000), `--codec NAME` (repeatable).
 * Run: `npm run bench -- codec [--json]`.
 */
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import type { RpcMessage } from '../contracts/messages.js';
import { createSerializer, DEFAULT_CODEC_LIMITS, SERIALIZER_NAMES } from '../codec/index.js';
import type { SerializerName } from '../codec/index.js';

/** The figures of one codec on one message (operations per second of wall-clock time unless named per CPU second). */
export interface CodecFigures {
  readonly bytesPerMessage: number;
  readonly encodePerSecond: number;
  readonly decodePerSecond: number;
  readonly roundTripPerSecond: number;
  readonly roundTripPerCpuSecond: number;
}

const MIB = 1024 * 1024;

/** The benchmark messages, with payloads filled deterministically. */
export function benchMessages(): Readonly<Record<string, RpcMessage>> {
  const fill = (size: number, seed: number): Uint8Array =>
    Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff);
  return {
    heartbeat: {
      type: 'AppendEntriesRequest',
      term: 42,
      leaderId: 'gateway-01',
      prevLogIndex: 123_456,
      prevLogTerm: 42,
      entries: [],
      leaderCommit: 123_450,
    },
    appendEntries100x128: {
      type: 'AppendEntriesRequest',
      term: 42,
      leaderId: 'gateway-01',
      prevLogIndex: 123_456,
      prevLogTerm: 42,
      entries: Array.from({ length: 100 }, (_, i) => ({
        term: 42,
        index: 123_457 + i,
        type: 'command' as const,
        command: fill(128, i),
      })),
      leaderCommit: 123_450,
    },
    installSnapshot1MiB: {
      type: 'InstallSnapshotRequest',
      term: 42,
      leaderId: 'gateway-01',
      lastIncludedIndex: 100_000,
      lastIncludedTerm: 41,
      offset: 0,
      data: fill(MIB, 7),
      done: false,
      totalBytes: 5 * MIB,
      configuration: {
        voters: ['gateway-01', 'gateway-02', 'gateway-03'],
        learners: [],
        oldVoters: null,
        members: ['01', '02', '03'].map((n) => ({ id: `gateway-${n}`, address: `10.0.0.${n}:5684` })),
      },
    },
  };
}

/** Operations per second of wall-clock time and of process CPU time. */
interface Rate {
  readonly perSecond: number;
  /**
   * Per second of CPU time used by the whole process (GC threads included, so a lower bound of
   * what one core does): steadier than wall-clock time on a shared machine.
   */
  readonly perCpuSecond: number;
}

/** The rate of `action` over about `durationMs` (after a short warm-up). */
function measure(durationMs: number, action: () => number): Rate {
  let sink = 0;
  const warmUpEnd = performance.now() + Math.min(200, durationMs / 4);
  while (performance.now() < warmUpEnd) sink += action();
  let count = 0;
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  let now = start;
  // Check the clock every few operations so that timing costs little beside a heartbeat.
  while (now - start < durationMs) {
    for (let i = 0; i < 16; i += 1) sink += action();
    count += 16;
    now = performance.now();
  }
  const cpu = process.cpuUsage(cpuStart);
  if (sink < 0) throw new Error('unreachable: keeps the results alive');
  return {
    perSecond: Math.round((count * 1000) / (now - start)),
    perCpuSecond: Math.round((count * 1e6) / (cpu.user + cpu.system)),
  };
}

function parseArgs(args: readonly string[]): { durationMs: number; codecs: SerializerName[] } {
  let durationMs = 1000;
  const codecs: SerializerName[] = [];
  for (let i = 0; i < args.length; i += 1) {
    const value = args[i + 1];
    if (args[i] === '--duration-ms' && value !== undefined) {
      durationMs = Number(value);
      i += 1;
    } else if (args[i] === '--codec' && value !== undefined) {
      const name = SERIALIZER_NAMES.find((candidate) => candidate === value);
      if (name === undefined) throw new Error(`--codec: expected one of ${SERIALIZER_NAMES.join(', ')}, got ${value}`);
      codecs.push(name);
      i += 1;
    }
  }
  if (!Number.isFinite(durationMs) || durationMs < 10)
    throw new Error(`--duration-ms: expected at least 10, got ${durationMs}`);
  return { durationMs, codecs: codecs.length > 0 ? codecs : [...SERIALIZER_NAMES] };
}

/** Runs the benchmark; see the module comment. */
export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const { durationMs, codecs } = parseArgs(args);
  const messages = benchMessages();
  const figures: Record<string, Record<string, CodecFigures>> = {};
  for (const name of codecs) {
    const serializer = createSerializer(name, DEFAULT_CODEC_LIMITS);
    const byMessage: Record<string, CodecFigures> = {};
    for (const [label, message] of Object.entries(messages)) {
      const bytes = serializer.encode(message);
      const roundTrip = measure(durationMs, () => serializer.decode(serializer.encode(message)).type.length);
      const result: CodecFigures = {
        bytesPerMessage: bytes.byteLength,
        encodePerSecond: measure(durationMs, () => serializer.encode(message).byteLength).perSecond,
        decodePerSecond: measure(durationMs, () => (serializer.decode(bytes).type.length > 0 ? 1 : 0)).perSecond,
        roundTripPerSecond: roundTrip.perSecond,
        roundTripPerCpuSecond: roundTrip.perCpuSecond,
      };
      byMessage[label] = result;
      console.log(
        `${name.padEnd(8)} ${label.padEnd(20)} ${String(result.bytesPerMessage).padStart(8)} B  ` +
          `encode ${String(result.encodePerSecond).padStart(8)}/s  ` +
          `decode ${String(result.decodePerSecond).padStart(8)}/s  ` +
          `encode+decode ${String(result.roundTripPerSecond).padStart(8)}/s (${result.roundTripPerCpuSecond}/CPU s)`,
      );
      // Let a pending timer or I/O of the runner through between measurements.
      await new Promise((resolve) => setImmediate(resolve));
    }
    figures[name] = byMessage;
  }
  const cbor = figures['cbor']?.['appendEntries100x128'];
  const json = figures['json']?.['appendEntries100x128'];
  const aim =
    cbor === undefined || json === undefined
      ? null
      : {
          cborRoundTripPerSecond: cbor.roundTripPerSecond,
          cborRoundTripPerCpuSecond: cbor.roundTripPerCpuSecond,
          cborOverJson: Math.round((cbor.roundTripPerSecond / json.roundTripPerSecond) * 10) / 10,
          met: cbor.roundTripPerSecond >= 20_000 && cbor.roundTripPerSecond >= 3 * json.roundTripPerSecond,
        };
  if (aim !== null) {
    console.log(
      `aim (CBOR 100-entry AppendEntries >= 20,000/s and >= 3x JSON): ${aim.met ? 'met' : 'NOT met'} ` +
        `(${aim.cborRoundTripPerSecond}/s wall, ${aim.cborRoundTripPerCpuSecond}/CPU s, ${aim.cborOverJson}x JSON)`,
    );
  }
  return { durationMs, figures, aim };
}
