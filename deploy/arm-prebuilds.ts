/**
 * Checks that every native dependency has a prebuilt binary for the ARM gateways (linux-arm64
 * and linux-arm, glibc), so `npm install` there needs no compiler:
 *
 * - lmdb (required: no JavaScript fallback) through @lmdb/lmdb-linux-{arm64,arm};
 * - cbor-extract (cbor-x's optional accelerator; cbor-x falls back to JavaScript without it)
 *   through @cbor-extract/cbor-extract-linux-{arm64,arm};
 * - msgpackr-extract (lmdb's msgpackr accelerator, optional likewise) through
 *   @msgpackr-extract/msgpackr-extract-linux-{arm64,arm}.
 *
 * The lockfile check proves npm would fetch those exact packages (version, cpu, os, integrity);
 * the registry check (`npm pack` of each) proves each tarball holds an N-API glibc binary that
 * is an ELF shared object for AArch64 or ARM.
 * unix-dgram (hot-shots' optional Unix-socket support, unused by coraft) has no prebuilds: npm
 * skips it when it cannot build, which costs only statsd over Unix sockets.
 *
 * Run from the repository: node --import tsx deploy/arm-prebuilds.ts [--registry]
 * (npm run check:arm)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The native packages and their per-platform prebuild packages (scope/prefix). */
export const NATIVE_PACKAGES: readonly {
  readonly name: string;
  readonly prebuildPrefix: string;
  readonly required: boolean;
}[] = [
  { name: 'lmdb', prebuildPrefix: '@lmdb/lmdb', required: true },
  { name: 'cbor-extract', prebuildPrefix: '@cbor-extract/cbor-extract', required: false },
  { name: 'msgpackr-extract', prebuildPrefix: '@msgpackr-extract/msgpackr-extract', required: false },
];

/** The ARM targets: npm's cpu names. */
export const ARM_TARGETS = ['arm64', 'arm'] as const;

/** One prebuild package a gateway would install. */
export interface Prebuild {
  readonly pkg: string;
  readonly version: string;
  readonly cpu: string;
}

interface LockEntry {
  readonly version?: string;
  readonly cpu?: readonly string[];
  readonly os?: readonly string[];
  readonly integrity?: string;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
}

function stringList(value: unknown): readonly string[] | undefined {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
}

/** Reads the lockfile's `packages`, keeping the fields the check needs. */
function readLockfile(lockfile: string): { readonly packages: Readonly<Record<string, LockEntry>> } {
  const document: unknown = JSON.parse(readFileSync(lockfile, 'utf8'));
  const raw: unknown = typeof document === 'object' && document !== null ? Reflect.get(document, 'packages') : null;
  const packages: Record<string, LockEntry> = {};
  if (typeof raw !== 'object' || raw === null) return { packages };
  for (const [path, entry] of Object.entries(raw)) {
    if (typeof entry !== 'object' || entry === null) continue;
    const get = (name: string): unknown => Reflect.get(entry, name);
    const version = get('version');
    const integrity = get('integrity');
    const optional = get('optionalDependencies');
    const cpu = stringList(get('cpu'));
    const os = stringList(get('os'));
    packages[path] = {
      ...(typeof version === 'string' ? { version } : {}),
      ...(typeof integrity === 'string' ? { integrity } : {}),
      ...(cpu === undefined ? {} : { cpu }),
      ...(os === undefined ? {} : { os }),
      ...(typeof optional === 'object' && optional !== null
        ? {
            optionalDependencies: Object.fromEntries(
              Object.entries(optional).filter((e): e is [string, string] => typeof e[1] === 'string'),
            ),
          }
        : {}),
    };
  }
  return { packages };
}

