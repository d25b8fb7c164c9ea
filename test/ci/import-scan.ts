/**
 * Finds the npm packages that code loads at run time: the module specifiers of value imports,
 * re-exports, `import()` and `require()` calls, read with the TypeScript parser. Whole
 * `import type` / `export type` declarations are left out, since the compiler erases them
 * (with verbatimModuleSyntax, `import { type A } from 'x'` still loads 'x' and counts).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import ts from 'typescript';

/** One import of a package: the package name and where it is. */
export interface PackageImport {
  readonly pkg: string;
  readonly file: string;
  readonly line: number;
}

/** The package a bare specifier names ('@scope/name/sub' → '@scope/name'); null for relative paths and Node.js built-ins. */
export function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return null;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
  return builtinModules.includes(name) ? null : name;
}

function runtimeSpecifier(node: ts.Node): ts.Expression | undefined {
  if (ts.isImportDeclaration(node)) return node.importClause?.isTypeOnly === true ? undefined : node.moduleSpecifier;
  if (ts.isExportDeclaration(node)) return node.isTypeOnly ? undefined : node.moduleSpecifier;
  if (ts.isImportEqualsDeclaration(node)) {
    return !node.isTypeOnly && ts.isExternalModuleReference(node.moduleReference) ? node.moduleReference.expression : undefined;
  }
  if (ts.isCallExpression(node)) {
    const callee = node.expression;
    const loads = callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require');
    return loads ? node.arguments[0] : undefined;
  }
  return undefined;
}

/** The packages `text` (the source of `file`) loads at run time. */
export function packageImports(file: string, text: string): PackageImport[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const found: PackageImport[] = [];
  const visit = (node: ts.Node): void => {
    const specifier = runtimeSpecifier(node);
    if (specifier !== undefined && ts.isStringLiteralLike(specifier)) {
      const pkg = packageOf(specifier.text);
      if (pkg !== null) found.push({ pkg, file, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The .ts, .js and .mjs files under `dir` (recursively), .d.ts files left out. */
export function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...sourceFiles(path));
    else if (/\.(ts|js|mjs)$/u.test(name) && !name.endsWith('.d.ts')) files.push(path);
  }
  return files;
}

/** The packages every file under `dirs` loads at run time. */
export function packageImportsUnder(dirs: readonly string[]): PackageImport[] {
  return dirs.flatMap((dir) => sourceFiles(dir)).flatMap((file) => packageImports(file, readFileSync(file, 'utf8')));
}
