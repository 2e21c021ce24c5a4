/*
 * Float GEMM of the native backend: Goto-style blocking (NC columns of B packed per KC-deep
 * slice into NR-wide panels, MC rows of A packed into MR-tall panels) around a 6×16
 * register-blocked micro-kernel. Two micro-kernels: AVX2+FMA (12 ymm accumulators,
 * compiled for that target by a function attribute, chosen at run time) and portable C.
 * A fused epilogue (bias, ReLU / clamp) runs on each C tile right after its last k block.
 * On AVX-512 CPUs (qat_isa() ≥ QAT_ISA_AVX512) qat_sgemm_epi hands the product to sgemm-avx512.c
 * (12×32 micro-kernel, its own panels).
 * Called by binding.c (matmul) and conv.c (every convolution pass).
 */
#include "qat.h"
#include "avx512.h"

#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif

#define MR 6
#define NR 16
#define KC 256
#define MC 120
#define NC 2048

/* B[pc.., jc..] (kc × nc) → panels of NR columns, each kc rows of NR floats (zero padded). */
static void pack_b(int kc, int nc, const float *b, long brs, long bcs, float *dst) {
  for (int j = 0; j < nc; j += NR) {
    int nr = nc - j < NR ? nc - j : NR;
    const float *src = b + j * bcs;
    if (bcs == 1 && nr == NR) {
      for (int p = 0; p < kc; p++) memcpy(dst + p * NR, src + p * brs, NR * sizeof(float));
    } else if (brs == 1) {
      /* transposed operand: each column is contiguous along p */
      for (int jj = 0; jj < nr; jj++) {
        const float *col = src + jj * bcs;
        for (int p = 0; p < kc; p++) dst[p * NR + jj] = col[p];
      }
      for (int jj = nr; jj < NR; jj++)
        for (int p = 0; p < kc; p++) dst[p * NR + jj] = 0.0f;
    } else {
      for (int p = 0; p < kc; p++) {
        int jj = 0;
        for (; jj < nr; jj++) dst[p * NR + jj] = src[p * brs + jj * bcs];
        for (; jj < NR; jj++) dst[p * NR + jj] = 0.0f;
      }
    }
    dst += (long)kc * NR;
  }
}

/* A[ic.., pc..] (mc × kc) → panels of MR rows, each kc columns of MR floats (zero padded). */
static void pack_a(int mc, int kc, const float *a, long ars, long acs, float *dst) {
  for (int i = 0; i < mc; i += MR) {
    int mr = mc - i < MR ? mc - i : MR;
    const float *src = a + i * ars;
    if (acs == 1 && mr == MR) {
      const float *r0 = src, *r1 = src + ars, *r2 = src + 2 * ars, *r3 = src + 3 * ars, *r4 = src + 4 * ars, *r5 = src + 5 * ars;
      for (int p = 0; p < kc; p++) {
        float *d = dst + p * MR;
        d[0] = r0[p]; d[1] = r1[p]; d[2] = r2[p]; d[3] = r3[p]; d[4] = r4[p]; d[5] = r5[p];
      }
    } else {
      for (int p = 0; p < kc; p++) {
        int ii = 0;
        for (; ii < mr; ii++) dst[p * MR + ii] = src[ii * ars + p * acs];
        for (; ii < MR; ii++) dst[p * MR + ii] = 0.0f;
      }
    }
    dst += (long)kc * MR;
  }
}

/* Merges a full MR×NR tile computed in t into C (mr × nr valid). */
static void merge_tile(const float *t, float *c, long ldc, int mr, int nr, int load) {
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) c[i * ldc + j] = load ? c[i * ldc + j] + t[i * NR + j] : t[i * NR + j];
}

/*
 * Portable micro-kernel: the tile's sums in p order, one multiply and one add each, on the
 * compiler's generic 4-lane vectors (GCC/Clang vector extensions: SSE2 on x86-64, NEON on
 * arm64), 24 accumulators.
 */
typedef float v4f __attribute__((vector_size(16)));

static inline v4f load4(const float *p) {
  v4f v;
  memcpy(&v, p, sizeof v);
  return v;
}

static void ukr_scalar(int kc, const float *a, const float *b, float *c, long ldc, int load, int mr, int nr) {
  v4f acc[MR][NR / 4];
  for (int i = 0; i < MR; i++)
    for (int q = 0; q < NR / 4; q++) acc[i][q] = (v4f){0, 0, 0, 0};
  for (int p = 0; p < kc; p++) {
    const float *bp = b + p * NR, *ap = a + p * MR;
    v4f b0 = load4(bp), b1 = load4(bp + 4), b2 = load4(bp + 8), b3 = load4(bp + 12);
    for (int i = 0; i < MR; i++) {
      v4f ai = (v4f){ap[i], ap[i], ap[i], ap[i]};
      acc[i][0] += ai * b0;
      acc[i][1] += ai * b1;
      acc[i][2] += ai * b2;
      acc[i][3] += ai * b3;
    }
  }
  float t[MR * NR];
  memcpy(t, acc, sizeof t);
  merge_tile(t, c, ldc, mr, nr, load);
}

