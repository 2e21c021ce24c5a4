/*
 * The native int8 linear layer for a few rows (batch-1 inference): each row of x − xZp as
 * int16 pairs, multiplied against the packed weight panels (int8.c's layout: QMR = 6 output rows
 * × k pairs) without the GEMM's 16-column activation tile, which at one row is 15/16 padding.
 * AVX2: three vpmaddwd cover four k pairs of the six output rows (48 products); portable C: the
 * same exact int32 sums. Requantized per value with requant_one, so results equal int8.c's
 * and the TypeScript kernels' bit for bit. Called by qat_qlinear (int8.c) for m ≤ QGEMV_MAX_ROWS.
 */
#include "int8.h"

#include <string.h>

_Static_assert(QMR == 6, "panel_dot_avx2 sums 24-word groups of 6-row panels");
#if QAT_X86
#include <immintrin.h>
#endif

#if QAT_X86
/*
 * s[0..QMR) = Σ_p w-panel(p, r) · xw[p] for one QMR-row panel. xv holds each pair word of x
 * repeated QMR times (xv[QMR·p + r] = xw[p]), so consecutive words of both line up; 4 k pairs
 * (24 words, 3 vectors) per step, then word j of the sums belongs to row j mod 6.
 */
__attribute__((target("avx2"))) static void panel_dot_avx2(const int32_t *w, const int32_t *xv, int kp, int32_t *s) {
  __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256(), a2 = _mm256_setzero_si256();
  int p = 0;
  for (; p + 4 <= kp; p += 4) {
    const int32_t *wp = w + QMR * p, *xp = xv + QMR * p;
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)wp), _mm256_loadu_si256((const __m256i *)xp)));
    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(wp + 8)), _mm256_loadu_si256((const __m256i *)(xp + 8))));
    a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(wp + 16)), _mm256_loadu_si256((const __m256i *)(xp + 16))));
  }
  int32_t t[24];
  _mm256_storeu_si256((__m256i *)t, a0);
  _mm256_storeu_si256((__m256i *)(t + 8), a1);
  _mm256_storeu_si256((__m256i *)(t + 16), a2);
  for (int r = 0; r < QMR; r++) s[r] = t[r] + t[r + 6] + t[r + 12] + t[r + 18];
  for (; p < kp; p++) {
    int32_t xw = xv[QMR * p];
    int x0 = (int16_t)(xw & 0xffff), x1 = (int16_t)((uint32_t)xw >> 16);
    for (int r = 0; r < QMR; r++) {
      int32_t ww = w[QMR * p + r];
      s[r] += (int16_t)(ww & 0xffff) * x0 + (int16_t)((uint32_t)ww >> 16) * x1;
    }
  }
}
#endif

static void panel_dot_scalar(const int32_t *w, const int32_t *xv, int kp, int32_t *s) {
  int32_t acc[QMR] = {0};
  for (int p = 0; p < kp; p++) {
    int32_t xw = xv[QMR * p];
    int x0 = (int16_t)(xw & 0xffff), x1 = (int16_t)((uint32_t)xw >> 16);
    for (int r = 0; r < QMR; r++) {
      int32_t ww = w[QMR * p + r];
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
  int32_t *xv = qat_scratch(0, 2, (size_t)kp * QMR * sizeof(int32_t));
  for (int i = 0; i < m; i++) {
    long row = (long)i * k;
    for (int q = 0; q < kp; q++) {
      int a = xval(x, x_unsigned, row + 2 * q) - xzp;
      int b = 2 * q + 1 < k ? xval(x, x_unsigned, row + 2 * q + 1) - xzp : 0;
      int32_t wv = pair16(a, b);
      for (int r = 0; r < QMR; r++) xv[QMR * q + r] = wv;
    }
    for (int o0 = 0; o0 < n; o0 += QMR) {
      int32_t s[QMR];
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
