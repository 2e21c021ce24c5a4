/**
 * Which gradient arrays backward() (./backward.ts) may hand back to the storage allocator
 * before it returns, so the next op's output reuses a block that is still in cache instead of
 * one the garbage collector returns much later (cold, and a full collection's worth of work).
 *
 * An array is released only when all of these hold:
 *  - the storage allocator (the wasm backend's tensor memory, `setArrayAllocator`) created it
 *    while this backward ran — so nothing outside this call (a saved forward tensor, a
 *    parameter, the user's seed gradient) can be it;
 *  - no pending gradient in backward's map refers to it (counted per array: a vjp may return
 *    the same tensor for several inputs, as add's does) or overlaps its bytes;
 *  - no custom op (`defineOp`, ./custom.ts) received or returned it: their backward is user
 *    code that may keep a reference.
 * A leaf's gradient that satisfies the same conditions becomes its `.grad` without a copy, and a
 * pending gradient referred to by its own entry only takes the next sum in place (`exclusive`).
 * Forward values a module marks with `markInternal` (values it made and passed only to its own
 * children, which keep no reference: ResNet's BasicBlock) are released too, once the node that
 * produced them has run its vjp — every reader of a value runs its vjp before the value's own node,
 * so nothing on the tape reads it afterwards — unless the graph is retained.
 * On the reference backend (no allocator) nothing is tracked and nothing changes.
 */
import { releaseArray } from "../backend/wasm/index.js";
import { type AnyArray, setArrayAllocator } from "../tensor/dtype.js";
import type { GradNode } from "../tensor/grad-mode.js";
import type { Tensor } from "../tensor/tensor.js";

const internal = new WeakSet<Tensor>();

/**
 * Declares forward values that nothing outside the autograd tape will read again (the caller made
 * them and handed them only to modules that keep no reference), so backward may free their
 * storage after their producing node's vjp.
 */
export function markInternal(...ts: Tensor[]): void {
  for (const t of ts) internal.add(t);
}

/** Grad nodes recorded by defineOp: their gradients are never released or adopted. */
export const customNodes = new WeakSet<GradNode>();

export class GradBuffers {
  private readonly fresh = new WeakSet<AnyArray>();
  private readonly uses = new Map<AnyArray, number>();
  private readonly restore: () => void;

  constructor() {
    const inner = setArrayAllocator(null);
    if (inner) {
      setArrayAllocator((dtype, n, zero) => {
        const a = inner(dtype, n, zero);
        if (a) this.fresh.add(a);
        return a;
      });
    }
    this.restore = () => void setArrayAllocator(inner);
  }

  /** Puts the allocator back (call once, in a finally). */
  close(): void {
    this.restore();
  }

  /** A pending gradient now refers to t's array (+1) or no longer does (−1). */
  count(t: Tensor, delta: 1 | -1): void {
    if (!this.fresh.has(t.data)) return;
    const n = (this.uses.get(t.data) ?? 0) + delta;
    if (n > 0) this.uses.set(t.data, n);
    else this.uses.delete(t.data);
  }

  /** Never release or adopt t's array (a custom op saw it). */
  keep(t: Tensor): void {
    this.fresh.delete(t.data);
    this.uses.delete(t.data);
  }

  /** True when t's array is unreferenced and ours: it may be freed or given away. */
  private free(t: Tensor, pending: Iterable<Tensor>): boolean {
    const a = t.data;
    if (!this.fresh.has(a) || this.uses.has(a)) return false;
    for (const p of pending) if (p.data !== a && overlaps(p.data, a)) return false;
    return true;
  }

  /**
   * True when the pending gradient t (counted once, in `pending`) is referenced by nothing else,
   * so a sum into it may overwrite it in place; `other` must not share its bytes.
   */
  exclusive(t: Tensor, other: Tensor, pending: Iterable<Tensor>): boolean {
    const a = t.data;
    if (!this.fresh.has(a) || this.uses.get(a) !== 1 || overlaps(a, other.data)) return false;
    for (const p of pending) if (p !== t && (p.data === a || overlaps(p.data, a))) return false;
    return true;
  }

  /** Returns t's block to the allocator if nothing can read it any more. */
  release(t: Tensor, pending: Iterable<Tensor>): void {
    if (!this.free(t, pending)) return;
    this.fresh.delete(t.data);
    releaseArray(t.data);
  }

  /** Frees forward value t's storage if it was marked internal and no pending gradient shares it. */
  releaseInternal(t: Tensor, pending: Iterable<Tensor>): void {
    if (!internal.has(t)) return;
    internal.delete(t);
    for (const p of pending) if (p.data === t.data || overlaps(p.data, t.data)) return;
    releaseArray(t.data);
  }

  /** True (and t's array is no longer tracked) when a leaf may take t's array as its .grad. */
  adopt(t: Tensor, pending: Iterable<Tensor>): boolean {
    if (!this.free(t, pending)) return false;
    this.fresh.delete(t.data);
    return true;
  }
}

function overlaps(a: AnyArray, b: AnyArray): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}
