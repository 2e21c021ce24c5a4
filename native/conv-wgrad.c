/*
 * Backward weight of the direct convolution (conv-direct.h; called through conv.c):
 * dWᵀ[tap, o] = Σ_n Σ_(oy, ox) xq_n[off[tap] + oy·rowstep + ox] · dy[n, o, oy, ox], in tiles of
 * 6 taps × 16 output channels whose 12 AVX2 accumulators take, per output position, one
 * broadcast input per tap and two vectors of dy transposed to [position][channel]. Images are
 * prepared (xq and the transposed dy) a group at a time (≤ 8 MB), spread over the threads; the
 * tap rows are then split among tasks, each tile summing a chunk of output rows in registers
 * before adding it to its sums — every dW value gets the same operations in the same order
 * whatever the thread count. AVX2+FMA and portable micro-kernels; on AVX2, where the channels
 * pad to a multiple of 32, each tile runs as two 3-tap × 32-channel halves (4 vectors of dy and
 * 3 broadcasts a position instead of 2 and 6; the same sums in the same order).
 */
#include "conv-direct.h"

#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif

#define WR 6 /* taps per tile */
#define WC QAT_CD_WC
typedef qat_cd_geom dgeom;
typedef qat_v4f v4f;
#define load4 qat_load4


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

#if QAT_X86
/* The same for 3 taps × 32 channels (4 vectors of dy, 3 broadcasts a position): each sum gets the same operations. */
__attribute__((target("avx2,fma"))) static void wukr3_avx2(int nrow, int len, const float *const *xr, long xstep, const float *b,
                                                            long ldb, float *c, long ldc, int rows) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c02 = _mm256_setzero_ps(), c03 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps(), c12 = _mm256_setzero_ps(), c13 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c22 = _mm256_setzero_ps(), c23 = _mm256_setzero_ps();
  const float *p0 = xr[0], *p1 = xr[1], *p2 = xr[2];
  for (int s = 0; s < nrow; s++) {
    for (int q = 0; q < len; q++, b += ldb) {
      __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), b2 = _mm256_loadu_ps(b + 16), b3 = _mm256_loadu_ps(b + 24);
      __m256 a = _mm256_broadcast_ss(p0 + q);
      c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01); c02 = _mm256_fmadd_ps(a, b2, c02); c03 = _mm256_fmadd_ps(a, b3, c03);
      a = _mm256_broadcast_ss(p1 + q);
      c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11); c12 = _mm256_fmadd_ps(a, b2, c12); c13 = _mm256_fmadd_ps(a, b3, c13);
      a = _mm256_broadcast_ss(p2 + q);
      c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21); c22 = _mm256_fmadd_ps(a, b2, c22); c23 = _mm256_fmadd_ps(a, b3, c23);
    }
    p0 += xstep; p1 += xstep; p2 += xstep;
  }
  __m256 acc[12] = {c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23};
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < 4; j++) _mm256_storeu_ps(c + i * ldc + 8 * j, _mm256_add_ps(_mm256_loadu_ps(c + i * ldc + 8 * j), acc[4 * i + j]));
}
#endif

typedef void (*wukr_fn)(int, int, const float *const *, long, const float *, long, float *, long, int);

typedef struct {
  const float *x, *dy;
  const dgeom *d;
  qat_cd_layout L;
  const int *off;
  float *xq, *dyt, *acc; /* the group's prepared images; dWᵀ sums [k rounded up to WR][ocp] */
  int k, ocp, n0, group, rows_per_chunk, blocks, per_task; /* group: images prepared at n0 */
} wgrad_ctx;

/* t[q·ldt + o] = src[o·ohw + q] for o < oc, q in [q0, q1) (portable). */
static void transpose_portable(const float *src, long ohw, int oc, long q0, long q1, float *t, long ldt) {
  for (int o = 0; o < oc; o++)
    for (long q = q0; q < q1; q++) t[q * ldt + o] = src[o * ohw + q];
}

