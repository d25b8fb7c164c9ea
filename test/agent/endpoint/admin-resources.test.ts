// Proves the endpoint's refusal of a remove or rekey of its own node while another node leads
// (agent/endpoint/admin-resources.ts): the leader would answer over the session the change
// closes, so the operator used to read "forwarding failed; it may or may not have been
// applied" for a removal that did happen. The request is answered 4.09 with what to do, and
// nothing reaches the leader; on the leader itself, and for another member, the command runs.
// And that an unsigned command, or an identity that may not use the admin resources, is reported for
// the log (the node logs the commands it checks and refuses itself). A fake node stands in for the
// real one: only the endpoint's decision is under test.
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { adminResources } from '../../../agent/endpoint/admin-resources.js';
import type { NodeApi } from '../../../agent/runtime/node-api.js';
import { signAdminCommand, type AdminOperation } from '../../../agent/trust/admin-command.js';
import type { CoapRequest } from '../../../transport/coap/index.js';

const admin = generateKeyPairSync('ed25519');

function endpointOf(self: string, leader: string) {
  const sent: string[] = [];
  const node = {
    getNodeId: () => self,
    getStatus: () => ({ leaderId: leader }),
    adminAnywhere: () => (sent.push('admin'), Promise.resolve({ leader })),
  } as unknown as NodeApi;
  const resources = new Map(adminResources(node, 1000, { kv: null, admin: null }));
  const handle = (method: 'DELETE' | 'PUT', path: string[], operation: AdminOperation) => {
    const handler = resources.get('/members/*')?.[method];
    assert.ok(handler !== undefined);
    const payload = signAdminCommand(operation, 'c', admin.privateKey, Date.now(), 60_000);
    return handler({
      method,
      path,
      payload,
      peer: { address: '127.0.0.1', port: 1, identity: null },
    } as unknown as CoapRequest);
  };
  return { handle, sent };
}

const text = (payload: Uint8Array | undefined): string => new TextDecoder().decode(payload);

describe('admin resources: a change that cuts off the endpoint’s own node', () => {
  it('refuses a remove or rekey of this node while another node leads, sending nothing', async () => {
    const { handle, sent } = endpointOf('n4', 'n1');
    const removed = await handle('DELETE', ['members', 'n4'], { op: 'remove-member', id: 'n4' });
    assert.equal(removed.code, (4 << 5) | 9);
    assert.match(text(removed.payload), /this is n4's own endpoint: .*another member's endpoint/);
    const rekeyed = await handle('PUT', ['members', 'n4', 'key'], { op: 'rekey-member', id: 'n4', links: [] });
    assert.equal(rekeyed.code, (4 << 5) | 9);
    assert.deepEqual(sent, []);
  });

  it('runs the command for another member, and on the leader for itself', async () => {
    const follower = endpointOf('n4', 'n1');
    assert.equal(
      (await follower.handle('DELETE', ['members', 'n3'], { op: 'remove-member', id: 'n3' })).code,
      (2 << 5) | 2,
    );
    const leader = endpointOf('n1', 'n1');
    assert.equal(
      (await leader.handle('DELETE', ['members', 'n1'], { op: 'remove-member', id: 'n1' })).code,
      (2 << 5) | 2,
    );
    assert.deepEqual([...follower.sent, ...leader.sent], ['admin', 'admin']);
  });
});

describe('admin resources: requests refused before any node checks a command', () => {
  const node = { getNodeId: () => 'n1', getStatus: () => ({ leaderId: 'n1' }) } as unknown as NodeApi;
  const request = (payload: string, identity: string | null): CoapRequest =>
    ({
      method: 'POST',
      path: ['members'],
      payload: new TextEncoder().encode(payload),
      peer: { address: '127.0.0.1', port: 1, identity },
    }) as unknown as CoapRequest;

  it('reports an unsigned command, and an identity that may not use them, for the log', async () => {
    const refused: string[] = [];
    const open = new Map(adminResources(node, 1000, { kv: null, admin: null }, (r) => refused.push(r)));
    const unsigned = await open.get('/members')?.POST?.(request('{"id":"evil","address":"127.0.0.1:9"}', null));
    assert.equal(unsigned?.code, (4 << 5) | 3);
    const keyed = new Map(adminResources(node, 1000, { kv: 'kv', admin: 'admin' }, (r) => refused.push(r)));
    const asKv = await keyed.get('/admin')?.POST?.(request('{}', 'kv'));
    assert.equal(asKv?.code, (4 << 5) | 3);
    assert.equal(refused.length, 2);
    assert.match(refused[0] ?? '', /^not a signed admin command: /);
    assert.equal(refused[1], 'identity "kv" may not use the admin resources');
  });
});
