/**
 * A size-class allocator over one WebAssembly.Memory: the storage of tensors, the scratch of
 * every kernel call and the per-thread packing buffers all live here, so kernels address
 * them directly. Used by ./storage.ts (tensor arrays) and ./runtime.ts (scratch).
 *
 * Invariants:
 *  - Blocks are carved from a bump pointer `top` starting at HEAP_BASE (the first 64 KiB are
 *    never handed out, so address 0 is never valid data); `top` only grows.
 *  - A block's size is classSize(request): 64 B, then four classes per power of two
 *    (2^e·{1.25, 1.5, 1.75, 2}), so at most 25 % is wasted and every size is a multiple of
 *    16 (SIMD alignment).
 *  - A freed block goes onto its class's free list and is only ever reused for that class;
 *    blocks are never split or merged. A training loop asks for the same sizes every step, so
 *    after the first steps every request is served from a free list and `top` stops moving.
 *  - Memory grows by at least 25 % at a time and never shrinks (WebAssembly cannot shrink).
 *    With shared memory, views created before a grow stay valid; `owns()` recognises every
 *    buffer object the memory has had.
 */

import type { WasmMemory } from "./module.js";

/** Bytes below which nothing is allocated. */
export const HEAP_BASE = 65536;
const MIN_BLOCK = 64;
const PAGE = 65536;

/** The block size serving a request of `bytes` bytes. */
export function classSize(bytes: number): number {
  if (bytes <= MIN_BLOCK) return MIN_BLOCK;
  const e = 31 - Math.clz32(bytes - 1); // 2^e < bytes ≤ 2^(e+1)
  const step = 2 ** (e - 2);
  return Math.ceil(bytes / step) * step;
}

export interface HeapStats {
  /** Bytes of WebAssembly memory (its current size). */
  memoryBytes: number;
  /** Bytes ever carved from the bump pointer (live + free blocks). */
  committedBytes: number;
  /** Bytes in blocks currently handed out. */
  liveBytes: number;
  liveBlocks: number;
  /** Bytes waiting on free lists. */
  freeBytes: number;
  /** Number of memory.grow calls. */
  grows: number;
}

export class WasmHeap {
  /** The memory's current buffer (views are created on it). */
  buffer: ArrayBufferLike;
  private readonly buffers = new Set<ArrayBufferLike>();
  private top = HEAP_BASE;
  private readonly freeLists = new Map<number, number[]>();
  private readonly sizes = new Map<number, number>();
  private liveBytes = 0;
  private freeBytes = 0;
  private grows = 0;

  /**
   * @param zero fills bytes with zeros (the kernels' memory.fill) for reused blocks.
   * @param maxBytes the memory's maximum size.
   */
  constructor(readonly memory: WasmMemory, readonly maxBytes: number, private readonly zero: (p: number, bytes: number) => void) {
    this.buffer = memory.buffer;
    this.buffers.add(this.buffer);
  }

  /** True when `view` lies in this memory (any buffer object it has had). */
  owns(view: ArrayBufferView): boolean {
    return this.buffers.has(view.buffer);
  }

  get committedBytes(): number {
    return this.top - HEAP_BASE;
  }

  /** A block from the free list of `bytes`' class (its first `bytes` zeroed if asked), or −1. */
  popFree(bytes: number, zero: boolean): number {
    const size = classSize(bytes);
    const list = this.freeLists.get(size);
    if (!list || list.length === 0) return -1;
    const p = list.pop()!;
    this.freeBytes -= size;
    this.markLive(p, size);
    if (zero) this.zero(p, bytes);
    return p;
  }

  /** A fresh block from the bump pointer (zero: memory is new), or −1 past `limit` committed bytes. */
  bump(bytes: number, limit: number): number {
    const size = classSize(bytes);
    const end = this.top + size;
    if (end - HEAP_BASE > limit || end > this.maxBytes) return -1;
    if (end > this.buffer.byteLength) this.grow(end);
    const p = this.top;
    this.top = end;
    this.markLive(p, size);
    return p;
  }

  /** Returns a block to its free list; false (and nothing done) if it is not live. */
  free(p: number): boolean {
    const size = this.sizes.get(p);
    if (size === undefined) return false;
    this.sizes.delete(p);
    this.liveBytes -= size;
    this.freeBytes += size;
    let list = this.freeLists.get(size);
    if (!list) this.freeLists.set(size, (list = []));
    list.push(p);
    return true;
  }

  stats(): HeapStats {
    return {
      memoryBytes: this.buffer.byteLength,
      committedBytes: this.committedBytes,
      liveBytes: this.liveBytes,
      liveBlocks: this.sizes.size,
      freeBytes: this.freeBytes,
      grows: this.grows,
    };
  }

  private markLive(p: number, size: number): void {
    this.sizes.set(p, size);
    this.liveBytes += size;
  }

  /** Grows the memory to hold `end` bytes, by at least 25 % of its size. */
  private grow(end: number): void {
    const have = this.buffer.byteLength;
    const want = Math.min(this.maxBytes, Math.max(end, have + (have >> 2)));
    this.memory.grow(Math.ceil((want - have) / PAGE));
    this.grows++;
    this.buffer = this.memory.buffer;
    this.buffers.add(this.buffer);
  }
}
