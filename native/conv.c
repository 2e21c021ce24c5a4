/*
 * Convolution passes of the native backend on NCHW/OIHW float32, as GEMMs (sgemm.c):
 *   forward       y[n, g]  = W[g] · col(x[n, g])            (col: Cg·KH·KW × OH·OW)
 *   backward in   dx[n, g] = col2im(W[g]ᵀ · dy[n, g])
 *   backward w    dW[g]ᵀ   = Σ_n col(x[n, g]) · dy[n, g]ᵀ   (split over dW's columns)
 * Groups-1 convolutions with 2+ taps at small channel counts take the direct kernels of
 * conv-direct.c instead (no col; qat_conv_direct_paths says which passes); what follows is the
 * general path. The forward's fused epilogue (bias per output channel, ReLU / clamp) runs on each output tile
 * inside the GEMM. A 1×1, stride-1, unpadded convolution skips col. Forward and backward-input run images in
 * parallel; backward-weight splits the K = Cg·KH·KW columns of dW among tasks, each building
 * only its rows of col, so no partial sums exist and results do not depend on the thread
 * count. Called by binding.c.
 */
#include "conv-direct.h"

#include <string.h>

static int pointwise(const qat_conv_geom *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 && g->oh == g->h &&
         g->ow == g->w;
}

/* Rows [r0, r1) of col for one image and group: row r = (ci, ky, kx), column = oy·OW + ox. */
static void im2col(const float *x, const qat_conv_geom *g, int r0, int r1, float *col) {
  int khw = g->kh * g->kw, ohw = g->oh * g->ow;
  for (int r = r0; r < r1; r++) {
    int ci = r / khw, ky = (r % khw) / g->kw, kx = r % g->kw;
    const float *plane = x + (long)ci * g->h * g->w;
    float *dst = col + (long)(r - r0) * ohw;
    for (int oy = 0; oy < g->oh; oy++, dst += g->ow) {
      int iy = oy * g->sh - g->ph + ky * g->dh;
      if (iy < 0 || iy >= g->h) {
        memset(dst, 0, g->ow * sizeof(float));
        continue;
      }
      const float *row = plane + (long)iy * g->w;
      int ix0 = kx * g->dw - g->pw;
      if (g->sw == 1) {
        /* contiguous: zero the borders, copy the middle */
        int lo = ix0 < 0 ? -ix0 : 0, hi = g->w - ix0;
        if (hi > g->ow) hi = g->ow;
        if (hi < lo) hi = lo;
        for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
        if (hi > lo) memcpy(dst + lo, row + ix0 + lo, (hi - lo) * sizeof(float));
        for (int ox = hi; ox < g->ow; ox++) dst[ox] = 0.0f;
      } else if (g->sw == 2) {
        /* in bounds for ox in [lo, hi): ix = 2·ox + ix0 in [0, w) */
        int lo = ix0 < 0 ? (-ix0 + 1) / 2 : 0, hi = g->w - ix0 > 0 ? (g->w - ix0 + 1) / 2 : 0;
        if (hi > g->ow) hi = g->ow;
        if (hi < lo) hi = lo;
        for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
        if (hi - lo > 8) {
          qat_cd_gather2(dst + lo, row + 2 * lo + ix0, hi - lo);
        } else {
          for (int ox = lo; ox < hi; ox++) dst[ox] = row[2 * ox + ix0];
        }
        for (int ox = hi; ox < g->ow; ox++) dst[ox] = 0.0f;
      } else {
        for (int ox = 0; ox < g->ow; ox++) {
          int ix = ox * g->sw + ix0;
          dst[ox] = ix >= 0 && ix < g->w ? row[ix] : 0.0f;
        }
      }
    }
  }
}

