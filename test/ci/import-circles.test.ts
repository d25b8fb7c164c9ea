// Proves that no source file imports itself through other files, type-only imports included
// (STYLE.md §1), by walking the import graph of every source folder (import-graph.ts, over the
// TypeScript parser of import-scan.ts) and listing each circle with the files that form it.
// The walk itself is checked on small throwaway trees: a value circle, a type-only circle, a
// type `import('x')`, a self-import, an acyclic diamond, and imports of packages and of files
// outside the scanned folders.
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeCircle, importCircles, importGraph } from './import-graph.js';
import { moduleImports } from './import-scan.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** Every folder of shipped sources; contracts/ joins when it exists. */
const SOURCE_DIRS = ['agent', 'codec', 'transport', 'storage', 'deploy', 'contracts'];

describe('import circles', () => {
  it('has none in the shipped sources, not even type-only ones', () => {
    const dirs = SOURCE_DIRS.map((d) => join(ROOT, d)).filter((d) => existsSync(d));
    const graph = importGraph(dirs);
    assert.ok(graph.size > 50, `the walk found the sources (${graph.size} files)`);
    assert.ok(
      [...graph.values()].some((targets) => targets.length > 0),
      'the walk found imports',
    );
    assert.deepEqual(
      importCircles(graph).map((c) => describeCircle(ROOT, c)),
      [],
    );
  });

  describe('the walk', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'coraft-circles-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const write = (files: Record<string, string>): void => {
      for (const [name, text] of Object.entries(files)) {
        mkdirSync(join(dir, name, '..'), { recursive: true });
        writeFileSync(join(dir, name), text);
      }
    };
    const circles = (dirs = ['src']): string[] =>
      importCircles(importGraph(dirs.map((d) => join(dir, d)))).map((c) => describeCircle(dir, c));

    it('finds a circle of value imports and names every file of it', () => {
      write({
        'src/a.ts': "import { b } from './b.js';\nexport const a = b;",
        'src/b.ts': "import { c } from './sub/c.js';\nexport const b = c;",
        'src/sub/c.ts': "import { a } from '../a.js';\nexport const c = () => a;",
        'src/d.ts': "import { a } from './a.js';\nexport const d = a;",
      });
      assert.deepEqual(circles(), [
        'src/a.ts → src/b.ts → src/sub/c.ts → src/a.ts (3 files: src/a.ts, src/b.ts, src/sub/c.ts)',
      ]);
    });

    it('counts type-only imports, type re-exports and type import() as edges', () => {
      write({
        'src/a.ts': "import type { B } from './b.js';\nexport interface A { b: B }",
        'src/b.ts': "export type { A } from './a.js';\nexport interface B { n: number }",
        'src/c.ts': "export type C = import('./d.js').D;",
        'src/d.ts': "import { type C } from './c.js';\nexport type D = C | number;",
      });
      assert.deepEqual(circles(), [
        'src/a.ts → src/b.ts → src/a.ts (2 files: src/a.ts, src/b.ts)',
        'src/c.ts → src/d.ts → src/c.ts (2 files: src/c.ts, src/d.ts)',
      ]);
      assert.deepEqual(
        moduleImports('a.ts', "import type { X } from './x.js';\nimport { y } from 'pkg';").map((i) => [
          i.specifier,
          i.typeOnly,
        ]),
        [
          ['./x.js', true],
          ['pkg', false],
        ],
      );
    });

    it('finds a file that imports itself', () => {
      write({ 'src/self.ts': "export * from './self.js';\nexport const s = 1;" });
      assert.deepEqual(circles(), ['src/self.ts → src/self.ts (1 file: src/self.ts)']);
    });

    it('passes a diamond, package imports, and imports of files outside the scanned folders', () => {
      write({
        'src/top.ts':
          "import { l } from './left.js';\nimport { r } from './right.js';\nimport ts from 'typescript';\nexport " +
          'const t = [l, r, ts];',
        'src/left.ts': "import { base } from './base.js';\nexport const l = base;",
        'src/right.ts':
          "import { base } from './base.js';\nimport { o } from '../other/o.js';\nexport const r = [base, o];",
        'src/base.ts': 'export const base = 0;',
        'other/o.ts': "import { t } from '../src/top.js';\nexport const o = t;",
      });
      assert.deepEqual(circles(), []);
      // Scanned together, the outside file closes a circle.
      assert.deepEqual(circles(['src', 'other']), [
        'other/o.ts → src/top.ts → src/right.ts → other/o.ts (3 files: other/o.ts, src/right.ts, src/top.ts)',
      ]);
    });
  });
});
