/*
 * Direct float convolution passes for groups-1 layers with 2+ taps at small channel counts
 * (ResNet-style 3×3 at 3–256 channels), called by conv.c before its im2col + GEMM path. No
 * column matrix is built and nothing is packed per image:
 *   - each image is copied once into "xq" (conv-direct.h): its zero-padded planes, rows split
 *     by stride phase, so that for every tap (ci, ky, kx) the inputs of consecutive output
 *     columns are consecutive floats at xq + off[tap] + oy·rowstep + ox;
 *   - forward: 4 output channels × 24 output columns (three runs of 8 in output rows, the last
 *     run of a row masked) per register tile, the weights packed once per call (4-row panels),
 *     the taps summed in order; the fused epilogue applied before the store;
 *   - backward input: at stride 1 the forward of dy with the flipped, transposed weights and
 *     padding d(k−1)−p; strided, by phases of dx (conv-dgrad.c) — no col2im scatter;
 *   - backward weight: conv-wgrad.c.
 * AVX2+FMA micro-kernels (target attributes) and portable ones on 4-lane vectors; which
 * passes apply is qat_conv_direct_paths (geometry only, never the thread count).
 */
#include "conv-direct.h"

#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif

#define WC QAT_CD_WC
typedef qat_cd_geom dgeom;
typedef qat_cd_layout xq_layout;
typedef qat_v4f v4f;
#define load4 qat_load4

/* ---------------- forward micro-kernels: 4 output channels × 3 runs of 8 columns ---------------- */
#define FR QAT_CD_FR /* rows (output channels) of a forward tile */
#define FS 3  /* runs of 8 output columns per tile */

/* Where a tile goes: output channel o0 + i (i < rows) of run s (s < nrun) at y + (o0 + i)·cstride + pos[s],
 * lanes[s] ≤ 8 values qstride apart (qstride 1: a forward; the stride for a phase of a strided backward input). */
typedef struct {
  float *y;
  long cstride, qstride, pos[FS];
  int o0, rows, nrun, lanes[FS];
  int full; /* rows == FR, every run 8 lanes, qstride 1: the micro-kernel stores the tile itself */
} tile_dst;

static void store_portable(const float *t, const tile_dst *d, const qat_epi *epi) {
  for (int i = 0; i < d->rows; i++)
    for (int s = 0; s < d->nrun; s++) {
      float *dst = d->y + (d->o0 + i) * d->cstride + d->pos[s];
      if (d->qstride != 1) {
        for (int j = 0; j < d->lanes[s]; j++) dst[j * d->qstride] = t[i * 8 * FS + s * 8 + j];
        continue;
      }
      memcpy(dst, t + i * 8 * FS + s * 8, d->lanes[s] * sizeof(float));
      if (epi) qat_epi_apply(dst, 0, 1, d->lanes[s], d->o0 + i, 0, epi);
    }
}

/* t[i·24 + s·8 + j] = Σ_tap a[tap·4 + i] · b_s[off[tap] + j], taps in order; a full tile (dst->full) is also stored
 * (epilogue applied), any other is left in t for the caller's store. */
static void fukr_portable(int k, const float *a, const int *off, const float *const *b, float *t, const tile_dst *dst,
                          const qat_epi *epi) {
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
  if (dst->full) store_portable(t, dst, epi);
}

#if QAT_X86
/* The epilogue's expressions lane by lane: v + bias (float32), v > 0 ? v : 0, v < lo ? lo : v > hi ? hi : v. */
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 epi_avx2(__m256 v, __m256 b, int bias, int act, __m256 lo,
                                                                                 __m256 hi) {
  if (bias) v = _mm256_add_ps(v, b);
  if (act == QAT_ACT_RELU) {
    v = _mm256_and_ps(v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ));
  } else if (act == QAT_ACT_CLAMP) {
    __m256 r = _mm256_blendv_ps(v, hi, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
    v = _mm256_blendv_ps(r, lo, _mm256_cmp_ps(v, lo, _CMP_LT_OQ));
  }
  return v;
}

/* nrun (1–3, a constant in each wrapper below) runs of 8 columns: a tile's last runs of an image need not be computed.
 * A full tile (dst->full) is stored from the registers, the epilogue (nullable) applied there; any other into t. */
