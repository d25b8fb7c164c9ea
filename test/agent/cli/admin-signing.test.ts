// Proves that --admin-key pointing at the admin public key (admin.pub, 0644 as cluster init writes
// it, or 0600) is refused as the public key, naming the private key to sign with, instead of being
// told to chmod 600 (which would not make it sign); that a private key readable by others is still
// refused by the secret-file rule; and that the private key signs. Runs on a temporary folder.
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../../agent/cli/args.js';
import { signerOf } from '../../../agent/cli/admin-signing.js';
import { ConfigError } from '../../../contracts/errors.js';

describe('cli: admin signing key', () => {
  let dir: string;
  let publicFile: string;
  let privateFile: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-admin-signing-'));
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    publicFile = join(dir, 'admin.pub');
    privateFile = join(dir, 'admin.key');
    writeFileSync(publicFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
    writeFileSync(privateFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const publicKeyRefusal = (error: unknown): boolean =>
    error instanceof UsageError &&
    error.message ===
      `--admin-key: ${publicFile}: this is the admin PUBLIC key; sign with the private key ` +
        '(provisioner/secrets/admin.key)';

  it('names the public key as such, whatever its mode', () => {
    chmodSync(publicFile, 0o644);
    assert.throws(() => signerOf({ 'admin-key': publicFile, cluster: 'c1' }), publicKeyRefusal);
    chmodSync(publicFile, 0o600);
    assert.throws(() => signerOf({ 'admin-key': publicFile, cluster: 'c1' }), publicKeyRefusal);
  });

  it('still refuses a private key others may read, and signs with a private one', () => {
    chmodSync(privateFile, 0o644);
    assert.throws(
      () => signerOf({ 'admin-key': privateFile, cluster: 'c1' }),
      (error: unknown) => error instanceof ConfigError && /chmod 600/.test(error.message),
    );
    chmodSync(privateFile, 0o600);
    assert.equal(signerOf({ 'admin-key': privateFile, cluster: 'c1' }).cluster, 'c1');
  });
});
