// Proves the prune step of deploy/install.sh keeps the one native build the gateway loads and
// nothing else, and removes nothing when the native package's own loader would not load what it
// keeps (the package's C sources go with the other builds, and stay when nothing is pruned):
// on a fake install (a native package "lmdb" with a loader that picks like
// node-gyp-build-optional-packages, or one that picks otherwise) and on this platform's prebuild
// folder name. The real install and a real LMDB put/get after pruning are in
// production-install.test.ts.
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseBuild, currentLibc, prunePrebuilds } from '../../deploy/prune-prebuilds.js';

const BUILDS = ['node.abi115.glibc.node', 'node.abi127.glibc.node', 'node.napi.glibc.node', 'node.napi.musl.node'];

/** A loader that prefers an ABI build, then N-API, for glibc (as the real one does on Node 20 glibc). */
const REAL_LIKE = `module.exports = () => null; module.exports.path = (dir) => {
  const p = require('path'); const fs = require('fs');
  const pre = p.join(dir, '..', '@lmdb', 'lmdb-${process.platform}-${process.arch}');
  const files = fs.readdirSync(pre).filter((f) => f.endsWith('.node') && f.includes('glibc'));
  const pick = files.find((f) => f.includes('abi${process.versions.modules}')) ?? files.find((f) => f.includes('napi'));
  return p.join(pre, pick);
};`;
/** A loader that always picks the ABI 115 build. */
const STUBBORN = `module.exports = () => null; module.exports.path = (dir) => {
  return require('path').join(dir, '..', '@lmdb', 'lmdb-${process.platform}-${process.arch}', 'node.abi115.glibc.node');
};`;

function fakeInstall(loader: string): { modules: string; prebuilds: string } {
  const modules = join(mkdtempSync(join(tmpdir(), 'coraft-prune-')), 'node_modules');
  const lmdb = join(modules, 'lmdb');
  mkdirSync(join(lmdb, 'node_modules', 'node-gyp-build-optional-packages'), { recursive: true });
  writeFileSync(join(lmdb, 'package.json'), '{"name":"lmdb"}');
  // The C sources a build from source reads: removed with the other builds, kept when nothing is.
  for (const folder of ['dependencies', 'src']) {
    mkdirSync(join(lmdb, folder));
    writeFileSync(join(lmdb, folder, 'source.c'), 'c'.repeat(500));
  }
  writeFileSync(join(lmdb, 'node_modules', 'node-gyp-build-optional-packages', 'index.js'), loader);
  const prebuilds = join(modules, '@lmdb', `lmdb-${process.platform}-${process.arch}`);
  mkdirSync(prebuilds, { recursive: true });
  for (const f of [...BUILDS, 'package.json']) writeFileSync(join(prebuilds, f), 'x'.repeat(1000));
  return { modules, prebuilds };
}

describe('prune-prebuilds', () => {
  it('chooses the N-API build of the C library, or nothing when there is none', () => {
    assert.equal(chooseBuild(BUILDS, 'glibc'), 'node.napi.glibc.node');
    assert.equal(chooseBuild(BUILDS, 'musl'), 'node.napi.musl.node');
    assert.equal(chooseBuild(['node.abi115.glibc.node'], 'glibc'), null);
    assert.equal(currentLibc(), 'glibc', 'this machine is Debian (glibc)');
  });

  it("keeps only the build the package's loader then picks, and reports what it removed", () => {
    const { modules, prebuilds } = fakeInstall(REAL_LIKE);
    try {
      const dry = prunePrebuilds(modules, { dryRun: true, libc: 'glibc' });
      assert.equal(dry.length, 1);
      assert.equal(readdirSync(prebuilds).length, 5, 'a dry run removes nothing');
      assert.ok(existsSync(join(modules, 'lmdb', 'src')), 'a dry run keeps the sources');
      const done = prunePrebuilds(modules, { libc: 'glibc' });
      assert.deepEqual(done, [
        {
          pkg: `@lmdb/lmdb-${process.platform}-${process.arch}`,
          kept: 'node.napi.glibc.node',
          removed: [
            'node.abi115.glibc.node',
            'node.abi127.glibc.node',
            'node.napi.musl.node',
            'lmdb/dependencies/',
            'lmdb/src/',
          ],
          removedBytes: 4000,
        },
      ]);
      assert.deepEqual(readdirSync(prebuilds).sort(), ['node.napi.glibc.node', 'package.json']);
      assert.deepEqual(readdirSync(join(modules, 'lmdb')).sort(), ['node_modules', 'package.json'], 'sources gone');
      assert.deepEqual(prunePrebuilds(modules, { libc: 'glibc' }), [], 'a second run has nothing to do');
    } finally {
      rmSync(join(modules, '..'), { recursive: true, force: true });
    }
  });

  it('removes nothing and fails when the loader would pick another build than the one kept', () => {
    const { modules, prebuilds } = fakeInstall(STUBBORN);
    try {
      assert.throws(() => prunePrebuilds(modules, { libc: 'glibc' }), /the loader would pick .*: nothing removed/);
      assert.deepEqual(readdirSync(prebuilds).sort(), [...BUILDS, 'package.json'].sort());
      assert.ok(existsSync(join(modules, 'lmdb', 'dependencies')), 'the sources stay when nothing is pruned');
    } finally {
      rmSync(join(modules, '..'), { recursive: true, force: true });
    }
  });
});
