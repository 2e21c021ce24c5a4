/**
 * Reference 2-D pooling on NCHW planes: max (with argmax for the backward pass), average
 * (PyTorch's count_include_pad divisor rule) and adaptive average. Every (n, c) plane is
 * pooled independently; window bounds are computed once per output row/column, so the inner
 * loops carry no padding tests. Called through the kernel table by src/ops/pool.ts.
 */
import type { FloatArray } from "../../tensor/dtype.js";
import type { Pool2dGeom } from "../kernels.js";

/** First tap k in [0, k) with o·s − p + k·d ≥ 0. */
function firstTap(start: number, d: number, k: number): number {
  return start >= 0 ? 0 : Math.min(k, Math.ceil(-start / d));
}

/** One past the last tap k with o·s − p + k·d < size. */
function endTap(start: number, d: number, k: number, size: number): number {
  return start >= size ? 0 : Math.min(k, Math.ceil((size - start) / d));
}

/**
 * y = max over each dilated window; padded cells never win. argmax[o] is the flat index
 * iy·W + ix of the winner WITHIN ITS (n, c) PLANE (as PyTorch's max_pool2d indices), or −1
 * (with y = −∞) for a window holding no input cell. The first maximum in row-major window
 * order wins ties; a NaN wins over any number, the last NaN over earlier ones (as PyTorch).
 */
export function maxPool2d(x: FloatArray, y: FloatArray, argmax: Int32Array, g: Pool2dGeom): void {
  const { h, w, oh, ow, kh, kw, strideH: sh, strideW: sw, padH: ph, padW: pw, dilationH: dh, dilationW: dw } = g;
  const planes = g.n * g.c;
  for (let pl = 0; pl < planes; pl++) {
    const xp = pl * h * w;
    let o = pl * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      const y0 = oy * sh - ph;
      const kyLo = firstTap(y0, dh, kh);
      const kyHi = endTap(y0, dh, kh, h);
      for (let ox = 0; ox < ow; ox++, o++) {
        const x0 = ox * sw - pw;
        const kxLo = firstTap(x0, dw, kw);
        const kxHi = endTap(x0, dw, kw, w);
        let best = -Infinity;
        let at = -1;
        for (let ky = kyLo; ky < kyHi; ky++) {
          const row = (y0 + ky * dh) * w;
          for (let kx = kxLo; kx < kxHi; kx++) {
            const idx = row + x0 + kx * dw;
            const v = x[xp + idx];
            if (v > best || v !== v || at < 0) {
              best = v;
              at = idx;
            }
          }
        }
        y[o] = best;
        argmax[o] = at;
      }
    }
  }
}

/** dx[plane, argmax[o]] += dy[o] (dx overwritten first). */
export function maxPool2dBackward(dy: FloatArray, argmax: Int32Array, dx: FloatArray, g: Pool2dGeom): void {
  dx.fill(0);
  const planes = g.n * g.c;
  const inPlane = g.h * g.w;
  const outPlane = g.oh * g.ow;
  for (let pl = 0; pl < planes; pl++) {
    const xp = pl * inPlane;
    const op = pl * outPlane;
    for (let o = 0; o < outPlane; o++) {
      const at = argmax[op + o];
      if (at >= 0) dx[xp + at] += dy[op + o];
    }
  }
}

/**
 * Window of output o along one axis, as PyTorch's avg_pool2d: start = o·s − p,
 * end = min(start + k, size + p); the padded count is end − start (count_include_pad), and
 * the window is then clipped to [0, size). Writes [lo, hi, paddedCount] into `win`.
 */
function avgWindow(o: number, s: number, p: number, k: number, size: number, win: Int32Array): void {
  const start = o * s - p;
  const end = Math.min(start + k, size + p);
  win[0] = Math.max(start, 0);
  win[1] = Math.min(end, size);
  win[2] = end - start;
}

const winY = new Int32Array(3);
const winX = new Int32Array(3);

/** Divisor of one average window: the padded area, or the number of input cells. */
function avgDivisor(g: Pool2dGeom): number {
  return g.countIncludePad ? winY[2] * winX[2] : (winY[1] - winY[0]) * (winX[1] - winX[0]);
}

/**
 * y = Σ window / divisor, divisor = (count_include_pad ? padded window area : input cells in
 * it). Windows are contiguous (dilation is ignored: PyTorch's avg_pool2d has none).
 */
