// Proves the V8 code cache of node_modules' CommonJS files (agent/cli/module-cache.ts, issue 17) is
// used at the next start of `coraft agent` and ignored, without harm, when it does not fit: the cache
// file round-trips and a damaged one is 'invalid', and one made on another platform (CPU
// architecture, Node.js) gives no module its data; in child processes that run the built loader
// (`npm run build` first) on a small bundle requiring a small package, the first start compiles and
// writes the cache once ready, the next uses it (V8 accepting every module's data) and writes
// nothing; a damaged file, data V8 refuses, or a module file written again are compiled afresh and
// the cache rewritten; the modules behave as Node.js's own (exports, this, require, __dirname,
// errors); the cache is off with CORAFT_CODE_CACHE=off, and no temporary file is left when the
// rename fails. A real agent on LMDB caches lmdb's files and loads no msgpackr extractor.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentProcesses } from '../../../agent/cli/agent-processes.js';
import {
  MODULE_CACHE_FILE,
  MODULE_CACHE_MAGIC,
  decodeModuleCache,
  encodeModuleCache,
} from '../../../agent/cli/module-cache.js';
import type { ModuleEntry } from '../../../agent/cli/module-cache.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const LOADER = resolve(HERE, '../../../dist/bundle/loader.cjs');
/**
 * What a child runs: the loader's startCli on the bundle, as bin/coraft.js runs the agent, with its cache
 * in the folder given (CORAFT_CODE_CACHE).
 */
const START = `const [loader, bundle, folder] = process.argv.slice(1);
require(loader).startCli(bundle, ['agent'], { CORAFT_CODE_CACHE: folder });`;

/** The bundle: requires the package, sees it behave as a CommonJS module, reports the counts, ends the start. */
const BUNDLE = `'use strict';
exports.runCli = (args, hooks) => {
  let value = null;
  try {
    value = require('fake-pkg').value();
  } catch (error) {
    value = 'threw: ' + error.message;
  }
  const counts = hooks.moduleCache === undefined ? null : hooks.moduleCache();
  process.stdout.write(JSON.stringify({ value, counts }));
  hooks.afterReady();
};
`;

/** The package: an entry that requires a sibling and reports what Node.js gives a CommonJS module. */
const PACKAGE_INDEX = `'use strict';
const helper = require('./helper.js');
const self = this;
exports.value = () => ({
  helper: helper.twice(21),
  thisIsExports: self === module.exports,
  dirname: __dirname,
  filename: __filename,
  resolved: require.resolve('./helper.js'),
  cached: require.cache[__filename] === module,
});
`;
const PACKAGE_HELPER = `exports.twice = (n) => 2 * n;\n`;

interface Report {
  readonly value: unknown;
  readonly counts: { file: string; used: number; compiled: number; rejected: number } | null;
}

