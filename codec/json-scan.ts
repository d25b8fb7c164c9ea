/**
 * A structural scan of untrusted JSON text before JSON.parse builds it. JSON.parse accepts any
 * nesting and any number of elements, so 8 MiB of `[[[[…` or of `{},{},{},…` would become
 * millions of objects (a second of CPU and hundreds of MB) before the schema could refuse
 * them. The scan walks the UTF-8 bytes once, skipping strings, and refuses:
 *
 * - nesting deeper than `depthMax` (CODEC_MALFORMED);
 * - an array of more than `itemsMax` elements (CODEC_LIMIT: longer than any list a message
 *   may hold);
 * - an object of more than `membersMax` members (CODEC_MALFORMED);
 * - more than `totalItemsMax` values in all (CODEC_LIMIT), which bounds what JSON.parse
 *   allocates whatever the shape.
 *
 * It counts separators, not values, so malformed text may pass it; JSON.parse and the schema
 * judge the rest. Structural characters are ASCII and never occur inside a UTF-8 multi-byte
 * sequence, so scanning bytes is exact.
 */
import { SerializationError } from '../contracts/errors.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

function tooMany(offset: number, totalItemsMax: number): SerializationError {
  return new SerializationError(
    'CODEC_LIMIT',
    `json: byte ${offset}: more than ${totalItemsMax} values, more than any message may hold`,
  );
}

/** Throws SerializationError when `text` nests, lists or groups more than the bounds allow. */
export function scanJson(
  text: Uint8Array,
  depthMax: number,
  itemsMax: number,
  membersMax: number,
  totalItemsMax: number,
): void {
  // Separators seen so far in each open container, and whether it is an array.
  const counts: number[] = [];
  const isArray: boolean[] = [];
  let inString = false;
  // Containers and separators: every value but the first of a container follows a comma.
  let total = 1;
  for (let i = 0; i < text.length; i += 1) {
    const byte = text[i];
    if (inString) {
      if (byte === BACKSLASH) i += 1;
      else if (byte === QUOTE) inString = false;
      continue;
    }
    if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      total += 1;
      if (total > totalItemsMax) throw tooMany(i, totalItemsMax);
      if (counts.length >= depthMax)
        throw new SerializationError('CODEC_MALFORMED', `json: byte ${i}: nested deeper than ${depthMax}`);
      counts.push(0);
      isArray.push(byte === OPEN_ARRAY);
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      counts.pop();
      isArray.pop();
    } else if (byte === COMMA && counts.length > 0) {
      total += 1;
      if (total > totalItemsMax) throw tooMany(i, totalItemsMax);
      const depth = counts.length - 1;
      const separators = (counts[depth] ?? 0) + 1;
      counts[depth] = separators;
      // n separators mean n + 1 values.
      if (isArray[depth] === true && separators >= itemsMax) {
        throw new SerializationError(
          'CODEC_LIMIT',
          `json: byte ${i}: an array of more than ${itemsMax} items exceeds the longest list a message may hold`,
        );
      }
      if (isArray[depth] === false && separators >= membersMax) {
        throw new SerializationError(
          'CODEC_MALFORMED',
          `json: byte ${i}: an object of more than ${membersMax} members`,
        );
      }
    }
  }
}
