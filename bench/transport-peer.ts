/**
 * The server side of the transport bench, run in its own process (as a real peer is): starts
 * the echo server of the transport named in argv[2], prints {"port": N} on one line, and
 * stops when its stdin closes.
 */
import { BENCH_TRANSPORTS } from './transport-factories.js';

const name = process.argv[2] ?? '';
const transport = BENCH_TRANSPORTS[name];
if (transport === undefined) throw new Error(`unknown transport ${name}`);
const server = await transport.startServer();
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
process.stdin.resume();
process.stdin.once('close', () => {
  void server.stop().then(() => process.exit(0));
});
