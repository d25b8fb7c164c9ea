/**
 * A FieldReader over positional records, the CBOR form: a message is an array
 * `[version, typeCode, ...fields]`, an entry `[term, index, typeCode, command]`, a
 * configuration `[voters, learners, oldVoters, members]` and a member `[id, address]`, each in
 * the order of layout.ts. Every array must have exactly its layout's length, so an extra or a
 * missing field is refused.
 */
import type { LogEntry, NodeId } from '../contracts/log.js';
import type { CodecLimits } from '../contracts/serializer.js';
import {
  checkBool,
  checkBytes,
  checkCode,
  checkCount,
  checkText,
  checkUint,
  describe,
  invariant,
  malformed,
  NODE_ID_RULE,
} from './checks.js';
import type { TextRule } from './checks.js';
import { ListItemPath } from './field-reader.js';
import type { ByteLimit, FieldReader } from './field-reader.js';
import { readNodeIds } from './keyed-reader.js';
import {
  CONFIGURATION_FIELD_ORDER,
  CONFIGURATION_OPTIONAL_TRAILING,
  ENTRY_FIELD_ORDER,
  ENTRY_TYPES,
  FORWARD_KINDS,
  MEMBER_FIELD_ORDER,
} from './layout.js';
import type { ForwardKind } from './layout.js';
import { CONFIGURATION_NODES_MAX } from './limits.js';

/** Field name to array position, for one record layout. */
export type Positions = ReadonlyMap<string, number>;

/** The positions of `fields` in an array that starts with `offset` other items. */
export function positionsOf(fields: readonly string[], offset: number): Positions {
  return new Map(fields.map((field, i) => [field, i + offset]));
}

const CONFIGURATION_POSITIONS = positionsOf(CONFIGURATION_FIELD_ORDER, 0);
const MEMBER_POSITIONS = positionsOf(MEMBER_FIELD_ORDER, 0);

/** How many trailing fields each nested record may leave out, by the field that holds it. */
const NESTED_OPTIONAL_TRAILING: ReadonlyMap<string, number> = new Map([
  ['configuration', CONFIGURATION_OPTIONAL_TRAILING],
]);

/** The layout of each nested record, by the field that holds it. */
const NESTED_POSITIONS: ReadonlyMap<string, Positions> = new Map([
  ['configuration', CONFIGURATION_POSITIONS],
  ['members', MEMBER_POSITIONS],
]);

/** Reads the fields of one positional record. */
export class PositionalReader implements FieldReader {
  private readonly items: readonly unknown[];
  private readonly positions: Positions;
  private readonly pathPrefix: string;
  private readonly pathIndex: number;
  private readonly limits: CodecLimits;

  /**
   * Reads `items` laid out as `positions` (which must cover every item after the first
   * `positions`-less ones); its path is `pathPrefix`, followed by `[pathIndex]` when >= 0.
   * The last `optionalTrailing` fields may be left out (the array is that much shorter).
   */
  constructor(
    value: unknown,
    positions: Positions,
    length: number,
    pathPrefix: string,
    pathIndex: number,
    limits: CodecLimits,
    optionalTrailing = 0,
  ) {
    this.pathPrefix = pathPrefix;
    this.pathIndex = pathIndex;
    if (!Array.isArray(value))
      throw malformed(this.path, '', `expected an array of ${length} fields, got ${describe(value)}`);
    if (value.length > length || value.length < length - optionalTrailing) {
      const expected = optionalTrailing === 0 ? `${length}` : `${length - optionalTrailing} to ${length}`;
      throw malformed(this.path, '', `expected ${expected} fields, got ${value.length}`);
    }
    this.items = value;
    this.positions = positions;
    this.limits = limits;
  }

  get path(): string {
    return this.pathIndex >= 0 ? `${this.pathPrefix}[${this.pathIndex}]` : this.pathPrefix;
  }

  private get(field: string): unknown {
    const position = this.positions.get(field);
    invariant(position !== undefined, 'every field read has a position in its record layout');
    return this.items[position];
  }

