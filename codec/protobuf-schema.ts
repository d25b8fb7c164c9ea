/**
 * The Protocol Buffers schema the protobuf serializer compiles: a verbatim copy of
 * codec/coraft.proto (where the wire format is documented), kept in a module so that the
 * serializer needs no file system access wherever it is installed. A test checks that the two
 * are identical.
 */

/** The text of codec/coraft.proto. */
export const PROTO_SCHEMA = `// coraft peer RPC messages: Protocol Buffers wire format, version 1.
//
// Media type application/x-protobuf; CoAP Content-Format 65000, from the experimental range
// 65000-65535 of RFC 7252 §12.3 (the CoAP registry assigns none to Protocol Buffers), so every
// peer of a cluster must be configured with the same serializer. CBOR (Content-Format 60) is
// the default; this format exists for tooling that speaks protobuf.
//
// Every message is one Envelope. Its first field is always version (the encoding starts
// with the bytes 0x08 0x01 for version 1); a decoder reads it before anything else and refuses
// any other version with CODEC_VERSION. One field of body must be set; as with any oneof, a
// later body field replaces an earlier one.
//
// The messages mirror agent/core/types.ts field for field, in the order of codec/layout.ts:
// the field at position i of a message has number i + 1. Terms, indexes, byte counts and
// durations are uint64 holding non-negative safe integers (at most 2^53 - 1). Scalars follow
// proto3 implicit presence (an absent field is 0, false, "" or empty bytes); the fields that
// are nullable in TypeScript have explicit presence (optional, or the NodeIdList wrapper of
// old_voters), and absent means null.
//
// Decoders are strict: unknown fields, fields of the wrong wire type and a missing body are
// refused (CODEC_MALFORMED), as are node ids that are empty or longer than 64 UTF-16 code
// units, enumeration values outside the ones listed, and the configurable limits of
// CodecLimits (CODEC_LIMIT). A format change is a new version, never an ignored field.
//
// codec/protobuf-schema.ts holds a copy of this text that the serializer compiles; a test
// keeps the two identical.

syntax = "proto3";

package coraft.rpc.v1;

// The envelope of every message. Body field numbers are the message type codes of
// codec/layout.ts plus one.
message Envelope {
  uint32 version = 1;
  oneof body {
    RequestVoteRequest request_vote_request = 2;
    RequestVoteResponse request_vote_response = 3;
    PreVoteRequest pre_vote_request = 4;
    PreVoteResponse pre_vote_response = 5;
    AppendEntriesRequest append_entries_request = 6;
    AppendEntriesResponse append_entries_response = 7;
    InstallSnapshotRequest install_snapshot_request = 8;
    InstallSnapshotResponse install_snapshot_response = 9;
    TimeoutNowRequest timeout_now_request = 10;
    TimeoutNowResponse timeout_now_response = 11;
    ClientForwardRequest client_forward_request = 12;
    ClientForwardResponse client_forward_response = 13;
  }
}

// LogEntry.type. UNSPECIFIED (the proto3 default) is refused.
enum EntryType {
  ENTRY_TYPE_UNSPECIFIED = 0;
  ENTRY_TYPE_COMMAND = 1;
  ENTRY_TYPE_NOOP = 2;
  ENTRY_TYPE_CONFIG = 3;
}

// ClientForwardRequest.kind. UNSPECIFIED is refused.
enum ForwardKind {
  FORWARD_KIND_UNSPECIFIED = 0;
  FORWARD_KIND_WRITE = 1;
  FORWARD_KIND_READ = 2;
  FORWARD_KIND_ADMIN = 3;
}

message LogEntry {
  uint64 term = 1;
  uint64 index = 2;
  EntryType type = 3;
  bytes command = 4;
}

message ClusterMember {
  string id = 1;
  string address = 2;
}

// A list of node ids that can be absent as a whole (oldVoters is null outside a joint
// configuration, and an empty list is not the same thing).
message NodeIdList {
  repeated string ids = 1;
}

message ClusterConfiguration {
  repeated string voters = 1;
  repeated string learners = 2;
  NodeIdList old_voters = 3;
  repeated ClusterMember members = 4;
}

message RequestVoteRequest {
  uint64 term = 1;
  string candidate_id = 2;
  uint64 last_log_index = 3;
  uint64 last_log_term = 4;
  bool transfer = 5;
}

message RequestVoteResponse {
  uint64 term = 1;
  bool vote_granted = 2;
}

message PreVoteRequest {
  uint64 term = 1;
  string candidate_id = 2;
  uint64 last_log_index = 3;
  uint64 last_log_term = 4;
}

message PreVoteResponse {
  uint64 term = 1;
  bool vote_granted = 2;
}

message AppendEntriesRequest {
  uint64 term = 1;
  string leader_id = 2;
  uint64 prev_log_index = 3;
  uint64 prev_log_term = 4;
  repeated LogEntry entries = 5;
  uint64 leader_commit = 6;
}

message AppendEntriesResponse {
  uint64 term = 1;
  bool success = 2;
  optional uint64 conflict_index = 3;
  optional uint64 conflict_term = 4;
  uint64 last_log_index = 5;
}

message InstallSnapshotRequest {
  uint64 term = 1;
  string leader_id = 2;
  uint64 last_included_index = 3;
  uint64 last_included_term = 4;
  uint64 offset = 5;
  bytes data = 6;
  bool done = 7;
  uint64 total_bytes = 8;
  ClusterConfiguration configuration = 9;
}

message InstallSnapshotResponse {
  uint64 term = 1;
  uint64 bytes_stored = 2;
}

message TimeoutNowRequest {
  uint64 term = 1;
  string leader_id = 2;
}

message TimeoutNowResponse {
  uint64 term = 1;
}

message ClientForwardRequest {
  string source_id = 1;
  ForwardKind kind = 2;
  bytes payload = 3;
  uint64 timeout_ms = 4;
}

message ClientForwardResponse {
  string code = 1;
  string message = 2;
  optional string leader_hint = 3;
  bytes result = 4;
}
`;
