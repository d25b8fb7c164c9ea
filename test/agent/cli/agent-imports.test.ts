// Proves that a started agent (the default coaps transport, no metrics) runs only the modules it
// needs (issue 17: idle memory and start-up time): not Ajv (its configuration validator is
// compiled ahead of time), not the metrics backends (prom-client, hot-shots), not the
// simulator, not the other CLI commands, not the HTTP peer transports with node:http,
// node:https and TLS, not node:child_process (only systemd-notify needs it), and neither
// node:fs/promises nor node:dns (a cluster of IP literals resolves nothing); and that its
// entry (bin/coraft.js, the loader) is CommonJS: Node runs no ES module job, whose loader's modules
// an ES module entry would add to every agent.
// A real agent process runs the shipped entry (bin/coraft.js and the bundle dist/bundle/coraft.cjs:
// `npm run build` first). In the bundle each of our modules reached through import() and each
// bundled CommonJS file is a function run the first time the module is needed: V8's precise
// coverage (NODE_V8_COVERAGE) counts which functions ran, and the bundle's source map
// (coraft.cjs.map) names the source file each function's last character came from (the bundle's
// identifiers are minified: its functions carry no path). A preload records what
// the bundle's require() calls ask for (built-ins, lmdb, cbor-x, the optional packages) and every
// file require() loaded, written out when the agent exits. (What the bundle asks for, not what
// the process loads: Node.js loads child_process itself for the IPC channel the test starts the
// agent with, and lmdb's loader asks for it to detect the C library.)
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Module, SourceMap } from 'node:module';
import { join } from 'node:path';
import { AgentProcesses } from '../../../agent/cli/agent-processes.js';

/**
 * Writes what the bundle's require() asked for (built-ins without "node:"), the files loaded, and
 * Node's own modules the process loaded to $CORAFT_LOADED. CommonJS (--require), so that the
 * preload itself does not start Node's ES module loader.
 */
const PRELOAD = `
const { Module } = require('node:module');
const { writeFileSync } = require('node:fs');
const asked = new Set();
const original = Module.prototype.require;
Module.prototype.require = function (id) {
  if (this.filename.endsWith('/dist/bundle/coraft.cjs')) asked.add(id.replace(/^node:/, ''));
  return original.call(this, id);
};
process.on('exit', () => writeFileSync(process.env.CORAFT_LOADED, JSON.stringify({
  builtins: [...asked].filter((id) => Module.isBuiltin(id)),
  required: Object.keys(require.cache),
  nodeModules: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)),
})));
`;

/** What an agent at rest must not run, as a part of a bundled module's source path. */
const NOT_RUN = [
  'node_modules/ajv/',
  'agent/sim/',
  'agent/observability/metrics.ts',
  'agent/observability/emf-metrics.ts',
  'agent/cli/provision.ts',
  'agent/cli/cluster-init.ts',
  'agent/cli/demo',
  'agent/cli/sim.ts',
  'agent/cli/client-commands.ts',
  'agent/cli/client-common.ts',
  'agent/cli/kv-list.ts',
  'agent/cli/txn-command.ts',
  'agent/cli/lease-command.ts',
  'agent/cli/watch-command.ts',
  'agent/cli/admin-commands.ts',
  'agent/fleet/',
  'transport/http/',
  'transport/index.ts',
];
/** Packages the agent must not require (left outside the bundle), as a part of their path. */
const NOT_REQUIRED = ['/node_modules/prom-client/', '/node_modules/hot-shots/', '/node_modules/protobufjs/'];
/** Built-in modules the agent must not ask for. */
const NOT_BUILTIN = ['http', 'https', 'tls', '_http_server', 'child_process', 'fs/promises', 'dns', 'dns/promises'];
/**
 * Node's own modules that nothing in the agent may load at start: node:fs/promises (its FileHandle,
 * readline, fs.Dir and the watchers; storage/file-async.ts does without) and node:dns (loaded on
 * the first host name to resolve; this cluster's members are IP literals).
 */
const NOT_LOADED = ['internal/fs/promises', 'internal/readline/interface', 'dns', 'internal/dns/promises'];
/**
 * Node's own modules of its ES module loader that only an ES module entry runs (bin/coraft.js and
 * the loader are CommonJS; lmdb's require('module') loads the loader itself, not these).
 */
const NOT_NODE_MODULES = ['internal/modules/esm/module_job', 'internal/modules/esm/translators'];

interface CoverageFunction {
  readonly functionName: string;
  readonly ranges: readonly { readonly startOffset: number; readonly endOffset: number; readonly count: number }[];
}

const BUNDLE = join(import.meta.dirname, '../../../dist/bundle/coraft.cjs');

