/**
 * Options of the local endpoint, with their units, defaults and limits, and the one
 * validation that runs when an endpoint is built. Every limit here refuses work with a CoAP
 * error and a diagnostic naming the option, and counts the refusal in a metric.
 */
import type { CoapServerOptions } from '../../transport/coap/index.js';
import { ConfigError } from '../../contracts/errors.js';
import { DEFAULT_KV_OPTIONS } from '../kv/index.js';
import { DEFAULT_RAFT_CONFIGURATION } from '../../contracts/raft-configuration.js';
import { DEFAULT_WRITE_SESSION_OPTIONS } from './write-session.js';
import type { WriteSessionOptions } from './write-session.js';

const MIB = 1024 * 1024;

/** Options of the local endpoint. */
export interface LocalEndpointOptions {
  /** How long one client request may take, ms. Default 5,000; 10..600,000. */
  readonly requestTimeoutMs: number;
  /** How long an administration request may take, ms. Default 65,000; 10..600,000. */
  readonly adminTimeoutMs: number;
  /**
   * Most Observe registrations (RFC 7641). A new registration beyond it evicts the oldest, so a
   * new observer always gets in. Default 1,024; 1..1,000,000.
   */
  readonly observersMax: number;
  /**
   * Most Observe registrations of one client endpoint (address, port and identity); a new one
   * beyond it evicts that client's oldest. Default 64; 1..observersMax.
   */
  readonly observersPerPeerMax: number;
  /**
   * Every this many notifications to one observer, one is confirmable (RFC 7641 §4.5); an
   * observer that resets it or never acknowledges it is dropped. Default 5 (as libcoap's
   * servers); 1 (all confirmable)..1,000.
   */
  readonly observeConfirmableEvery: number;
  /**
   * A notification to an observer whose last confirmable notification (or registration) is
   * this old is confirmable, whatever the count (RFC 7641 §4.5 asks for one at least every
   * 24 hours). Default 86,400,000 (24 h); 1,000..86,400,000 ms.
   */
  readonly observeConfirmableIntervalMs: number;
  /**
   * First retransmission timeout of a confirmable notification, ms (RFC 7252 ACK_TIMEOUT). Default 2,000; 10..60,000.
   */
  readonly notifyAckTimeoutMs: number;
  /**
   * Retransmissions of a confirmable notification before its observer is dropped (RFC 7252 MAX_RETRANSMIT). Default 4;
   * 0..20.
   */
  readonly notifyRetransmitMax: number;
  /**
   * Most payload bytes of one watch notification (GET /watch with Observe), and of a watch's
   * first answer: a burst of changes goes out over several notifications, by whole revisions; a
   * revision larger than this alone is answered 4.13 (fetch it without Observe, block-wise).
   * Default 1,024 (one block: libcoap's clients take datagrams up to 1,152 bytes); 64..16,000.
   */
  readonly watchNotificationBytesMax: number;
  /** Shortest interval between two /status notifications, ms. Default 200; 10..60,000. */
  readonly statusNotifyIntervalMs: number;
  /** Largest request body, bytes. Default 1 MiB + 1 KiB; 1 KiB..64 MiB. */
  readonly bodyBytesMax: number;
  /**
   * Most bytes held by block-wise transfers in progress, per direction (Block1 uploads being
   * reassembled, Block2 answers being served): the buffers' real sizes. Default 4 MiB;
   * bodyBytesMax..64 MiB.
   */
  readonly blockBytesTotalMax: number;
  /** Most block-wise transfers in progress, per direction. Default 64; 1..4,096. */
  readonly blockTransfersMax: number;
  /** Most block-wise transfers in progress from one client endpoint, per direction. Default 4; 1..blockTransfersMax. */
  readonly blockTransfersPerPeerMax: number;
  /**
   * Smallest Block1 block accepted for a body sent in several blocks, bytes; smaller ones are
   * answered 4.13 with a Block1 size hint (RFC 7959 §2.9.3). Default 512; a power of two in
   * 16..1024.
   */
  readonly block1BytesMin: number;
  /**
   * The key-value state machine's keyBytesMax: a longer key (UTF-8 bytes) is refused with 4.00
   * KV_KEY_TOO_LONG before it is proposed. Set it to the cluster's kv.keyBytesMax. Default 1,024;
   * 1..65,536.
   */
  readonly keyBytesMax: number;
  /**
   * The key-value state machine's valueBytesMax: a larger value is refused with 4.13 before it
   * is proposed. Set it to the cluster's kv.valueBytesMax. Default 65,536; 0..16 MiB.
   */
  readonly valueBytesMax: number;
  /**
   * The node's raft.commandBytesMax: a write whose encoded command is larger is refused with
   * 4.13 before it is proposed. Default 1 MiB; 1..64 MiB.
   */
  readonly commandBytesMax: number;
  /**
   * UNSAFE, for the chaos harness's self-test only: answer writes as done as soon as they are
   * handed to the node, before they are committed or even durable, so acknowledged writes can
   * be lost. Default false; set from the environment variable CORAFT_UNSAFE_ACK_BEFORE_COMMIT=1
   * (see `unsafeAckFromEnvironment`), never from a configuration file.
   */
  readonly unsafeAckBeforeCommit: boolean;
  /**
   * The implicit session of writes without `?client=&seq=` (write-session.ts): writes in flight
   * (writesInFlightMax, default 128; 1..65,536, and at most the cluster's
   * kv.sessionResponsesMax) and the idle time after which a new session starts (idleRotateMs,
   * default 30 minutes; at least 1,000 ms, and under half the cluster's kv.sessionTtlMs). The
   * agent derives both from its kv options.
   */
  readonly writeSession: WriteSessionOptions;
}

