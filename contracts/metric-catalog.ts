/**
 * Every metric the agent emits: its kind, what it counts (the help text Prometheus serves) and
 * its dimensions. The Metrics port takes only these names (contracts/metrics.ts), so a metric
 * cannot be emitted without a line here; a backend registers the whole catalog when it starts,
 * so each series without dimensions reads 0 from the first scrape rather than appearing at its
 * first event (rules such as `rate(...)` and `absent(...)` need the series to exist).
 *
 * The names carry no prefix: a backend adds its own (`metrics.prefix`, `coraft` by default:
 * `coraft_raft_term` in Prometheus, `coraft.raft_term` in StatsD).
 */

/** How a metric aggregates: a counter only grows, a gauge is a level, a histogram a distribution. */
export type MetricKind = 'counter' | 'gauge' | 'histogram';

/** One metric of the catalog. */
export interface MetricSpec {
  readonly kind: MetricKind;
  readonly help: string;
  /** The dimension names its samples carry (none: one series). */
  readonly labels: readonly string[];
  /** A histogram's bucket bounds, in the metric's unit. */
  readonly buckets?: readonly number[];
}

/** Bucket bounds for durations, ms. */
export const DURATION_BUCKETS_MS: readonly number[] = [
  0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 2500, 5000,
];

/** Bucket bounds for counts of items per batch. */
const BATCH_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

const counter = (help: string, ...labels: string[]) => ({ kind: 'counter' as const, help, labels });
const gauge = (help: string, ...labels: string[]) => ({ kind: 'gauge' as const, help, labels });
const histogram = (help: string, buckets: readonly number[]) => ({
  kind: 'histogram' as const,
  help,
  labels: [] as readonly string[],
  buckets,
});

/**
 * Most series (sets of dimension values over all metrics) a metrics backend keeps: dimension values
 * such as a peer's id come from the network. Past it a new series is dropped and counted.
 */
export const SERIES_MAX = 2000;

