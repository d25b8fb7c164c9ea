/**
 * Durable, private writes of files that hold secrets or the knowledge of them (the keystore
 * cache): written to a temporary file of mode 0600, synced, renamed over the target, and the
 * folder synced, so that a crash leaves either the old file or the new one, never a torn or
 * empty one, and never a world-readable one.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** The file operations a secret write performs, injectable so tests can watch their order. */
export interface SecretFileOps {
  openSync(path: string, flags: string, mode?: number): number;
  writeSync(fd: number, data: Uint8Array): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
}

/** The real file system. */
export const REAL_FILE_OPS: SecretFileOps = {
  openSync: (path, flags, mode) => openSync(path, flags, mode),
  writeSync: (fd, data) => writeSync(fd, data),
  fsyncSync: (fd) => fsyncSync(fd),
  closeSync: (fd) => closeSync(fd),
  renameSync: (from, to) => renameSync(from, to),
  unlinkSync: (path) => unlinkSync(path),
};

/** Writes `data` to `file` atomically and durably with mode 0600. */
export function writeSecretFileSynced(file: string, data: Uint8Array, ops: SecretFileOps = REAL_FILE_OPS): void {
  const temporary = `${file}.tmp`;
  const fd = ops.openSync(temporary, 'w', 0o600);
  try {
    let written = 0;
    while (written < data.byteLength) written += ops.writeSync(fd, data.subarray(written));
    ops.fsyncSync(fd);
  } catch (error) {
    ops.closeSync(fd);
    ops.unlinkSync(temporary);
    throw error;
  }
  ops.closeSync(fd);
  ops.renameSync(temporary, file);
  // The rename is durable only once the folder is synced.
  const folder = ops.openSync(dirname(file), 'r');
  try {
    ops.fsyncSync(folder);
  } finally {
    ops.closeSync(folder);
  }
}
