// Proves that package.json's runtime dependencies are exactly what the runtime loads: every
// package that the runtime's sources (contracts/, agent/, codec/, transport/, storage/, deploy/, bin/)
// and the built dist/ load at run time is in "dependencies" (so a runtime import of a
// devDependency, which `npm install --omit=dev` would not install, fails here), or is one the
// bundle carries inside it (BUNDLED_PACKAGES of deploy/build-bundle.ts: pino and Ajv, then
// devDependencies); every package the shipped bundle requires is a dependency, an optional peer
// dependency or a built-in; and every entry of "dependencies" is loaded by the runtime (so a
// package only tests or benchmarks use, such as coap or coap-packet, stays a devDependency).
// The import scan itself is checked on small sources: value imports, re-exports, import() and
// require() count; type-only imports and Node.js built-ins do not.
// The optional peer dependencies (peerDependencies marked optional in peerDependenciesMeta:
// the protobuf codec's protobufjs, the metrics backends prom-client and hot-shots), which a
// production install leaves out, are loaded only on demand: by an import() or require() call
// inside a function, never by a static import or at a module's top level, so that a node
// configured without them starts without them.
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { BUNDLED_PACKAGES, BUNDLE_DIR, EXTERNAL_PACKAGES } from '../../deploy/build-bundle.js';
import { packageImports, packageImportsUnder, packageOf } from './import-scan.js';
import type { PackageImport } from './import-scan.js';

const ROOT = resolve(import.meta.dirname, '../..');
const RUNTIME_SOURCES = ['contracts', 'agent', 'codec', 'transport', 'storage', 'deploy', 'bin'];
/** Files among the runtime sources that run at build time only (with devDependencies), never installed. */
const BUILD_TOOLS = ['deploy/build-bundle.ts'];

/** The imports of the runtime sources, build tools left out. */
function runtimeImports(): PackageImport[] {
  return packageImportsUnder(RUNTIME_SOURCES.map((d) => join(ROOT, d))).filter(
    (i) => !BUILD_TOOLS.includes(relative(ROOT, i.file)),
  );
}

interface Manifest {
  readonly dependencies: Readonly<Record<string, string>>;
  readonly devDependencies: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
  readonly peerDependenciesMeta?: Readonly<Record<string, { readonly optional?: boolean }>>;
}

function manifest(): Manifest {
  const json = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Partial<Manifest>;
  return { ...json, dependencies: json.dependencies ?? {}, devDependencies: json.devDependencies ?? {} };
}

/** The optional peer dependencies: listed in peerDependencies and marked optional. */
function optionalPeers(m: Manifest): Set<string> {
  return new Set(Object.keys(m.peerDependencies ?? {}).filter((p) => m.peerDependenciesMeta?.[p]?.optional === true));
}

/**
 * The imports of packages that are not runtime dependencies, one line each: an optional peer dependency counts as
 * one only where it is loaded on demand.
 */
function notRuntimeDependencies(imports: readonly PackageImport[], m: Manifest): string[] {
  const optional = optionalPeers(m);
  const bundled = new Set<string>(BUNDLED_PACKAGES);
  return imports
    .filter((i) => !(i.pkg in m.dependencies) && !bundled.has(i.pkg) && !(optional.has(i.pkg) && i.onDemand))
    .map(
      (i) =>
        `${relative(ROOT, i.file)}:${i.line} loads ${i.pkg}, ` +
        (optional.has(i.pkg)
          ? 'an optional peer dependency, at start-up (load it on demand, in a function)'
          : i.pkg in m.devDependencies
            ? 'a devDependency'
            : 'not a dependency'),
    );
}

