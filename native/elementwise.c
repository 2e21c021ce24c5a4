/*
 * Elementwise kernels of the native backend: maskMul, the gradient of relu / hardtanh
 * (Kernels.maskMul; src/backend/ref/epilogue.ts is the definition):
 *   out[i] = g[i] · (lo < y[i] < hi ? 1 : 0), hi = +∞ meaning no upper bound (+∞ passes),
 * the product taken as a real multiply (g·0 keeps g's sign, NaN·0 is NaN; NaN in y masks to 0).
 * On AVX2, 8 lanes with float32 compares when lo and hi are float32 values (a float32 y
 * compares to them as to the float64 originals), else the portable loop in float64 compares.
 * Chunks are split among threads for large arrays. Called by binding-layout.c.
 */
#include "qat.h"

#include <math.h>
#if QAT_X86
#include <immintrin.h>
#endif

#define CHUNK 16384 /* elements per task */

typedef struct {
  const float *g, *y;
  float *out;
  long n;
  double lo, hi;
} mask_ctx;

static void mask_scalar(const float *g, const float *y, float *out, long n, double lo, double hi) {
  if (isinf(hi) && hi > 0) {
    for (long i = 0; i < n; i++) out[i] = g[i] * ((double)y[i] > lo ? 1.0f : 0.0f);
  } else {
    for (long i = 0; i < n; i++) {
      double v = y[i];
      out[i] = g[i] * (v > lo && v < hi ? 1.0f : 0.0f);
    }
  }
}

#if QAT_X86
__attribute__((target("avx2"))) static long mask_avx2(const float *g, const float *y, float *out, long n, float lo, float hi, int bounded) {
  const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi), one = _mm256_set1_ps(1.0f);
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(y + i);
    __m256 m = _mm256_cmp_ps(v, vlo, _CMP_GT_OQ);
    if (bounded) m = _mm256_and_ps(m, _mm256_cmp_ps(v, vhi, _CMP_LT_OQ));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(g + i), _mm256_and_ps(m, one)));
  }
  return i;
}
#endif

static void mask_task(void *p, int task, int thread) {
  (void)thread;
  const mask_ctx *cx = p;
  long i0 = (long)task * CHUNK, n = cx->n - i0 < CHUNK ? cx->n - i0 : CHUNK;
  const float *g = cx->g + i0, *y = cx->y + i0;
  float *out = cx->out + i0;
  long done = 0;
#if QAT_X86
  int unbounded = isinf(cx->hi) && cx->hi > 0;
  int exact = (double)(float)cx->lo == cx->lo && (unbounded || (double)(float)cx->hi == cx->hi);
  if (qat_isa() >= QAT_ISA_AVX2 && exact) done = mask_avx2(g, y, out, n, (float)cx->lo, (float)cx->hi, !unbounded);
#endif
  mask_scalar(g + done, y + done, out + done, n - done, cx->lo, cx->hi);
}

void qat_mask_mul(const float *g, const float *y, double lo, double hi, float *out, long n) {
  if (n <= 0) return;
  mask_ctx cx = {g, y, out, n, lo, hi};
  int tasks = (int)((n + CHUNK - 1) / CHUNK);
  qat_parallel(tasks, n >= (1L << 17) ? qat_threads : 1, mask_task, &cx);
}
