// Proves the ARM smoke test's figures (test/arm/footprint.ts): memory is read from the VmRSS,
// RssAnon and RssFile lines of /proc/<pid>/status in bytes (a status without VmRSS, as a
// zombie's, gives none), this process's own figure agrees with process.memoryUsage().rss, a
// process that is gone gives null, and the table shows every phase, figure and agent.
import { strict as assert } from 'node:assert';
import { memoryOf, parseMemory, smokeTable } from './footprint.js';
import type { SmokeFigures } from './footprint.js';

const STATUS = ['Name:\tnode', 'VmPeak:\t  900000 kB', 'VmRSS:\t   70000 kB', 'RssAnon:\t   25000 kB'].join('\n');

describe('test:arm smoke figures', () => {
  it('reads VmRSS, RssAnon and RssFile in bytes, and nothing from a status without VmRSS', () => {
    assert.deepEqual(parseMemory(`${STATUS}\nRssFile:\t   44000 kB\n`), {
      rssBytes: 70000 * 1024,
      rssAnonBytes: 25000 * 1024,
      rssFileBytes: 44000 * 1024,
    });
    assert.deepEqual(parseMemory(STATUS), { rssBytes: 70000 * 1024, rssAnonBytes: 25000 * 1024, rssFileBytes: null });
    assert.equal(parseMemory('Name:\tnode\nState:\tZ (zombie)\n'), null);
  });

  it("reads this process's memory, and null for a process that is gone", () => {
    const own = memoryOf(process.pid);
    assert.ok(own !== null);
    const rss = process.memoryUsage().rss;
    assert.ok(Math.abs(own.rssBytes - rss) < 16 * 1024 * 1024, `${own.rssBytes} vs ${rss}`);
    assert.equal(memoryOf(undefined), null);
    assert.equal(memoryOf(2 ** 22 + 1), null, 'above pid_max: no such process');
  });

  it('tabulates every phase, the memory figures and each agent', () => {
    const memory = { rssBytes: 100 * 1048576, rssAnonBytes: 60 * 1048576, rssFileBytes: 40 * 1048576 };
    const figures: SmokeFigures = {
      arch: 'arm',
      node: 'v20.11.0',
      leader: 'n2',
      startupToLeaderMs: 41_000,
      bareNode: memory,
      writes: { count: 200, valueBytes: 256, ms: 9000 },
      agents: {
        n1: {
          spawnToReadyMs: 12_345,
          startup: { ends: { bootstrap: 3000, modules: 9000, ready: 12_000 }, cpuMs: 11_000 },
          idle: memory,
          afterWrites: null,
        },
        n2: { spawnToReadyMs: null, startup: null, idle: null, afterWrites: memory },
      },
    };
    const table = smokeTable(figures);
    for (const text of ['arm node v20.11.0', 'leader n2 known 41,000 ms', '200 writes of 256 B', 'n1', 'n2']) {
      assert.ok(table.includes(text), text);
    }
    assert.match(table, /modules, ms\s+6,000\s+-/u, 'a phase is its end less the previous end');
    assert.match(table, /spawn to "agent ready" seen, ms\s+12,345\s+-/u);
    assert.match(table, /idle RSS, MiB\s+100\s+-/u);
    assert.match(table, /RSS after 200 writes, MiB\s+-\s+100/u);
    assert.match(table, /bare node under the same emulation: RSS 100 MiB \(anonymous 60\)/u);
  });
});
