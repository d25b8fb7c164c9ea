/**
 * A FieldReader over records whose fields are named properties: JSON documents (after ajv),
 * protobufjs messages, and in-memory messages checked before they are encoded. What differs
 * between those forms (how bytes, big integers, enumerations, absent optionals and unknown
 * fields look) is a KeyedDialect.
 */
import type { EntryType, LogEntry, NodeId } from '../contracts/log.js';
import type { CodecLimits } from '../contracts/serializer.js';
import {
  checkBool,
  checkByteLength,
  checkCount,
  checkText,
  describe,
  invariant,
  malformed,
  NODE_ID_RULE,
} from './checks.js';
import type { At, TextRule } from './checks.js';
import { ListItemPath } from './field-reader.js';
import type { ByteLimit, FieldReader } from './field-reader.js';
import type { ForwardKind } from './layout.js';
import { CONFIGURATION_NODES_MAX } from './limits.js';

/** How one keyed wire form represents the values that are not plain JSON-like data. */
export interface KeyedDialect {
  /** Reads a non-negative safe integer. */
  uint(value: unknown, at: At, field: string): number;
  /** Reads a byte string of at most `max` bytes as a plain Uint8Array. */
  bytes(value: unknown, max: number, limitName: ByteLimit, at: At, field: string): Uint8Array;
  entryType(value: unknown, at: At, field: string): EntryType;
  forwardKind(value: unknown, at: At, field: string): ForwardKind;
  /** The value of a nullable field, or null when the form says it is absent. */
  optional(record: object, field: string): unknown;
  /** The list inside a nullable list field (protobuf wraps it in a message), or null. */
  optionalList(value: unknown, at: At, field: string): unknown;
  /** Throws if `record` carries fields the format does not know. */
  checkRecord(record: object, at: At): void;
  /**
   * True when a list of entries is checked where it is and returned as it is, not copied: the
   * in-memory form, whose entries are the caller's objects that an encoder only reads (so an
   * AppendEntries costs no object per entry per follower to encode).
   */
  readonly entriesInPlace: boolean;
}

/** Reads the named fields of one record. */
export class KeyedReader implements FieldReader {
  private readonly fields: object;
  private readonly pathPrefix: string;
  private readonly pathIndex: number;
  private readonly limits: CodecLimits;
  private readonly dialect: KeyedDialect;

