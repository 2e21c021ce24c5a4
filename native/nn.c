/*
 * Pooling kernels of the native backend. They follow src/backend/ref/pool.ts operation for
 * operation (no contraction into FMA: the build passes -ffp-contract=off), so results equal
 * the reference bit for bit. Planes are split among threads. Also the global average pool
 * (adaptive to 1×1, ResNet's head: norm.h) and its backward. Batch norm and the channel
 * affine are in norm.c. Called by binding.c and binding-norm.c.
 */
#include "norm.h"

#include <math.h>
#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif

#define ELEMENTWISE_MIN (1L << 16) /* elements below which a kernel stays on one thread */

static int threads_for(long elements) { return elements >= ELEMENTWISE_MIN ? qat_threads : 1; }

/* First tap k in [0, kk) with start + k·d ≥ 0. */
static int first_tap(int start, int d, int kk) {
  if (start >= 0) return 0;
  int t = (-start + d - 1) / d;
  return t < kk ? t : kk;
}

/* One past the last tap k with start + k·d < size. */
static int end_tap(int start, int d, int kk, int size) {
  if (start >= size) return 0;
  int t = (size - start + d - 1) / d;
  return t < kk ? t : kk;
}

typedef struct {
  const float *x;
  float *y;
  const int32_t *ci;
  int32_t *argmax;
  const qat_pool_geom *g;
} pool_ctx;

#if QAT_X86
/*
 * 2×2 stride-2 windows without padding, 8 outputs per step: the window's four values in
 * row-major order, each taking over when greater or NaN — the reference's rule, in lanes.
 * Returns the number of outputs done on this row (a multiple of 8).
 */
__attribute__((target("avx2"))) static int max2x2_row_avx2(const float *r0, const float *r1, int row0, int w, int ow, float *y,
                                                            int32_t *am) {
  int ox = 0;
  const __m256i step = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  for (; ox + 8 <= ow; ox += 8) {
    const float *a = r0 + 2 * ox, *b = r1 + 2 * ox;
    __m256 a0 = _mm256_loadu_ps(a), a1 = _mm256_loadu_ps(a + 8), b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    __m256 v00 = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a0, a1, 0x88)), 0xD8));
    __m256 v01 = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a0, a1, 0xDD)), 0xD8));
    __m256 v10 = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(b0, b1, 0x88)), 0xD8));
    __m256 v11 = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(b0, b1, 0xDD)), 0xD8));
    __m256i i00 = _mm256_add_epi32(_mm256_set1_epi32(row0 + 2 * ox), step);
    __m256i i01 = _mm256_add_epi32(i00, _mm256_set1_epi32(1)), i10 = _mm256_add_epi32(i00, _mm256_set1_epi32(w));
    __m256i i11 = _mm256_add_epi32(i10, _mm256_set1_epi32(1));
    __m256 best = v00, at = _mm256_castsi256_ps(i00);
#define TAKE(v, i)                                                                                              \
  {                                                                                                             \
    __m256 t = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));            \
    best = _mm256_blendv_ps(best, v, t);                                                                        \
    at = _mm256_blendv_ps(at, _mm256_castsi256_ps(i), t);                                                       \
  }
    TAKE(v01, i01)
    TAKE(v10, i10)
    TAKE(v11, i11)
#undef TAKE
    _mm256_storeu_ps(y + ox, best);
    _mm256_storeu_si256((__m256i *)(am + ox), _mm256_castps_si256(at));
  }
  return ox;
}
#endif

static void max_task(void *p, int pl, int thread) {
  (void)thread;
  const pool_ctx *cx = p;
  const qat_pool_geom *g = cx->g;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2 && g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 &&
      g->dh == 1 && g->dw == 1) {
    const float *x = cx->x + (long)pl * g->h * g->w;
    for (int oy = 0; oy < g->oh; oy++) {
      long o = ((long)pl * g->oh + oy) * g->ow;
      int row0 = 2 * oy * g->w;
      int done = max2x2_row_avx2(x + row0, x + row0 + g->w, row0, g->w, g->ow, cx->y + o, cx->argmax + o);
      for (int ox = done; ox < g->ow; ox++) {
        int idx[4] = {row0 + 2 * ox, row0 + 2 * ox + 1, row0 + g->w + 2 * ox, row0 + g->w + 2 * ox + 1};
        float best = x[idx[0]];
        int at = idx[0];
        for (int t = 1; t < 4; t++) {
          float v = x[idx[t]];
          int take = (v > best) | (v != v);
          best = take ? v : best;
          at = take ? idx[t] : at;
        }
        cx->y[o + ox] = best;
        cx->argmax[o + ox] = at;
      }
    }
    return;
  }
