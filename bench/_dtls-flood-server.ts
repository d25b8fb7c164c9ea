/**
 * The server process of the dtls-flood bench: a DtlsServerEndpoint with default limits
 * (overridden by the JSON object in its second argument) that treats the address in its
 * first argument as a member's host. It prints `{"port":…}` once listening, then
 * every 250 ms one JSON line with its memory (RSS, heap) and DTLS gauges, and exits when its
 * stdin ends. Run with --expose-gc so the baseline is measured after a collection.
 */
import { DtlsServerEndpoint } from '../transport/dtls/server.js';

const PSK = Buffer.from('dtls flood bench key');
const memberAddress = process.argv[2] ?? '127.0.0.1';
const overrides: unknown = JSON.parse(process.argv[3] ?? '{}');

async function main(): Promise<void> {
  const server = await DtlsServerEndpoint.listen({
    host: '0.0.0.0',
    port: 0,
    pskLookup: (identity) => (identity === 'member' ? PSK : null),
    isMemberAddress: (address) => address === memberAddress,
    ...(typeof overrides === 'object' ? overrides : {}),
  });
  server.onMessage(() => undefined);
  process.stdout.write(`${JSON.stringify({ port: server.localAddress().port })}\n`);
  const gc: unknown = Reflect.get(globalThis, 'gc');
  const timer = setInterval(() => {
    const memory = process.memoryUsage();
    const stats = server.stats();
    const { rss, heapUsed, external } = memory;
    const line = { rss, heapUsed, external, halfOpen: stats.handshakesInProgress, sessions: stats.sessions, stats };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }, 250);
  process.stdin.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes('gc') && typeof gc === 'function') {
      gc();
      const memory = process.memoryUsage();
      const { rss, heapUsed, external } = memory;
      const line = {
        afterGc: true,
        rss,
        heapUsed,
        external,
        halfOpen: server.stats().handshakesInProgress,
        stats: server.stats(),
      };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
  });
  process.stdin.once('end', () => {
    clearInterval(timer);
    void server.close().then(() => process.exit(0));
  });
}

void main();
