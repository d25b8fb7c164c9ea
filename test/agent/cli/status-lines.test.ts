// Proves the lines `coraft status` adds to its summary from the status document: the warning
// that no peer accepts this node's keys, with how long and what to do, only when the document
// carries `keysRefused`.
import { strict as assert } from 'node:assert';
import { keysRefusedLine } from '../../../agent/cli/client-commands.js';

describe('coraft status lines', () => {
  it("warns when no peer accepts this node's keys, and only then", () => {
    assert.equal(keysRefusedLine({ nodeId: 'n3' }), null);
    assert.equal(
      keysRefusedLine({ keysRefused: { forMs: 45_400, advice: 'stop it' } }),
      "warning: no peer accepts this node's keys (every peer refused its handshakes for 45 s): stop it",
    );
  });
});
