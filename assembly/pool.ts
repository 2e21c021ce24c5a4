/**
 * 2-D max and average pooling on NCHW planes, forward and backward, for the planes
 * [pl0, pl1) of n·c (so the worker pool can split them). Same rules as the reference kernels
 * src/backend/ref/pool.ts: max windows skip padding, argmax is the flat index iy·W + ix
 * within the plane (−1 with y = −∞ for an empty window), the first maximum wins ties and a
 * NaN wins over any number; average windows use PyTorch's divisor (count_include_pad: the
 * padded window area clipped to size + pad, else the number of input cells).
 * Geometry is an i32[16] struct at `g`: n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw,
 * countIncludePad (written by src/backend/wasm/pool.ts).
 */

const P_H = 2, P_W = 3, P_OH = 4, P_OW = 5, P_KH = 6, P_KW = 7, P_SH = 8, P_SW = 9;
const P_PH = 10, P_PW = 11, P_DH = 12, P_DW = 13, P_INCLUDE_PAD = 14;

// @ts-ignore: decorator
@inline function geom(g: usize, field: i32): i32 {
  return load<i32>(g + (<usize>field << 2));
}

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** First tap k in [0, kk) with start + k·d ≥ 0 (no division when d = 1). */
// @ts-ignore: decorator
@inline function firstTap(start: i32, d: i32, kk: i32): i32 {
  if (start >= 0) return 0;
  return d == 1 ? min(kk, -start) : min(kk, (-start + d - 1) / d);
}

/** One past the last tap k with start + k·d < size (no division when d = 1). */
// @ts-ignore: decorator
@inline function endTap(start: i32, d: i32, kk: i32, size: i32): i32 {
  if (start >= size) return 0;
  if (start + (kk - 1) * d < size) return kk;
  return d == 1 ? size - start : (size - start + d - 1) / d;
}

export function maxPool2d(x: usize, y: usize, argmax: usize, g: usize, pl0: i32, pl1: i32): void {
  const h = geom(g, P_H), w = geom(g, P_W), oh = geom(g, P_OH), ow = geom(g, P_OW);
  const kh = geom(g, P_KH), kw = geom(g, P_KW), sh = geom(g, P_SH), sw = geom(g, P_SW);
  const ph = geom(g, P_PH), pw = geom(g, P_PW), dh = geom(g, P_DH), dw = geom(g, P_DW);
  const fast2x2 = kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && dh == 1 && dw == 1;
  for (let pl = pl0; pl < pl1; pl++) {
    const xp = at(x, pl * h * w);
    let o = pl * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      const y0 = oy * sh - ph;
      const kyLo = firstTap(y0, dh, kh), kyHi = endTap(y0, dh, kh, h);
      let ox = 0;
      if (fast2x2) {
        ox = maxRow2x2(xp, at(y, o), at(argmax, o), y0 * w, w, ow);
        o += ox;
      }
      for (; ox < ow; ox++, o++) {
        const x0 = ox * sw - pw;
        const kxLo = firstTap(x0, dw, kw), kxHi = endTap(x0, dw, kw, w);
        let best = -Infinity as f32;
        let arg = -1;
        for (let ky = kyLo; ky < kyHi; ky++) {
          const row = (y0 + ky * dh) * w + x0;
          for (let kx = kxLo; kx < kxHi; kx++) {
            const idx = row + kx * dw;
            const v = load<f32>(at(xp, idx));
            // Branch-free: the comparison outcome is data-dependent (unpredictable).
            const take = v > best || v != v || arg < 0;
            best = select<f32>(v, best, take);
            arg = select<i32>(idx, arg, take);
          }
        }
        store<f32>(at(y, o), best);
        store<i32>(at(argmax, o), arg);
      }
    }
  }
}

/**
 * 2×2 stride-2 unpadded windows of one output row, four outputs per step with SIMD: the
 * even and odd columns of the two input rows are the four candidates, taken in row-major
 * window order with the same rule as the scalar loop (greater, or NaN). Returns how many
 * outputs it wrote (a multiple of 4; the caller finishes the row).
 */
function maxRow2x2(xp: usize, y: usize, argmax: usize, rowStart: i32, w: i32, ow: i32): i32 {
  const r0 = at(xp, rowStart), r1 = at(xp, rowStart + w);
  const step = i32x4.splat(8);
  let idx = i32x4(rowStart, rowStart + 2, rowStart + 4, rowStart + 6);
  const one = i32x4.splat(1), down = i32x4.splat(w), diag = i32x4.splat(w + 1);
  let ox = 0;
  for (; ox + 4 <= ow; ox += 4) {
    const off = <usize>ox << 3;
    const a0 = v128.load(r0 + off), b0 = v128.load(r0 + off, 16);
    const a1 = v128.load(r1 + off), b1 = v128.load(r1 + off, 16);
    let best = v128.shuffle<f32>(a0, b0, 0, 2, 4, 6);
    let arg = idx;
    let c = v128.shuffle<f32>(a0, b0, 1, 3, 5, 7);
    let take = v128.or(f32x4.gt(c, best), f32x4.ne(c, c));
    best = v128.bitselect(c, best, take);
    arg = v128.bitselect(i32x4.add(idx, one), arg, take);
    c = v128.shuffle<f32>(a1, b1, 0, 2, 4, 6);
    take = v128.or(f32x4.gt(c, best), f32x4.ne(c, c));
    best = v128.bitselect(c, best, take);
    arg = v128.bitselect(i32x4.add(idx, down), arg, take);
    c = v128.shuffle<f32>(a1, b1, 1, 3, 5, 7);
    take = v128.or(f32x4.gt(c, best), f32x4.ne(c, c));
    best = v128.bitselect(c, best, take);
    arg = v128.bitselect(i32x4.add(idx, diag), arg, take);
    v128.store(at(y, ox), best);
    v128.store(at(argmax, ox), arg);
    idx = i32x4.add(idx, step);
  }
  return ox;
}

