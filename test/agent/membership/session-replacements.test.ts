// Proves that replaced peer sessions are logged with the identity and both addresses: a session
// started over from the same address at info, one pushed out by a session from another address
// at warning (a peer restarting often, or two processes holding its keys); at most one line per
// identity per period, the next one saying how many were left out, and identities apart.
import { strict as assert } from 'node:assert';
import { sessionReplacementLog } from '../../../agent/membership/session-replacements.js';
import { MemoryLogger } from '../../../agent/observability/noop.js';
import type { SessionReplacement } from '../../../transport/dtls/options.js';

const at = (port: number, address = '127.0.0.1') => ({ address, port });

describe('sessionReplacementLog', () => {
  it('logs each identity at most once a period, with both addresses and what it left out', () => {
    const logger = new MemoryLogger();
    let now = 0;
    const log = sessionReplacementLog('n2', logger, () => now, 60_000);
    const moved: SessionReplacement = { identity: 'n1', reason: 'identity', previous: at(4000), next: at(4001) };
    log(moved);
    log({ ...moved, previous: at(4001), next: at(4002, '::1') });
    log({ identity: 'n3', reason: 'address', previous: at(5000), next: at(5000) });
    now = 60_000;
    log({ ...moved, previous: at(4002), next: at(4003) });
    assert.deepEqual(
      logger.records.map((r) => [
        r.level,
        r.fields['identity'],
        r.fields['previous'],
        r.fields['next'],
        r.fields['suppressed'],
      ]),
      [
        ['warning', 'n1', '127.0.0.1:4000', '127.0.0.1:4001', 0],
        ['info', 'n3', '127.0.0.1:5000', '127.0.0.1:5000', 0],
        ['warning', 'n1', '127.0.0.1:4002', '127.0.0.1:4003', 1],
      ],
    );
    assert.match(logger.records[0]?.message ?? '', /replaced its older one from another address/);
  });
});