/** The catalog: metric name to its spec. */
export const METRIC_CATALOG = {
  // Raft
  raft_term: gauge("The node's current term."),
  raft_is_leader: gauge('1 while this node is the leader, else 0.'),
  raft_commit_index: gauge('The highest log index known to be committed.'),
  raft_applied_index: gauge('The highest log index applied to the state machine.'),
  raft_role_changes_total: counter('Role changes of this node, by the role it took.', 'to'),
  raft_proposals_total: counter('Commands this node proposed as leader.'),
  raft_commit_latency_ms: histogram('From a proposal to its apply on the leader, ms.', DURATION_BUCKETS_MS),
  raft_rpc_sent_total: counter('Raft RPCs sent, by peer and message type.', 'peer', 'type'),
  raft_rpc_failed_total: counter(
    'Raft RPCs that got no answer (timeout or send error), by peer and type.',
    'peer',
    'type',
  ),
  raft_rpc_refused_total: counter('Raft RPCs refused before reaching the core, by reason.', 'reason'),
  raft_protocol_violations_total: counter('Raft messages from a peer that break the protocol, by peer.', 'peer'),
  raft_snapshots_taken_total: counter('Snapshots this node took (each compacts its log).'),
  raft_snapshot_waits_total: counter('Snapshots put off while a follower receives one.'),
  raft_snapshot_sends_total: counter('InstallSnapshot transfers started, by follower.', 'peer'),
  raft_snapshot_sends_completed_total: counter(
    'InstallSnapshot transfers the follower installed, by follower.',
    'peer',
  ),
  raft_snapshot_sends_failed_total: counter(
    'InstallSnapshot transfers that ended otherwise, by follower and outcome.',
    'peer',
    'outcome',
  ),
  // Storage
  storage_sync_ms: histogram('Time to make a batch of Raft state durable, ms.', DURATION_BUCKETS_MS),
  storage_commits_total: counter('Write transactions the storage engine committed.'),
  storage_commit_writes: histogram('Writes per storage transaction.', BATCH_BUCKETS),
  storage_checkpoints_total: counter('Checkpoints of the write-ahead log into LMDB.'),
  storage_compaction_pieces_total: counter('Pieces of log compaction the write-ahead log engine ran.'),
  storage_log_scans_total: counter('Opens that rebuilt the log shape by scanning the log.'),
  storage_errors_total: counter('Storage operations that failed, by error code.', 'code'),
  storage_alarm: gauge('1 while the data disk is nearly full and client writes are refused.', 'alarm'),
  client_writes_refused_total: counter('Client writes refused before proposing, by reason.', 'reason'),
  // Key-value store
  kv_quota_usage_bytes: gauge('Bytes of the store counted against its quota.'),
  kv_quota_bytes: gauge("The store's quota, bytes."),
  kv_alarm: gauge('1 while the store is over its quota (NOSPACE) and refuses growth.', 'alarm'),
  kv_command_errors_total: counter('Applied key-value commands that answered an error, by code.', 'code'),
  kv_duplicate_commands_total: counter("Retried commands answered from the client's session, not applied again."),
  kv_duplicate_requests_total: counter('Retried requests matched by request id, not applied again.'),
  kv_sessions_expired_total: counter('Client sessions dropped after their time to live without a write.'),
  kv_sessions_evicted_total: counter('Client sessions dropped to stay within the session limits.'),
  kv_request_ids_expired_total: counter('Remembered request ids dropped after their time to live.'),
  kv_request_ids_evicted_total: counter('Remembered request ids dropped to stay within their limit.'),
  kv_leases_expired_total: counter('Leases that expired (applied).'),
  kv_lease_expiries_proposed_total: counter('Lease expiries this node proposed as leader.'),
  // Membership and peers
  membership_refusals_total: counter('Peer requests or handshakes refused by the membership check, by where.', 'where'),
  membership_address_updates_total: counter('Member address changes this node proposed.'),
  dtls_half_open_refusals_total: counter('DTLS handshakes refused because the half-open table was full.'),
  dtls_half_open_evictions_total: counter('Half-open DTLS handshakes evicted to make room, by limit.', 'limit'),
  dtls_half_open_expired_total: counter('Half-open DTLS handshakes that timed out.'),
  dtls_session_evictions_total: counter('Established DTLS sessions replaced to make room, by limit.', 'limit'),
  coap_limit_refusals_total: counter('CoAP requests refused by a limit, by server and limit.', 'server', 'limit'),
  coap_block_transfers_evicted_total: counter(
    'Idle block-wise transfers evicted to make room for another client, by server.',
    'server',
  ),
  coap_notifications_total: counter('CoAP Observe notifications, by server and outcome.', 'server', 'outcome'),
  // Local endpoint
  endpoint_limit_refusals_total: counter('Endpoint requests refused by a size limit, by limit.', 'limit'),
  endpoint_observers: gauge('Observers registered at the local endpoint.'),
  endpoint_observers_dropped_total: counter('Observers dropped, by reason.', 'reason'),
  // Agent process
  agent_heap_growing_percent: gauge("V8's heap growing factor the agent set for its entry sizes, percent."),
  agent_buffer_collections_total: counter('Garbage collections the agent asked for to free dead buffers.'),
} as const satisfies Readonly<Record<string, MetricSpec>>;

/** A metric name of the catalog. */
export type MetricName = keyof typeof METRIC_CATALOG;

type NamesOf<K extends MetricKind> = {
  [N in MetricName]: (typeof METRIC_CATALOG)[N]['kind'] extends K ? N : never;
}[MetricName];

/** The catalog's counters. */
export type CounterName = NamesOf<'counter'>;
/** The catalog's gauges. */
export type GaugeName = NamesOf<'gauge'>;
/** The catalog's histograms. */
export type HistogramName = NamesOf<'histogram'>;

/** The spec of `name`. */
export function metricSpec(name: MetricName): MetricSpec {
  return METRIC_CATALOG[name];
}
