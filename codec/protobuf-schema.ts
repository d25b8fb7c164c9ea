/**
 * The Protocol Buffers schema the protobuf serializer compiles: codec/coraft.proto, the one
 * copy of the wire format and its documentation. It is read once, when the protobuf
 * serializer is first created, from beside this module (running from source) or from the
 * package's codec/ folder (running from dist/, which package.json's "files" ships).
 */
import { readFileSync } from 'node:fs';
import { SerializationError, describeError } from '../contracts/errors.js';

const CANDIDATES = [new URL('./coraft.proto', import.meta.url), new URL('../../codec/coraft.proto', import.meta.url)];

let cached: string | null = null;

/** The text of codec/coraft.proto; throws SerializationError CODEC_SCHEMA when it cannot be read. */
export function protoSchema(): string {
  if (cached !== null) return cached;
  const problems: string[] = [];
  for (const url of CANDIDATES) {
    try {
      cached = readFileSync(url, 'utf8');
      return cached;
    } catch (error) {
      problems.push(`${url.pathname}: ${describeError(error)}`);
    }
  }
  throw new SerializationError('CODEC_SCHEMA', `cannot read the protobuf schema coraft.proto (${problems.join('; ')})`);
}
