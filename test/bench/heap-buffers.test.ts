// Proves bench/_heap-buffers.ts on a real V8 heap snapshot, written by a child process that holds
// three buffers: 2 MiB in a Holder's field, 1 MiB in an object in an array in an Other, and 512 KiB
// in a plain global array. Each buffer is charged to its nearest owning class, walked through the
// plain objects and arrays between; the global one to none; and the total counts all of them.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bufferOwners } from '../../bench/_heap-buffers.js';
import type { HeapSnapshotJson } from '../../bench/_heap-buffers.js';

const MIB = 2 ** 20;

const CHILD = `
class Holder { constructor() { this.bytes = Buffer.alloc(2 * ${MIB}, 1); } }
class Other { constructor() { this.list = [{ value: new Uint8Array(${MIB}).fill(2) }]; } }
globalThis.kept = [new Holder(), new Other(), [new Uint8Array(${MIB / 2}).fill(3)]];
require('node:v8').writeHeapSnapshot(process.argv[1]);
`;

describe('heap-buffers: ArrayBuffers by their nearest owners', () => {
  it('charges each buffer to the class that holds it, through plain objects and arrays', () => {
    const dir = mkdtempSync(join(tmpdir(), 'coraft-heap-'));
    try {
      const file = join(dir, 'child.heapsnapshot');
      execFileSync(process.execPath, ['-e', CHILD, file]);
      const heap = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshotJson;
      const { totalBytes, rows } = bufferOwners(heap);
      const bytesOf = (owners: string): number => rows.find((row) => row.owners === owners)?.bytes ?? 0;
      assert.ok(bytesOf('Holder') >= 2 * MIB && bytesOf('Holder') < 2.5 * MIB, JSON.stringify(rows));
      assert.ok(bytesOf('Other') >= MIB && bytesOf('Other') < 1.5 * MIB, JSON.stringify(rows));
      assert.ok(bytesOf('(none)') >= MIB / 2, JSON.stringify(rows));
      assert.ok(totalBytes >= 3.5 * MIB, `${totalBytes} bytes of buffers in all`);
      assert.deepStrictEqual(
        rows.map((row) => row.bytes),
        [...rows.map((row) => row.bytes)].sort((a, b) => b - a),
        'largest first',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
