// Proves a production install is what an operator gets from deploy/install.sh, and that it works:
// `npm pack` of this checkout, `npm install --omit=dev` of the tarball (warm cache), then the
// prune step. After it, the install holds no optional peer dependency (protobufjs, prom-client,
// hot-shots) and no source maps, holds one lmdb build (the N-API one for glibc) that still opens
// an LMDB environment for a real put and get, refuses the protobuf codec and the Prometheus and
// StatsD backends with an error naming the package to install, serves protobuf again once
// protobufjs is installed beside it, and takes at most 20 MiB (issue 17). Needs `npm run build`.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { folderBytes } from '../../bench/_proc.js';

const ROOT = resolve(import.meta.dirname, '../..');
/**
 * Where the install goes: a folder none of whose parents holds a node_modules (Node.js resolves packages up the
 * tree, so one in /tmp would hide a missing package). /var/tmp unless CORAFT_INSTALL_TEST_DIR says otherwise.
 */
const BASE = process.env.CORAFT_INSTALL_TEST_DIR ?? '/var/tmp';
const NPM_TIMEOUT_MS = 300_000;

function npm(args: readonly string[], cwd: string): string {
  return execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    timeout: NPM_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs an ES module `source` with this node in `app`; returns what it prints. */
function script(app: string, name: string, source: string): string {
  writeFileSync(join(app, name), source);
  return execFileSync(process.execPath, [join(app, name)], { cwd: app, encoding: 'utf8' }).trim();
}

const REFUSALS = `
import { createSerializer } from 'coraft/dist/codec/index.js';
import { PrometheusMetrics, StatsdMetrics } from 'coraft/dist/agent/observability/metrics.js';
const out = [];
try { createSerializer('protobuf'); out.push('protobuf: made'); } catch (e) { out.push(e.message); }
try { await PrometheusMetrics.create('x'); out.push('prometheus: made'); } catch (e) { out.push(e.message); }
const statsd = { host: '127.0.0.1', port: 9, prefix: 'x' };
try { await StatsdMetrics.create(statsd); out.push('statsd: made'); } catch (e) { out.push(e.message); }
console.log(JSON.stringify(out));
`;

describe('a production install (npm pack, npm install --omit=dev, prune-prebuilds)', function () {
  this.timeout(600_000);
  let work = '';
  let app = '';
  let packed = '';

  before(() => {
    assert.ok(existsSync(join(ROOT, 'dist', 'deploy', 'prune-prebuilds.js')), 'dist/ is built (npm run build)');
    work = mkdtempSync(join(BASE, 'coraft-install-'));
    for (let dir = work; dirname(dir) !== dir; dir = dirname(dir))
      assert.ok(
        !existsSync(join(dirname(dir), 'node_modules')),
        `${dirname(dir)} holds a node_modules: choose another base`,
      );
    packed = npm(['pack', '--ignore-scripts', '--silent', '--pack-destination', work], ROOT).trim();
    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), '{"name":"gateway","version":"0.0.0","private":true,"type":"module"}\n');
    npm(['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--no-save', join(work, packed)], app);
    execFileSync(process.execPath, [join(app, 'node_modules/coraft/dist/deploy/prune-prebuilds.js'), 'node_modules'], {
      cwd: app,
    });
  });

  after(() => rmSync(work, { recursive: true, force: true }));

  it('leaves out the optional peer dependencies and the source maps, and takes at most 20 MiB', () => {
    const modules = join(app, 'node_modules');
    for (const pkg of ['protobufjs', 'prom-client', 'hot-shots']) assert.ok(!existsSync(join(modules, pkg)), pkg);
    assert.ok(existsSync(join(modules, 'coraft/dist/codec/index.js')));
    assert.ok(!existsSync(join(modules, 'coraft/dist/codec/index.js.map')));
    const bytes = folderBytes(modules).allocatedBytes;
    assert.ok(bytes <= 20 * 2 ** 20, `the install takes ${(bytes / 2 ** 20).toFixed(1)} MiB`);
  });

  it('keeps one lmdb build, which opens an LMDB environment for a put and a get', () => {
    const prebuilds = join(app, 'node_modules', '@lmdb', `lmdb-${process.platform}-${process.arch}`);
    assert.deepEqual(
      readdirSync(prebuilds).filter((f) => f.endsWith('.node')),
      ['node.napi.glibc.node'],
    );
    const out = script(
      app,
      'lmdb-check.mjs',
      `import { open } from 'lmdb';
       const db = open({ path: ${JSON.stringify(join(work, 'db'))} });
       await db.put('gateway', { ok: 1 });
       console.log(JSON.stringify(db.get('gateway')));
       await db.close();`,
    );
    assert.equal(out, '{"ok":1}');
  });

  it('refuses the protobuf codec and the Prometheus and StatsD backends, naming what to install', () => {
    const [protobuf, prometheus, statsd] = JSON.parse(script(app, 'refusals.mjs', REFUSALS)) as string[];
    assert.match(protobuf ?? '', /install protobufjs to use codec protobuf/);
    assert.match(prometheus ?? '', /metrics.kind "prometheus" needs the optional package prom-client/);
    assert.match(statsd ?? '', /metrics.kind "statsd" needs the optional package hot-shots/);
  });

  it('serves the protobuf codec once protobufjs is installed beside coraft', () => {
    // --no-save would prune coraft itself, which the app's package.json does not list.
    npm(
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-save', 'protobufjs@8', join(work, packed)],
      app,
    );
    const [protobuf] = JSON.parse(script(app, 'refusals.mjs', REFUSALS)) as string[];
    assert.equal(protobuf, 'protobuf: made');
  });
});
