/**
 * The limits of the replicated key-value state machine. Every replica of a cluster must run with
 * the same options: a limit decides whether a command succeeds, so replicas with different
 * limits would give different results for the same log (their stored state stays identical only
 * if every limit agrees). `validateKvOptions` checks every field once, at construction, and
 * names every bad field with its limit.
 */
import { ConfigError } from '../../contracts/errors.js';

/** Limits of the key-value state machine. Every field states its unit, default and limit. */
export interface KvOptions {
  /** Longest key, in UTF-8 bytes. Default 1,024. Limit: 1 to 65,536. */
  readonly keyBytesMax: number;
  /** Largest value, in bytes. Default 65,536 (64 KiB). Limit: 0 to 16 MiB. */
  readonly valueBytesMax: number;
  /** Most keys stored at once. Default 100,000. Limit: 1 to 10,000,000. */
  readonly keyCountMax: number;
  /**
   * Most key plus value bytes stored at once (the sum of every key's UTF-8 length and its
   * value's length). Default 64 MiB. Limit: keyBytesMax + valueBytesMax to 2^40.
   */
  readonly dataBytesMax: number;
  /**
   * Most client sessions kept; opening one more evicts the least recently used. Default 1,000. Limit: 1 to 1,000,000.
   */
  readonly sessionCountMax: number;
  /**
   * How long a session lives without a command, in milliseconds of log time (the largest
   * `timeMs` carried by any command applied so far, never a wall clock). Default 3,600,000
   * (one hour). Limit: 1,000 to 2^40.
   */
  readonly sessionTtlMs: number;
  /**
   * Largest encoded response a session caches for a retry, in bytes. A larger response is
   * returned in full the first time; a retry then receives a KV_RESPONSE_NOT_RETAINED error
   * saying that the command was applied. Default 4,096. Limit: 64 to 16 MiB.
   */
  readonly cachedResponseBytesMax: number;
  /** Longest client id of a session, in UTF-8 bytes. Default 128. Limit: 1 to 1,024. */
  readonly clientIdBytesMax: number;
  /**
   * Most responses one session keeps for retries: those of the sequences applied at or above
   * its floor (a client with several commands outstanding, like the local endpoint's implicit
   * session, needs one per command in flight). Past it the lowest is dropped and the floor
   * raised above it, so a retry of it is refused, never run again. Default 256. Limit: 1 to
   * 65,536. The local endpoint keeps its writes in flight below it.
   */
  readonly sessionResponsesMax: number;
  /**
   * Most response bytes all sessions keep together. Past it the least recently used sessions
   * are evicted (their retries are then refused as expired). Default 8 MiB. Limit:
   * cachedResponseBytesMax + 1,024 (room for one kept response of any kind) to 2^40.
   */
  readonly sessionBytesMax: number;
  /**
   * Most request ids kept (see request-ids.ts: the local endpoint's CoAP duplicate detection,
   * carried over its restarts); past it the oldest is forgotten. Default 8,192 (the CoAP
   * server's duplicate cache). Limit: 1 to 1,000,000.
   */
  readonly requestIdsMax: number;
  /**
   * How long a request id is kept, in milliseconds of log time. Default 247,000 (RFC 7252's
   * EXCHANGE_LIFETIME, which bounds a client's retransmissions). Limit: 1,000 to 2^40.
   */
  readonly requestIdTtlMs: number;
  /**
   * Most revisions (changes: a transaction is one) the history window keeps for watches that
   * resume from a revision (history.ts); older ones are forgotten and a watch from before them
   * is told `compacted`. Default 10,000. Limit: 0 (none) to 10,000,000.
   */
  readonly historyRevisionsMax: number;
  /** Most key and value bytes the history window keeps. Default 4 MiB. Limit: 0 to 2^40. */
  readonly historyBytesMax: number;
  /**
   * Most leases granted at once; a grant past it is refused (KV_LEASE_LIMIT). Default 10,000.
   * Limit: 0 to 1,000,000.
   */
  readonly leaseCountMax: number;
  /** Most keys attached to one lease (KV_LEASE_LIMIT past it). Default 1,000. Limit: 1 to 10,000,000. */
  readonly leaseKeysMax: number;
  /**
   * Shortest lease TTL a grant may ask for, ms (KV_LEASE_TTL below it). Default 1,000. Limit: 100 to
   * leaseTtlMsMax. A TTL shorter than an election is legal, but such a lease may expire during one.
   */
  readonly leaseTtlMsMin: number;
  /** Longest lease TTL, ms. Default 86,400,000 (one day). Limit: leaseTtlMsMin to 2^40. */
  readonly leaseTtlMsMax: number;
}

