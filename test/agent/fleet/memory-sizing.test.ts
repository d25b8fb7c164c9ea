// Proves the memory rule of the unit and of every gateway drop-in (agent/fleet/memory-sizing.ts):
// for every MemoryMax a gateway may set, MemoryHigh is below MemoryMax and the V8 old-generation
// bound plus what an agent holds outside it fits under MemoryHigh (property over sizes); too
// small a MemoryMax is refused naming the field and its least value; sizes parse in systemd's
// units; the lines a drop-in gets agree with each other; the young generation's semi-space grows
// with MemoryMax within its bounds; a Node started under the unit's NODE_OPTIONS has one V8 worker
// thread fewer than the cores (at least one), not Node's four.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import fc from 'fast-check';
import { fcParams } from '../../fc-params.js';
import { ConfigError } from '../../../contracts/errors.js';
import {
  OUTSIDE_HEAP_MIB,
  SEMI_SPACE_MAX_MIB,
  SEMI_SPACE_MIN_MIB,
  UNIT_MEMORY_MAX_MIB,
  UNIT_MALLOC_ENV,
  UNIT_NODE_FLAGS,
  memoryLinesFor,
  nodeFlagsOf,
  parseSizeMiB,
  sizeForMemoryMax,
  unitEnvironment,
} from '../../../agent/fleet/memory-sizing.js';

describe('memory sizing of the unit and the drop-ins', () => {
  it('keeps MemoryHigh below MemoryMax and the V8 heap with its surroundings under MemoryHigh', () => {
    // Property: for every accepted MemoryMax, old space + young generation + outside <= MemoryHigh < MemoryMax,
    // and a larger MemoryMax never gets a smaller semi-space.
    fc.assert(
      fc.property(fc.integer({ min: 119, max: 65_536 }), (max) => {
        const s = sizeForMemoryMax(max);
        assert.ok(s.memoryHighMiB < s.memoryMaxMiB);
        assert.ok(s.maxOldSpaceMiB + 3 * s.maxSemiSpaceMiB + OUTSIDE_HEAP_MIB <= s.memoryHighMiB);
        assert.ok(s.maxOldSpaceMiB >= 32);
        assert.ok(s.maxSemiSpaceMiB >= SEMI_SPACE_MIN_MIB && s.maxSemiSpaceMiB <= SEMI_SPACE_MAX_MIB);
        assert.ok(sizeForMemoryMax(max + 1).maxSemiSpaceMiB >= s.maxSemiSpaceMiB);
      }),
      fcParams(),
    );
  });

  it('sizes the 256 MB and 512 MB gateways of deploy/README.md', () => {
    assert.deepEqual(sizeForMemoryMax(UNIT_MEMORY_MAX_MIB), {
      memoryMaxMiB: 192,
      memoryHighMiB: 160,
      maxOldSpaceMiB: 87,
      maxSemiSpaceMiB: 4,
    });
    assert.deepEqual(UNIT_NODE_FLAGS, ['--max-semi-space-size=4', '--max-old-space-size=87', '--v8-pool-size=0']);
    assert.deepEqual(nodeFlagsOf(sizeForMemoryMax(384)), [
      '--max-semi-space-size=8',
      '--max-old-space-size=235',
      '--v8-pool-size=0',
    ]);
  });

  it('refuses a MemoryMax that leaves too small a heap, naming the least one', () => {
    assert.throws(
      () => sizeForMemoryMax(100),
      (e: unknown) => e instanceof ConfigError && /memoryMax: at least 119M \(got 100M\)/.test(e.message),
    );
    assert.throws(() => sizeForMemoryMax(118), ConfigError);
    assert.doesNotThrow(() => sizeForMemoryMax(119));
    assert.throws(() => memoryLinesFor('64M'), ConfigError);
  });

  it("parses systemd's sizes and refuses others", () => {
    assert.equal(parseSizeMiB('128M', 'memoryMax'), 128);
    assert.equal(parseSizeMiB('1G', 'memoryMax'), 1024);
    assert.equal(parseSizeMiB('262144K', 'memoryMax'), 256);
    assert.equal(parseSizeMiB(String(200 * 1024 * 1024), 'memoryMax'), 200);
    for (const bad of ['', '12T', '1.5G', '-5M', '128 M', 'infinity'])
      assert.throws(
        () => parseSizeMiB(bad, 'memoryMax'),
        (e: unknown) => e instanceof ConfigError && e.message.includes('memoryMax'),
      );
  });

  it("writes a drop-in's MemoryMax with its MemoryHigh and heap bound", () => {
    assert.deepEqual(memoryLinesFor('128M'), [
      'MemoryMax=128M',
      'MemoryHigh=106M',
      'Environment="NODE_OPTIONS=--max-semi-space-size=2 --max-old-space-size=39 --v8-pool-size=0"',
    ]);
    assert.deepEqual(memoryLinesFor('1G'), [
      'MemoryMax=1024M',
      'MemoryHigh=853M',
      'Environment="NODE_OPTIONS=--max-semi-space-size=8 --max-old-space-size=768 --v8-pool-size=0"',
    ]);
  });

  it("gives agents the unit's environment: the shell's less NODE_EXTRA_CA_CERTS, plus malloc and Node flags", () => {
    const shell = {
      PATH: '/usr/bin',
      NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt',
      MALLOC_ARENA_MAX: '8',
    };
    assert.deepEqual(unitEnvironment({ ...shell, NODE_OPTIONS: '--import tsx' }), {
      PATH: '/usr/bin',
      ...UNIT_MALLOC_ENV,
      NODE_OPTIONS: UNIT_NODE_FLAGS.join(' '),
    });
    assert.equal(
      shell.NODE_EXTRA_CA_CERTS,
      '/etc/ssl/certs/ca-certificates.crt',
      'the given environment is left as it was',
    );
  });

  it("gives V8 one worker thread fewer than the cores (at least one) under the unit's NODE_OPTIONS", function () {
    if (!existsSync('/proc/self/task')) this.skip();
    // Threads of a Node process that has just started: its main thread, V8's workers and Node's own
    // few, all started before any JavaScript runs.
    const threadsUnder = (nodeOptions: string): number => {
      const result = spawnSync(
        process.execPath,
        ['-e', "process.stdout.write(String(require('fs').readdirSync('/proc/self/task').length))"],
        { env: { ...unitEnvironment(process.env), NODE_OPTIONS: nodeOptions }, encoding: 'utf8' },
      );
      assert.equal(result.status, 0, result.stderr);
      return Number(result.stdout);
    };
    // Node's default is four workers whatever the cores; a later flag wins over an earlier one.
    const nodeDefaultWorkers = 4;
    const unit = threadsUnder(UNIT_NODE_FLAGS.join(' '));
    const nodeDefault = threadsUnder(`${UNIT_NODE_FLAGS.join(' ')} --v8-pool-size=${nodeDefaultWorkers}`);
    assert.equal(nodeDefault - unit, nodeDefaultWorkers - Math.max(1, availableParallelism() - 1));
  });
});
