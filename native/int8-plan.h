/*
 * A compiled run of an Int8Model on the native int8 kernels (int8-plan.c): the model's layers
 * for one input shape, with every intermediate buffer allocated once, run in one call from
 * the float input (quantized here) to the float output (dequantized here). Built and run by
 * binding-int8-plan.c for src/int8/plan.ts.
 */
#ifndef QAT_INT8_PLAN_H
#define QAT_INT8_PLAN_H

#include "qat.h"

enum { QP_CONV = 1, QP_LINEAR = 2, QP_MAXPOOL = 3, QP_ADD = 4 };

/*
 * The spec a plan is built from (Int32Arrays from plan.ts):
 *   head  [nbufs, nsteps, nweights, inZp, inQmin, inQmax, outBuf, outZp]
 *   bufs  nbufs × [elements, unsigned]; buffer 0 is the quantized input
 *   steps nsteps × QP_STEP_INTS ints: [op, in, in2, out, weight, xZp, then per op:]
 *     conv    [6..21] geometry (qat_conv_geom order, groups = 1), [22] pool2
 *     linear  [6] m, [7] k, [8] n, [9] index of the layer's int8 weights [n, k] in `bytes` (−1: none): at m ≤
 *             QGEMV_MAX_ROWS with a uint8 input, rows whose values all fit 7 bits then run qp_linear_u8s8
 *     maxpool [6..16] planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow
 *     add     [6] bZp, [7..10] aM0, aShift, bM0, bShift, [11] leftShift, [12] n (elements), [13] post?,
 *             [14] post's input zero point, [15] the add's own output dtype is int8
 *   requantization of conv / linear: [24] perChannel, [25] yZp, [26] lo, [27] hi,
 *     [28] bias offset in params (−1: none), [29] multiplier offset, [30] shift offset, [31] channels
 *   add: [24..28] out m0, shift, yZp, lo, hi; [29..33] post m0, shift, yZp, lo, hi
 *   params: the int32 biases, multipliers and shifts the offsets point into (copied into the plan)
 *   bytes: int8 weights of linear steps (copied into the plan, padded: see int8-plan-gemv.c)
 */
#define QP_HEAD_INTS 8
#define QP_STEP_INTS 40

typedef struct {
  int op, in, in2, out, weight, xzp;
  qat_conv_geom g;
  int pool2;
  int m, k, n;
  int pool[11];
  int bzp, mults[4], left_shift, has_post, post_xzp;
  long len;
  int32_t add_ints[10]; /* out m0, shift, then post m0, shift (the requant structs point here) */
  qat_requant rq, post;
  long wwords; /* int32 words the weight must hold */
  int8_t *w8;    /* linear: [⌈n/4⌉·4 rows × k rounded up to 32] int8 weights for qp_linear_u8s8, or NULL */
  int32_t *wsum; /* Σ_k w per row of w8 */
} qp_step;

typedef struct {
  int nsteps, nbufs, nweights;
  qp_step *steps;
  void **buf;
  long *buf_len;
  int *buf_unsigned;
  int32_t *params;
  uint8_t *xpad; /* one zero-padded activation row for qp_linear_u8s8 */
  long xpad_len;
  long *wwords; /* per weight: the most words a step needs */
  float in_scale, out_scale;
  int in_zp, in_qmin, in_qmax, out_buf, out_zp;
  size_t bytes; /* allocated, for the GC's accounting */
} qp_plan;

/* A plan from the spec, or NULL with a message in err (a malformed spec, or out of memory). */
qp_plan *qp_plan_new(const int32_t *head, const int32_t *bufs, long bufs_len, const int32_t *steps, long steps_len,
                     const int32_t *params, long params_len, const float *scales, const int8_t *const *bytes, const long *bytes_len,
                     int nbytes, char *err, size_t errlen);
void qp_plan_free(qp_plan *p);
/*
 * Runs the plan on x (buf_len[0] floats) into y (buf_len[out_buf] floats); weights[i] holds at
 * least wwords[i] words. Returns −1, or the index of the first NaN in x (nothing run), or −2
 * when a max pool row is too wide for the kernel.
 */
long qp_plan_run(const qp_plan *p, const int32_t *const *weights, const float *x, float *y);
/* q = clamp(round-half-even(x / scale) + zp, qmin, qmax) in float32 (src/int8/kernels/quantize.ts); −1 or the first NaN's index */
long qp_quantize(const float *x, long n, float scale, int zp, int qmin, int qmax, void *q, int q_unsigned);
/* 1 when the n bytes are all ≤ 127 (int8-plan-gemv.c) */
int qp_u8_fits7(const uint8_t *x, long n);
/* y [m, n] = requant(Σ_k (x − xZp)·w + bias) for uint8 x ≤ 127 and w8 / wsum as in qp_step; xpad: ⌈k/32⌉·32 bytes, zero past k (int8-plan-gemv.c) */
void qp_linear_u8s8(const uint8_t *x, int xzp, int m, int k, const int8_t *w8, const int32_t *wsum, int n, const qat_requant *rq,
                    uint8_t *xpad, void *y);
/* y = (q − zp) · scale in float32 */
void qp_dequantize(const void *q, int q_unsigned, long n, float scale, int zp, float *y);

#endif
