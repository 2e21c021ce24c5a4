/**
 * `qat bench`: inference latency (median of 7, batch 1 and 256) of every model artifact in a
 * run directory (float, QAT/PTQ fake-quant, Int8Model) or of one model file, with the int8
 * speed-up over float at batch 256 when both are there. Writes bench.json in --out.
 * Called by src/cli/main.ts.
 */
import path from "node:path";
import type { Tensor } from "../../tensor/tensor.js";
import { noGrad } from "../../tensor/grad-mode.js";
import { type GlobalOptions, loadData, writeRecord } from "../common.js";
import { sig, table } from "../format.js";
import { Progress } from "../progress.js";
import { modelsFrom, predictorOf } from "./model-ops.js";

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

export interface BenchRow {
  file: string;
  kind: string;
  latencyMs: { batch1: number; batch256: number };
}

export interface BenchResult {
  from: string;
  models: BenchRow[];
  /** float batch-256 latency / int8 batch-256 latency; null unless both were measured. */
  int8SpeedupB256: number | null;
}

export function benchCommand(o: GlobalOptions & { from: string; data: string; out: string }, p = new Progress(o)): BenchResult {
  const files = modelsFrom(o.from, "bench");
  const { test } = loadData(o.data);
  const batch = (n: number): Tensor => test.getBatch(Array.from({ length: n }, (_, i) => i % test.length)).x;
  const inputs = { batch1: batch(1), batch256: batch(256) };
  const models: BenchRow[] = [];
  for (const file of files) {
    const m = predictorOf(file);
    const latencyMs = { batch1: 0, batch256: 0 };
    for (const key of ["batch1", "batch256"] as const) {
      latencyMs[key] = p.stage(`${m.kind} batch ${key === "batch1" ? 1 : 256}`, () => median(() => noGrad(() => m.run(inputs[key]))), (ms) => `${sig(ms)} ms (median of 7)`);
    }
    models.push({ file, kind: m.kind, latencyMs });
  }
  const float = models.find((m) => m.kind === "float");
  const int8 = models.find((m) => m.kind === "int8");
  const r = { from: o.from, models, int8SpeedupB256: float && int8 ? float.latencyMs.batch256 / int8.latencyMs.batch256 : null };
  writeRecord(o.out, "bench", files.length === 1 ? files[0] : o.from, o, r);
  return r;
}

/** The bench table, figures to 3 significant digits. */
export function formatBench(r: BenchResult): string {
  const rows = r.models.map((m) => [path.basename(m.file), m.kind, sig(m.latencyMs.batch1), sig(m.latencyMs.batch256)]);
  const t = table(["model", "kind", "batch 1 (ms)", "batch 256 (ms)"], rows);
  return r.int8SpeedupB256 === null ? t : `${t}\n\nint8 speed-up over float at batch 256: ${sig(r.int8SpeedupB256)}×`;
}