/* dx (one image, one group, Cg planes) += col2im(col). */
static void col2im_add(const float *col, const qat_conv_geom *g, int cg, float *dx) {
  int khw = g->kh * g->kw;
  for (int r = 0; r < cg * khw; r++) {
    int ci = r / khw, ky = (r % khw) / g->kw, kx = r % g->kw;
    float *plane = dx + (long)ci * g->h * g->w;
    const float *src = col + (long)r * g->oh * g->ow;
    for (int oy = 0; oy < g->oh; oy++, src += g->ow) {
      int iy = oy * g->sh - g->ph + ky * g->dh;
      if (iy < 0 || iy >= g->h) continue;
      float *row = plane + (long)iy * g->w;
      int ix0 = kx * g->dw - g->pw;
      for (int ox = 0; ox < g->ow; ox++) {
        int ix = ox * g->sw + ix0;
        if (ix >= 0 && ix < g->w) row[ix] += src[ox];
      }
    }
  }
}

typedef struct {
  const float *in, *w;
  float *out;
  const qat_conv_geom *g;
  const qat_epi *epi; /* forward only: bias per output channel */
  int chunks, rows; /* forward: tasks per image, output channels (of a group) per task */
} conv_ctx;

static void forward_task(void *p, int task, int thread) {
  const conv_ctx *cx = p;
  const qat_conv_geom *g = cx->g;
  int cg = g->c / g->groups, ocg = g->oc / g->groups, K = cg * g->kh * g->kw, ohw = g->oh * g->ow;
  int n = task / cx->chunks, o0 = (task % cx->chunks) * cx->rows, o1 = o0 + cx->rows < ocg ? o0 + cx->rows : ocg;
  if (o0 >= o1) return;
  int direct = pointwise(g);
  float *col = direct ? NULL : qat_scratch(thread, 2, (size_t)K * ohw * sizeof(float));
  for (int gi = 0; gi < g->groups; gi++) {
    const float *x = cx->in + ((long)n * g->c + (long)gi * cg) * g->h * g->w;
    float *y = cx->out + ((long)n * g->oc + (long)gi * ocg) * ohw;
    const float *b = x;
    if (!direct) {
      im2col(x, g, 0, K, col);
      b = col;
    }
    qat_epi e;
    if (cx->epi) { /* rows of this GEMM are channels gi·ocg + o0 … */
      e = *cx->epi;
      if (e.bias) e.bias += (long)gi * ocg + o0;
    }
    qat_sgemm_epi(o1 - o0, ohw, K, cx->w + ((long)gi * ocg + o0) * K, K, 1, b, ohw, 1, y + (long)o0 * ohw, ohw, 0, thread,
                  cx->epi ? &e : NULL);
  }
}

static int threads_for(const qat_conv_geom *g) {
  double flops = 2.0 * g->n * g->oc * (g->c / g->groups) * g->kh * g->kw * g->oh * g->ow;
  return flops >= QAT_PARALLEL_MIN_FLOPS ? qat_threads : 1;
}

void qat_conv2d(const float *x, const float *w, float *y, const qat_conv_geom *g, const qat_epi *epi) {
  if (qat_conv_direct_fwd(x, w, y, g, epi, threads_for(g))) return;
  /* Fewer images than threads (inference at batch 1): split each image's output channels too,
   * in whole micro-kernel rows; each task builds its image's columns (cheap next to the GEMM). */
  int threads = threads_for(g), ocg = g->oc / g->groups, chunks = 1;
  if (g->n < threads && ocg >= 12) {
    chunks = (threads + g->n - 1) / g->n;
    if (chunks > ocg / 6) chunks = ocg / 6;
  }
  if (ocg <= 0) return;
  int rows = (ocg + chunks - 1) / chunks;
  rows = (rows + 5) / 6 * 6;
  chunks = (ocg + rows - 1) / rows;
  conv_ctx cx = {x, w, y, g, epi, chunks, rows};
  qat_parallel(g->n * chunks, threads, forward_task, &cx);
}

