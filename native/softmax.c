/*
 * Softmax and log-softmax of the native backend over the rows of x viewed as [rows, cols]
 * (the Kernels `softmax` entry; src/backend/ref/softmax.ts is the definition):
 *   m = max_j x_j;  e_j = exp(x_j − m);  s = Σ e_j (float64);
 *   softmax_j = e_j · (1/s),  logSoftmax_j = x_j − (m + log s).
 * On AVX2 the shift x − m and the reduction by ln 2 are taken in float64 lanes and the
 * polynomial (Cephes' degree 6) in float32, so each e_j is within 2 float32 ulps of the
 * reference's (exp in float64); the portable path takes exp in float64, as the reference does. A row whose maximum is NaN or ±∞ is all NaN, as in
 * the reference. Rows are split among threads for large inputs. Called by binding-layout.c.
 */
#include "qat.h"

#include <math.h>
#if QAT_X86
#include <immintrin.h>
#endif

#define SOFTMAX_PARALLEL_MIN (1L << 16) /* elements below which one thread does all rows */
#define ROWS_PER_TASK 64

typedef struct {
  const float *x;
  float *out;
  long rows, cols;
  int log;
} softmax_ctx;

static float row_max(const float *x, long n) {
  float m = -INFINITY;
  for (long j = 0; j < n; j++) {
    float v = x[j];
    if (v > m || v != v) m = v;
  }
  return m;
}

/* Writes e_j = exp(x_j − m) to e (unless e is NULL) and returns Σ e_j in float64: portable path (libm exp in float64, as the reference). */
static double exp_sum_scalar(const float *x, long n, float m, float *e) {
  double s = 0;
  for (long j = 0; j < n; j++) {
    float v = (float)exp((double)x[j] - m);
    if (e) e[j] = v;
    s += v;
  }
  return s;
}

#if QAT_X86
/*
 * exp(x − m) for 8 floats ≤ m: the shift and the reduction x − m = n·ln2 + r in float64 lanes
 * (exact shift, as the reference's), the polynomial in r (|r| ≤ ln2/2) in float32; 0 below
 * −87.3 (and for −∞).
 */
__attribute__((target("avx2,fma"))) static inline __m256 exp8_shifted(__m256 x, __m256d m) {
  const __m256d log2e = _mm256_set1_pd(1.4426950408889634), ln2 = _mm256_set1_pd(0.6931471805599453);
  __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), m);
  __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), m);
  const __m256d lo = _mm256_set1_pd(-87.33654475);
  __m256 zero = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_cmp_pd(d1, lo, _CMP_LT_OQ)), _mm256_cvtpd_ps(_mm256_cmp_pd(d0, lo, _CMP_LT_OQ)));
  zero = _mm256_cmp_ps(zero, _mm256_setzero_ps(), _CMP_NEQ_UQ); /* all-ones lanes (NaN as floats) → mask */
  d0 = _mm256_max_pd(d0, lo);
  d1 = _mm256_max_pd(d1, lo);
  __m256d n0 = _mm256_round_pd(_mm256_mul_pd(d0, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256d n1 = _mm256_round_pd(_mm256_mul_pd(d1, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_fnmadd_pd(n1, ln2, d1)), _mm256_cvtpd_ps(_mm256_fnmadd_pd(n0, ln2, d0)));
  __m256i ni = _mm256_set_m128i(_mm256_cvtpd_epi32(n1), _mm256_cvtpd_epi32(n0));
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3333519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  /* · 2^n for n in [−126, 0], as (p · 2^(n+1)) · ½ so that n = −126 stays a normal scale */
  __m256i e1 = _mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(127 + 1)), 23);
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e1)), _mm256_set1_ps(0.5f));
  return _mm256_andnot_ps(zero, y);
}

__attribute__((target("avx2,fma"))) static double exp_sum_avx2(const float *x, long n, float m, float *e) {
  __m256d mv = _mm256_set1_pd(m);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  long j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 v = exp8_shifted(_mm256_loadu_ps(x + j), mv);
    if (e) _mm256_storeu_ps(e + j, v);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
  double lanes[4];
  _mm256_storeu_pd(lanes, _mm256_add_pd(s0, s1));
  double s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  if (j < n) {
    float tail_in[8], tail_out[8];
    long t = n - j;
    for (long i = 0; i < 8; i++) tail_in[i] = i < t ? x[j + i] : -INFINITY;
    _mm256_storeu_ps(tail_out, exp8_shifted(_mm256_loadu_ps(tail_in), mv));
    for (long i = 0; i < t; i++) {
      if (e) e[j + i] = tail_out[i];
      s += tail_out[i];
    }
  }
  return s;
}
#endif

static void softmax_rows(void *p, int task, int thread) {
  (void)thread;
  const softmax_ctx *cx = p;
  long r0 = (long)task * ROWS_PER_TASK, r1 = r0 + ROWS_PER_TASK < cx->rows ? r0 + ROWS_PER_TASK : cx->rows;
  long n = cx->cols;
  double (*exp_sum)(const float *, long, float, float *) = exp_sum_scalar;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) exp_sum = exp_sum_avx2;
#endif
  for (long r = r0; r < r1; r++) {
    const float *x = cx->x + r * n;
    float *out = cx->out + r * n;
    float m = row_max(x, n);
    if (!isfinite(m)) {
      for (long j = 0; j < n; j++) out[j] = NAN;
      continue;
    }
    if (cx->log) {
      double lse = (double)m + log(exp_sum(x, n, m, NULL));
      for (long j = 0; j < n; j++) out[j] = (float)((double)x[j] - lse);
    } else {
      double inv = 1.0 / exp_sum(x, n, m, out);
      for (long j = 0; j < n; j++) out[j] = (float)(out[j] * inv);
    }
  }
}

void qat_softmax(const float *x, float *out, long rows, long cols, int log) {
  if (rows <= 0 || cols <= 0) return;
  softmax_ctx cx = {x, out, rows, cols, log};
  int tasks = (int)((rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK);
  qat_parallel(tasks, rows * cols >= SOFTMAX_PARALLEL_MIN ? qat_threads : 1, softmax_rows, &cx);
}
