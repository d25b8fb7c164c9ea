// Proves, over real UDP against a server in a child process (block1-flood.ts), that a flood of
// Block1 uploads in 16-byte blocks from many peers and tokens cannot push memory past the
// store's configured bound: 100 peers × 8 transfers × 200 blocks (160,000 datagrams).
// - With 16-byte blocks allowed (block1BytesMin 16, as a peer server allows), the bytes the
//   store counts equal the byteLength of the buffers it keeps alive and stay within
//   blockBytesTotalMax; the heap grows by little more than that bound, and the process RSS by
//   less than the bound plus a fixed allowance for the runtime. (Before the store copied
//   blocks into one buffer, the same flood kept every datagram alive: 2.5 MB counted,
//   6 MB of buffers, +35 MB of heap and +78 MB of RSS.)
// - With the local endpoint's block1BytesMin (512), every transfer is refused at its first
//   block with 4.13 and nothing is held.
// The child runs with --max-semi-space-size=1, so the young generation's garbage does not
// hide in the RSS figure.
import { strict as assert } from 'node:assert';
import { runFlood } from './block1-flood.js';

const MIB = 1024 * 1024;

describe('Block1 flood: 16-byte blocks from many peers and tokens', function () {
  this.timeout(180_000);
  const previous = process.env.FLOOD_NODE_ARGS;
  before(() => {
    process.env.FLOOD_NODE_ARGS = '--max-semi-space-size=1';
  });
  after(() => {
    if (previous === undefined) delete process.env.FLOOD_NODE_ARGS;
    else process.env.FLOOD_NODE_ARGS = previous;
  });

  it('holds at most blockBytesTotalMax, counted as the real buffer sizes, and RSS stays bounded', async () => {
    const boundBytes = 2 * MIB;
    const report = await runFlood({
      peers: 100,
      tagsPerPeer: 8,
      blocksPerTransfer: 200,
      blockBytes: 16,
      server: { blockTransfersMax: 1024, bodyBytesMax: MIB, blockBytesTotalMax: boundBytes },
    });
    const { baseline, after: held } = report;
    const summary = JSON.stringify({
      codes: report.codes,
      held: held.heldBytes,
      buffers: held.bufferBytes,
      heap: held.heapUsedBytes - baseline.heapUsedBytes,
      rss: held.rssBytes - baseline.rssBytes,
    });
    assert.ok(report.blocksSent > 100_000, `the flood sent ${report.blocksSent} blocks: ${summary}`);
    assert.equal(held.bufferBytes, held.heldBytes, `the store counts the buffers it really holds: ${summary}`);
    assert.ok(held.heldBytes <= boundBytes, `held within blockBytesTotalMax: ${summary}`);
    assert.ok(held.heldBytes > boundBytes / 2, `the flood reached the bound: ${summary}`);
    assert.ok((report.codes['5.03'] ?? 0) > 0, `transfers past the bound were refused: ${summary}`);
    assert.ok(held.heapUsedBytes - baseline.heapUsedBytes < boundBytes + 8 * MIB, `heap growth bounded: ${summary}`);
    assert.ok(held.rssBytes - baseline.rssBytes < boundBytes + 32 * MIB, `RSS growth bounded: ${summary}`);
  });

  it('refuses every 16-byte-block transfer at the endpoint minimum block size, holding nothing', async () => {
    const report = await runFlood({
      peers: 100,
      tagsPerPeer: 8,
      blocksPerTransfer: 200,
      blockBytes: 16,
      server: { block1BytesMin: 512, blockBytesTotalMax: 4 * MIB, bodyBytesMax: MIB },
    });
    assert.deepEqual(report.codes, { '4.13': 800 });
    assert.equal(report.after.heldBytes, 0);
    assert.equal(report.after.transfers, 0);
  });
});
