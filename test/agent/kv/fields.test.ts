// Proves the strict field reader of decoded CBOR maps (agent/kv/fields.ts), which reads the
// decoded object itself: only own fields count, so a name that an object inherits (toString,
// constructor, __proto__) is neither present nor readable; unexpected and missing fields are
// named; a map that cbor-x decoded with a key it could not keep as a field is refused.
import { strict as assert } from 'node:assert';
import { Encoder } from 'cbor-x';
import { Fields, decodeCbor } from '../../../agent/kv/fields.js';
import { SerializationError } from '../../../contracts/errors.js';

const malformed = (pattern: RegExp) => (e: unknown) =>
  e instanceof SerializationError && e.code === 'CODEC_MALFORMED' && pattern.test(e.message);

describe('kv fields', () => {
  it('reads own fields only: inherited names are absent', () => {
    const fields = Fields.of({ op: 'put', n: 3 }, 'command', ['op'], ['n', 'toString', 'constructor']);
    assert.equal(fields.string('op'), 'put');
    assert.equal(fields.integer('n', 0), 3);
    assert.equal(fields.has('toString'), false);
    assert.equal(fields.raw('constructor'), undefined);
    assert.throws(() => fields.string('toString'), malformed(/field 'toString' must be a text string/));
    assert.throws(() => Fields.of({ op: 'put' }, 'command', ['op', 'constructor']), malformed(/missing field/));
  });

  it('names an unexpected field and a missing one', () => {
    assert.throws(() => Fields.of({ op: 'put', x: 1 }, 'command', ['op']), malformed(/unexpected field 'x'/));
    assert.throws(() => Fields.of({ n: 1 }, 'command', ['op'], ['n']), malformed(/missing field 'op'/));
    assert.throws(() => Fields.of([1], 'command', ['op']), malformed(/expected a map/));
  });

  it('refuses a decoded map whose prototype a __proto__ key replaced', () => {
    const bytes = new Encoder({ mapsAsObjects: false, useRecords: false }).encode(
      new Map<string, unknown>([
        ['op', 'put'],
        ['__proto__', { a: 1 }],
      ]),
    );
    assert.throws(() => Fields.of(decodeCbor(bytes, 'command'), 'command', ['op']), malformed(/./));
  });
});