__attribute__((target("avx2,fma"), always_inline)) static inline void fukr_avx2_n(int k, const float *a, const int *off,
                                                                                  const float *const *b, float *t, const tile_dst *dst,
                                                                                  const qat_epi *epi, const int nrun) {
  const float *b0 = b[0], *b1 = b[1], *b2 = b[2];
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c02 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps(), c12 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c22 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c32 = _mm256_setzero_ps();
  for (int r = 0; r < k; r++, a += FR) {
    long o = off[r];
    __m256 x0 = _mm256_loadu_ps(b0 + o), x1 = x0, x2 = x0;
    if (nrun > 1) x1 = _mm256_loadu_ps(b1 + o);
    if (nrun > 2) x2 = _mm256_loadu_ps(b2 + o);
    __m256 w = _mm256_broadcast_ss(a);
    c00 = _mm256_fmadd_ps(w, x0, c00);
    if (nrun > 1) c01 = _mm256_fmadd_ps(w, x1, c01);
    if (nrun > 2) c02 = _mm256_fmadd_ps(w, x2, c02);
    w = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(w, x0, c10);
    if (nrun > 1) c11 = _mm256_fmadd_ps(w, x1, c11);
    if (nrun > 2) c12 = _mm256_fmadd_ps(w, x2, c12);
    w = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(w, x0, c20);
    if (nrun > 1) c21 = _mm256_fmadd_ps(w, x1, c21);
    if (nrun > 2) c22 = _mm256_fmadd_ps(w, x2, c22);
    w = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(w, x0, c30);
    if (nrun > 1) c31 = _mm256_fmadd_ps(w, x1, c31);
    if (nrun > 2) c32 = _mm256_fmadd_ps(w, x2, c32);
  }
  if (dst->full) {
    int act = epi ? epi->act : QAT_ACT_NONE, bias = epi && epi->bias;
    __m256 lo = _mm256_set1_ps(epi ? (float)epi->lo : 0.0f), hi = _mm256_set1_ps(epi ? (float)epi->hi : 0.0f);
    __m256 acc[FR][FS] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32}};
    for (int i = 0; i < FR; i++) {
      float *yi = dst->y + (dst->o0 + i) * dst->cstride;
      __m256 bv = _mm256_set1_ps(bias ? epi->bias[dst->o0 + i] : 0.0f);
      _mm256_storeu_ps(yi + dst->pos[0], epi_avx2(acc[i][0], bv, bias, act, lo, hi));
      if (nrun > 1) _mm256_storeu_ps(yi + dst->pos[1], epi_avx2(acc[i][1], bv, bias, act, lo, hi));
      if (nrun > 2) _mm256_storeu_ps(yi + dst->pos[2], epi_avx2(acc[i][2], bv, bias, act, lo, hi));
    }
    return;
  }
  _mm256_store_ps(t, c00); _mm256_store_ps(t + 8, c01); _mm256_store_ps(t + 16, c02);
  _mm256_store_ps(t + 24, c10); _mm256_store_ps(t + 32, c11); _mm256_store_ps(t + 40, c12);
  _mm256_store_ps(t + 48, c20); _mm256_store_ps(t + 56, c21); _mm256_store_ps(t + 64, c22);
  _mm256_store_ps(t + 72, c30); _mm256_store_ps(t + 80, c31); _mm256_store_ps(t + 88, c32);
}

__attribute__((target("avx2,fma"))) static void fukr_avx2(int k, const float *a, const int *off, const float *const *b, float *t,
                                                           const tile_dst *dst, const qat_epi *epi) {
  fukr_avx2_n(k, a, off, b, t, dst, epi, 3);
}
__attribute__((target("avx2,fma"))) static void fukr_avx2_2(int k, const float *a, const int *off, const float *const *b, float *t,
                                                             const tile_dst *dst, const qat_epi *epi) {
  fukr_avx2_n(k, a, off, b, t, dst, epi, 2);
}
__attribute__((target("avx2,fma"))) static void fukr_avx2_1(int k, const float *a, const int *off, const float *const *b, float *t,
                                                             const tile_dst *dst, const qat_epi *epi) {
  fukr_avx2_n(k, a, off, b, t, dst, epi, 1);
}
#endif

