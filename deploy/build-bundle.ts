/**
 * Builds the bundled CLI that bin/coraft.js runs (issue 17: the agent's start-up). `npm run build`
 * runs it after tsc: `node --import tsx deploy/build-bundle.ts`. esbuild is a development
 * dependency; the bundle is what ships, so an install needs neither esbuild nor TypeScript.
 *
 * Out of agent/cli/entry.ts it writes dist/bundle/coraft.cjs: the whole CLI with its JavaScript
 * dependencies (pino, Ajv's runtime) in one CommonJS file. Node.js then reads, resolves and
 * compiles one file where the ES module loader of dist/ did about 250 (each one an asynchronous
 * read, a resolution and a compilation). Each command's modules still run only when the command
 * does: a dynamic import() of our own modules becomes a lazily run module in the same file. The
 * packages with native builds (lmdb, and cbor-x with its optional cbor-extract) stay outside:
 * their loaders find the native file beside their own package; so do the optional peer
 * dependencies (protobufjs, prom-client, hot-shots), which the CLI requires on demand.
 *
 * Beside it: dist/bundle/loader.cjs, which bin/coraft.js requires (both CommonJS: an ES module entry
 * would load Node's ES module loader into every agent): it runs the bundle, `coraft agent` with a
 * V8 code cache (agent/cli/code-cache.ts); dist/bundle/wal-checkpoint-worker.js, the WAL
 * checkpoint worker (an ES module, started by the bundle from beside itself). The bundle sits two
 * folders below the package root, like dist/codec/*.js, so the paths our modules find from
 * import.meta.url (the protobuf schema in codec/, bin/coraft.js) hold in both.
 *
 * Its metafile (dist/bundle/meta.json, not shipped) lists which module went where.
 */
import { build } from 'esbuild';
import type { BuildOptions } from 'esbuild';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Where the bundle goes, relative to the package root (bin/coraft.js and the tests read it). */
export const BUNDLE_DIR = 'dist/bundle';

/**
 * Packages left to Node.js's resolution at run time: the ones with native builds, and the optional
 * peer dependencies an operator may install beside coraft.
 */
export const EXTERNAL_PACKAGES = ['lmdb', 'cbor-x', 'cbor-extract', 'protobufjs', 'prom-client', 'hot-shots'] as const;

/**
 * The runtime's packages the bundle carries inside it, with their own dependencies: pure JavaScript,
 * so they are devDependencies, which a production install leaves out (issue 17: install size).
 */
export const BUNDLED_PACKAGES = ['pino', 'ajv'] as const;

/** The file of the licenses of the packages inside the bundle, shipped beside it. */
export const NOTICES_FILE = 'THIRD-PARTY-NOTICES.txt';

/**
 * In a CommonJS bundle `import.meta` is empty: each module's import.meta.url becomes the bundle's
 * own file URL, defined once at its top.
 */
const IMPORT_META_URL = '__coraftBundleUrl';

const COMMON: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: [...EXTERNAL_PACKAGES],
  // Source maps are left out of the package ("files" in package.json); names are kept for stack traces.
  sourcemap: 'linked',
  keepNames: true,
  // Whitespace and syntax: 1.9 -> 1.3 MB, and the agent at rest holds 5 MiB less anonymous memory
  // (issue 17, measured: RssAnon 25.0 -> 19.9 MiB). Identifiers too: 1.6 -> 1.1 MB, 1.3 MiB less
  // (15.5 against 16.8 MiB, medians of six agents each). keepNames keeps functions' and classes'
  // names for stack traces; the source map names each function's file.
  minifyWhitespace: true,
  minifySyntax: true,
  minifyIdentifiers: true,
  legalComments: 'none',
  // ASCII (esbuild's default, stated): the loader then reads the bundle as Latin-1, a plain copy
  // (agent/cli/code-cache.ts).
  charset: 'ascii',
  logLevel: 'warning',
  metafile: true,
};

/** The package folders (node_modules/…) whose files `inputs` (a metafile's input paths) hold, sorted. */
function packagesOf(inputs: readonly string[]): string[] {
  const folders = new Set<string>();
  for (const input of inputs) {
    const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//u.exec(input);
    if (match?.[1] !== undefined) folders.add(match[1]);
  }
  return [...folders].sort();
}

/** The name, version, license and license text of each package folder, for the notices file. */
function notices(folders: readonly string[]): string {
  const parts = folders.map((folder) => {
    const manifest: unknown = JSON.parse(readFileSync(join(ROOT, folder, 'package.json'), 'utf8'));
    const field = (name: string): string => String(Reflect.get(Object(manifest), name) ?? '?');
    const file = readdirSync(join(ROOT, folder)).find((f) => /^(licen[cs]e|copying)/iu.test(f));
    const text = file === undefined ? '(no license file)' : readFileSync(join(ROOT, folder, file), 'utf8').trim();
    return `${field('name')} ${field('version')} (${field('license')})\n\n${text}\n`;
  });
  const title = 'Packages bundled in coraft.cjs and wal-checkpoint-worker.js, and their licenses.';
  return `${title}\n\n${parts.join('\n---\n\n')}`;
}

async function main(): Promise<void> {
  const cli = await build({
    ...COMMON,
    entryPoints: [join(ROOT, 'agent/cli/entry.ts')],
    outfile: join(ROOT, BUNDLE_DIR, 'coraft.cjs'),
    format: 'cjs',
    // import() of a package becomes require(): the bundle also runs as a vm.Script, which has no module loader.
    supported: { 'dynamic-import': false },
    define: { 'import.meta.url': IMPORT_META_URL },
    // The directive first: a banner goes above esbuild's own "use strict", which would then be no directive.
    banner: { js: `'use strict';\nconst ${IMPORT_META_URL} = require('node:url').pathToFileURL(__filename).href;` },
  });
  const worker = await build({
    ...COMMON,
    entryPoints: [join(ROOT, 'storage/wal/wal-checkpoint-worker.ts')],
    outfile: join(ROOT, BUNDLE_DIR, 'wal-checkpoint-worker.js'),
    format: 'esm',
  });
  // CommonJS, like bin/coraft.js that requires it: an ES module would make Node.js load its ES
  // module loader into every agent (issue 17).
  const loader = await build({
    ...COMMON,
    entryPoints: [join(ROOT, 'agent/cli/code-cache.ts')],
    outfile: join(ROOT, BUNDLE_DIR, 'loader.cjs'),
    format: 'cjs',
  });
  const meta = { cli: cli.metafile, worker: worker.metafile, loader: loader.metafile };
  writeFileSync(join(ROOT, BUNDLE_DIR, 'meta.json'), JSON.stringify(meta));
  const inputs = Object.values(meta).flatMap((m) => (m === undefined ? [] : Object.keys(m.inputs)));
  writeFileSync(join(ROOT, BUNDLE_DIR, NOTICES_FILE), notices(packagesOf(inputs)));
}

// Run as a script (npm run build), not when a test imports the lists above.
if (
  process.argv[1] !== undefined &&
  existsSync(process.argv[1]) &&
  resolve(process.argv[1]) === fileURLToPath(import.meta.url)
)
  await main();
