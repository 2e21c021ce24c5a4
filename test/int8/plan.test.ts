/**
 * Int8Model's compiled native runs (src/int8/plan.ts, native/int8-plan.c) equal the
 * layer-by-layer path and the reference kernels bit for bit: SmallCNN (conv + pool fused,
 * linear, uint8), a ResNet-shaped net with int8 activations (strided and 1×1 convs, padded max
 * pool, add → requantize, flatten, linear), an MLP on [N, T, K] tokens, at several batch sizes
 * with shape changes between runs, at 1 and 3 threads. The C quantize / dequantize equal
 * src/int8/kernels/quantize.ts on ties, infinities, huge and subnormal values, for uint8 and int8.
 * Misuse meets the same typed errors as before (shape, dtype, NaN, input count); models or
 * backends the plan does not cover run layer by layer; the native entry points refuse bad specs,
 * foreign objects and detached weights with errors instead of touching memory.
 */
import { afterAll, describe, expect, it } from "vitest";
import "../../src/index.js";
import { getBackend, setBackend } from "../../src/backend/index.js";
import { addon } from "../../src/backend/native/addon.js";
import { setNativeIsa } from "../../src/backend/native/index.js";
import { nativeInt8Preferred } from "../../src/backend/native/int8.js";
import { getNumThreads, setNumThreads } from "../../src/backend/wasm/index.js";
import { DataLoader } from "../../src/data/loader.js";
import { fashionMnistSample } from "../../src/datasets/fashion-mnist-sample.js";
import type { Int8Graph, QParams } from "../../src/int8/graph.js";
import { Int8Model } from "../../src/int8/model.js";
import { mobilenetV2Small } from "../../src/nn/models/mobilenet.js";
import { BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from "../../src/nn/index.js";
import { BasicBlock } from "../../src/nn/models/resnet.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import type { Module } from "../../src/nn/module.js";
import { calibrate, convert, disableObserver, prepareQat, qconfigs } from "../../src/quant/index.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { randn } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { expectIdentical } from "../backend/helpers.js";
import { expectError } from "../expect-error.js";

const before = { backend: getBackend(), threads: getNumThreads() };
afterAll(() => {
  setBackend(before.backend);
  setNumThreads(before.threads);
  setNativeIsa("best");
});
const planned = addon !== null && nativeInt8Preferred() && typeof (addon as unknown as Record<string, unknown>).int8PlanRun === "function";
if (!planned) console.log("compiled Int8Model runs not tested: no native addon with the AVX2 int8 kernels");

const sample = fashionMnistSample();

function build(make: () => Module, qconfig: typeof qconfigs.x86, shape: number[]): Int8Model {
  manualSeed(3);
  const qm = prepareQat(make(), { qconfig, example: randn([2, ...shape]) });
  calibrate(qm, [0, 1].map(() => ({ x: randn([4, ...shape]) })), { batches: 2 });
  disableObserver(qm);
  return convert(qm, { example: randn([1, ...shape]) });
}

const resnetish = () => new Sequential(
  new Conv2d(3, 8, 3, { stride: 2, padding: 1 }), new BatchNorm2d(8), new ReLU(), new MaxPool2d(3, { stride: 2, padding: 1 }),
  new BasicBlock(8, 8), new BasicBlock(8, 16, 2), new Flatten(), new Linear(64, 10),
);

/** Reference outputs on the reference backend, for the given inputs. */
function onRef(int8: Int8Model, xs: Tensor[]): Float32Array[] {
  setBackend("ref");
  return xs.map((x) => int8.run(x).toFloat32Array());
}

describe.skipIf(!planned)("Int8Model: compiled native runs equal the layer-by-layer path", () => {
  const cases: [string, () => Int8Model, number[], string][] = [
    ["SmallCNN x86 (uint8, conv + pool fused, linear)", () => {
      manualSeed(0);
      const qm = prepareQat(smallCnn(), { qconfig: qconfigs.x86 });
      calibrate(qm, new DataLoader(sample.train, { batchSize: 32, seed: 1 }), { batches: 2 });
      disableObserver(qm);
      return convert(qm, { example: sample.test.getBatch([0]).x });
    }, [1, 28, 28], "conv2d maxpool2d conv2d maxpool2d flatten linear linear"],
    ["ResNet-shaped tflite (int8, padded pool, add → requantize)", () => build(resnetish, qconfigs.tflite, [3, 16, 16]), [3, 16, 16], "add requantize"],
    ["odd conv output under a fused 2×2 pool (15×15 → 7×7), onednn preset", () => build(() => new Sequential(
      new Conv2d(2, 4, 3, { padding: 1 }), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(4 * 7 * 7, 6),
    ), qconfigs.onednn, [2, 15, 15]), [2, 15, 15], "conv2d maxpool2d flatten linear"],
    ["MLP on [N, 4, 12] tokens (linear on rank 3)", () => build(() => new Sequential(new Linear(12, 16), new ReLU(), new Linear(16, 5)), qconfigs.x86, [4, 12]), [4, 12], "linear linear"],
  ];
  for (const [name, make, shape, ops] of cases) {
    it(`${name}: batches 1, 3, 1, 2 at 1 and 3 threads, as the reference`, () => {
      const int8 = make();
      expect(int8.graph.nodes.map((n) => n.op).join(" ")).toContain(ops);
      manualSeed(11);
      const xs = [1, 3, 1, 2].map((b) => (shape[1] === 28 ? sample.test.getBatch(Array.from({ length: b }, (_, i) => 5 * i + b)).x : randn([b, ...shape])));
      const want = onRef(int8, xs);
      setBackend("native");
      for (const t of [1, 3]) {
        setNumThreads(t);
        xs.forEach((x, i) => {
          const first = int8.run(x); // layer by layer the first time a shape is seen
          expect(int8.compiledFor(x.shape), `${t} threads: batch ${x.shape[0]} compiled`).toBe(true);
          const again = int8.run(x);
          expect(again.shape).toEqual(first.shape);
          expectIdentical(first.toFloat32Array(), want[i], `${t} threads, batch ${x.shape[0]}: layer by layer`);
          expectIdentical(again.toFloat32Array(), want[i], `${t} threads, batch ${x.shape[0]}: compiled`);
        });
      }
      // the intermediate values of the layer path are untouched by compiled runs
      const q = int8.quantizeInput(xs[1]);
      setBackend("ref");
      const ref = int8.runQuantized(q, { collect: true }).values!;
      setBackend("native");
      int8.run(xs[0]);
      const nat = int8.runQuantized(q, { collect: true }).values!;
      for (const [id, v] of ref) expectIdentical(nat.get(id)!.data, v.data, `value ${id}`);
    }, 120_000);
  }

  it("an output is a fresh array: the next compiled run does not change it", () => {
    const int8 = build(resnetish, qconfigs.x86, [3, 16, 16]);
    setBackend("native");
    setNumThreads(1);
    const [a, b] = [randn([2, 3, 16, 16]), randn([2, 3, 16, 16])];
    int8.run(a);
    const y = int8.run(a);
    const kept = Array.from(y.toFloat32Array());
    const z = int8.run(b);
    expect(z.data).not.toBe(y.data);
    expect(Array.from(y.toFloat32Array())).toEqual(kept);
  });

  it("models and backends without a plan run layer by layer: depthwise convs, the wasm backend, the scalar ISA, float64 input", () => {
    const mobile = build(() => mobilenetV2Small({ widthMult: 0.5 }), qconfigs.x86, [1, 28, 28]);
    const x = randn([1, 1, 28, 28]);
    const [want] = onRef(mobile, [x]);
    setBackend("native");
    mobile.run(x);
    expect(mobile.compiledFor(x.shape)).toBe(false);
    expectIdentical(mobile.run(x).toFloat32Array(), want, "mobilenet");
    const int8 = build(resnetish, qconfigs.x86, [3, 16, 16]);
    const y = randn([1, 3, 16, 16]);
    const [ref] = onRef(int8, [y]);
    setBackend("native");
    int8.run(y);
    expect(int8.compiledFor(y.shape)).toBe(true);
    setBackend("wasm");
    expect(int8.compiledFor(y.shape)).toBe(false);
    expectIdentical(int8.run(y).toFloat32Array(), ref, "wasm");
    setBackend("native");
    setNativeIsa("scalar");
    expect(int8.compiledFor(y.shape)).toBe(false);
    expectIdentical(int8.run(y).toFloat32Array(), ref, "scalar ISA");
    setNativeIsa("best");
    const y64 = new Tensor(Float64Array.from(y.toFloat32Array()), y.shape);
    expectIdentical(int8.run(y64).toFloat32Array(), ref, "float64 input");
  });

  it("more shapes than it keeps: the oldest is dropped and recompiled, results unchanged", () => {
    const int8 = build(() => new Sequential(new Linear(12, 16), new ReLU(), new Linear(16, 5)), qconfigs.x86, [12]);
    const xs = [1, 2, 3, 4, 5, 6].map((b) => randn([b, 12]));
    const want = onRef(int8, xs);
    setBackend("native");
    for (const round of [0, 1]) {
      xs.forEach((x, i) => {
        int8.run(x);
        expectIdentical(int8.run(x).toFloat32Array(), want[i], `round ${round}, batch ${i + 1}`);
      });
    }
    expect(int8.compiledFor([1, 12])).toBe(false); // dropped for the last four
    expect(int8.compiledFor([6, 12])).toBe(true);
  });

  it("misuse after a shape is compiled: the layer path's typed errors, word for word", () => {
    const int8 = build(resnetish, qconfigs.x86, [3, 16, 16]);
    setBackend("native");
    const x = randn([1, 3, 16, 16]);
    int8.run(x);
    expect(int8.compiledFor(x.shape)).toBe(true);
    expectError(() => int8.run(randn([1, 3, 16, 8])), ShapeError, "Int8Model: input shape [1, 3, 16, 8] does not match the model's [N, 3, 16, 16]");
    const nan = x.toFloat32Array().slice();
    nan[17] = NaN;
    expectError(() => int8.run(new Tensor(nan, x.shape)), ValueError, "quantizeTensor: NaN at index 17 cannot be quantized");
    expectError(() => int8.run(new Tensor(new Int32Array(768), x.shape)), DTypeError, "Int8Model.run: input must be float32 or float64, got int32");
    expectError(() => int8.run(x, x), ValueError, "Int8Model.run: the model takes 1 input(s), got 2");
    expectError(() => int8.run(null as unknown as Tensor), ValueError, "Int8Model.run: the input must be a Tensor, got null");
    expect(int8.compiledFor(x.shape)).toBe(true); // and the plan still runs afterwards
  });
});

/** A model that only quantizes and dequantizes (input → flatten → output): the plan's C conversions alone. */
function boundaryModel(q: QParams): Int8Model {
  const graph: Int8Graph = {
    input: { id: "x", shape: [-1, 5, 7], q },
    output: "y",
    values: [{ id: "x", shape: [-1, 5, 7], q }, { id: "y", shape: [-1, 35], q }],
    nodes: [{ op: "flatten", name: "flat", inputs: ["x"], output: "y", startDim: 1 }],
    meta: {},
  };
  return new Int8Model(graph, new Map());
}

describe.skipIf(!planned)("the plan's quantize and dequantize equal src/int8/kernels/quantize.ts", () => {
  const special = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0, -0, Infinity, -Infinity, 1e30, -1e30, 1e-40, -1e-40, 3.4028234663852886e38, 127.5, 128.5, -128.5, 255.5, 256.5];
  const qs: QParams[] = [
    { scale: 0.5, zeroPoint: 0, dtype: "uint8", qmin: 0, qmax: 255 },
    { scale: 1, zeroPoint: 64, dtype: "uint8", qmin: 0, qmax: 127 },
    { scale: 0.25, zeroPoint: -3, dtype: "int8", qmin: -128, qmax: 127 },
    { scale: 0.1, zeroPoint: 5, dtype: "int8", qmin: -127, qmax: 127 },
    { scale: 0.022305993363261223, zeroPoint: 36, dtype: "uint8", qmin: 0, qmax: 127 },
  ];
  for (const q of qs) {
    it(`scale ${q.scale}, zero point ${q.zeroPoint}, ${q.dtype} [${q.qmin}, ${q.qmax}]: ties, ±∞, huge, subnormal, random`, () => {
      const m = boundaryModel(q);
      manualSeed(2);
      const r = randn([4, 5, 7]).toFloat32Array();
      const data = Float32Array.from({ length: 4 * 35 }, (_, i) => (i < special.length ? special[i] : i < 2 * special.length ? special[i - special.length] * q.scale : r[i] * 40 * q.scale));
      const x = new Tensor(data, [4, 5, 7]);
      setBackend("ref");
      const want = m.run(x).toFloat32Array();
      setBackend("native");
      for (const t of [1, 2]) {
        setNumThreads(t);
        m.run(x);
        expect(m.compiledFor(x.shape)).toBe(true);
        expectIdentical(m.run(x).toFloat32Array(), want, `${t} threads`);
        for (const b of [1, 3]) {
          const part = new Tensor(data.slice(0, b * 35), [b, 5, 7]);
          m.run(part);
          expectIdentical(m.run(part).toFloat32Array(), want.slice(0, b * 35), `batch ${b}`);
        }
        // ties (x / scale = ±0.5, ±1.5, ±2.5) in the vector loop's tail, elements 32–34
        const tail = new Tensor(Float32Array.from({ length: 35 }, (_, i) => special[(i + 8) % 20] * q.scale), [1, 5, 7]);
        setBackend("ref");
        const tailWant = m.run(tail).toFloat32Array();
        setBackend("native");
        m.run(tail);
        expectIdentical(m.run(tail).toFloat32Array(), tailWant, "ties in the tail");
      }
    });
  }
});