/** The defaults, sized for a gateway: at most about 64 MiB of data, 8 MiB of cached responses and 4 MiB of history. */
export const DEFAULT_KV_OPTIONS: KvOptions = {
  keyBytesMax: 1024,
  valueBytesMax: 64 * 1024,
  keyCountMax: 100_000,
  dataBytesMax: 64 * 1024 * 1024,
  sessionCountMax: 1000,
  sessionTtlMs: 3_600_000,
  cachedResponseBytesMax: 4096,
  clientIdBytesMax: 128,
  sessionResponsesMax: 256,
  sessionBytesMax: 8 * 1024 * 1024,
  requestIdsMax: 8192,
  requestIdTtlMs: 247_000,
  historyRevisionsMax: 10_000,
  historyBytesMax: 4 * 1024 * 1024,
  leaseCountMax: 10_000,
  leaseKeysMax: 1000,
  leaseTtlMsMin: 1000,
  leaseTtlMsMax: 86_400_000,
};

function checkInteger(problems: string[], options: KvOptions, field: keyof KvOptions, min: number, max: number): void {
  const value: unknown = options[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    problems.push(`${field}: expected an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

/** Checks every field of `options` and returns one line per problem (empty when valid). */
export function validateKvOptions(options: KvOptions): string[] {
  const problems: string[] = [];
  const mib = 1024 * 1024;
  checkInteger(problems, options, 'keyBytesMax', 1, 65_536);
  checkInteger(problems, options, 'valueBytesMax', 0, 16 * mib);
  checkInteger(problems, options, 'keyCountMax', 1, 10_000_000);
  checkInteger(problems, options, 'dataBytesMax', options.keyBytesMax + options.valueBytesMax, 2 ** 40);
  checkInteger(problems, options, 'sessionCountMax', 1, 1_000_000);
  checkInteger(problems, options, 'sessionTtlMs', 1000, 2 ** 40);
  checkInteger(problems, options, 'cachedResponseBytesMax', 64, 16 * mib);
  checkInteger(problems, options, 'clientIdBytesMax', 1, 1024);
  checkInteger(problems, options, 'sessionResponsesMax', 1, 65_536);
  checkInteger(problems, options, 'sessionBytesMax', options.cachedResponseBytesMax + 1024, 2 ** 40);
  checkInteger(problems, options, 'requestIdsMax', 1, 1_000_000);
  checkInteger(problems, options, 'requestIdTtlMs', 1000, 2 ** 40);
  checkInteger(problems, options, 'historyRevisionsMax', 0, 10_000_000);
  checkInteger(problems, options, 'historyBytesMax', 0, 2 ** 40);
  checkInteger(problems, options, 'leaseCountMax', 0, 1_000_000);
  checkInteger(problems, options, 'leaseKeysMax', 1, 10_000_000);
  checkInteger(problems, options, 'leaseTtlMsMin', 100, options.leaseTtlMsMax);
  checkInteger(problems, options, 'leaseTtlMsMax', options.leaseTtlMsMin, 2 ** 40);
  return problems;
}

/** The defaults overridden by `overrides`, validated; throws ConfigError naming every bad field. */
export function resolveKvOptions(overrides: Partial<KvOptions> = {}): KvOptions {
  const options: KvOptions = { ...DEFAULT_KV_OPTIONS, ...overrides };
  const problems = validateKvOptions(options);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `kv.${p}`));
  return options;
}
