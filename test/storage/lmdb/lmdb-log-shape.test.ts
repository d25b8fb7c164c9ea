// The log's shape records (storage/lmdb/lmdb-log-shape.ts), which an open of the write-ahead-log
// engine reads instead of every stored record:
// - encoding: a shape decodes to itself; a damaged record decodes to null;
// - maintenance (property): after any sequence of appends (one entry or many, merged or not),
//   prefix deletions (compaction) and suffix deletions (truncation) applied through the write plan
//   to a real LMDB, the shape records tile the stored log exactly and say every entry's term, type
//   and size as the records do (readLogShapes equals a model of the log);
// - trust: records left stale by a write that did not keep them, or damaged, are not trusted, and
//   the engine's open then scans the log (counted) and writes them again;
// - a directory of the previous format (2) is upgraded: scanned once, then read from its shapes.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { EntryType, LogEntry } from '../../../contracts/log.js';
import type { Metrics } from '../../../contracts/metrics.js';
import { openHandles } from '../../../storage/lmdb/lmdb-open.js';
import type { LmdbHandles } from '../../../storage/lmdb/lmdb-open.js';
import { resolveLmdbOptions } from '../../../storage/lmdb/lmdb-options.js';
import {
  appendShape,
  concatShapes,
  deleteShapes,
  decodeShape,
  encodeShape,
  readLogShapes,
  shapeCount,
  shapeOfEntries,
  sliceShape,
  termAt,
} from '../../../storage/lmdb/lmdb-log-shape.js';
import type { ShapeRecord, ShapeStore } from '../../../storage/lmdb/lmdb-log-shape.js';
import { META_KEYS, encodeEntry, encodeFormat, entryKey, parseEntryKey } from '../../../storage/lmdb/lmdb-records.js';
import { applyStep, encodeSteps } from '../../../storage/lmdb/lmdb-write-plan.js';
import { ShapeAppends } from '../../../storage/lmdb/lmdb-shape-appends.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import { fcParams } from '../../fc-params.js';
import { CONFIGURATION, entries, lmdbTestOptions, makeTempDir, removeDir, walTestOptions } from '../helpers.js';

/** What the shapes say of one entry. */
interface EntryView {
  readonly index: number;
  readonly term: number;
  readonly config: boolean;
  readonly bytes: number;
}

function viewsOf(shapes: readonly ShapeRecord[]): EntryView[] {
  const views: EntryView[] = [];
  for (const shape of shapes)
    for (let offset = 0; offset < shapeCount(shape); offset += 1)
      views.push({
        index: shape.firstIndex + offset,
        term: termAt(shape, offset),
        config: shape.configOffsets.includes(offset),
        bytes: shape.commandBytes[offset] ?? -1,
      });
  return views;
}

function entryOf(index: number, term: number, type: EntryType, bytes: number): LogEntry {
  const command = type === 'config' ? new TextEncoder().encode(JSON.stringify(CONFIGURATION)) : new Uint8Array(bytes);
  return { index, term, type, command };
}

const viewOf = (e: LogEntry): EntryView => ({
  index: e.index,
  term: e.term,
  config: e.type === 'config',
  bytes: e.command.byteLength,
});

/** Counts the engine's scans at open (storage_log_scans_total). */
function scanCounter(): Metrics & { scans: number } {
  return {
    scans: 0,
    increment(name: string) {
      if (name === 'storage_log_scans_total') this.scans += 1;
    },
    setGauge() {},
    observe() {},
    observeDurationMs() {},
    flush: () => Promise.resolve(),
  };
}

const entryArb = fc.record({
  termBump: fc.integer({ min: 0, max: 2 }),
  type: fc.constantFrom<EntryType>('command', 'command', 'noop', 'config'),
  bytes: fc.integer({ min: 0, max: 300 }),
});