describe.skipIf(!planned)("the u8 × s8 linear at batch 1 (native/int8-plan-gemv.c)", () => {
  // a 40 → 6 linear on [0, 127] inputs with extreme weights (pairs of 127 · −128 near vpmaddubsw's int16 limit)
  const q = (zp: number, qmax = 127): QParams => ({ scale: 1, zeroPoint: zp, dtype: "uint8", qmin: 0, qmax });
  function linearModel(inQmax: number): Int8Model {
    const graph: Int8Graph = {
      input: { id: "x", shape: [-1, 40], q: q(3, inQmax) },
      output: "y",
      values: [{ id: "x", shape: [-1, 40], q: q(3, inQmax) }, { id: "y", shape: [-1, 6], q: q(100, 255) }],
      nodes: [{
        op: "linear", name: "fc", inputs: ["x"], output: "y", weight: "w", wShape: [6, 40], bias: "b",
        requant: { multiplier: "m", shift: "s" }, clamp: [0, 255], wScales: [1, 1, 1, 1, 1, 1], weightBits: 8,
      }],
      meta: {},
    };
    const w = Int8Array.from({ length: 240 }, (_, i) => {
      const k = i % 40;
      return [127, -128, k % 2 ? 127 : -128, k < 20 ? 127 : -128, k % 3 ? 5 : -7, [-128, 127, -128, -128, 127, 127, 5, -7][k % 8]][Math.floor(i / 40)];
    });
    return new Int8Model(graph, new Map<string, Int8Array | Int32Array>([
      ["w", w], ["b", Int32Array.of(-5, 17, 0, 1000, -1000, 3)], ["m", Int32Array.of(1 << 30)], ["s", Int32Array.of(-12)],
    ]));
  }
  it("extreme weights at 7-bit inputs, and inputs past 127 (the int16 kernel then), as the reference", () => {
    for (const inQmax of [127, 255]) {
      const m = linearModel(inQmax);
      for (const rows of [[127, 127, 127, 127], [0, 127, 64, 1], [127, 128, 200, 255]]) {
        const x = new Tensor(Float32Array.from({ length: 40 }, (_, i) => rows[i % 4] - 3), [1, 40]);
        setBackend("ref");
        const want = m.run(x).toFloat32Array();
        setBackend("native");
        m.run(x);
        expect(m.compiledFor(x.shape)).toBe(true);
        expectIdentical(m.run(x).toFloat32Array(), want, `qmax ${inQmax}, inputs ${rows}`);
      }
    }
  });
});

