/**
 * Max pooling on uint8/int8 planes for the int8 engine (src/backend/wasm/int8.ts), same
 * results as src/int8/kernels/pool.ts's qmaxPool2d for windows inside the plane.
 */

/**
 * Max pooling of uint8/int8 planes [pl0, pl1) without padding or dilation (every window inside
 * the plane); 2×2 stride 2 takes a SIMD path (16 inputs of two rows → 8 outputs; vector reads
 * past a row stay inside x, whose length is `xLen`, and only valid lanes are stored).
 */
export function qmaxPool2d(x: usize, xLen: i32, y: usize, signed: i32, h: i32, w: i32, oh: i32, ow: i32, kh: i32, kw: i32, sh: i32, sw: i32, pl0: i32, pl1: i32): void {
  if (signed) poolPlanes<i8>(x, xLen, y, h, w, oh, ow, kh, kw, sh, sw, pl0, pl1);
  else poolPlanes<u8>(x, xLen, y, h, w, oh, ow, kh, kw, sh, sw, pl0, pl1);
}

// @ts-ignore: decorator
@inline function max16<T>(a: v128, b: v128): v128 {
  return isSigned<T>() ? i8x16.max_s(a, b) : i8x16.max_u(a, b);
}

function poolPlanes<T>(x: usize, xLen: i32, y: usize, h: i32, w: i32, oh: i32, ow: i32, kh: i32, kw: i32, sh: i32, sw: i32, pl0: i32, pl1: i32): void {
  const fast = kh == 2 && kw == 2 && sh == 2 && sw == 2;
  const xEnd = x + <usize>xLen;
  for (let pl = pl0; pl < pl1; pl++) {
    const xp = x + <usize>(pl * h * w);
    const yp = y + <usize>(pl * oh * ow);
    for (let oy = 0; oy < oh; oy++) {
      const r0 = xp + <usize>(oy * sh * w);
      const yr = yp + <usize>(oy * ow);
      let ox = 0;
      if (fast) {
        const r1 = r0 + <usize>w;
        for (; ox < ow && r1 + <usize>(2 * ox + 16) <= xEnd; ox += 8) {
          const v = max16<T>(v128.load(r0 + <usize>(2 * ox)), v128.load(r1 + <usize>(2 * ox)));
          const ev = v128.shuffle<u8>(v, v, 0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14);
          const od = v128.shuffle<u8>(v, v, 1, 3, 5, 7, 9, 11, 13, 15, 1, 3, 5, 7, 9, 11, 13, 15);
          const m = max16<T>(ev, od);
          const nvalid = min(8, ow - ox);
          if (nvalid == 8) {
            v128.store64_lane(yr + <usize>ox, m, 0);
          } else {
            const bits = i64x2.extract_lane(m, 0);
            for (let j = 0; j < nvalid; j++) store<u8>(yr + <usize>(ox + j), <u8>(bits >> (8 * j)));
          }
        }
      }
      for (; ox < ow; ox++) {
        const base = r0 + <usize>(ox * sw);
        let best = <i32>load<T>(base);
        for (let ky = 0; ky < kh; ky++) {
          const row = base + <usize>(ky * w);
          for (let kx = 0; kx < kw; kx++) best = max(best, <i32>load<T>(row + <usize>kx));
        }
        store<T>(yr + <usize>ox, <T>best);
      }
    }
  }
}