  uint(field: string): number {
    return checkUint(this.get(field), this, field);
  }

  uintOrNull(field: string): number | null {
    const value = this.get(field);
    return value === null ? null : checkUint(value, this, field);
  }

  bool(field: string): boolean {
    return checkBool(this.get(field), this, field);
  }

  nodeId(field: string): NodeId {
    return checkText(this.get(field), NODE_ID_RULE, this, field);
  }

  nodeIdOrNull(field: string): NodeId | null {
    const value = this.get(field);
    return value === null ? null : checkText(value, NODE_ID_RULE, this, field);
  }

  nodeIds(field: string): NodeId[] {
    return readNodeIds(this.get(field), this, field);
  }

  nodeIdsOrNull(field: string): NodeId[] | null {
    const value = this.get(field);
    return value === null ? null : readNodeIds(value, this, field);
  }

  nodeIdsOrAbsent(field: string): NodeId[] | undefined {
    const value = this.get(field);
    if (value === undefined) return undefined;
    const ids = readNodeIds(value, this, field);
    return ids.length === 0 ? undefined : ids;
  }

  text(field: string, rule: TextRule): string {
    return checkText(this.get(field), rule, this, field);
  }

  bytes(field: string, limit: ByteLimit): Uint8Array {
    return checkBytes(this.get(field), this.limits[limit], limit, this, field);
  }

  forwardKind(field: string): ForwardKind {
    return checkCode(FORWARD_KINDS, 'a forward kind', this.get(field), this, field);
  }

  entries(field: string): LogEntry[] {
    const list = this.get(field);
    if (!Array.isArray(list)) throw malformed(this, field, `expected a list of entries, got ${describe(list)}`);
    checkCount(list.length, this.limits.entriesPerMessageMax, 'entriesPerMessageMax', true, this, field);
    const commandBytesMax = this.limits.entryBytesMax;
    const at = new ListItemPath(this, field);
    const entries: LogEntry[] = [];
    for (let i = 0; i < list.length; i += 1) {
      at.index = i;
      const item: unknown = list[i];
      if (!Array.isArray(item) || item.length !== ENTRY_FIELD_ORDER.length) {
        throw malformed(at, '', `expected an entry of ${ENTRY_FIELD_ORDER.length} fields, got ${describe(item)}`);
      }
      // Positions follow ENTRY_FIELD_ORDER: term, index, type, command.
      entries.push({
        term: checkUint(item[0], at, 'term'),
        index: checkUint(item[1], at, 'index'),
        type: checkCode(ENTRY_TYPES, 'an entry type', item[2], at, 'type'),
        command: checkBytes(item[3], commandBytesMax, 'entryBytesMax', at, 'command'),
      });
    }
    return entries;
  }

  records<T>(field: string, read: (reader: FieldReader) => T): T[] {
    const list = this.get(field);
    if (!Array.isArray(list)) throw malformed(this, field, `expected a list, got ${describe(list)}`);
    checkCount(list.length, CONFIGURATION_NODES_MAX, 'CONFIGURATION_NODES_MAX', false, this, field);
    const positions = nestedPositions(field);
    const prefix = `${this.path}.${field}`;
    const result: T[] = [];
    for (let i = 0; i < list.length; i += 1) {
      result.push(read(new PositionalReader(list[i], positions, positions.size, prefix, i, this.limits)));
    }
    return result;
  }

  record<T>(field: string, read: (reader: FieldReader) => T): T {
    const positions = nestedPositions(field);
    const optional = NESTED_OPTIONAL_TRAILING.get(field) ?? 0;
    return read(
      new PositionalReader(
        this.get(field),
        positions,
        positions.size,
        `${this.path}.${field}`,
        -1,
        this.limits,
        optional,
      ),
    );
  }
}

function nestedPositions(field: string): Positions {
  const positions = NESTED_POSITIONS.get(field);
  invariant(positions !== undefined, `field ${field} has a nested layout`);
  return positions;
}
