// Proves the signed admin command format: a command signed with the admin key passes; an
// unsigned one, a forged signature, a body altered after signing, another cluster, an expired
// command, one issued in the future and one with an overlong validity are refused with a
// reason; parsing is strict (unknown fields, bad ids, oversize envelopes).
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import {
  ADMIN_COMMAND_BYTES_MAX,
  admissionProblem,
  decodeSignedAdmin,
  signAdminCommand,
} from '../../../agent/trust/admin-command.js';

const admin = generateKeyPairSync('ed25519');
const intruder = generateKeyPairSync('ed25519');
const NOW = 1_700_000_000_000;
const op = { op: 'remove-member', id: 'gw2' } as const;
const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

describe('signed admin commands', () => {
  it('accepts a command signed with the admin key, for this cluster, in time', () => {
    const command = decodeSignedAdmin(signAdminCommand(op, 'plant-a', admin.privateKey, NOW, 60_000));
    assert.equal(command.body.op, 'remove-member');
    assert.equal(admissionProblem(command, 'plant-a', admin.publicKey, NOW + 1000), null);
  });

  it('refuses forged, foreign, expired, future and overlong commands', () => {
    const signed = (key = admin.privateKey, cluster = 'plant-a', at = NOW, validMs = 60_000) =>
      decodeSignedAdmin(signAdminCommand(op, cluster, key, at, validMs));
    assert.match(
      admissionProblem(signed(intruder.privateKey), 'plant-a', admin.publicKey, NOW) ?? '',
      /signature is not the admin key's in force here \(a key rotated away, .*\): sign with the current admin\.key/,
    );
    assert.match(
      admissionProblem(signed(admin.privateKey, 'plant-b'), 'plant-a', admin.publicKey, NOW) ?? '',
      /cluster/,
    );
    assert.match(admissionProblem(signed(), 'plant-a', admin.publicKey, NOW + 60_000) ?? '', /expired/);
    assert.match(
      admissionProblem(signed(admin.privateKey, 'plant-a', NOW + 3_600_000), 'plant-a', admin.publicKey, NOW) ?? '',
      /future/,
    );
    assert.match(admissionProblem(signed(), 'plant-a', null, NOW) ?? '', /no admin public key/);
    assert.throws(() => signAdminCommand(op, 'plant-a', admin.privateKey, NOW, 2 * 3_600_000), /validity/);
  });

  it('refuses a body altered after signing', () => {
    const envelope = JSON.parse(
      new TextDecoder().decode(signAdminCommand(op, 'plant-a', admin.privateKey, NOW, 60_000)),
    ) as { v: number; body: string; sig: string };
    const altered = { ...envelope, body: envelope.body.replace('"gw2"', '"gw3"') };
    assert.match(
      admissionProblem(decodeSignedAdmin(bytes(altered)), 'plant-a', admin.publicKey, NOW) ?? '',
      /signature/,
    );
  });

  it('refuses unsigned and malformed envelopes when parsing', () => {
    const body = JSON.stringify({
      ...op,
      cluster: 'plant-a',
      nonce: 'ab'.repeat(16),
      issuedAtMs: NOW,
      expiresAtMs: NOW + 1000,
    });
    assert.throws(
      () => decodeSignedAdmin(bytes({ op: 'add-member', id: 'gw2', address: 'h:1', learner: false })),
      /unknown field/,
    );
    assert.throws(() => decodeSignedAdmin(bytes({ v: 1, body })), /sig must be an Ed25519 signature/);
    assert.throws(() => decodeSignedAdmin(bytes({ v: 1, body, sig: '' })), /unsigned commands are refused/);
    assert.throws(() => decodeSignedAdmin(bytes({ v: 2, body, sig: 'A'.repeat(86) + '==' })), /version/);
    const badId = JSON.stringify({
      ...op,
      id: 'bad id',
      cluster: 'plant-a',
      nonce: 'ab'.repeat(16),
      issuedAtMs: NOW,
      expiresAtMs: NOW + 1000,
    });
    assert.throws(() => decodeSignedAdmin(bytes({ v: 1, body: badId, sig: 'A'.repeat(86) + '==' })), /node id/);
    const extra = JSON.stringify({
      ...op,
      extra: 1,
      cluster: 'plant-a',
      nonce: 'ab'.repeat(16),
      issuedAtMs: NOW,
      expiresAtMs: NOW + 1000,
    });
    assert.throws(
      () => decodeSignedAdmin(bytes({ v: 1, body: extra, sig: 'A'.repeat(86) + '==' })),
      /unknown field "extra"/,
    );
    assert.throws(() => decodeSignedAdmin(new Uint8Array(ADMIN_COMMAND_BYTES_MAX + 1)), /larger than/);
  });
});
