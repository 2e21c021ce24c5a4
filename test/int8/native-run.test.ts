/**
 * A whole ResNet-shaped Int8Model on the native backend — 7×7 stride-2 stem, padded 3×3/2 max
 * pool, 3×3 convs at strides 1 and 2, 1×1 stride-2 downsamples, residual adds followed by their
 * ReLU requantization (fused), global average pool, linear — equals the reference kernels value
 * for value, on both ISA paths and at 1–3 threads, at batch 1 and 3. And the run path's reuse of
 * output arrays between runs (src/int8/layer-cache.ts) is invisible: an output returned by one
 * run is not changed by the next, collect/teacher runs get fresh arrays, repeated runs agree.
 */
import { afterAll, describe, expect, it } from "vitest";
import "../../src/index.js";
import { getBackend, setBackend } from "../../src/backend/index.js";
import { nativeStatus, setNativeIsa } from "../../src/backend/native/index.js";
import { nativeInt8Available } from "../../src/backend/native/int8.js";
import { getNumThreads, setNumThreads } from "../../src/backend/wasm/index.js";
import { BatchNorm2d, Conv2d, MaxPool2d, ReLU, Sequential } from "../../src/nn/index.js";
import { resnet20 } from "../../src/nn/models/resnet.js";
import { calibrate } from "../../src/quant/calibrate.js";
import { convert } from "../../src/quant/convert.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { randn } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { expectIdentical } from "../backend/helpers.js";

const before = { backend: getBackend(), threads: getNumThreads() };
afterAll(() => {
  setBackend(before.backend);
  setNumThreads(before.threads);
  setNativeIsa("best");
});
if (!nativeInt8Available()) console.log(`native Int8Model run not tested: ${nativeStatus()}`);

function model() {
  manualSeed(7);
  const net = new Sequential(
    new Conv2d(3, 8, 7, { stride: 2, padding: 3 }), new BatchNorm2d(8), new ReLU(), new MaxPool2d(3, { stride: 2, padding: 1 }),
    resnet20({ width: 8, inChannels: 8, classes: 10 }),
  );
  const qm = prepareQat(net, { qconfig: qconfigs.x86, example: randn([1, 3, 32, 32]) });
  calibrate(qm, [0, 1].map(() => ({ x: randn([4, 3, 32, 32]) })), { batches: 2 });
  return convert(qm, { example: randn([1, 3, 32, 32]) });
}

describe.skipIf(!nativeInt8Available())("Int8Model on the native backend: a ResNet-shaped model", () => {
  const int8 = model();
  const ops = int8.graph.nodes.map((n) => n.op).join(" ");
  const inputs = [1, 3].map((b) => int8.quantizeInput(randn([b, 3, 32, 32])));

  it("has the paths under test: stem, padded pool, downsample, add → requantize", () => {
    expect(ops).toMatch(/^conv2d maxpool2d conv2d/);
    expect(ops).toContain("add requantize");
    const pool = int8.graph.nodes[1] as { padding: number[]; stride: number[] };
    expect([pool.padding, pool.stride]).toEqual([[1, 1], [2, 2]]);
  });

  for (const isa of ["best", "scalar"] as const) {
    it(`[${isa}] every value equals the reference kernels', 1–3 threads, batch 1 and 3`, () => {
      const want = inputs.map((q) => {
        setBackend("ref");
        return int8.runQuantized(q, { collect: true });
      });
      setBackend("native");
      setNativeIsa(isa);
      for (const t of [1, 2, 3]) {
        setNumThreads(t);
        inputs.forEach((q, i) => {
          const fused = int8.runQuantized(q).output; // add → requantize fused, arrays reused
          const all = int8.runQuantized(q, { collect: true }).values!;
          for (const [id, v] of want[i].values!) expectIdentical(all.get(id)!.data, v.data, `${isa}, ${t} threads, batch ${q.shape[0]}: value ${id}`);
          expectIdentical(fused.data, want[i].output.data, `${isa}, ${t} threads, batch ${q.shape[0]}: output`);
        });
      }
      setNativeIsa("best");
    }, 120_000);
  }

  it("reused arrays never show: a returned output survives the next run, repeated runs agree", () => {
    setBackend("native");
    setNumThreads(1);
    const [a, b] = [inputs[1], int8.quantizeInput(randn([3, 3, 32, 32]))];
    const first = int8.runQuantized(a).output;
    const kept = Array.from(first.data);
    const other = int8.runQuantized(b).output;
    expect(Array.from(first.data)).toEqual(kept); // the output array is never lent to the next run
    expect(other.data).not.toBe(first.data);
    expectIdentical(int8.runQuantized(a).output.data, kept, "rerun");
    const y1: Tensor = int8.run(randn([1, 3, 32, 32]));
    const y1Values = Array.from(y1.toFloat32Array());
    int8.run(randn([1, 3, 32, 32]));
    expect(Array.from(y1.toFloat32Array())).toEqual(y1Values);
    // a collect run after plain runs: fresh arrays, the same values
    const c1 = int8.runQuantized(a, { collect: true }).values!;
    int8.runQuantized(b);
    const c2 = int8.runQuantized(a, { collect: true }).values!;
    for (const [id, v] of c1) expectIdentical(c2.get(id)!.data, v.data, `collect value ${id}`);
  }, 120_000);
});
