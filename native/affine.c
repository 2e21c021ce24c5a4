/*
 * The per-channel affine map of QAT's BN folding (ops.channelAffine: y_conv·(1/s) + b) and its
 * backward on [n, c, inner] float32 data, following src/backend/ref/channel-affine.ts:
 *   forward   y = fl32(x·scale[c] + bias[c]) in float64 (the reference's JavaScript arithmetic;
 *             the build has -ffp-contract=off, so no FMA), bit-identical, 4 float64 lanes on AVX2;
 *   backward  dx = g·scale[c] (one float32 product, exact as the reference's double product
 *             rounded once), and per image Σ g, Σ g·x in float64 added into the float32
 *             dscale[c] / dbias[c] as the reference does — in one pass over g and x, 8 lanes × 2
 *             accumulators on AVX2 (another summation order: float64 rounding, so within float32
 *             rounding of the reference).
 * Both passes walk planes (image, channel) in memory order, so the hardware prefetcher streams
 * them (a channel's planes are far apart); the backward keeps each plane's sums and folds them
 * per channel, images in order, afterwards, so results do not depend on the thread count. Called by binding-qat.c (the
 * former portable-only versions in norm.c are gone).
 */
#include "fakequant.h"

#include <stdlib.h>

#if QAT_X86
#include <immintrin.h>
#endif

#define PARALLEL_MIN (1L << 16) /* elements below which a kernel stays on one thread */

static inline __attribute__((always_inline)) void affine_row_body(const float *x, float *y, long n, double s, double t) {
  for (long j = 0; j < n; j++) y[j] = (float)((double)x[j] * s + t);
}
static void affine_row(const float *x, float *y, long n, double s, double t) { affine_row_body(x, y, n, s, t); }
#if QAT_X86
__attribute__((target("avx2"))) static void affine_row_avx2(const float *x, float *y, long n, double s, double t) {
  affine_row_body(x, y, n, s, t);
}
#endif

typedef struct {
  const float *x, *g, *scale, *bias;
  float *y, *dscale, *dbias;
  double *sums; /* backward: Σ g, Σ g·x of each plane */
  long n, c, inner;
} affine_ctx;

static void affine_task(void *p, int plane, int thread) {
  (void)thread;
  const affine_ctx *a = p;
  long ch = plane % a->c, o = (long)plane * a->inner;
  double s = a->scale[ch], t = a->bias ? a->bias[ch] : 0.0;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) {
    affine_row_avx2(a->x + o, a->y + o, a->inner, s, t);
    return;
  }
#endif
  affine_row(a->x + o, a->y + o, a->inner, s, t);
}

void qat_affine_f32(const float *x, const float *scale, const float *bias, float *y, long n, long c, long inner) {
  if (n * c * inner <= 0) return;
  affine_ctx a = {.x = x, .scale = scale, .bias = bias, .y = y, .n = n, .c = c, .inner = inner};
  qat_parallel((int)(n * c), n * c * inner >= PARALLEL_MIN ? qat_threads : 1, affine_task, &a);
}

/* One row: dx = g·s (dx nullable), *sg = Σ g, *sgx = Σ g·x in float64. */
static void bwd_row(const float *g, const float *x, float *dx, long n, float s, double *sg, double *sgx) {
  double a0 = 0, a1 = 0, b0 = 0, b1 = 0;
  long j = 0;
  for (; j + 2 <= n; j += 2) {
    double g0 = g[j], g1 = g[j + 1];
    if (dx) {
      dx[j] = g[j] * s;
      dx[j + 1] = g[j + 1] * s;
    }
    a0 += g0;
    a1 += g1;
    b0 += g0 * x[j];
    b1 += g1 * x[j + 1];
  }
  for (; j < n; j++) {
    if (dx) dx[j] = g[j] * s;
    a0 += g[j];
    b0 += (double)g[j] * x[j];
  }
  *sg = a0 + a1;
  *sgx = b0 + b1;
}

#if QAT_X86
/* (l0 + l1) + (l2 + l3) of a float64 vector, in registers (a store and four loads would stall forwarding). */
__attribute__((target("avx2"))) static inline double hsum_pd(__m256d v) {
  __m128d h = _mm_hadd_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1)); /* l0 + l1, l2 + l3 */
  return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

