// Helpers shared by the storage tests: temporary directories, sample data, engine harnesses
// for the memory and LMDB engines, and fast-check parameters that replay from FC_SEED/FC_PATH.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterConfiguration, EntryType, LogEntry, Snapshot } from '../../contracts/log.js';
import type { PersistenceEngine, SnapshotWriter } from '../../contracts/persistence.js';
import { LmdbPersistenceEngine } from '../../storage/lmdb/lmdb-engine.js';
import type { LmdbPersistenceOptions } from '../../storage/lmdb/lmdb-engine.js';
import { MemoryDisk, MemoryPersistenceEngine } from '../../storage/memory.js';
import { WalPersistenceEngine } from '../../storage/wal/wal-engine.js';
import type { WalPersistenceOptions } from '../../storage/wal/wal-engine.js';

/** Opens engines on one durable store; `reopen` closes an engine and opens another on the same store. */
export interface EngineHarness {
  readonly name: string;
  open(): Promise<PersistenceEngine>;
  reopen(engine: PersistenceEngine): Promise<PersistenceEngine>;
  cleanup(): Promise<void>;
}

/** Creates one harness per test. */
export type HarnessFactory = () => EngineHarness;

/** A fresh temporary directory; remove it with {@link removeDir}. */
/** `bytes` bytes at `offset` of the stored image of the snapshot at `index`, read in place (storedImage). */
export function readInPlace(engine: PersistenceEngine, index: number, offset: number, bytes: number): Uint8Array {
  const target = new Uint8Array(bytes);
  engine.storedImage(index)?.copyTo(offset, target);
  return target;
}

export function makeTempDir(prefix = 'coraft-storage-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

export const memoryHarness: HarnessFactory = () => {
  const disk = new MemoryDisk();
  return {
    name: 'memory',
    open: () => Promise.resolve(new MemoryPersistenceEngine({ disk })),
    reopen: async (engine) => {
      await engine.close();
      return new MemoryPersistenceEngine({ disk });
    },
    cleanup: () => Promise.resolve(),
  };
};

/** Small limits so that tests exercise map growth; callers may override any option. */
export function lmdbTestOptions(path: string, overrides: Partial<LmdbPersistenceOptions> = {}): LmdbPersistenceOptions {
  return {
    path,
    mapSizeInitialBytes: 256 * 1024,
    mapSizeMaxBytes: 64 * 1024 * 1024,
    snapshotBytesMax: 8 * 1024 * 1024,
    ...overrides,
  };
}

/** A harness over a fresh directory that `open` opens the engine in; closes what it opened. */
function dirHarness(name: string, openIn: (dir: string) => Promise<PersistenceEngine>): HarnessFactory {
  return () => {
    const dir = makeTempDir();
    const engines = new Set<PersistenceEngine>();
    const open = async (): Promise<PersistenceEngine> => {
      const engine = await openIn(dir);
      engines.add(engine);
      return engine;
    };
    return {
      name,
      open,
      reopen: async (engine) => {
        await engine.close();
        engines.delete(engine);
        return open();
      },
      cleanup: async () => {
        for (const engine of engines) await engine.close();
        removeDir(dir);
      },
    };
  };
}

export function lmdbHarness(overrides: Partial<LmdbPersistenceOptions> = {}): HarnessFactory {
  return dirHarness('lmdb', (dir) => LmdbPersistenceEngine.open(lmdbTestOptions(dir, overrides)));
}

/**
 * Options of the write-ahead-log engine for tests: LMDB's test options, 1 MiB segments,
 * checkpoints every 2 KiB in 1 KiB transactions, and writes held back beyond 8 KiB waiting, so
 * that tests cross segments, checkpoint often and meet back-pressure.
 */
export function walTestOptions(path: string, overrides: Partial<WalPersistenceOptions> = {}): WalPersistenceOptions {
  return {
    ...lmdbTestOptions(path),
    walSegmentBytes: 1024 * 1024,
    walFrameBytesMax: 64 * 1024,
    walCheckpointBytes: 2048,
    walPendingBytesMax: 8192,
    walCheckpointTxnBytesMax: 1024,
    ...overrides,
  };
}

export function walHarness(overrides: Partial<WalPersistenceOptions> = {}): HarnessFactory {
  return dirHarness('wal', (dir) => WalPersistenceEngine.open(walTestOptions(dir, overrides)));
}

export const CONFIGURATION: ClusterConfiguration = {
  voters: ['n1', 'n2', 'n3'],
  learners: ['n4'],
  oldVoters: null,
  members: [
    { id: 'n1', address: '127.0.0.1:5684' },
    { id: 'n2', address: '127.0.0.1:5685' },
    { id: 'n3', address: '127.0.0.1:5686' },
    { id: 'n4', address: '127.0.0.1:5687' },
  ],
};

/** A deterministic command for `index`, `bytes` long. */
export function commandFor(index: number, bytes = 16): Uint8Array {
  const command = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 1) command[i] = (index * 31 + i * 7) & 0xff;
  return command;
}

export function entry(index: number, term: number, type: EntryType = 'command', bytes = 16): LogEntry {
  return { index, term, type, command: commandFor(index, bytes) };
}

/** Entries from..to (inclusive) of one term. */
export function entries(from: number, to: number, term: number): LogEntry[] {
  const list: LogEntry[] = [];
  for (let index = from; index <= to; index += 1) list.push(entry(index, term));
  return list;
}

/** A snapshot whose image is `bytes` long and derived from its index. */
export function snapshot(lastIncludedIndex: number, lastIncludedTerm: number, bytes = 1024): Snapshot {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 1) data[i] = (lastIncludedIndex + i * 13) & 0xff;
  return { lastIncludedIndex, lastIncludedTerm, configuration: CONFIGURATION, data };
}

/** Copies the files a crash would leave in `from` to `to` (not the lock of the live process). */
export function crashCopy(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) if (name !== 'coraft.lock') copyFileSync(join(from, name), join(to, name));
}

/**
 * Writes `data` through `writer` in chunks of `chunkBytes`, each lent from one buffer that is
 * overwritten once its write settled (SnapshotWriter.write: the chunk is lent until then), so that
 * a writer keeping a chunk instead of a copy stores the wrong bytes.
 */
export async function writeLentChunks(writer: SnapshotWriter, data: Uint8Array, chunkBytes: number): Promise<void> {
  const lent = new Uint8Array(chunkBytes);
  for (let at = 0; at < data.byteLength; at += chunkBytes) {
    const chunk = data.subarray(at, at + chunkBytes);
    lent.set(chunk);
    await writer.write(lent.subarray(0, chunk.byteLength));
    lent.fill(0xee);
  }
}
