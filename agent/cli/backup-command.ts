/**
 * `coraft backup --endpoint E --out FILE`: a consistent, checksummed copy of a live cluster's
 * state machine (agent/backup/). The command signs a backup command naming the endpoint's node
 * (admin key, admin identity), which freezes its state at a linearizable point, then fetches the
 * file a chunk at a time (each chunk in Block2 blocks) into FILE.partial-PID beside FILE, holding
 * one chunk in memory. Once the last chunk is in, it syncs the file, checks its trailer and
 * SHA-256 by reading it back, and only then renames it to FILE (and syncs the folder): FILE is
 * either a whole, checked backup or untouched. Progress goes to stderr on a TTY only.
 *
 * `coraft backup --verify FILE` checks a backup file and prints its header.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PersistenceError, describeError } from '../../contracts/errors.js';
import type { BackupHeader } from '../backup/backup-format.js';
import { verifyBackupFile } from '../backup/backup-reader.js';
import { parseOptions, UsageError } from './args.js';
import { CLIENT_EXIT, COMMON, out, withClient } from './client-common.js';
import { EndpointError, JsonFields, type EndpointClient } from './endpoint-client.js';
import { SIGNING_OPTIONS, signerOf, type Signer } from './admin-signing.js';

const HELP = `usage: coraft backup --out FILE [--endpoint HOST:PORT] --admin-key FILE [--endpoint-key FILE]
       coraft backup --verify FILE

Copies the state machine of a live cluster (keys, revisions, the watch history window,
client sessions, the keystore as stored) at one linearizable point into FILE: a versioned
header, the state, and a SHA-256 trailer (DESIGN.md, "Backup file"). FILE is written only
once the whole copy is in and its checksum verifies. The node of --endpoint produces it.
options: --admin-key FILE [--cluster ID] [--valid-for-s S], --endpoint HOST:PORT,
         --endpoint-key FILE [--endpoint-identity ID], --json, --timeout-ms MS (per request, default 60000)
--verify FILE checks a backup file (length, trailer, SHA-256) and prints its header.
Restore with 'coraft restore --from FILE' (deploy/README.md, "Backup and restore").`;

const MIB = 1024 * 1024;

/** Shows progress on stderr when it is a terminal; does nothing otherwise. */
class Progress {
  private readonly tty = process.stderr.isTTY;
  private lastMs = 0;

  constructor(private readonly estimateBytes: number) {}

  update(bytes: number, force = false): void {
    if (!this.tty) return;
    const now = Date.now();
    if (!force && now - this.lastMs < 200) return;
    this.lastMs = now;
    const estimate = this.estimateBytes > 0 ? ` of about ${(this.estimateBytes / MIB).toFixed(1)} MiB` : '';
    process.stderr.write(`\rbackup: ${(bytes / MIB).toFixed(1)} MiB received${estimate}   `);
  }

  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

function headerOf(value: unknown): { readonly id: string; readonly index: number; readonly dataBytes: number } {
  const body = JsonFields.of(value, 'the backup answer');
  const id = body.string('id');
  if (!/^[0-9a-f]{32}$/.test(id)) throw new EndpointError('', 'the backup answer: id is not a backup id');
  const fields = JsonFields.of(
    typeof value === 'object' && value !== null ? Reflect.get(value, 'header') : null,
    'the backup header',
  );
  return { id, index: fields.number('index'), dataBytes: fields.number('dataBytes') };
}

/** Fetches every chunk of backup `id` into the open file `fd`; returns the bytes written. */
async function fetchChunks(client: EndpointClient, id: string, fd: number, progress: Progress): Promise<number> {
  let bytes = 0;
  for (let n = 0; ; n += 1) {
    const response = await client.call({ method: 'GET', path: ['backup', id, String(n)] });
    if (response.payload.length === 0) return bytes;
    for (let offset = 0; offset < response.payload.length;)
      offset += writeSync(fd, response.payload, offset, response.payload.length - offset);
    bytes += response.payload.length;
    progress.update(bytes);
  }
}

/** Takes the backup into `file` through `client`; returns the checked header. */
async function takeBackup(client: EndpointClient, signer: Signer, file: string): Promise<BackupHeader> {
  const node = JsonFields.of(await client.json('GET', '/status'), 'the status').string('nodeId');
  const begun = await client.call({
    method: 'POST',
    path: ['backup'],
    payload: signer.sign({ op: 'backup', node }),
    contentFormat: 50,
  });
  const answer = headerOf(JSON.parse(new TextDecoder().decode(begun.payload)));
  const partial = `${file}.partial-${process.pid}`;
  const fd = openSync(partial, 'wx', 0o600);
  let renamed = false;
  try {
    const progress = new Progress(answer.dataBytes);
    const bytes = await fetchChunks(client, answer.id, fd, progress);
    progress.update(bytes, true);
    progress.done();
    fsyncSync(fd);
    closeSync(fd);
    const { header } = verifyBackupFile(partial);
    if (header.index !== answer.index)
      throw new PersistenceError('STORAGE_CORRUPT', `the file is at index ${header.index}, not ${answer.index}`);
    renameSync(partial, file);
    renamed = true;
    syncFolder(dirname(file));
    return header;
  } finally {
    try {
      closeSync(fd);
    } catch {
      // Closed already (the usual path).
    }
    if (!renamed) unlinkSync(partial);
  }
}

function syncFolder(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function describeHeader(header: BackupHeader): string {
  return (
    `cluster ${header.cluster}, from ${header.node} at index ${header.index} (term ${header.term}), ` +
    `revision ${header.revision}, ${header.keyCount} keys, taken ${new Date(header.createdAtMs).toISOString()}`
  );
}

/** `coraft backup`. */
export async function runBackup(args: readonly string[]): Promise<number> {
  const { values } = parseOptions(args, {
    ...COMMON,
    ...SIGNING_OPTIONS,
    out: { type: 'string' },
    verify: { type: 'string' },
  });
  if (values.help === true) {
    out(HELP);
    return CLIENT_EXIT.ok;
  }
  if (values.verify !== undefined) return verify(values.verify, values.json === true);
  if (values.out === undefined) throw new UsageError('backup: --out FILE is required');
  const file = resolve(values.out);
  const signer = signerOf(values);
  const timeouts = { ...values, 'timeout-ms': values['timeout-ms'] ?? '60000' };
  return withClient(
    timeouts,
    async (client) => {
      try {
        const header = await takeBackup(client, signer, file);
        out(values.json === true ? JSON.stringify({ file, ...header }) : `wrote ${file}: ${describeHeader(header)}`);
        return CLIENT_EXIT.ok;
      } catch (error) {
        if (!(error instanceof PersistenceError) && !isFileError(error)) throw error;
        process.stderr.write(`coraft backup: ${describeError(error)}\n`);
        return CLIENT_EXIT.failed;
      }
    },
    'admin',
  );
}

function isFileError(error: unknown): boolean {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('E');
}

function verify(file: string, json: boolean): number {
  try {
    const { header, fileBytes } = verifyBackupFile(file);
    out(json ? JSON.stringify({ file, fileBytes, ...header }) : `${file}: a whole backup, ${describeHeader(header)}`);
    return CLIENT_EXIT.ok;
  } catch (error) {
    if (!(error instanceof PersistenceError) && !isFileError(error)) throw error;
    process.stderr.write(`coraft backup: ${describeError(error)}\n`);
    return CLIENT_EXIT.failed;
  }
}
