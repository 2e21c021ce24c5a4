/*
 * Direct float convolution passes for groups-1 layers (ResNet-style 3×3 / 1×1 at 3–256
 * channels), called by conv.c before its im2col + GEMM path. No column matrix is built and
 * nothing is packed per image:
 *   - each image is copied once into "xq": its zero-padded planes with the padded column ix
 *     stored at (ix mod sw)·wh + ix / sw of its row (plain padded rows at stride 1), so for
 *     every tap (ci, ky, kx) the inputs of consecutive output columns are consecutive floats
 *     at xq + off[tap] + oy·rowstep + ox;
 *   - forward: 4 output channels × 24 output columns (three runs of 8 in output rows) per
 *     register tile, the weights packed once per call (4-row panels), the taps summed in order;
 *   - backward input (stride 1): the forward of dy with the flipped, transposed weights and
 *     padding d(k−1)−p — no col2im scatter;
 *   - backward weight: dWᵀ tiles of 6 taps × 16 output channels, summed over images and
 *     output positions against dy transposed to [position][channel]; each chunk of output
 *     rows is summed in registers and added to the tile, in an order that does not depend on
 *     the thread count (tasks own whole tap rows, so there are no partial sums).
 * AVX2+FMA micro-kernels (target attributes) and portable ones on 4-lane vectors.
 */
#include "conv-direct.h"

#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif

#define SLACK 16 /* floats after an image's xq: tail lanes of the last output row read up to 7 past it */
#define WR 6      /* backward-weight tile: taps … */
#define WC 16     /* … × output channels */

/* One convolution in the terms of the direct kernels: input planes cin × ih × iw → cout × oh × ow. */
typedef struct {
  int cin, ih, iw, cout, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
} dgeom;

typedef struct {
  int hp, wp, wh, wq;  /* padded rows and columns; phase width ⌈wp/sw⌉; row width sw·wh */
  long plane, rowstep; /* hp·wq; distance in xq between consecutive output rows (sh·wq) */
  long size;           /* floats of one image's xq, slack included */
} xq_layout;

static xq_layout layout_of(const dgeom *d) {
  xq_layout L;
  L.hp = d->ih + 2 * d->ph;
  L.wp = d->iw + 2 * d->pw;
  L.wh = (L.wp + d->sw - 1) / d->sw;
  L.wq = d->sw * L.wh;
  L.plane = (long)L.hp * L.wq;
  L.rowstep = (long)d->sh * L.wq;
  L.size = d->cin * L.plane + SLACK;
  return L;
}

/* off[tap] for tap = (ci, ky, kx) in weight order. */
static void offsets(const dgeom *d, const xq_layout *L, int *off) {
  int t = 0;
  for (int ci = 0; ci < d->cin; ci++)
    for (int ky = 0; ky < d->kh; ky++)
      for (int kx = 0; kx < d->kw; kx++) {
        int cx = kx * d->dw;
        off[t++] = (int)(ci * L->plane + (long)ky * d->dh * L->wq + (long)(cx % d->sw) * L->wh + cx / d->sw);
      }
}

/* One image (cin × ih × iw) → its xq. Writes every float of it, slack included. */
static void prepare_xq(const float *x, const dgeom *d, const xq_layout *L, float *xq) {
  for (int ci = 0; ci < d->cin; ci++) {
    const float *src = x + (long)ci * d->ih * d->iw;
    for (int iy = 0; iy < L->hp; iy++) {
      float *row = xq + ci * L->plane + (long)iy * L->wq;
      int yy = iy - d->ph;
      if (yy < 0 || yy >= d->ih) {
        memset(row, 0, L->wq * sizeof(float));
        continue;
      }
      const float *s = src + (long)yy * d->iw;
      if (d->sw == 1) {
        memset(row, 0, d->pw * sizeof(float));
        memcpy(row + d->pw, s, d->iw * sizeof(float));
        memset(row + d->pw + d->iw, 0, (L->wq - d->pw - d->iw) * sizeof(float));
      } else {
        /* phase q holds padded columns q, q + sw, …: source columns xx = m·sw + q − pw, valid for m in [lo, hi) */
        for (int q = 0; q < d->sw; q++) {
          float *ph = row + q * L->wh;
          int lo = d->pw - q > 0 ? (d->pw - q + d->sw - 1) / d->sw : 0;
          int hi = (d->iw + d->pw - q + d->sw - 1) / d->sw;
          if (hi > L->wh) hi = L->wh;
          if (hi < lo) hi = lo;
          for (int m = 0; m < lo; m++) ph[m] = 0.0f;
          const float *sq = s + (long)lo * d->sw + q - d->pw;
          for (int m = lo; m < hi; m++, sq += d->sw) ph[m] = *sq;
          for (int m = hi; m < L->wh; m++) ph[m] = 0.0f;
        }
      }
    }
  }
  memset(xq + d->cin * L->plane, 0, SLACK * sizeof(float));
}

