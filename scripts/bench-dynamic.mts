/**
 * Int8Model vs onnxruntime-node on the dynamic exports (one thread each, interleaved rounds):
 * an MLP 256 → 512 → 256 → 10 on a batch of 64 under the `dynamic`, `int4WeightOnly` and
 * `int8DynActInt4Weight` presets, each converted, exported (DynamicQuantizeLinear +
 * MatMulInteger / MatMulNBits) and timed on both sides. Prints per-round medians, the ratio
 * and the load average (the machine is shared: compare ratios, not absolute times).
 * For `dynamic` it also times dynamic_linear's previous integer-GEMM route (exact float32 GEMM
 * chunks, setDynamicGemmRoute("float-gemm")) in the same rounds: the before / after of moving
 * it onto the static path's int8 GEMM (outputs bit-identical, test/int8/dynamic-gemm.test.ts).
 * Both sides one thread (setNumThreads(1); intraOpNumThreads 1); reported as process CPU time
 * per run (the loaded machine's wall times mostly measure waiting for a core) and wall time.
 *   node --import tsx scripts/bench-dynamic.mts [--rounds 5] [--iters 5]
 */
import { loadavg } from "node:os";
import * as ort from "onnxruntime-node";
import "../src/index.js";
import { Sequential } from "../src/nn/layers/container.js";
import { Linear } from "../src/nn/layers/linear.js";
import { ReLU } from "../src/nn/layers/activation.js";
import { manualSeed } from "../src/tensor/random.js";
import { randn } from "../src/tensor/creation.js";
import { convert, prepareQat, qconfigs } from "../src/quant/index.js";
import { exportInt8Model } from "../src/onnx/index.js";
import { setNumThreads } from "../src/backend/index.js";
import { setDynamicGemmRoute } from "../src/int8/kernels/dynamic.js";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const rounds = arg("rounds", 5);
const iters = arg("iters", 5);
interface Sample {
  wall: number;
  cpu: number;
}
const median = (a: number[]): number => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

setNumThreads(1);
manualSeed(1);
const model = new Sequential(new Linear(256, 512), new ReLU(), new Linear(512, 256), new ReLU(), new Linear(256, 10));
const x = randn([64, 256]);
for (const name of ["dynamic", "int4WeightOnly", "int8DynActInt4Weight"] as const) {
  const int8 = convert(prepareQat(model, { qconfig: qconfigs[name], example: x }));
  const session = await ort.InferenceSession.create(exportInt8Model(int8, { format: "qdq" }), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const feeds = { input: new ort.Tensor("float32", Float32Array.from(x.data), x.shape) };
  int8.run(x);
  await session.run(feeds);
  // CPU time of this process (both sides run on one thread) as well as wall time: on a loaded
  // machine the wall time mostly measures the wait for a core, the CPU time the work
  const ours: Sample[] = [];
  const before: Sample[] = [];
  const theirs: Sample[] = [];
  const time = async (fn: () => unknown): Promise<Sample> => {
    const c = process.cpuUsage();
    const t = performance.now();
    for (let i = 0; i < iters; i++) await fn();
    const used = process.cpuUsage(c);
    return { wall: (performance.now() - t) / iters, cpu: (used.user + used.system) / 1000 / iters };
  };
  for (let r = 0; r < rounds; r++) {
    ours.push(await time(() => int8.run(x)));
    if (name === "dynamic") {
      setDynamicGemmRoute("float-gemm");
      before.push(await time(() => int8.run(x)));
      setDynamicGemmRoute("auto");
    }
    theirs.push(await time(() => session.run(feeds)));
  }
  const line = (label: string, a: Sample[]): string => {
    const ratio = (k: keyof Sample) => (median(a.map((s) => s[k])) / median(theirs.map((s) => s[k]))).toFixed(1);
    return `${label} ${median(a.map((s) => s.cpu)).toFixed(2)} ms CPU (${median(a.map((s) => s.wall)).toFixed(2)} ms wall), ratio ${ratio("cpu")} CPU / ${ratio("wall")} wall (rounds, CPU: ${a.map((s, i) => (s.cpu / theirs[i].cpu).toFixed(1)).join(" ")})`;
  };
  console.log(`${name}: onnxruntime ${median(theirs.map((s) => s.cpu)).toFixed(2)} ms CPU (${median(theirs.map((s) => s.wall)).toFixed(2)} ms wall); ${line("Int8Model", ours)}${before.length ? `; ${line("previous float-GEMM route", before)}` : ""}; load ${loadavg()[0].toFixed(1)}`);
}
