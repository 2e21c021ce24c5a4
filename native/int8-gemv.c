/*
 * The native int8 linear layer for a few rows (batch-1 inference): each row of x − xZp as
 * int16 pairs, multiplied against the packed weight panels (int8.c's layout: 4 output rows ×
 * k pairs) without the GEMM's 16-column activation tile, which at one row is 15/16 padding.
 * AVX2: one vpmaddwd covers two k pairs of four output rows (16 products); portable C: the
 * same exact int32 sums. Requantized per value with requant_one, so results equal int8.c's
 * and the TypeScript kernels' bit for bit. Called by qat_qlinear (int8.c) for m ≤ QGEMV_MAX_ROWS.
 */
#include "int8.h"

#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif

#if QAT_X86
/*
 * s[0..3] = Σ_p w-panel(p, r) · xw[p] for one 4-row panel. xv holds each pair word of x
 * broadcast to 4 lanes (xv[4p + r] = xw[p]), so 8 consecutive words of both line up.
 */
__attribute__((target("avx2"))) static void panel_dot_avx2(const int32_t *w, const int32_t *xv, int kp, int32_t *s) {
  __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
  int p = 0;
  for (; p + 4 <= kp; p += 4) {
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(w + 4 * p)), _mm256_loadu_si256((const __m256i *)(xv + 4 * p))));
    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(w + 4 * p + 8)), _mm256_loadu_si256((const __m256i *)(xv + 4 * p + 8))));
  }
  __m256i a = _mm256_add_epi32(a0, a1);
  __m128i t = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  for (; p < kp; p++) t = _mm_add_epi32(t, _mm_madd_epi16(_mm_loadu_si128((const __m128i *)(w + 4 * p)), _mm_loadu_si128((const __m128i *)(xv + 4 * p))));
  _mm_storeu_si128((__m128i *)s, t);
}
#endif

static void panel_dot_scalar(const int32_t *w, const int32_t *xv, int kp, int32_t *s) {
  int32_t acc[4] = {0, 0, 0, 0};
  for (int p = 0; p < kp; p++) {
    int32_t xw = xv[4 * p];
    int x0 = (int16_t)(xw & 0xffff), x1 = (int16_t)((uint32_t)xw >> 16);
    for (int r = 0; r < 4; r++) {
      int32_t ww = w[4 * p + r];
      acc[r] += (int16_t)(ww & 0xffff) * x0 + (int16_t)((uint32_t)ww >> 16) * x1;
    }
  }
  memcpy(s, acc, sizeof acc);
}

void qat_qlinear_gemv(const void *x, int x_unsigned, int xzp, int m, int k, const int32_t *wpacked, int n,
                      const qat_requant *rq, void *y) {
  int kp = kpairs(k);
  void (*dot)(const int32_t *, const int32_t *, int, int32_t *) = panel_dot_scalar;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) dot = panel_dot_avx2;
#endif
  int32_t *xv = qat_scratch(0, 2, (size_t)kp * 4 * sizeof(int32_t));
  for (int i = 0; i < m; i++) {
    long row = (long)i * k;
    for (int q = 0; q < kp; q++) {
      int a = xval(x, x_unsigned, row + 2 * q) - xzp;
      int b = 2 * q + 1 < k ? xval(x, x_unsigned, row + 2 * q + 1) - xzp : 0;
      int32_t wv = pair16(a, b);
      xv[4 * q] = xv[4 * q + 1] = xv[4 * q + 2] = xv[4 * q + 3] = wv;
    }
    for (int o0 = 0; o0 < n; o0 += QMR) {
      int32_t s[4];
      dot(wpacked + (long)o0 * kp, xv, kp, s);
      for (int r = 0; r < QMR && o0 + r < n; r++) {
        int o = o0 + r, ch = rq->per_channel ? o : 0;
        int v = requant_one(s[r], rq->bias ? rq->bias[o] : 0, rq->mult[ch], rq->shift[ch], rq->yzp, rq->lo, rq->hi);
        if (rq->y_signed) ((int8_t *)y)[(long)i * n + o] = (int8_t)v;
        else ((uint8_t *)y)[(long)i * n + o] = (uint8_t)v;
      }
    }
  }
}