/**
 * The bundle's source files (as its source map names them) whose functions the coverage in
 * `folder` holds, and whether any of them ran. A function is the file its last character maps to:
 * a module's wrapper starts where the previous module's code ends, and ends after its own. The
 * script's own top level (offset 0) is no module's. The loader compiles the bundle wrapped
 * (`Module.wrap`): offsets then start after the wrapper's head.
 */
function bundledModules(folder: string): Map<string, boolean> {
  const text = readFileSync(BUNDLE, 'latin1');
  const map = new SourceMap(
    JSON.parse(readFileSync(`${BUNDLE}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0],
  );
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const sourceOf = (offset: number): string | undefined => {
    let line = lineStarts.length - 1;
    while (lineStarts[line]! > offset) line -= 1;
    const entry = map.findEntry(line, offset - lineStarts[line]!) as { originalSource?: string };
    return entry.originalSource;
  };
  const modules = new Map<string, boolean>();
  for (const file of readdirSync(folder)) {
    const coverage = JSON.parse(readFileSync(join(folder, file), 'utf8')) as {
      result: { url: string; functions: CoverageFunction[] }[];
    };
    for (const script of coverage.result.filter((s) => s.url.endsWith('/dist/bundle/coraft.cjs'))) {
      const whole = script.functions.find((fn) => fn.ranges[0]?.startOffset === 0)?.ranges[0]?.endOffset;
      const shift = whole === text.length ? 0 : Module.wrap('\0').indexOf('\0');
      for (const fn of script.functions) {
        const range = fn.ranges[0];
        if (range === undefined || range.startOffset === 0) continue;
        const source = sourceOf(range.endOffset - 1 - shift);
        if (source !== undefined) modules.set(source, modules.get(source) === true || range.count > 0);
      }
    }
  }
  return modules;
}

describe('what a started agent runs', function () {
  this.timeout(60_000);
  let dir: string;
  let cluster: AgentProcesses | null = null;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-imports-'));
    writeFileSync(join(dir, 'preload.cjs'), PRELOAD);
  });
  after(async () => {
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves Ajv, the metrics backends, the simulator, the HTTP transports and the other commands unrun', async () => {
    const record = join(dir, 'loaded.json');
    const coverage = join(dir, 'coverage');
    cluster = await AgentProcesses.create({
      nodes: 1,
      storage: 'memory',
      nodeArgs: ['--require', join(dir, 'preload.cjs')],
      agentEnv: () => ({ CORAFT_LOADED: record, NODE_V8_COVERAGE: coverage }),
    });
    cluster.startAll();
    await cluster.waitForLeader(30_000);
    await cluster.signal('n1', 'SIGTERM');
    const modules = bundledModules(coverage);
    const ran = [...modules].filter(([, run]) => run).map(([name]) => name);
    const loaded = JSON.parse(readFileSync(record, 'utf8')) as {
      builtins: string[];
      required: string[];
      nodeModules: string[];
    };
    // The records are complete: they hold the agent's own modules, the bundled pino, and the packages outside.
    for (const part of ['agent/runtime/agent.ts', 'transport/dtls/server.ts', 'node_modules/pino/pino.js'])
      assert.ok(
        ran.some((name) => name.includes(part)),
        `${part} ran`,
      );
    for (const part of NOT_RUN)
      assert.ok(
        [...modules.keys()].some((name) => name.includes(part)),
        `${part} is in the bundle, as a module run on demand`,
      );
    for (const part of ['/node_modules/cbor-x/', '/node_modules/lmdb/'])
      assert.ok(
        loaded.required.some((path) => path.includes(part)),
        `${part} is required`,
      );
    assert.ok(loaded.builtins.includes('dgram'), 'node:dgram is asked for');
    for (const part of NOT_RUN)
      assert.deepEqual(
        ran.filter((name) => name.includes(part)),
        [],
        `${part} does not run`,
      );
    for (const part of NOT_REQUIRED)
      assert.deepEqual(
        loaded.required.filter((path) => path.includes(part)),
        [],
        `${part} is not required`,
      );
    for (const name of NOT_BUILTIN)
      assert.ok(!loaded.builtins.includes(name), `node:${name} is not asked for (${loaded.builtins.join(' ')})`);
    assert.ok(loaded.nodeModules.includes('dgram'), "Node's own modules are recorded");
    for (const name of NOT_NODE_MODULES)
      assert.ok(!loaded.nodeModules.includes(name), `${name} is not loaded: the entry is CommonJS`);
    for (const name of NOT_LOADED) assert.ok(!loaded.nodeModules.includes(name), `Node's ${name} is not loaded`);
  });
});
