// Proves that the backup resources (agent/endpoint/backup-resources.ts) belong to the admin
// identity: on an endpoint with keys, a request authenticated as the key-value identity (or
// with no identity) is refused 4.03 before the backup service hears of it, whatever it
// carries; the admin identity reaches it. And that a chunk request names its backup and chunk.
// A witness (no values) refuses to begin a backup, 5.01 naming the leader: its copy would be a
// whole, valid backup of an empty store.
import { strict as assert } from 'node:assert';
import type { BackupApi } from '../../../agent/endpoint/backup-resources.js';
import { backupResources } from '../../../agent/endpoint/backup-resources.js';
import type { ChunkOutcome } from '../../../agent/backup/backup-service.js';
import type { BackupHeader } from '../../../agent/backup/backup-format.js';
import { CoapResponseCode, type CoapRequest } from '../../../transport/coap/index.js';
import type { WitnessNode } from '../../../agent/endpoint/witness-guard.js';
import { coapRequest } from './coap-request.js';

const HEADER: BackupHeader = {
  cluster: 'c',
  node: 'n1',
  index: 5,
  term: 1,
  revision: 5,
  keyCount: 0,
  dataBytes: 0,
  createdAtMs: 0,
};

class RecordingBackups implements BackupApi {
  readonly calls: string[] = [];
  begin(_envelope: Uint8Array, owner: string): Promise<{ id: string; header: BackupHeader }> {
    this.calls.push(`begin ${owner}`);
    return Promise.resolve({ id: 'a'.repeat(32), header: HEADER });
  }
  chunk(id: string, n: number, owner: string): ChunkOutcome {
    this.calls.push(`chunk ${id} ${n} ${owner}`);
    return { kind: 'chunk', bytes: Uint8Array.of(1, 2, 3) };
  }
}

function request(method: 'GET' | 'POST', path: string[], identity: string | null): CoapRequest {
  return coapRequest({
    method,
    path,
    payload: new TextEncoder().encode('{"v":1}'),
    peer: { address: '127.0.0.1', port: 4000, identity },
  });
}

function handlers(
  backups: RecordingBackups,
  node: WitnessNode | null = null,
): Map<string, Record<string, (r: CoapRequest) => Promise<{ code: number; payload?: Uint8Array }>>> {
  return new Map(backupResources(backups, 1000, { kv: 'kv', admin: 'admin' }, node) as never);
}

/** A running node that is, or is not, a witness, following leader n1. */
function nodeOf(witness: boolean): WitnessNode {
  return {
    isWitness: () => witness,
    isRunning: () => true,
    getNodeId: () => 'n3',
    getStatus: () => ({ leaderId: 'n1' }) as ReturnType<WitnessNode['getStatus']>,
  };
}

describe('backup resources', () => {
  it('refuse the key-value identity and anonymous requests, 4.03, before the service hears of them', async () => {
    const backups = new RecordingBackups();
    const resources = handlers(backups);
    for (const identity of ['kv', null, 'intruder']) {
      const begin = await resources.get('/backup')?.['POST']?.(request('POST', ['backup'], identity));
      assert.equal(begin?.code, CoapResponseCode.Forbidden, `POST /backup as ${String(identity)}`);
      const chunk = await resources
        .get('/backup/*')
        ?.['GET']?.(request('GET', ['backup', 'a'.repeat(32), '0'], identity));
      assert.equal(chunk?.code, CoapResponseCode.Forbidden, `GET a chunk as ${String(identity)}`);
    }
    assert.deepEqual(backups.calls, []);
  });

  it('let the admin identity begin a backup and fetch its chunks', async () => {
    const backups = new RecordingBackups();
    const resources = handlers(backups);
    const begun = await resources.get('/backup')?.['POST']?.(request('POST', ['backup'], 'admin'));
    assert.equal(begun?.code, CoapResponseCode.Created);
    const chunk = await resources.get('/backup/*')?.['GET']?.(request('GET', ['backup', 'b'.repeat(32), '7'], 'admin'));
    assert.equal(chunk?.code, CoapResponseCode.Content);
    const bad = await resources.get('/backup/*')?.['GET']?.(request('GET', ['backup', 'x', 'seven'], 'admin'));
    assert.equal(bad?.code, CoapResponseCode.BadRequest);
    assert.deepEqual(backups.calls, ['begin 127.0.0.1|4000|admin', `chunk ${'b'.repeat(32)} 7 127.0.0.1|4000|admin`]);
  });

  it('refuse a backup on a witness, 5.01 naming the leader, before the service hears of it', async () => {
    const backups = new RecordingBackups();
    const refused = await handlers(backups, nodeOf(true))
      .get('/backup')
      ?.['POST']?.(request('POST', ['backup'], 'admin'));
    assert.equal(refused?.code, CoapResponseCode.NotImplemented);
    const said = new TextDecoder().decode(refused?.payload);
    assert.match(said, /witness: n3 stores no values and has nothing to back up; use a voter \(leader: n1\)/);
    assert.deepEqual(backups.calls, []);
    const begun = await handlers(backups, nodeOf(false))
      .get('/backup')
      ?.['POST']?.(request('POST', ['backup'], 'admin'));
    assert.equal(begun?.code, CoapResponseCode.Created, 'a full member begins it');
  });
});
