// Proves the rules of the PSK-authenticated membership manager over real link keys: node n1's
// keystore holds only its own links (from its bundle), learns n4's link through a signed
// add-member applied to the replicated state (opened with n1's node secret), forgets a member
// once the configuration without it commits or a restored snapshot says so (whatever the
// bundle says), takes a rekeyed link
// over the bundle's, and closes the sessions concerned each time. Unknown, unauthenticated,
// impersonating and non-member peers are refused and logged (rate-limited, each line counting the
// ones left out before it, never with a key).
// The keystore cache keeps what was applied across a restart until the log is re-applied.
// The link toward a server address follows the replicated configuration before agent.json.
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeConfiguration, simpleConfiguration } from '../../../agent/core/configuration.js';
import type { ClusterConfiguration, LogEntry } from '../../../contracts/log.js';
import type { InboundContext } from '../../../contracts/network.js';
import { KvStateMachine } from '../../../agent/kv/index.js';
import { AuthenticatedMembershipManager } from '../../../agent/membership/authenticated.js';
import { REFUSAL_REPEAT_LOG_MS } from '../../../agent/membership/refusal-log.js';
import { LinkKeystore } from '../../../agent/membership/keystore.js';
import { MemoryLogger } from '../../../agent/observability/noop.js';
import { signAdminCommand, type AdminOperation } from '../../../agent/trust/admin-command.js';
import { deriveLinkKey, deriveNodeSecret, wrapLinkKey } from '../../../agent/trust/crypto.js';
import { KeystoreCache } from '../../../agent/trust/keystore-cache.js';
import { PeerAddresses } from '../../../agent/trust/peer-addresses.js';
import { encodeAdminEntry } from '../../../agent/trust/trust-codec.js';
import { TrustedStateMachine } from '../../../agent/trust/trusted-state-machine.js';

const CLUSTER = 'c1';
const fleet = Uint8Array.from(Buffer.alloc(32, 9));
const admin = generateKeyPairSync('ed25519');
const link = (a: string, b: string, ga = 1, gb = 1): Uint8Array => deriveLinkKey(fleet, CLUSTER, a, ga, b, gb);
const members = ['n1', 'n2', 'n3'].map((id, i) => ({ id, address: `127.0.0.1:${7000 + i}` }));
const from = (identity: string | null): InboundContext => ({ peerIdentity: identity, remoteAddress: '127.0.0.1:9999' });
const warnings = (logger: MemoryLogger): string[] =>
  logger.records.filter((r) => r.level === 'warning').map((r) => r.message);

/** Node n1: its bundle's links, the replicated state, its manager; `apply` feeds entries as the log would. */
function setup(options: { cacheFile?: string; state?: TrustedStateMachine; config?: ClusterConfiguration } = {}) {
  const logger = new MemoryLogger();
  const state =
    options.state ??
    new TrustedStateMachine(new KvStateMachine({}), { cluster: CLUSTER, genesisAdminKey: admin.publicKey });
  const keystore = new LinkKeystore(
    {
      nodeId: 'n1',
      cluster: CLUSTER,
      nodeSecret: deriveNodeSecret(fleet, CLUSTER, 'n1', 1),
      bootstrap: new Map([
        ['n2', link('n1', 'n2')],
        ['n3', link('n1', 'n3')],
      ]),
    },
    new KeystoreCache(options.cacheFile ?? null, logger),
    logger,
  );
  let now = 0;
  const manager = new AuthenticatedMembershipManager({
    nodeId: 'n1',
    keystore,
    logger,
    metrics: null,
    refusalLogsPerSecondMax: 3,
    nowMs: () => now,
    addresses: new PeerAddresses(),
  });
  let config = options.config ?? simpleConfiguration(['n1', 'n2', 'n3'], members);
  manager.attach(() => config, members, { trust: state.trust, appliedIndex: () => state.kv.lastApplied });
  state.onCredentialsChanged((ids) => manager.onCredentialsChanged(ids));
  const closed: string[] = [];
  manager.addSessionCloser({
    closeSessionsOf: (id) => (closed.push(id), 1),
    sessionIdentities: () => ['n2', 'n3', 'n4'],
  });
  const apply = (entry: Omit<LogEntry, 'index' | 'term'>): void =>
    void state.apply({ ...entry, index: state.kv.lastApplied + 1, term: 1 });
  const signed = (operation: AdminOperation): void =>
    apply({
      type: 'command',
      command: encodeAdminEntry({
        envelope: signAdminCommand(operation, CLUSTER, admin.privateKey, Date.now(), 60_000),
        timeMs: Date.now(),
      }),
    });
  const configure = (next: ClusterConfiguration): void => {
    config = next;
    apply({ type: 'config', command: encodeConfiguration(next) });
  };
  return { manager, logger, closed, state, signed, configure, advance: (ms: number) => (now += ms) };
}

