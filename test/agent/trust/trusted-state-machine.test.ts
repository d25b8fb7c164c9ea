// Proves, at apply, that no replica acts on an admin command it should not: three replicas
// apply the same log, as a faulty leader would write it, with a signed add-member between an
// unsigned one, a forged one, one for another cluster, an expired one (judged against the log
// clock), a replay and client writes to reserved `.coraft/` keys. Every replica applies only
// the signed command, refuses the rest with the same result, and ends with byte-identical
// snapshots. Also: a committed configuration that drops a member revokes it and deletes its
// links (and a replica restored from a snapshot taken after that sees the same), and an
// admin-key rotation retires the old key. A KV write applied with no one waiting (`answered`
// false) is not encoded, and the replicas still end alike.
import { strict as assert } from 'node:assert';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { LogEntry } from '../../../contracts/log.js';
import { encodeConfiguration, simpleConfiguration } from '../../../agent/core/configuration.js';
import { decodeKvResult, encodeKvCommand, KvStateMachine } from '../../../agent/kv/index.js';
import { publicKeyPem, signAdminCommand, type AdminOperation } from '../../../agent/trust/admin-command.js';
import { deriveLinkKey, deriveNodeSecret, unwrapLinkKey, wrapLinkKey } from '../../../agent/trust/crypto.js';
import { decodeAdminApplyResult, encodeAdminEntry } from '../../../agent/trust/trust-codec.js';
import { TrustedStateMachine } from '../../../agent/trust/trusted-state-machine.js';
import { storedImageOf } from '../kv/kv-helpers.js';

const CLUSTER = 'plant-a';
const T0 = 1_700_000_000_000;
const fleet = Uint8Array.from(Buffer.alloc(32, 3));
const admin = generateKeyPairSync('ed25519');
const intruder = generateKeyPairSync('ed25519');

function replica(adminKey: KeyObject = admin.publicKey): TrustedStateMachine {
  return new TrustedStateMachine(new KvStateMachine({}), { cluster: CLUSTER, genesisAdminKey: adminKey });
}

/** gw4's link (gw4 at `generation`) with `holder`, wrapped for the holder as the provisioner does. */
function wrapped(holder: string, generation = 1) {
  const link = deriveLinkKey(fleet, CLUSTER, holder, 1, 'gw4', generation);
  const label = `1.${generation}`;
  return {
    holder,
    generation: label,
    wrapped: wrapLinkKey(deriveNodeSecret(fleet, CLUSTER, holder, 1), CLUSTER, holder, 'gw4', label, link),
  };
}

const addGw4: AdminOperation = {
  op: 'add-member',
  id: 'gw4',
  address: '10.0.0.4:5684',
  learner: false,
  links: ['gw1', 'gw2', 'gw3'].map((h) => wrapped(h)),
};
const sign = (
  operation: AdminOperation,
  key: KeyObject = admin.privateKey,
  cluster = CLUSTER,
  at = T0,
  validMs = 60_000,
): Uint8Array => signAdminCommand(operation, cluster, key, at, validMs);

class Log {
  readonly entries: LogEntry[] = [];
  admin(envelope: Uint8Array, timeMs = T0 + 1000): void {
    this.push({ type: 'command', command: encodeAdminEntry({ envelope, timeMs }) });
  }
  kvPut(key: string, timeMs = T0 + 1000): void {
    this.push({
      type: 'command',
      command: encodeKvCommand({
        op: 'put',
        key,
        value: new Uint8Array([1]),
        returnPrevious: false,
        session: null,
        timeMs,
      }),
    });
  }
  config(voters: readonly string[], oldVoters: readonly string[] | null = null): void {
    this.push({ type: 'config', command: encodeConfiguration({ ...simpleConfiguration(voters), oldVoters }) });
  }
  private push(entry: Omit<LogEntry, 'index' | 'term'>): void {
    this.entries.push({ ...entry, index: this.entries.length + 1, term: 1 });
  }
}

const okOf = (result: Uint8Array): boolean => decodeAdminApplyResult(result).ok;
const imageOf = (sm: TrustedStateMachine): string =>
  JSON.stringify(sm.trust.image(), (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));

