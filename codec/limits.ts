/**
 * The limits every codec enforces while it decodes (and, so that a peer never receives what it
 * would refuse, while it encodes): the configurable {@link CodecLimits} of contracts/serializer.ts
 * and the fixed bounds of the wire format that are not worth a configuration option.
 */
import { ConfigError } from '../contracts/errors.js';
import { NODE_ID_LENGTH_MAX } from '../contracts/log.js';
import type { CodecLimits } from '../contracts/serializer.js';

const MIB = 1024 * 1024;

/**
 * The default limits: 8 MiB per message, 10,000 entries per AppendEntries, 1 MiB per entry
 * command, 4 MiB per snapshot chunk (the values documented on {@link CodecLimits}). They leave
 * room for the runtime's own defaults (100 entries or 1 MiB per append, 1,000,000-byte chunks).
 */
export const DEFAULT_CODEC_LIMITS: CodecLimits = Object.freeze({
  messageBytesMax: 8 * MIB,
  entriesPerMessageMax: 10_000,
  entryBytesMax: 1 * MIB,
  chunkBytesMax: 4 * MIB,
});

/** Largest accepted `messageBytesMax`, bytes: 256 MiB, far above any datagram-borne message. */
export const MESSAGE_BYTES_LIMIT_MAX = 256 * MIB;
/** Smallest accepted `messageBytesMax`, bytes: 1 KiB, enough for every message without payload. */
export const MESSAGE_BYTES_LIMIT_MIN = 1024;
/** Largest accepted `entriesPerMessageMax`. */
export const ENTRIES_PER_MESSAGE_LIMIT_MAX = 1_000_000;

/** Longest node id, in UTF-16 code units (the contract's NODE_ID_LENGTH_MAX, 64). */
export const NODE_ID_CHARS_MAX = NODE_ID_LENGTH_MAX;
/** Longest member address ("host:port", possibly "[v6]:port"), in UTF-16 code units. */
export const ADDRESS_CHARS_MAX = 255;
/** Longest ClientForwardResponse `code` (a RaftErrorCode or ''), in UTF-16 code units. */
export const ERROR_CODE_CHARS_MAX = 64;
/** Longest ClientForwardResponse `message`, in UTF-16 code units; senders truncate longer text. */
export const ERROR_MESSAGE_CHARS_MAX = 4096;
/** Most node ids in one list of a configuration (voters, learners, oldVoters, members). */
export const CONFIGURATION_NODES_MAX = 1024;

/**
 * The longest list (array) a valid message may hold under `limits`: an entries list, a
 * configuration list, or a record's fields. Decoders refuse longer lists before building them.
 */
export function listItemsMax(limits: CodecLimits): number {
  return Math.max(limits.entriesPerMessageMax, CONFIGURATION_NODES_MAX, 16);
}

/**
 * The most data items (values, lists and records, in any of the formats) a valid message may
 * hold under `limits`: an entry takes 5 (its record and 4 fields), a full InstallSnapshot
 * configuration about 6,200, everything else a few dozen. Decoders refuse input with more
 * before their parsers build it, which bounds the memory a hostile message can make them
 * allocate (8 MiB of empty arrays would otherwise become millions of objects).
 */
export function dataItemsMax(limits: CodecLimits): number {
  return 5 * limits.entriesPerMessageMax + 8 * CONFIGURATION_NODES_MAX + 64;
}

/**
 * Returns `DEFAULT_CODEC_LIMITS` overridden by `overrides`, after checking every field; throws
 * ConfigError naming every bad field with its limit. Limits: messageBytesMax 1 KiB to
 * 256 MiB; entriesPerMessageMax 1 to 1,000,000; entryBytesMax and chunkBytesMax 1 to
 * messageBytesMax (their defaults shrink to a smaller messageBytesMax).
 */
export function resolveCodecLimits(overrides: Partial<CodecLimits> = {}): CodecLimits {
  const messageBytesMax = overrides.messageBytesMax ?? DEFAULT_CODEC_LIMITS.messageBytesMax;
  // A default entry or chunk limit never exceeds a smaller configured message limit; an
  // explicit one that does is an error below.
  const limits: CodecLimits = {
    messageBytesMax,
    entriesPerMessageMax: overrides.entriesPerMessageMax ?? DEFAULT_CODEC_LIMITS.entriesPerMessageMax,
    entryBytesMax: overrides.entryBytesMax ?? Math.min(DEFAULT_CODEC_LIMITS.entryBytesMax, messageBytesMax),
    chunkBytesMax: overrides.chunkBytesMax ?? Math.min(DEFAULT_CODEC_LIMITS.chunkBytesMax, messageBytesMax),
  };
  const problems: string[] = [];
  checkInteger(problems, limits, 'messageBytesMax', MESSAGE_BYTES_LIMIT_MIN, MESSAGE_BYTES_LIMIT_MAX);
  checkInteger(problems, limits, 'entriesPerMessageMax', 1, ENTRIES_PER_MESSAGE_LIMIT_MAX);
  // An entry or a chunk larger than a whole message could never be received.
  checkInteger(problems, limits, 'entryBytesMax', 1, limits.messageBytesMax);
  checkInteger(problems, limits, 'chunkBytesMax', 1, limits.messageBytesMax);
  if (problems.length > 0) throw new ConfigError(problems.map((problem) => `codec limits: ${problem}`));
  return Object.freeze(limits);
}

function checkInteger(
  problems: string[],
  limits: CodecLimits,
  field: keyof CodecLimits,
  min: number,
  max: number,
): void {
  const value = limits[field];
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    problems.push(`${field}: expected an integer from ${min} to ${max}, got ${String(value)}`);
  }
}
