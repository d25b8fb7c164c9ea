// Proves the V8 code cache of `coraft agent` (agent/cli/code-cache.ts, issue 17) is used when it
// fits and ignored, without harm, when it does not: a cache file round-trips; a damaged one
// (changed byte, cut short, wrong magic) is 'invalid', one made for another bundle or on another
// platform (CPU architecture, Node.js: V8 would take x64 data on arm64 and crash) 'stale', one
// V8 refuses 'rejected'; in each of these cases the CLI still runs, and the cache is written
// again once, after the agent is ready; a start that used it writes nothing. First on a small
// bundle run in this process, then with real agent processes (`npm run build` first): the first
// start writes the cache, the next uses it and leaves the file alone, and a damaged file neither
// stops the agent nor survives its next start; the same agents use the cache of node_modules' files
// (agent/cli/module-cache.ts, tested on its own in module-cache.test.ts) at their second start.
import { strict as assert } from 'node:assert';
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
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentProcesses } from '../../../agent/cli/agent-processes.js';
import { CACHE_FILE, cacheFolder, decodeCacheFile, encodeCacheFile, startCli } from '../../../agent/cli/code-cache.js';
import { CACHE_PLATFORM } from '../../../agent/cli/module-cache.js';

/** A platform this process is not on (another OS, CPU and Node.js). */
const ELSEWHERE = 'plan9 riscv64 node v0.0.0';
import type { CodeCacheHooks } from '../../../agent/cli/code-cache.js';

/** A bundle that hands what it was given to the test (through a global) instead of running a CLI. */
const FAKE_BUNDLE = `'use strict';
function greet(name) { return 'hello ' + name; }
exports.runCli = (args, hooks) => { globalThis.coraftCodeCacheTest = { args, hooks, greeting: greet('agent') }; };
`;

interface Seen {
  readonly args: readonly string[];
  readonly hooks?: CodeCacheHooks;
  readonly greeting: string;
}

let runs = 0;

/**
 * Runs startCli on a copy of the fake bundle in `dir` with its cache in `folder`; returns what the bundle was given.
 * Each run compiles a copy under a new name: V8 keeps what it compiled in this process by source and name, and
 * would otherwise not look at the cache at all.
 */
function run(dir: string, folder: string, args: readonly string[] = ['agent'], env?: NodeJS.ProcessEnv): Seen {
  runs += 1;
  const bundle = join(dir, `fake-${runs}.cjs`);
  writeFileSync(bundle, FAKE_BUNDLE);
  Reflect.deleteProperty(globalThis, 'coraftCodeCacheTest');
  startCli(bundle, args, env ?? { CORAFT_CODE_CACHE: folder });
  const seen: unknown = Reflect.get(globalThis, 'coraftCodeCacheTest');
  assert.ok(typeof seen === 'object' && seen !== null, 'the bundle ran');
  return seen as Seen;
}

