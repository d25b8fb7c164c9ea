// Proves the rules of the PSK-authenticated membership manager on its own, with an in-memory
// keystore reader standing in for the KV state: unknown, revoked, unauthenticated and
// impersonating peers are refused and logged (without keys, rate-limited); a replicated key
// overrides the bootstrap file, a tombstone beats it, a removal closes the node's sessions,
// and a new key written through the log closes the sessions made with the old one.
import { strict as assert } from 'node:assert';
import { simpleConfiguration } from '../../../agent/core/membership.js';
import type { ClusterConfiguration, InboundContext, LogEntry } from '../../../agent/contracts.js';
import { encodeKvCommand } from '../../../agent/kv/index.js';
import { AuthenticatedMembershipManager } from '../../../agent/membership/authenticated.js';
import { ClusterKeystore, encodeKeystoreKey, encodeKeystoreRevoked, keystoreKey } from '../../../agent/membership/keystore.js';
import { MemoryLogger } from '../../../agent/observability/noop.js';

const key = (byte: number): Uint8Array => new Uint8Array(16).fill(byte);
const members = ['n1', 'n2', 'n3'].map((id, i) => ({ id, address: `127.0.0.1:${7000 + i}` }));

function setup(config: ClusterConfiguration = simpleConfiguration(['n1', 'n2', 'n3'], members)) {
  const logger = new MemoryLogger();
  const state = new Map<string, Uint8Array>();
  const closed: string[] = [];
  let now = 0;
  const manager = new AuthenticatedMembershipManager({
    nodeId: 'n1',
    keystore: new ClusterKeystore(new Map([['n1', key(1)], ['n2', key(2)], ['n3', key(3)]])),
    logger,
    metrics: null,
    refusalLogsPerSecondMax: 3,
    nowMs: () => now,
  });
  manager.attach(() => config, (k) => state.get(k) ?? null);
  manager.addSessionCloser({ closeSessionsOf: (id) => (closed.push(id), 1) });
  let index = 0;
  const write = (id: string, value: Uint8Array): void => {
    state.set(keystoreKey(id), value);
    index += 1;
    const entry: LogEntry = { index, term: 1, type: 'command', command: encodeKvCommand({ op: 'put', key: keystoreKey(id), value, returnPrevious: false, session: null, timeMs: 0 }) };
    manager.onApplied(entry);
  };
  return { manager, logger, closed, write, advance: (ms: number) => (now += ms) };
}

const from = (identity: string | null): InboundContext => ({ peerIdentity: identity, remoteAddress: '127.0.0.1:9999' });
const warnings = (logger: MemoryLogger): string[] => logger.records.filter((r) => r.level === 'warning').map((r) => r.message);

describe('AuthenticatedMembershipManager', () => {
  it('accepts a member authenticated as itself', () => {
    const { manager } = setup();
    assert.equal(manager.authenticateNode('n2', from('n2')), true);
    assert.deepEqual(manager.pskLookup('n2'), key(2));
  });

  it('refuses an unauthenticated peer, an impersonator, an unknown identity and a non-member, and logs each', () => {
    const { manager, logger } = setup();
    assert.equal(manager.authenticateNode('n2', from(null)), false);
    assert.equal(manager.authenticateNode('n2', from('n3')), false);
    assert.equal(manager.pskLookup('n9'), null);
    assert.equal(manager.authenticateNode('n9', from('n9')), false);
    assert.deepEqual(warnings(logger), [
      'refused a peer rpc: the transport did not authenticate the peer',
      'refused a peer rpc: authenticated as n3 but claims to be n2',
      'refused a peer handshake: unknown or revoked identity',
    ]);
  });

  it('refuses a keyed identity that is not in the configuration', () => {
    const { manager, logger, write } = setup(simpleConfiguration(['n1', 'n2'], members.slice(0, 2)));
    write('n3', encodeKeystoreKey(key(3)));
    assert.equal(manager.authenticateNode('n3', from('n3')), false);
    assert.match(warnings(logger).join('\n'), /not a member of the cluster/);
  });

  it('rate-limits refusal logs but never logs a key', () => {
    const { manager, logger, advance } = setup();
    for (let i = 0; i < 10; i += 1) manager.pskLookup('intruder');
    assert.equal(warnings(logger).length, 3);
    advance(1000);
    manager.pskLookup('intruder');
    assert.equal(warnings(logger).length, 4);
    const text = JSON.stringify(logger.records);
    for (const byte of [1, 2, 3]) assert.equal(text.includes(Buffer.from(key(byte)).toString('hex')), false);
  });

  it('validates a new node only with a well-formed id and a key in the keystore', () => {
    const { manager, write } = setup();
    assert.equal(manager.validateNewNode('n4', '127.0.0.1:7010').ok, false);
    assert.equal(manager.validateNewNode('bad id\n', '127.0.0.1:7010').ok, false);
    write('n4', encodeKeystoreKey(key(4)));
    assert.deepEqual(manager.validateNewNode('n4', '127.0.0.1:7010'), { ok: true });
  });

  it('revokes a removed node at once and for good once the tombstone is written', () => {
    const { manager, closed, write } = setup();
    manager.handleNodeRemoval('n3');
    assert.deepEqual(closed, ['n3']);
    assert.equal(manager.pskLookup('n3'), null);
    assert.equal(manager.authenticateNode('n3', from('n3')), false);
    assert.equal(manager.validateNewNode('n3', '127.0.0.1:7002').ok, false);
    write('n3', encodeKeystoreRevoked());
    // A fresh manager (a restart) reads the tombstone instead of the bootstrap file.
    const restarted = new ClusterKeystore(new Map([['n3', key(3)]]));
    restarted.attach((k) => (k === keystoreKey('n3') ? encodeKeystoreRevoked() : null));
    assert.equal(restarted.keyOf('n3'), null);
  });

  it('a rotated key replaces the old one and closes the sessions made with it; re-adding clears a revocation', () => {
    const { manager, closed, write } = setup();
    write('n2', encodeKeystoreKey(key(9)));
    assert.deepEqual(manager.pskLookup('n2'), key(9));
    assert.deepEqual(closed, ['n2']);
    manager.handleNodeRemoval('n2');
    assert.equal(manager.pskLookup('n2'), null);
    write('n2', encodeKeystoreKey(key(10)));
    assert.deepEqual(manager.pskLookup('n2'), key(10));
  });
});

describe('ClusterKeystore cache', () => {
  it('keeps applied entries across a restart (mode 0600) until the log is re-applied', async () => {
    const { mkdtempSync, rmSync, statSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'coraft-keystore-'));
    try {
      const file = join(dir, 'keystore-cache.json');
      const state = new Map<string, Uint8Array>([[keystoreKey('n4'), encodeKeystoreKey(key(4))], [keystoreKey('n3'), encodeKeystoreRevoked()]]);
      const before = new ClusterKeystore(new Map([['n3', key(3)]]), file);
      before.attach((k) => state.get(k) ?? null);
      before.remember('n4');
      before.remember('n3');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const after = new ClusterKeystore(new Map([['n3', key(3)]]), file);
      assert.deepEqual(after.keyOf('n4'), key(4), 'a member that joined later is still known');
      assert.equal(after.keyOf('n3'), null, 'a revoked key stays revoked despite the bootstrap file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
