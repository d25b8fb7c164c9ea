/**
 * Proves the full-disk handling of issue 19 on a real file system that fills up: the test mounts a
 * size-limited tmpfs (24 MiB; it skips, saying why, where mount(8) is not permitted), makes a
 * one-node cluster in it (coaps, the wal engine, a disk reserve of 4 MiB) and writes keys through
 * libcoap's coap-client. A ballast file then takes the file system below the reserve: writes are
 * refused with 4.13 and the diagnostic `disk full: ...`, /status shows `alarms: ["NOSPACE"]` and
 * `diskFull: true`, and reads (linearizable and stale) are still served. Once the ballast is
 * deleted the alarm clears, writes are taken again, and every write acknowledged before is read
 * back, also after a restart of the agent (nothing was lost or corrupted). Without a reserve the
 * disk fills for real: the write that finds no room is not acknowledged, the agent stops with
 * exit 74, and once space is freed it restarts with every acknowledged write.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentProcesses } from '../../../agent/cli/agent-processes.js';
import { coapClient, endpointOf, startCluster, waitFor } from './helpers.js';

const MIB = 1024 * 1024;
const RESERVE_BYTES = 4 * MIB;

function freeBytes(path: string): number {
  const stats = statfsSync(path);
  return stats.bavail * stats.bsize;
}

describe('agent integration: a full disk (size-limited tmpfs)', function () {
  this.timeout(120_000);
  let mountPoint: string | null = null;
  let cluster: AgentProcesses | null = null;

  before(function () {
    if (process.platform !== 'linux') this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'coraft-full-disk-'));
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dir], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      // Not root, or no CAP_SYS_ADMIN in this container: the test cannot make its small file system.
      console.warn(`skipped: mount -t tmpfs is not permitted here (${mounted.stderr.trim() || mounted.error})`);
      this.skip();
    }
    mountPoint = dir;
  });

  after(async function () {
    await cluster?.close();
    if (mountPoint !== null) {
      spawnSync('umount', [mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    }
  });

  it('refuses writes with 4.13 and NOSPACE, serves reads, takes writes again once space is freed', async function () {
    assert.ok(mountPoint !== null);
    ({ cluster } = await startCluster({
      dir: join(mountPoint, 'cluster'),
      nodes: 1,
      storage: 'wal',
      configOverrides: () => ({ storageOptions: { diskReserveBytes: RESERVE_BYTES } }),
    }));
    const running = cluster;
    const url = (path: string): string => `coap://${endpointOf(running, 'n1')}${path}`;
    const status = async (): Promise<{ alarms: string[]; diskFull: boolean }> =>
      JSON.parse(await coapClient('-m', 'get', url('/status'))) as { alarms: string[]; diskFull: boolean };
    const acked: string[] = [];
    const write = async (key: string): Promise<string> => {
      const answer = await coapClient('-m', 'put', '-e', `value-of-${key}`, url(`/kv/${key}`));
      if (/^\{"revision":\d+/.test(answer)) acked.push(key);
      return answer;
    };
    for (let i = 0; i < 20; i += 1) assert.match(await write(`before-${i}`), /^\{"revision":\d+/);
    assert.deepEqual((await status()).alarms, []);

    // Fill the file system to 1 MiB under the reserve.
    const ballast = join(mountPoint, 'ballast');
    writeFileSync(ballast, Buffer.alloc(freeBytes(mountPoint) - RESERVE_BYTES + MIB));
    assert.ok(freeBytes(mountPoint) < RESERVE_BYTES);
    await waitFor('the NOSPACE alarm', async () => (await status()).alarms.includes('NOSPACE'));
    assert.equal((await status()).diskFull, true);
    const refused = await write('during');
    assert.match(refused, /^4\.13 disk full: \d+ bytes free/);
    // Reads go on: linearizable and stale.
    assert.equal(await coapClient('-m', 'get', url('/kv/before-3')), 'value-of-before-3');
    assert.equal(await coapClient('-m', 'get', url('/kv/before-7?stale')), 'value-of-before-7');
    assert.match(await coapClient('-m', 'get', url('/kv/during')), /^4\.04/);

    // Free the space: the alarm clears and writes are taken again.
    rmSync(ballast);
    await waitFor('the alarm to clear', async () => (await status()).alarms.length === 0);
    for (let i = 0; i < 5; i += 1) assert.match(await write(`after-${i}`), /^\{"revision":\d+/);
    // Every acknowledged write is there, also after a restart from disk.
    assert.equal(await running.signal('n1', 'SIGTERM'), 0);
    running.start('n1');
    await running.waitForLeader(30_000);
    for (const key of acked) assert.equal(await coapClient('-m', 'get', url(`/kv/${key}`)), `value-of-${key}`, key);
    assert.equal(acked.length, 25);
    await running.close();
    cluster = null;
  });

  it('without a reserve, a write finding no room stops the agent (74), losing nothing acknowledged', async function () {
    assert.ok(mountPoint !== null);
    ({ cluster } = await startCluster({
      dir: join(mountPoint, 'no-reserve'),
      nodes: 1,
      storage: 'wal',
      configOverrides: () => ({ storageOptions: { diskReserveBytes: 0 } }),
    }));
    const running = cluster;
    const url = (path: string): string => `coap://${endpointOf(running, 'n1')}${path}`;
    const acked: string[] = [];
    const value = 'x'.repeat(4000);
    for (let i = 0; i < 10; i += 1)
      assert.match(await coapClient('-m', 'put', '-e', value, url(`/kv/k-${i}`)), /^\{"revision":\d+/);
    for (let i = 0; i < 10; i += 1) acked.push(`k-${i}`);
    // Take every free byte, then write until a write is not acknowledged.
    const ballast = join(mountPoint, 'ballast-all');
    writeFileSync(ballast, Buffer.alloc(freeBytes(mountPoint)));
    let refused = '';
    for (let i = 10; i < 5000 && refused === ''; i += 1) {
      const answer = await coapClient('-m', 'put', '-e', value, url(`/kv/k-${i}`));
      if (/^\{"revision":\d+/.test(answer)) acked.push(`k-${i}`);
      else refused = answer;
    }
    assert.notEqual(refused, '', 'the disk filled up');
    assert.equal(await running.exited('n1'), 74, 'the agent stops on STORAGE_FULL (EX_IOERR)');
    rmSync(ballast);
    running.start('n1');
    await running.waitForLeader(30_000);
    for (const key of acked) assert.equal(await coapClient('-m', 'get', url(`/kv/${key}`)), value, key);
  });
});