describe('the code cache of coraft agent', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-code-cache-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe('the cache file', () => {
    const data = Buffer.from('v8 data, any bytes \u0000\u00ff');

    it('gives back the data for the bundle it was made for', () => {
      assert.deepEqual(decodeCacheFile(encodeCacheFile('source', data), 'source'), data);
    });

    it('is invalid when a byte changed, when cut short, or without the magic', () => {
      const file = encodeCacheFile('source', data);
      const flipped = Buffer.from(file);
      flipped[flipped.length - 3] = (flipped[flipped.length - 3] ?? 0) ^ 1;
      assert.equal(decodeCacheFile(flipped, 'source'), 'invalid');
      assert.equal(decodeCacheFile(file.subarray(0, file.length - 1), 'source'), 'invalid');
      assert.equal(decodeCacheFile(file.subarray(0, 10), 'source'), 'invalid');
      const magic = Buffer.from(file);
      magic[0] = 0;
      assert.equal(decodeCacheFile(magic, 'source'), 'invalid');
      assert.equal(decodeCacheFile(Buffer.alloc(0), 'source'), 'invalid');
    });

    it('is stale for another bundle, even one of the same length', () => {
      assert.equal(decodeCacheFile(encodeCacheFile('source', data), 'sourcE'), 'stale');
      assert.equal(decodeCacheFile(encodeCacheFile('source', data), 'other source'), 'stale');
    });

    it('is stale when made on another platform, for the same bundle', () => {
      assert.equal(decodeCacheFile(encodeCacheFile('source', data, ELSEWHERE), 'source'), 'stale');
      assert.deepEqual(decodeCacheFile(encodeCacheFile('source', data, CACHE_PLATFORM), 'source'), data);
    });

    it('lives where CORAFT_CODE_CACHE says, else in systemd CACHE_DIRECTORY, else beside the bundle', () => {
      assert.equal(cacheFolder({ CORAFT_CODE_CACHE: 'off', CACHE_DIRECTORY: '/c' }, '/b/x.cjs'), null);
      assert.equal(cacheFolder({ CORAFT_CODE_CACHE: '/mine', CACHE_DIRECTORY: '/c' }, '/b/x.cjs'), '/mine');
      assert.equal(cacheFolder({ CACHE_DIRECTORY: '/c:/d' }, '/b/x.cjs'), '/c');
      assert.equal(cacheFolder({}, '/b/x.cjs'), '/b');
    });
  });

  describe('startCli', () => {
    let cache: string;
    beforeEach(() => {
      cache = join(dir, CACHE_FILE);
    });

    it('runs without a cache, writes it once after ready, then uses it and writes nothing', () => {
      const first = run(dir, dir);
      assert.equal(first.greeting, 'hello agent');
      assert.equal(first.hooks?.codeCache, 'missing');
      assert.ok(!existsSync(cache), 'nothing is written before the agent is ready');
      first.hooks.afterReady();
      first.hooks.afterReady();
      const written = statSync(cache);
      const second = run(dir, dir);
      assert.equal(second.hooks?.codeCache, 'used');
      assert.equal(second.greeting, 'hello agent');
      second.hooks.afterReady();
      const after = statSync(cache);
      assert.deepEqual([after.ino, after.mtimeMs], [written.ino, written.mtimeMs]);
    });

    const damaged: [string, (file: Buffer) => Buffer, string][] = [
      ['garbage', () => Buffer.from('not a cache'), 'invalid'],
      ['a changed byte', (file) => Buffer.from(file.map((b, i) => (i === file.length - 5 ? b ^ 0xff : b))), 'invalid'],
      ['cut short', (file) => file.subarray(0, file.length - 100), 'invalid'],
      ['for another bundle', (file) => encodeCacheFile(`${FAKE_BUNDLE} `, file), 'stale'],
      ['made on another platform', (file) => encodeCacheFile(FAKE_BUNDLE, file, ELSEWHERE), 'stale'],
      ['data V8 refuses', () => encodeCacheFile(FAKE_BUNDLE, Buffer.alloc(4096, 7)), 'rejected'],
    ];
    for (const [name, damage, state] of damaged)
      it(`ignores a cache file ${name} (${state}), runs, and writes a good one after ready`, () => {
        run(dir, dir).hooks?.afterReady();
        writeFileSync(cache, damage(readFileSync(cache)));
        const seen = run(dir, dir);
        assert.equal(seen.hooks?.codeCache, state);
        assert.equal(seen.greeting, 'hello agent');
        seen.hooks.afterReady();
        assert.equal(run(dir, dir).hooks?.codeCache, 'used');
      });

    it('uses no cache and writes none for the other commands, nor when it is off', () => {
      const status = run(dir, dir, ['status']);
      assert.deepEqual(status.args, ['status']);
      assert.equal(status.hooks, undefined);
      const off = run(dir, dir, ['agent'], { CORAFT_CODE_CACHE: 'off' });
      assert.equal(off.hooks?.codeCache, 'off');
      off.hooks.afterReady();
      assert.ok(!existsSync(cache));
    });

    it('leaves out the cache quietly when its folder cannot be written', () => {
      const seen = run(dir, join(dir, 'no', 'such', 'folder'));
      assert.equal(seen.hooks?.codeCache, 'missing');
      seen.hooks.afterReady();
    });

    it('runs a bundle whose text is not ASCII, read as UTF-8, and uses its cache next', () => {
      const bundle = join(dir, 'non-ascii.cjs');
      const text = FAKE_BUNDLE.replace("'hello '", "'h\u00e9llo \u2713 '");
      writeFileSync(bundle, text);
      for (const state of ['missing', 'used']) {
        Reflect.deleteProperty(globalThis, 'coraftCodeCacheTest');
        startCli(bundle, ['agent'], { CORAFT_CODE_CACHE: dir });
        const seen = Reflect.get(globalThis, 'coraftCodeCacheTest') as Seen;
        assert.equal(seen.greeting, 'h\u00e9llo \u2713 agent');
        assert.equal(seen.hooks?.codeCache, state);
        seen.hooks?.afterReady();
      }
    });

    it('leaves no temporary file behind when the cache cannot take its place', () => {
      // A folder where the cache file goes: the temporary file is written, its rename fails.
      mkdirSync(cache);
      const seen = run(dir, dir);
      seen.hooks?.afterReady();
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.startsWith(CACHE_FILE)),
        [CACHE_FILE],
      );
    });
  });

  describe('with real agents', function () {
    this.timeout(120_000);
    let cluster: AgentProcesses | null = null;
    afterEach(async () => {
      await cluster?.close();
      cluster = null;
    });

    it('writes the cache at the first start only, uses it next, and survives a damaged one', async () => {
      let output = '';
      cluster = await AgentProcesses.create({
        nodes: 1,
        storage: 'memory',
        output: (_id, chunk) => (output += chunk),
        agentEnv: () => ({ CORAFT_CODE_CACHE: dir }),
      });
      const cache = join(dir, CACHE_FILE);
      let modules: unknown[] = [];
      /** Starts n1, waits for its leadership and stops it; returns its "agent ready" codeCache. */
      const startAndStop = async (): Promise<unknown> => {
        output = '';
        cluster?.start('n1');
        await cluster?.waitForLeader(60_000);
        await cluster?.signal('n1', 'SIGTERM');
        const line = output.split('\n').find((l) => l.includes('"agent ready"'));
        assert.ok(line !== undefined, output);
        const ready = JSON.parse(line) as Record<string, unknown>;
        modules = ['moduleCacheFile', 'moduleCacheUsed', 'moduleCacheCompiled', 'moduleCacheRejected'].map(
          (field) => ready[field],
        );
        return ready.codeCache;
      };
      assert.equal(await startAndStop(), 'missing');
      const [, , loaded] = modules;
      assert.ok(typeof loaded === 'number' && loaded > 0, 'the agent loads CommonJS files of node_modules (lmdb…)');
      assert.deepEqual(modules, ['missing', 0, loaded, 0]);
      const written = statSync(cache);
      assert.equal(await startAndStop(), 'used');
      assert.deepEqual(modules, ['read', loaded, 0, 0], 'the next start used the cache of every one, V8 taking it');
      const after = statSync(cache);
      assert.deepEqual(
        [after.ino, after.mtimeMs],
        [written.ino, written.mtimeMs],
        'a start that used it wrote nothing',
      );
      const file = readFileSync(cache);
      const half = Math.floor(file.length / 2);
      writeFileSync(cache, Buffer.concat([file.subarray(0, half), Buffer.alloc(file.length - half, 0xa5)]));
      assert.equal(await startAndStop(), 'invalid');
      assert.equal(await startAndStop(), 'used');
    });
  });
});
