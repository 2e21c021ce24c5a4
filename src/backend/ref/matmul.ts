/** Reference batched matmul over the packed GEMM (see ./gemm.ts). */
import type { FloatArray } from "../../tensor/dtype.js";
import type { Epilogue, MatmulGeom } from "../kernels.js";
import { epilogue } from "./epilogue.js";
import { gemm } from "./gemm.js";

export function matmul(a: FloatArray, b: FloatArray, c: FloatArray, g: MatmulGeom, epi?: Epilogue | null): void {
  const { m, n, k } = g;
  // Row/column strides of op(A) (m×k) and op(B) (k×n) inside their row-major storage.
  const [ars, acs] = g.transA ? [1, m] : [k, 1];
  const [brs, bcs] = g.transB ? [1, k] : [n, 1];
  for (let i = 0; i < g.batch; i++) {
    gemm(
      m, n, k,
      { data: a, off: i * g.aBatchStride, rs: ars, cs: acs },
      { data: b, off: i * g.bBatchStride, rs: brs, cs: bcs },
      { data: c, off: i * g.cBatchStride, rs: n, cs: 1 },
      g.accumulate,
    );
  }
  if (epi) for (let i = 0; i < g.batch; i++) epilogue(c.subarray(i * g.cBatchStride, i * g.cBatchStride + g.m * g.n), g.m, g.n, 1, epi);
}