#if QAT_X86
/* The same, in 8 × 8 blocks of registers where both counts allow (the rest as above). */
__attribute__((target("avx2,fma"))) static void transpose_avx2(const float *src, long ohw, int oc, long q0, long q1, float *t, long ldt) {
  int o8 = oc / 8 * 8;
  long qe = q0 + (q1 - q0) / 8 * 8;
  for (int o = 0; o < o8; o += 8)
    for (long q = q0; q < qe; q += 8) {
      const float *s = src + o * ohw + q;
      __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ohw), r2 = _mm256_loadu_ps(s + 2 * ohw), r3 = _mm256_loadu_ps(s + 3 * ohw);
      __m256 r4 = _mm256_loadu_ps(s + 4 * ohw), r5 = _mm256_loadu_ps(s + 5 * ohw), r6 = _mm256_loadu_ps(s + 6 * ohw), r7 = _mm256_loadu_ps(s + 7 * ohw);
      __m256 u0 = _mm256_unpacklo_ps(r0, r1), u1 = _mm256_unpackhi_ps(r0, r1), u2 = _mm256_unpacklo_ps(r2, r3), u3 = _mm256_unpackhi_ps(r2, r3);
      __m256 u4 = _mm256_unpacklo_ps(r4, r5), u5 = _mm256_unpackhi_ps(r4, r5), u6 = _mm256_unpacklo_ps(r6, r7), u7 = _mm256_unpackhi_ps(r6, r7);
      __m256 v0 = _mm256_shuffle_ps(u0, u2, 0x44), v1 = _mm256_shuffle_ps(u0, u2, 0xEE), v2 = _mm256_shuffle_ps(u1, u3, 0x44), v3 = _mm256_shuffle_ps(u1, u3, 0xEE);
      __m256 v4 = _mm256_shuffle_ps(u4, u6, 0x44), v5 = _mm256_shuffle_ps(u4, u6, 0xEE), v6 = _mm256_shuffle_ps(u5, u7, 0x44), v7 = _mm256_shuffle_ps(u5, u7, 0xEE);
      float *d = t + q * ldt + o;
      _mm256_storeu_ps(d, _mm256_permute2f128_ps(v0, v4, 0x20));
      _mm256_storeu_ps(d + ldt, _mm256_permute2f128_ps(v1, v5, 0x20));
      _mm256_storeu_ps(d + 2 * ldt, _mm256_permute2f128_ps(v2, v6, 0x20));
      _mm256_storeu_ps(d + 3 * ldt, _mm256_permute2f128_ps(v3, v7, 0x20));
      _mm256_storeu_ps(d + 4 * ldt, _mm256_permute2f128_ps(v0, v4, 0x31));
      _mm256_storeu_ps(d + 5 * ldt, _mm256_permute2f128_ps(v1, v5, 0x31));
      _mm256_storeu_ps(d + 6 * ldt, _mm256_permute2f128_ps(v2, v6, 0x31));
      _mm256_storeu_ps(d + 7 * ldt, _mm256_permute2f128_ps(v3, v7, 0x31));
    }
  if (qe < q1) transpose_portable(src, ohw, o8, qe, q1, t, ldt);
  if (o8 < oc) transpose_portable(src + o8 * ohw, ohw, oc - o8, q0, q1, t + o8, ldt);
}
#endif

/* Image n0 + i of the group → xq and dy transposed to [position][ocp] (channels past oc zero). */
static void wgrad_prep_task(void *p, int i, int thread) {
  const wgrad_ctx *cx = p;
  const dgeom *d = cx->d;
  long ohw = (long)d->oh * d->ow;
  int n = cx->n0 + i;
  qat_cd_prepare(cx->x + (long)n * d->cin * d->ih * d->iw, d, &cx->L, cx->xq + i * cx->L.size);
  const float *dy = cx->dy + (long)n * d->cout * ohw;
  float *t = cx->dyt + i * ohw * cx->ocp;
  void (*transpose)(const float *, long, int, long, long, float *, long) = transpose_portable;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) transpose = transpose_avx2;
#endif
  for (long q0 = 0; q0 < ohw; q0 += 64) {
    long q1 = q0 + 64 < ohw ? q0 + 64 : ohw;
    transpose(dy, ohw, d->cout, q0, q1, t, cx->ocp);
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
  int wide = 0;
  if (qat_isa() >= QAT_ISA_AVX2) {
    ukr = wukr_avx2;
    wide = cx->ocp % 32 == 0;
  }
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
        const float *bt = dyt + (long)oy * d->ow * cx->ocp;
        float *acc = cx->acc + (long)r0 * cx->ocp;
#if QAT_X86
        if (wide) { /* two 3-tap halves, 32 channels a tile */
          for (int h = 0; h < 2 && 3 * h < rows; h++)
            for (int o0 = 0; o0 < cx->ocp; o0 += 32)
              wukr3_avx2(nrow, d->ow, xr + 3 * h, cx->L.rowstep, bt + o0, cx->ocp, acc + 3L * h * cx->ocp + o0, cx->ocp,
                         rows - 3 * h < 3 ? rows - 3 * h : 3);
          continue;
        }
#endif
        for (int o0 = 0; o0 < cx->ocp; o0 += WC) ukr(nrow, d->ow, xr, cx->L.rowstep, bt + o0, cx->ocp, acc + o0, cx->ocp, rows);
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
  wgrad_ctx cx = {x, dy, &d, qat_cd_layout_of(&d), NULL, NULL, NULL, NULL, k, ocp, 0, 0, 1, blocks, blocks};
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
  qat_cd_offsets(&d, &cx.L, off);
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
