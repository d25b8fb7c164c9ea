// Proves the /proc readers of the comparison benches (bench/_proc.ts) read what Linux writes:
// CPU ticks from a stat line whose command name holds spaces and parentheses, kB fields of
// /proc/PID/status, write_bytes less cancelled_write_bytes from /proc/PID/io, and a folder's
// apparent size, and the resident pages of the mappings of one kind of file in /proc/PID/smaps;
// and that malformed or missing lines give null, not a wrong number.
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  executableBytes,
  folderBytes,
  ioWriteBytes,
  deviceNumbers,
  parseDiskStatWrittenBytes,
  parseIo,
  parseStatCpuTicks,
  parseSmapsRss,
  parseStatusBytes,
  readProcess,
} from '../../bench/_proc.js';

describe('bench /proc readers', () => {
  it('adds utime and stime (fields 14 and 15) even when the command name holds ") "', () => {
    const line =
      '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 150 37 0 0 20 0 11 0 123 1000 20 18446744073709551615\n';
    assert.equal(parseStatCpuTicks(line), 187);
    assert.equal(parseStatCpuTicks('4242 (node) S 1 2 3'), null);
    assert.equal(parseStatCpuTicks('no parenthesis here'), null);
    assert.equal(parseStatCpuTicks('1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 3 0'), null);
  });

  it('reads kB fields of /proc/PID/status as bytes, by exact name', () => {
    const status =
      'Name:\tnode\nVmHWM:\t   90000 kB\nVmRSS:\t   80000 kB\nRssAnon:\t   50000 kB\nRssFile:\t   30000 kB\n';
    assert.equal(parseStatusBytes(status, 'VmRSS'), 80_000 * 1024);
    assert.equal(parseStatusBytes(status, 'VmHWM'), 90_000 * 1024);
    assert.equal(parseStatusBytes(status, 'RssAnon'), 50_000 * 1024);
    assert.equal(parseStatusBytes(status, 'Rss'), null);
    assert.equal(parseStatusBytes(status, 'VmSwap'), null);
  });

  it("adds the Rss of every mapping of a file with the suffix, and nothing else's", () => {
    const smaps = [
      '55d0c0000000-55d0c2000000 r-xp 00000000 08:01 1234   /usr/bin/node',
      'Size:              32768 kB',
      'Rss:               30000 kB',
      '7f0000000000-7f0040000000 rw-s 00000000 08:01 99     /var/lib/coraft/data/data.mdb',
      'Size:            1048576 kB',
      'Rss:               24000 kB',
      'Pss:               24000 kB',
      '7f1000000000-7f1000100000 rw-p 00000000 00:00 0 ',
      'Rss:                1000 kB',
      '7f2000000000-7f2000100000 r--s 00000000 08:01 99     /var/lib/coraft/data/data.mdb',
      'Rss:                 100 kB',
    ].join('\n');
    assert.equal(parseSmapsRss(smaps, '.mdb'), 24_100 * 1024);
    assert.equal(parseSmapsRss(smaps, '/node'), 30_000 * 1024);
    assert.equal(parseSmapsRss(smaps, '.wal'), 0);
  });

  it('counts block-layer writes less the cancelled ones, and none without accounting', () => {
    const io = parseIo(
      'rchar: 100\nwchar: 2000\nsyscr: 3\nsyscw: 4\nread_bytes: 0\nwrite_bytes: 81920\ncancelled_write_bytes: 4096\n',
    );
    assert.equal(io.get('wchar'), 2000);
    assert.equal(ioWriteBytes(io), 77_824);
    assert.equal(ioWriteBytes(parseIo('write_bytes: 4096\n')), 4096);
    assert.equal(ioWriteBytes(parseIo('rchar: 1\nbroken line\n')), null);
  });

  it("splits a device number into major and minor as Linux packs it, and reads a disk's sectors written", () => {
    assert.deepEqual(deviceNumbers(254 * 256), { major: 254, minor: 0 });
    assert.deepEqual(deviceNumbers(8 * 256 + 17), { major: 8, minor: 17 });
    // Minor numbers past 255 go to bits 20-31: 259:300.
    assert.deepEqual(deviceNumbers(259 * 256 + (300 % 256) + Math.floor(300 / 256) * 1_048_576), {
      major: 259,
      minor: 300,
    });
    const stat = '   27081     9352  2201438    16405  2157713  2125040 152866760  1897335 0 1 2';
    assert.equal(parseDiskStatWrittenBytes(stat), 152_866_760 * 512);
    assert.equal(parseDiskStatWrittenBytes('1 2 3'), null);
  });

  it('reads this very process from /proc on Linux', function () {
    if (!existsSync('/proc/self/stat')) this.skip();
    assert.ok((parseStatCpuTicks(readFileSync('/proc/self/stat', 'utf8')) ?? -1) >= 0);
    const me = readProcess(process.pid);
    assert.ok(me !== null);
    assert.ok(me.rssBytes > 0 && me.rssPeakBytes >= me.rssBytes);
    assert.ok((me.writeCallBytes ?? -1) >= 0, 'wchar is read');
    assert.equal(readProcess(2 ** 22 + 1), null);
  });

  it('sizes a folder tree by its files, and an absent one as empty', () => {
    const dir = mkdtempSync(join(tmpdir(), 'coraft-proc-test-'));
    try {
      mkdirSync(join(dir, 'a', 'b'), { recursive: true });
      writeFileSync(join(dir, 'one'), Buffer.alloc(1000));
      writeFileSync(join(dir, 'a', 'two'), Buffer.alloc(2000));
      writeFileSync(join(dir, 'a', 'b', 'three'), Buffer.alloc(3000));
      const size = folderBytes(dir);
      assert.equal(size.apparentBytes, 6000);
      assert.ok(size.allocatedBytes >= 0);
      assert.deepEqual(folderBytes(join(dir, 'absent')), { allocatedBytes: 0, apparentBytes: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("counts the executable's resident pages within the file-backed part, and nothing for a process gone", () => {
    const own = executableBytes(process.pid);
    const sample = readProcess(process.pid);
    assert.ok(own !== null && sample !== null && own > 0 && own <= sample.rssFileBytes, `${own} of the file pages`);
    assert.equal(executableBytes(2 ** 22 + 1), null);
  });
});
