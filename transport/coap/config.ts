/**
 * Options of the CoAP client and server, with their units, defaults and limits, and the one
 * validation of each that runs when a client or server is built.
 *
 * The retransmission defaults are shorter than RFC 7252 §4.8's (ACK_TIMEOUT 2 s): peers are
 * coraft agents on a LAN or a site link, Raft resends on its own at every heartbeat, and every
 * request has a Raft deadline that ends retransmission anyway (CoAP's 247 s exchange lifetime
 * never applies).
 */
import { ConfigError } from '../../contracts/errors.js';
import { checkRange } from '../config-checks.js';

/** Options of a CoAP client. */
export interface CoapClientOptions {
  /**
   * The initial retransmission timeout of a confirmable message, in ms (RFC 7252
   * ACK_TIMEOUT). A request whose deadline is shorter than 4 × this starts at a quarter of
   * its deadline instead (but at least `ackTimeoutMinMs`), so that a short Raft deadline still
   * leaves room for retransmissions. Default 500; 10..60,000.
   */
  readonly ackTimeoutMs: number;
  /**
   * The floor of the deadline-scaled initial timeout, and of a peer's measured RTO, in ms.
   * Default 20; 1..ackTimeoutMs.
   */
  readonly ackTimeoutMinMs: number;
  /**
   * Whether the initial timeout follows each peer's measured round-trip time once it has one
   * (RFC 6298's SRTT and RTTVAR, retransmission.ts), between ackTimeoutMinMs and
   * retransmitDelayMaxMs. Default false: with it on, the real-cluster SIGTERM hand-off test
   * (test/agent/integration/failover.test.ts) failed 4 times in 8 on a loaded machine (a client
   * request refused during the hand-off, once an extra election), against 0 in 11 with it off;
   * with estimates aged out after RTT_ESTIMATE_LIFETIME_MS, 1 in 6. Not explained yet, so it
   * stays opt-in.
   */
  readonly adaptiveRetransmission: boolean;
  /** The initial timeout is drawn from [t, t × factor] (ACK_RANDOM_FACTOR). Default 1.5; 1..4. */
  readonly ackRandomFactor: number;
  /** Most retransmissions of one message (MAX_RETRANSMIT). Default 4; 0..20. */
  readonly maxRetransmit: number;
  /** The cap of the doubling retransmission timeout, in ms. Default 8,000; ackTimeoutMs..60,000. */
  readonly retransmitDelayMaxMs: number;
  /**
   * Most requests outstanding to one peer (RFC 7252's NSTART, raised: our peers are our own
   * agents, and Raft pipelines appends). A request beyond it is refused with NetworkError.
   * Default 128; 1..4,096.
   */
  readonly outstandingPerPeerMax: number;
  /**
   * Block size of Block1 request bodies and preferred Block2 size, in bytes. Default 1024; a power of two in 16..1024.
   */
  readonly blockBytes: number;
  /**
   * Largest request body sent whole, in one message (one datagram, one DTLS record); a larger
   * body goes block-wise (Block1) in `blockBytes` blocks, one round trip per block. Default
   * `blockBytes` (every body over one block goes block-wise, as RFC 7252 §4.6 advises when
   * the path MTU is unknown); blockBytes..WHOLE_BODY_BYTES_LIMIT. Above blockBytes it saves a
   * round trip per block where datagrams that large arrive whole (loopback; a LAN with IP
   * fragmentation). A server that wants blocks instead answers 4.13 with a Block1 size
   * (RFC 7959 §2.9.3), and the body goes again block-wise. The peer transport raises it to the
   * DTLS record limit (PEER_WHOLE_BODY_BYTES_MAX); the CLI's endpoint client to
   * LOOPBACK_WHOLE_BODY_BYTES_MAX on a loopback endpoint.
   */
  readonly wholeBodyBytesMax: number;
  /** Largest request or response body, in bytes. Default 8 MiB; 1 KiB..64 MiB. */
  readonly bodyBytesMax: number;
  /**
   * A body that goes block-wise goes with Q-Block1 (RFC 9177) to a server that supports it:
   * payload sets of 10 blocks, one round trip per set instead of per block (client-qblock.ts).
   * The first such body to a server probes with block 0 alone; a server that answers 4.02 Bad
   * Option gets Block1, remembered per server. Default true; false: always Block1.
   */
  readonly qblock1: boolean;
  /**
   * A body that goes block-wise goes in coraft's pieces of this many bytes (transport/coap/pieces.ts:
   * Q-Block1's payload sets with pieces as large as a datagram takes, under a private option) to
   * a server that takes them: the first such body to a server probes with piece 0 alone, and one
   * that answers 4.02 gets Q-Block1 (or Block1), remembered per server. Default 0 (no pieces); else
   * whole KiB in 2,048..min(wholeBodyBytesMax, 131,072). The peer transport sets it from its
   * whole-body limit (15 KiB by default: one DTLS record), the CLI's endpoint client on loopback.
   */
  readonly pieceBytes: number;
}