describe('TrustedStateMachine: admin entries verified at apply', () => {
  it('applies only the signed command, identically on every replica, whatever a faulty leader logs', () => {
    const log = new Log();
    const good = sign(addGw4);
    log.admin(
      new TextEncoder().encode(
        JSON.stringify({ op: 'add-member', id: 'gw4', address: 'h:1', learner: false, links: [] }),
      ),
    ); // unsigned
    log.admin(sign(addGw4, intruder.privateKey)); // forged
    log.admin(sign(addGw4, admin.privateKey, 'plant-b')); // another cluster
    log.admin(sign(addGw4, admin.privateKey, CLUSTER, T0, 500), T0 + 1000); // expired against the log clock
    log.kvPut('.coraft/psk/evil'); // a reserved write
    log.admin(good); // the one signed command
    log.admin(good, T0 + 2000); // its replay
    log.kvPut('ordinary');
    const replicas = [replica(), replica(), replica()];
    const results = replicas.map((sm) => log.entries.map((e) => sm.apply(e)));
    for (const r of results.slice(1)) assert.deepEqual(r, results[0], 'every replica answers alike');
    const [unsigned, forged, foreign, expired, reserved, applied, replayed] = results[0] ?? [];
    for (const [name, result] of Object.entries({ unsigned, forged, foreign, expired, replayed }))
      assert.equal(okOf(result ?? new Uint8Array()), false, name);
    assert.match(JSON.stringify(decodeAdminApplyResult(forged ?? new Uint8Array())), /signature/);
    assert.match(JSON.stringify(decodeAdminApplyResult(expired ?? new Uint8Array())), /expired/);
    assert.match(JSON.stringify(decodeAdminApplyResult(replayed ?? new Uint8Array())), /replayed/);
    const reservedResult = decodeKvResult(reserved ?? new Uint8Array());
    assert.equal(reservedResult.type === 'error' && reservedResult.code, 'KV_RESERVED_KEY');
    assert.equal(replicas[0]?.kv.read('.coraft/psk/evil'), null);
    assert.equal(okOf(applied ?? new Uint8Array()), true);
    for (const sm of replicas) {
      const record = sm.trust.linkOf('gw1', 'gw4');
      assert.ok(record !== null);
      assert.deepEqual(
        unwrapLinkKey(
          deriveNodeSecret(fleet, CLUSTER, 'gw1', 1),
          CLUSTER,
          'gw1',
          'gw4',
          record.generation,
          record.wrapped,
        ),
        deriveLinkKey(fleet, CLUSTER, 'gw1', 1, 'gw4', 1),
      );
      assert.equal(sm.kv.lastApplied, log.entries.length);
    }
    const snapshots = replicas.map((sm) => Buffer.from(sm.snapshot()).toString('hex'));
    assert.equal(new Set(snapshots).size, 1, 'byte-identical snapshots');
  });

  it('hands `answered` to the KV state machine: a write no one waits for is not encoded', () => {
    const log = new Log();
    log.kvPut('a');
    log.kvPut('b');
    const [answering, silent] = [replica(), replica()];
    const answers = log.entries.map((entry) => answering.apply(entry));
    const unanswered = log.entries.map((entry) => silent.apply(entry, false));
    assert.deepEqual(
      answers.map((result) => decodeKvResult(result).type),
      ['put', 'put'],
    );
    assert.deepEqual(
      unanswered.map((result) => result.length),
      [0, 0],
    );
    assert.deepEqual(Buffer.from(silent.snapshot()), Buffer.from(answering.snapshot()));
  });

  it('leaves the state unchanged by every refused command', () => {
    const sm = replica();
    const log = new Log();
    log.config(['gw1', 'gw2', 'gw3']);
    log.admin(sign(addGw4));
    for (const e of log.entries) sm.apply(e);
    const before = imageOf(sm);
    const bad = new Log();
    bad.entries.push(...log.entries);
    bad.admin(sign({ op: 'remove-member', id: 'gw1' }, intruder.privateKey));
    bad.admin(sign({ op: 'set-admin-key', publicKey: publicKeyPem(intruder.publicKey) }, intruder.privateKey));
    bad.admin(sign({ op: 'rekey-member', id: 'gw4', links: [] }, admin.privateKey, 'plant-b'));
    for (const e of bad.entries.slice(log.entries.length)) assert.equal(okOf(sm.apply(e)), false);
    const after = JSON.parse(imageOf(sm)) as { clockMs: number };
    assert.deepEqual({ ...after, clockMs: 0 }, { ...(JSON.parse(before) as object), clockMs: 0 });
  });

  it('revokes a member when the configuration without it commits, and a snapshot carries that', () => {
    const sm = replica();
    const changed: (readonly string[] | 'all')[] = [];
    sm.onCredentialsChanged((ids) => changed.push(ids));
    const log = new Log();
    const good = sign(addGw4);
    log.admin(good);
    log.config(['gw1', 'gw2', 'gw3', 'gw4']);
    log.config(['gw1', 'gw2', 'gw3'], ['gw1', 'gw2', 'gw3', 'gw4']); // joint, leaving gw4
    log.config(['gw1', 'gw2', 'gw3']);
    for (const e of log.entries) sm.apply(e);
    assert.equal(sm.trust.isRevoked('gw4'), true);
    assert.equal(sm.trust.linkOf('gw1', 'gw4'), null, 'its links are deleted');
    assert.deepEqual(changed, [['gw4'], ['gw4']], 'added, then removed');
    const fresh = replica();
    const restored: (readonly string[] | 'all')[] = [];
    fresh.onCredentialsChanged((ids) => restored.push(ids));
    fresh.restore(
      {
        lastIncludedIndex: log.entries.length,
        lastIncludedTerm: 1,
        configuration: simpleConfiguration(['gw1', 'gw2', 'gw3']),
      },
      sm.snapshot(),
    );
    assert.equal(fresh.trust.isRevoked('gw4'), true, 'the removal arrives inside the snapshot');
    assert.deepEqual(restored, ['all']);
    // Replaying the signed add after the snapshot is still refused (its nonce travelled too):
    // a removed member cannot re-add itself with a command it once saw.
    const replay = encodeAdminEntry({ envelope: good, timeMs: T0 + 5000 });
    const result = fresh.apply({ index: log.entries.length + 1, term: 1, type: 'command', command: replay });
    assert.match(JSON.stringify(decodeAdminApplyResult(result)), /replayed/);
    assert.equal(fresh.trust.isRevoked('gw4'), true);
    // The same snapshot read from storage in place (restoreFrom), over a replica that held other state.
    const fromStorage = replica();
    for (const e of log.entries.slice(0, 2)) fromStorage.apply(e);
    const inPlace: (readonly string[] | 'all')[] = [];
    fromStorage.onCredentialsChanged((ids) => inPlace.push(ids));
    fromStorage.restoreFrom(
      {
        lastIncludedIndex: log.entries.length,
        lastIncludedTerm: 1,
        configuration: simpleConfiguration(['gw1', 'gw2', 'gw3']),
      },
      storedImageOf(sm.snapshot()),
    );
    assert.deepEqual(Buffer.from(fromStorage.snapshot()), Buffer.from(sm.snapshot()));
    assert.deepEqual(inPlace, ['all']);
    assert.equal(fromStorage.trust.isRevoked('gw4'), true);
  });

  it('re-admits a removed member only with new keys for every member, and a snapshot keeps their generation', () => {
    const sm = replica();
    const log = new Log();
    const removeGw4 = (): void => {
      log.config(['gw1', 'gw2', 'gw3', 'gw4']);
      log.config(['gw1', 'gw2', 'gw3'], ['gw1', 'gw2', 'gw3', 'gw4']);
      log.config(['gw1', 'gw2', 'gw3']);
    };
    log.config(['gw1', 'gw2', 'gw3']);
    log.admin(sign(addGw4));
    removeGw4();
    for (const e of log.entries) sm.apply(e);
    const addWith = (machine: TrustedStateMachine, holders: readonly string[], generation: number): string => {
      log.admin(sign({ ...addGw4, links: holders.map((h) => wrapped(h, generation)) }), T0 + 2000);
      const entry = log.entries[log.entries.length - 1];
      assert.ok(entry !== undefined);
      return JSON.stringify(decodeAdminApplyResult(machine.apply(entry)));
    };
    // A new signature of the old links file (the careless re-add) brings back no revoked key.
    assert.match(
      addWith(sm, ['gw1', 'gw2', 'gw3'], 1),
      /gw4 was removed with key generation 1: give it new keys first \(coraft provision --rekey gw4\)/,
    );
    assert.match(addWith(sm, ['gw1', 'gw2'], 2), /must reach every member \(none for gw3\)/);
    assert.equal(sm.trust.isRevoked('gw4'), true);
    assert.equal(addWith(sm, ['gw1', 'gw2', 'gw3'], 2), '{"ok":true}');
    assert.equal(sm.trust.isRevoked('gw4'), false);
    // Removed again, holding generation 2: a restored replica refuses generation 2 and takes 3.
    const applied = log.entries.length;
    removeGw4();
    for (const e of log.entries.slice(applied)) sm.apply(e);
    const fresh = replica();
    const configuration = simpleConfiguration(['gw1', 'gw2', 'gw3']);
    fresh.restore({ lastIncludedIndex: log.entries.length, lastIncludedTerm: 1, configuration }, sm.snapshot());
    assert.match(addWith(fresh, ['gw1', 'gw2', 'gw3'], 2), /removed with key generation 2/);
    assert.equal(addWith(fresh, ['gw1', 'gw2', 'gw3'], 3), '{"ok":true}');
  });

  it('rotates the admin key: the old key no longer signs, the new one does', () => {
    const next = generateKeyPairSync('ed25519');
    const sm = replica();
    const log = new Log();
    log.admin(sign({ op: 'set-admin-key', publicKey: publicKeyPem(next.publicKey) }));
    log.admin(sign(addGw4));
    log.admin(sign(addGw4, next.privateKey));
    const [rotated, old, fresh] = log.entries.map((e) => okOf(sm.apply(e)));
    assert.deepEqual([rotated, old, fresh], [true, false, true]);
  });
});
