/*
 * The native QAT kernels: fused fake quantization per tensor and per channel (x̂ and the
 * straight-through mask in one pass), LSQ's backward and the observers' min/max reductions (fakequant.c), and
 * the BN-folding per-channel affine map with its backward (affine.c). Declared apart from
 * qat.h; called by binding-qat.c.
 */
#ifndef QAT_FAKEQUANT_H
#define QAT_FAKEQUANT_H

#include "qat.h"

/*
 * out[i] = fl32((clamp(q, qmin, qmax) − Z)·S), mask[i] = qmin ≤ q ≤ qmax, q the int64 code of
 * src/quant/fake-quantize.ts (PyTorch 1.13): q = fl32(Z + rint(fl32(x[i]·fl32(1/S)))), −2^63 for
 * NaN and |p| ≥ 2^63. scale is the float32 S; zp, qmin, qmax any numbers (integers in practice).
 */
void qat_fake_quant_f32(const float *x, float *out, uint8_t *mask, long n, float scale, double zp, double qmin, double qmax);
/* The same over x viewed as [outer, channels, inner], channel c with scales[c], zps[c]. */
void qat_fake_quant_channels_f32(const float *x, float *out, uint8_t *mask, long outer, long channels, long inner,
                                 const float *scales, const double *zps, double qmin, double qmax);

/* out = {min, max, any NaN} of x[0, n) with the reference's `if (v < m) m = v` semantics (±∞ for n = 0). */
void qat_minmax_f32(const float *x, long n, double out[3]);
/* Per channel of [outer, channels, inner]: mins[c], maxs[c] (NaN, NaN for a channel holding a NaN). */
void qat_minmax_channels_f32(const float *x, long outer, long channels, long inner, float *mins, float *maxs);

/*
 * LSQ's backward (src/quant/lsq.ts, PyTorch 1.13's learnable fake-quant) over [outer, channels,
 * inner]: dx, and acc[2c], acc[2c + 1] = Σ ∂S, Σ ∂Z of channel c (float64, summed in the
 * reference's order: index order within each block, blocks in order); scales are the float32 S,
 * zps the rounded Z, gf the float32 gradient factor.
 */
void qat_lsq_grad_f32(const float *x, const float *dy, float *dx, long outer, long channels, long inner, const float *scales,
                      const double *zps, double qmin, double qmax, float gf, double *acc);

/* y = fl32(x·scale[c] + bias[c]) in float64 over [n, c, inner] (bias nullable): bit-identical to the reference. */
void qat_affine_f32(const float *x, const float *scale, const float *bias, float *y, long n, long c, long inner);
/* dx = g·scale[c] (exact), dscale[c] = Σ g·x, dbias[c] = Σ g (float64 per image, added into float32 as the reference does); each output nullable. */
void qat_affine_bwd_f32(const float *g, const float *x, const float *scale, float *dx, float *dscale, float *dbias, long n, long c,
                        long inner);

#endif
