// Proves option validation: the defaults resolve to the values the options' documentation
// states, values at the documented limits are accepted and kept, and every bad field is
// reported by name with its limit in one ConfigError (STYLE §4), including the 2^20-block
// bound that relates body size and block size.
import { strict as assert } from 'node:assert';
import { ConfigError } from '../../../contracts/errors.js';
import { resolveCoapClientOptions, resolveCoapServerOptions } from '../../../transport/coap/config.js';
import { resolveHttpClientOptions, resolveHttpServerOptions } from '../../../transport/http/config.js';

const MIB = 1024 * 1024;

function problemsOf(build: () => unknown): readonly string[] {
  try {
    build();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('transport options', () => {
  it('resolves to the documented defaults', () => {
    // The values each option's TSDoc states, so a changed default has to change its documentation too.
    assert.deepEqual(resolveCoapClientOptions(), {
      ackTimeoutMs: 500,
      ackTimeoutMinMs: 20,
      adaptiveRetransmission: false,
      ackRandomFactor: 1.5,
      maxRetransmit: 4,
      retransmitDelayMaxMs: 8000,
      outstandingPerPeerMax: 128,
      blockBytes: 1024,
      wholeBodyBytesMax: 1024,
      bodyBytesMax: 8 * MIB,
      qblock1: true,
      pieceBytes: 0,
    });
    assert.deepEqual(resolveCoapServerOptions(), {
      blockBytes: 1024,
      bodyBytesMax: 8 * MIB,
      blockTransfersMax: 256,
      blockTransfersPerPeerMax: 128,
      blockBytesTotalMax: 64 * MIB,
      block1BytesMin: 16,
      blockTransferLifetimeMs: 30_000,
      duplicateCacheEntriesMax: 8192,
      duplicateCacheLifetimeMs: 60_000,
      duplicateCacheBytesMax: MIB,
      requestsInFlightMax: 1024,
      separateBodyResponses: false,
      notifyAckTimeoutMs: 2000,
      notifyRetransmitMax: 4,
      notificationsPendingMax: 4096,
    });
    assert.deepEqual(resolveHttpClientOptions(), {
      socketsPerPeerMax: 32,
      outstandingPerPeerMax: 128,
      bodyBytesMax: 8 * MIB,
    });
    assert.deepEqual(resolveHttpServerOptions(), {
      bodyBytesMax: 8 * MIB,
      requestsInFlightMax: 1024,
      connectionsMax: 256,
      keepAliveTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 60_000,
    });
  });

  it('accepts and keeps values at the documented limits', () => {
    const low = {
      ackTimeoutMs: 10,
      ackTimeoutMinMs: 1,
      adaptiveRetransmission: false,
      ackRandomFactor: 1,
      maxRetransmit: 0,
      retransmitDelayMaxMs: 10,
      outstandingPerPeerMax: 1,
      blockBytes: 16,
      wholeBodyBytesMax: 16,
      bodyBytesMax: 1024,
      qblock1: false,
      pieceBytes: 0,
    };
    const high = {
      ackTimeoutMs: 60_000,
      ackTimeoutMinMs: 60_000,
      adaptiveRetransmission: true,
      ackRandomFactor: 4,
      maxRetransmit: 20,
      retransmitDelayMaxMs: 60_000,
      outstandingPerPeerMax: 4096,
      blockBytes: 1024,
      wholeBodyBytesMax: 65_000,
      bodyBytesMax: 64 * MIB,
      qblock1: true,
      pieceBytes: 64_512,
    };
    assert.deepEqual(resolveCoapClientOptions(low), low);
    assert.deepEqual(resolveCoapClientOptions(high), high);
    const server = {
      blockBytes: 16,
      bodyBytesMax: 16 * 2 ** 20,
      blockTransfersMax: 65_536,
      blockTransfersPerPeerMax: 65_536,
      blockBytesTotalMax: 16 * 2 ** 20,
      block1BytesMin: 1024,
      blockTransferLifetimeMs: 247_000,
      duplicateCacheEntriesMax: 1,
      duplicateCacheLifetimeMs: 100,
      duplicateCacheBytesMax: 1024,
      requestsInFlightMax: 65_536,
      separateBodyResponses: true,
      notifyAckTimeoutMs: 60_000,
      notifyRetransmitMax: 20,
      notificationsPendingMax: 65_536,
    };
    assert.deepEqual(resolveCoapServerOptions(server), server);
    const serverLow = {
      ...server,
      blockTransfersPerPeerMax: 1,
      block1BytesMin: 16,
      notifyAckTimeoutMs: 10,
      notifyRetransmitMax: 0,
      notificationsPendingMax: 1,
    };
    assert.deepEqual(resolveCoapServerOptions(serverLow), serverLow);
    assert.equal(resolveHttpServerOptions({ headersTimeoutMs: 1000, requestTimeoutMs: 1000 }).requestTimeoutMs, 1000);
  });

  it('names every bad field with its limit', () => {
    const client = problemsOf(() =>
      resolveCoapClientOptions({
        ackTimeoutMs: 5,
        blockBytes: 1000,
        outstandingPerPeerMax: 0,
        wholeBodyBytesMax: 65_001,
      }),
    );
    assert.equal(client.length, 5, client.join('; '));
    assert.ok(client.some((p) => p.startsWith('wholeBodyBytesMax must be an integer in [1000, 65000]')));
    assert.ok(
      client.some((p) => p.startsWith('ackTimeoutMinMs must be an integer in [1, 5]')),
      'a limit that depends on another field',
    );
    assert.ok(client.some((p) => p.startsWith('ackTimeoutMs must be an integer in [10, 60000]')));
    assert.ok(client.some((p) => p.startsWith('blockBytes must be a power of two')));
    const flag = problemsOf(() => resolveCoapClientOptions(JSON.parse('{"adaptiveRetransmission": "yes"}')));
    assert.deepEqual(flag, ['adaptiveRetransmission must be a boolean, got yes']);
    // The whole-body limit defaults to the block size and may not go below it or past a datagram.
    assert.equal(resolveCoapClientOptions({ blockBytes: 256 }).wholeBodyBytesMax, 256);
    const whole = [
      ...problemsOf(() => resolveCoapClientOptions({ blockBytes: 512, wholeBodyBytesMax: 511 })),
      ...problemsOf(() => resolveCoapClientOptions({ wholeBodyBytesMax: 65_001 })),
    ];
    assert.equal(whole.length, 2, whole.join('; '));
    assert.ok(whole[0]?.startsWith('wholeBodyBytesMax must be an integer in [512, 65000]'), whole[0]);
    assert.ok(whole[1]?.startsWith('wholeBodyBytesMax must be an integer in [1024, 65000]'), whole[1]);
    // Pieces are whole KiB, at least 2 KiB and never larger than a whole body.
    const pieces = [
      ...problemsOf(() => resolveCoapClientOptions({ wholeBodyBytesMax: 16_256, pieceBytes: 16_384 })),
      ...problemsOf(() => resolveCoapClientOptions({ wholeBodyBytesMax: 16_256, pieceBytes: 3_000 })),
      ...problemsOf(() => resolveCoapClientOptions({ wholeBodyBytesMax: 16_256, pieceBytes: 1_024 })),
    ];
    assert.deepEqual(pieces, [
      'pieceBytes must be an integer in [2048, 16256], got 16384',
      'pieceBytes must be whole KiB, got 3000',
      'pieceBytes must be an integer in [2048, 16256], got 1024',
    ]);
    const server = problemsOf(() =>
      resolveCoapServerOptions({ blockBytes: 16, bodyBytesMax: 64 * 1024 * 1024, duplicateCacheLifetimeMs: 300_000 }),
    );
    assert.ok(server.some((p) => p.startsWith('bodyBytesMax must be at most blockBytes × 2^20')));
    assert.ok(server.some((p) => p.startsWith('duplicateCacheLifetimeMs')));
    const limits = problemsOf(() =>
      resolveCoapServerOptions({
        block1BytesMin: 2048,
        blockTransfersPerPeerMax: 0,
        notifyAckTimeoutMs: 5,
        notifyRetransmitMax: 21,
        notificationsPendingMax: 0,
      }),
    );
    assert.deepEqual(limits.map((p) => p.split(' ')[0]).sort(), [
      'block1BytesMin',
      'blockTransfersPerPeerMax',
      'notificationsPendingMax',
      'notifyAckTimeoutMs',
      'notifyRetransmitMax',
    ]);
    assert.ok(
      problemsOf(() => resolveHttpServerOptions({ requestTimeoutMs: 500 })).some((p) =>
        p.startsWith('requestTimeoutMs'),
      ),
    );
  });
});
