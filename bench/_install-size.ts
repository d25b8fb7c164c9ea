/**
 * The size of a production install, as an operator gets it: `npm pack` of this checkout (its
 * dist/ as built by `npm run build`), then `npm install --omit=dev` of the tarball into an empty
 * temporary project, from the warm npm cache (--prefer-offline), then the prune step
 * deploy/install.sh runs (dist/deploy/prune-prebuilds.js: only the native build this node loads),
 * and the space its node_modules (coraft's own files included) takes on disk, with the largest
 * packages named.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { folderBytes } from './_proc.js';

/** What the install takes. */
export interface InstallSize {
  readonly tarballBytes: number;
  /** Allocated bytes (du) of node_modules after the install. */
  readonly installedBytes: number;
  readonly installedApparentBytes: number;
  readonly packages: number;
  /** Bytes the prune step removed (native builds for other Node.js ABIs and C libraries). */
  readonly prunedBytes: number;
  /** The largest installed packages, allocated bytes, largest first. */
  readonly largest: readonly { readonly name: string; readonly bytes: number }[];
  readonly seconds: number;
}

/** How many of the largest packages are named. */
const LARGEST_NAMED = 8;
/** Longest an npm command may take, ms. */
const NPM_TIMEOUT_MS = 300_000;

function npm(args: readonly string[], cwd: string, command = 'npm'): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => void (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => void (err = (err + c.toString('utf8')).slice(-8192)));
    const timer = setTimeout(() => child.kill('SIGKILL'), NPM_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) done(out);
      else
        fail(
          new Error(
            `${command} ${args.join(' ')} failed (${String(code)}): ${err.trim().split('\n').slice(-4).join(' | ')}`,
          ),
        );
    });
  });
}

/** The installed packages (scoped ones as @scope/name) under `modules`, with their sizes. */
export function packageSizes(modules: string): { name: string; bytes: number }[] {
  const out: { name: string; bytes: number }[] = [];
  const names = existsSync(modules) ? readdirSync(modules) : [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const path = join(modules, name);
    if (name.startsWith('@') && statSync(path).isDirectory()) {
      for (const inner of readdirSync(path))
        out.push({ name: `${name}/${inner}`, bytes: folderBytes(join(path, inner)).allocatedBytes });
    } else out.push({ name, bytes: folderBytes(path).allocatedBytes });
  }
  return out.sort((a, b) => b.bytes - a.bytes);
}

/**
 * Packs the checkout at `root` and installs it for production into `work` (a fresh folder is made and removed when
 * absent).
 */
export async function measureInstall(
  root: string,
  work: string = mkdtempSync(join(tmpdir(), 'coraft-bench-install-')),
): Promise<InstallSize> {
  if (!existsSync(join(root, 'dist', 'agent', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run npm run build first');
  const started = Date.now();
  try {
    // --ignore-scripts: pack the dist/ that is there rather than rebuild it here.
    const packed: unknown = JSON.parse(
      await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], root),
    );
    const entry: unknown = Array.isArray(packed) ? packed[0] : null;
    const filename: unknown = typeof entry === 'object' && entry !== null ? Reflect.get(entry, 'filename') : null;
    if (typeof filename !== 'string') throw new Error('npm pack did not name its tarball');
    const tarball = join(work, filename.replace(/^@/, '').replace('/', '-'));
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      `${JSON.stringify({ name: 'coraft-install-size', version: '0.0.0', private: true })}\n`,
    );
    await npm(['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--no-save', tarball], app);
    const modules = join(app, 'node_modules');
    const before = folderBytes(modules).allocatedBytes;
    // As deploy/install.sh does: keep only the native build this node loads.
    await npm([join(modules, 'coraft', 'dist', 'deploy', 'prune-prebuilds.js'), modules], app, process.execPath);
    const size = folderBytes(modules);
    const packages = packageSizes(modules);
    return {
      tarballBytes: statSync(tarball).size,
      installedBytes: size.allocatedBytes,
      installedApparentBytes: size.apparentBytes,
      packages: packages.length,
      prunedBytes: before - size.allocatedBytes,
      largest: packages.slice(0, LARGEST_NAMED),
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
