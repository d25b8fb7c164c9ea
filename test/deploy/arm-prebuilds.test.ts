// Proves that coraft installs on ARM gateways without a compiler: the lockfile pins a
// linux-arm64 and a linux-arm prebuild (version, cpu, os, integrity) for every native
// dependency (lmdb, cbor-extract, msgpackr-extract), and each published prebuild holds an N-API
// glibc binary that is an ELF shared object for AArch64 or ARM; an x64 binary passed off as
// arm64 is caught. The registry part fetches the tarballs with `npm pack` and is skipped,
// saying so, only when the registry cannot be reached.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  ARM_TARGETS,
  checkLockfile,
  checkRegistry,
  inspectPrebuild,
  NATIVE_PACKAGES,
} from '../../deploy/arm-prebuilds.js';

const LOCKFILE = resolve(import.meta.dirname, '../../package-lock.json');

describe('ARM prebuilds of the native dependencies', function () {
  this.timeout(120_000);
  const { problems, prebuilds } = checkLockfile(LOCKFILE);

  it('the lockfile pins both ARM prebuilds of every native dependency', () => {
    assert.deepEqual(problems, []);
    assert.equal(prebuilds.length, NATIVE_PACKAGES.length * ARM_TARGETS.length);
  });

  it('every published ARM prebuild is an N-API glibc binary for its machine', function () {
    // the npm registry is unreachable
    if (spawnSync('npm', ['view', 'lmdb@3.5.6', 'version'], { timeout: 30_000 }).status !== 0) this.skip();
    assert.deepEqual(checkRegistry(prebuilds), []);
    const dir = mkdtempSync(join(tmpdir(), 'coraft-arm-test-'));
    try {
      assert.match(
        inspectPrebuild({ pkg: '@lmdb/lmdb-linux-x64', version: '3.5.6', cpu: 'arm64' }, dir) ?? '',
        /not an ELF shared object for arm64/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
