// Proves ownRequestBytes (agent/runtime/own-bytes.ts): the copy of an AppendEntries or a
// ClientForward request keeps every field of the request it copies (it is built field by field,
// so a field it forgot would vanish here), and its byte fields no longer share memory with the
// received message.
import { strict as assert } from 'node:assert';
import { ownRequestBytes } from '../../../agent/runtime/own-bytes.js';
import type { AppendEntriesRequest, ClientForwardRequest } from '../../../contracts/messages.js';

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
    const owned = ownRequestBytes(request);
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
    const owned = ownRequestBytes(request);
    assert.deepStrictEqual(owned, { ...request, payload: Uint8Array.of(2, 3) });
    assert.equal(Object.keys(owned).length, Object.keys(request).length);
    assert.ok(owned.type === 'ClientForwardRequest');
    assert.notEqual(owned.payload.buffer, received.buffer);
  });
});
