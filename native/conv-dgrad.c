/*
 * Backward input of the direct convolution at stride > 1 (called by qat_conv_direct_bwd_input,
 * conv-direct.c). dx is split into its sh × sw stride phases (iy = sh·m + a, ix = sw·q + b); a
 * phase is a stride-1 correlation of dy with the taps that land on it — ky where
 * a + ph − ky·dh is a multiple of sh, read at dy row m + (a + ph − ky·dh)/sh, likewise kx — so
 * it runs on the forward's register tiles (qat_cd_tiles) over dy copied once per image into
 * zero-padded planes, its weights packed once per call, its outputs stored sw apart into dx.
 * A phase without taps is zero. No col2im scatter; every dx value is one tile sum, so results
 * do not depend on the thread count.
 */
#include "conv-direct.h"

#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif

typedef struct {
  int k, off0; /* taps of the phase; its first entry in off[] */
  long ap0;    /* its first float in the packed panels */
  long buf0;   /* its first float in a task's phase buffer: c planes of mh × qw */
  int a, b, mh, qw;
} phase_t;

typedef struct {
  const float *dy;
  float *dx;
  const qat_conv_geom *g;
  qat_cd_geom d; /* dy as the input planes */
  qat_cd_layout L;
  const float *ap;
  const int *off;
  const phase_t *ph;
  int nph, panels, chunks, per_task;
} sdg_ctx;

/* Floor division and modulo for a possibly negative v and s > 0. */
static int fdiv(int v, int s) { return v >= 0 ? v / s : -((-v + s - 1) / s); }

/* Whether a tap at v = phase + padding − k·dilation lands on the phase (v a multiple of the stride). */
static int lands(int v, int s) { return v - fdiv(v, s) * s == 0; }

/* dx row iy of channel ci from the phase planes in buf: dx[ci, iy, ix] = phase (iy mod sh, ix mod sw) at (iy/sh, ix/sw). */
static void weave_portable(const float *buf, const phase_t *ph, const qat_conv_geom *g, int ci, int iy, float *row) {
  const phase_t *pa = ph + (iy % g->sh) * g->sw;
  int m = iy / g->sh;
  for (int b = 0; b < g->sw; b++) {
    const float *src = buf + pa[b].buf0 + ((long)ci * pa[b].mh + m) * pa[b].qw;
    for (int q = 0; q < pa[b].qw; q++) row[(long)q * g->sw + b] = src[q];
  }
}

