/**
 * backward() hands consumed gradient arrays back to the allocator (src/autograd/grad-buffers.ts).
 * Checked on every backend: gradients of graphs with shared values, a vjp returning one tensor
 * for two inputs (add) — also while another gradient is summed into one of them (in place only
 * when nothing else refers to it) —, leaves reached twice and accumulation over two backward calls equal
 * the reference backend's bit for bit (these kernels are exact on every backend) — also after
 * many same-sized arrays were allocated and overwritten, which would expose a released array
 * that is still in use; a custom op's gradients are never released; on the backends whose
 * tensors live in wasm memory the release does happen.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import { defineOp } from "../../src/autograd/custom.js";
import { listBackends, wasmMemoryStats } from "../../src/backend/index.js";
import * as B from "../../src/ops/binary.js";
import { sum } from "../../src/ops/reduce.js";
import { relu } from "../../src/ops/unary.js";
import { tensor } from "../../src/tensor/creation.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { describeEachBackend, expectIdentical, newGen, onBackend, randomF32 } from "../backend/helpers.js";

const N = 3000; // 12 kB per array: inside wasm memory on the wasm and native backends

function leafOf(values: Float32Array): Tensor {
  const t = tensor(values.slice(), { shape: [values.length] });
  t.requiresGrad = true;
  return t;
}

/** Allocates and overwrites many arrays of the gradients' size (reuses any block freed too early). */
function churn(): void {
  for (let i = 0; i < 40; i++) B.add(tensor(new Float32Array(N).fill(-7), { shape: [N] }), 1);
}

/** a, b, c leaves; b used three times, a vjp (add) returning one tensor for two inputs, relu masks. */
function gradsOf(seed: number, twice: boolean): Float32Array[] {
  const gen = newGen(seed);
  const [a, b, c] = [leafOf(randomF32(gen, N)), leafOf(randomF32(gen, N)), leafOf(randomF32(gen, N))];
  const run = (): void => {
    const s = B.add(a, b);
    const t = B.mul(relu(s), B.sub(b, c));
    sum(B.add(B.mul(t, t), B.mul(s, b))).backward();
    // add's one gradient tensor pending for a and c, then another gradient summed into c's
    const y = B.add(a, c);
    sum(B.add(B.mul(relu(c), 3), B.add(B.mul(y, y), a))).backward();
  };
  run();
  if (twice) run();
  churn();
  return [a, b, c].map((x) => Float32Array.from(x.grad!.data as Float32Array));
}

describeEachBackend("backward releases consumed gradients", (backend) => {
  it("gradients equal the reference backend's, also accumulated over two calls and after churn", () => {
    for (const twice of [false, true]) {
      const got = gradsOf(5, twice);
      const want = onBackend("ref", () => gradsOf(5, twice));
      got.forEach((g, i) => expectIdentical(g, want[i], `${backend} grad ${i} (twice ${twice})`));
    }
  });

  it("two leaves fed one gradient tensor (add) get separate .grad arrays", () => {
    const gen = newGen(7);
    const a = leafOf(randomF32(gen, N)), b = leafOf(randomF32(gen, N));
    sum(B.mul(B.add(a, b), 3)).backward();
    expect(a.grad!.data).not.toBe(b.grad!.data);
    (a.grad!.data as Float32Array).fill(0);
    churn();
    expect(Array.from(b.grad!.data.subarray(0, 5))).toEqual([3, 3, 3, 3, 3]);
  });

  it("a custom op's incoming and returned gradients are never released", () => {
    const kept: Tensor[] = [];
    const twiceOp = defineOp<null>({
      name: "keepsGradients",
      forward: ([x]) => ({ output: B.mul(x, 2), saved: null }),
      backward: (g) => {
        const gx = B.mul(g, 2);
        kept.push(g, gx);
        return [gx];
      },
    });
    const x = leafOf(randomF32(newGen(9), N));
    const y = twiceOp(B.mul(x, 1));
    sum(B.mul(B.add(y, 1), B.add(y, 1))).backward();
    const copies = kept.map((t) => Float32Array.from(t.data as Float32Array));
    churn();
    kept.forEach((t, i) => expectIdentical(t.data, copies[i], `kept ${i}`));
  });
});

describe("backward on a backend with wasm tensor memory", () => {
  it("returns blocks to the allocator while it runs", () => {
    const name = ["native", "wasm"].find((b) => listBackends().includes(b));
    if (!name) return void console.log("no wasm-memory backend here: skipped");
    onBackend(name, () => {
      const before = wasmMemoryStats()!.released;
      gradsOf(3, false);
      expect(wasmMemoryStats()!.released).toBeGreaterThan(before + 5);
    });
  });
});
