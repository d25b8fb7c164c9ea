// Proves a production install is what an operator gets from deploy/install.sh, and that it works:
// `npm pack` of this checkout, `npm install --omit=dev` of the tarball (warm cache), then the
// prune step. After it, the install holds no optional peer dependency (protobufjs, prom-client,
// hot-shots), not the packages inside the bundle (pino, Ajv), no source maps and, of coraft, only
// the bundled CLI (dist/bundle/) and the prune script; holds one lmdb build (the N-API one for
// glibc) that still opens an LMDB environment for a real put and get; its `coraft`
// (node_modules/.bin, what the systemd unit runs) starts a real agent that answers on its
// endpoint, writes its code cache once and uses it on the next start; the agent refuses the
// protobuf codec and the Prometheus and StatsD backends with an error naming the package to
// install, serves protobuf once protobufjs is installed beside it, and the install takes at most
// 20 MiB (issue 17). Needs `npm run build`.
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { findFreePorts } from '../../agent/cli/agent-processes.js';
import { CACHE_FILE } from '../../agent/cli/code-cache.js';
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

/** How long an agent of the install may take to be ready, or to stop (a loaded machine is slow). */
const AGENT_WAIT_MS = 30_000;

/** How an agent run ended: its "agent ready" log fields (null if it never was), its exit code and stderr. */
interface AgentRun {
  readonly ready: Record<string, unknown> | null;
  readonly code: number | null;
  readonly stderr: string;
}

/**
 * Starts the install's `coraft agent --config config` (node_modules/.bin/coraft, as the unit does), waits for
 * "agent ready" or its exit, runs `whileReady` while it is ready, then stops it with SIGTERM.
 */
function runAgent(app: string, config: string, whileReady: () => void = () => undefined): Promise<AgentRun> {
  const bin = join(app, 'node_modules', '.bin', 'coraft');
  const child = spawn(process.execPath, [bin, 'agent', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let ready: Record<string, unknown> | null = null;
  const timer = setTimeout(() => child.kill('SIGKILL'), AGENT_WAIT_MS);
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    const line = stdout.split('\n').find((l) => l.includes('"agent ready"'));
    if (ready !== null || line === undefined) return;
    ready = JSON.parse(line) as Record<string, unknown>;
    whileReady();
    child.kill('SIGTERM');
  });
  return new Promise((done) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      done({ ready, code, stderr });
    }),
  );
}

/** Rewrites the agent.json at `config` with `change` applied to it. */
function editConfig(config: string, change: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
  change(json);
  writeFileSync(config, JSON.stringify(json, null, 2));
}

describe('a production install (npm pack, npm install --omit=dev, prune-prebuilds)', function () {
  this.timeout(600_000);
  let work = '';
  let app = '';
  let packed = '';
  let config = '';

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

  before(async () => {
    const port = await findFreePorts(2);
    const bin = join(app, 'node_modules', '.bin', 'coraft');
    const args = ['cluster', 'init', '--nodes', '1', '--dir', join(work, 'cluster'), '--base-port', String(port)];
    execFileSync(process.execPath, [bin, ...args], { cwd: app, stdio: 'ignore' });
    config = join(work, 'cluster', 'n1', 'agent.json');
  });

  after(() => rmSync(work, { recursive: true, force: true }));

  it('leaves out the optional peers, the source maps and dist/ but the bundle, and takes at most 20 MiB', () => {
    const modules = join(app, 'node_modules');
    for (const pkg of ['protobufjs', 'prom-client', 'hot-shots', 'pino', 'ajv'])
      assert.ok(!existsSync(join(modules, pkg)), pkg);
    assert.deepEqual(readdirSync(join(modules, 'coraft/dist')).sort(), ['bundle', 'deploy']);
    assert.deepEqual(readdirSync(join(modules, 'coraft/dist/bundle')).sort(), [
      'THIRD-PARTY-NOTICES.txt',
      'coraft.cjs',
      'loader.cjs',
      'wal-checkpoint-worker.js',
    ]);
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

  it("starts a real agent with the install's coraft: it answers, writes its code cache once, uses it", async () => {
    const cache = join(app, 'node_modules', 'coraft', 'dist', 'bundle', CACHE_FILE);
    const endpoint = (JSON.parse(readFileSync(config, 'utf8')) as { listen: { endpoint: string } }).listen.endpoint;
    const bin = join(app, 'node_modules', '.bin', 'coraft');
    let status = '';
    const first = await runAgent(app, config, () => {
      status = execFileSync(process.execPath, [bin, 'status', '--endpoint', endpoint, '--json'], { encoding: 'utf8' });
    });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.ready?.codeCache, 'missing');
    assert.equal((JSON.parse(status) as { nodeId: string }).nodeId, 'n1');
    const written = statSync(cache);
    const second = await runAgent(app, config);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.ready?.codeCache, 'used');
    const after = statSync(cache);
    assert.deepEqual([after.ino, after.mtimeMs], [written.ino, written.mtimeMs], 'the cache is not written again');
  });

  it('refuses the protobuf codec and the Prometheus and StatsD backends, naming what to install', async () => {
    const refusals: [string, (json: Record<string, unknown>) => void, RegExp][] = [
      ['protobuf', (json) => (json.codec = 'protobuf'), /install protobufjs to use codec protobuf/],
      [
        'prometheus',
        (json) => (json.metrics = { kind: 'prometheus', listen: '127.0.0.1:0' }),
        /needs the optional package prom-client/,
      ],
      ['statsd', (json) => (json.metrics = { kind: 'statsd', statsdPort: 9 }), /needs the optional package hot-shots/],
    ];
    const original = readFileSync(config, 'utf8');
    try {
      for (const [name, change, refusal] of refusals) {
        editConfig(config, change);
        const run = await runAgent(app, config);
        assert.equal(run.ready, null, `${name}: the agent does not start`);
        assert.notEqual(run.code, 0, name);
        assert.match(run.stderr, refusal, name);
        writeFileSync(config, original);
      }
    } finally {
      writeFileSync(config, original);
    }
  });

  it('serves the protobuf codec once protobufjs is installed beside coraft', async () => {
    // --no-save would prune coraft itself, which the app's package.json does not list.
    npm(
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-save', 'protobufjs@8', join(work, packed)],
      app,
    );
    editConfig(config, (json) => (json.codec = 'protobuf'));
    const run = await runAgent(app, config);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.ready?.node, 'n1');
  });
});