export function avgPool2d(x: FloatArray, y: FloatArray, g: Pool2dGeom): void {
  const { h, w, oh, ow } = g;
  const planes = g.n * g.c;
  for (let pl = 0; pl < planes; pl++) {
    const xp = pl * h * w;
    let o = pl * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      avgWindow(oy, g.strideH, g.padH, g.kh, h, winY);
      for (let ox = 0; ox < ow; ox++, o++) {
        avgWindow(ox, g.strideW, g.padW, g.kw, w, winX);
        let acc = 0;
        for (let iy = winY[0]; iy < winY[1]; iy++) {
          const row = xp + iy * w;
          for (let ix = winX[0]; ix < winX[1]; ix++) acc += x[row + ix];
        }
        y[o] = acc / avgDivisor(g);
      }
    }
  }
}

/** dx[cell] = Σ over windows containing it of dy / divisor (dx overwritten). */
export function avgPool2dBackward(dy: FloatArray, dx: FloatArray, g: Pool2dGeom): void {
  const { h, w, oh, ow } = g;
  dx.fill(0);
  const planes = g.n * g.c;
  for (let pl = 0; pl < planes; pl++) {
    const xp = pl * h * w;
    let o = pl * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      avgWindow(oy, g.strideH, g.padH, g.kh, h, winY);
      for (let ox = 0; ox < ow; ox++, o++) {
        avgWindow(ox, g.strideW, g.padW, g.kw, w, winX);
        const share = dy[o] / avgDivisor(g);
        for (let iy = winY[0]; iy < winY[1]; iy++) {
          const row = xp + iy * w;
          for (let ix = winX[0]; ix < winX[1]; ix++) dx[row + ix] += share;
        }
      }
    }
  }
}

/** Adaptive window bounds along one axis: bounds[2i] = ⌊i·size/out⌋, bounds[2i+1] = ⌈(i+1)·size/out⌉. */
function adaptiveBounds(size: number, out: number): Int32Array {
  const b = new Int32Array(2 * out);
  for (let i = 0; i < out; i++) {
    b[2 * i] = Math.floor((i * size) / out);
    b[2 * i + 1] = Math.ceil(((i + 1) * size) / out);
  }
  return b;
}

/** y[n, c, i, j] = mean of x over rows [⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉) × the same rule on columns. */
export function adaptiveAvgPool2d(x: FloatArray, y: FloatArray, n: number, c: number, h: number, w: number, oh: number, ow: number): void {
  const by = adaptiveBounds(h, oh);
  const bx = adaptiveBounds(w, ow);
  const planes = n * c;
  for (let pl = 0; pl < planes; pl++) {
    const xp = pl * h * w;
    let o = pl * oh * ow;
    for (let i = 0; i < oh; i++) {
      const y0 = by[2 * i], y1 = by[2 * i + 1];
      for (let j = 0; j < ow; j++, o++) {
        const x0 = bx[2 * j], x1 = bx[2 * j + 1];
        let acc = 0;
        for (let iy = y0; iy < y1; iy++) {
          const row = xp + iy * w;
          for (let ix = x0; ix < x1; ix++) acc += x[row + ix];
        }
        y[o] = acc / ((y1 - y0) * (x1 - x0));
      }
    }
  }
}

/** dx[cell] = Σ over adaptive windows containing it of dy / window area (dx overwritten). */
export function adaptiveAvgPool2dBackward(dy: FloatArray, dx: FloatArray, n: number, c: number, h: number, w: number, oh: number, ow: number): void {
  const by = adaptiveBounds(h, oh);
  const bx = adaptiveBounds(w, ow);
  dx.fill(0);
  const planes = n * c;
  for (let pl = 0; pl < planes; pl++) {
    const xp = pl * h * w;
    let o = pl * oh * ow;
    for (let i = 0; i < oh; i++) {
      const y0 = by[2 * i], y1 = by[2 * i + 1];
      for (let j = 0; j < ow; j++, o++) {
        const x0 = bx[2 * j], x1 = bx[2 * j + 1];
        const share = dy[o] / ((y1 - y0) * (x1 - x0));
        for (let iy = y0; iy < y1; iy++) {
          const row = xp + iy * w;
          for (let ix = x0; ix < x1; ix++) dx[row + ix] += share;
        }
      }
    }
  }
}
