/**
 * Who holds the ArrayBuffers of a V8 heap snapshot (bench/heap-buffers.ts): each buffer's backing
 * store (a `native` node, `system / JSArrayBufferData`, whose self size is its bytes) is charged to
 * the nearest objects of a class of our own that retain it, found by walking retainers up from it
 * (weak edges left out) level by level until a level holds such an object, or `hops` levels.
 * Generic objects on the way (Object, Array, Map, typed arrays, closures, contexts) are walked
 * through; the walk stops at the roots and the global object. Found this way (stop 43): 46 MiB
 * of 64 KiB values that only the history window held on a leader, beyond its 4 MiB limit.
 */

/** The parts of a `.heapsnapshot` file read here (V8's JSON format). */
export interface HeapSnapshotJson {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: readonly string[];
      readonly node_types: readonly [readonly string[], ...unknown[]];
      readonly edge_fields: readonly string[];
      readonly edge_types: readonly [readonly string[], ...unknown[]];
    };
  };
  readonly nodes: readonly number[];
  readonly edges: readonly number[];
  readonly strings: readonly string[];
}

/** The bytes of the buffers a set of owners holds. */
export interface BufferOwnerRow {
  /** The owners' class names, sorted, joined by '+'; '(none)' when none was found within the hops. */
  readonly owners: string;
  readonly bytes: number;
  readonly buffers: number;
}

/** Names that never own: built-in containers and V8's internal objects are walked through. */
const GENERIC = new Set([
  'Object',
  'Array',
  'Map',
  'Set',
  'WeakMap',
  'WeakSet',
  'WeakRef',
  'Promise',
  'Generator',
  'Function',
  'Error',
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Buffer',
  'FastBuffer',
  'Uint8Array',
  'Int8Array',
  'Uint8ClampedArray',
  'Uint16Array',
  'Int16Array',
  'Uint32Array',
  'Int32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
]);

/** Most nodes walked up from one buffer. */
const VISITED_MAX = 4000;

/** Whether a node of `type` and `name` is an owner: an object of a named class of our own. */
function isOwner(type: string, name: string): boolean {
  return type === 'object' && /^[A-Z_]/u.test(name) && !GENERIC.has(name) && !name.startsWith('system /');
}

/** Whether the walk stops at a node: the roots, the global object and its context reach everything. */
function isRoot(type: string, name: string): boolean {
  return type === 'synthetic' || name === 'global' || name.startsWith('system / NativeContext');
}

/**
 * The buffers' bytes by their nearest owners, largest first, and the bytes of every buffer. Walks
 * at most `hops` retainers up from each buffer.
 */
export function bufferOwners(
  heap: HeapSnapshotJson,
  hops = 8,
): { readonly totalBytes: number; readonly rows: readonly BufferOwnerRow[] } {
  const { meta } = heap.snapshot;
  const nodeFields = meta.node_fields.length;
  const edgeFields = meta.edge_fields.length;
  const typeAt = meta.node_fields.indexOf('type');
  const nameAt = meta.node_fields.indexOf('name');
  const sizeAt = meta.node_fields.indexOf('self_size');
  const edgeCountAt = meta.node_fields.indexOf('edge_count');
  const edgeTypeAt = meta.edge_fields.indexOf('type');
  const toAt = meta.edge_fields.indexOf('to_node');
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const count = heap.nodes.length / nodeFields;
  const field = (node: number, at: number): number => heap.nodes[node * nodeFields + at] ?? 0;
  const typeOf = (node: number): string => nodeTypes[field(node, typeAt)] ?? '';
  const nameOf = (node: number): string => heap.strings[field(node, nameAt)] ?? '';

  const retainers: number[][] = Array.from({ length: count }, () => []);
  let edge = 0;
  for (let node = 0; node < count; node += 1) {
    for (let k = field(node, edgeCountAt); k > 0; k -= 1, edge += edgeFields) {
      const type = edgeTypes[heap.edges[edge + edgeTypeAt] ?? 0];
      if (type === 'weak' || type === 'shortcut') continue;
      retainers[(heap.edges[edge + toAt] ?? 0) / nodeFields]?.push(node);
    }
  }

  const byOwners = new Map<string, { bytes: number; buffers: number }>();
  let totalBytes = 0;
  for (let node = 0; node < count; node += 1) {
    if (typeOf(node) !== 'native' || nameOf(node) !== 'system / JSArrayBufferData') continue;
    const bytes = field(node, sizeAt);
    totalBytes += bytes;
    const owners = new Set<string>();
    const seen = new Set([node]);
    let frontier = [node];
    // Level by level, stopping at the first level that finds an owner: the nearest ones.
    for (let hop = 0; hop < hops && frontier.length > 0 && owners.size === 0 && seen.size < VISITED_MAX; hop += 1) {
      const next: number[] = [];
      for (const at of frontier)
        for (const by of retainers[at] ?? []) {
          if (seen.has(by)) continue;
          seen.add(by);
          if (isOwner(typeOf(by), nameOf(by))) owners.add(nameOf(by));
          else if (!isRoot(typeOf(by), nameOf(by))) next.push(by);
        }
      frontier = next;
    }
    const key = owners.size === 0 ? '(none)' : [...owners].sort().join('+');
    const row = byOwners.get(key) ?? { bytes: 0, buffers: 0 };
    row.bytes += bytes;
    row.buffers += 1;
    byOwners.set(key, row);
  }
  const rows = [...byOwners].map(([owners, row]) => ({ owners, ...row })).sort((a, b) => b.bytes - a.bytes);
  return { totalBytes, rows };
}
