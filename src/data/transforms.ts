/**
 * Batch-level data transforms: each takes a whole batch x [B, C, H, W] (float32) and a
 * Generator and returns a new tensor; random transforms still draw independently per sample
 * (sample b's crop offset or flip does not depend on the others), in batch order, so a seeded
 * generator makes them reproducible. They are plain data preprocessing, outside autograd.
 * Unlike torchvision (per-image, before ToTensor/Normalize), they run after the dataset's
 * normalisation: padding therefore fills with `fill` in normalised units (0 = the mean pixel;
 * black is -mean/std). Browser-safe. Called by DataLoader (its `transform` option) and users.
 */
import { ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { type Generator, defaultGenerator } from "../tensor/random.js";
import { Tensor } from "../tensor/tensor.js";

/** A batch transform: x [B, C, H, W] -> new tensor. */
export type BatchTransform = (x: Tensor, generator?: Generator) => Tensor;

function dims4(x: Tensor, op: string): [number, number, number, number] {
  if (x.ndim !== 4) throw new ShapeError(`${op}: expected a batch [B, C, H, W], got ${fmtShape(x.shape)}`);
  return [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
}

function asFloat32(x: Tensor): Float32Array {
  return x.data instanceof Float32Array ? x.data : Float32Array.from(x.data as ArrayLike<number>);
}

/** Chains transforms left to right, sharing the generator. */
export function compose(transforms: readonly BatchTransform[]): BatchTransform {
  return (x, generator = defaultGenerator) => transforms.reduce((acc, t) => t(acc, generator), x);
}

/** Per-channel `(x - mean[c]) / std[c]` (a number applies to every channel). Deterministic. */
export function normalize(mean: number | readonly number[], std: number | readonly number[]): BatchTransform {
  const stds = typeof std === "number" ? [std] : [...std];
  if (stds.some((s) => !(s > 0) || !Number.isFinite(s))) throw new ValueError(`normalize: std must be positive, got [${stds.join(", ")}]`);
  return (x) => {
    const [b, c, h, w] = dims4(x, "normalize");
    const m = typeof mean === "number" ? new Array<number>(c).fill(mean) : [...mean];
    const s = typeof std === "number" ? new Array<number>(c).fill(std) : [...std];
    if (m.length !== c || s.length !== c) {
      throw new ValueError(`normalize: ${m.length} means and ${s.length} stds for ${c} channels`);
    }
    const src = x.data;
    const out = new Float32Array(x.size);
    const hw = h * w;
    for (let n = 0; n < b; n++) {
      for (let ch = 0; ch < c; ch++) {
        const base = (n * c + ch) * hw;
        const mc = m[ch];
        const inv = 1 / s[ch];
        for (let k = 0; k < hw; k++) out[base + k] = (src[base + k] - mc) * inv;
      }
    }
    return new Tensor(out, x.shape);
  };
}

export interface RandomCropOptions {
  /** Pixels of padding added on every side before cropping (default 0). */
  padding?: number;
  /** Value of padded pixels, in the units of x (default 0). */
  fill?: number;
}

/**
 * Pads each image by `padding` on every side, then crops a `size` window at a uniformly random
 * offset (per sample; top then left drawn from the generator). `size` is a number or [h, w].
 */
export function randomCrop(size: number | readonly [number, number], opts: RandomCropOptions = {}): BatchTransform {
  const [oh, ow] = typeof size === "number" ? [size, size] : size;
  const pad = opts.padding ?? 0;
  const fill = opts.fill ?? 0;
  if (![oh, ow, pad].every((v) => Number.isInteger(v) && v >= 0) || oh === 0 || ow === 0) {
    throw new ValueError(`randomCrop: size and padding must be non-negative integers (size > 0), got size ${oh}x${ow}, padding ${pad}`);
  }
  return (x, generator = defaultGenerator) => {
    const [b, c, h, w] = dims4(x, "randomCrop");
    if (oh > h + 2 * pad || ow > w + 2 * pad) {
      throw new ShapeError(`randomCrop: crop ${oh}x${ow} is larger than the padded image ${h + 2 * pad}x${w + 2 * pad}`);
    }
    const src = asFloat32(x);
    const out = new Float32Array(b * c * oh * ow).fill(fill);
    for (let n = 0; n < b; n++) {
      // Offsets in padded coordinates, then shifted back into the source image.
      const top = generator.int(0, h + 2 * pad - oh + 1) - pad;
      const left = generator.int(0, w + 2 * pad - ow + 1) - pad;
      const i0 = Math.max(0, -top);
      const i1 = Math.min(oh, h - top);
      const j0 = Math.max(0, -left);
      const j1 = Math.min(ow, w - left);
      if (i1 <= i0 || j1 <= j0) continue;
      for (let ch = 0; ch < c; ch++) {
        const sBase = (n * c + ch) * h * w;
        const dBase = (n * c + ch) * oh * ow;
        for (let i = i0; i < i1; i++) {
          const s = sBase + (top + i) * w + left;
          out.set(src.subarray(s + j0, s + j1), dBase + i * ow + j0);
        }
      }
    }
    return new Tensor(out, [b, c, oh, ow]);
  };
}

/** Mirrors each image left-right with probability p (one uniform draw per sample). */
export function randomHorizontalFlip(p = 0.5): BatchTransform {
  if (!(p >= 0 && p <= 1)) throw new ValueError(`randomHorizontalFlip: p must be in [0, 1], got ${p}`);
  return (x, generator = defaultGenerator) => {
    const [b, c, h, w] = dims4(x, "randomHorizontalFlip");
    const src = asFloat32(x);
    const out = new Float32Array(src);
    for (let n = 0; n < b; n++) {
      if (!(generator.uniform() < p)) continue;
      for (let r = 0; r < c * h; r++) {
        const row = (n * c * h + r) * w;
        for (let j = 0; j < w; j++) out[row + j] = src[row + w - 1 - j];
      }
    }
    return new Tensor(out, x.shape);
  };
}
