// Proves that every property test runs through the one fcParams of test/fc-params.ts (its number
// of runs, its seed and its replay through FC_SEED and FC_PATH): each fc.assert call under test/
// passes fcParams(...) as its parameters, and no other file defines its own. The scan is checked
// on small sources, so that it is seen to fail.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { sourceFiles } from './import-scan.js';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * The fc.assert calls of `text` that do not pass fcParams(...), and its own fcParams definitions, as "file:line: why".
 */
function strayParameters(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const at = (node: ts.Node): string =>
    `${file}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`;
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && node.expression.getText(source) === 'fc.assert') {
      const params = node.arguments[1];
      const ok =
        params !== undefined && ts.isCallExpression(params) && params.expression.getText(source) === 'fcParams';
      if (!ok) found.push(`${at(node)}: fc.assert without fcParams(...)`);
    }
    if (ts.isFunctionDeclaration(node) && /^fc(Params|Parameters)$/u.test(node.name?.text ?? ''))
      found.push(`${at(node)}: defines its own ${node.name?.text ?? ''}`);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('fcParams', () => {
  it('is the parameters of every property test, defined once', () => {
    const files = sourceFiles(join(ROOT, 'test')).filter((f) => relative(ROOT, f) !== join('test', 'fc-params.ts'));
    assert.ok(files.length > 100, `the scan found the tests (${files.length} files)`);
    assert.deepEqual(
      files.flatMap((f) => strayParameters(relative(ROOT, f), readFileSync(f, 'utf8'))),
      [],
    );
  });

  it('the scan finds a property run without it, with other parameters, and a second definition', () => {
    const text = [
      'fc.assert(fc.property(fc.nat(), () => true));',
      'fc.assert(fc.property(fc.nat(), () => true), { numRuns: 5 });',
      'fc.assert(fc.property(fc.nat(), () => true), fcParams(5));',
      'export function fcParams(n: number) { return { numRuns: n }; }',
    ].join('\n');
    assert.deepEqual(strayParameters('x.ts', text), [
      'x.ts:1: fc.assert without fcParams(...)',
      'x.ts:2: fc.assert without fcParams(...)',
      'x.ts:4: defines its own fcParams',
    ]);
  });
});
