/**
 * Wire constants of DTLS 1.2 (RFC 6347) with TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655, RFC 7925).
 * Names follow the RFCs so that a reader can grep them.
 */

/** Record content types (RFC 5246 §6.2.1). */
export const ContentType = {
  changeCipherSpec: 20,
  alert: 21,
  handshake: 22,
  applicationData: 23,
  /** A record carrying a connection ID, its real type inside the ciphertext (RFC 9146 §4). */
  tls12Cid: 25,
} as const;

/** Handshake message types (RFC 5246 §7.4, RFC 6347 §4.3.2). */
export const HandshakeType = {
  helloRequest: 0,
  clientHello: 1,
  serverHello: 2,
  helloVerifyRequest: 3,
  serverKeyExchange: 12,
  serverHelloDone: 14,
  clientKeyExchange: 16,
  finished: 20,
} as const;

/** Alert levels (RFC 5246 §7.2). */
export const AlertLevel = { warning: 1, fatal: 2 } as const;

/** Alert descriptions this implementation sends or names (RFC 5246 §7.2, RFC 4279 §2). */
export const AlertDescription = {
  closeNotify: 0,
  unexpectedMessage: 10,
  badRecordMac: 20,
  handshakeFailure: 40,
  illegalParameter: 47,
  decodeError: 50,
  decryptError: 51,
  protocolVersion: 70,
  internalError: 80,
  noRenegotiation: 100,
  unsupportedExtension: 110,
  unknownPskIdentity: 115,
} as const;

/** DTLS 1.2 on the wire: {254, 253} (RFC 6347 §4.1). */
export const DTLS_1_2 = 0xfefd;
/** DTLS 1.0 on the wire: {254, 255}; HelloVerifyRequest carries it (RFC 6347 §4.2.1). */
export const DTLS_1_0 = 0xfeff;

/** TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655 §3). */
export const TLS_PSK_WITH_AES_128_CCM_8 = 0xc0a8;
/** TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 §3.3). */
export const TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00ff;

/** Extension numbers this implementation understands. */
export const ExtensionType = {
  extendedMasterSecret: 0x0017,
  /** connection_id (RFC 9146 §3): the CID the sender wants to receive, opaque cid<0..2^8-1>. */
  connectionId: 0x0036,
  renegotiationInfo: 0xff01,
} as const;

/**
 * Longest connection ID this implementation asks for or accepts from a peer, in bytes. RFC 9146
 * allows 255; a longer one only costs every record more bytes, so a peer asking for one is
 * refused (server: the extension is ignored; client: the handshake fails).
 */
export const CONNECTION_ID_BYTES_MAX = 32;
/** Record header: type(1) version(2) epoch(2) sequence_number(6) length(2) (RFC 6347 §4.1). */
export const RECORD_HEADER_BYTES = 13;
/** Handshake header: type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3). */
export const HANDSHAKE_HEADER_BYTES = 12;
/** The explicit nonce in front of an AES-128-CCM-8 record's ciphertext (RFC 6655 §3). */
export const EXPLICIT_NONCE_BYTES = 8;
/** AES-128-CCM-8 record overhead: 8-byte explicit nonce plus 8-byte tag (RFC 6655 §3). */
export const AEAD_OVERHEAD_BYTES = 16;
/** Largest plaintext of one record (RFC 5246 §6.2.1). */
export const RECORD_PLAINTEXT_BYTES_MAX = 16384;
/** Largest sequence number of one epoch: 2^48 - 1 (RFC 6347 §4.1). */
export const SEQUENCE_NUMBER_MAX = 2 ** 48 - 1;
/**
 * Largest record sequence number of a ClientHello the server answers (half the space). The
 * server's epoch-0 records continue from it (RFC 6347 §4.2.1, as OpenSSL's DTLSv1_listen does),
 * so a hello near SEQUENCE_NUMBER_MAX would leave them no room; a real client numbers its first
 * records from 0 and sends a few dozen per handshake.
 */
export const CLIENT_HELLO_SEQUENCE_NUMBER_MAX = 2 ** 47 - 1;
/** Largest handshake message_seq (a uint16, RFC 6347 §4.2.2). */
export const MESSAGE_SEQ_MAX = 0xffff;
/** Length of ClientHello/ServerHello randoms. */
export const RANDOM_BYTES = 32;
/** Length of the master secret. */
export const MASTER_SECRET_BYTES = 48;
/** Length of Finished verify_data (RFC 5246 §7.4.9). */
export const VERIFY_DATA_BYTES = 12;
/** AES-128 key length. */
export const KEY_BYTES = 16;
/** Implicit part of the CCM nonce: client_write_IV / server_write_IV (RFC 6655 §3). */
export const FIXED_IV_BYTES = 4;
/** Largest cookie of a DTLS 1.2 HelloVerifyRequest (RFC 6347 §4.2.1). */
export const COOKIE_BYTES_MAX = 255;
