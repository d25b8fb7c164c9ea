// Proves the backup file (agent/backup/): what BackupStream writes from a frozen state machine
// reads back (backup-reader.ts) as exactly the state machine's own snapshot images at that index,
// in chunks that never exceed their bound; and that a file cut short anywhere, or with any one
// byte altered (one bit flipped, every byte of a small file tried, a sample of a large one), is
// refused with STORAGE_CORRUPT before anything is read from it. And that a restore
// (restore.ts) keeps every key and revision but none of the old cluster's trust state, and
// refuses to keep the old cluster id.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { decodeNodeState, decodeTrustImage, encodeTrustImage } from '../../../agent/trust/trust-codec.js';
import { TrustedStateMachine } from '../../../agent/trust/trusted-state-machine.js';
import { TRAILER_BYTES, type BackupHeader } from '../../../agent/backup/backup-format.js';
import { readBackupFile, verifyBackupFile } from '../../../agent/backup/backup-reader.js';
import { BackupStream, freezeState } from '../../../agent/backup/backup-stream.js';
import { restoredSnapshot } from '../../../agent/backup/restore.js';
import { Driver } from '../kv/kv-helpers.js';

function stateWith(keys: number, valueBytes: (i: number) => number): TrustedStateMachine {
  const kv = new KvStateMachine({ keyCountMax: 100_000, dataBytesMax: 1024 * 1024 * 1024 });
  const driver = new Driver(kv);
  for (let i = 0; i < keys; i += 1) driver.put(`key/${i}`, 'x'.repeat(valueBytes(i)));
  driver.run({ op: 'delete', key: 'key/0', returnPrevious: false });
  return new TrustedStateMachine(kv, { cluster: 'old', genesisAdminKey: null });
}

function headerFor(sm: TrustedStateMachine): BackupHeader {
  return {
    cluster: 'old',
    node: 'n1',
    index: sm.kv.lastApplied,
    term: 3,
    revision: sm.kv.revision,
    keyCount: sm.kv.stats().keyCount,
    dataBytes: sm.kv.stats().dataBytes,
    createdAtMs: 1_700_000_000_000,
  };
}

/** Writes the whole file; returns its bytes and the largest chunk. */
function writeAll(sm: TrustedStateMachine, chunkBytes: number): { bytes: Buffer; largest: number; chunks: number } {
  const stream = new BackupStream(headerFor(sm), freezeState(sm), chunkBytes);
  const chunks: Uint8Array[] = [];
  for (let chunk = stream.next(); chunk !== null; chunk = stream.next()) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  assert.equal(bytes.length, stream.bytes);
  return { bytes, largest: Math.max(...chunks.map((c) => c.length)), chunks: chunks.length };
}