/* ---------------- forward micro-kernels: 4 output channels × 3 runs of 8 columns ---------------- */
#define FR 4  /* rows (output channels) of a forward tile */
#define FS 3  /* runs of 8 output columns per tile */

typedef float v4f __attribute__((vector_size(16)));

static inline v4f load4(const float *p) {
  v4f v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* t[i·24 + s·8 + j] = Σ_tap a[tap·4 + i] · b_s[off[tap] + j], taps in order. */
static void fukr_portable(int k, const float *a, const int *off, const float *const *b, float *t) {
  v4f acc[FR][2 * FS];
  for (int i = 0; i < FR; i++)
    for (int q = 0; q < 2 * FS; q++) acc[i][q] = (v4f){0, 0, 0, 0};
  for (int r = 0; r < k; r++, a += FR) {
    long o = off[r];
    v4f x[2 * FS];
    for (int s = 0; s < FS; s++) {
      x[2 * s] = load4(b[s] + o);
      x[2 * s + 1] = load4(b[s] + o + 4);
    }
    for (int i = 0; i < FR; i++) {
      v4f ai = (v4f){a[i], a[i], a[i], a[i]};
      for (int q = 0; q < 2 * FS; q++) acc[i][q] += ai * x[q];
    }
  }
  for (int i = 0; i < FR; i++)
    for (int q = 0; q < 2 * FS; q++) memcpy(t + i * 8 * FS + q * 4, &acc[i][q], sizeof(v4f));
}

#if QAT_X86
__attribute__((target("avx2,fma"))) static void fukr_avx2(int k, const float *a, const int *off, const float *const *b, float *t) {
  const float *b0 = b[0], *b1 = b[1], *b2 = b[2];
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c02 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps(), c12 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c22 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c32 = _mm256_setzero_ps();
  for (int r = 0; r < k; r++, a += FR) {
    long o = off[r];
    __m256 x0 = _mm256_loadu_ps(b0 + o), x1 = _mm256_loadu_ps(b1 + o), x2 = _mm256_loadu_ps(b2 + o);
    __m256 w = _mm256_broadcast_ss(a);
    c00 = _mm256_fmadd_ps(w, x0, c00); c01 = _mm256_fmadd_ps(w, x1, c01); c02 = _mm256_fmadd_ps(w, x2, c02);
    w = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(w, x0, c10); c11 = _mm256_fmadd_ps(w, x1, c11); c12 = _mm256_fmadd_ps(w, x2, c12);
    w = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(w, x0, c20); c21 = _mm256_fmadd_ps(w, x1, c21); c22 = _mm256_fmadd_ps(w, x2, c22);
    w = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(w, x0, c30); c31 = _mm256_fmadd_ps(w, x1, c31); c32 = _mm256_fmadd_ps(w, x2, c32);
  }
  _mm256_store_ps(t, c00); _mm256_store_ps(t + 8, c01); _mm256_store_ps(t + 16, c02);
  _mm256_store_ps(t + 24, c10); _mm256_store_ps(t + 32, c11); _mm256_store_ps(t + 40, c12);
  _mm256_store_ps(t + 48, c20); _mm256_store_ps(t + 56, c21); _mm256_store_ps(t + 64, c22);
  _mm256_store_ps(t + 72, c30); _mm256_store_ps(t + 80, c31); _mm256_store_ps(t + 88, c32);
}
#endif

typedef void (*fukr_fn)(int, const float *, const int *, const float *const *, float *);

static fukr_fn pick_fukr(void) {
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) return fukr_avx2;
#endif
  return fukr_portable;
}

