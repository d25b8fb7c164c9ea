// Proves the lines `coraft status` adds to its summary from the status document: the warning
// that no peer accepts this node's keys, with how long and what to do, only when the document
// carries `keysRefused`.
import { strict as assert } from 'node:assert';
import { PUT_ECHO_CHARS_MAX, keysRefusedLine, putLine } from '../../../agent/cli/client-commands.js';

describe('coraft status lines', () => {
  it("warns when no peer accepts this node's keys, and only then", () => {
    assert.equal(keysRefusedLine({ nodeId: 'n3' }), null);
    assert.equal(
      keysRefusedLine({ keysRefused: { forMs: 45_400, advice: 'stop it' } }),
      "warning: no peer accepts this node's keys (every peer refused its handshakes for 45 s): stop it",
    );
  });
});

describe('coraft kv put line', () => {
  it('repeats a short value whole, and a long one by its start and its size in bytes', () => {
    assert.equal(putLine('a', 'hello', 3), 'a = hello (revision 3)');
    assert.equal(putLine('a', 'x'.repeat(PUT_ECHO_CHARS_MAX), 4), `a = ${'x'.repeat(PUT_ECHO_CHARS_MAX)} (revision 4)`);
    const long = `${'é'.repeat(60)}${'y'.repeat(60_000)}`;
    const line = putLine('big', long, 5);
    assert.equal(line, `big = ${'é'.repeat(60)}... (60120 bytes) (revision 5)`);
    assert.ok(line.length < 2 * PUT_ECHO_CHARS_MAX, line);
  });
});