/* bwd_row with 8 lanes × 2 accumulators; the tail in scalar code here (no call into baseline code). */
__attribute__((target("avx2"))) static void bwd_row_avx2(const float *g, const float *x, float *dx, long n, float s, double *sg,
                                                         double *sgx) {
  __m256d a0 = _mm256_setzero_pd(), a1 = a0, b0 = a0, b1 = a0;
  const __m256 sv = _mm256_set1_ps(s);
  long j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 gv = _mm256_loadu_ps(g + j), xv = _mm256_loadu_ps(x + j);
    if (dx) _mm256_storeu_ps(dx + j, _mm256_mul_ps(gv, sv));
    __m256d g0 = _mm256_cvtps_pd(_mm256_castps256_ps128(gv)), g1 = _mm256_cvtps_pd(_mm256_extractf128_ps(gv, 1));
    __m256d x0 = _mm256_cvtps_pd(_mm256_castps256_ps128(xv)), x1 = _mm256_cvtps_pd(_mm256_extractf128_ps(xv, 1));
    a0 = _mm256_add_pd(a0, g0);
    a1 = _mm256_add_pd(a1, g1);
    b0 = _mm256_add_pd(b0, _mm256_mul_pd(g0, x0));
    b1 = _mm256_add_pd(b1, _mm256_mul_pd(g1, x1));
  }
  double rs = hsum_pd(_mm256_add_pd(a0, a1)), rx = hsum_pd(_mm256_add_pd(b0, b1));
  for (; j < n; j++) {
    if (dx) dx[j] = g[j] * s;
    rs += g[j];
    rx += (double)g[j] * x[j];
  }
  *sg = rs;
  *sgx = rx;
}
#endif

typedef void (*bwd_row_fn)(const float *, const float *, float *, long, float, double *, double *);

static bwd_row_fn bwd_row_for_isa(void) {
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) return bwd_row_avx2;
#endif
  return bwd_row;
}

/* Phase 1, one task per plane (image, channel) in memory order: dx and the plane's two sums. */
static void affine_bwd_plane_task(void *p, int plane, int thread) {
  (void)thread;
  const affine_ctx *a = p;
  long o = (long)plane * a->inner;
  bwd_row_for_isa()(a->g + o, a->x + o, a->y ? a->y + o : NULL, a->inner, a->scale[plane % a->c], &a->sums[2 * (long)plane],
                    &a->sums[2 * (long)plane + 1]);
}

/* The reference's accumulation: each image's float64 sums added into the float32 outputs, images in order. */
static void fold_sums(const affine_ctx *a) {
  for (long ch = 0; ch < a->c; ch++) {
    float dscale = 0, dbias = 0;
    for (long i = 0; i < a->n; i++) {
      const double *s = &a->sums[2 * (i * a->c + ch)];
      dscale = (float)((double)dscale + s[1]);
      dbias = (float)((double)dbias + s[0]);
    }
    if (a->dscale) a->dscale[ch] = dscale;
    if (a->dbias) a->dbias[ch] = dbias;
  }
}

/* Without memory for the per-plane sums: one task per channel, its planes strided through memory. */
static void affine_bwd_channel_task(void *p, int ch, int thread) {
  (void)thread;
  const affine_ctx *a = p;
  bwd_row_fn row = bwd_row_for_isa();
  float s = a->scale[ch], dscale = 0, dbias = 0;
  for (long i = 0; i < a->n; i++) {
    long o = (i * a->c + ch) * a->inner;
    double sg, sgx;
    row(a->g + o, a->x + o, a->y ? a->y + o : NULL, a->inner, s, &sg, &sgx);
    dscale = (float)((double)dscale + sgx);
    dbias = (float)((double)dbias + sg);
  }
  if (a->dscale) a->dscale[ch] = dscale;
  if (a->dbias) a->dbias[ch] = dbias;
}

void qat_affine_bwd_f32(const float *g, const float *x, const float *scale, float *dx, float *dscale, float *dbias, long n, long c,
                        long inner) {
  if (c <= 0) return;
  affine_ctx a = {.g = g, .x = x, .scale = scale, .y = dx, .dscale = dscale, .dbias = dbias, .n = n, .c = c, .inner = inner};
  int threads = n * c * inner >= PARALLEL_MIN ? qat_threads : 1;
  a.sums = n > 0 ? malloc(sizeof(double) * 2 * (size_t)(n * c)) : NULL;
  if (!a.sums) {
    qat_parallel((int)c, threads, affine_bwd_channel_task, &a);
    return;
  }
  qat_parallel((int)(n * c), threads, affine_bwd_plane_task, &a);
  fold_sums(&a);
  free(a.sums);
}
