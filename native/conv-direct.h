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
/* dx = conv2d transposed of dy with w: at stride 1 the forward convolution of dy with the flipped, transposed w; at
 * larger strides one such correlation per stride phase of dx (conv-dgrad.c). */
int qat_conv_direct_bwd_input(const float *dy, const float *w, float *dx, const qat_conv_geom *g, int nthreads);
/* dw = Σ_n dy[n] ⋆ x[n]: any stride, dilation and padding. */
int qat_conv_direct_bwd_weight(const float *x, const float *dy, float *dw, const qat_conv_geom *g, int nthreads);


/* ---- shared by conv-direct.c and conv-wgrad.c ---- */
#define QAT_CD_SLACK 16 /* floats after an image's xq: tail lanes of the last output row read up to 7 past it */
#define QAT_CD_WC 16    /* backward-weight tiles: output channels per tile */
#define QAT_CD_FR 4     /* forward tiles: output channels per tile (rows of a weight panel) */

/* One convolution in the terms of the direct kernels: input planes cin × ih × iw → cout × oh × ow. */
typedef struct {
  int cin, ih, iw, cout, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
} qat_cd_geom;

/* The prepared input of one image (xq): the zero-padded planes, the padded column ix of each row
 * stored at (ix mod sw)·wh + ix / sw, so that for every tap (ci, ky, kx) the inputs of consecutive
 * output columns are consecutive floats at xq + off[tap] + oy·rowstep + ox. */
typedef struct {
  int hp, wp, wh, wq;  /* padded rows and columns; phase width ⌈wp/sw⌉; row width sw·wh */
  long plane, rowstep; /* hp·wq; distance in xq between consecutive output rows (sh·wq) */
  long size;           /* floats of one image's xq, slack included */
} qat_cd_layout;

qat_cd_layout qat_cd_layout_of(const qat_cd_geom *d);
/* off[tap] for tap = (ci, ky, kx) in weight order. */
void qat_cd_offsets(const qat_cd_geom *d, const qat_cd_layout *L, int *off);
/* One image (cin × ih × iw) → its xq; writes every float of it, slack included. */
void qat_cd_prepare(const float *x, const qat_cd_geom *d, const qat_cd_layout *L, float *xq);

/* dst[m] = src[2m] for m < count (AVX2 where the CPU has it; reads nothing past src[2·count − 2]). */
void qat_cd_gather2(float *dst, const float *src, int count);

/* The forward's register tiles over one prepared image for the weight panels [p0, p1) (panels of
 * QAT_CD_FR rows × k taps at ap, tap offsets off): output (o, oy, ox) for o < cout, oy < oh, ox < ow
 * read from xq + off[tap] + oy·rowstep + ox, stored at y + o·cstride + oy·rstride + ox·qstride, the
 * epilogue (nullable; with qstride 1 only) applied first. */
void qat_cd_tiles(const float *xq, long rowstep, const float *ap, int k, const int *off, int cout, int p0, int p1, int oh, int ow,
                  float *y, long cstride, long rstride, long qstride, const qat_epi *epi);
/* Backward input at stride > 1 by stride phases (conv-dgrad.c). */
void qat_cd_bwd_input_strided(const float *dy, const float *w, float *dx, const qat_conv_geom *g, int nthreads);

typedef float qat_v4f __attribute__((vector_size(16)));
static inline qat_v4f qat_load4(const float *p) {
  qat_v4f v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

#endif
