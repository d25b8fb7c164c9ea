/**
 * A KV snapshot written into one buffer (issue 17). Encoding every entry on its own and then
 * joining the pieces held the store's bytes twice while a snapshot was taken (the pieces and the
 * joined copy), on top of the previous snapshot the core still holds: about 60 MiB for a 16 MiB
 * store of 4 KiB values. Here each entry is encoded into one small scratch buffer and copied at
 * once into an output sized to a bound of the whole, so a snapshot allocates its own size and
 * a scratch buffer. The bytes are exactly those of the pieces joined (test/agent/kv/snapshot-bytes.test.ts).
 */
import { Encoder } from 'cbor-x';
import {
  CBOR_HEAD_ARGUMENT_MAX,
  CBOR_OUTPUT_BYTES_INITIAL,
  cborHeadBytes,
  hasSurrogate,
  writeCborBytes,
  writeCborHead,
  writeCborText,
} from './cbor-output.js';
import { assert } from '../../contracts/assert.js';
import { encodeKvEntry, type KvSnapshotParts } from './snapshot.js';

/**
 * Most bytes of an entry's CBOR besides its key's and value's own bytes: the array head (1 byte),
 * the key's and the value's heads, the revision and the lease (9 bytes each at most, RFC 8949 §3).
 */
export const ENTRY_FRAMING_BYTES_MAX = 1 + 4 * 9;
/** The scratch buffer each entry is encoded into, bytes (a larger entry gets its own, cbor-output.ts). */
export const SNAPSHOT_SCRATCH_BYTES = 64 * 1024;

/** cbor-x writes every Encoder's output into one shared buffer: this one points it at a scratch buffer. */
const redirect = new Encoder({ mapsAsObjects: true, useRecords: false });

/** At least as many bytes as the encoding of `parts` takes. */
export function kvSnapshotBytesBound(parts: KvSnapshotParts): number {
  const { keys, values } = parts.entries;
  let bound = parts.prefix.byteLength + parts.suffix.byteLength;
  for (let i = 0; i < keys.length; i += 1) {
    const key = keys[i] ?? '';
    bound += Buffer.byteLength(key, 'utf8') + (values[i]?.value.byteLength ?? 0) + ENTRY_FRAMING_BYTES_MAX;
  }
  return bound;
}

/** The bytes {@link writeEntryDirect} writes for entry `i` of `parts`, or -1 when it leaves the entry to cbor-x. */
export function directEntryBytes(parts: KvSnapshotParts, i: number): number {
  const key = parts.entries.keys[i];
  const stored = parts.entries.values[i];
  const lease = parts.leased ? (parts.entries.leases[i] ?? 0) : 0;
  if (key === undefined || stored === undefined) return -1;
  if (stored.revision > CBOR_HEAD_ARGUMENT_MAX || lease > CBOR_HEAD_ARGUMENT_MAX || hasSurrogate(key)) return -1;
  const keyBytes = Buffer.byteLength(key, 'utf8');
  const valueBytes = stored.value.byteLength;
  const leaseBytes = parts.leased ? cborHeadBytes(lease) : 0;
  return (
    1 +
    cborHeadBytes(keyBytes) +
    keyBytes +
    cborHeadBytes(valueBytes) +
    valueBytes +
    cborHeadBytes(stored.revision) +
    leaseBytes
  );
}

/**
 * Writes entry `i` of `parts` at `at` as cbor-x would encode it ([key, value, revision] and the
 * lease when leased), copying the value once; returns where it ends, or -1 when the entry needs
 * cbor-x itself (a key with a surrogate, a revision or lease past 32 bits).
 */
export function writeEntryDirect(parts: KvSnapshotParts, i: number, out: Buffer, at: number): number {
  const key = parts.entries.keys[i];
  const stored = parts.entries.values[i];
  const lease = parts.leased ? (parts.entries.leases[i] ?? 0) : 0;
  if (key === undefined || stored === undefined) return -1;
  if (stored.revision > CBOR_HEAD_ARGUMENT_MAX || lease > CBOR_HEAD_ARGUMENT_MAX || hasSurrogate(key)) return -1;
  let end = writeCborHead(out, at, 4, parts.leased ? 4 : 3);
  end = writeCborText(out, end, key);
  end = writeCborBytes(out, end, stored.value);
  end = writeCborHead(out, end, 0, stored.revision);
  return parts.leased ? writeCborHead(out, end, 0, lease) : end;
}

/**
 * Writes the encoding of `parts` into `out` from `at` (it must have kvSnapshotBytesBound(parts)
 * bytes of room there); returns where it ends. Each entry is framed here and its value copied
 * once (a snapshot of 4 KiB values is mostly those copies), the same bytes cbor-x gives
 * (test/agent/kv/snapshot-bytes.test.ts); an entry framing cannot write goes through cbor-x.
 */
export function writeKvSnapshot(parts: KvSnapshotParts, out: Uint8Array, at: number): number {
  const target = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  let scratch: Buffer | null = null;
  let end = at;
  target.set(parts.prefix, end);
  end += parts.prefix.byteLength;
  for (let i = 0; i < parts.entries.keys.length; i += 1) {
    const direct = writeEntryDirect(parts, i, target, end);
    if (direct >= 0) {
      end = direct;
      continue;
    }
    scratch ??= Buffer.allocUnsafeSlow(SNAPSHOT_SCRATCH_BYTES);
    redirect.useBuffer(scratch);
    const encoded = encodeKvEntry(parts, i);
    target.set(encoded, end);
    end += encoded.byteLength;
  }
  // Later encodings (whose views callers keep) must not land in the scratch buffer.
  if (scratch !== null) redirect.useBuffer(Buffer.allocUnsafeSlow(CBOR_OUTPUT_BYTES_INITIAL));
  target.set(parts.suffix, end);
  end += parts.suffix.byteLength;
  assert(end - at <= kvSnapshotBytesBound(parts), 'a snapshot fits its bound');
  return end;
}

/** The encoding of `parts` (what joining kvSnapshotPieces(parts) gives), in one buffer. */
export function encodeKvSnapshotParts(parts: KvSnapshotParts): Uint8Array {
  const out = Buffer.allocUnsafeSlow(kvSnapshotBytesBound(parts));
  return out.subarray(0, writeKvSnapshot(parts, out, 0));
}
