/** Helpers for the nn tests: reading golden JSON files and turning their tensors into Tensors. */
import { readFileSync } from "node:fs";
import { tensor } from "../../src/tensor/creation.js";
import type { Tensor } from "../../src/tensor/tensor.js";

/** A tensor as the golden scripts store it. */
export interface GoldenTensor {
  shape: number[];
  data: number[];
}

/** Parses test/golden/<rel> (path relative to test/golden). */
export function readGolden<T>(rel: string): T {
  return JSON.parse(readFileSync(new URL(`../golden/${rel}`, import.meta.url), "utf8")) as T;
}

/** Absolute path of a golden file. */
export function goldenPath(rel: string): string {
  return new URL(`../golden/${rel}`, import.meta.url).pathname;
}

/** A float32 tensor from a golden tensor (requiresGrad optional). */
export function fromGolden(g: GoldenTensor, requiresGrad = false): Tensor {
  return tensor(Float32Array.from(g.data), { shape: g.shape, requiresGrad });
}

/** Copies golden values into an existing tensor (e.g. a layer's weight), checking the shape. */
export function setFromGolden(t: Tensor, g: GoldenTensor): void {
  if (t.shape.join(",") !== g.shape.join(",")) throw new Error(`shape [${t.shape}] vs golden [${g.shape}]`);
  (t.data as Float32Array).set(g.data);
}
