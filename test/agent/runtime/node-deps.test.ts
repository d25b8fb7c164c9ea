// Proves how the runtime sizes an AppendEntries to the transport: without a datagram limit the
// configured appendBytesMax holds; with one (NetworkClient.wholeRequestBytesMax) the limit drops
// so that an append fits one datagram. Property: for the cbor and protobuf codecs, every append
// the core builds under that limit (entries counted as command + ENTRY_OVERHEAD_BYTES, at least
// one entry) encodes within the datagram budget whenever it holds more than one entry, whatever
// the command sizes, for the largest term, index and leader id the contracts allow.
import { strict as assert } from 'node:assert';
import { createSerializer } from '../../../codec/index.js';
import { entryBytes } from '../../../agent/core/log.js';
import {
  APPEND_ENVELOPE_BYTES,
  SNAPSHOT_ENVELOPE_BYTES,
  appendBytesFor,
  coreOptionsFor,
  snapshotChunkBytesFor,
} from '../../../agent/runtime/node-deps.js';
import { NODE_ID_LENGTH_MAX, type LogEntry } from '../../../contracts/log.js';
import type { AppendEntriesRequest } from '../../../contracts/messages.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { DEFAULT_RAFT_CONFIGURATION } from '../../../contracts/raft-configuration.js';
import { PEER_WHOLE_BODY_BYTES_MAX } from '../../../transport/coap/index.js';

const MIB = 1024 * 1024;

/** What replication.ts does: entries from the head while they fit `bytesMax`, at least one. */
function sliceLikeTheCore(candidates: readonly LogEntry[], bytesMax: number): LogEntry[] {
  const out: LogEntry[] = [];
  let bytes = 0;
  for (const entry of candidates) {
    if (out.length > 0 && bytes + entryBytes(entry) > bytesMax) break;
    bytes += entryBytes(entry);
    out.push(entry);
  }
  return out;
}

describe('sizing AppendEntries to the transport', () => {
  it('keeps appendBytesMax without a datagram limit and lowers it to fit one', () => {
    assert.equal(appendBytesFor(MIB, undefined), MIB);
    assert.equal(appendBytesFor(MIB, PEER_WHOLE_BODY_BYTES_MAX), PEER_WHOLE_BODY_BYTES_MAX - APPEND_ENVELOPE_BYTES);
    assert.equal(appendBytesFor(4096, PEER_WHOLE_BODY_BYTES_MAX), 4096, 'a smaller configured limit stays');
    assert.equal(appendBytesFor(MIB, 100), 1, 'never below one byte: the core still sends one entry');
    const raft = { ...DEFAULT_RAFT_CONFIGURATION, appendBytesMax: MIB };
    assert.equal(coreOptionsFor('n1', raft, MIB).appendBytesMax, MIB);
    assert.equal(coreOptionsFor('n1', raft, MIB, 8192).appendBytesMax, 8192 - APPEND_ENVELOPE_BYTES);
    assert.equal(coreOptionsFor('n1', raft, MIB, 8192).applyBytesMax, 4 * MIB, 'apply batches are not cut');
  });

  it('sizes snapshot chunks to the datagram too, and an InstallSnapshot with five members fits', () => {
    assert.equal(snapshotChunkBytesFor(1_000_000, undefined), 1_000_000);
    const chunk = snapshotChunkBytesFor(1_000_000, PEER_WHOLE_BODY_BYTES_MAX);
    assert.equal(chunk, PEER_WHOLE_BODY_BYTES_MAX - SNAPSHOT_ENVELOPE_BYTES);
    assert.equal(
      coreOptionsFor('n1', DEFAULT_RAFT_CONFIGURATION, MIB, PEER_WHOLE_BODY_BYTES_MAX).snapshotChunkBytes,
      chunk,
    );
    const members = Array.from({ length: 5 }, (_, i) => ({
      id: `${i}`.padStart(NODE_ID_LENGTH_MAX, 'n'),
      address: `gateway-${i}.site-with-a-long-name.example.internal:5684`,
    }));
    const ids = members.map((m) => m.id);
    for (const codec of ['cbor', 'protobuf'] as const) {
      const size = createSerializer(codec).encode({
        type: 'InstallSnapshotRequest',
        term: Number.MAX_SAFE_INTEGER,
        leaderId: 'n'.repeat(NODE_ID_LENGTH_MAX),
        lastIncludedIndex: Number.MAX_SAFE_INTEGER,
        lastIncludedTerm: Number.MAX_SAFE_INTEGER,
        offset: Number.MAX_SAFE_INTEGER,
        data: new Uint8Array(chunk),
        done: false,
        totalBytes: Number.MAX_SAFE_INTEGER,
        configuration: { voters: ids, learners: [], oldVoters: ids, members },
      }).length;
      assert.ok(size <= PEER_WHOLE_BODY_BYTES_MAX, `${codec}: ${size}`);
    }
  });

  for (const codec of ['cbor', 'protobuf'] as const) {
    it(`encodes every multi-entry append within the budget (${codec}, seeded sizes)`, () => {
      const serializer = createSerializer(codec);
      const prng = new SeededPrng(16);
      const budget = PEER_WHOLE_BODY_BYTES_MAX;
      const bytesMax = appendBytesFor(MIB, budget);
      const leaderId = 'n'.repeat(NODE_ID_LENGTH_MAX);
      for (let round = 0; round < 200; round += 1) {
        const spread = [16, 300, 2000, 9000][round % 4] ?? 300;
        const candidates: LogEntry[] = Array.from({ length: 200 }, (_, i) => ({
          index: Number.MAX_SAFE_INTEGER - 200 + i,
          term: Number.MAX_SAFE_INTEGER,
          type: 'command' as const,
          command: new Uint8Array(prng.intBetween(0, spread)).fill(0xff),
        }));
        const entries = sliceLikeTheCore(candidates, bytesMax);
        const request: AppendEntriesRequest = {
          type: 'AppendEntriesRequest',
          term: Number.MAX_SAFE_INTEGER,
          leaderId,
          prevLogIndex: Number.MAX_SAFE_INTEGER - 201,
          prevLogTerm: Number.MAX_SAFE_INTEGER,
          entries,
          leaderCommit: Number.MAX_SAFE_INTEGER,
        };
        const size = serializer.encode(request).length;
        if (entries.length > 1) assert.ok(size <= budget, `${entries.length} entries encode to ${size} > ${budget}`);
      }
    });
  }
});