#endif
  const float *x = cx->x + (long)pl * g->h * g->w;
  long o = (long)pl * g->oh * g->ow;
  for (int oy = 0; oy < g->oh; oy++) {
    int y0 = oy * g->sh - g->ph, lo_y = 0, hi_y = g->kh;
    if (y0 < 0 || y0 + (g->kh - 1) * g->dh >= g->h) lo_y = first_tap(y0, g->dh, g->kh), hi_y = end_tap(y0, g->dh, g->kh, g->h);
    for (int ox = 0; ox < g->ow; ox++, o++) {
      int x0 = ox * g->sw - g->pw, lo_x = 0, hi_x = g->kw;
      if (x0 < 0 || x0 + (g->kw - 1) * g->dw >= g->w) lo_x = first_tap(x0, g->dw, g->kw), hi_x = end_tap(x0, g->dw, g->kw, g->w);
      float best = -INFINITY;
      int at = -1;
      for (int ky = lo_y; ky < hi_y; ky++) {
        int row = (y0 + ky * g->dh) * g->w;
        for (int kx = lo_x; kx < hi_x; kx++) {
          int idx = row + x0 + kx * g->dw;
          float v = x[idx];
          int take = (v > best) | (v != v) | (at < 0); /* branch-free: data-dependent branches mispredict */
          best = take ? v : best;
          at = take ? idx : at;
        }
      }
      cx->y[o] = best;
      cx->argmax[o] = at;
    }
  }
}

void qat_max_pool2d(const float *x, float *y, int32_t *argmax, const qat_pool_geom *g) {
  pool_ctx cx = {x, y, NULL, argmax, g};
  qat_parallel(g->n * g->c, threads_for((long)g->n * g->c * g->oh * g->ow * g->kh * g->kw), max_task, &cx);
}

static void max_bwd_task(void *p, int pl, int thread) {
  (void)thread;
  const pool_ctx *cx = p;
  const qat_pool_geom *g = cx->g;
  float *dx = cx->y + (long)pl * g->h * g->w;
  const float *dy = cx->x + (long)pl * g->oh * g->ow;
  const int32_t *am = cx->ci + (long)pl * g->oh * g->ow;
  memset(dx, 0, (size_t)g->h * g->w * sizeof(float));
  for (long o = 0; o < (long)g->oh * g->ow; o++)
    if (am[o] >= 0) dx[am[o]] += dy[o];
}

void qat_max_pool2d_bwd(const float *dy, const int32_t *argmax, float *dx, const qat_pool_geom *g) {
  pool_ctx cx = {dy, dx, argmax, NULL, g};
  qat_parallel(g->n * g->c, threads_for((long)g->n * g->c * g->h * g->w), max_bwd_task, &cx);
}

/* PyTorch avg_pool2d window along one axis: [lo, hi) clipped, and the padded count. */
static void avg_window(int o, int s, int p, int k, int size, int *lo, int *hi, int *padded) {
  int start = o * s - p, end = start + k < size + p ? start + k : size + p;
  *lo = start > 0 ? start : 0;
  *hi = end < size ? end : size;
  *padded = end - start;
}

static void avg_task(void *p, int pl, int thread) {
  (void)thread;
  const pool_ctx *cx = p;
  const qat_pool_geom *g = cx->g;
  const float *x = cx->x + (long)pl * g->h * g->w;
  long o = (long)pl * g->oh * g->ow;
  for (int oy = 0; oy < g->oh; oy++) {
    int y0, y1, py;
    avg_window(oy, g->sh, g->ph, g->kh, g->h, &y0, &y1, &py);
    for (int ox = 0; ox < g->ow; ox++, o++) {
      int x0, x1, px;
      avg_window(ox, g->sw, g->pw, g->kw, g->w, &x0, &x1, &px);
      double acc = 0;
      for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) acc += x[iy * g->w + ix];
      double div = g->count_include_pad ? (double)py * px : (double)(y1 - y0) * (x1 - x0);
      cx->y[o] = (float)(acc / div);
    }
  }
}

