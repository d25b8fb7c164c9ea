// Proves that the slab allocator behind CBOR encodings never hands out overlapping memory:
// for arbitrary sequences of sizes, each buffer is filled with its own byte and every buffer
// still holds only its byte at the end. Also checks sizes, 8-byte alignment within a slab and
// that large buffers get their own memory.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { SlabAllocator } from '../../codec/slab-allocator.js';
import { fcParams } from '../fc-params.js';

describe('SlabAllocator', () => {
  it('hands out disjoint, exact-size, aligned buffers', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.nat({ max: 64 }), fc.nat({ max: 40_000 })), { maxLength: 60 }), (sizes) => {
        const allocator = new SlabAllocator();
        const buffers = sizes.map((size, i) => {
          const buffer = allocator.allocate(size);
          assert.equal(buffer.byteLength, size);
          if (size <= 32 * 1024) assert.equal(buffer.byteOffset % 8, 0, 'aligned');
          buffer.fill(i & 0xff);
          return buffer;
        });
        buffers.forEach((buffer, i) =>
          assert.ok(
            buffer.every((byte) => byte === (i & 0xff)),
            `buffer ${i} kept its contents`,
          ),
        );
      }),
      fcParams(200),
    );
  });

  it('gives buffers above 32 KiB their own memory', () => {
    const allocator = new SlabAllocator();
    const small = allocator.allocate(100);
    const large = allocator.allocate(40_000);
    assert.notEqual(large.buffer, small.buffer);
    assert.equal(large.byteOffset, 0);
  });
});
