/**
 * A check of `data.mdb` before LMDB maps it. LMDB trusts its file: lmdb-js 3.5 dies with
 * SIGSEGV on a file that is not an LMDB environment and with SIGBUS on one shorter than its
 * meta page says, instead of returning an error. Reading the two meta pages first turns both
 * into STORAGE_CORRUPT (and an LMDB data version other than this build's into
 * STORAGE_VERSION), so that a damaged directory is refused with a message at start.
 *
 * The layout read is that of lmdb-js 3.x on 64-bit little-endian machines: a page header of
 * 16 or 24 bytes (the latter with a transaction id, as lmdb-js's LMDB has), then the meta:
 * magic, version, address, map size, the free and main databases (48 bytes each, the page size
 * in the first one's pad field), the last page number and the transaction id. On other
 * machines the check is skipped. The contract tests reopen real environments, so a layout
 * change in an lmdb upgrade shows up there as a refusal of a valid file.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { PersistenceError, describeError } from '../../contracts/errors.js';

const MAGIC = 0xbeefc0de;
/** LMDB's MDB_DATA_VERSION in lmdb-js 3.x. */
const DATA_VERSION = 2;
const HEADER_OFFSETS = [24, 16] as const;
const META_BYTES = 160;

interface Meta {
  readonly pageBytes: number;
  readonly lastPage: number;
  readonly txnId: bigint;
}

function readAt(fd: number, offset: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const read = readSync(fd, buffer, 0, length, offset);
  return buffer.subarray(0, read);
}

function parseMeta(page: Buffer, path: string, which: string): Meta {
  const header = HEADER_OFFSETS.find((offset) => page.length >= offset + 136 && page.readUInt32LE(offset) === MAGIC);
  if (header === undefined)
    throw new PersistenceError(
      'STORAGE_CORRUPT',
      `${path} is not an LMDB environment: no magic number in its ${which} meta page`,
    );
  const version = page.readUInt32LE(header + 4);
  if (version !== DATA_VERSION) {
    throw new PersistenceError(
      'STORAGE_VERSION',
      `${path} has LMDB data version ${version}; this build reads ${DATA_VERSION}`,
    );
  }
  const pageBytes = page.readUInt32LE(header + 24);
  if (pageBytes < 512 || pageBytes > 65_536 || (pageBytes & (pageBytes - 1)) !== 0) {
    throw new PersistenceError('STORAGE_CORRUPT', `${path}: its ${which} meta page gives a page size of ${pageBytes}`);
  }
  const lastPage = page.readBigUInt64LE(header + 120);
  if (lastPage > BigInt(Number.MAX_SAFE_INTEGER))
    throw new PersistenceError('STORAGE_CORRUPT', `${path}: its ${which} meta page gives last page ${lastPage}`);
  return { pageBytes, lastPage: Number(lastPage), txnId: page.readBigUInt64LE(header + 128) };
}

/**
 * Throws STORAGE_CORRUPT unless `directory/data.mdb` is absent, empty, or an LMDB environment
 * with both meta pages; STORAGE_VERSION for another LMDB data version.
 */
export function checkDataFile(directory: string): void {
  if (endianness() !== 'LE' || !['x64', 'arm64'].includes(process.arch)) return;
  const path = join(directory, 'data.mdb');
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return;
    throw new PersistenceError('STORAGE_IO', `cannot read ${path}: ${describeError(error)}`, { cause: error });
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return;
    const first = parseMeta(readAt(fd, 0, META_BYTES), path, 'first');
    if (size < 2 * first.pageBytes) {
      throw new PersistenceError(
        'STORAGE_CORRUPT',
        `${path} is ${size} bytes, shorter than its two meta pages (${2 * first.pageBytes} bytes): the file was ` +
          `truncated`,
      );
    }
    parseMeta(readAt(fd, first.pageBytes, META_BYTES), path, 'second');
    // The file may legitimately end before the latest meta page's last page: LMDB counts pages
    // a transaction allocated and freed again ("loose" pages) in last_pgno but never writes
    // them (mdb_page_flush skips them), so a SIGKILL can leave such a file. Not an error.
  } finally {
    closeSync(fd);
  }
}
