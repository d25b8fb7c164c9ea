/**
 * The backup resources of the local endpoint (agent/backup/backup-service.ts), admin identity
 * only, like every admin resource:
 *
 *   POST /backup             a signed backup command naming this node as the payload: freezes
 *                            the state at a linearizable point; 2.01 with
 *                            `{"id": ID, "header": {...}}`
 *   GET  /backup/{id}/{n}    chunk n (from 0) of the file, octet-stream, served in Block2
 *                            blocks; an empty 2.05 after the last one. Only the client that
 *                            began the backup gets its chunks (4.04 for anyone else), in order
 *                            (4.00 naming the expected chunk), the last one again on a retry.
 *
 * An unsigned, forged, foreign, expired or replayed command is answered 4.03 with the reason.
 * A witness answers POST /backup 5.01 naming the leader (witness-guard.ts): it holds no values,
 * and its copy would be a whole, valid backup of an empty store.
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse } from '../../transport/coap/index.js';
import type { CoapResourceMethods } from '../../transport/coap/router.js';
import type { BackupBegun, ChunkOutcome } from '../backup/backup-service.js';
import { restricted, type EndpointAccess } from './access.js';
import { CONTENT_FORMAT, errorResponse, jsonResponse, responseForError } from './responses.js';
import { witnessRefusal, type WitnessNode } from './witness-guard.js';

/** What the resources call: backup-service.ts's BackupService. */
export interface BackupApi {
  begin(envelope: Uint8Array, owner: string, timeoutMs: number): Promise<BackupBegun>;
  chunk(id: string, n: number, owner: string): ChunkOutcome;
}

/** The client a request comes from: address, port and authenticated identity. */
function ownerOf(request: CoapRequest): string {
  return `${request.peer.address}|${request.peer.port}|${request.peer.identity ?? ''}`;
}

function chunkResponse(outcome: ChunkOutcome): CoapResponse {
  switch (outcome.kind) {
    case 'chunk':
      return { code: CoapResponseCode.Content, payload: outcome.bytes, contentFormat: CONTENT_FORMAT.octetStream };
    case 'end':
      return { code: CoapResponseCode.Content, payload: new Uint8Array(0), contentFormat: CONTENT_FORMAT.octetStream };
    case 'unknown':
      return errorResponse(
        CoapResponseCode.NotFound,
        'no such backup for this client (finished, expired or never begun)',
      );
    case 'out-of-order':
      return errorResponse(CoapResponseCode.BadRequest, `chunks come in order: expected chunk ${outcome.expected}`);
  }
}

/**
 * The resources, as (path, methods) pairs, admin identity only; none without a backup service.
 * `node`, when given, refuses a backup while it is a witness.
 */
export function backupResources(
  backups: BackupApi | null,
  timeoutMs: number,
  access: EndpointAccess,
  node: WitnessNode | null = null,
): [string, CoapResourceMethods][] {
  if (backups === null) return [];
  const begin = async (request: CoapRequest): Promise<CoapResponse> => {
    if (node?.isWitness() === true) return witnessRefusal(node, 'has nothing to back up');
    try {
      const begun = await backups.begin(request.payload, ownerOf(request), timeoutMs);
      return jsonResponse(CoapResponseCode.Created, { id: begun.id, header: begun.header });
    } catch (error) {
      return responseForError(error);
    }
  };
  const chunk = (request: CoapRequest): Promise<CoapResponse> => {
    const [, id, text] = request.path;
    const n = Number(text);
    if (request.path.length !== 3 || id === undefined || !/^\d{1,9}$/.test(text ?? ''))
      return Promise.resolve(errorResponse(CoapResponseCode.BadRequest, 'use GET /backup/{id}/{n}'));
    return Promise.resolve(chunkResponse(backups.chunk(id, n, ownerOf(request))));
  };
  return [
    ['/backup', restricted({ POST: begin }, 'admin', access)],
    ['/backup/*', restricted({ GET: chunk }, 'admin', access)],
  ];
}
