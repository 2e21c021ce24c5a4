/**
 * Wasm conv2d kernels (forward, backward input, backward weight) vs the reference on seeded
 * random geometries: odd sizes, stride, padding, dilation, groups (incl. depthwise), the
 * 1×1 pointwise path, and inputs both outside and inside wasm memory. Tolerance: ./helpers.ts,
 * with the scale computed by the reference kernel on absolute values.
 */
import { describe, it } from "vitest";
import type { Conv2dGeom } from "../../src/backend/kernels.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { absOf, expectIdentical, expectNear, newGen, randomF32, wasmCopy, wasmTable } from "./helpers.js";
import { type ConvSpec, geomOf } from "./conv-geom.js";

const wasm = wasmTable();

const SPECS: [string, ConvSpec][] = [
  ["SmallCNN conv1 (1→16, 3×3 p1)", { n: 3, c: 1, h: 28, w: 28, oc: 16, k: [3, 3], pad: [1, 1] }],
  ["SmallCNN conv2 (16→32, 3×3 p1)", { n: 2, c: 16, h: 14, w: 14, oc: 32, k: [3, 3], pad: [1, 1] }],
  ["odd sizes, stride 2, asymmetric pad", { n: 3, c: 5, h: 11, w: 9, oc: 7, k: [3, 2], stride: [2, 1], pad: [1, 0] }],
  ["dilation 2, stride 3", { n: 2, c: 3, h: 13, w: 17, oc: 4, k: [3, 3], stride: [3, 2], pad: [2, 1], dil: [2, 2] }],
  ["groups 3", { n: 2, c: 6, h: 9, w: 7, oc: 9, k: [3, 3], pad: [1, 1], groups: 3 }],
  ["depthwise", { n: 2, c: 8, h: 10, w: 10, oc: 8, k: [3, 3], pad: [1, 1], groups: 8 }],
  ["pointwise 1×1", { n: 3, c: 12, h: 5, w: 7, oc: 10, k: [1, 1] }],
  ["1×1 stride 2", { n: 2, c: 4, h: 7, w: 7, oc: 3, k: [1, 1], stride: [2, 2] }],
  ["kernel larger than padded input rows", { n: 1, c: 2, h: 3, w: 12, oc: 3, k: [5, 3], pad: [2, 0] }],
  ["large K (chunked columns)", { n: 1, c: 64, h: 20, w: 20, oc: 8, k: [5, 5], pad: [2, 2] }],
];

function sample(g: Conv2dGeom, seed: number) {
  const gen = newGen(seed);
  return {
    x: randomF32(gen, g.n * g.c * g.h * g.w),
    w: randomF32(gen, g.oc * (g.c / g.groups) * g.kh * g.kw),
    dy: randomF32(gen, g.n * g.oc * g.oh * g.ow),
  };
}

function checkConv(g: Conv2dGeom, seed: number, place: (a: Float32Array) => Float32Array): void {
  const { x, w, dy } = sample(g, seed);
  const [xs, ws, dys] = [place(x), place(w), place(dy)];
  const ySize = g.n * g.oc * g.oh * g.ow;
  const got = place(new Float32Array(ySize).fill(7)), want = new Float32Array(ySize), scale = new Float32Array(ySize);
  wasm.conv2d(xs, ws, got, g);
  refKernels.conv2d(x, w, want, g);
  refKernels.conv2d(absOf(x), absOf(w), scale, g);
  expectNear(got, want, scale);

  const dx = place(new Float32Array(x.length).fill(7)), dxRef = new Float32Array(x.length), dxScale = new Float32Array(x.length);
  wasm.conv2dBackwardInput(dys, ws, dx, g);
  refKernels.conv2dBackwardInput(dy, w, dxRef, g);
  refKernels.conv2dBackwardInput(absOf(dy), absOf(w), dxScale, g);
  expectNear(dx, dxRef, dxScale);

  const dw = place(new Float32Array(w.length).fill(7)), dwRef = new Float32Array(w.length), dwScale = new Float32Array(w.length);
  wasm.conv2dBackwardWeight(xs, dys, dw, g);
  refKernels.conv2dBackwardWeight(x, dy, dwRef, g);
  refKernels.conv2dBackwardWeight(absOf(x), absOf(dy), dwScale, g);
  expectNear(dw, dwRef, dwScale);
}

describe("wasm conv2d vs reference", () => {
  SPECS.forEach(([name, spec], i) => {
    it(`${name}: forward, backward input, backward weight`, () => {
      const g = geomOf(spec);
      checkConv(g, 100 + i, (a) => a);
      checkConv(g, 200 + i, wasmCopy);
    });
  });

  it("runs float64 on the reference kernel (identical)", () => {
    const g = geomOf(SPECS[2][1]);
    const { x, w } = sample(g, 5);
    const x64 = Float64Array.from(x), w64 = Float64Array.from(w);
    const got = new Float64Array(g.n * g.oc * g.oh * g.ow), want = got.slice();
    wasm.conv2d(x64, w64, got, g);
    refKernels.conv2d(x64, w64, want, g);
    expectIdentical(got, want);
  });
});