const wrappedFor = (holder: string, peer: string, gHolder = 1, gPeer = 1) => {
  const generation = holder < peer ? `${gHolder}.${gPeer}` : `${gPeer}.${gHolder}`;
  return {
    holder,
    generation,
    wrapped: wrapLinkKey(
      deriveNodeSecret(fleet, CLUSTER, holder, gHolder),
      CLUSTER,
      holder,
      peer,
      generation,
      link(holder, peer, gHolder, gPeer),
    ),
  };
};
const addN4: AdminOperation = {
  op: 'add-member',
  id: 'n4',
  address: '127.0.0.1:7003',
  learner: false,
  links: ['n1', 'n2', 'n3'].map((h) => wrappedFor(h, 'n4')),
};
const withN4 = simpleConfiguration(['n1', 'n2', 'n3', 'n4'], [...members, { id: 'n4', address: '127.0.0.1:7003' }]);

describe('AuthenticatedMembershipManager with link keys', () => {
  it('accepts a member over its own link and picks the link by server address', () => {
    const { manager } = setup();
    assert.equal(manager.authenticateNode('n2', from('n2')), true);
    assert.deepEqual(manager.pskLookup('n2'), link('n1', 'n2'));
    assert.deepEqual(manager.keyForAddress('127.0.0.1', 7002), link('n1', 'n3'));
    assert.equal(manager.keyForAddress('127.0.0.1', 7999), null);
    assert.equal(manager.pskLookup('n1'), null, 'no key with itself');
  });

  it('picks the link of a member written in another form of its address (IPv4-mapped, uncompressed IPv6)', () => {
    const written = simpleConfiguration(
      ['n1', 'n2', 'n3'],
      [
        members[0] ?? { id: 'n1', address: '' },
        { id: 'n2', address: '[::ffff:127.0.0.1]:7001' },
        { id: 'n3', address: '[0:0:0:0:0:0:0:1]:7002' },
      ],
    );
    const { manager } = setup({ config: written });
    assert.deepEqual(manager.keyForAddress('127.0.0.1', 7001), link('n1', 'n2'));
    assert.deepEqual(manager.keyForAddress('::1', 7002), link('n1', 'n3'));
    assert.deepEqual(manager.addressesOf('n2'), [{ address: '127.0.0.1', port: 7001 }]);
  });

  it('picks the link by the replicated address of a member that moved, not the stale agent.json one', () => {
    // n2 moved to port 7005 and n3 took n2's old port 7001: the log says so, agent.json does not.
    const moved = simpleConfiguration(
      ['n1', 'n2', 'n3'],
      [
        members[0] ?? { id: 'n1', address: '' },
        { id: 'n2', address: '127.0.0.1:7005' },
        { id: 'n3', address: '127.0.0.1:7001' },
      ],
    );
    const { manager } = setup({ config: moved });
    assert.deepEqual(manager.keyForAddress('127.0.0.1', 7005), link('n1', 'n2'));
    assert.deepEqual(manager.keyForAddress('127.0.0.1', 7001), link('n1', 'n3'), "n2's old address is n3's now");
    assert.equal(manager.keyForAddress('127.0.0.1', 7002), null, "n3's old address is nobody's");
  });

  it('refuses an unauthenticated peer, an impersonator, an unknown identity and a non-member, and logs each', () => {
    const { manager, logger } = setup({ config: simpleConfiguration(['n1', 'n2'], members) });
    assert.equal(manager.authenticateNode('n2', from(null)), false);
    assert.equal(manager.authenticateNode('n2', from('n3')), false);
    assert.equal(manager.pskLookup('n9'), null);
    assert.equal(manager.authenticateNode('n3', from('n3')), false);
    assert.deepEqual(warnings(logger), [
      'refused a peer rpc: the transport did not authenticate the peer',
      'refused a peer rpc: authenticated as n3 but claims to be n2',
      'refused a peer handshake: no link key for this identity (unknown, removed, or not a peer of this node)',
    ]);
  });

  it('logs an unknown identity with the address its handshake came from', () => {
    const { manager, logger } = setup();
    assert.equal(manager.pskLookup('n9', { address: '::1', port: 5684 }), null);
    assert.equal(manager.pskLookup('n8'), null);
    const remotes = logger.records.filter((r) => r.level === 'warning').map((r) => r.fields.remote);
    assert.deepEqual(remotes, ['[::1]:5684', null]);
  });

  it('logs a repeated refusal once, then once a minute with the count; rate-limits distinct ones; never a key', () => {
    const { manager, logger, advance } = setup();
    for (let i = 0; i < 10; i += 1) manager.pskLookup('intruder');
    assert.equal(warnings(logger).length, 1, 'the same refusal again and again is one line');
    advance(30_000);
    manager.pskLookup('intruder');
    assert.equal(warnings(logger).length, 1);
    advance(30_000);
    manager.pskLookup('intruder');
    assert.equal(warnings(logger).length, 2, 'a minute later, one more line');
    const last = logger.records.filter((r) => r.level === 'warning').at(-1);
    assert.equal(last?.fields.suppressed, 10, 'the next line says how many were left out');
    advance(1000);
    for (let i = 0; i < 10; i += 1) manager.pskLookup(`intruder-${i}`);
    assert.equal(warnings(logger).length, 5, 'distinct refusals: at most 3 lines a second');
    advance(1000);
    manager.pskLookup('intruder-9');
    assert.equal(warnings(logger).length, 6, 'a distinct refusal left out over the rate is logged later');
    const text = JSON.stringify(logger.records);
    for (const peer of ['n2', 'n3']) assert.equal(text.includes(Buffer.from(link('n1', peer)).toString('hex')), false);
  });

  it('logs a refusal that repeats (a left-out member retrying) once, then once a period with the count', () => {
    const { manager, logger, advance } = setup();
    const from = { address: '127.0.0.1', port: 40000 };
    // A member a recovery left out (n7: its link key removed) retries its handshake about 3 times a second, 10 minutes.
    for (let ms = 0; ms < 600_000; ms += 300) {
      manager.pskLookup('n7', from);
      advance(300);
    }
    const lines = logger.records.filter((r) => r.level === 'warning');
    assert.equal(lines.length, 600_000 / REFUSAL_REPEAT_LOG_MS, 'the first line, then one a period');
    assert.match(lines[0]?.message ?? '', /^refused a peer handshake: no link key for this identity/);
    assert.equal(lines[0]?.fields.suppressed, 0, 'the first line is the plain refusal');
    const repeated = lines.slice(1).map((line) => line.fields.suppressed);
    assert.ok(
      repeated.every((count) => count === REFUSAL_REPEAT_LOG_MS / 300 - 1),
      `each later line counts the refusals since the one before: ${repeated.join(', ')}`,
    );
    manager.pskLookup('n8', from);
    assert.equal(logger.records.filter((r) => r.level === 'warning').length, lines.length + 1, 'another id: at once');
  });

  it("learns a new member's link through a signed add-member, and only then validates it", () => {
    const { manager, signed, closed } = setup();
    assert.equal(manager.validateNewNode('n4', '127.0.0.1:7003').ok, false);
    signed(addN4);
    assert.deepEqual(manager.pskLookup('n4'), link('n1', 'n4'), "opened with n1's node secret");
    assert.deepEqual(manager.validateNewNode('n4', '127.0.0.1:7003'), { ok: true });
    assert.deepEqual(closed, ['n4']);
  });

  it('forgets a removed member when the configuration without it commits, whatever the bundle says', () => {
    const { manager, configure, closed } = setup();
    configure(simpleConfiguration(['n1', 'n2', 'n3'], members));
    configure(simpleConfiguration(['n1', 'n2'], members.slice(0, 2)));
    assert.equal(manager.pskLookup('n3'), null);
    assert.equal(manager.authenticateNode('n3', from('n3')), false);
    assert.equal(manager.validateNewNode('n3', '127.0.0.1:7002').ok, false);
    assert.deepEqual(closed, ['n3']);
  });

  it('closes the sessions of a member that a restored snapshot shows removed', () => {
    const leader = setup();
    leader.configure(simpleConfiguration(['n1', 'n2', 'n3'], members));
    leader.configure(simpleConfiguration(['n1', 'n2'], members.slice(0, 2)));
    const follower = setup();
    assert.deepEqual(follower.manager.pskLookup('n3'), link('n1', 'n3'), "before: the bundle's link");
    follower.state.restore(
      {
        lastIncludedIndex: leader.state.kv.lastApplied,
        lastIncludedTerm: 1,
        configuration: simpleConfiguration(['n1', 'n2'], members.slice(0, 2)),
      },
      leader.state.snapshot(),
    );
    assert.equal(follower.manager.pskLookup('n3'), null);
    assert.ok(follower.closed.includes('n3'), `closed ${follower.closed.join(',')}`);
    assert.equal(follower.closed.includes('n2'), false);
  });

  it("takes a rekeyed link over the bundle's and closes the sessions made with the old one", () => {
    const { manager, signed, closed } = setup();
    signed({ op: 'rekey-member', id: 'n2', links: [wrappedFor('n1', 'n2', 1, 2), wrappedFor('n3', 'n2', 1, 2)] });
    assert.deepEqual(manager.pskLookup('n2'), link('n1', 'n2', 1, 2));
    assert.notDeepEqual(manager.pskLookup('n2'), link('n1', 'n2'));
    assert.deepEqual(closed, ['n2']);
  });
});

describe('keystore cache across a restart', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-keystore-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps learned links and revocations (mode 0600) until the log is re-applied', () => {
    const file = join(dir, 'keystore-cache.json');
    const before = setup({ cacheFile: file, config: withN4 });
    before.signed(addN4);
    before.configure(withN4);
    before.configure(
      simpleConfiguration(['n1', 'n2', 'n4'], [...members.slice(0, 2), { id: 'n4', address: '127.0.0.1:7003' }]),
    );
    assert.equal(statSync(file).mode & 0o777, 0o600);
    // A restart: a fresh replicated state (nothing re-applied yet), the same bundle and cache.
    const after = setup({ cacheFile: file, config: withN4 });
    assert.deepEqual(after.manager.pskLookup('n4'), link('n1', 'n4'), 'a member that joined later is still known');
    assert.equal(after.manager.pskLookup('n3'), null, 'a removed member stays refused despite the bundle');
    assert.deepEqual(after.manager.pskLookup('n2'), link('n1', 'n2'));
  });
});
