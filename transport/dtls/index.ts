/**
 * DTLS 1.2 with pre-shared keys (TLS_PSK_WITH_AES_128_CCM_8, the RFC 7925 profile) for
 * coraft's CoAP transport: a server and a client endpoint implementing DatagramEndpoint.
 */
export { DtlsClientEndpoint } from './client.js';
export type { DtlsClientOptions } from './client-options.js';
export { DtlsServerEndpoint } from './server.js';
export type { DtlsServerOptions } from './server-options.js';
export type { DtlsDeps, DtlsSessionOptions } from './options.js';
export { DEFAULT_SESSION_OPTIONS } from './options.js';
export { DtlsError } from './errors.js';
export { DROP_REASONS } from './stats.js';
export type { DropReason, DtlsStats } from './stats.js';
export { MemberHosts, normalizeAddress } from './member-hosts.js';
export { EVICTION_REASONS } from './stats.js';
export type { EvictionReason } from './stats.js';
