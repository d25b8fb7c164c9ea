import { DtlsServerEndpoint } from './transport/dtls/server.js';
import { DtlsClientEndpoint } from './transport/dtls/client.js';
const psk = Buffer.from('k');
const server = await DtlsServerEndpoint.listen({ host: '127.0.0.1', port: 0, pskLookup: () => psk, handshakeDatagramBytesMax: 100 });
const client = await DtlsClientEndpoint.open({ identity: 'node-a', psk, bindAddress: '127.0.0.1', handshakeDatagramBytesMax: 100, retransmitInitialMs: 100, retransmitCountMax: 1 });
try { await client.connect('127.0.0.1', server.localAddress().port); console.log('ok'); } catch (e) { console.log(String(e)); }
console.log(JSON.stringify(server.stats()), JSON.stringify(client.stats()));
await client.close(); await server.close();