describe('LMDB log shape records', function () {
  this.timeout(60_000);

  it('decode what they encode, and refuse a damaged record (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.array(entryArb, { minLength: 1, maxLength: 60 }),
        (first, specs) => {
          let term = 1;
          const list = specs.map((s, i) => entryOf(first + i, (term += s.termBump), s.type, s.bytes));
          const shape = shapeOfEntries(list);
          const bytes = encodeShape(shape);
          assert.deepStrictEqual(decodeShape(first, bytes), shape);
          assert.deepStrictEqual(viewsOf([shape]), list.map(viewOf));
          const k = Math.floor(list.length / 2);
          const parts =
            k === 0 ? shape : concatShapes(sliceShape(shape, 0, k - 1), sliceShape(shape, k, list.length - 1));
          assert.deepStrictEqual(viewsOf([parts]), list.map(viewOf), 'a shape cut in two and joined is the same');
          for (const at of [0, 5, bytes.length - 1]) {
            const damaged = Buffer.from(bytes);
            damaged[at] = (damaged[at] ?? 0) ^ 0x40;
            assert.equal(decodeShape(first, damaged), null, `byte ${at} flipped`);
          }
        },
      ),
      fcParams(200, 'lmdb-log-shape encode'),
    );
  });

  describe('kept by the write plan', () => {
    let dir: string;
    let handles: LmdbHandles;
    beforeEach(() => {
      dir = makeTempDir();
      handles = openHandles(resolveLmdbOptions(lmdbTestOptions(dir)));
    });
    afterEach(async () => {
      await handles.env.close();
      removeDir(dir);
    });

    /** Entries a deletion keeps: often few, so that it cuts a record next to its end. */
    const keepArb = fc.oneof(fc.nat({ max: 900 }), fc.nat({ max: 3 }));
    type Op =
      | { kind: 'append'; specs: { termBump: number; type: EntryType; bytes: number }[]; atPut: boolean }
      | { kind: 'compact'; keep: number }
      | { kind: 'truncate'; keep: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          kind: fc.constant('append' as const),
          specs: fc.array(entryArb, { minLength: 1, maxLength: 700 }),
          atPut: fc.boolean(),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), keep: keepArb }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), keep: keepArb }) },
    );

    it('tile the log and say each entry as stored, after transactions of appends and cuts (property)', async () => {
      // Each transaction applies 1-4 operations, so that appends gathered in one transaction
      // (lmdb-shape-appends.ts) meet the deletions between them.
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 10 }),
          async (txns) => {
            await handles.env.transaction(() => {
              for (const key of [...handles.log.getKeys({})]) handles.log.removeSync(key);
              for (const key of [...handles.shapes.getKeys({})]) handles.shapes.removeSync(key);
            });
            const model: LogEntry[] = [];
            let first = 1;
            let term = 1;
            const stepsOf = (op: Op): ReturnType<typeof encodeSteps> => {
              if (op.kind === 'append') {
                const start = (model[model.length - 1]?.index ?? first - 1) + 1;
                const list = op.specs.map((s, i) => entryOf(start + i, (term += s.termBump), s.type, s.bytes));
                model.push(...list);
                return encodeSteps([{ kind: 'append', entries: list }], null, { entriesAtPut: op.atPut });
              }
              const keep = Math.min(op.keep, model.length);
              if (keep === model.length) return [];
              const cut = op.kind === 'compact' ? model.splice(0, model.length - keep) : model.splice(keep);
              const from = cut[0]?.index ?? 0;
              const to = cut[cut.length - 1]?.index ?? 0;
              if (op.kind === 'compact') first = to + 1;
              else term = model[model.length - 1]?.term ?? term;
              return [{ kind: 'delete', from, to }];
            };
            for (const ops of txns) {
              const shapes = new ShapeAppends(handles.shapes, dir);
              const target = { log: handles.log, meta: handles.meta, shapes, path: dir };
              const steps = ops.flatMap(stepsOf);
              await handles.env.transaction(() => {
                for (const step of steps) applyStep(step, target);
                shapes.flush();
              });
              const read = readLogShapes(handles.shapes, handles.log);
              const kinds = ops.map((op) => op.kind).join(', ');
              assert.ok(read !== null, `the shapes check out after ${kinds}`);
              assert.deepStrictEqual(viewsOf(read), model.map(viewOf), `after ${kinds}`);
            }
          },
        ),
        fcParams(40, 'lmdb-log-shape maintenance'),
      );
    });

    it('cut and merged at every boundary: appends of 1-5 entries, merged up to 4 (property)', async () => {
      const ops = fc.array(
        fc.oneof(
          { weight: 3, arbitrary: fc.record({ append: fc.integer({ min: 1, max: 5 }), bump: fc.boolean() }) },
          { weight: 1, arbitrary: fc.record({ compact: fc.nat({ max: 12 }) }) },
          { weight: 1, arbitrary: fc.record({ truncate: fc.nat({ max: 12 }) }) },
        ),
        { minLength: 1, maxLength: 40 },
      );
      await fc.assert(
        fc.asyncProperty(ops, async (list) => {
          await handles.env.transaction(() => {
            for (const key of [...handles.shapes.getKeys({})]) handles.shapes.removeSync(key);
          });
          const model: LogEntry[] = [];
          let next = 1;
          let term = 1;
          for (const op of list) {
            await handles.env.transaction(() => {
              if ('append' in op) {
                term += op.bump ? 1 : 0;
                const added = entries(next, next + op.append - 1, term);
                model.push(...added);
                next += op.append;
                appendShape(handles.shapes, shapeOfEntries(added), dir, 4);
                return;
              }
              const keep = 'compact' in op ? op.compact : op.truncate;
              if (keep >= model.length) return;
              const cut = 'compact' in op ? model.splice(0, model.length - keep) : model.splice(keep);
              deleteShapes(handles.shapes, cut[0]?.index ?? 0, cut[cut.length - 1]?.index ?? 0, dir);
              if ('truncate' in op) next = cut[0]?.index ?? next;
            });
            const stored = [...handles.shapes.getKeys({})].map((key) => {
              const value = handles.shapes.getBinary(key);
              const shape = value === undefined ? null : decodeShape(parseEntryKey(key), value);
              assert.ok(shape !== null && shapeCount(shape) <= 5, 'an append of up to 5, or merged records of up to 4');
              return shape;
            });
            assert.deepStrictEqual(viewsOf(stored), model.map(viewOf), 'the records tile the log, in order');
          }
        }),
        fcParams(300, 'lmdb-log-shape boundaries'),
      );
    });

    it('merge an append into the record that ends before it, whichever writer wrote that record', async () => {
      // Two views of one store (as the main thread and the checkpoint worker have): each remembers
      // where it appended last, which the other's appends may have left behind.
      const other: ShapeStore = {
        getKeys: (range) => handles.shapes.getKeys(range),
        getBinaryFast: (key) => handles.shapes.getBinaryFast(key),
        putSync: (key, value) => handles.shapes.putSync(key, value),
        removeSync: (key) => handles.shapes.removeSync(key),
      };
      const put = (store: ShapeStore, from: number, to: number): Promise<void> =>
        handles.env.transaction(() => {
          for (const step of encodeSteps([{ kind: 'append', entries: entries(from, to, 1) }]))
            applyStep(step, { log: handles.log, meta: handles.meta, shapes: null, path: dir });
          appendShape(store, shapeOfEntries(entries(from, to, 1)), dir, 4);
        });
      await put(handles.shapes, 1, 3);
      await put(other, 4, 6);
      await put(handles.shapes, 7, 7);
      const shapes = readLogShapes(handles.shapes, handles.log);
      assert.ok(shapes !== null, 'the records tile the log');
      assert.deepStrictEqual(
        shapes.map((shape) => [shape.firstIndex, shapeCount(shape)]),
        [
          [1, 3],
          [4, 4],
        ],
      );
    });

    it('are not trusted when a write did not keep them, or one is damaged', async () => {
      const append = (list: LogEntry[], shapes: LmdbHandles['shapes'] | null) =>
        handles.env.transaction(() => {
          const kept = shapes === null ? null : new ShapeAppends(shapes, dir);
          for (const step of encodeSteps([{ kind: 'append', entries: list }]))
            applyStep(step, { log: handles.log, meta: handles.meta, shapes: kept, path: dir });
          kept?.flush();
        });
      await append(entries(1, 10, 1), handles.shapes);
      assert.equal(readLogShapes(handles.shapes, handles.log)?.length, 1);
      await append(entries(11, 12, 1), null);
      assert.equal(readLogShapes(handles.shapes, handles.log), null, 'two entries the shapes do not say');
      await handles.env.transaction(() => {
        for (const key of [...handles.log.getKeys({})]) handles.log.removeSync(key);
        for (const key of [...handles.shapes.getKeys({})]) handles.shapes.removeSync(key);
      });
      await append(entries(1, 10, 1), handles.shapes);
      // Same indices, another term, written without shapes: count and bounds agree, the terms do not.
      await handles.env.transaction(() => {
        for (const step of encodeSteps([
          { kind: 'delete', from: 1, to: 10 },
          { kind: 'append', entries: entries(1, 10, 2) },
        ]))
          applyStep(step, { log: handles.log, meta: handles.meta, shapes: null, path: dir });
      });
      assert.equal(readLogShapes(handles.shapes, handles.log), null, 'a rewritten log with the old shapes');
      const raw = (change: () => void): Promise<void> => handles.env.transaction(change);
      /** Stores entry `index` of `term` over what is there, keeping no shape. */
      const putRaw = (index: number, term: number): Promise<void> =>
        raw(() => handles.log.putSync(entryKey(index), encodeEntry(entryOf(index, term, 'command', 16))));
      await raw(() => {
        for (const key of [...handles.log.getKeys({})]) handles.log.removeSync(key);
        for (const key of [...handles.shapes.getKeys({})]) handles.shapes.removeSync(key);
      });
      await append(entries(1, 10, 2), handles.shapes);
      assert.ok(readLogShapes(handles.shapes, handles.log) !== null);
      await putRaw(1, 1);
      assert.equal(readLogShapes(handles.shapes, handles.log), null, 'the first entry of another term');
      await putRaw(1, 2);
      assert.ok(readLogShapes(handles.shapes, handles.log) !== null);
      await putRaw(10, 3);
      assert.equal(readLogShapes(handles.shapes, handles.log), null, 'the last entry of another term');
      await putRaw(10, 2);
      await raw(() => handles.log.removeSync(entryKey(5)));
      assert.equal(readLogShapes(handles.shapes, handles.log), null, 'a gap in the middle');
      await putRaw(5, 2);
      await handles.env.transaction(() => {
        for (const step of encodeSteps([{ kind: 'delete', from: 1, to: 10 }]))
          applyStep(step, { log: handles.log, meta: handles.meta, shapes: null, path: dir });
      });
      await append(entries(1, 10, 2), handles.shapes);
      const [key] = [...handles.shapes.getKeys({})] as Buffer[];
      assert.ok(key !== undefined);
      const record = Buffer.from(handles.shapes.getBinary(key) ?? Buffer.alloc(0));
      assert.ok(readLogShapes(handles.shapes, handles.log) !== null);
      record[20] = (record[20] ?? 0) ^ 1;
      await handles.env.transaction(() => handles.shapes.putSync(key, record));
      assert.equal(readLogShapes(handles.shapes, handles.log), null, 'a damaged record');
    });
  });

  describe('read by the write-ahead-log engine at open', () => {
    let dir: string;
    beforeEach(() => {
      dir = makeTempDir();
    });
    afterEach(() => removeDir(dir));

    async function openCounting(): Promise<{ engine: WalPersistenceEngine; scans: number }> {
      const metrics = scanCounter();
      const engine = await WalPersistenceEngine.open(walTestOptions(dir), { metrics });
      return { engine, scans: metrics.scans };
    }

    async function writeSome(engine: WalPersistenceEngine): Promise<void> {
      await engine.persist({
        hardState: null,
        snapshot: null,
        truncateFrom: null,
        compactBefore: null,
        entries: entries(1, 40, 1),
      });
      await engine.persist({
        hardState: null,
        snapshot: null,
        truncateFrom: 31,
        compactBefore: null,
        entries: entries(31, 50, 2),
      });
      await engine.close();
    }

    it('reads the shapes of a directory it wrote; scans and rewrites them when they are damaged', async () => {
      const fresh = await openCounting();
      assert.equal(fresh.scans, 0, 'a new directory');
      await writeSome(fresh.engine);
      const again = await openCounting();
      assert.equal(again.scans, 0, 'reopened: read from its shapes');
      const shape = await again.engine.loadShape();
      assert.equal(shape.log.commandBytes.length, 50);
      assert.deepStrictEqual(shape.log.termRuns, [
        { from: 1, term: 1 },
        { from: 31, term: 2 },
      ]);
      await again.engine.close();
      const handles = openHandles(resolveLmdbOptions(lmdbTestOptions(dir)));
      await handles.env.transaction(() => {
        for (const key of [...handles.shapes.getKeys({})]) handles.shapes.removeSync(key);
      });
      await handles.env.close();
      const damaged = await openCounting();
      assert.equal(damaged.scans, 1, 'no shapes for a stored log: scanned');
      assert.equal((await damaged.engine.loadShape()).log.commandBytes.length, 50);
      await damaged.engine.close();
      const rewritten = await openCounting();
      assert.equal(rewritten.scans, 0, 'the scan wrote them again');
      await rewritten.engine.close();
    });

    it('upgrades a directory of format 2: scanned once, then read from its shapes', async () => {
      const first = await openCounting();
      await writeSome(first.engine);
      const handles = openHandles(resolveLmdbOptions(lmdbTestOptions(dir)));
      await handles.env.transaction(() => handles.meta.putSync(META_KEYS.format, encodeFormat(2)));
      await handles.env.close();
      const upgraded = await openCounting();
      assert.equal(upgraded.scans, 1, 'format 2 keeps no shapes: scanned');
      await upgraded.engine.close();
      const next = await openCounting();
      assert.equal(next.scans, 0);
      assert.equal((await next.engine.loadShape()).log.commandBytes.length, 50);
      await next.engine.close();
    });
  });
});