/**
 * The upper limit of {@link CoapClientOptions.wholeBodyBytesMax}: the largest UDP payload
 * (65,507) less room for the CoAP header and options.
 */
export const WHOLE_BODY_BYTES_LIMIT = 65_000;

/** The largest plaintext of one DTLS record, 2^14 bytes (RFC 5246 §6.2.1, RFC 6347 §4.1). */
const RECORD_PLAINTEXT_BYTES_MAX = 16_384;

/** Room left in a peer datagram for the CoAP header, token and options of an RPC request, bytes. */
export const PEER_REQUEST_HEADER_BYTES_MAX = 128;

/**
 * The peer client's default whole-body limit: a request body up to it travels in one CoAP
 * message, so in one DTLS record (RECORD_PLAINTEXT_BYTES_MAX, the DTLS endpoints'
 * applicationDataBytesMax) and one datagram, without a round trip per payload set of blocks.
 * Peers are our own agents, whose receivers take such records; on a link with a smaller MTU the
 * kernel fragments the datagram (agent.json `peerWholeBodyBytesMax` sets it lower to avoid it).
 */
export const PEER_WHOLE_BODY_BYTES_MAX = RECORD_PLAINTEXT_BYTES_MAX - PEER_REQUEST_HEADER_BYTES_MAX;

/** Options of a CoAP server. */
export interface CoapServerOptions {
  /** Block size of Block2 response bodies, in bytes. Default 1024; a power of two in 16..1024. */
  readonly blockBytes: number;
  /** Largest request or response body, in bytes. Default 8 MiB; 1 KiB..64 MiB. */
  readonly bodyBytesMax: number;
  /** Most block-wise transfers in progress, per direction. Default 256; 1..65,536. */
  readonly blockTransfersMax: number;
  /**
   * Most block-wise transfers in progress from one peer (address, port and identity), per
   * direction; blockTransfersMax bounds it too. Default 128 (the client's
   * outstandingPerPeerMax, so a coraft peer never meets it); 1..65,536.
   */
  readonly blockTransfersPerPeerMax: number;
  /**
   * Most bytes buffered by block-wise transfers, per direction: the byteLength of the buffers
   * really held (a reassembly buffer may be up to twice its body while it grows). Default
   * 64 MiB; bodyBytesMax..1 GiB.
   */
  readonly blockBytesTotalMax: number;
  /**
   * Smallest Block1 block size accepted for a body that needs reassembly, in bytes; smaller
   * blocks get 4.13 with a Block1 size hint (RFC 7959 §2.9.3). Default 16 (any); a power of two
   * in 16..1024.
   */
  readonly block1BytesMin: number;
  /** How long an idle block-wise transfer is kept, in ms. Default 30,000; 100..247,000. */
  readonly blockTransferLifetimeMs: number;
  /** Most confirmable requests remembered for duplicate detection. Default 8,192; 1..1,000,000. */
  readonly duplicateCacheEntriesMax: number;
  /**
   * How long a request is remembered for duplicate detection, in ms. Default 60,000;
   * 100..247,000 (EXCHANGE_LIFETIME). Keep it above the longest request deadline of clients.
   */
  readonly duplicateCacheLifetimeMs: number;
  /**
   * Most bytes of responses the duplicate cache keeps (each a copy owning exactly its bytes); past
   * it the oldest requests are forgotten. Default 1 MiB (8,192 small write answers take about
   * 300 KiB); 1,024..1 GiB.
   */
  readonly duplicateCacheBytesMax: number;
  /** Most requests being handled at once; more are answered 5.03. Default 1,024; 1..65,536. */
  readonly requestsInFlightMax: number;
  /**
   * A confirmable request whose body came in several messages (Block1, Q-Block1 or pieces) and
   * whose handler has not answered 100 ms after the message that completed the body arrived
   * (delayed-acks.ts) is acknowledged with an empty ACK, and its response goes separately,
   * confirmable (RFC 7252 §5.2.2), retransmitted like a confirmable notification. Such a request
   * (a replicated write of a large value) waits longer than a client's retransmission timeout
   * under load: answered piggybacked, its last message was sent again after every timeout (half
   * the writes of 256 clients x 64 KiB: 8,054 retransmissions for 16,676 writes). Default false
   * (the peer RPC server: its clients' deadlines follow Raft's).
   */
  readonly separateBodyResponses: boolean;
  /**
   * The first retransmission timeout of a confirmable notification, in ms (RFC 7252
   * ACK_TIMEOUT); it doubles per retransmission. Default 2,000; 10..60,000.
   */
  readonly notifyAckTimeoutMs: number;
  /**
   * Most retransmissions of a confirmable notification before its client counts as gone
   * (RFC 7252 MAX_RETRANSMIT). Default 4 (about 62 s with the default timeout); 0..20.
   */
  readonly notifyRetransmitMax: number;
  /**
   * Most confirmable notifications awaiting an ACK; past it a notification is sent
   * non-confirmable. Default 4,096; 1..65,536.
   */
  readonly notificationsPendingMax: number;
}