typedef void (*fukr_fn)(int, const float *, const int *, const float *const *, float *, const tile_dst *, const qat_epi *);

#if QAT_X86
__attribute__((target("avx2,fma"))) static void store_avx2(const float *t, const tile_dst *d, const qat_epi *epi) {
  if (d->qstride != 1) { /* a phase of a strided backward input: no epilogue there */
    store_portable(t, d, NULL);
    return;
  }
  __m256 lo = _mm256_set1_ps(epi ? (float)epi->lo : 0.0f), hi = _mm256_set1_ps(epi ? (float)epi->hi : 0.0f);
  int act = epi ? epi->act : QAT_ACT_NONE, bias = epi && epi->bias;
  for (int i = 0; i < d->rows; i++) {
    int o = d->o0 + i;
    __m256 b = _mm256_set1_ps(bias ? epi->bias[o] : 0.0f);
    for (int s = 0; s < d->nrun; s++) {
      __m256 v = epi_avx2(_mm256_load_ps(t + i * 8 * FS + s * 8), b, bias, act, lo, hi);
      float *dst = d->y + o * d->cstride + d->pos[s];
      if (d->lanes[s] == 8) {
        _mm256_storeu_ps(dst, v);
      } else {
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(d->lanes[s]), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        _mm256_maskstore_ps(dst, m, v);
      }
    }
  }
}
#endif

typedef void (*store_fn)(const float *, const tile_dst *, const qat_epi *);

/* ukr[nrun − 1] computes a tile of nrun runs (the portable kernel always computes 3). */
static void pick_forward(fukr_fn *ukr, store_fn *store) {
  ukr[0] = ukr[1] = ukr[2] = fukr_portable;
  *store = store_portable;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) {
    ukr[0] = fukr_avx2_1;
    ukr[1] = fukr_avx2_2;
    ukr[2] = fukr_avx2;
    *store = store_avx2;
  }
#endif
}

/* Weights [cout][k] → panels of FR rows, each k columns of FR floats (rows past cout zero). */
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

void qat_cd_tiles(const float *xq, long rowstep, const float *ap, int k, const int *off, int cout, int p0, int p1, int oh, int ow,
                  float *y, long cstride, long rstride, long qstride, const qat_epi *epi) {
  int runs_row = (ow + 7) / 8, runs = oh * runs_row;
  fukr_fn ukr[FS];
  store_fn store;
  pick_forward(ukr, &store);
  float t[FR * 8 * FS] __attribute__((aligned(32)));
  tile_dst dst = {y, cstride, qstride, {0}, 0, 0, 0, {0}, 0};
  for (int t0 = 0; t0 < runs; t0 += FS) {
    dst.nrun = runs - t0 < FS ? runs - t0 : FS;
    const float *b[FS];
    for (int s = 0; s < FS; s++) {
      int ts = t0 + (s < dst.nrun ? s : 0), oy = ts / runs_row, ox = (ts % runs_row) * 8;
      b[s] = xq + oy * rowstep + ox;
      dst.pos[s] = oy * rstride + ox * qstride;
      dst.lanes[s] = ow - ox < 8 ? ow - ox : 8;
    }
    int lanes8 = 1;
    for (int s = 0; s < dst.nrun; s++) lanes8 &= dst.lanes[s] == 8;
    for (int pi = p0; pi < p1; pi++) {
      dst.o0 = pi * FR;
      dst.rows = cout - dst.o0 < FR ? cout - dst.o0 : FR;
      dst.full = dst.rows == FR && lanes8 && qstride == 1;
      ukr[dst.nrun - 1](k, ap + (long)pi * k * FR, off, b, t, &dst, epi);
      if (!dst.full) store(t, &dst, epi);
    }
  }
}

