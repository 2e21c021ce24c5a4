/**
 * ONNX Resize (opsets 10–18 attribute set) as separable linear maps: every mode ONNX defines
 * (nearest with its four rounding rules, n-linear, cubic with cubic_coeff_a and
 * exclude_outside) interpolates one axis at a time, so each resized axis is a constant
 * [out, in] weight matrix built from the coordinate transformation (half_pixel,
 * pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn, tf_crop_and_resize with
 * its extrapolation_value), applied with a matmul — differentiable in the data, so imported
 * upsampling decoders train. The weights follow onnx's reference (onnx/backend/test/case/node/
 * resize.py): n neighbours of the source coordinate taken from the edge-padded axis, the
 * left one preferred on ties. Resize-10 is asymmetric with onnxruntime's "simple" nearest rule
 * (floor when upsampling, ceil when downsampling). Registered in onnx-ops.ts.
 */
import { FormatError, NotSupportedError, ShapeError, fmtShape } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { add, mul } from "../ops/binary.js";
import { cast, permute } from "../ops/layout.js";
import { matmul } from "../ops/matmul.js";
import { type Compiler, get, intValues, opt } from "./onnx-ops-util.js";

interface AxisMap {
  /** [in, out]: y = x · w along the axis. */
  w: Float32Array;
  /** Per output index: 1 where tf_crop_and_resize extrapolates. */
  outside: Float32Array;
  anyOutside: boolean;
}

interface ResizeSpec {
  mode: string;
  coord: string;
  nearest: string;
  a: number;
  excludeOutside: boolean;
}