const MIB = 1024 * 1024;

/** Defaults of {@link CoapClientOptions}. */
export const DEFAULT_COAP_CLIENT_OPTIONS: CoapClientOptions = {
  ackTimeoutMs: 500,
  ackTimeoutMinMs: 20,
  adaptiveRetransmission: false,
  ackRandomFactor: 1.5,
  maxRetransmit: 4,
  retransmitDelayMaxMs: 8_000,
  outstandingPerPeerMax: 128,
  blockBytes: 1024,
  wholeBodyBytesMax: 1024,
  bodyBytesMax: 8 * MIB,
  qblock1: true,
  pieceBytes: 0,
};

/** Defaults of {@link CoapServerOptions}. */
export const DEFAULT_COAP_SERVER_OPTIONS: CoapServerOptions = {
  blockBytes: 1024,
  bodyBytesMax: 8 * MIB,
  blockTransfersMax: 256,
  blockTransfersPerPeerMax: 128,
  blockBytesTotalMax: 64 * MIB,
  block1BytesMin: 16,
  blockTransferLifetimeMs: 30_000,
  duplicateCacheEntriesMax: 8_192,
  duplicateCacheLifetimeMs: 60_000,
  duplicateCacheBytesMax: MIB,
  requestsInFlightMax: 1_024,
  separateBodyResponses: false,
  notifyAckTimeoutMs: 2_000,
  notifyRetransmitMax: 4,
  notificationsPendingMax: 4_096,
};

