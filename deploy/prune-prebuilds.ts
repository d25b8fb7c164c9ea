/**
 * Removes the native prebuilds a gateway cannot use from a production install: npm installs one
 * prebuild package per platform (npm filters them by os and cpu: @lmdb/lmdb-linux-x64 on an x64
 * gateway), but each holds builds for several Node.js ABIs and C libraries (lmdb 3.5: abi115 and
 * abi127 glibc, N-API glibc and N-API musl, 15 MB). deploy/install.sh runs this after `npm install`
 * (npm 11 runs no install scripts, so the install cannot do it by itself):
 *
 *   node PREFIX/node_modules/coraft/dist/deploy/prune-prebuilds.js PREFIX/node_modules [--dry-run]
 *
 * In each prebuild package of this platform and CPU it keeps one file, the N-API build for this
 * C library (glibc or musl, as process.report says), which every Node.js version from 18 on
 * loads, so that upgrading Node on the gateway keeps the install working; it removes the
 * ABI-specific builds (which the loader would prefer on their own Node.js major: they use V8's
 * fast API calls, a speed-up of lookups that a Raft agent bounded by network and fsync does not
 * need) and the other C library's. Before anything is removed, the package's own loader
 * (node-gyp-build-optional-packages, resolved from the native package's folder) must pick the
 * kept file with the others out of its sight; otherwise nothing is removed and it fails.
 */
