// Proves what `coraft members remove` does before it sends anything, against a fake endpoint
// on loopback (a real CoapServer answering /status): sent to the endpoint of the member it
// removes, it stops with the reason and hands no leadership over (that node would be cut off
// before the answer came back); sent to the leader it removes, with no other voter, it hands
// nothing over and lets the leader refuse the removal; otherwise it removes as before.
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMembers } from '../../../agent/cli/admin-commands.js';
import { CLIENT_EXIT } from '../../../agent/cli/client-common.js';
import { CoapResponseCode, CoapServer } from '../../../transport/coap/index.js';
import { createRealTimers } from '../../../transport/timers.js';
import { openUdpEndpoint } from '../../../transport/udp.js';

const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

async function fakeEndpoint(status: object): Promise<{ server: CoapServer; calls: string[] }> {
  const calls: string[] = [];
  const server = new CoapServer(
    { openEndpoint: () => openUdpEndpoint({ address: '127.0.0.1', port: 0 }), timers: createRealTimers() },
    { bodyBytesMax: 64 * 1024 },
  );
  server.addResource('/status', {
    GET: () => Promise.resolve({ code: CoapResponseCode.Content, contentFormat: 50, payload: json(status) }),
  });
  const record = (name: string) => (): Promise<{ code: number; contentFormat: number; payload: Uint8Array }> => {
    calls.push(name);
    return Promise.resolve({ code: CoapResponseCode.Deleted, contentFormat: 50, payload: json({ leaderId: 'n2' }) });
  };
  server.addResource('/members/*', { DELETE: record('remove') });
  server.addResource('/leader/transfer', { POST: record('transfer') });
  await server.start();
  return { server, calls };
}

const members = (ids: readonly string[]) => ids.map((id) => ({ id, address: `127.0.0.1:1`, role: 'voter' }));

describe('coraft members remove: checks before sending', function () {
  this.timeout(20_000);
  const dir = mkdtempSync(join(tmpdir(), 'coraft-members-'));
  const keyFile = join(dir, 'admin.key');
  writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), {
    mode: 0o600,
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function remove(id: string, status: object): Promise<{ code: number; calls: string[]; stderr: string }> {
    const { server, calls } = await fakeEndpoint(status);
    const written: string[] = [];
    const [write, writeOut] = [process.stderr.write.bind(process.stderr), process.stdout.write.bind(process.stdout)];
    process.stderr.write = (chunk: string | Uint8Array): boolean => (written.push(String(chunk)), true);
    process.stdout.write = (): boolean => true;
    try {
      const endpoint = `127.0.0.1:${server.localAddress().port}`;
      const code = await runMembers(['remove', id, '--admin-key', keyFile, '--cluster', 'c', '--endpoint', endpoint]);
      return { code, calls, stderr: written.join('') };
    } finally {
      process.stderr.write = write;
      process.stdout.write = writeOut;
      await server.stop();
    }
  }

  it("refuses to remove the endpoint's own node, before handing leadership over", async () => {
    const result = await remove('n1', { nodeId: 'n1', leaderId: 'n1', members: members(['n1', 'n2', 'n3']) });
    assert.equal(result.code, CLIENT_EXIT.failed);
    assert.match(result.stderr, /this is n1's own endpoint: .*another member's endpoint \(--endpoint\)/);
    assert.deepEqual(result.calls, []);
  });

  it('hands nothing over when the leader it removes is the only voter, and otherwise hands over first', async () => {
    const alone = await remove('n1', { nodeId: 'n2', leaderId: 'n1', members: members(['n1']) });
    assert.deepEqual(alone.calls, ['remove']);
    const three = await remove('n1', { nodeId: 'n2', leaderId: 'n1', members: members(['n1', 'n2', 'n3']) });
    assert.equal(three.code, CLIENT_EXIT.ok);
    assert.deepEqual(three.calls, ['transfer', 'remove']);
  });
});
