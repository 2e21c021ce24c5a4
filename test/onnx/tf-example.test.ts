/**
 * The worked TensorFlow-style example (examples/tf-onnx-cnn.ts) runs: the handwritten
 * tf2onnx-shaped CNN (NHWC transposes, asymmetric / SAME_UPPER pads, LeakyRelu, Max with a
 * constant, NHWC ReduceMean) imports, fine-tunes above chance on the Fashion-MNIST sample,
 * calibrates, converts with its float islands named and explained, and its QDQ export in
 * onnxruntime equals the Int8Model within one output quantum on ≥ 99 % of logits.
 */
import { describe, expect, it } from "vitest";
import { checkInOnnxruntime, runTfExample } from "../../examples/tf-onnx-cnn.js";
import { loadOrt } from "./helpers.js";

const ort = await loadOrt();

describe("worked example: a TensorFlow-style ONNX CNN", () => {
  it("imports, fine-tunes, calibrates, converts, exports QDQ that onnxruntime runs like the Int8Model", async () => {
    const lines: string[] = [];
    const r = runTfExample({ trainSamples: 1024, testSamples: 128, log: (l) => lines.push(l) });
    console.log(lines.join("\n"));
    expect(r.floatAccuracy).toBeGreaterThan(0.3);
    expect(Math.abs(r.int8Accuracy - r.floatAccuracy)).toBeLessThanOrEqual(0.05);
    const ops = r.islands.map((i) => i.op);
    expect(ops).not.toContain("Gemm");
    // conv1 (explicit asymmetric pads) is an integer Pad + Conv2d; conv2 (SAME_UPPER, stride 2) stays functional.
    expect(ops.filter((o) => o === "Conv")).toHaveLength(1);
    // the layout nodes, the table, Max with a constant and the NHWC ReduceMean are integer nodes (issue 14)
    for (const op of ["Pad", "Transpose", "Reshape", "LeakyRelu", "Max", "ReduceMean"]) expect(ops).not.toContain(op);
    expect(r.islands.length).toBeGreaterThan(0);
    for (const i of r.islands) expect(i.reason.length).toBeGreaterThan(0);
    expect(lines.some((l) => l.startsWith("  stays float: "))).toBe(true);
    if (ort) expect(await checkInOnnxruntime(r)).toBeGreaterThanOrEqual(0.99);
  }, 120_000);
});