/** dx[plane, argmax[o]] += dy[o] (dx planes overwritten first). */
export function maxPool2dBackward(dy: usize, argmax: usize, dx: usize, g: usize, pl0: i32, pl1: i32): void {
  const inPlane = geom(g, P_H) * geom(g, P_W);
  const outPlane = geom(g, P_OH) * geom(g, P_OW);
  if (pl1 > pl0) memory.fill(at(dx, pl0 * inPlane), 0, <usize>((pl1 - pl0) * inPlane) << 2);
  for (let pl = pl0; pl < pl1; pl++) {
    const xp = at(dx, pl * inPlane);
    const op = pl * outPlane;
    for (let o = 0; o < outPlane; o++) {
      const a = load<i32>(at(argmax, op + o));
      if (a >= 0) store<f32>(at(xp, a), load<f32>(at(xp, a)) + load<f32>(at(dy, op + o)));
    }
  }
}

/** Window of output o on one axis: start = o·s − p, end = min(start + k, size + p), clipped to [0, size). */
// @ts-ignore: decorator
@inline function windowLo(o: i32, s: i32, p: i32): i32 {
  return max(o * s - p, 0);
}

// @ts-ignore: decorator
@inline function windowEnd(o: i32, s: i32, p: i32, k: i32, size: i32): i32 {
  return min(o * s - p + k, size + p);
}

/** Divisor of window (oy, ox): padded area, or the number of input cells it covers. */
function divisor(g: usize, oy: i32, ox: i32): f32 {
  const sh = geom(g, P_SH), ph = geom(g, P_PH), kh = geom(g, P_KH), h = geom(g, P_H);
  const sw = geom(g, P_SW), pw = geom(g, P_PW), kw = geom(g, P_KW), w = geom(g, P_W);
  const yEnd = windowEnd(oy, sh, ph, kh, h), xEnd = windowEnd(ox, sw, pw, kw, w);
  if (geom(g, P_INCLUDE_PAD)) return <f32>((yEnd - (oy * sh - ph)) * (xEnd - (ox * sw - pw)));
  return <f32>((min(yEnd, h) - windowLo(oy, sh, ph)) * (min(xEnd, w) - windowLo(ox, sw, pw)));
}

export function avgPool2d(x: usize, y: usize, g: usize, pl0: i32, pl1: i32): void {
  const h = geom(g, P_H), w = geom(g, P_W), oh = geom(g, P_OH), ow = geom(g, P_OW);
  const kh = geom(g, P_KH), kw = geom(g, P_KW), sh = geom(g, P_SH), sw = geom(g, P_SW);
  const ph = geom(g, P_PH), pw = geom(g, P_PW);
  for (let pl = pl0; pl < pl1; pl++) {
    const xp = at(x, pl * h * w);
    let o = pl * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      const ylo = windowLo(oy, sh, ph), yhi = min(windowEnd(oy, sh, ph, kh, h), h);
      for (let ox = 0; ox < ow; ox++, o++) {
        const xlo = windowLo(ox, sw, pw), xhi = min(windowEnd(ox, sw, pw, kw, w), w);
        let acc: f64 = 0;
        for (let iy = ylo; iy < yhi; iy++) {
          const row = at(xp, iy * w);
          for (let ix = xlo; ix < xhi; ix++) acc += <f64>load<f32>(at(row, ix));
        }
        store<f32>(at(y, o), <f32>(acc / <f64>divisor(g, oy, ox)));
      }
    }
  }
}

/** dx[cell] = Σ over windows containing it of dy / divisor (dx planes overwritten). */
export function avgPool2dBackward(dy: usize, dx: usize, g: usize, pl0: i32, pl1: i32): void {
  const h = geom(g, P_H), w = geom(g, P_W), oh = geom(g, P_OH), ow = geom(g, P_OW);
  const kh = geom(g, P_KH), kw = geom(g, P_KW), sh = geom(g, P_SH), sw = geom(g, P_SW);
  const ph = geom(g, P_PH), pw = geom(g, P_PW);
  if (pl1 > pl0) memory.fill(at(dx, pl0 * h * w), 0, <usize>((pl1 - pl0) * h * w) << 2);
  for (let pl = pl0; pl < pl1; pl++) {
    const xp = at(dx, pl * h * w);
    let o = pl * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      const ylo = windowLo(oy, sh, ph), yhi = min(windowEnd(oy, sh, ph, kh, h), h);
      for (let ox = 0; ox < ow; ox++, o++) {
        const xlo = windowLo(ox, sw, pw), xhi = min(windowEnd(ox, sw, pw, kw, w), w);
        const share = <f64>load<f32>(at(dy, o)) / <f64>divisor(g, oy, ox);
        for (let iy = ylo; iy < yhi; iy++) {
          const row = at(xp, iy * w);
          for (let ix = xlo; ix < xhi; ix++) store<f32>(at(row, ix), <f32>(<f64>load<f32>(at(row, ix)) + share));
        }
      }
    }
  }
}