void qat_avg_pool2d(const float *x, float *y, const qat_pool_geom *g) {
  pool_ctx cx = {x, y, NULL, NULL, g};
  qat_parallel(g->n * g->c, threads_for((long)g->n * g->c * g->oh * g->ow * g->kh * g->kw), avg_task, &cx);
}

static void avg_bwd_task(void *p, int pl, int thread) {
  (void)thread;
  const pool_ctx *cx = p;
  const qat_pool_geom *g = cx->g;
  float *dx = cx->y + (long)pl * g->h * g->w;
  long o = (long)pl * g->oh * g->ow;
  memset(dx, 0, (size_t)g->h * g->w * sizeof(float));
  for (int oy = 0; oy < g->oh; oy++) {
    int y0, y1, py;
    avg_window(oy, g->sh, g->ph, g->kh, g->h, &y0, &y1, &py);
    for (int ox = 0; ox < g->ow; ox++, o++) {
      int x0, x1, px;
      avg_window(ox, g->sw, g->pw, g->kw, g->w, &x0, &x1, &px);
      double div = g->count_include_pad ? (double)py * px : (double)(y1 - y0) * (x1 - x0);
      double share = cx->x[o] / div;
      for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) dx[iy * g->w + ix] = (float)((double)dx[iy * g->w + ix] + share);
    }
  }
}

void qat_avg_pool2d_bwd(const float *dy, float *dx, const qat_pool_geom *g) {
  pool_ctx cx = {dy, dx, NULL, NULL, g};
  qat_parallel(g->n * g->c, threads_for((long)g->n * g->c * g->h * g->w), avg_bwd_task, &cx);
}

/* ---- global average pool (adaptive to 1×1): y[p] = (Σ x over plane p, in order, float64) / hw ---- */
typedef struct {
  const float *x;
  float *y;
  long planes, hw;
} gap_ctx;

#define GAP_PLANES 64 /* planes per task */

/* Four planes at a time, each summed in the reference's order (four independent chains). */
static void gap_task(void *p, int task, int thread) {
  (void)thread;
  const gap_ctx *cx = p;
  long p0 = (long)task * GAP_PLANES, p1 = p0 + GAP_PLANES < cx->planes ? p0 + GAP_PLANES : cx->planes, hw = cx->hw;
  long pl = p0;
  for (; pl + 4 <= p1; pl += 4) {
    const float *a = cx->x + pl * hw;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (long i = 0; i < hw; i++) {
      s0 += a[i];
      s1 += a[hw + i];
      s2 += a[2 * hw + i];
      s3 += a[3 * hw + i];
    }
    cx->y[pl] = (float)(s0 / (double)hw);
    cx->y[pl + 1] = (float)(s1 / (double)hw);
    cx->y[pl + 2] = (float)(s2 / (double)hw);
    cx->y[pl + 3] = (float)(s3 / (double)hw);
  }
  for (; pl < p1; pl++) {
    double s = 0;
    for (long i = 0; i < hw; i++) s += cx->x[pl * hw + i];
    cx->y[pl] = (float)(s / (double)hw);
  }
}

void qat_global_avg_pool(const float *x, float *y, long planes, long hw) {
  gap_ctx cx = {x, y, planes, hw};
  qat_parallel((int)((planes + GAP_PLANES - 1) / GAP_PLANES), threads_for(planes * hw), gap_task, &cx);
}

/* dx[p, i] = fl32(dy[p] / hw): the reference's share added to a zeroed dx */
static void gap_bwd_task(void *p, int task, int thread) {
  (void)thread;
  const gap_ctx *cx = p; /* x: dy, y: dx */
  long p0 = (long)task * GAP_PLANES, p1 = p0 + GAP_PLANES < cx->planes ? p0 + GAP_PLANES : cx->planes, hw = cx->hw;
  for (long pl = p0; pl < p1; pl++) {
    float v = (float)((double)cx->x[pl] / (double)hw);
    for (long i = 0; i < hw; i++) cx->y[pl * hw + i] = v;
  }
}

void qat_global_avg_pool_bwd(const float *dy, float *dx, long planes, long hw) {
  gap_ctx cx = {dy, dx, planes, hw};
  qat_parallel((int)((planes + GAP_PLANES - 1) / GAP_PLANES), threads_for(planes * hw), gap_bwd_task, &cx);
}
