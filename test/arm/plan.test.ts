// Proves that test:arm's plan (test/arm/plan.ts) leaves out exactly what it says: every file it
// names exists under one of its suites, every single test it names is an `it` of that file (a
// renamed test would otherwise run again under emulation, and on armv7 a crashing one takes the
// whole run down), each has a reason; and that mocha's arguments carry the exclusions, the
// scaled timeout and the suites. Also checks CORAFT_TEST_TIME_FACTOR's parsing (test/timing.ts).
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EMULATION_TIME_FACTOR, EXCLUSIONS, SUITES, exclusionLines, exclusionsFor, mochaArgs } from './plan.js';
import { parseTimeFactor } from '../timing.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe('test:arm plan', () => {
  it('names files that exist, under its suites, and titles that are tests of those files', () => {
    for (const e of EXCLUSIONS) {
      assert.ok(existsSync(join(ROOT, e.file)), `${e.file} exists`);
      assert.ok(
        SUITES.some((s) => e.file.startsWith(s.slice(0, s.indexOf('**')))),
        `${e.file} is under a suite`,
      );
      assert.ok(e.reason.length > 20, `${e.file} says why`);
      assert.ok(e.arches.length > 0);
      if (e.title !== undefined) {
        const source = readFileSync(join(ROOT, e.file), 'utf8');
        assert.ok(source.includes(`it('${e.title}'`), `${e.file} has the test "${e.title}"`);
      }
    }
  });

  it('gives mocha the exclusions of the architecture, the scaled timeout and the suites', () => {
    const v7 = mochaArgs('armv7');
    const arm64 = mochaArgs('arm64');
    assert.deepEqual(v7.slice(0, 2), ['--timeout', String(60_000 * EMULATION_TIME_FACTOR)]);
    assert.deepEqual(v7.slice(-SUITES.length), [...SUITES]);
    for (const [arch, args] of [['armv7', v7] as const, ['arm64', arm64] as const]) {
      for (const e of exclusionsFor(arch)) {
        if (e.title === undefined) assert.ok(args.join(' ').includes(`--exclude ${e.file}`), e.file);
        else {
          const pattern = new RegExp(args[args.indexOf('--grep') + 1] ?? 'no grep', 'u');
          assert.ok(pattern.test(`suite ${e.title}`), `${arch}: "${e.title}" is matched`);
          assert.equal(args[args.indexOf('--grep') + 2], '--invert');
        }
      }
    }
    const armv7Only = EXCLUSIONS.find((e) => e.title !== undefined && !e.arches.includes('arm64'));
    assert.ok(armv7Only?.title !== undefined);
    const arm64Grep = new RegExp(arm64[arm64.indexOf('--grep') + 1] ?? 'no grep', 'u');
    assert.ok(!arm64Grep.test(armv7Only.title), 'an armv7-only exclusion still runs on arm64');
    assert.ok(!arm64Grep.test('refuses a newer format version with STORAGE_VERSION'), 'other tests run');
    assert.equal(exclusionLines('armv7').length, exclusionsFor('armv7').length);
  });

  it('hands a --grep of its caller to mocha instead of the inverted exclusions', () => {
    const args = mochaArgs('arm64', 'CRC-32');
    assert.equal(args[args.indexOf('--grep') + 1], 'CRC-32');
    assert.ok(!args.includes('--invert'));
  });

  it('reads CORAFT_TEST_TIME_FACTOR: 1 when unset, refuses what is not a number from 1 to 1000', () => {
    assert.equal(parseTimeFactor(undefined), 1);
    assert.equal(parseTimeFactor(''), 1);
    assert.equal(parseTimeFactor('20'), 20);
    assert.equal(parseTimeFactor('2.5'), 2.5);
    for (const bad of ['0', '0.5', '-3', 'fast', '1001', 'Infinity']) {
      assert.throws(() => parseTimeFactor(bad), /CORAFT_TEST_TIME_FACTOR/u, bad);
    }
  });
});