static void fwd_task(void *p, int task, int thread) {
  const fwd_ctx *cx = p;
  const dgeom *d = cx->d;
  int n = task / cx->chunks, p0 = (task % cx->chunks) * cx->per_task;
  int p1 = p0 + cx->per_task < cx->panels ? p0 + cx->per_task : cx->panels;
  if (p0 >= p1) return;
  float *xq = qat_scratch(thread, 0, (size_t)cx->L.size * sizeof(float));
  qat_cd_prepare(cx->x + (long)n * d->cin * d->ih * d->iw, d, &cx->L, xq);
  long ohw = (long)d->oh * d->ow;
  qat_cd_tiles(xq, cx->L.rowstep, cx->ap, cx->k, cx->off, d->cout, p0, p1, d->oh, d->ow, cx->y + (long)n * d->cout * ohw, ohw, d->ow, 1,
               cx->epi);
}

/* Runs the forward kernel over n images with packed panels ap (k = cin·kh·kw columns). */
static void run_forward(const float *x, const float *ap, float *y, int n, const dgeom *d, const qat_epi *epi, int nthreads) {
  int k = d->cin * d->kh * d->kw, panels = (d->cout + FR - 1) / FR;
  int *off = qat_scratch(0, 4, (size_t)k * sizeof(int));
  fwd_ctx cx = {x, ap, y, off, d, qat_cd_layout_of(d), epi, k, panels, 1, panels};
  qat_cd_offsets(d, &cx.L, off);
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
 * runs are at least 3/4 used; backward input at stride 1 with padding ≤ d(k−1), or strided with
 * dx's phase rows filling runs likewise; backward weight with its 16-channel tiles at least 3/4
 * used; non-empty planes whose padded copies stay below 2^30 floats. Depends on the geometry only
 * (never on the thread count). */
int qat_conv_direct_paths(const qat_conv_geom *g) {
  int taps = g->kh * g->kw, ocp = (g->oc + WC - 1) / WC * WC;
  if (g->groups != 1 || g->n < 1 || g->c < 1 || g->oc < 1 || taps < 2 || g->h < 1 || g->w < 1 || g->oh < 1 || g->ow < 1) return 0;
  /* tap offsets are ints: the padded planes of x (and of dy, for the backward input) stay far below 2^31 floats */
  double pad_x = (double)g->c * (g->h + 2 * g->ph + g->sh) * (g->w + 2 * g->pw + g->sw);
  double pad_dy = (double)g->oc * (g->oh + g->dh * g->kh + g->h) * (g->ow + g->dw * g->kw + g->w);
  if (pad_x > (double)(1 << 30) || pad_dy > (double)(1 << 30)) return 0;
  int paths = 0;
  if (lanes_used_well(g->ow) && g->c * taps <= 2304) paths |= QAT_DIRECT_FWD;
  if (g->sh == 1 && g->sw == 1 && g->ph <= g->dh * (g->kh - 1) && g->pw <= g->dw * (g->kw - 1) && lanes_used_well(g->w) &&
      g->oc * taps <= 2304)
    paths |= QAT_DIRECT_BWD_INPUT;
  /* strided: dx by stride phases, whose rows are ⌊w/sw⌋ or ⌈w/sw⌉ long */
  if ((g->sh > 1 || g->sw > 1) && g->h >= g->sh && lanes_used_well(g->w / g->sw) && lanes_used_well((g->w + g->sw - 1) / g->sw) &&
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
  if (g->sh > 1 || g->sw > 1) {
    qat_cd_bwd_input_strided(dy, w, dx, g, nthreads);
    return 1;
  }
  int pth = g->dh * (g->kh - 1) - g->ph, ptw = g->dw * (g->kw - 1) - g->pw;
  /* dx = the stride-1 convolution of dy (oc planes of oh × ow) with the flipped, transposed weights. */
  dgeom d = {g->oc, g->oh, g->ow, g->c, g->h, g->w, g->kh, g->kw, 1, 1, pth, ptw, g->dh, g->dw};
  int k = g->oc * g->kh * g->kw, panels = (g->c + FR - 1) / FR;
  float *ap = qat_scratch(0, 3, (size_t)panels * k * FR * sizeof(float));
  pack_panels_flipped(w, g->oc, g->c, g->kh, g->kw, ap);
  run_forward(dy, ap, dx, g->n, &d, NULL, nthreads);
  return 1;
}
