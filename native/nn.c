/*
 * Pooling, batch-norm and per-channel affine kernels of the native backend. They follow
 * src/backend/ref/pool.ts, batchnorm.ts and channel-affine.ts operation for operation (the
 * float64 accumulations in the same order, no contraction into FMA: the build passes
 * -ffp-contract=off), so their results equal the reference bit for bit; the planes or
 * channels are split among threads. Called by binding.c.
 */
#include "qat.h"

#include <math.h>
#include <string.h>

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

static void max_task(void *p, int pl, int thread) {
  (void)thread;
  const pool_ctx *cx = p;
  const qat_pool_geom *g = cx->g;
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

/* ---- batch norm: x viewed as [n, c, hw]; one task per channel ---- */
typedef struct {
  const float *x, *dy, *mean, *inv_std, *gamma, *beta;
  float *y, *out_mean, *out_var, *dgamma, *dbeta;
  int n, c, hw, training;
} bn_ctx;

static void stats_task(void *p, int ch, int thread) {
  (void)thread;
  const bn_ctx *b = p;
  double count = (double)b->n * b->hw, s = 0, ss = 0;
  for (int i = 0; i < b->n; i++) {
    const float *row = b->x + ((long)i * b->c + ch) * b->hw;
    for (int j = 0; j < b->hw; j++) s += row[j];
  }
  double m = s / count;
  for (int i = 0; i < b->n; i++) {
    const float *row = b->x + ((long)i * b->c + ch) * b->hw;
    for (int j = 0; j < b->hw; j++) {
      double d = row[j] - m;
      ss += d * d;
    }
  }
  b->out_mean[ch] = (float)m;
  b->out_var[ch] = (float)(ss / count);
}

void qat_bn_stats(const float *x, int n, int c, int hw, float *mean, float *var) {
  bn_ctx b = {.x = x, .out_mean = mean, .out_var = var, .n = n, .c = c, .hw = hw};
  qat_parallel(c, threads_for((long)n * c * hw), stats_task, &b);
}

static void apply_task(void *p, int ch, int thread) {
  (void)thread;
  const bn_ctx *b = p;
  double m = b->mean[ch], scale = (double)b->inv_std[ch] * (b->gamma ? (double)b->gamma[ch] : 1.0);
  double shift = b->beta ? b->beta[ch] : 0.0;
  for (int i = 0; i < b->n; i++) {
    long base = ((long)i * b->c + ch) * b->hw;
    for (int j = 0; j < b->hw; j++) b->y[base + j] = (float)(((double)b->x[base + j] - m) * scale + shift);
  }
}

void qat_bn_apply(const float *x, const float *mean, const float *inv_std, const float *gamma, const float *beta,
                  float *y, int n, int c, int hw) {
  bn_ctx b = {.x = x, .mean = mean, .inv_std = inv_std, .gamma = gamma, .beta = beta, .y = y, .n = n, .c = c, .hw = hw};
  qat_parallel(c, threads_for((long)n * c * hw), apply_task, &b);
}

static void bn_bwd_task(void *p, int ch, int thread) {
  (void)thread;
  const bn_ctx *b = p;
  double count = (double)b->n * b->hw, m = b->mean[ch], is = b->inv_std[ch], sdy = 0, sdyx = 0;
  for (int i = 0; i < b->n; i++) {
    long base = ((long)i * b->c + ch) * b->hw;
    for (int j = 0; j < b->hw; j++) {
      double gv = b->dy[base + j];
      sdy += gv;
      sdyx += gv * ((double)b->x[base + j] - m);
    }
  }
  double dg = sdyx * is;
  if (b->dgamma) b->dgamma[ch] = (float)dg;
  if (b->dbeta) b->dbeta[ch] = (float)sdy;
  double scale = is * (b->gamma ? (double)b->gamma[ch] : 1.0);
  double a = b->training ? sdy / count : 0.0, k = b->training ? (is * dg) / count : 0.0;
  for (int i = 0; i < b->n; i++) {
    long base = ((long)i * b->c + ch) * b->hw;
    for (int j = 0; j < b->hw; j++)
      b->y[base + j] = (float)(scale * ((double)b->dy[base + j] - a - ((double)b->x[base + j] - m) * k));
  }
}

void qat_bn_backward(const float *dy, const float *x, const float *mean, const float *inv_std, const float *gamma,
                     float *dx, float *dgamma, float *dbeta, int n, int c, int hw, int training) {
  bn_ctx b = {.x = x, .dy = dy, .mean = mean, .inv_std = inv_std, .gamma = gamma, .y = dx, .dgamma = dgamma,
              .dbeta = dbeta, .n = n, .c = c, .hw = hw, .training = training};
  qat_parallel(c, threads_for((long)n * c * hw), bn_bwd_task, &b);
}

/* ---- channel affine: y = x·scale[c] + bias[c] ---- */
static void affine_task(void *p, int ch, int thread) {
  (void)thread;
  const bn_ctx *b = p;
  double s = b->mean[ch], t = b->beta ? b->beta[ch] : 0.0;
  for (int i = 0; i < b->n; i++) {
    long o = ((long)i * b->c + ch) * b->hw;
    for (int j = 0; j < b->hw; j++) b->y[o + j] = (float)((double)b->x[o + j] * s + t);
  }
}

void qat_channel_affine(const float *x, const float *scale, const float *bias, float *y, int n, int c, int inner) {
  bn_ctx b = {.x = x, .mean = scale, .beta = bias, .y = y, .n = n, .c = c, .hw = inner};
  qat_parallel(c, threads_for((long)n * c * inner), affine_task, &b);
}

static void affine_bwd_task(void *p, int ch, int thread) {
  (void)thread;
  const bn_ctx *b = p;
  double s = b->mean[ch];
  float dscale = 0, dbias = 0; /* the reference accumulates per image into the float32 outputs */
  for (int i = 0; i < b->n; i++) {
    long o = ((long)i * b->c + ch) * b->hw;
    double gs = 0, gx = 0;
    for (int j = 0; j < b->hw; j++) {
      double gv = b->dy[o + j];
      if (b->y) b->y[o + j] = (float)(gv * s);
      gs += gv;
      gx += gv * b->x[o + j];
    }
    dscale = (float)((double)dscale + gx);
    dbias = (float)((double)dbias + gs);
  }
  if (b->dgamma) b->dgamma[ch] = dscale;
  if (b->dbeta) b->dbeta[ch] = dbias;
}

void qat_channel_affine_bwd(const float *g, const float *x, const float *scale, float *dx, float *dscale, float *dbias,
                            int n, int c, int inner) {
  bn_ctx b = {.x = x, .dy = g, .mean = scale, .y = dx, .dgamma = dscale, .dbeta = dbias, .n = n, .c = c, .hw = inner};
  qat_parallel(c, threads_for((long)n * c * inner), affine_bwd_task, &b);
}
