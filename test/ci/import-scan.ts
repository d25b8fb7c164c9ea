/**
 * Reads the module specifiers of sources with the TypeScript parser. `packageImports` finds the
 * npm packages that code loads at run time: the specifiers of value imports, re-exports,
 * `import()` and `require()` calls; whole `import type` / `export type` declarations are left
 * out, since the compiler erases them (with verbatimModuleSyntax, `import { type A } from 'x'`
 * still loads 'x' and counts). `moduleImports` finds every specifier, type-only ones included,
 * for the import-graph checks (import-graph.ts), where a type-only circle counts too.
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
  /** An import() or require() call inside a function: the package loads only when that function runs. */
  readonly onDemand: boolean;
}

/**
 * The package a bare specifier names ('@scope/name/sub' → '@scope/name'); null for relative paths and Node.js
 * built-ins.
 */
export function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return null;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
  return builtinModules.includes(name) ? null : name;
}

/** One import of a module: its specifier as written, where it is, and whether the compiler erases it. */
export interface ModuleImport {
  readonly specifier: string;
  readonly file: string;
  readonly line: number;
  readonly typeOnly: boolean;
  /** An import() or require() call inside a function (not at the top level of the module). */
  readonly onDemand: boolean;
}

/** Whether `node` is an import() or require() call inside a function. */
function loadsOnDemand(node: ts.Node): boolean {
  if (!ts.isCallExpression(node)) return false;
  for (let up = node.parent; up !== undefined; up = up.parent) if (ts.isFunctionLike(up)) return true;
  return false;
}

function runtimeSpecifier(node: ts.Node): ts.Expression | undefined {
  if (ts.isImportDeclaration(node)) return node.importClause?.isTypeOnly === true ? undefined : node.moduleSpecifier;
  if (ts.isExportDeclaration(node)) return node.isTypeOnly ? undefined : node.moduleSpecifier;
  if (ts.isImportEqualsDeclaration(node)) {
    return !node.isTypeOnly && ts.isExternalModuleReference(node.moduleReference)
      ? node.moduleReference.expression
      : undefined;
  }
  if (ts.isCallExpression(node)) {
    const callee = node.expression;
    const loads = callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require');
    return loads ? node.arguments[0] : undefined;
  }
  return undefined;
}

/** The specifier of a whole `import type` / `export type` declaration, or of a type `import('x')`. */
function typeOnlySpecifier(node: ts.Node): ts.Expression | undefined {
  if (ts.isImportTypeNode(node))
    return ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)
      ? node.argument.literal
      : undefined;
  if (ts.isImportDeclaration(node)) return node.importClause?.isTypeOnly === true ? node.moduleSpecifier : undefined;
  if (ts.isExportDeclaration(node)) return node.isTypeOnly ? node.moduleSpecifier : undefined;
  if (ts.isImportEqualsDeclaration(node) && node.isTypeOnly && ts.isExternalModuleReference(node.moduleReference))
    return node.moduleReference.expression;
  return undefined;
}

/** Every module specifier of `text` (the source of `file`), type-only ones included, in source order. */
export function moduleImports(file: string, text: string): ModuleImport[] {
  const source = ts.createSourceFile(
    file,
    text,
    ts.ScriptTarget.Latest,
    true,
    file.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS,
  );
  const found: ModuleImport[] = [];
  const visit = (node: ts.Node): void => {
    const runtime = runtimeSpecifier(node);
    const specifier = runtime ?? typeOnlySpecifier(node);
    if (specifier !== undefined && ts.isStringLiteralLike(specifier)) {
      found.push({
        specifier: specifier.text,
        file,
        line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1,
        typeOnly: runtime === undefined,
        onDemand: runtime !== undefined && loadsOnDemand(node),
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The packages `text` (the source of `file`) loads at run time. */
export function packageImports(file: string, text: string): PackageImport[] {
  const found: PackageImport[] = [];
  for (const i of moduleImports(file, text)) {
    const pkg = i.typeOnly ? null : packageOf(i.specifier);
    if (pkg !== null) found.push({ pkg, file: i.file, line: i.line, onDemand: i.onDemand });
  }
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
