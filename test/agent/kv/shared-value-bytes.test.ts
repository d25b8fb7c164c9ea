// Proves that a large value is held once, not twice (issue 17): a log command of at least 1 KiB is
// encoded into a buffer of its own (on the leader, encodeKvCommand; on a follower, ownEntries of
// the AppendEntries it received), and the KV store keeps the value of such a command as a view of
// it instead of a copy, so the in-memory log, the WAL tail and the store share one buffer. Small
// values, values that are a small part of a larger buffer (a transaction's, a datagram's) and the
// values of a restored snapshot are copied, so a stored value never keeps a larger buffer alive:
// checked through a WeakRef to that buffer after a forced garbage collection. Without the change
// (the store copied every value; commands were views of cbor-x's shared 8-20 KiB output buffer;
// a follower copied a request's commands into one buffer) the identity checks fail.
import { strict as assert } from 'node:assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { encodeKvCommand } from '../../../agent/kv/encoding.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { STORE_VIEW_BYTES_MIN, storedBytes } from '../../../agent/kv/store.js';
import { OWN_BUFFER_BYTES_MIN, ownEntries } from '../../../agent/runtime/own-bytes.js';
import type { LogEntry } from '../../../contracts/log.js';
import type { KvCommand } from '../../../agent/kv/types.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const put = (key: string, value: Uint8Array): KvCommand => ({
  op: 'put',
  key,
  value,
  returnPrevious: false,
  timeMs: 1_700_000_000_000,
  session: null,
});

/** Whether `inner` lies inside `outer`'s bytes (the same memory, not a copy). */
function within(inner: Uint8Array, outer: Uint8Array): boolean {
  return (
    inner.buffer === outer.buffer &&
    inner.byteOffset >= outer.byteOffset &&
    inner.byteOffset + inner.byteLength <= outer.byteOffset + outer.byteLength
  );
}

describe('large values held once by the log and the store', () => {
  it('encodes a command of 1 KiB or more into a buffer of its own, one after the other', () => {
    const commands = [1, 2, 3].map((n) => encodeKvCommand(put(`k${n}`, new Uint8Array(4096).fill(n))));
    for (const command of commands) assert.equal(command.buffer.byteLength, command.byteLength);
    const small = encodeKvCommand(put('k', new Uint8Array(10)));
    assert.ok(small.byteLength < OWN_BUFFER_BYTES_MIN);
  });

  it("keeps a leader's 4 KiB value as a view of its log command", () => {
    const sm = new KvStateMachine();
    const command = encodeKvCommand(put('sensor/1', new Uint8Array(4096).fill(7)));
    sm.apply({ term: 1, index: 1, type: 'command', command });
    const stored = sm.read('sensor/1');
    assert.ok(stored !== null && within(stored.value, command), 'the store shares the command bytes');
    assert.deepEqual(stored.value, new Uint8Array(4096).fill(7));
  });

  it("keeps a follower's 4 KiB values as views of the commands it copied out of the datagram", () => {
    const values = [1, 2, 3].map((n) => new Uint8Array(4096).fill(n));
    const commands = values.map((v, i) => encodeKvCommand(put(`k${i}`, v)));
    // One received datagram carrying the three commands and a small one.
    const small = encodeKvCommand(put('tiny', new Uint8Array(8)));
    const datagram = new Uint8Array(commands.reduce((n, c) => n + c.byteLength, small.byteLength + 32));
    let at = 32;
    const received: LogEntry[] = [...commands, small].map((c, i) => {
      datagram.set(c, at);
      at += c.byteLength;
      return { term: 1, index: i + 1, type: 'command', command: datagram.subarray(at - c.byteLength, at) };
    });
    const owned = ownEntries(received, 0);
    const sm = new KvStateMachine();
    for (const entry of owned) sm.apply(entry);
    owned.slice(0, 3).forEach((entry, i) => {
      assert.equal(entry.command.buffer.byteLength, entry.command.byteLength, 'a large command owns its buffer');
      const stored = sm.read(`k${i}`);
      assert.ok(stored !== null && within(stored.value, entry.command));
      assert.deepEqual(stored.value, values[i]);
    });
    const tiny = owned[3];
    assert.ok(tiny !== undefined && tiny.command.buffer !== datagram.buffer);
    assert.notEqual(sm.read('tiny')?.value.buffer, tiny.command.buffer, 'a small value is copied');
  });

  it('copies a value that is a small part of a larger buffer, so the buffer can be collected', async () => {
    const keep = (): { kept: Uint8Array; watched: WeakRef<ArrayBufferLike> } => {
      const big = new Uint8Array(256 * 1024).fill(3);
      return {
        kept: storedBytes(big.subarray(1000, 1000 + 2 * STORE_VIEW_BYTES_MIN)),
        watched: new WeakRef(big.buffer),
      };
    };
    const { kept, watched } = keep();
    // A WeakRef keeps its target until the current job ends.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    assert.ok(watched.deref() === undefined, 'the large buffer is not kept by the stored value');
    assert.deepEqual(kept, new Uint8Array(2 * STORE_VIEW_BYTES_MIN).fill(3));
  });

  it("copies the values of a restored snapshot out of the caller's image", () => {
    const source = new KvStateMachine();
    source.apply({ term: 1, index: 1, type: 'command', command: encodeKvCommand(put('only', new Uint8Array(8000))) });
    const image = source.snapshot();
    const restored = new KvStateMachine();
    const configuration = { voters: ['n1'], learners: [], oldVoters: null, members: [] };
    restored.restore({ lastIncludedIndex: 1, lastIncludedTerm: 1, configuration }, image);
    image.fill(0xee);
    assert.deepEqual(restored.read('only')?.value, new Uint8Array(8000), 'overwriting the image changes nothing');
  });
});
