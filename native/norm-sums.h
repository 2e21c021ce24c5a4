/*
 * The per-channel sums of batch norm (norm.c; channel affine's backward too), in float64 with
 * independent accumulators: Σ x and Σ (x − m)² for the statistics, Σ g and Σ g·(x − m) for the
 * backward, and the latter of g masked by ReLU's output sign recomputed from x (the BN → ReLU
 * backward). Each portable, and on x86 for AVX2 (4 float64 lanes; another summation order:
 * float64 rounding). Static functions, included by norm.c only.
 */
#ifndef QAT_NORM_SUMS_H
#define QAT_NORM_SUMS_H

#include "qat.h"

#if QAT_X86
#include <immintrin.h>
#endif

/* ---- sums: four independent float64 accumulators (a serial chain costs 4 cycles an element) ---- */
static double sum_f32(const float *x, int n) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    a0 += x[j];
    a1 += x[j + 1];
    a2 += x[j + 2];
    a3 += x[j + 3];
  }
  for (; j < n; j++) a0 += x[j];
  return (a0 + a1) + (a2 + a3);
}

/* Σ (x − m)² */
static double sumsq_dev(const float *x, int n, double m) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    double d0 = x[j] - m, d1 = x[j + 1] - m, d2 = x[j + 2] - m, d3 = x[j + 3] - m;
    a0 += d0 * d0;
    a1 += d1 * d1;
    a2 += d2 * d2;
    a3 += d3 * d3;
  }
  for (; j < n; j++) {
    double d = x[j] - m;
    a0 += d * d;
  }
  return (a0 + a1) + (a2 + a3);
}

/* Σ g and Σ g·(x − m) */
static void sum_g_gx(const float *g, const float *x, int n, double m, double *sg, double *sgx) {
  double a0 = 0, a1 = 0, b0 = 0, b1 = 0;
  int j = 0;
  for (; j + 2 <= n; j += 2) {
    double g0 = g[j], g1 = g[j + 1];
    a0 += g0;
    a1 += g1;
    b0 += g0 * ((double)x[j] - m);
    b1 += g1 * ((double)x[j + 1] - m);
  }
  for (; j < n; j++) {
    a0 += g[j];
    b0 += (double)g[j] * ((double)x[j] - m);
  }
  *sg = a0 + a1;
  *sgx = b0 + b1;
}

#if QAT_X86
/* (l0 + l1) + (l2 + l3) of a vector's four float64 lanes */
__attribute__((target("avx2"))) static inline double hsum4(__m256d a) {
  double l[4];
  _mm256_storeu_pd(l, a);
  return (l[0] + l[1]) + (l[2] + l[3]);
}

/* Σ g and Σ g·(x − m) in float64 with 4 lanes × 2 accumulators (another order than the reference: float64 rounding). */
__attribute__((target("avx2"))) static void sum_g_gx_avx2(const float *g, const float *x, int n, double m, double *sg, double *sgx) {
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), b0 = _mm256_setzero_pd(), b1 = _mm256_setzero_pd();
  const __m256d mv = _mm256_set1_pd(m);
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256d g0 = _mm256_cvtps_pd(_mm_loadu_ps(g + j)), g1 = _mm256_cvtps_pd(_mm_loadu_ps(g + j + 4));
    __m256d x0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j)), mv), x1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j + 4)), mv);
    a0 = _mm256_add_pd(a0, g0);
    a1 = _mm256_add_pd(a1, g1);
    b0 = _mm256_add_pd(b0, _mm256_mul_pd(g0, x0));
    b1 = _mm256_add_pd(b1, _mm256_mul_pd(g1, x1));
  }
  double s = hsum4(_mm256_add_pd(a0, a1)), t = hsum4(_mm256_add_pd(b0, b1));
  for (; j < n; j++) {
    s += g[j];
    t += (double)g[j] * ((double)x[j] - m);
  }
  *sg = s;
  *sgx = t;
}

/* Σ x in float64, 4 lanes × 4 accumulators (another order than sum_f32: float64 rounding) */
__attribute__((target("avx2"))) static double sum_f32_avx2(const float *x, int n) {
  __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm_loadu_ps(x + j)));
    a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm_loadu_ps(x + j + 4)));
    a2 = _mm256_add_pd(a2, _mm256_cvtps_pd(_mm_loadu_ps(x + j + 8)));
    a3 = _mm256_add_pd(a3, _mm256_cvtps_pd(_mm_loadu_ps(x + j + 12)));
  }
  for (; j + 4 <= n; j += 4) a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm_loadu_ps(x + j)));
  double s = hsum4(_mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
  for (; j < n; j++) s += x[j];
  return s;
}