/** Problems of the lockfile (empty when every native package has both ARM prebuilds), and the prebuilds found. */
export function checkLockfile(lockfile: string): { readonly problems: string[]; readonly prebuilds: Prebuild[] } {
  const lock = readLockfile(lockfile);
  const problems: string[] = [];
  const prebuilds: Prebuild[] = [];
  for (const native of NATIVE_PACKAGES) {
    const entry = lock.packages[`node_modules/${native.name}`];
    if (entry === undefined) {
      if (native.required) problems.push(`${native.name} is not in the lockfile`);
      continue;
    }
    for (const cpu of ARM_TARGETS) {
      const pkg = `${native.prebuildPrefix}-linux-${cpu}`;
      const wanted = entry.optionalDependencies?.[pkg];
      const locked = lock.packages[`node_modules/${pkg}`];
      if (wanted === undefined) problems.push(`${native.name}@${entry.version ?? '?'} names no ${pkg}`);
      else if (locked === undefined) problems.push(`${pkg} is not in the lockfile`);
      else if (
        locked.version !== wanted ||
        !(locked.cpu ?? []).includes(cpu) ||
        !(locked.os ?? []).includes('linux') ||
        locked.integrity === undefined
      ) {
        problems.push(
          `${pkg}: lockfile entry does not match (version ${locked.version ?? '?'} vs ${wanted}, ` +
            `cpu ${String(locked.cpu)}, os ${String(locked.os)})`,
        );
      } else prebuilds.push({ pkg, version: wanted, cpu });
    }
  }
  return { problems, prebuilds };
}

/** ELF e_machine of each target: EM_AARCH64 and EM_ARM. */
const ELF_MACHINE: Readonly<Record<string, number>> = { arm64: 0xb7, arm: 0x28 };

/**
 * Fetches a prebuild's tarball from the registry (`npm pack`) into `dir`, extracts its N-API
 * glibc binary and returns the problem with it, or null when it is an ELF shared object for
 * the right machine.
 */
export function inspectPrebuild(prebuild: Prebuild, dir: string): string | null {
  const output = execFileSync(
    'npm',
    ['pack', `${prebuild.pkg}@${prebuild.version}`, '--json', '--ignore-scripts', '--pack-destination', dir],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
  );
  const packed: unknown = JSON.parse(output);
  const first: unknown = Array.isArray(packed) ? packed[0] : null;
  const tarball: unknown = typeof first === 'object' && first !== null ? Reflect.get(first, 'filename') : undefined;
  if (typeof tarball !== 'string') return `${prebuild.pkg}: npm pack returned no tarball`;
  const binary = execFileSync('tar', ['-xzOf', join(dir, tarball), 'package/node.napi.glibc.node'], {
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60_000,
  });
  const elf = binary.subarray(0, 4).toString('latin1') === '\x7fELF';
  const type = binary.readUInt16LE(16);
  const machine = binary.readUInt16LE(18);
  if (!elf || type !== 3 || machine !== ELF_MACHINE[prebuild.cpu])
    return (
      `${prebuild.pkg}: node.napi.glibc.node is not an ELF shared object for ${prebuild.cpu} (machine ` +
      `0x${machine.toString(16)})`
    );
  return null;
}

/** Problems of the published prebuilds (each fetched into a temporary folder). */
export function checkRegistry(prebuilds: readonly Prebuild[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'coraft-arm-'));
  try {
    return prebuilds.map((p) => inspectPrebuild(p, dir)).filter((p): p is string => p !== null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (
  process.argv[1] !== undefined &&
  resolve(process.argv[1]).replace(/\.js$/, '.ts') === resolve(import.meta.filename).replace(/\.js$/, '.ts')
) {
  const { problems, prebuilds } = checkLockfile(resolve('package-lock.json'));
  for (const p of prebuilds) process.stdout.write(`lockfile: ${p.pkg}@${p.version} (${p.cpu})\n`);
  const all = process.argv.includes('--registry') ? [...problems, ...checkRegistry(prebuilds)] : problems;
  for (const problem of all) process.stderr.write(`problem: ${problem}\n`);
  process.stdout.write(
    all.length === 0
      ? 'every native dependency has linux-arm64 and linux-arm prebuilds\n'
      : `${all.length} problem(s)\n`,
  );
  process.exitCode = all.length === 0 ? 0 : 1;
}
