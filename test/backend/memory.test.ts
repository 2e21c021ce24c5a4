/**
 * Memory of the wasm backend. The allocator (src/backend/wasm/heap.ts) on its own memory:
 * size classes, free-list reuse with zeroing, explicit release, the limit. Tensor storage
 * (storage.ts) through ops: op outputs live in wasm memory, and a conv training loop run for
 * many synchronous steps — the worst case, since finalizers never get an event-loop turn —
 * reaches a plateau: WebAssembly memory and committed bytes stop growing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backward } from "../../src/autograd/backward.js";
import { getBackend, setBackend } from "../../src/backend/index.js";
import { HEAP_BASE, WasmHeap, classSize } from "../../src/backend/wasm/heap.js";
import { configureWasmMemory, releaseArray, wasmMemoryStats } from "../../src/backend/wasm/index.js";
import type { WasmMemory } from "../../src/backend/wasm/module.js";
import { TensorStorage } from "../../src/backend/wasm/storage.js";
import { conv2d } from "../../src/ops/conv.js";
import { sum } from "../../src/ops/reduce.js";
import { relu } from "../../src/ops/unary.js";
import { randn } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { manualSeed } from "../../src/tensor/random.js";

/** The WebAssembly.Memory constructor (the project's lib has no DOM/WebAssembly types). */
const Memory = (globalThis as unknown as { WebAssembly: { Memory: new (d: object) => WasmMemory } }).WebAssembly.Memory;

function freshHeap(maxPages = 64): WasmHeap {
  const memory = new Memory({ initial: 2, maximum: maxPages, shared: true });
  return new WasmHeap(memory, maxPages * 65536, (p, n) => new Uint8Array(memory.buffer, p, n).fill(0));
}

describe("size-class allocator", () => {
  it("classes: ≤ 25 % waste, multiples of 16, monotone", () => {
    let prev = 0;
    let bad = 0;
    for (let b = 1; b < 3_000_000; b += 13) {
      const s = classSize(b);
      if (s < b || s % 16 !== 0 || s < prev || (b > 64 && s > 1.25 * b + 16)) bad++;
      prev = s;
    }
    expect(bad).toBe(0);
  });

  it("reuses a freed block of the same class, zeroed; never hands out address 0", () => {
    const heap = freshHeap();
    const p = heap.bump(1000, Infinity);
    expect(p).toBeGreaterThanOrEqual(HEAP_BASE);
    new Uint8Array(heap.buffer, p, 1000).fill(9);
    expect(heap.free(p)).toBe(true);
    expect(heap.free(p)).toBe(false);
    expect(heap.popFree(4000, true)).toBe(-1);
    const q = heap.popFree(990, true);
    expect(q).toBe(p);
    expect(new Uint8Array(heap.buffer, q, 990).every((v) => v === 0)).toBe(true);
  });

  it("grows the memory, keeps old views valid, and respects the limit", () => {
    const heap = freshHeap();
    const p = heap.bump(100, Infinity);
    const view = new Float32Array(heap.buffer, p, 25).fill(3);
    const big = heap.bump(1 << 20, Infinity);
    expect(big).toBeGreaterThan(0);
    expect(heap.stats().grows).toBeGreaterThan(0);
    expect(heap.owns(view)).toBe(true);
    expect(view[24]).toBe(3);
    expect(heap.bump(1 << 20, 1 << 20)).toBe(-1);
    expect(heap.bump(64 << 20, Infinity)).toBe(-1);
    expect(heap.owns(new Float32Array(4))).toBe(false);
  });

  it("storage: allocates zeroed views, releases explicitly, declines past the limit", () => {
    const heap = freshHeap();
    const storage = new TensorStorage(heap, null, { limitBytes: 64 * 1024, minArrayBytes: 64 });
    expect(storage.allocate("float32", 4)).toBeNull();
    expect(storage.allocate("float64", 100)).toBeNull();
    const a = storage.allocate("float32", 1000)!;
    expect(heap.owns(a)).toBe(true);
    a.fill(5);
    expect(storage.release(a)).toBe(true);
    expect(storage.release(a)).toBe(false);
    const b = storage.allocate("int32", 1000)!;
    expect(b.byteOffset).toBe(a.byteOffset);
    expect(b.every((v) => v === 0)).toBe(true);
    const held = [];
    for (let i = 0; i < 40; i++) held.push(storage.allocate("uint8", 4000));
    expect(held.some((x) => x === null)).toBe(true);
    expect(storage.stats().declined).toBeGreaterThan(0);
    expect(heap.committedBytes).toBeLessThanOrEqual(64 * 1024);
  });
});

describe("tensor storage through ops", () => {
  let before = "ref";
  beforeAll(() => {
    before = getBackend();
    setBackend("wasm");
  });
  afterAll(() => setBackend(before));

  it("op outputs live in wasm memory; releaseArray frees them", () => {
    const x = randn([8, 3, 10, 10]);
    expect(x.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    const y = relu(x);
    expect(y.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(releaseArray(y.data)).toBe(true);
    expect(releaseArray(new Float32Array(10))).toBe(false);
  });

  it("memory plateaus over many synchronous training steps (conv2d + relu + sum + backward)", () => {
    manualSeed(0);
    // Synchronous reclamation switched on explicitly (importing the package sets no V8 flag;
    // otherwise it switches on lazily under memory pressure, stranding the arrays before that).
    configureWasmMemory({ gcThresholdBytes: 32 << 20, gcThresholdMaxBytes: 32 << 20, syncReclaim: true });
    const x = randn([16, 3, 16, 16]);
    const w = randn([8, 3, 3, 3]).requiresGrad_();
    const step = () => {
      const loss = sum(relu(conv2d(x, w, null, { padding: 1 })));
      backward(loss);
      noGrad(() => {
        const g = w.grad!.data;
        for (let i = 0; i < g.length; i++) w.data[i] -= 1e-4 * g[i];
      });
      w.grad = null;
    };
    for (let i = 0; i < 200; i++) step();
    const early = wasmMemoryStats()!;
    for (let i = 0; i < 800; i++) step();
    const late = wasmMemoryStats()!;
    expect(late.memoryBytes).toBe(early.memoryBytes);
    expect(late.committedBytes).toBeLessThanOrEqual(early.committedBytes * 1.05 + (1 << 20));
    expect(late.declined).toBe(0);
    // The 800 steps placed every output in wasm memory: ≥ 16 KiB conv outputs alone, per step,
    // add up to over twice the committed bytes, so the plateau above is reuse (whether the
    // arrays came back by release or by finalizer, which depends on the GC, is not asserted).
    expect(late.allocations - early.allocations).toBeGreaterThanOrEqual(800 * 4);
    expect(800 * 16 * 8 * 16 * 16 * 4).toBeGreaterThan(2 * late.committedBytes);
    configureWasmMemory({ gcThresholdBytes: 256 << 20, gcThresholdMaxBytes: 1024 << 20 });
  });
});
