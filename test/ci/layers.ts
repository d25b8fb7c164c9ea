/**
 * The layers of DESIGN.md ("Layers") as data, and the imports that break them. Imports run one
 * way, down the floors; a file may import its own unit and the units below it that its rule
 * allows:
 *
 *   1. contracts/: itself only; no `node:*` built-in and no package.
 *   2. codec/, transport/, storage/ (the components): contracts/ and their own folder.
 *   3. agent/core/: contracts/ and itself; no built-in and no package (it is pure).
 *   4. agent/ (runtime and application), deploy/: anything below.
 *   5. bench/, test/: anything.
 *
 * Specifiers are read with the TypeScript parser (import-scan.ts), type-only imports included,
 * and relative ones resolved as import-graph.ts does.
 */
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { relative, sep } from 'node:path';
import { resolveRelative } from './import-graph.js';
import { moduleImports, sourceFiles } from './import-scan.js';

/** One unit of the layering: a folder (or agent/core) and what its files may import. */
export interface Unit {
  /** The folder, relative to the root, with '/' separators. */
  readonly folder: string;
  readonly floor: number;
  /** The other units its files may import; null: every unit on its floor or below. */
  readonly mayImport: readonly string[] | null;
  /** Whether it may import Node.js built-ins and npm packages. */
  readonly bare: boolean;
}

/** The units of coraft, most specific folder first where one holds another. */
export const UNITS: readonly Unit[] = [
  { folder: 'contracts', floor: 1, mayImport: [], bare: false },
  { folder: 'codec', floor: 2, mayImport: ['contracts'], bare: true },
  { folder: 'transport', floor: 2, mayImport: ['contracts'], bare: true },
  { folder: 'storage', floor: 2, mayImport: ['contracts'], bare: true },
  { folder: 'agent/core', floor: 3, mayImport: ['contracts'], bare: false },
  { folder: 'agent', floor: 4, mayImport: null, bare: true },
  { folder: 'deploy', floor: 4, mayImport: null, bare: true },
  { folder: 'bench', floor: 5, mayImport: null, bare: true },
  { folder: 'test', floor: 5, mayImport: null, bare: true },
];

/** The unit a path (relative to the root, '/' separators) belongs to, or null outside every unit. */
export function unitOf(path: string, units: readonly Unit[] = UNITS): Unit | null {
  return units.find((u) => path === u.folder || path.startsWith(`${u.folder}/`)) ?? null;
}

function isBare(specifier: string): boolean {
  return !specifier.startsWith('.') && !specifier.startsWith('/');
}

function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0] ?? specifier);
}

/** Why an import of `specifier` (resolving to `target`, if relative) from unit `from` breaks the layers, or null. */
export function breach(
  from: Unit,
  specifier: string,
  target: string | null,
  units: readonly Unit[] = UNITS,
): string | null {
  if (isBare(specifier)) {
    if (from.bare) return null;
    return `${from.folder}/ imports ${isBuiltin(specifier) ? 'the built-in' : 'the package'} ${specifier}`;
  }
  const to = target === null ? null : unitOf(target, units);
  if (to === null) return `${from.folder}/ imports ${target ?? specifier}, outside every layer`;
  if (to === from) return null;
  if (to.floor > from.floor)
    return `${from.folder}/ (floor ${from.floor}) imports upward into ${to.folder}/ (floor ${to.floor})`;
  if (from.mayImport !== null && !from.mayImport.includes(to.folder)) {
    return `${from.folder}/ may import only ${[from.folder, ...from.mayImport].join('/, ')}/ but imports ${to.folder}/`;
  }
  return null;
}

/** Every import under `root` that breaks the layers, as "file:line: why", in file order. */
export function layerBreaches(root: string, units: readonly Unit[] = UNITS): string[] {
  const found: string[] = [];
  const rel = (path: string): string => relative(root, path).split(sep).join('/');
  for (const unit of units) {
    for (const file of sourceFiles(`${root}/${unit.folder}`)) {
      const home = unitOf(rel(file), units);
      if (home !== unit) continue;
      for (const i of moduleImports(file, readFileSync(file, 'utf8'))) {
        const target = resolveRelative(file, i.specifier);
        const why = breach(unit, i.specifier, target === null ? null : rel(target), units);
        if (why !== null) found.push(`${rel(file)}:${i.line}: ${why}`);
      }
    }
  }
  return found;
}