describe('backup file', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'coraft-backup-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const save = (name: string, bytes: Uint8Array): string => {
    const file = join(dir, name);
    writeFileSync(file, bytes);
    return file;
  };

  it('reads back as the snapshot images of the state machine at its index, in bounded chunks', () => {
    // Values from 0 bytes to 9 KiB against 4 KiB chunks: entries are cut across frames.
    const sm = stateWith(2000, (i) => (i * 37) % 9000);
    const { bytes, largest, chunks } = writeAll(sm, 4096);
    assert.ok(chunks > 100, `${chunks} chunks`);
    assert.ok(largest <= 4096 + TRAILER_BYTES, `largest chunk ${largest}`);
    const file = save('a.bak', bytes);
    const contents = readBackupFile(file);
    assert.deepEqual(Buffer.from(contents.kv), Buffer.from(sm.kv.snapshot()));
    assert.deepEqual(Buffer.from(contents.trust), Buffer.from(encodeTrustImage(sm.trust.image())));
    assert.deepEqual(contents.header, headerFor(sm));
    assert.deepEqual(verifyBackupFile(file), { header: headerFor(sm), fileBytes: bytes.length });
  });

  it('holds the state of the moment it was frozen, whatever is applied while it is written', () => {
    const sm = stateWith(50, () => 10);
    const before = Buffer.from(sm.kv.snapshot());
    const stream = new BackupStream(headerFor(sm), freezeState(sm), 1024);
    const chunks = [stream.next()];
    new Driver(sm.kv).put('key/1', 'changed');
    for (let chunk = stream.next(); chunk !== null; chunk = stream.next()) chunks.push(chunk);
    const contents = readBackupFile(save('b.bak', Buffer.concat(chunks.filter((c) => c !== null))));
    assert.deepEqual(Buffer.from(contents.kv), before);
  });

  it('is refused when cut short anywhere', () => {
    const { bytes } = writeAll(
      stateWith(300, () => 40),
      2048,
    );
    const cuts = [0, 1, 13, 14, 100, bytes.length >> 1, bytes.length - 49, bytes.length - 48, bytes.length - 1];
    for (const cut of cuts) {
      const file = save(`cut-${cut}.bak`, bytes.subarray(0, cut));
      assert.throws(() => verifyBackupFile(file), { code: 'STORAGE_CORRUPT' }, `verify, cut at ${cut}`);
      assert.throws(() => readBackupFile(file), { code: 'STORAGE_CORRUPT' }, `read, cut at ${cut}`);
    }
  });

  it('is refused with any one byte of a small file altered (one bit flipped)', () => {
    const { bytes } = writeAll(
      stateWith(5, () => 3),
      1024,
    );
    const file = join(dir, 'flip.bak');
    for (let i = 0; i < bytes.length; i += 1) {
      const altered = Buffer.from(bytes);
      altered[i] = (altered[i] ?? 0) ^ (1 << (i % 8));
      writeFileSync(file, altered);
      assert.throws(() => readBackupFile(file), { code: 'STORAGE_CORRUPT' }, `byte ${i}`);
      assert.throws(() => verifyBackupFile(file), { code: 'STORAGE_CORRUPT' }, `byte ${i}`);
    }
  });

  it('is refused with one bit flipped at sampled places of a large file', () => {
    const { bytes } = writeAll(
      stateWith(3000, (i) => i % 500),
      65_536,
    );
    const file = join(dir, 'flip-large.bak');
    for (let k = 0; k < 64; k += 1) {
      const i = Math.floor((k * bytes.length) / 64) + (k % 7);
      const altered = Buffer.from(bytes);
      altered[i] = (altered[i] ?? 0) ^ 0x10;
      writeFileSync(file, altered);
      assert.throws(() => verifyBackupFile(file), { code: 'STORAGE_CORRUPT' }, `byte ${i}`);
    }
  });

  it('restores every key and revision under a new cluster id with a trust state at the new genesis', () => {
    const sm = stateWith(100, () => 5);
    const contents = readBackupFile(save('r.bak', writeAll(sm, 2048).bytes));
    const configuration = simpleConfiguration(['m1', 'm2', 'm3']);
    assert.throws(
      () => restoredSnapshot(contents, { cluster: 'old', adminPublicKey: null, configuration }),
      /a restored cluster gets a new cluster id/,
    );
    const snapshot = restoredSnapshot(contents, { cluster: 'new', adminPublicKey: null, configuration });
    assert.equal(snapshot.lastIncludedIndex, sm.kv.lastApplied);
    assert.equal(snapshot.lastIncludedTerm, 3);
    const split = decodeNodeState(snapshot.data);
    assert.ok(split !== null);
    assert.deepEqual(Buffer.from(split.kv), Buffer.from(sm.kv.snapshot()), 'the KV state travels as stored');
    const trust = decodeTrustImage(split.trust);
    assert.deepEqual(trust.known, ['m1', 'm2', 'm3']);
    assert.deepEqual([trust.links, trust.revoked, trust.nonces, trust.adminKeyPem], [[], [], [], null]);
  });
});