describe.skipIf(!planned)("the native entry points check what they are given", () => {
  const native = addon as unknown as {
    int8PlanCreate(head: Int32Array, bufs: Int32Array, steps: Int32Array, params: Int32Array, scales: Float32Array, weights: Int32Array[], bytes: Int8Array[]): object;
    int8PlanRun(plan: object, x: Float32Array, y: Float32Array, threads: number): number;
    qpackWords(oc: number, k: number): number;
  };
  // one linear step: buffer 0 (1 × 8 uint8) → buffer 1 (1 × 4 uint8), weights [4, 8]
  const spec = (m = 1, bufLen = 8) => {
    const s = new Int32Array(40);
    s.set([2, 0, 0, 1, 0, 0, m, 8, 4, -1]);
    s.set([0, 0, 0, 255, -1, 0, 1, 4], 24);
    return { head: Int32Array.of(2, 1, 1, 0, 0, 255, 1, 0), bufs: Int32Array.of(bufLen, 1, 4, 1), steps: s, params: Int32Array.of(1 << 30, -2), scales: Float32Array.of(1, 1) };
  };
  const weights = () => new Int32Array(native.qpackWords(4, 8));
  const create = (s: ReturnType<typeof spec>, w = [weights()], bytes: Int8Array[] = []) => native.int8PlanCreate(s.head, s.bufs, s.steps, s.params, s.scales, w, bytes);

  it("a valid spec runs; the NaN index comes back", () => {
    const plan = create(spec());
    expect(native.int8PlanRun(plan, new Float32Array(8).fill(1), new Float32Array(4), 1)).toBe(-1);
    const x = new Float32Array(8);
    x[5] = NaN;
    expect(native.int8PlanRun(plan, x, new Float32Array(4), 1)).toBe(5);
  });

  it("bad specs are RangeErrors naming the fault", () => {
    expect(() => create(spec(2))).toThrow(/step 0: a linear step's buffers are too small/);
    expect(() => create(spec(1, 0))).toThrow(/buffer 0 is empty/);
    const s = spec();
    s.steps[29] = 7; // the multiplier's offset past the parameters
    expect(() => create(s)).toThrow(/outside the parameter array/);
    expect(() => create(spec(), [new Int32Array(3)])).toThrow(/weight 0 is not an Int32Array of at least/);
    expect(() => create(spec(), [])).toThrow(/header does not match/);
  });

  it("runs refuse foreign objects, wrong lengths and detached weights", () => {
    const w = weights();
    const plan = create(spec(), [w]);
    expect(() => native.int8PlanRun({}, new Float32Array(8), new Float32Array(4), 1)).toThrow(TypeError);
    expect(() => native.int8PlanRun(plan, new Float32Array(7), new Float32Array(4), 1)).toThrow(/input or output length/);
    expect(() => native.int8PlanRun(plan, new Float32Array(8), new Float32Array(5), 1)).toThrow(/input or output length/);
    structuredClone(w.buffer, { transfer: [w.buffer] }); // detaches w
    expect(() => native.int8PlanRun(plan, new Float32Array(8), new Float32Array(4), 1)).toThrow(/weight 0 was detached/);
  });
});