describe('the code cache of node_modules CommonJS files', function () {
  this.timeout(60_000);
  let dir: string;
  let cacheDir: string;
  let cache: string;
  let pkg: string;
  let bundle: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-module-cache-'));
    cacheDir = join(dir, 'cache');
    mkdirSync(cacheDir);
    cache = join(cacheDir, MODULE_CACHE_FILE);
    pkg = join(dir, 'node_modules', 'fake-pkg');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), '{"name":"fake-pkg","main":"index.js"}\n');
    writeFileSync(join(pkg, 'index.js'), PACKAGE_INDEX);
    writeFileSync(join(pkg, 'helper.js'), PACKAGE_HELPER);
    bundle = join(dir, 'bundle.cjs');
    writeFileSync(bundle, BUNDLE);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs one start in a child process; `folder` is CORAFT_CODE_CACHE (default the test's cache folder). */
  function start(folder = cacheDir, nodeArgs: readonly string[] = []): Report {
    const out = execFileSync(process.execPath, [...nodeArgs, '-e', START, LOADER, bundle, folder], {
      encoding: 'utf8',
    });
    return JSON.parse(out) as Report;
  }

  const counts = (file: string, used: number, compiled: number, rejected: number): Report['counts'] => ({
    file,
    used,
    compiled,
    rejected,
  });

  describe('the cache file', () => {
    const entries = new Map<string, ModuleEntry>([
      [
        '/a/node_modules/x/index.js',
        { size: 10, mtimeMs: 1.5, ctimeMs: 2.25, sourceLength: 10, data: Buffer.from('v8') },
      ],
      ['/a/node_modules/\u00e9/y.cjs', { size: 0, mtimeMs: 0, ctimeMs: 0, sourceLength: 0, data: Buffer.alloc(0) }],
    ]);

    it('gives back the entries it was made of', () => {
      const decoded = decodeModuleCache(encodeModuleCache(entries));
      assert.ok(decoded !== 'invalid');
      assert.deepEqual(
        [...decoded].map(([path, e]) => [path, { ...e, data: Buffer.from(e.data) }]),
        [...entries].map(([path, e]) => [path, { ...e, data: Buffer.from(e.data) }]),
      );
    });

    it('is invalid when any byte changed, when cut short or made longer, or without the magic', () => {
      const file = encodeModuleCache(entries);
      for (let i = MODULE_CACHE_MAGIC.length; i < file.length; i += 1) {
        const flipped = Buffer.from(file);
        flipped[i] = (flipped[i] ?? 0) ^ 0x10;
        assert.equal(decodeModuleCache(flipped), 'invalid', `byte ${i} changed`);
      }
      assert.equal(decodeModuleCache(file.subarray(0, file.length - 1)), 'invalid');
      assert.equal(decodeModuleCache(Buffer.concat([file, Buffer.from([0])])), 'invalid');
      assert.equal(decodeModuleCache(Buffer.from('coraft-v8-code-cache-1\n')), 'invalid');
      assert.equal(decodeModuleCache(Buffer.alloc(0)), 'invalid');
    });
  });

  describe('with a real agent on LMDB', () => {
    let cluster: AgentProcesses | null = null;
    afterEach(async () => {
      await cluster?.close();
      cluster = null;
    });

    it("caches lmdb's files, and loads neither msgpackr's nor cbor-x's native extractor (code-cache.ts)", async () => {
      let output = '';
      cluster = await AgentProcesses.create({
        nodes: 1,
        storage: 'lmdb',
        output: (_id, chunk) => (output += chunk),
        agentEnv: () => ({ CORAFT_CODE_CACHE: cacheDir }),
      });
      cluster.start('n1');
      await cluster.waitForLeader(60_000);
      await cluster.signal('n1', 'SIGTERM');
      assert.ok(output.includes('"agent ready"'), output);
      const entries = decodeModuleCache(readFileSync(cache));
      assert.ok(entries !== 'invalid');
      const packages = [...entries.keys()].map((path) => path.split(`node_modules${sep}`).pop()?.split(sep)[0]);
      assert.ok(packages.includes('lmdb') && packages.includes('msgpackr'), packages.join(' '));
      assert.ok(!packages.includes('msgpackr-extract'), packages.join(' '));
      assert.ok(packages.includes('cbor-x'), packages.join(' '));
      assert.ok(!packages.includes('cbor-extract'), packages.join(' '));
    });
  });

  describe('with the built loader', () => {
    it('compiles and writes the cache after ready, then uses it and writes nothing', () => {
      const first = start();
      assert.deepEqual(first.counts, counts('missing', 0, 2, 0));
      const written = statSync(cache);
      const second = start();
      assert.deepEqual(second.counts, counts('read', 2, 0, 0));
      assert.deepEqual(second.value, first.value);
      const after = statSync(cache);
      assert.deepEqual(
        [after.ino, after.mtimeMs],
        [written.ino, written.mtimeMs],
        'a start that used it wrote nothing',
      );
    });

    it('runs the modules as Node.js does: exports, this, require, require.resolve, require.cache, __dirname', () => {
      for (let i = 0; i < 2; i += 1)
        assert.deepEqual(start().value, {
          helper: 42,
          thisIsExports: true,
          dirname: pkg,
          filename: join(pkg, 'index.js'),
          resolved: join(pkg, 'helper.js'),
          cached: true,
        });
    });

    const damaged: [string, (file: Buffer) => Buffer][] = [
      ['garbage', () => Buffer.from('not a cache')],
      ['a changed byte', (file) => Buffer.from(file.map((b, i) => (i === file.length - 7 ? b ^ 0xff : b)))],
      ['cut short', (file) => file.subarray(0, file.length - 50)],
    ];
    for (const [name, damage] of damaged)
      it(`ignores a cache file ${name}, compiles every module, and rewrites it after ready`, () => {
        start();
        writeFileSync(cache, damage(readFileSync(cache)));
        assert.deepEqual(start().counts, counts('invalid', 0, 2, 0));
        assert.deepEqual(start().counts, counts('read', 2, 0, 0));
      });

    it('gives no module the data of a cache made on another platform, and rewrites it', () => {
      start();
      const entries = decodeModuleCache(readFileSync(cache));
      assert.ok(entries !== 'invalid' && entries.size === 2);
      writeFileSync(cache, encodeModuleCache(entries, 'plan9 riscv64 node v0.0.0'));
      assert.deepEqual(start().counts, counts('read', 0, 2, 0));
      assert.deepEqual(start().counts, counts('read', 2, 0, 0));
    });

    it('counts data V8 refuses as rejected, and rewrites the cache', () => {
      start();
      const decoded = decodeModuleCache(readFileSync(cache));
      assert.ok(decoded !== 'invalid');
      const refused = new Map([...decoded].map(([path, e]) => [path, { ...e, data: Buffer.alloc(4096, 7) }]));
      writeFileSync(cache, encodeModuleCache(refused));
      assert.deepEqual(start().counts, counts('read', 0, 0, 2));
      assert.deepEqual(start().counts, counts('read', 2, 0, 0));
    });

    it('compiles afresh a module whose file was written again (another mtime), and rewrites the cache', () => {
      start();
      const helper = join(pkg, 'helper.js');
      writeFileSync(helper, PACKAGE_HELPER);
      utimesSync(helper, new Date(2020, 0, 1), new Date(2020, 0, 1));
      assert.deepEqual(start().counts, counts('read', 1, 1, 0));
      assert.deepEqual(start().counts, counts('read', 2, 0, 0));
    });

    it('reports a module that throws, and one that does not parse, as Node.js does', () => {
      writeFileSync(join(pkg, 'helper.js'), `throw new Error('helper failed');\n`);
      assert.equal(start().value, 'threw: helper failed');
      writeFileSync(join(pkg, 'helper.js'), `exports.twice = (n) => ;\n`);
      assert.equal(start().value, "threw: Unexpected token ';'");
    });

    it('is off with CORAFT_CODE_CACHE=off: no hook, nothing written', () => {
      const off = start('off');
      assert.equal(off.counts, null);
      assert.deepEqual((off.value as { helper: number }).helper, 42);
      assert.deepEqual(readdirSync(cacheDir), []);
    });

    it('leaves no temporary file behind when the cache cannot take its place', () => {
      // A folder where the cache file goes: the temporary file is written, its rename fails.
      mkdirSync(cache);
      assert.deepEqual(start().counts, counts('missing', 0, 2, 0));
      assert.deepEqual(
        readdirSync(cacheDir).filter((f) => f.startsWith(MODULE_CACHE_FILE)),
        [MODULE_CACHE_FILE],
      );
    });
  });
});
