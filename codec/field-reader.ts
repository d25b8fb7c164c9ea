/**
 * The seam between a codec's parsed wire form and the message builders of messages.ts. Each
 * codec implements FieldReader over what its parser produced (a positional CBOR array, an
 * ajv-checked JSON object, a protobufjs message, or an in-memory message being checked before
 * it is encoded); the builders ask for each field by name and type, and every read checks the
 * value and throws SerializationError naming the field's path. One set of builders thus
 * defines what a valid message is for all codecs.
 */
import type { LogEntry, NodeId } from '../contracts/log.js';
import type { TextRule } from './checks.js';
import type { ForwardKind } from './layout.js';

/** Which configurable limit bounds a byte field. */
export type ByteLimit = 'entryBytesMax' | 'chunkBytesMax' | 'messageBytesMax';

/** Reads the fields of one record (a message, an entry, a configuration or a member). */
export interface FieldReader {
  /** The path of this record for error messages, e.g. `AppendEntriesRequest.entries[3]`. */
  readonly path: string;
  /** A non-negative safe integer. */
  uint(field: string): number;
  /** A non-negative safe integer or null. */
  uintOrNull(field: string): number | null;
  bool(field: string): boolean;
  nodeId(field: string): NodeId;
  nodeIdOrNull(field: string): NodeId | null;
  /** A list of node ids, at most CONFIGURATION_NODES_MAX. */
  nodeIds(field: string): NodeId[];
  /** A list of node ids or null. */
  nodeIdsOrNull(field: string): NodeId[] | null;
  /** An optional list of node ids: undefined when absent or empty (the one form of "none"). */
  nodeIdsOrAbsent(field: string): NodeId[] | undefined;
  text(field: string, rule: TextRule): string;
  /** A byte string of at most the limit named; a view of the input where the codec allows. */
  bytes(field: string, limit: ByteLimit): Uint8Array;
  forwardKind(field: string): ForwardKind;
  /**
   * A list of log entries, at most `entriesPerMessageMax`, each with a `command` of at most
   * `entryBytesMax` bytes. Entries are the bulk of the traffic, so readers check them in one
   * tight loop rather than through a nested reader per entry (see ListItemPath).
   */
  entries(field: string): LogEntry[];
  /** A list of nested records (at most CONFIGURATION_NODES_MAX), each read by `read`. */
  records<T>(field: string, read: (reader: FieldReader) => T): T[];
  /** One nested record read by `read`. */
  record<T>(field: string, read: (reader: FieldReader) => T): T;
}

/** The path of the item of a list being read, built only when an error needs it. */
export class ListItemPath {
  /** The index of the item being read. */
  index = 0;
  private readonly parent: { readonly path: string };
  private readonly field: string;

  constructor(parent: { readonly path: string }, field: string) {
    this.parent = parent;
    this.field = field;
  }

  get path(): string {
    return `${this.parent.path}.${this.field}[${this.index}]`;
  }
}
