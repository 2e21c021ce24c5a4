/**
 * A conv2d geometry from a compact spec (the output size from PyTorch's formula), shared by the
 * conv kernel tests (conv, conv-mutants, native-kernels, native-conv-direct). Imports only the
 * Conv2dGeom type, so a test that imports kernels freshly (conv-mutants) loads no library code
 * through it.
 */
import type { Conv2dGeom } from "../../src/backend/kernels.js";

export interface ConvSpec {
  n: number; c: number; h: number; w: number; oc: number; k: [number, number];
  stride?: [number, number]; pad?: [number, number]; dil?: [number, number]; groups?: number;
}

export function geomOf(s: ConvSpec): Conv2dGeom {
  const [kh, kw] = s.k, [sh, sw] = s.stride ?? [1, 1], [ph, pw] = s.pad ?? [0, 0], [dh, dw] = s.dil ?? [1, 1];
  const oh = Math.floor((s.h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((s.w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  return { n: s.n, c: s.c, h: s.h, w: s.w, oc: s.oc, kh, kw, oh, ow, strideH: sh, strideW: sw, padH: ph, padW: pw, dilationH: dh, dilationW: dw, groups: s.groups ?? 1 };
}
