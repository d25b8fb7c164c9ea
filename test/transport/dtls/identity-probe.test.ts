// Proves that the server's answers do not tell an unknown PSK identity from a known one with
// a wrong key (issue 14.6): a prober must not learn which node ids exist. For both cases the
// same client runs the same handshake, and what the server sends back is compared record by
// record: content type, version, epoch, sequence number and length of every record, the
// handshake message types, and the alert bytes (fatal bad_record_mac in both). Run with our
// client through a recording relay, and with OpenSSL s_client (-msg shows every record).
import { strict as assert } from 'node:assert';
import { NetworkError } from '../../../contracts/errors.js';
import { ContentType } from '../../../transport/dtls/constants.js';
import { splitRecords } from '../../../transport/dtls/record.js';
import { Cleanup, LossyRelay, internalErrors, startClient, startServer } from './helpers.js';
import { Peer, hasCommand } from './interop-helpers.js';
import { scaledMs } from '../../timing.js';

const keyHex = '0123456789abcdef0123456789abcdef';
const key = Buffer.from(keyHex, 'hex');
const wrongKeyHex = 'f123456789abcdef0123456789abcdef';
const lookup = (id: string): Uint8Array | null => (id === 'node-a' ? key : null);

/** What a datagram from the server shows besides its random bytes. */
function shape(datagram: Uint8Array): string[] {
  return splitRecords(datagram, 32).records.map((r) => {
    const head =
      `type ${r.type} version ${r.version.toString(16)} epoch ${r.epoch} seq ${r.seq} ` + `length ${r.fragment.length}`;
    if (r.type === ContentType.alert && r.epoch === 0)
      return `${head} alert ${Buffer.from(r.fragment).toString('hex')}`;
    if (r.type === ContentType.handshake && r.epoch === 0) return `${head} handshake ${r.fragment[0] ?? -1}`;
    return head;
  });
}

/**
 * What s_client received (-msg): each "<<<" line with the bytes of record headers and
 * alerts, then the alert it reports and how many bytes it read (stderr and stdout interleave,
 * so those two come last, in a fixed order).
 */
function received(output: string): string[] {
  const lines = output.split('\n');
  const out: string[] = [];
  const alert = /SSL alert number \d+/.exec(output)?.[0] ?? 'no alert';
  const read = /SSL handshake has read \d+ bytes/.exec(output)?.[0] ?? 'read nothing';
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (!line.startsWith('<<<')) continue;
    out.push(line);
    if (!line.includes('content_type=256') && !line.includes('content_type=21)')) continue;
    for (let j = i + 1; (lines[j] ?? '').startsWith('    '); j += 1) out.push((lines[j] ?? '').trim());
  }
  return [...out, alert, read];
}

describe('DTLS server: unknown PSK identity and wrong key look the same', function () {
  this.timeout(scaledMs(30_000));
  const cleanup = new Cleanup();
  afterEach(async () => {
    await cleanup.run();
    assert.deepEqual(internalErrors.splice(0), []);
  });

  it('sends our client the same records, and the same bad_record_mac alert, for both', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    const answers: string[][] = [];
    for (const [identity, psk] of [
      ['node-a', Buffer.from('not the key')],
      ['stranger', Buffer.from('not the key')],
    ] as const) {
      const relay = await LossyRelay.start(cleanup, server.localAddress().port, () => false);
      const client = await startClient(cleanup, { identity, psk });
      await assert.rejects(
        client.send(Buffer.from('x'), '127.0.0.1', relay.port()),
        (e: unknown) => e instanceof NetworkError && e.code === 'NET_AUTH',
      );
      answers.push(relay.forwardedDown.flatMap(shape));
    }
    const [wrongKey, unknownIdentity] = answers;
    assert.ok(wrongKey !== undefined && wrongKey.length >= 3);
    assert.match(wrongKey.at(-1) ?? '', /alert 0214$/, 'a wrong key ends with a fatal bad_record_mac');
    assert.deepEqual(unknownIdentity, wrongKey);
    assert.equal(server.stats().handshakesFailed, 2);
  });

  it('sends OpenSSL s_client the same records and alert for both', async function () {
    if (!hasCommand('openssl')) {
      console.log('      openssl not installed: skipped (CI installs it)');
      this.skip();
    }
    const server = await startServer(cleanup, { pskLookup: lookup });
    const outputs: string[][] = [];
    // 'node-z' has the length of 'node-a', so even the client's flights have the same lengths.
    for (const identity of ['node-a', 'node-z']) {
      const peer = new Peer('openssl', [
        's_client',
        '-dtls1_2',
        '-msg',
        '-psk',
        wrongKeyHex,
        '-psk_identity',
        identity,
        '-cipher',
        'PSK-AES128-CCM8',
        '-connect',
        `127.0.0.1:${server.localAddress().port}`,
      ]);
      cleanup.add(() => Promise.resolve(peer.kill()));
      assert.notEqual(await peer.exit(10_000), 0);
      outputs.push(received(peer.output));
    }
    const [wrongKey, unknownIdentity] = outputs;
    assert.ok(
      wrongKey?.some((l) => l.includes('SSL alert number 20')),
      `no bad_record_mac in:\n${wrongKey?.join('\n')}`,
    );
    assert.deepEqual(unknownIdentity, wrongKey);
    // The sanity check of the comparison: the right key gets through.
    const good = new Peer('openssl', [
      's_client',
      '-dtls1_2',
      '-psk',
      keyHex,
      '-psk_identity',
      'node-a',
      '-cipher',
      'PSK-AES128-CCM8',
      '-connect',
      `127.0.0.1:${server.localAddress().port}`,
    ]);
    cleanup.add(() => Promise.resolve(good.kill()));
    await good.waitFor('Cipher is PSK-AES128-CCM8');
  });
});