/* Weights [cout][k] → panels of FR rows, each k columns of FR floats (rows past cout zero).
 * flip: the backward-input weights, w'[ci][(o, ky, kx)] = w[o][ci][kh−1−ky][kw−1−kx] of the
 * forward layer whose weights w are [cin][cout·kh·kw]… given as (w, cin = its cout). */
static void pack_panels(const float *w, int cout, int k, float *ap) {
  int panels = (cout + FR - 1) / FR;
  for (int p = 0; p < panels; p++)
    for (int r = 0; r < k; r++)
      for (int i = 0; i < FR; i++) {
        int o = p * FR + i;
        ap[((long)p * k + r) * FR + i] = o < cout ? w[(long)o * k + r] : 0.0f;
      }
}

/* The backward-input panels: rows ci of the forward layer (c of them), taps (o, ky, kx) over its oc. */
static void pack_panels_flipped(const float *w, int oc, int c, int kh, int kw, float *ap) {
  int panels = (c + FR - 1) / FR, k = oc * kh * kw, khw = kh * kw;
  for (int p = 0; p < panels; p++)
    for (int o = 0; o < oc; o++)
      for (int t = 0; t < khw; t++) {
        int r = o * khw + t, src = khw - 1 - t; /* (ky, kx) → (kh−1−ky, kw−1−kx) */
        for (int i = 0; i < FR; i++) {
          int ci = p * FR + i;
          ap[((long)p * k + r) * FR + i] = ci < c ? w[((long)o * c + ci) * khw + src] : 0.0f;
        }
      }
}

typedef struct {
  const float *x, *ap;
  float *y;
  const int *off;
  const dgeom *d;
  xq_layout L;
  const qat_epi *epi;
  int k, panels, chunks, per_task;
} fwd_ctx;

static void fwd_task(void *p, int task, int thread) {
  const fwd_ctx *cx = p;
  const dgeom *d = cx->d;
  int n = task / cx->chunks, p0 = (task % cx->chunks) * cx->per_task;
  int p1 = p0 + cx->per_task < cx->panels ? p0 + cx->per_task : cx->panels;
  if (p0 >= p1) return;
  float *xq = qat_scratch(thread, 0, (size_t)cx->L.size * sizeof(float));
  prepare_xq(cx->x + (long)n * d->cin * d->ih * d->iw, d, &cx->L, xq);
  long ohw = (long)d->oh * d->ow;
  float *y = cx->y + (long)n * d->cout * ohw;
  int runs_row = (d->ow + 7) / 8, runs = d->oh * runs_row;
  fukr_fn ukr = pick_fukr();
  float t[FR * 8 * FS] __attribute__((aligned(32)));
  for (int t0 = 0; t0 < runs; t0 += FS) {
    int nrun = runs - t0 < FS ? runs - t0 : FS;
    const float *b[FS];
    long pos[FS];
    int lanes[FS];
    for (int s = 0; s < FS; s++) {
      int ts = t0 + (s < nrun ? s : 0), oy = ts / runs_row, ox = (ts % runs_row) * 8;
      b[s] = xq + oy * cx->L.rowstep + ox;
      pos[s] = (long)oy * d->ow + ox;
      lanes[s] = d->ow - ox < 8 ? d->ow - ox : 8;
    }
    for (int pi = p0; pi < p1; pi++) {
      ukr(cx->k, cx->ap + (long)pi * cx->k * FR, cx->off, b, t);
      int rows = d->cout - pi * FR < FR ? d->cout - pi * FR : FR;
      for (int i = 0; i < rows; i++) {
        int o = pi * FR + i;
        for (int s = 0; s < nrun; s++) {
          float *dst = y + o * ohw + pos[s];
          if (lanes[s] == 8)
            memcpy(dst, t + i * 8 * FS + s * 8, 8 * sizeof(float));
          else
            memcpy(dst, t + i * 8 * FS + s * 8, lanes[s] * sizeof(float));
          if (cx->epi) qat_epi_apply(dst, 0, 1, lanes[s], o, 0, cx->epi);
        }
      }
    }
  }
}

