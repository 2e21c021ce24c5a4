/** `qat bench`: float vs Int8Model inference latency (batch 1 and 256) on one run directory. */
import path from "node:path";
import { loadInt8Model } from "../../int8/fs.js";
import type { Tensor } from "../../tensor/tensor.js";
import { noGrad } from "../../tensor/grad-mode.js";
import { ARTIFACTS, type GlobalOptions, loadData, loadFloat } from "../common.js";

function median(fn: () => void, reps = 7): number {
  fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[reps >> 1];
}

export function benchCommand(o: GlobalOptions & { from: string; data: string }) {
  const float = loadFloat(path.join(o.from, ARTIFACTS.float)).model.eval();
  const int8 = loadInt8Model(path.join(o.from, ARTIFACTS.int8));
  const { test } = loadData(o.data);
  const batch = (n: number): Tensor => test.getBatch(Array.from({ length: n }, (_, i) => i % test.length)).x;
  const rows: Record<string, number> = {};
  for (const n of [1, 256]) {
    const x = batch(n);
    rows[`float_b${n}_ms`] = median(() => noGrad(() => float.forward(x)));
    rows[`int8_b${n}_ms`] = median(() => int8.run(x));
  }
  return { ...rows, int8SpeedupB256: rows.float_b256_ms / rows.int8_b256_ms };
}
