// Proves property 7 for well-formed documents of the wrong structure: for each codec,
// 18,000 syntactically valid documents that are not messages (random CBOR values, random JSON,
// random protobuf fields, with `__proto__` and `constructor` keys among them) and 18,000 valid
// messages with one part replaced by a value of another type (or, for protobuf, a body under
// another type's field number or with an unknown field) are either decoded to a valid message
// or rejected with SerializationError; Object.prototype is never touched. hostile.ts
// classifies each outcome; inputs come from fast-check (seeded, replayable).
import { strict as assert } from 'node:assert';
import { Decoder, Encoder } from 'cbor-x';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { createSerializer } from '../../codec/index.js';
import { codecLimitsFor, rpcMessageArbitrary } from './arbitraries.js';
import { fcParams } from '../fc-params.js';
import { DecodeCounter, prototypePolluted } from './hostile.js';

const RUNS = 1500;
const PER_RUN = 12;
const BUDGET = RUNS * PER_RUN;
const limits = codecLimitsFor();

/** Inputs per run, so that generation cost is shared. */
function batch<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T[]> {
  return fc.array(arbitrary, { minLength: PER_RUN, maxLength: PER_RUN });
}

const trickyKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'v', 'type', 'term', 'entries'),
  fc.string({ maxLength: 8 }),
);

/** Every path to a node of a nested array/object value, root excluded, in a fixed order. */
function pathsOf(value: unknown, prefix: readonly (string | number)[] = []): (string | number)[][] {
  const paths: (string | number)[][] = [];
  if (value instanceof Uint8Array || typeof value !== 'object' || value === null) return paths;
  for (const [key, child] of Object.entries(value)) {
    const path = [...prefix, Array.isArray(value) ? Number(key) : key];
    paths.push(path, ...pathsOf(child, path));
  }
  return paths;
}

/** `root` with the node at `path` replaced by `replacement` (containers along the path are copied). */
function replaceAt(root: unknown, path: readonly (string | number)[], replacement: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return replacement;
  if (Array.isArray(root))
    return root.map((item: unknown, i) => (i === head ? replaceAt(item, rest, replacement) : item));
  const copy: Record<string, unknown> = { ...(root as Record<string, unknown>) };
  Object.defineProperty(copy, head, {
    value: replaceAt(copy[head], rest, replacement),
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return copy;
}

describe('cbor decoder against type-confused documents (property 7)', () => {
  const serializer = createSerializer('cbor', limits);
  const plain = new Encoder({ useRecords: false, tagUint8Array: false });
  const tagged = new Encoder({ useRecords: false });
  const reader = new Decoder({ useRecords: false, mapsAsObjects: true, int64AsNumber: true } as never);
  const leaf = fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 }),
    fc.constantFrom(2 ** 53, -0, 0.5, Number.NaN, Infinity, 2 ** 64),
    fc.double(),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.uint8Array({ maxLength: 12 }),
    fc.constantFrom(true, false, null, undefined),
    fc.date({ noInvalidDate: true }),
  );
  const { value } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      leaf,
      fc.array(tie('value'), { maxLength: 6 }),
      fc.dictionary(trickyKey, tie('value'), { maxKeys: 4 }),
      fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((pairs) => new Map(pairs)),
    ),
  }));
  const encode = (document: unknown, useTags: boolean): Uint8Array => (useTags ? tagged : plain).encode(document);

  it(`rejects or decodes ${BUDGET} CBOR documents of the wrong structure`, () => {
    const counter = new DecodeCounter();
    const document = fc.oneof(
      value,
      fc
        .tuple(fc.integer({ min: 0, max: 13 }), fc.array(value, { maxLength: 10 }))
        .map(([code, fields]) => [1, code, ...fields]),
    );
    fc.assert(
      fc.property(batch(fc.tuple(document, fc.boolean())), (inputs) => {
        for (const [doc, useTags] of inputs) counter.decode(serializer, encode(doc, useTags));
      }),
      fcParams(RUNS),
    );
    assert.ok(counter.count >= BUDGET, `${counter.count} inputs`);
    assert.equal(prototypePolluted(), false);
  });

  it(`rejects or decodes ${BUDGET} valid messages with one part replaced by another type`, () => {
    const counter = new DecodeCounter();
    fc.assert(
      fc.property(rpcMessageArbitrary(), batch(fc.tuple(fc.nat(), value, fc.boolean())), (message, edits) => {
        const form: unknown = reader.decode(Buffer.from(serializer.encode(message)));
        const paths = pathsOf(form);
        for (const [pick, replacement, useTags] of edits) {
          const path = paths[pick % paths.length] ?? [];
          counter.decode(serializer, encode(replaceAt(form, path, replacement), useTags));
        }
      }),
      fcParams(RUNS),
    );
    assert.ok(counter.count >= BUDGET, `${counter.count} inputs`);
    assert.ok(
      counter.rejected > counter.count / 2,
      `most replacements are caught (${counter.rejected} of ${counter.count})`,
    );
  });
});

