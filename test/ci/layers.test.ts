// Proves that imports run one way down the layers of DESIGN.md ("Layers"): contracts/ imports
// nothing outside itself (not even node:* or a package), a component (codec/, transport/,
// storage/) imports only contracts/ and itself, the core only contracts/ and itself, and no
// file imports a floor above its own (layers.ts). The check itself is run on small throwaway
// trees, one per kind of breach, so that it is seen to fail.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { layerBreaches, UNITS } from './layers.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe('layers', () => {
  it('hold in the repository: no import runs upward or sideways between components', () => {
    assert.deepEqual(layerBreaches(ROOT), []);
  });

  describe('the check', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'coraft-layers-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const write = (files: Record<string, string>): string[] => {
      for (const [name, text] of Object.entries(files)) {
        mkdirSync(join(dir, name, '..'), { recursive: true });
        writeFileSync(join(dir, name), text);
      }
      for (const unit of UNITS) mkdirSync(join(dir, unit.folder), { recursive: true });
      return layerBreaches(dir);
    };

    it('passes imports that run down the floors', () => {
      const breaches = write({
        'contracts/log.ts': 'export type NodeId = string;',
        'contracts/errors.ts': "import type { NodeId } from './log.js';\nexport type E = NodeId;",
        'codec/cbor.ts':
          "import type { NodeId } from '../contracts/log.js';\nimport { x } from './sub/x.js';\nimport " +
          "'node:fs';\nimport 'cbor-x';\nexport const c = x;",
        'codec/sub/x.ts': 'export const x = 1;',
        'agent/core/raft.ts': "import type { E } from '../../contracts/errors.js';\nexport type R = E;",
        'agent/runtime/node.ts':
          "import { c } from '../../codec/cbor.js';\nimport type { R } from '../core/raft.js';\nimport " +
          "'../../deploy/schema.json';\nexport const n = c;",
        'deploy/schema.json': '{}',
        'bench/b.ts': "import { n } from '../agent/runtime/node.js';\nimport '../test/t.js';",
        'test/t.ts': "import '../bench/b.js';",
      });
      assert.deepEqual(breaches, []);
    });

    it('refuses an upward import, a type-only one included', () => {
      assert.deepEqual(
        write({
          'storage/s.ts': "import type { N } from '../agent/runtime/node.js';",
          'agent/runtime/node.ts': 'export type N = 1;',
        }),
        ['storage/s.ts:1: storage/ (floor 2) imports upward into agent/ (floor 4)'],
      );
    });

    it('refuses a component importing another component or the core', () => {
      assert.deepEqual(
        write({
          'codec/c.ts': "import '../transport/t.js';\nimport '../agent/core/r.js';",
          'transport/t.ts': '',
          'agent/core/r.ts': '',
        }),
        [
          'codec/c.ts:1: codec/ may import only codec/, contracts/ but imports transport/',
          'codec/c.ts:2: codec/ (floor 2) imports upward into agent/core/ (floor 3)',
        ],
      );
    });

    it('refuses contracts/ importing anything outside itself, built-ins and packages included', () => {
      assert.deepEqual(
        write({
          'contracts/a.ts': "import '../codec/c.js';\nimport 'node:crypto';\nimport { x } from 'cbor-x';",
          'codec/c.ts': '',
        }),
        [
          'contracts/a.ts:1: contracts/ (floor 1) imports upward into codec/ (floor 2)',
          'contracts/a.ts:2: contracts/ imports the built-in node:crypto',
          'contracts/a.ts:3: contracts/ imports the package cbor-x',
        ],
      );
    });

    it('refuses the core importing the runtime, a component or I/O', () => {
      assert.deepEqual(
        write({
          'agent/core/r.ts': "import '../runtime/n.js';\nimport '../../storage/m.js';\nimport 'fs';",
          'agent/runtime/n.ts': '',
          'storage/m.ts': '',
        }),
        [
          'agent/core/r.ts:1: agent/core/ (floor 3) imports upward into agent/ (floor 4)',
          'agent/core/r.ts:2: agent/core/ may import only agent/core/, contracts/ but imports storage/',
          'agent/core/r.ts:3: agent/core/ imports the built-in fs',
        ],
      );
    });

    it('refuses an import of a file outside every layer', () => {
      assert.deepEqual(write({ 'agent/a.ts': "import '../tools/x.js';" }), [
        'agent/a.ts:1: agent/ imports tools/x.js, outside every layer',
      ]);
    });
  });
});
