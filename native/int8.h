/*
 * Shared pieces of the native int8 kernels (int8.c: the GEMM and linear; int8-conv.c: the
 * convolution; int8-u8s8.c / int8-pack8.c: its u8 × s8 path and that path's activation
 * operand; int8-gemv.c: the few-row linear; int8-elem.c: max pool and add): tile sizes, the packed weight layout's helpers, the exact requantization of
 * one value (src/int8/fixed-point.ts's single rounding, in int64) and the entry points between
 * the two files. Header-only (static inline).
 */
#ifndef QAT_INT8_H
#define QAT_INT8_H

#include "qat.h"

#define QMR 6   /* weight rows (output channels) per micro-tile */
#define QMC 96  /* weight rows per cache block (a multiple of QMR: QMC × QKC pairs = 96 KB, in L2) */
#define QNR 16  /* columns (pixels or batch rows) per micro-tile */
#define QM8 4   /* weight rows per micro-tile of the u8 × s8 path (int8-u8s8.c) */
#define QKC 256 /* k pairs per block */
/* Linear layers with at most this many rows take the matrix-vector path (int8-gemv.c). */
#define QGEMV_MAX_ROWS 4

static inline int kpairs(int k) { return (k + 1) / 2; }
static inline int kquads(int k) { return (k + 3) / 4; }

static inline int32_t pair16(int a, int b) { return (int32_t)((uint32_t)(uint16_t)(int16_t)a | ((uint32_t)(uint16_t)(int16_t)b << 16)); }

static inline int requant_one(int32_t acc, int32_t bias, int32_t m0, int32_t shift, int yzp, int lo, int hi) {
  int t = 31 - shift;
  int64_t v = ((int64_t)acc + bias) * (int64_t)m0 + ((int64_t)1 << (t - 1));
  v >>= t; /* arithmetic: floor */
  if (v > 2147483647) v = 2147483647;
  if (v < -2147483647 - 1) v = -2147483647 - 1;
  v += yzp;
  return v < lo ? lo : v > hi ? hi : (int)v;
}

static inline int xval(const void *x, int unsigned_x, long i) {
  return unsigned_x ? ((const uint8_t *)x)[i] : ((const int8_t *)x)[i];
}

/* acc [ocp × ldc] = packed weights · B (np columns, a multiple of QNR, as QNR-column panels of int16-pair words;
 * the first ncols are wanted) (int8.c) */
void qat_igemm(int oc, int np, int ncols, int kp, const int32_t *wpacked, const int32_t *b, int32_t *acc, long ldc);
/* Row o of acc (n values) → y[off + j·ycol], requantized (int8.c) */
void qat_requant_row(const int32_t *acc, int n, int o, const qat_requant *rq, void *y, long off, long ycol);
/* Max pool of `planes` h×w planes → oh×ow (dilation 1, padding ≤ kernel/2); 0 when a row is too wide (int8-elem.c) */
int qat_qmaxpool2d(const void *x, int x_unsigned, int planes, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw,
                   int oh, int ow, void *y);
/* TFLite quantized add, optionally followed by the next node's requantization (int8-elem.c) */
void qat_qadd(const void *a, int a_unsigned, int azp, const void *b, int b_unsigned, int bzp, const int32_t *mults,
              int left_shift, const qat_requant *out, const qat_requant *post, int post_xzp, void *y, long n);
/* The u8 × s8 conv path (int8-u8s8.c): packed weights hold the int16 pairs, then 4-row panels of
 * int8 quads, Σ_k w per row and a flag (every w − wZp fits int8). */
size_t qat_quad_offset(int oc, int k);
void qat_qpack_quads(const int8_t *w, int oc, int k, const int32_t *wzp, int wzp_len, int32_t *packed);
const int32_t *qat_quad_sums(const int32_t *wpacked, int oc, int k); /* [oc] sums, then the flag */
/* flip: x is int8, taken as the bytes x + 128 (xzp is then the shifted zero point; VNNI only) */
void qat_conv8_acc(const qat_conv_geom *g, const uint8_t *x, int xzp, int flip, int wide, int p0, int np, int npad, int r0,
                   int rows, const int32_t *wpacked, int thread, int32_t *acc);
/* The u8 × s8 path's activation operand (int8-pack8.c): quad-word panels in the thread's scratch slot 2 */
const int32_t *qat_conv8_cols(const qat_conv_geom *g, const uint8_t *x, int xzp, int flip, int wide, int p0, int np, int npad,
                              int r0, int rows, int thread);
void qat_qlinear_gemv(const void *x, int x_unsigned, int xzp, int m, int k, const int32_t *wpacked, int n,
                      const qat_requant *rq, void *y);

#endif