static void bwd_input_task(void *p, int n, int thread) {
  const conv_ctx *cx = p;
  const qat_conv_geom *g = cx->g;
  int cg = g->c / g->groups, ocg = g->oc / g->groups, K = cg * g->kh * g->kw, ohw = g->oh * g->ow;
  int direct = pointwise(g);
  float *col = direct ? NULL : qat_scratch(thread, 2, (size_t)K * ohw * sizeof(float));
  for (int gi = 0; gi < g->groups; gi++) {
    const float *dy = cx->in + ((long)n * g->oc + (long)gi * ocg) * ohw;
    float *dx = cx->out + ((long)n * g->c + (long)gi * cg) * g->h * g->w;
    const float *wg = cx->w + (long)gi * ocg * K;
    if (direct) {
      qat_sgemm(K, ohw, ocg, wg, 1, K, dy, ohw, 1, dx, ohw, 0, thread);
    } else {
      qat_sgemm(K, ohw, ocg, wg, 1, K, dy, ohw, 1, col, ohw, 0, thread);
      memset(dx, 0, (size_t)cg * g->h * g->w * sizeof(float));
      col2im_add(col, g, cg, dx);
    }
  }
}

void qat_conv2d_bwd_input(const float *dy, const float *w, float *dx, const qat_conv_geom *g) {
  if (qat_conv_direct_bwd_input(dy, w, dx, g, threads_for(g))) return;
  conv_ctx cx = {dy, w, dx, g, NULL, 1, 0};
  qat_parallel(g->n, threads_for(g), bwd_input_task, &cx);
}

typedef struct {
  const float *x, *dy;
  float *dw;
  const qat_conv_geom *g;
  int chunk; /* columns of dW per task */
} wgrad_ctx;

static void bwd_weight_task(void *p, int task, int thread) {
  const wgrad_ctx *cx = p;
  const qat_conv_geom *g = cx->g;
  int cg = g->c / g->groups, ocg = g->oc / g->groups, K = cg * g->kh * g->kw, ohw = g->oh * g->ow;
  int r0 = task * cx->chunk, r1 = r0 + cx->chunk < K ? r0 + cx->chunk : K, rows = r1 - r0;
  int direct = pointwise(g);
  float *col = direct ? NULL : qat_scratch(thread, 2, (size_t)rows * ohw * sizeof(float));
  float *dwt = qat_scratch(thread, 3, (size_t)rows * ocg * sizeof(float)); /* dWᵀ slice: rows × ocg */
  for (int gi = 0; gi < g->groups; gi++) {
    for (int n = 0; n < g->n; n++) {
      const float *x = cx->x + ((long)n * g->c + (long)gi * cg) * g->h * g->w;
      const float *dy = cx->dy + ((long)n * g->oc + (long)gi * ocg) * ohw;
      const float *a = direct ? x + (long)r0 * ohw : col;
      if (!direct) im2col(x, g, r0, r1, col);
      /* dWᵀ[r, o] (+)= Σ_p col[r, p]·dy[o, p] */
      qat_sgemm(rows, ocg, ohw, a, ohw, 1, dy, 1, ohw, dwt, ocg, n > 0, thread);
    }
    float *dw = cx->dw + (long)gi * ocg * K;
    for (int o = 0; o < ocg; o++)
      for (int r = 0; r < rows; r++) dw[(long)o * K + r0 + r] = dwt[(long)r * ocg + o];
  }
}

void qat_conv2d_bwd_weight(const float *x, const float *dy, float *dw, const qat_conv_geom *g) {
  if (qat_conv_direct_bwd_weight(x, dy, dw, g, threads_for(g))) return;
  int K = (g->c / g->groups) * g->kh * g->kw;
  int threads = threads_for(g);
  int tasks = threads == 1 ? 1 : threads * 2;
  int chunk = (K + tasks - 1) / tasks;
  chunk = ((chunk + 5) / 6) * 6; /* whole micro-kernel rows */
  if (chunk > K) chunk = K;
  tasks = (K + chunk - 1) / chunk;
  if (g->n == 0) {
    memset(dw, 0, (size_t)g->oc * K * sizeof(float));
    return;
  }
  wgrad_ctx cx = {x, dy, dw, g, chunk};
  qat_parallel(tasks, threads, bwd_weight_task, &cx);
}
