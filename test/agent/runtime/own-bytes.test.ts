// Proves ownRequestBytes (agent/runtime/own-bytes.ts): the copy of an AppendEntries or a
// ClientForward request keeps every field of the request it copies (it is built field by field,
// so a field it forgot would vanish here), and its byte fields no longer share memory with the
// received message; and, for a message whose buffer is its own (bytesOwned), the property that
// bounds what the log holds: whether copied or kept as views, the buffers the entries past the
// log's last index refer to add up to at most twice their commands' bytes, every kept command of
// OWN_BUFFER_BYTES_MIN bytes or more fills at least half of its buffer (so the store keeps its
// value as a view of it instead of a second copy), and the entries are the same byte for byte.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { OWN_BUFFER_BYTES_MIN, entriesMayStay, ownRequestBytes } from '../../../agent/runtime/own-bytes.js';
import type { LogEntry } from '../../../contracts/log.js';
import type { AppendEntriesRequest, ClientForwardRequest } from '../../../contracts/messages.js';
import { fcParams } from '../../fc-params.js';

describe('ownRequestBytes', () => {
  it('copies an AppendEntries request with every field and commands of its own', () => {
    const received = Uint8Array.of(9, 1, 2, 3, 4, 5, 9);
    const request: AppendEntriesRequest = {
      type: 'AppendEntriesRequest',
      term: 4,
      leaderId: 'n1',
      prevLogIndex: 10,
      prevLogTerm: 3,
      entries: [
        { term: 4, index: 11, type: 'command', command: received.subarray(1, 3) },
        { term: 4, index: 12, type: 'noop', command: received.subarray(3, 3) },
        { term: 4, index: 13, type: 'command', command: received.subarray(3, 6) },
      ],
      leaderCommit: 9,
    };
    const owned = ownRequestBytes(request, false, 0);
    assert.deepStrictEqual(owned, {
      ...request,
      entries: request.entries.map((e) => ({ ...e, command: new Uint8Array(e.command) })),
    });
    assert.equal(Object.keys(owned).length, Object.keys(request).length);
    assert.ok(owned.type === 'AppendEntriesRequest');
    for (const entry of owned.entries) assert.notEqual(entry.command.buffer, received.buffer);
  });

  it('copies a ClientForward request with every field and a payload of its own', () => {
    const received = Uint8Array.of(1, 2, 3, 4);
    const request: ClientForwardRequest = {
      type: 'ClientForwardRequest',
      sourceId: 'n2',
      kind: 'write',
      payload: received.subarray(1, 3),
      timeoutMs: 1500,
    };
    const owned = ownRequestBytes(request, false, 0);
    assert.deepStrictEqual(owned, { ...request, payload: Uint8Array.of(2, 3) });
    assert.equal(Object.keys(owned).length, Object.keys(request).length);
    assert.ok(owned.type === 'ClientForwardRequest');
    assert.notEqual(owned.payload.buffer, received.buffer);
  });

  it('keeps what the log takes of an owned message within twice its bytes, copied or not (property)', () => {
    const layout = fc.record({
      lengths: fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 8 }),
      gaps: fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 9, maxLength: 9 }),
      tail: fc.integer({ min: 0, max: 3000 }),
      have: fc.integer({ min: 0, max: 9 }),
    });
    fc.assert(
      fc.property(layout, ({ lengths, gaps, tail, have }) => {
        let bytes = 0;
        const spans = lengths.map((length, i) => {
          bytes += gaps[i] ?? 0;
          const span = { at: bytes, length };
          bytes += length;
          return span;
        });
        const buffer = new Uint8Array(bytes + tail);
        for (let i = 0; i < buffer.length; i += 1) buffer[i] = (i * 31) & 0xff;
        const entries: LogEntry[] = spans.map((span, i) => ({
          term: 1,
          index: i + 1,
          type: 'command',
          command: buffer.subarray(span.at, span.at + span.length),
        }));
        const request: AppendEntriesRequest = {
          type: 'AppendEntriesRequest',
          term: 1,
          leaderId: 'n1',
          prevLogIndex: 0,
          prevLogTerm: 0,
          entries,
          leaderCommit: 0,
        };
        const result = ownRequestBytes(request, true, have);
        assert.ok(result.type === 'AppendEntriesRequest');
        assert.deepStrictEqual(result.entries, entries);
        const kept = result.entries.filter((e) => e.index > have);
        const keptBytes = kept.reduce((sum, e) => sum + e.command.byteLength, 0);
        const held = new Set(kept.filter((e) => e.command.byteLength > 0).map((e) => e.command.buffer));
        const heldBytes = [...held].reduce((sum, b) => sum + b.byteLength, 0);
        assert.ok(heldBytes <= 2 * keptBytes, `${heldBytes} bytes held for ${keptBytes} kept`);
        for (const { command } of kept)
          if (command.byteLength >= OWN_BUFFER_BYTES_MIN)
            assert.ok(command.byteLength * 2 >= command.buffer.byteLength, 'a large command fills half of its buffer');
        assert.equal(result === request, entriesMayStay(entries, have));
      }),
      fcParams(300, 'own-bytes bound'),
    );
  });

  it('copies entries that are views of different buffers, owned or not', () => {
    const a = new Uint8Array(2000);
    const b = new Uint8Array(2000);
    const entries: LogEntry[] = [
      { term: 1, index: 1, type: 'command', command: a },
      { term: 1, index: 2, type: 'command', command: b },
    ];
    assert.equal(entriesMayStay(entries, 0), false);
    assert.equal(entriesMayStay([], 0), true);
  });
});
