/*
 * Float64 vector helpers shared by the native transformer kernels (transformer.c: GELU;
 * layernorm.c: LayerNorm and the softmax backward): the AVX2 target attribute, a broadcast
 * macro, and e^x in four float64 lanes (Cody–Waite reduction, the degree-13 Taylor polynomial
 * by Estrin's scheme; within a few float64 ulps). Header-only (static inline).
 */
#ifndef QAT_VEXP_H
#define QAT_VEXP_H

#include "qat.h"

#if QAT_X86
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define V(c) _mm256_set1_pd(c)

/* e^x in four lanes: 0 below −708, e^709 above 709, NaN stays NaN. */
AVX2 static inline __m256d exp4(__m256d x) {
  __m256d tiny = _mm256_cmp_pd(x, V(-708.0), _CMP_LT_OQ);
  __m256d xc = _mm256_min_pd(V(709.0), _mm256_max_pd(V(-708.0), x)); /* NaN in x passes through */
  __m256d n = _mm256_round_pd(_mm256_mul_pd(xc, V(1.4426950408889634)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256d r = _mm256_fnmadd_pd(n, V(6.93147180369123816490e-01), xc);
  r = _mm256_fnmadd_pd(n, V(1.90821492927058770002e-10), r);
  /* Σ r^k/k! for k ≤ 13 by Estrin's scheme (pairs, then r², r⁴, r⁸): a short dependency chain */
  __m256d r2 = _mm256_mul_pd(r, r), r4 = _mm256_mul_pd(r2, r2), r8 = _mm256_mul_pd(r4, r4);
#define PAIR(k) _mm256_fmadd_pd(V(1.0 / fact[k + 1]), r, V(1.0 / fact[k]))
  static const double fact[14] = {1, 1, 2, 6, 24, 120, 720, 5040, 40320, 362880, 3628800, 39916800, 479001600, 6227020800.0};
  __m256d s0 = _mm256_fmadd_pd(PAIR(2), r2, PAIR(0)), s1 = _mm256_fmadd_pd(PAIR(6), r2, PAIR(4));
  __m256d s2 = _mm256_fmadd_pd(PAIR(10), r2, PAIR(8)), s3 = PAIR(12);
#undef PAIR
  __m256d p = _mm256_fmadd_pd(_mm256_fmadd_pd(s3, r4, s2), r8, _mm256_fmadd_pd(s1, r4, s0));
  __m256i e = _mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n)), _mm256_set1_epi64x(1023)), 52);
  return _mm256_andnot_pd(tiny, _mm256_mul_pd(p, _mm256_castsi256_pd(e)));
}

#endif

#endif
