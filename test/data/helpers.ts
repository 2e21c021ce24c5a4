/** Test helpers for the data tests: small synthetic image datasets and temp directories. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImageDataset } from "../../src/data/dataset.js";

/**
 * n images of c×h×w whose pixel k of item i is (i * 7 + k) % 256, label i % classes; the
 * first pixel identifies the item for n ≤ 36 (i * 7 < 256). Normalisation is the identity
 * on p/255 (mean 0, std 1).
 */
export function syntheticImages(n: number, c = 1, h = 4, w = 4, classes = 10): ImageDataset {
  const size = c * h * w;
  const images = new Uint8Array(n * size);
  for (let i = 0; i < n; i++) for (let k = 0; k < size; k++) images[i * size + k] = (i * 7 + k) % 256;
  const labels = Uint8Array.from({ length: n }, (_, i) => i % classes);
  return new ImageDataset({ images, labels, shape: [n, c, h, w], mean: 0, std: 1 });
}

/** The item a synthetic batch row came from, read off its first (normalised) pixel. */
export function itemOf(x: ArrayLike<number>, offset: number): number {
  return Math.round(x[offset] * 255) / 7;
}

/** Runs fn with a fresh temporary directory, removed afterwards. */
export function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "qat-data-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