#if QAT_X86
/* The same; at sw = 2 eight columns of each phase a step (unpack, then swap the middle halves). */
__attribute__((target("avx2,fma"))) static void weave_avx2(const float *buf, const phase_t *ph, const qat_conv_geom *g, int ci, int iy,
                                                            float *row) {
  if (g->sw != 2) {
    weave_portable(buf, ph, g, ci, iy, row);
    return;
  }
  const phase_t *pa = ph + (iy % g->sh) * 2;
  int m = iy / g->sh, q = 0;
  const float *s0 = buf + pa[0].buf0 + ((long)ci * pa[0].mh + m) * pa[0].qw;
  const float *s1 = buf + pa[1].buf0 + ((long)ci * pa[1].mh + m) * pa[1].qw;
  for (; 2 * q + 16 <= g->w; q += 8) {
    __m256 u = _mm256_loadu_ps(s0 + q), v = _mm256_loadu_ps(s1 + q);
    __m256 lo = _mm256_unpacklo_ps(u, v), hi = _mm256_unpackhi_ps(u, v);
    _mm256_storeu_ps(row + 2 * q, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(row + 2 * q + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
  }
  for (int ix = 2 * q; ix < g->w; ix++) row[ix] = (ix & 1 ? s1 : s0)[ix >> 1];
}
#endif

/* Channels [c0, c1) of one image's dx from its phase planes. */
static void weave(const float *buf, const phase_t *ph, const qat_conv_geom *g, int c0, int c1, float *dx) {
  void (*row_fn)(const float *, const phase_t *, const qat_conv_geom *, int, int, float *) = weave_portable;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) row_fn = weave_avx2;
#endif
  for (int ci = c0; ci < c1; ci++)
    for (int iy = 0; iy < g->h; iy++) row_fn(buf, ph, g, ci, iy, dx + ((long)ci * g->h + iy) * g->w);
}

static void task(void *p, int t, int thread) {
  const sdg_ctx *cx = p;
  const qat_conv_geom *g = cx->g;
  int n = t / cx->chunks, p0 = (t % cx->chunks) * cx->per_task;
  int p1 = p0 + cx->per_task < cx->panels ? p0 + cx->per_task : cx->panels;
  if (p0 >= p1) return;
  float *xq = qat_scratch(thread, 0, (size_t)cx->L.size * sizeof(float));
  qat_cd_prepare(cx->dy + (long)n * g->oc * g->oh * g->ow, &cx->d, &cx->L, xq);
  long hw = (long)g->h * g->w;
  float *dx = cx->dx + (long)n * g->c * hw;
  int c0 = p0 * QAT_CD_FR, c1 = p1 * QAT_CD_FR < g->c ? p1 * QAT_CD_FR : g->c;
  /* each phase's planes [c][mh][qw] contiguous in ph (its tiles stored whole, from registers), then woven into dx */
  float *buf = qat_scratch(thread, 1, (size_t)g->c * hw * sizeof(float));
  for (int i = 0; i < cx->nph; i++) {
    const phase_t *ph = &cx->ph[i];
    float *pb = buf + ph->buf0;
    long pl = (long)ph->mh * ph->qw;
    if (ph->k == 0) {
      memset(pb + c0 * pl, 0, (size_t)(c1 - c0) * pl * sizeof(float));
      continue;
    }
    qat_cd_tiles(xq, cx->L.rowstep, cx->ap + ph->ap0, ph->k, cx->off + ph->off0, g->c, p0, p1, ph->mh, ph->qw, pb, pl, ph->qw, 1,
                 NULL);
  }
  weave(buf, cx->ph, g, c0, c1, dx);
}

/*
 * The dy padding along one axis (input size n, stride s, padding p, kernel k, dilation d,
 * output size on) that keeps every stride phase's reads inside its planes:
 * max(0, −min e, m − 1 + max e − (on − 1)) over the phases a and the taps that land on them,
 * e = (a + p − kk·d) / s, m = the phase's length.
 */
static int phase_pad(int n, int s, int p, int k, int d, int on) {
  int pad = 0;
  for (int a = 0; a < s; a++) {
    int m = (n - a + s - 1) / s;
    for (int kk = 0; kk < k; kk++) {
      int v = a + p - kk * d;
      if (!lands(v, s)) continue;
      int e = fdiv(v, s);
      if (-e > pad) pad = -e;
      if (m - 1 + e - (on - 1) > pad) pad = m - 1 + e - (on - 1);
    }
  }
  return pad;
}

void qat_cd_bwd_input_strided(const float *dy, const float *w, float *dx, const qat_conv_geom *g, int nthreads) {
  int sh = g->sh, sw = g->sw, khw = g->kh * g->kw, panels = (g->c + QAT_CD_FR - 1) / QAT_CD_FR;
  int nph = sh * sw, taps = g->oc * khw;
  phase_t *ph = qat_scratch(0, 5, (size_t)nph * sizeof(phase_t));
  int *off = qat_scratch(0, 4, (size_t)taps * sizeof(int));
  float *ap = qat_scratch(0, 3, (size_t)panels * taps * QAT_CD_FR * sizeof(float));
  /* dy padding that keeps every phase's reads inside its planes, per axis (phase_pad) */
  int py = phase_pad(g->h, sh, g->ph, g->kh, g->dh, g->oh), px = phase_pad(g->w, sw, g->pw, g->kw, g->dw, g->ow);
  sdg_ctx cx = {dy, dx, g, {g->oc, g->oh, g->ow, g->c, 0, 0, 1, 1, 1, 1, py, px, 1, 1}, {0}, ap, off, ph, nph, panels, 1, panels};
  cx.L = qat_cd_layout_of(&cx.d);
  /* each phase's taps (o, ky, kx) in order: offsets into dy's planes and weight panels over the input channels */
  int t = 0;
  long apn = 0, bufn = 0;
  for (int a = 0; a < sh; a++)
    for (int b = 0; b < sw; b++) {
      phase_t *P = &ph[a * sw + b];
      P->a = a;
      P->b = b;
      P->mh = (g->h - a + sh - 1) / sh;
      P->qw = (g->w - b + sw - 1) / sw;
      P->off0 = t;
      P->ap0 = apn;
      P->buf0 = bufn;
      bufn += (long)g->c * P->mh * P->qw;
      /* the phase's tap count first (it is the panels' row stride), then one walk over its taps */
      int ny = 0, nx = 0;
      for (int ky = 0; ky < g->kh; ky++) ny += lands(a + g->ph - ky * g->dh, sh);
      for (int kx = 0; kx < g->kw; kx++) nx += lands(b + g->pw - kx * g->dw, sw);
      P->k = g->oc * ny * nx;
      for (int o = 0; o < g->oc; o++)
        for (int ky = 0; ky < g->kh; ky++) {
          int vy = a + g->ph - ky * g->dh;
          if (!lands(vy, sh)) continue;
          for (int kx = 0; kx < g->kw; kx++) {
            int vx = b + g->pw - kx * g->dw;
            if (!lands(vx, sw)) continue;
            int r = t - P->off0;
            off[t++] = (int)(o * cx.L.plane + (long)(fdiv(vy, sh) + py) * cx.L.wq + fdiv(vx, sw) + px);
            for (int pi = 0; pi < panels; pi++)
              for (int i = 0; i < QAT_CD_FR; i++) {
                int ci = pi * QAT_CD_FR + i;
                ap[apn + ((long)pi * P->k + r) * QAT_CD_FR + i] = ci < g->c ? w[(((long)o * g->c + ci) * g->kh + ky) * g->kw + kx] : 0.0f;
              }
          }
        }
      apn += (long)panels * P->k * QAT_CD_FR;
    }
  if (g->n < nthreads && panels >= 2) { /* one image on several threads: split its channel panels */
    cx.chunks = (nthreads + g->n - 1) / g->n;
    if (cx.chunks > panels) cx.chunks = panels;
    cx.per_task = (panels + cx.chunks - 1) / cx.chunks;
    cx.chunks = (panels + cx.per_task - 1) / cx.per_task;
  }
  qat_parallel(g->n * cx.chunks, nthreads, task, &cx);
}
