/*
 * Direct ("implicit GEMM") float convolution passes of the native backend (conv-direct.c),
 * used by conv.c for groups-1 convolutions where they apply (qat_conv_direct_paths): no im2col
 * matrix, no per-image packing. Each returns 0 when it does not handle the geometry, and the
 * caller then runs the im2col + GEMM path.
 */
#ifndef QAT_CONV_DIRECT_H
#define QAT_CONV_DIRECT_H

#include "qat.h"

enum { QAT_DIRECT_FWD = 1, QAT_DIRECT_BWD_INPUT = 2, QAT_DIRECT_BWD_WEIGHT = 4 };
/* The passes of geometry g that the direct kernels run (a bit set of QAT_DIRECT_*). */
int qat_conv_direct_paths(const qat_conv_geom *g);
/* y = conv(x, w) (+ epi), NCHW / OIHW, nthreads threads. */
int qat_conv_direct_fwd(const float *x, const float *w, float *y, const qat_conv_geom *g, const qat_epi *epi, int nthreads);
/* dx = conv2d transposed of dy with w: stride 1 only (a forward convolution of dy with the flipped, transposed w). */
int qat_conv_direct_bwd_input(const float *dy, const float *w, float *dx, const qat_conv_geom *g, int nthreads);
/* dw = Σ_n dy[n] ⋆ x[n]: any stride, dilation and padding. */
int qat_conv_direct_bwd_weight(const float *x, const float *dy, float *dw, const qat_conv_geom *g, int nthreads);

#endif
