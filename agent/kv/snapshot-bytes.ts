/**
 * A KV snapshot written into one buffer (issue 17). Encoding every entry on its own and then
 * joining the pieces held the store's bytes twice while a snapshot was taken (the pieces and the
 * joined copy), on top of the previous snapshot the core still holds: about 60 MiB for a 16 MiB
 * store of 4 KiB values. Here each entry is encoded into one small scratch buffer and copied at
 * once into an output sized to a bound of the whole, so a snapshot allocates its own size and
 * a scratch buffer. The bytes are exactly those of the pieces joined (test/agent/kv/snapshot-bytes.test.ts).
 */
import { Encoder } from 'cbor-x';
import { CBOR_OUTPUT_BYTES_INITIAL } from './cbor-output.js';
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

/**
 * Writes the encoding of `parts` into `out` from `at` (it must have kvSnapshotBytesBound(parts)
 * bytes of room there); returns where it ends.
 */
export function writeKvSnapshot(parts: KvSnapshotParts, out: Uint8Array, at: number): number {
  const scratch = Buffer.allocUnsafeSlow(SNAPSHOT_SCRATCH_BYTES);
  let end = at;
  const put = (bytes: Uint8Array): void => {
    out.set(bytes, end);
    end += bytes.byteLength;
  };
  put(parts.prefix);
  for (let i = 0; i < parts.entries.keys.length; i += 1) {
    redirect.useBuffer(scratch);
    put(encodeKvEntry(parts, i));
  }
  // Later encodings (whose views callers keep) must not land in the scratch buffer.
  redirect.useBuffer(Buffer.allocUnsafeSlow(CBOR_OUTPUT_BYTES_INITIAL));
  put(parts.suffix);
  assert(end - at <= kvSnapshotBytesBound(parts), 'a snapshot fits its bound');
  return end;
}

/** The encoding of `parts` (what joining kvSnapshotPieces(parts) gives), in one buffer. */
export function encodeKvSnapshotParts(parts: KvSnapshotParts): Uint8Array {
  const out = Buffer.allocUnsafeSlow(kvSnapshotBytesBound(parts));
  return out.subarray(0, writeKvSnapshot(parts, out, 0));
}