/* Runs the forward kernel over n images with packed panels ap (k = cin·kh·kw columns). */
static void run_forward(const float *x, const float *ap, float *y, int n, const dgeom *d, const qat_epi *epi, int nthreads) {
  int k = d->cin * d->kh * d->kw, panels = (d->cout + FR - 1) / FR;
  int *off = qat_scratch(0, 4, (size_t)k * sizeof(int));
  fwd_ctx cx = {x, ap, y, off, d, layout_of(d), epi, k, panels, 1, panels};
  offsets(d, &cx.L, off);
  /* Fewer images than threads (batch 1): split each image's panels too. */
  if (n < nthreads && panels >= 2) {
    cx.chunks = (nthreads + n - 1) / n;
    if (cx.chunks > panels) cx.chunks = panels;
    cx.per_task = (panels + cx.chunks - 1) / cx.chunks;
    cx.chunks = (panels + cx.per_task - 1) / cx.per_task;
  }
  qat_parallel(n * cx.chunks, nthreads, fwd_task, &cx);
}

/* Output columns a tile covers, as a share of the lanes it computes: 8 per run, rows cut at ow. */
static int lanes_used_well(int ow) {
  return 4 * ow >= 3 * 8 * ((ow + 7) / 8);
}

/* Which passes take the direct kernels (bits QAT_DIRECT_*): groups 1, at least one image, 2 to
 * 2304 taps (a 1×1 convolution reads each input once, so the GEMM path's column matrix is no
 * bigger than x; beyond 256 channels of 3×3 the GEMM's cache blocking wins); tiles whose 8-lane
 * runs are at least 3/4 used; backward input at stride 1 with padding ≤ d(k−1); backward weight
 * with its 16-channel tiles at least 3/4 used. Depends on the geometry only (never on threads). */
int qat_conv_direct_paths(const qat_conv_geom *g) {
  int taps = g->kh * g->kw, ocp = (g->oc + WC - 1) / WC * WC;
  if (g->groups != 1 || g->n < 1 || g->c < 1 || g->oc < 1 || taps < 2) return 0;
  int paths = 0;
  if (lanes_used_well(g->ow) && g->c * taps <= 2304) paths |= QAT_DIRECT_FWD;
  if (g->sh == 1 && g->sw == 1 && g->ph <= g->dh * (g->kh - 1) && g->pw <= g->dw * (g->kw - 1) && lanes_used_well(g->w) &&
      g->oc * taps <= 2304)
    paths |= QAT_DIRECT_BWD_INPUT;
  if (4 * g->oc >= 3 * ocp && g->c * taps <= 2304) paths |= QAT_DIRECT_BWD_WEIGHT;
  return paths;
}

int qat_conv_direct_fwd(const float *x, const float *w, float *y, const qat_conv_geom *g, const qat_epi *epi, int nthreads) {
  if (!(qat_conv_direct_paths(g) & QAT_DIRECT_FWD)) return 0;
  dgeom d = {g->c, g->h, g->w, g->oc, g->oh, g->ow, g->kh, g->kw, g->sh, g->sw, g->ph, g->pw, g->dh, g->dw};
  int k = g->c * g->kh * g->kw, panels = (g->oc + FR - 1) / FR;
  float *ap = qat_scratch(0, 3, (size_t)panels * k * FR * sizeof(float));
  pack_panels(w, g->oc, k, ap);
  run_forward(x, ap, y, g->n, &d, epi, nthreads);
  return 1;
}

int qat_conv_direct_bwd_input(const float *dy, const float *w, float *dx, const qat_conv_geom *g, int nthreads) {
  if (!(qat_conv_direct_paths(g) & QAT_DIRECT_BWD_INPUT)) return 0;
  int pth = g->dh * (g->kh - 1) - g->ph, ptw = g->dw * (g->kw - 1) - g->pw;
  /* dx = the stride-1 convolution of dy (oc planes of oh × ow) with the flipped, transposed weights. */
  dgeom d = {g->oc, g->oh, g->ow, g->c, g->h, g->w, g->kh, g->kw, 1, 1, pth, ptw, g->dh, g->dw};
  int k = g->oc * g->kh * g->kw, panels = (g->c + FR - 1) / FR;
  float *ap = qat_scratch(0, 3, (size_t)panels * k * FR * sizeof(float));
  pack_panels_flipped(w, g->oc, g->c, g->kh, g->kw, ap);
  run_forward(dy, ap, dx, g->n, &d, NULL, nthreads);
  return 1;
}

/* ---------------- backward weight: dWᵀ tiles of 6 taps × 16 output channels ---------------- */

