/**
 * qat-ts public API (the package root, `qat-ts`). Re-exports only; browser-safe: nothing
 * reachable from here imports a Node built-in (test/package/browser-bundle.test.ts). Node-only
 * helpers are in ./node.ts (`qat-ts/node`), the embedded dataset in
 * ./datasets/fashion-mnist-sample.ts. See docs/ARCHITECTURE.md ("Entry points").
 */
export { Tensor } from "./tensor/tensor.js";
export { tensor, zeros, ones, full, zerosLike, onesLike, arange, randn, rand, randint, type TensorOptions, type NestedArray } from "./tensor/creation.js";
export type { DType } from "./tensor/dtype.js";
export { Generator, manualSeed, getRngState, setRngState, defaultGenerator } from "./tensor/random.js";
export { QatError, ShapeError, DTypeError, AxisError, ValueError, FormatError, NotSupportedError, CaptureError } from "./tensor/errors.js";
export { noGrad, enableGrad, isGradEnabled } from "./tensor/grad-mode.js";
export { setBackend, getBackend, listBackends, registerBackend, useFastestBackend, setNumThreads, getNumThreads, configureWasmMemory, wasmMemoryStats } from "./backend/index.js";
export { initWasmBackend, workersReady, wasmThreadStats } from "./backend/wasm/index.js";
export { nativeIsa, nativeStatus, setNativeIsa } from "./backend/native/index.js";
export * as ops from "./ops/index.js";
export * as autograd from "./autograd/index.js";
import "./autograd/backward.js";
export * as nn from "./nn/index.js";
export * as optim from "./optim/index.js";
export * as data from "./data/index.js";
export * as train from "./train/index.js";
export * as quant from "./quant/index.js";
export * as int8 from "./int8/index.js";
export { Int8Model } from "./int8/index.js";
export * as onnx from "./onnx/index.js";
export * as graph from "./graph/index.js";