/* Σ (x − m)², as sum_f32_avx2 */
__attribute__((target("avx2"))) static double sumsq_dev_avx2(const float *x, int n, double m) {
  const __m256d mv = _mm256_set1_pd(m);
  __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j)), mv);
    __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j + 4)), mv);
    __m256d d2 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j + 8)), mv);
    __m256d d3 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j + 12)), mv);
    a0 = _mm256_add_pd(a0, _mm256_mul_pd(d0, d0));
    a1 = _mm256_add_pd(a1, _mm256_mul_pd(d1, d1));
    a2 = _mm256_add_pd(a2, _mm256_mul_pd(d2, d2));
    a3 = _mm256_add_pd(a3, _mm256_mul_pd(d3, d3));
  }
  for (; j + 4 <= n; j += 4) {
    __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j)), mv);
    a0 = _mm256_add_pd(a0, _mm256_mul_pd(d, d));
  }
  double s = hsum4(_mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
  for (; j < n; j++) {
    double d = x[j] - m;
    s += d * d;
  }
  return s;
}

/* sum_g_gx_avx2 of g·(y > 0 ? 1 : 0), y = fl32((x − m)·scale + shift): maskMul's product (the mask as in bwd_relu_row_avx2), then the same sums */
__attribute__((target("avx2"))) static void sum_g_gx_relu_avx2(const float *g, const float *x, int n, double m, double scale,
                                                                double shift, double *sg, double *sgx) {
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), b0 = _mm256_setzero_pd(), b1 = _mm256_setzero_pd();
  const __m256d mv = _mm256_set1_pd(m), sv = _mm256_set1_pd(scale), tv = _mm256_set1_pd(shift);
  const __m256d tiny = _mm256_set1_pd(0x1p-150), one = _mm256_set1_pd(1.0);
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256d x0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j)), mv), x1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j + 4)), mv);
    __m256d on0 = _mm256_and_pd(_mm256_cmp_pd(_mm256_add_pd(_mm256_mul_pd(x0, sv), tv), tiny, _CMP_GT_OQ), one);
    __m256d on1 = _mm256_and_pd(_mm256_cmp_pd(_mm256_add_pd(_mm256_mul_pd(x1, sv), tv), tiny, _CMP_GT_OQ), one);
    __m256d g0 = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(g + j)), on0), g1 = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(g + j + 4)), on1);
    a0 = _mm256_add_pd(a0, g0);
    a1 = _mm256_add_pd(a1, g1);
    b0 = _mm256_add_pd(b0, _mm256_mul_pd(g0, x0));
    b1 = _mm256_add_pd(b1, _mm256_mul_pd(g1, x1));
  }
  double s = hsum4(_mm256_add_pd(a0, a1)), t = hsum4(_mm256_add_pd(b0, b1));
  for (; j < n; j++) {
    float y = (float)(((double)x[j] - m) * scale + shift);
    float gj = g[j] * (y > 0.0f ? 1.0f : 0.0f);
    s += gj;
    t += (double)gj * ((double)x[j] - m);
  }
  *sg = s;
  *sgx = t;
}
#endif

/* sum_g_gx of g·(y > 0 ? 1 : 0), y as in batch norm's apply (portable) */
static void sum_g_gx_relu(const float *g, const float *x, int n, double m, double scale, double shift, double *sg, double *sgx) {
  double a0 = 0, a1 = 0, b0 = 0, b1 = 0;
  int j = 0;
  for (; j + 2 <= n; j += 2) {
    float y0 = (float)(((double)x[j] - m) * scale + shift), y1 = (float)(((double)x[j + 1] - m) * scale + shift);
    double g0 = g[j] * (y0 > 0.0f ? 1.0f : 0.0f), g1 = g[j + 1] * (y1 > 0.0f ? 1.0f : 0.0f);
    a0 += g0;
    a1 += g1;
    b0 += g0 * ((double)x[j] - m);
    b1 += g1 * ((double)x[j + 1] - m);
  }
  for (; j < n; j++) {
    float y = (float)(((double)x[j] - m) * scale + shift);
    double gj = g[j] * (y > 0.0f ? 1.0f : 0.0f);
    a0 += gj;
    b0 += gj * ((double)x[j] - m);
  }
  *sg = a0 + a1;
  *sgx = b0 + b1;
}

#endif /* QAT_NORM_SUMS_H */