/* c[i·ldc + j] += Σ over nrow rows of len positions: x_i[q] · b[pos·ldb + j]; x_i advances by xstep per row. */
static void wukr_portable(int nrow, int len, const float *const *xr, long xstep, const float *b, long ldb, float *c, long ldc,
                          int rows) {
  v4f acc[WR][WC / 4];
  for (int i = 0; i < WR; i++)
    for (int q = 0; q < WC / 4; q++) acc[i][q] = (v4f){0, 0, 0, 0};
  for (int s = 0; s < nrow; s++) {
    const float *p[WR];
    for (int i = 0; i < WR; i++) p[i] = xr[i] + s * xstep;
    for (int q = 0; q < len; q++, b += ldb) {
      v4f b0 = load4(b), b1 = load4(b + 4), b2 = load4(b + 8), b3 = load4(b + 12);
      for (int i = 0; i < WR; i++) {
        v4f a = (v4f){p[i][q], p[i][q], p[i][q], p[i][q]};
        acc[i][0] += a * b0;
        acc[i][1] += a * b1;
        acc[i][2] += a * b2;
        acc[i][3] += a * b3;
      }
    }
  }
  for (int i = 0; i < rows; i++)
    for (int q = 0; q < WC / 4; q++) {
      v4f v = load4(c + i * ldc + q * 4) + acc[i][q];
      memcpy(c + i * ldc + q * 4, &v, sizeof v);
    }
}

#if QAT_X86
__attribute__((target("avx2,fma"))) static void wukr_avx2(int nrow, int len, const float *const *xr, long xstep, const float *b,
                                                           long ldb, float *c, long ldc, int rows) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  const float *p0 = xr[0], *p1 = xr[1], *p2 = xr[2], *p3 = xr[3], *p4 = xr[4], *p5 = xr[5];
  for (int s = 0; s < nrow; s++) {
    for (int q = 0; q < len; q++, b += ldb) {
      __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
      __m256 a = _mm256_broadcast_ss(p0 + q);
      c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
      a = _mm256_broadcast_ss(p1 + q);
      c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
      a = _mm256_broadcast_ss(p2 + q);
      c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
      a = _mm256_broadcast_ss(p3 + q);
      c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
      a = _mm256_broadcast_ss(p4 + q);
      c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
      a = _mm256_broadcast_ss(p5 + q);
      c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    }
    p0 += xstep; p1 += xstep; p2 += xstep; p3 += xstep; p4 += xstep; p5 += xstep;
  }
  __m256 acc[2 * WR] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
  for (int i = 0; i < rows; i++) {
    float *ci = c + i * ldc;
    _mm256_storeu_ps(ci, _mm256_add_ps(_mm256_loadu_ps(ci), acc[2 * i]));
    _mm256_storeu_ps(ci + 8, _mm256_add_ps(_mm256_loadu_ps(ci + 8), acc[2 * i + 1]));
  }
}
#endif

typedef void (*wukr_fn)(int, int, const float *const *, long, const float *, long, float *, long, int);

typedef struct {
  const float *x, *dy;
  const dgeom *d;
  xq_layout L;
  const int *off;
  float *xq, *dyt, *acc; /* the group's prepared images; dWᵀ sums [k rounded up to WR][ocp] */
  int k, ocp, n0, group, rows_per_chunk, blocks, per_task; /* group: images prepared at n0 */
} wgrad_ctx;

/* Image n0 + i of the group → xq and dy transposed to [position][ocp] (channels past oc zero). */
static void wgrad_prep_task(void *p, int i, int thread) {
  const wgrad_ctx *cx = p;
  const dgeom *d = cx->d;
  long ohw = (long)d->oh * d->ow;
  int n = cx->n0 + i;
  prepare_xq(cx->x + (long)n * d->cin * d->ih * d->iw, d, &cx->L, cx->xq + i * cx->L.size);
  const float *dy = cx->dy + (long)n * d->cout * ohw;
  float *t = cx->dyt + i * ohw * cx->ocp;
  for (long q0 = 0; q0 < ohw; q0 += 64) {
    long q1 = q0 + 64 < ohw ? q0 + 64 : ohw;
    for (int o = 0; o < d->cout; o++) {
      const float *src = dy + o * ohw;
      for (long q = q0; q < q1; q++) t[q * cx->ocp + o] = src[q];
    }
    if (cx->ocp > d->cout)
      for (long q = q0; q < q1; q++) memset(t + q * cx->ocp + d->cout, 0, (cx->ocp - d->cout) * sizeof(float));
  }
}