#if QAT_X86
__attribute__((target("avx2,fma"))) static void ukr_avx2(int kc, const float *a, const float *b, float *c, long ldc, int load,
                                                          int mr, int nr) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int p = 0; p < kc; p++) {
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    __m256 a0 = _mm256_broadcast_ss(a), a1 = _mm256_broadcast_ss(a + 1);
    c00 = _mm256_fmadd_ps(a0, b0, c00); c01 = _mm256_fmadd_ps(a0, b1, c01);
    c10 = _mm256_fmadd_ps(a1, b0, c10); c11 = _mm256_fmadd_ps(a1, b1, c11);
    a0 = _mm256_broadcast_ss(a + 2); a1 = _mm256_broadcast_ss(a + 3);
    c20 = _mm256_fmadd_ps(a0, b0, c20); c21 = _mm256_fmadd_ps(a0, b1, c21);
    c30 = _mm256_fmadd_ps(a1, b0, c30); c31 = _mm256_fmadd_ps(a1, b1, c31);
    a0 = _mm256_broadcast_ss(a + 4); a1 = _mm256_broadcast_ss(a + 5);
    c40 = _mm256_fmadd_ps(a0, b0, c40); c41 = _mm256_fmadd_ps(a0, b1, c41);
    c50 = _mm256_fmadd_ps(a1, b0, c50); c51 = _mm256_fmadd_ps(a1, b1, c51);
    a += MR;
    b += NR;
  }
  if (mr == MR && nr == NR) {
    __m256 acc[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    for (int i = 0; i < MR; i++) {
      float *ci = c + i * ldc;
      __m256 lo = acc[2 * i], hi = acc[2 * i + 1];
      if (load) {
        lo = _mm256_add_ps(_mm256_loadu_ps(ci), lo);
        hi = _mm256_add_ps(_mm256_loadu_ps(ci + 8), hi);
      }
      _mm256_storeu_ps(ci, lo);
      _mm256_storeu_ps(ci + 8, hi);
    }
    return;
  }
  float t[MR * NR] __attribute__((aligned(32)));
  _mm256_store_ps(t, c00); _mm256_store_ps(t + 8, c01); _mm256_store_ps(t + 16, c10); _mm256_store_ps(t + 24, c11);
  _mm256_store_ps(t + 32, c20); _mm256_store_ps(t + 40, c21); _mm256_store_ps(t + 48, c30); _mm256_store_ps(t + 56, c31);
  _mm256_store_ps(t + 64, c40); _mm256_store_ps(t + 72, c41); _mm256_store_ps(t + 80, c50); _mm256_store_ps(t + 88, c51);
  merge_tile(t, c, ldc, mr, nr, load);
}
#endif

typedef void (*ukr_fn)(int, const float *, const float *, float *, long, int, int, int);

void qat_epi_apply(float *c, long ldc, int m, int n, int r0, int c0, const qat_epi *epi) {
  for (int i = 0; i < m; i++) {
    float *ci = c + i * ldc;
    if (epi->bias) {
      if (epi->per_col) {
        const float *b = epi->bias + c0;
        for (int j = 0; j < n; j++) ci[j] += b[j];
      } else {
        float b = epi->bias[r0 + i];
        for (int j = 0; j < n; j++) ci[j] += b;
      }
    }
    if (epi->act == QAT_ACT_RELU) {
      for (int j = 0; j < n; j++) ci[j] = ci[j] > 0 ? ci[j] : 0.0f;
    } else if (epi->act == QAT_ACT_CLAMP) {
      /* float32 bounds: where v < lo and v < (float)lo disagree, v == (float)lo, and both store (float)lo == v */
      float lo = (float)epi->lo, hi = (float)epi->hi;
      for (int j = 0; j < n; j++) {
        float v = ci[j];
        ci[j] = v < lo ? lo : v > hi ? hi : v;
      }
    }
  }
}

void qat_sgemm(int m, int n, int k, const float *a, long ars, long acs, const float *b, long brs, long bcs,
               float *c, long ldc, int accumulate, int thread) {
  qat_sgemm_epi(m, n, k, a, ars, acs, b, brs, bcs, c, ldc, accumulate, thread, NULL);
}

void qat_sgemm_epi(int m, int n, int k, const float *a, long ars, long acs, const float *b, long brs, long bcs,
                   float *c, long ldc, int accumulate, int thread, const qat_epi *epi) {
  if (m <= 0 || n <= 0) return;
  if (epi && !epi->bias && epi->act == QAT_ACT_NONE) epi = NULL;
  if (k <= 0) {
    if (!accumulate)
      for (int i = 0; i < m; i++) memset(c + i * ldc, 0, n * sizeof(float));
    if (epi) qat_epi_apply(c, ldc, m, n, 0, 0, epi);
    return;
  }
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX512) { /* its own 12×32 panels (sgemm-avx512.c) */
    qat_sgemm_avx512(m, n, k, a, ars, acs, b, brs, bcs, c, ldc, accumulate, thread, epi);
    return;
  }
