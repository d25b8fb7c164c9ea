import { DtlsServerEndpoint } from './transport/dtls/server.js';
import { DtlsClientEndpoint } from './transport/dtls/client.js';
const psk = Buffer.from('secretPSK');
const server = await DtlsServerEndpoint.listen({ host: '127.0.0.1', port: 0, pskLookup: () => psk, handshakesInProgressMax: 1000, sessionsMax: 65536 });
const port = server.localAddress().port;
const client = await DtlsClientEndpoint.open({ identity: 'node-a', psk, bindAddress: '127.0.0.1', sessionsMax: 10 });
const N = 2000;
let t0 = performance.now();
for (let i = 0; i < N; i++) { await client.connect('127.0.0.1', port); client.resetSession('127.0.0.1', port); }
let dt = performance.now() - t0;
console.log('sequential hs/s', (N / dt * 1000).toFixed(0));
await client.close(); await server.close();
