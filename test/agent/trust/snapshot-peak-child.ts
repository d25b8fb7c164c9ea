// Run by node-state.test.ts in a process of its own: fills a replica (TrustedStateMachine over a
// KvStateMachine) with `argv[2]` MiB of values, then takes one snapshot, and prints JSON with the
// image's size and how far the process's peak resident memory (VmHWM) rose during the snapshot.
import { readFileSync } from 'node:fs';
import { encodeKvCommand, KvStateMachine } from '../../../agent/kv/index.js';
import { TrustedStateMachine } from '../../../agent/trust/trusted-state-machine.js';

const MIB = 1024 * 1024;
const VALUE_BYTES = 16 * 1024;

function peakBytes(): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

const dataMiB = Number(process.argv[2] ?? 32);
const kv = new KvStateMachine({ keyCountMax: 100_000, dataBytesMax: 2 * dataMiB * MIB });
const replica = new TrustedStateMachine(kv, { cluster: 'plant-a', genesisAdminKey: null });
const value = new Uint8Array(VALUE_BYTES).fill(0x61);
const keys = (dataMiB * MIB) / VALUE_BYTES;
for (let i = 0; i < keys; i += 1) {
  const command = encodeKvCommand({
    op: 'put',
    key: `k${String(i).padStart(6, '0')}`,
    value,
    returnPrevious: false,
    timeMs: 1_700_000_000_000,
    session: null,
  });
  replica.apply({ term: 1, index: i + 1, type: 'command', command });
}
// Settle what filling allocated, so that the peak that follows is the snapshot's.
globalThis.gc?.();
const before = peakBytes();
const image = replica.snapshot();
const after = peakBytes();
process.stdout.write(`${JSON.stringify({ imageBytes: image.byteLength, peakRiseBytes: after - before })}\n`);