#endif
  ukr_fn ukr = ukr_scalar;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) ukr = ukr_avx2;
#endif
  int ncap = n < NC ? ((n + NR - 1) / NR) * NR : NC;
  int kcap = k < KC ? k : KC;
  int mcap = m < MC ? ((m + MR - 1) / MR) * MR : MC;
  float *pb = qat_scratch(thread, 0, (size_t)kcap * ncap * sizeof(float));
  float *pa = qat_scratch(thread, 1, (size_t)kcap * mcap * sizeof(float));
  for (int jc = 0; jc < n; jc += NC) {
    int nc = n - jc < NC ? n - jc : NC;
    for (int pc = 0; pc < k; pc += KC) {
      int kc = k - pc < KC ? k - pc : KC;
      int load = accumulate || pc > 0, last = pc + kc >= k;
      pack_b(kc, nc, b + pc * brs + jc * bcs, brs, bcs, pb);
      for (int ic = 0; ic < m; ic += MC) {
        int mc = m - ic < MC ? m - ic : MC;
        pack_a(mc, kc, a + ic * ars + pc * acs, ars, acs, pa);
        for (int jr = 0; jr < nc; jr += NR) {
          int nr = nc - jr < NR ? nc - jr : NR;
          const float *bp = pb + (long)jr * kc;
          for (int ir = 0; ir < mc; ir += MR) {
            int mr = mc - ir < MR ? mc - ir : MR;
            float *ct = c + (long)(ic + ir) * ldc + jc + jr;
            ukr(kc, pa + (long)ir * kc, bp, ct, ldc, load, mr, nr);
            if (epi && last) qat_epi_apply(ct, ldc, mr, nr, ic + ir, jc + jr, epi);
          }
        }
      }
    }
  }
}

/* ---- batched matmul (the Kernels `matmul` entry): split over batch items, else C panels ---- */
typedef struct {
  const float *a, *b;
  float *c;
  const qat_matmul_geom *g;
  const qat_epi *epi;
  int split; /* 0: batch items, 1: column panels, 2: row panels */
  int chunk;
} matmul_ctx;

static void matmul_task(void *p, int t, int thread) {
  const matmul_ctx *cx = p;
  const qat_matmul_geom *g = cx->g;
  long ars = g->trans_a ? 1 : g->k, acs = g->trans_a ? g->m : 1;
  long brs = g->trans_b ? 1 : g->n, bcs = g->trans_b ? g->k : 1;
  int b0 = 0, b1 = g->batch, i0 = 0, i1 = g->m, j0 = 0, j1 = g->n;
  if (cx->split == 0) { b0 = t * cx->chunk; b1 = b0 + cx->chunk < g->batch ? b0 + cx->chunk : g->batch; }
  else if (cx->split == 1) { j0 = t * cx->chunk; j1 = j0 + cx->chunk < g->n ? j0 + cx->chunk : g->n; }
  else { i0 = t * cx->chunk; i1 = i0 + cx->chunk < g->m ? i0 + cx->chunk : g->m; }
  for (int bi = b0; bi < b1; bi++) {
    const float *a = cx->a + bi * g->a_stride + i0 * ars;
    const float *b = cx->b + bi * g->b_stride + j0 * bcs;
    float *c = cx->c + bi * g->c_stride + (long)i0 * g->n + j0;
    qat_epi e;
    if (cx->epi) { /* bias per column of C: this task's columns start at j0 */
      e = *cx->epi;
      if (e.bias) e.bias += j0;
    }
    qat_sgemm_epi(i1 - i0, j1 - j0, g->k, a, ars, acs, b, brs, bcs, c, g->n, g->accumulate, thread, cx->epi ? &e : NULL);
  }
}

void qat_matmul(const float *a, const float *b, float *c, const qat_matmul_geom *g, const qat_epi *epi) {
  double flops = 2.0 * g->m * g->n * g->k * g->batch;
  int threads = flops >= QAT_PARALLEL_MIN_FLOPS ? qat_threads : 1;
  matmul_ctx cx = {a, b, c, g, epi, 0, g->batch};
  int tasks = 1;
  if (threads > 1) {
    if (g->batch >= threads) {
      cx.chunk = (g->batch + threads - 1) / threads;
    } else if (g->n >= g->m) {
      cx.split = 1;
      cx.chunk = ((g->n + threads * NR - 1) / (threads * NR)) * NR;
    } else {
      cx.split = 2;
      cx.chunk = ((g->m + threads * MR - 1) / (threads * MR)) * MR;
    }
    int total = cx.split == 0 ? g->batch : cx.split == 1 ? g->n : g->m;
    tasks = (total + cx.chunk - 1) / cx.chunk;
  }
  qat_parallel(tasks, threads, matmul_task, &cx);
}