function coeffs(spec: ResizeSpec, ratio: number, integral: boolean, upsampling: boolean): number[] {
  if (spec.mode === "linear") return [1 - ratio, ratio];
  if (spec.mode === "cubic") {
    const A = spec.a;
    const [r1, q, q1] = [ratio + 1, 1 - ratio, 2 - ratio];
    return [((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A, ((A + 2) * ratio - (A + 3)) * ratio * ratio + 1,
      ((A + 2) * q - (A + 3)) * q * q + 1, ((A * q1 - 5 * A) * q1 + 8 * A) * q1 - 4 * A];
  }
  if (integral) return [0, 1];
  switch (spec.nearest) {
    case "round_prefer_floor": return ratio <= 0.5 ? [1, 0] : [0, 1];
    case "round_prefer_ceil": return ratio < 0.5 ? [1, 0] : [0, 1];
    case "floor": return [1, 0];
    case "ceil": return [0, 1];
    case "simple": return upsampling ? [1, 0] : [0, 1];
    default: throw new FormatError(`Resize: unknown nearest_mode '${spec.nearest}'`);
  }
}

/** The source coordinate of output index o (onnx's coordinate_transformation_mode). */
function sourceCoord(spec: ResizeSpec, o: number, inLen: number, outWidth: number, scale: number, roi: [number, number]): number {
  switch (spec.coord) {
    case "half_pixel": return (o + 0.5) / scale - 0.5;
    case "pytorch_half_pixel": return outWidth === 1 ? -0.5 : (o + 0.5) / scale - 0.5;
    case "align_corners": return outWidth === 1 ? 0 : (o * (inLen - 1)) / (outWidth - 1);
    case "asymmetric": return o / scale;
    case "tf_half_pixel_for_nn": return (o + 0.5) / scale;
    case "tf_crop_and_resize": {
      const x = outWidth === 1 ? ((roi[1] - roi[0]) * (inLen - 1)) / 2 : (o * (roi[1] - roi[0]) * (inLen - 1)) / (outWidth - 1);
      return x + roi[0] * (inLen - 1);
    }
    default: throw new NotSupportedError(`Resize: coordinate_transformation_mode '${spec.coord}' is not supported`);
  }
}

/** The n indexes nearest to x within [lo, hi), the smaller first on ties, ascending. */
function neighbours(x: number, n: number, lo: number, hi: number): number[] {
  const base = Math.floor(x);
  const cands: number[] = [];
  for (let k = base - n; k <= base + n + 1; k++) if (k >= lo && k < hi) cands.push(k);
  cands.sort((p, q) => Math.abs(x - p) - Math.abs(x - q) || p - q);
  return cands.slice(0, n).sort((p, q) => p - q);
}

function axisMap(spec: ResizeSpec, inLen: number, outLen: number, scale: number, outWidth: number, roi: [number, number]): AxisMap {
  const w = new Float32Array(inLen * outLen);
  const outside = new Float32Array(outLen);
  let anyOutside = false;
  for (let o = 0; o < outLen; o++) {
    const x = sourceCoord(spec, o, inLen, outWidth, scale, roi);
    if (spec.coord === "tf_crop_and_resize" && (x < 0 || x > inLen - 1)) {
      outside[o] = 1;
      anyOutside = true;
      continue;
    }
    const integral = Number.isInteger(x);
    const c = coeffs(spec, integral ? 1 : x - Math.floor(x), integral, scale >= 1);
    const pw = Math.ceil(c.length / 2);
    const idx = neighbours(x, c.length, -pw, inLen + pw);
    if (spec.excludeOutside) {
      idx.forEach((k, j) => {
        if (k < 0 || k >= inLen) c[j] = 0;
      });
      const total = c.reduce((s, v) => s + v, 0);
      for (let j = 0; j < c.length; j++) c[j] /= total;
    }
    idx.forEach((k, j) => {
      const src = Math.min(Math.max(k, 0), inLen - 1);
      w[src * outLen + o] += c[j];
    });
  }
  return { w, outside, anyOutside };
}

function isIdentity(m: AxisMap, n: number): boolean {
  if (m.anyOutside) return false;
  for (let i = 0; i < n; i++) for (let o = 0; o < n; o++) if (m.w[i * n + o] !== (i === o ? 1 : 0)) return false;
  return true;
}

export const resize: Compiler = (c) => {
  const legacy = c.opset < 11;
  if (c.consts.length < 2 || c.consts.length > (legacy ? 2 : 4)) throw new FormatError(`${c.where}: Resize expects ${legacy ? 2 : "2–4"} inputs, got ${c.consts.length}`);
  const a = c.attrs;
  const spec: ResizeSpec = {
    mode: a.string("mode", "nearest"),
    coord: legacy ? "asymmetric" : a.string("coordinate_transformation_mode", "half_pixel"),
    nearest: legacy ? "simple" : a.string("nearest_mode", "round_prefer_floor"),
    a: a.float("cubic_coeff_a", -0.75),
    excludeOutside: a.int("exclude_outside", 0) === 1,
  };
  if (!["nearest", "linear", "cubic"].includes(spec.mode)) throw new FormatError(`${c.where}: unknown Resize mode '${spec.mode}'`);
  if (legacy && spec.mode === "cubic") throw new FormatError(`${c.where}: Resize-10 has no cubic mode`);
  if (a.has("antialias") && a.int("antialias", 0) !== 0) throw new NotSupportedError(`${c.where}: Resize with antialias is not supported`);
  if (a.has("axes")) throw new NotSupportedError(`${c.where}: Resize with the axes attribute is not supported`);
  if (a.string("keep_aspect_ratio_policy", "stretch") !== "stretch") throw new NotSupportedError(`${c.where}: keep_aspect_ratio_policy other than stretch is not supported`);
  const extrapolation = a.float("extrapolation_value", 0);
  for (let k = 1; k < c.consts.length; k++) {
    if (c.consts[k] === undefined) throw new NotSupportedError(`${c.where}: Resize input ${k} (roi / scales / sizes) computed at run time is not supported (make it an initializer)`);
  }
  return (inputs) => {
    const x = get(inputs, 0);
    const r = x.ndim;
    const roiT = legacy ? null : opt(inputs, 1);
    const scalesT = legacy ? get(inputs, 1) : opt(inputs, 2);
    const sizesT = legacy ? null : opt(inputs, 3);
    const scalesGiven = scalesT !== null && scalesT.size > 0;
    if (scalesGiven === (sizesT !== null && sizesT.size > 0)) throw new FormatError(`${c.where}: exactly one of scales and sizes must be given`);
    const scales = scalesGiven ? Array.from(scalesT.data, Number) : null;
    const sizes = sizesT && sizesT.size > 0 ? intValues(sizesT, c.where) : null;
    if ((scales ?? sizes)!.length !== r) throw new ShapeError(`${c.where}: ${scales ? "scales" : "sizes"} must have ${r} values for input ${fmtShape(x.shape)}`);
    if (scales && scales.some((s) => !(s > 0))) throw new FormatError(`${c.where}: scales must be positive, got [${scales.join(", ")}]`);
    const roi = roiT && roiT.size > 0 ? Array.from(roiT.data, Number) : null;
    if (spec.coord === "tf_crop_and_resize" && (!roi || roi.length !== 2 * r)) throw new FormatError(`${c.where}: tf_crop_and_resize needs roi of ${2 * r} values`);
    let y = x.dtype === "float32" || x.dtype === "float64" ? x : cast(x, "float32");
    for (let d = r - 1; d >= 0; d--) {
      const inLen = x.shape[d];
      const outLen = sizes ? sizes[d] : Math.floor(scales![d] * inLen);
      if (outLen < 1 || outLen > 1 << 24) throw new ShapeError(`${c.where}: output size ${outLen} along axis ${d} is out of range`);
      const scale = sizes ? outLen / inLen : scales![d];
      const m = axisMap(spec, inLen, outLen, scale, scale * inLen, roi ? [roi[d], roi[r + d]] : [0, 1]);
      if (inLen === outLen && isIdentity(m, inLen)) continue;
      const perm = [...Array(r).keys()];
      [perm[d], perm[r - 1]] = [perm[r - 1], perm[d]];
      const moved = permute(y, perm);
      let z = matmul(moved, cast(new Tensor(m.w, [inLen, outLen]), y.dtype));
      if (m.anyOutside) z = add(mul(z, cast(new Tensor(m.outside.map((v) => 1 - v), [outLen]), y.dtype)), mul(cast(new Tensor(m.outside, [outLen]), y.dtype), extrapolation));
      y = permute(z, perm);
    }
    return x.dtype === y.dtype ? y : cast(y, x.dtype);
  };
};

/**
 * Upsample (opsets 7–9, deprecated at 10 for Resize): Resize-10's semantics (asymmetric, floor
 * nearest when upsampling; linear) with the scales an attribute (7) or the second input (9).
 */
export const upsample: Compiler = (c) => {
  const attrScales = c.attrs.floats("scales");
  if (!attrScales) return resize({ ...c, opset: 10 });
  const scales = new Tensor(Float32Array.from(attrScales), [attrScales.length]);
  const inner = resize({ ...c, opset: 10, consts: [c.consts[0], scales] });
  return (inputs) => inner([inputs[0], scales]);
};
