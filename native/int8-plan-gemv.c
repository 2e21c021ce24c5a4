/*
 * The int8 linear layer of a compiled Int8Model run at a few rows (batch-1 inference) when it is
 * exact as u8 × s8 (see int8-plan.h): uint8 activations whose values all lie in [0, 127] (PyTorch's
 * x86 preset) against symmetric int8 weights. vpmaddubsw's 16-bit sums of two products are then at
 * most 2·127·128 = 32512 in size and cannot saturate; vpmaddwd with ones widens them to int32. The
 * weights are the layer's own int8 rows (copied when the plan is built, rows padded with zeros to
 * 32 bytes and to a multiple of 4 rows), so a row is read once as bytes: half the int16-pair
 * panels' traffic and no activation broadcast. Σ_k (x − xZp)·w = Σ_k x·w − xZp·Σ_k w, exact in
 * int32 (the accumulator bound holds), then requant_one: the same integer and the same rounding
 * as qat_qlinear, so results are bit-identical to it. Called by int8-plan.c.
 */
#include "int8-plan.h"

#include "int8.h"

#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif

int qp_u8_fits7(const uint8_t *x, long n) {
  uint8_t any = 0;
  for (long i = 0; i < n; i++) any |= x[i];
  return any < 128;
}

#if QAT_X86
/* s[0..4) = Σ_k x[k]·w_r[k] for 4 rows of kp bytes (kp a multiple of 32) */
__attribute__((target("avx2"))) static void dot4_avx2(const uint8_t *x, const int8_t *w, long kp, int32_t *s) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  const int8_t *w0 = w, *w1 = w + kp, *w2 = w + 2 * kp, *w3 = w + 3 * kp;
  for (long k = 0; k < kp; k += 32) {
    __m256i xv = _mm256_loadu_si256((const __m256i *)(x + k));
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_maddubs_epi16(xv, _mm256_loadu_si256((const __m256i *)(w0 + k))), ones));
    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_maddubs_epi16(xv, _mm256_loadu_si256((const __m256i *)(w1 + k))), ones));
    a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_maddubs_epi16(xv, _mm256_loadu_si256((const __m256i *)(w2 + k))), ones));
    a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_maddubs_epi16(xv, _mm256_loadu_si256((const __m256i *)(w3 + k))), ones));
  }
  __m256i t = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
  _mm_storeu_si128((__m128i *)s, _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1)));
}
#endif

static void dot4_scalar(const uint8_t *x, const int8_t *w, long kp, int32_t *s) {
  for (int r = 0; r < 4; r++) {
    int32_t acc = 0;
    for (long k = 0; k < kp; k++) acc += x[k] * w[r * kp + k];
    s[r] = acc;
  }
}

void qp_linear_u8s8(const uint8_t *x, int xzp, int m, int k, const int8_t *w8, const int32_t *wsum, int n, const qat_requant *rq,
                    uint8_t *xpad, void *y) {
  long kp = (k + 31) / 32 * 32;
  void (*dot)(const uint8_t *, const int8_t *, long, int32_t *) = dot4_scalar;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) dot = dot4_avx2;
#endif
  for (int i = 0; i < m; i++) {
    memcpy(xpad, x + (long)i * k, (size_t)k); /* the row, zero-padded to kp bytes (the padding stays 0) */
    for (int o0 = 0; o0 < n; o0 += 4) {
      int32_t s[4];
      dot(xpad, w8 + (long)o0 * kp, kp, s);
      for (int r = 0; r < 4 && o0 + r < n; r++) {
        int o = o0 + r, ch = rq->per_channel ? o : 0;
        int32_t acc = (int32_t)((int64_t)s[r] - (int64_t)xzp * wsum[o]);
        int v = requant_one(acc, rq->bias ? rq->bias[o] : 0, rq->mult[ch], rq->shift[ch], rq->yzp, rq->lo, rq->hi);
        if (rq->y_signed) ((int8_t *)y)[(long)i * n + o] = (int8_t)v;
        else ((uint8_t *)y)[(long)i * n + o] = (uint8_t)v;
      }
    }
  }
}