static void wgrad_task(void *p, int task, int thread) {
  const wgrad_ctx *cx = p;
  const dgeom *d = cx->d;
  int b0 = task * cx->per_task, b1 = b0 + cx->per_task < cx->blocks ? b0 + cx->per_task : cx->blocks;
  wukr_fn ukr = wukr_portable;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) ukr = wukr_avx2;
#endif
  long ohw = (long)d->oh * d->ow;
  for (int i = 0; i < cx->group; i++) {
    const float *xq = cx->xq + i * cx->L.size, *dyt = cx->dyt + i * ohw * cx->ocp;
    for (int oy = 0; oy < d->oh; oy += cx->rows_per_chunk) {
      int nrow = d->oh - oy < cx->rows_per_chunk ? d->oh - oy : cx->rows_per_chunk;
      for (int bi = b0; bi < b1; bi++) {
        int r0 = bi * WR, rows = cx->k - r0 < WR ? cx->k - r0 : WR;
        const float *xr[WR];
        for (int q = 0; q < WR; q++) xr[q] = xq + cx->off[r0 + (q < rows ? q : 0)] + oy * cx->L.rowstep;
        for (int o0 = 0; o0 < cx->ocp; o0 += WC)
          ukr(nrow, d->ow, xr, cx->L.rowstep, dyt + (long)oy * d->ow * cx->ocp + o0, cx->ocp, cx->acc + (long)r0 * cx->ocp + o0,
              cx->ocp, rows);
      }
    }
  }
}

#define WGRAD_BUDGET (2L << 20) /* floats of prepared images per group (8 MB) */

int qat_conv_direct_bwd_weight(const float *x, const float *dy, float *dw, const qat_conv_geom *g, int nthreads) {
  if (!(qat_conv_direct_paths(g) & QAT_DIRECT_BWD_WEIGHT)) return 0;
  int k = g->c * g->kh * g->kw, ocp = (g->oc + WC - 1) / WC * WC;
  dgeom d = {g->c, g->h, g->w, g->oc, g->oh, g->ow, g->kh, g->kw, g->sh, g->sw, g->ph, g->pw, g->dh, g->dw};
  long ohw = (long)g->oh * g->ow;
  int blocks = (k + WR - 1) / WR;
  wgrad_ctx cx = {x, dy, &d, layout_of(&d), NULL, NULL, NULL, NULL, k, ocp, 0, 0, 1, blocks, blocks};
  long per_image = cx.L.size + ohw * ocp;
  int group = (int)(WGRAD_BUDGET / per_image);
  if (group < 1) group = 1;
  if (group > g->n) group = g->n;
  /* output rows per chunk: about 16 KB of transposed dy, summed in registers before joining the tile */
  cx.rows_per_chunk = (int)(4096 / ((long)g->ow * ocp));
  if (cx.rows_per_chunk < 1) cx.rows_per_chunk = 1;
  int tasks = 1;
  if (nthreads > 1) {
    tasks = 2 * nthreads < blocks ? 2 * nthreads : blocks;
    cx.per_task = (blocks + tasks - 1) / tasks;
    tasks = (blocks + cx.per_task - 1) / cx.per_task;
  }
  int *off = qat_scratch(0, 3, (size_t)k * sizeof(int) + (size_t)blocks * WR * ocp * sizeof(float));
  cx.off = off;
  cx.acc = (float *)(off + k);
  offsets(&d, &cx.L, off);
  memset(cx.acc, 0, (size_t)blocks * WR * ocp * sizeof(float));
  cx.xq = qat_scratch(0, 4, (size_t)group * cx.L.size * sizeof(float));
  cx.dyt = qat_scratch(0, 5, (size_t)group * ohw * ocp * sizeof(float));
  for (int n0 = 0; n0 < g->n; n0 += group) {
    cx.group = g->n - n0 < group ? g->n - n0 : group;
    cx.n0 = n0;
    qat_parallel(cx.group, nthreads, wgrad_prep_task, &cx);
    qat_parallel(tasks, nthreads, wgrad_task, &cx);
  }
  for (int o = 0; o < g->oc; o++)
    for (int r = 0; r < k; r++) dw[(long)o * k + r] = cx.acc[(long)r * ocp + o];
  return 1;
}