describe('runtime dependencies', () => {
  const m = manifest();

  it('lists every package the runtime sources load in "dependencies"', () => {
    const imports = runtimeImports();
    assert.ok(imports.length > 0, 'the scan found the runtime imports');
    assert.deepEqual(notRuntimeDependencies(imports, m), []);
  });

  it('lists in "dependencies" only packages the runtime loads (test and bench packages are devDependencies)', () => {
    const loaded = new Set(runtimeImports().map((i) => i.pkg));
    const unused = Object.keys(m.dependencies).filter((pkg) => !loaded.has(pkg));
    assert.deepEqual(unused, [], `runtime dependencies no runtime code loads: ${unused.join(', ')}`);
    const unusedPeers = [...optionalPeers(m)].filter((pkg) => !loaded.has(pkg));
    assert.deepEqual(unusedPeers, [], `optional peer dependencies no runtime code loads: ${unusedPeers.join(', ')}`);
    assert.deepEqual(
      Object.keys(m.dependencies).filter((pkg) => pkg in m.devDependencies),
      [],
      'no package is both',
    );
  });

  it('keeps the optional peer dependencies out of "dependencies" and in "devDependencies" (for the tests)', () => {
    const optional = [...optionalPeers(m)];
    assert.deepEqual(optional.sort(), ['hot-shots', 'prom-client', 'protobufjs']);
    assert.deepEqual(
      optional.filter((pkg) => pkg in m.dependencies),
      [],
    );
    assert.deepEqual(
      optional.filter((pkg) => !(pkg in m.devDependencies)),
      [],
    );
  });

  it('bundles pino and Ajv as devDependencies, and leaves every dependency outside the bundle', () => {
    assert.deepEqual(
      BUNDLED_PACKAGES.filter((pkg) => !(pkg in m.devDependencies) || pkg in m.dependencies),
      [],
    );
    const external = new Set<string>(EXTERNAL_PACKAGES);
    assert.deepEqual(
      Object.keys(m.dependencies).filter((pkg) => !external.has(pkg)),
      [],
    );
  });

  it('ships a bundle that requires only dependencies, optional peer dependencies and built-ins', () => {
    const bundle = readFileSync(join(ROOT, BUNDLE_DIR, 'coraft.cjs'), 'utf8');
    const optional = optionalPeers(m);
    const required = [...bundle.matchAll(/\brequire\("([^"]+)"\)/gu)].map((r) => r[1] ?? '');
    assert.ok(required.includes('lmdb') && required.includes('node:dgram'), 'the scan found the requires');
    // Ajv's code generator holds require("ajv/dist/runtime/…") in strings of the code it generates, never run here.
    const packages = required.filter((id) => !isBuiltin(id) && !id.startsWith('ajv/dist/runtime/'));
    assert.deepEqual(
      packages.filter((id) => {
        const pkg = packageOf(id) ?? id;
        return !(pkg in m.dependencies) && !optional.has(pkg);
      }),
      [],
    );
    const meta = JSON.parse(readFileSync(join(ROOT, BUNDLE_DIR, 'meta.json'), 'utf8')) as {
      cli: { inputs: Record<string, unknown> };
    };
    const inputs = Object.keys(meta.cli.inputs);
    assert.deepEqual(
      inputs.filter((input) => /node_modules\/(coap|coap-packet|esbuild|typescript|tsx)\//u.test(input)),
      [],
    );
  });

  it('ships a dist/ whose code loads only runtime dependencies', () => {
    assert.ok(existsSync(join(ROOT, 'dist', 'agent', 'cli', 'main.js')), 'dist/ is built (npm run build)');
    const imports = packageImportsUnder([join(ROOT, 'dist'), join(ROOT, 'bin')]);
    assert.deepEqual(notRuntimeDependencies(imports, m), []);
    assert.deepEqual(
      imports.filter((i) => i.pkg === 'coap' || i.pkg === 'coap-packet'),
      [],
    );
  });

  describe('the import scan', () => {
    const pkgs = (text: string, file = 'x.ts'): string[] => packageImports(file, text).map((i) => i.pkg);

    it('finds value imports, re-exports, import() and require(), with scoped names and subpaths', () => {
      const text = [
        "import sinon from 'sinon';",
        "import { a, type B } from 'fast-check';",
        "import 'side-effect';",
        "export { c } from '@scope/pkg/sub/path.js';",
        "export * from 'star';",
        "const d = await import('coap');",
        "const e = require('coap-packet');",
        "import f = require('old-style');",
      ].join('\n');
      assert.deepEqual(pkgs(text), [
        'sinon',
        'fast-check',
        'side-effect',
        '@scope/pkg',
        'star',
        'coap',
        'coap-packet',
        'old-style',
      ]);
      assert.deepEqual(pkgs("import { x } from 'mocha';\nrequire('sinon');", 'y.js'), ['mocha', 'sinon']);
    });

    it('leaves out type-only imports, relative paths and Node.js built-ins', () => {
      const text = [
        "import type { T } from 'pino';",
        "export type { U } from 'ajv';",
        "import { readFileSync } from 'node:fs';",
        "import { join } from 'path';",
        "import { here } from './here.js';",
        "import { up } from '../up.js';",
      ].join('\n');
      assert.deepEqual(pkgs(text), []);
      assert.equal(packageOf('fs/promises'), null);
      assert.equal(packageOf('@types/node'), '@types/node');
    });

    it('tells an on-demand load (import() or require() in a function) from a start-up one', () => {
      const text = [
        "import a from 'static';",
        "const b = await import('top-level');",
        "const c = require('top-level-require');",
        "function d() { return import('in-function'); }",
        "const e = () => require('in-arrow');",
        "class F { load() { return import('in-method'); } }",
      ].join('\n');
      assert.deepEqual(
        packageImports('x.ts', text).map((i) => [i.pkg, i.onDemand]),
        [
          ['static', false],
          ['top-level', false],
          ['top-level-require', false],
          ['in-function', true],
          ['in-arrow', true],
          ['in-method', true],
        ],
      );
    });

    it('accepts an optional peer dependency only where it is loaded on demand', () => {
      const imports = packageImports(
        join(ROOT, 'agent', 'example.ts'),
        "import p from 'peer';\nconst load = () => import('peer');",
      );
      assert.deepEqual(
        notRuntimeDependencies(imports, {
          dependencies: {},
          devDependencies: { peer: '1' },
          peerDependencies: { peer: '^1' },
          peerDependenciesMeta: { peer: { optional: true } },
        }),
        ['agent/example.ts:1 loads peer, an optional peer dependency, at start-up (load it on demand, in a function)'],
      );
    });

    it('reports a runtime import of a devDependency by file, line and kind', () => {
      const imports = packageImports(
        join(ROOT, 'agent', 'example.ts'),
        "import { x } from 'lmdb';\nimport sinon from 'sinon';\nimport z from 'left-pad';",
      );
      assert.deepEqual(
        notRuntimeDependencies(imports, { dependencies: { lmdb: '1' }, devDependencies: { sinon: '1' } }),
        ['agent/example.ts:2 loads sinon, a devDependency', 'agent/example.ts:3 loads left-pad, not a dependency'],
      );
    });
  });
});