describe('json decoder against type-confused documents (property 7)', () => {
  const serializer = createSerializer('json', limits);
  const json = fc.jsonValue({ maxDepth: 4 });
  const text = (document: unknown): Uint8Array => Buffer.from(JSON.stringify(document));

  it(`rejects or decodes ${BUDGET} JSON documents of the wrong structure`, () => {
    const counter = new DecodeCounter();
    const headed = fc
      .tuple(
        fc.constantFrom(1, 2, 0, -1, 1.5, '1'),
        fc.constantFrom('AppendEntriesRequest', 'RequestVoteRequest', 'Nope', '__proto__'),
        fc.dictionary(trickyKey, json, { maxKeys: 6 }),
      )
      .map(([v, type, rest]) => ({ v, type, ...rest }));
    fc.assert(
      fc.property(batch(fc.oneof(json, headed)), (inputs) => {
        for (const document of inputs) counter.decode(serializer, text(document));
      }),
      fcParams(RUNS),
    );
    assert.ok(counter.count >= BUDGET, `${counter.count} inputs`);
    assert.equal(prototypePolluted(), false);
  });

  it(`rejects or decodes ${BUDGET} valid messages with one part replaced, added or removed`, () => {
    const counter = new DecodeCounter();
    const edit = fc.tuple(fc.constantFrom('replace', 'add', 'proto', 'remove'), fc.nat(), json, trickyKey);
    fc.assert(
      fc.property(rpcMessageArbitrary(), batch(edit), (message, edits) => {
        const source = Buffer.from(serializer.encode(message)).toString('utf8');
        const form: unknown = JSON.parse(source);
        const paths = pathsOf(form);
        for (const [kind, pick, replacement, key] of edits) {
          const path = paths[pick % paths.length] ?? [];
          if (kind === 'replace') counter.decode(serializer, text(replaceAt(form, path, replacement)));
          if (kind === 'add')
            counter.reject(
              serializer,
              text(replaceAt(form, [key === 'v' || key === 'type' ? `${key}x` : `${key}_`], replacement)),
            );
          if (kind === 'proto')
            counter.reject(serializer, Buffer.from(`{"__proto__":${JSON.stringify(replacement)},${source.slice(1)}`));
          if (kind === 'remove')
            counter.decode(serializer, Buffer.from(source.replace(/"[A-Za-z]+":("[^"]*"|[^,{}[\]]*),/u, '')));
        }
      }),
      fcParams(RUNS),
    );
    assert.ok(counter.count >= BUDGET, `${counter.count} inputs`);
    assert.equal(prototypePolluted(), false);
  });
});

describe('protobuf decoder against type-confused documents (property 7)', () => {
  const serializer = createSerializer('protobuf', limits);
  type Field = readonly [number, number, bigint, Uint8Array];
  const field: fc.Arbitrary<Field> = fc.tuple(
    fc.oneof(fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 2 ** 29 - 1 })),
    fc.constantFrom(0, 1, 2, 5, 3, 4),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    fc.uint8Array({ maxLength: 24 }),
  );
  const writeFields = (fields: readonly Field[], nested: Uint8Array | null): Uint8Array => {
    const writer = protobuf.Writer.create();
    for (const [number, wireType, integer, bytes] of fields) {
      writer.uint32(number * 8 + wireType);
      if (wireType === 0) writer.uint64(integer.toString());
      if (wireType === 1) writer.fixed64(integer.toString());
      if (wireType === 2) writer.bytes(nested ?? bytes);
      if (wireType === 5) writer.fixed32(Number(integer % 2n ** 32n));
    }
    return writer.finish();
  };

  it(`rejects or decodes ${BUDGET} envelopes with random fields`, () => {
    const counter = new DecodeCounter();
    const input = fc.tuple(
      fc.array(field, { maxLength: 6 }),
      fc.array(field, { maxLength: 4 }),
      fc.integer({ min: 2, max: 14 }),
    );
    fc.assert(
      fc.property(batch(input), (inputs) => {
        for (const [bodyFields, innerFields, bodyNumber] of inputs) {
          const body = writeFields(bodyFields, writeFields(innerFields, null));
          const envelope = protobuf.Writer.create()
            .uint32(8)
            .uint32(1)
            .uint32(bodyNumber * 8 + 2)
            .bytes(body)
            .finish();
          counter.decode(serializer, envelope);
        }
      }),
      fcParams(RUNS),
    );
    assert.ok(counter.count >= BUDGET, `${counter.count} inputs`);
  });

  it(`rejects or decodes ${BUDGET} valid bodies under another type or with an extra field`, () => {
    const counter = new DecodeCounter();
    fc.assert(
      fc.property(
        rpcMessageArbitrary(),
        batch(fc.tuple(fc.integer({ min: 2, max: 13 }), field, fc.boolean())),
        (message, edits) => {
          const bytes = serializer.encode(message);
          const reader = protobuf.Reader.create(bytes);
          reader.uint32();
          reader.uint32();
          const bodyTag = reader.uint32();
          const body = reader.bytes();
          for (const [number, extra, retag] of edits) {
            const writer = protobuf.Writer.create().uint32(8).uint32(1);
            if (retag) {
              counter.decode(
                serializer,
                writer
                  .uint32(number * 8 + 2)
                  .bytes(body)
                  .finish(),
              );
            } else {
              const [extraNumber, wireType, integer, payload] = extra;
              const unknown = writeFields(
                [[16 + (extraNumber % 100_000), wireType === 3 || wireType === 4 ? 0 : wireType, integer, payload]],
                null,
              );
              counter.reject(
                serializer,
                writer
                  .uint32(bodyTag)
                  .bytes(Buffer.concat([body, unknown]))
                  .finish(),
              );
            }
          }
        },
      ),
      fcParams(RUNS),
    );
    assert.ok(counter.count >= BUDGET, `${counter.count} inputs`);
    assert.equal(prototypePolluted(), false);
  });
});