  /**
   * Reads `record`, whose path is `pathPrefix` (followed by `[pathIndex]` when pathIndex >= 0;
   * the path string is only built when an error needs it).
   */
  constructor(record: unknown, pathPrefix: string, pathIndex: number, limits: CodecLimits, dialect: KeyedDialect) {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      const at = pathIndex >= 0 ? `${pathPrefix}[${pathIndex}]` : pathPrefix;
      throw malformed(at, '', `expected a record, got ${describe(record)}`);
    }
    this.fields = record;
    this.pathPrefix = pathPrefix;
    this.pathIndex = pathIndex;
    this.limits = limits;
    this.dialect = dialect;
    dialect.checkRecord(record, this);
  }

  get path(): string {
    return this.pathIndex >= 0 ? `${this.pathPrefix}[${this.pathIndex}]` : this.pathPrefix;
  }

  private get(field: string): unknown {
    const value: unknown = Reflect.get(this.fields, field);
    return value;
  }

  uint(field: string): number {
    return this.dialect.uint(this.get(field), this, field);
  }

  uintOrNull(field: string): number | null {
    const value = this.dialect.optional(this.fields, field);
    return value === null ? null : this.dialect.uint(value, this, field);
  }

  bool(field: string): boolean {
    return checkBool(this.get(field), this, field);
  }

  nodeId(field: string): NodeId {
    return checkText(this.get(field), NODE_ID_RULE, this, field);
  }

  nodeIdOrNull(field: string): NodeId | null {
    const value = this.dialect.optional(this.fields, field);
    return value === null ? null : checkText(value, NODE_ID_RULE, this, field);
  }

  nodeIds(field: string): NodeId[] {
    return readNodeIds(this.get(field), this, field);
  }

  nodeIdsOrNull(field: string): NodeId[] | null {
    const value = this.dialect.optionalList(this.dialect.optional(this.fields, field), this, field);
    return value === null ? null : readNodeIds(value, this, field);
  }

  nodeIdsOrAbsent(field: string): NodeId[] | undefined {
    const value = this.get(field);
    if (value === undefined || value === null) return undefined;
    const ids = readNodeIds(value, this, field);
    return ids.length === 0 ? undefined : ids;
  }

  text(field: string, rule: TextRule): string {
    return checkText(this.get(field), rule, this, field);
  }

  bytes(field: string, limit: ByteLimit): Uint8Array {
    return this.dialect.bytes(this.get(field), this.limits[limit], limit, this, field);
  }

  forwardKind(field: string): ForwardKind {
    return this.dialect.forwardKind(this.get(field), this, field);
  }

  entries(field: string): LogEntry[] {
    const list = this.get(field);
    if (!Array.isArray(list)) throw malformed(this, field, `expected a list of entries, got ${describe(list)}`);
    checkCount(list.length, this.limits.entriesPerMessageMax, 'entriesPerMessageMax', true, this, field);
    const at = new ListItemPath(this, field);
    if (this.dialect.entriesInPlace && this.isEntryList(list, at)) return list;
    const entries: LogEntry[] = [];
    for (let i = 0; i < list.length; i += 1) {
      at.index = i;
      entries.push(this.entry(list[i], at, true));
    }
    return entries;
  }

  /** Checks every item of `list` as an entry (throws at the first bad one); true once all are. */
  private isEntryList(list: readonly unknown[], at: ListItemPath): list is LogEntry[] {
    for (let i = 0; i < list.length; i += 1) {
      at.index = i;
      this.entry(list[i], at, false);
    }
    return true;
  }

  /** Checks one entry at `at`; returns a copy of its known fields when `copy`, else null. */
  private entry(item: unknown, at: ListItemPath, copy: true): LogEntry;
  private entry(item: unknown, at: ListItemPath, copy: false): null;
  private entry(item: unknown, at: ListItemPath, copy: boolean): LogEntry | null {
    const dialect = this.dialect;
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw malformed(at, '', `expected an entry, got ${describe(item)}`);
    dialect.checkRecord(item, at);
    const term = dialect.uint(Reflect.get(item, 'term'), at, 'term');
    const index = dialect.uint(Reflect.get(item, 'index'), at, 'index');
    const type = dialect.entryType(Reflect.get(item, 'type'), at, 'type');
    const command: unknown = Reflect.get(item, 'command');
    const max = this.limits.entryBytesMax;
    if (!copy) {
      // Checked as dialect.bytes checks it, without the plain view it would make of a Buffer.
      if (!(command instanceof Uint8Array))
        throw malformed(at, 'command', `expected a byte string, got ${describe(command)}`);
      checkByteLength(command.byteLength, max, 'entryBytesMax', at, 'command');
      return null;
    }
    return { term, index, type, command: dialect.bytes(command, max, 'entryBytesMax', at, 'command') };
  }

  records<T>(field: string, read: (reader: FieldReader) => T): T[] {
    const list = this.get(field);
    if (!Array.isArray(list)) throw malformed(this, field, `expected a list, got ${describe(list)}`);
    checkCount(list.length, CONFIGURATION_NODES_MAX, 'CONFIGURATION_NODES_MAX', false, this, field);
    const prefix = `${this.path}.${field}`;
    const result: T[] = [];
    for (let i = 0; i < list.length; i += 1) {
      result.push(read(new KeyedReader(list[i], prefix, i, this.limits, this.dialect)));
    }
    return result;
  }

  record<T>(field: string, read: (reader: FieldReader) => T): T {
    return read(new KeyedReader(this.get(field), `${this.path}.${field}`, -1, this.limits, this.dialect));
  }
}

/** Reads a list of node ids (at most CONFIGURATION_NODES_MAX) into a fresh array. */
export function readNodeIds(list: unknown, at: At, field: string): NodeId[] {
  if (!Array.isArray(list)) throw malformed(at, field, `expected a list of node ids, got ${describe(list)}`);
  checkCount(list.length, CONFIGURATION_NODES_MAX, 'CONFIGURATION_NODES_MAX', false, at, field);
  const ids: NodeId[] = [];
  for (let i = 0; i < list.length; i += 1) {
    const value: unknown = list[i];
    ids.push(checkText(value, NODE_ID_RULE, at, `${field}[${i}]`));
  }
  invariant(ids.length === list.length, 'every node id was read');
  return ids;
}