import { existsSync, readdirSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

/**
 * The native packages, the scope/prefix of their per-platform prebuild packages, and the folders
 * of the package that only a build from source reads (C/C++ sources; lmdb 3.5: 2.2 MB), removed
 * once the loader is shown to pick a prebuild.
 */
export const PRUNED_PACKAGES: readonly {
  readonly name: string;
  readonly prebuildPrefix: string;
  readonly buildSources?: readonly string[];
}[] = [
  { name: 'lmdb', prebuildPrefix: '@lmdb/lmdb', buildSources: ['dependencies', 'src'] },
  { name: 'msgpackr-extract', prebuildPrefix: '@msgpackr-extract/msgpackr-extract' },
  { name: 'cbor-extract', prebuildPrefix: '@cbor-extract/cbor-extract' },
];

/** The loader the native packages use; resolved from each package's own folder, not coraft's. */
const LOADER = 'node-gyp-build-optional-packages';
/** Suffix of a build hidden from the loader while the choice is checked. */
const HIDDEN = '.pruning';

/** What pruning one prebuild package did. */
export interface PrunedPackage {
  readonly pkg: string;
  readonly kept: string;
  readonly removed: readonly string[];
  /** Bytes of the removed builds and build sources. */
  readonly removedBytes: number;
}

/** Bytes of the files under `path`. */
function treeBytes(path: string): number {
  const stats = statSync(path);
  if (!stats.isDirectory()) return stats.size;
  return readdirSync(path).reduce((sum, name) => sum + treeBytes(join(path, name)), 0);
}

/** Removes (or with `dryRun` only counts) the build-source folders of `packageDir`; returns what it removed. */
function removeBuildSources(
  packageDir: string,
  folders: readonly string[],
  dryRun: boolean,
): { readonly removed: string[]; readonly bytes: number } {
  const present = folders.filter((f) => existsSync(join(packageDir, f)));
  const bytes = present.reduce((sum, f) => sum + treeBytes(join(packageDir, f)), 0);
  if (!dryRun) for (const f of present) rmSync(join(packageDir, f), { recursive: true, force: true });
  return { removed: present.map((f) => `${f}/`), bytes };
}

/** The C library of this process: glibc when Node reports a glibc runtime version, else musl. */
export function currentLibc(): 'glibc' | 'musl' {
  const header: unknown = Reflect.get(process.report.getReport(), 'header');
  const glibc: unknown =
    typeof header === 'object' && header !== null ? Reflect.get(header, 'glibcVersionRuntime') : null;
  return typeof glibc === 'string' ? 'glibc' : 'musl';
}

/** The build of `files` to keep: the N-API build for `libc`, or null when there is none (nothing is pruned). */
export function chooseBuild(files: readonly string[], libc: 'glibc' | 'musl'): string | null {
  return files.find((f) => f === `node.napi.${libc}.node`) ?? null;
}

/** The file the package's loader picks in `packageDir` (the native package, e.g. node_modules/lmdb). */
function loaderPick(packageDir: string): string {
  const loader: unknown = createRequire(join(packageDir, 'package.json'))(LOADER);
  const path: unknown = typeof loader === 'function' ? Reflect.get(loader, 'path') : undefined;
  if (typeof path !== 'function') throw new Error(`${packageDir}: ${LOADER} has no path()`);
  const picked: unknown = Reflect.apply(path, loader, [packageDir]);
  if (typeof picked !== 'string') throw new Error(`${packageDir}: ${LOADER} picked no build`);
  return resolve(picked);
}

/** Prunes one prebuild package `dir` of the native package `packageDir`; null when there is nothing to do. */
function prunePackage(
  pkg: string,
  dir: string,
  packageDir: string,
  libc: 'glibc' | 'musl',
  dryRun: boolean,
): PrunedPackage | null {
  const builds = readdirSync(dir).filter((f) => f.endsWith('.node'));
  const kept = chooseBuild(builds, libc);
  if (kept === null || builds.length === 1) return null;
  const removed = builds.filter((f) => f !== kept);
  const removedBytes = removed.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
  for (const f of removed) renameSync(join(dir, f), join(dir, f + HIDDEN));
  let picked: string;
  try {
    picked = loaderPick(packageDir);
  } catch (error) {
    for (const f of removed) renameSync(join(dir, f + HIDDEN), join(dir, f));
    throw error;
  }
  const ok = picked === resolve(dir, kept);
  for (const f of removed) {
    if (ok && !dryRun) unlinkSync(join(dir, f + HIDDEN));
    else renameSync(join(dir, f + HIDDEN), join(dir, f));
  }
  if (!ok) throw new Error(`${pkg}: the loader would pick ${picked}, not ${kept}: nothing removed`);
  return { pkg, kept, removed, removedBytes };
}

/**
 * Prunes the prebuild packages of this platform and CPU under `modules` (an install's node_modules). With `dryRun`,
 * only checks and reports.
 */
export function prunePrebuilds(
  modules: string,
  options: { readonly dryRun?: boolean; readonly libc?: 'glibc' | 'musl' } = {},
): PrunedPackage[] {
  const libc = options.libc ?? currentLibc();
  const done: PrunedPackage[] = [];
  for (const native of PRUNED_PACKAGES) {
    const packageDir = join(modules, native.name);
    const pkg = `${native.prebuildPrefix}-${process.platform}-${process.arch}`;
    const dir = join(modules, pkg);
    if (!existsSync(packageDir) || !existsSync(dir)) continue;
    const dryRun = options.dryRun === true;
    const pruned = prunePackage(pkg, dir, packageDir, libc, dryRun);
    if (pruned === null) continue;
    // The loader picked the kept prebuild (prunePackage throws otherwise): the sources go too.
    const sources = removeBuildSources(packageDir, native.buildSources ?? [], dryRun);
    done.push({
      ...pruned,
      removed: [...pruned.removed, ...sources.removed.map((f) => `${native.name}/${f}`)],
      removedBytes: pruned.removedBytes + sources.bytes,
    });
  }
  return done;
}

if (
  process.argv[1] !== undefined &&
  resolve(process.argv[1]).replace(/\.js$/, '.ts') === resolve(import.meta.filename).replace(/\.js$/, '.ts')
) {
  const modules = process.argv[2];
  if (modules === undefined || modules.startsWith('-')) {
    process.stderr.write('usage: prune-prebuilds.js NODE_MODULES [--dry-run]\n');
    process.exit(64);
  }
  const dryRun = process.argv.includes('--dry-run');
  const done = prunePrebuilds(resolve(modules), { dryRun });
  for (const p of done) {
    const mb = (p.removedBytes / 2 ** 20).toFixed(1);
    process.stdout.write(
      `prune-prebuilds: ${p.pkg}: kept ${p.kept}, ${dryRun ? 'would remove' : 'removed'} ${p.removed.join(', ')} ` +
        `(${mb} MiB)\n`,
    );
  }
  if (done.length === 0) process.stdout.write('prune-prebuilds: nothing to prune\n');
}