/** Fills defaults and validates; throws ConfigError naming every bad field. */
export function resolveCoapClientOptions(partial: Partial<CoapClientOptions> = {}): CoapClientOptions {
  const blockBytes = partial.blockBytes ?? DEFAULT_COAP_CLIENT_OPTIONS.blockBytes;
  const options = { ...DEFAULT_COAP_CLIENT_OPTIONS, wholeBodyBytesMax: blockBytes, ...partial };
  const problems: string[] = [];
  checkRange(problems, 'ackTimeoutMs', options.ackTimeoutMs, 10, 60_000);
  checkRange(problems, 'ackTimeoutMinMs', options.ackTimeoutMinMs, 1, options.ackTimeoutMs);
  checkRange(problems, 'ackRandomFactor', options.ackRandomFactor, 1, 4, false);
  if (typeof options.adaptiveRetransmission !== 'boolean')
    problems.push(`adaptiveRetransmission must be a boolean, got ${String(options.adaptiveRetransmission)}`);
  checkRange(problems, 'maxRetransmit', options.maxRetransmit, 0, 20);
  checkRange(problems, 'retransmitDelayMaxMs', options.retransmitDelayMaxMs, options.ackTimeoutMs, 60_000);
  checkRange(problems, 'outstandingPerPeerMax', options.outstandingPerPeerMax, 1, 4_096);
  checkBlockBytes(problems, options.blockBytes);
  checkRange(problems, 'wholeBodyBytesMax', options.wholeBodyBytesMax, options.blockBytes, WHOLE_BODY_BYTES_LIMIT);
  checkRange(problems, 'bodyBytesMax', options.bodyBytesMax, 1024, 64 * MIB);
  checkBlockCount(problems, options.bodyBytesMax, options.blockBytes);
  if (typeof options.qblock1 !== 'boolean') problems.push(`qblock1 must be a boolean, got ${String(options.qblock1)}`);
  if (options.pieceBytes !== 0) {
    checkRange(problems, 'pieceBytes', options.pieceBytes, 2_048, Math.min(options.wholeBodyBytesMax, 131_072));
    if (options.pieceBytes % 1_024 !== 0) problems.push(`pieceBytes must be whole KiB, got ${options.pieceBytes}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return options;
}

/** Fills defaults and validates; throws ConfigError naming every bad field. */
export function resolveCoapServerOptions(partial: Partial<CoapServerOptions> = {}): CoapServerOptions {
  const options = { ...DEFAULT_COAP_SERVER_OPTIONS, ...partial };
  const problems: string[] = [];
  checkBlockBytes(problems, options.blockBytes);
  checkRange(problems, 'bodyBytesMax', options.bodyBytesMax, 1024, 64 * MIB);
  checkRange(problems, 'blockTransfersMax', options.blockTransfersMax, 1, 65_536);
  checkRange(problems, 'blockTransfersPerPeerMax', options.blockTransfersPerPeerMax, 1, 65_536);
  checkRange(problems, 'blockBytesTotalMax', options.blockBytesTotalMax, options.bodyBytesMax, 1024 * MIB);
  checkBlockBytes(problems, options.block1BytesMin, 'block1BytesMin');
  checkRange(problems, 'blockTransferLifetimeMs', options.blockTransferLifetimeMs, 100, 247_000);
  checkRange(problems, 'duplicateCacheEntriesMax', options.duplicateCacheEntriesMax, 1, 1_000_000);
  checkRange(problems, 'duplicateCacheLifetimeMs', options.duplicateCacheLifetimeMs, 100, 247_000);
  checkRange(problems, 'duplicateCacheBytesMax', options.duplicateCacheBytesMax, 1024, 1024 * MIB);
  checkRange(problems, 'requestsInFlightMax', options.requestsInFlightMax, 1, 65_536);
  checkRange(problems, 'notifyAckTimeoutMs', options.notifyAckTimeoutMs, 10, 60_000);
  checkRange(problems, 'notifyRetransmitMax', options.notifyRetransmitMax, 0, 20);
  checkRange(problems, 'notificationsPendingMax', options.notificationsPendingMax, 1, 65_536);
  checkBlockCount(problems, options.bodyBytesMax, options.blockBytes);
  if (problems.length > 0) throw new ConfigError(problems);
  return options;
}

/** A block number has 20 bits (RFC 7959 §2.2): the largest body must fit 2^20 blocks. */
function checkBlockCount(problems: string[], bodyBytesMax: number, blockBytes: number): void {
  if (bodyBytesMax > blockBytes * 2 ** 20)
    problems.push(`bodyBytesMax must be at most blockBytes × 2^20 = ${blockBytes * 2 ** 20}, got ${bodyBytesMax}`);
}

function checkBlockBytes(problems: string[], value: number, name = 'blockBytes'): void {
  const ok = Number.isInteger(value) && value >= 16 && value <= 1024 && (value & (value - 1)) === 0;
  if (!ok) problems.push(`${name} must be a power of two in [16, 1024], got ${String(value)}`);
}