/** The defaults of {@link LocalEndpointOptions}. */
export const DEFAULT_LOCAL_ENDPOINT_OPTIONS: LocalEndpointOptions = {
  requestTimeoutMs: 5_000,
  adminTimeoutMs: 65_000,
  observersMax: 1_024,
  observersPerPeerMax: 64,
  observeConfirmableEvery: 5,
  observeConfirmableIntervalMs: 86_400_000,
  notifyAckTimeoutMs: 2_000,
  notifyRetransmitMax: 4,
  watchNotificationBytesMax: 1_024,
  statusNotifyIntervalMs: 200,
  bodyBytesMax: MIB + 1024,
  blockBytesTotalMax: 4 * MIB,
  blockTransfersMax: 64,
  blockTransfersPerPeerMax: 4,
  block1BytesMin: 512,
  keyBytesMax: DEFAULT_KV_OPTIONS.keyBytesMax,
  valueBytesMax: DEFAULT_KV_OPTIONS.valueBytesMax,
  commandBytesMax: DEFAULT_RAFT_CONFIGURATION.commandBytesMax,
  unsafeAckBeforeCommit: false,
  writeSession: DEFAULT_WRITE_SESSION_OPTIONS,
};

function checkInteger(
  problems: string[],
  options: LocalEndpointOptions,
  field: keyof LocalEndpointOptions,
  min: number,
  max: number,
): void {
  const value: unknown = options[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    problems.push(`endpoint.${field}: expected an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

/** Checks every field and returns one line per problem (empty when valid). */
export function validateLocalEndpointOptions(options: LocalEndpointOptions): string[] {
  const problems: string[] = [];
  checkInteger(problems, options, 'requestTimeoutMs', 10, 600_000);
  checkInteger(problems, options, 'adminTimeoutMs', 10, 600_000);
  checkInteger(problems, options, 'observersMax', 1, 1_000_000);
  checkInteger(problems, options, 'observersPerPeerMax', 1, options.observersMax);
  checkInteger(problems, options, 'observeConfirmableEvery', 1, 1_000);
  checkInteger(problems, options, 'observeConfirmableIntervalMs', 1_000, 86_400_000);
  checkInteger(problems, options, 'notifyAckTimeoutMs', 10, 60_000);
  checkInteger(problems, options, 'notifyRetransmitMax', 0, 20);
  checkInteger(problems, options, 'watchNotificationBytesMax', 64, 16_000);
  checkInteger(problems, options, 'statusNotifyIntervalMs', 10, 60_000);
  checkInteger(problems, options, 'bodyBytesMax', 1024, 64 * MIB);
  checkInteger(problems, options, 'blockBytesTotalMax', options.bodyBytesMax, 64 * MIB);
  checkInteger(problems, options, 'blockTransfersMax', 1, 4_096);
  checkInteger(problems, options, 'blockTransfersPerPeerMax', 1, options.blockTransfersMax);
  const min = options.block1BytesMin;
  if (!Number.isInteger(min) || min < 16 || min > 1024 || (min & (min - 1)) !== 0)
    problems.push(`endpoint.block1BytesMin: expected a power of two from 16 to 1024, got ${String(min)}`);
  checkInteger(problems, options, 'keyBytesMax', 1, 65_536);
  checkInteger(problems, options, 'valueBytesMax', 0, 16 * MIB);
  checkInteger(problems, options, 'commandBytesMax', 1, 64 * MIB);
  if (typeof options.unsafeAckBeforeCommit !== 'boolean')
    problems.push(`endpoint.unsafeAckBeforeCommit: expected a boolean, got ${String(options.unsafeAckBeforeCommit)}`);
  const { writesInFlightMax, idleRotateMs } = options.writeSession;
  if (!Number.isSafeInteger(writesInFlightMax) || writesInFlightMax < 1 || writesInFlightMax > 65_536)
    problems.push(
      `endpoint.writeSession.writesInFlightMax: expected an integer from 1 to 65536, got ${String(writesInFlightMax)}`,
    );
  if (!Number.isSafeInteger(idleRotateMs) || idleRotateMs < 1000)
    problems.push(
      `endpoint.writeSession.idleRotateMs: expected an integer of at least 1000, got ${String(idleRotateMs)}`,
    );
  return problems;
}

/** The defaults overridden by `overrides`, validated; throws ConfigError naming every bad field. */
export function resolveLocalEndpointOptions(overrides: Partial<LocalEndpointOptions> = {}): LocalEndpointOptions {
  const options: LocalEndpointOptions = { ...DEFAULT_LOCAL_ENDPOINT_OPTIONS, ...overrides };
  const problems = validateLocalEndpointOptions(options);
  if (problems.length > 0) throw new ConfigError(problems);
  return options;
}

/** The CoAP server options of the endpoint's limits. */
export function serverOptionsOf(o: LocalEndpointOptions): Partial<CoapServerOptions> {
  return {
    bodyBytesMax: o.bodyBytesMax,
    blockBytesTotalMax: o.blockBytesTotalMax,
    blockTransfersMax: o.blockTransfersMax,
    blockTransfersPerPeerMax: o.blockTransfersPerPeerMax,
    block1BytesMin: o.block1BytesMin,
    // A write of a large value waits on replication longer than a client's first retransmission timeout.
    separateBodyResponses: true,
    notifyAckTimeoutMs: o.notifyAckTimeoutMs,
    notifyRetransmitMax: o.notifyRetransmitMax,
    // One confirmable notification per observer at most; the server's own bound is 65,536.
    notificationsPendingMax: Math.min(o.observersMax, 65_536),
  };
}
