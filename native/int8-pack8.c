/*
 * The activation operand of the int8 convolution's u8 × s8 path (int8-u8s8.c, int8-vnni.c):
 * per task, the uint8 input rows it reads as byte planes padded with xZp, the rows of the
 * im2col matrix — "wide" (stride 1): slices of those planes; otherwise copied out — and those
 * rows interleaved 4 by 4 into 16-column panels of k-quad words. Short rows (ResNet's 7-, 14-
 * and 28-wide planes) are copied in whole 8-byte steps (16 bytes read at stride 2) that may
 * write up to 7 bytes past a run: runs and rows are written in increasing order, so those bytes
 * are rewritten by the next run or row, and the buffers keep slack at their ends; reads past
 * the caller's image fall back to exact copies. Without padding (1×1 downsampling convs) the
 * im2col reads the input itself. Called by int8-u8s8.c's qat_conv8_acc.
 */
#include "int8.h"

#include <string.h>
#if QAT_X86
#include <immintrin.h>

#define SLACK 64 /* bytes past each buffer's end that whole steps may write or read */

/* Rows 4q..4q+3 (row k at rowp[k], np bytes; missing rows read `zero`) as 16-column panels of quad words. */
__attribute__((target("avx2"))) static void quad_rows(const uint8_t *const *rowp, int K, int np, int npad, const uint8_t *zero,
                                                       int32_t *b) {
  int kq = kquads(K), full = np / QNR * QNR;
  for (int q = 0; q < kq; q++) {
    const uint8_t *r[4];
    for (int t = 0; t < 4; t++) r[t] = 4 * q + t < K ? rowp[4 * q + t] : zero;
    int j0 = 0;
    for (; j0 + 2 * QNR <= full; j0 += 2 * QNR) { /* two panels per step: lane h of each unpack holds columns 16h + … */
      __m256i a = _mm256_loadu_si256((const __m256i *)(r[0] + j0)), bb = _mm256_loadu_si256((const __m256i *)(r[1] + j0));
      __m256i c = _mm256_loadu_si256((const __m256i *)(r[2] + j0)), d = _mm256_loadu_si256((const __m256i *)(r[3] + j0));
      __m256i ab0 = _mm256_unpacklo_epi8(a, bb), ab1 = _mm256_unpackhi_epi8(a, bb);
      __m256i cd0 = _mm256_unpacklo_epi8(c, d), cd1 = _mm256_unpackhi_epi8(c, d);
      __m256i w0 = _mm256_unpacklo_epi16(ab0, cd0), w1 = _mm256_unpackhi_epi16(ab0, cd0); /* columns 0–3 | 16–19, 4–7 | 20–23 */
      __m256i w2 = _mm256_unpacklo_epi16(ab1, cd1), w3 = _mm256_unpackhi_epi16(ab1, cd1); /* 8–11 | 24–27, 12–15 | 28–31 */
      __m256i *p0 = (__m256i *)(b + (long)j0 * kq + (long)q * QNR), *p1 = (__m256i *)(b + (long)(j0 + QNR) * kq + (long)q * QNR);
      _mm256_storeu_si256(p0, _mm256_permute2x128_si256(w0, w1, 0x20));
      _mm256_storeu_si256(p0 + 1, _mm256_permute2x128_si256(w2, w3, 0x20));
      _mm256_storeu_si256(p1, _mm256_permute2x128_si256(w0, w1, 0x31));
      _mm256_storeu_si256(p1 + 1, _mm256_permute2x128_si256(w2, w3, 0x31));
    }
    for (; j0 < full; j0 += QNR) {
      __m128i a = _mm_loadu_si128((const __m128i *)(r[0] + j0)), bb = _mm_loadu_si128((const __m128i *)(r[1] + j0));
      __m128i c = _mm_loadu_si128((const __m128i *)(r[2] + j0)), d = _mm_loadu_si128((const __m128i *)(r[3] + j0));
      __m128i ab0 = _mm_unpacklo_epi8(a, bb), ab1 = _mm_unpackhi_epi8(a, bb);
      __m128i cd0 = _mm_unpacklo_epi8(c, d), cd1 = _mm_unpackhi_epi8(c, d);
      __m128i *dst = (__m128i *)(b + (long)j0 * kq + (long)q * QNR);
      _mm_storeu_si128(dst, _mm_unpacklo_epi16(ab0, cd0));
      _mm_storeu_si128(dst + 1, _mm_unpackhi_epi16(ab0, cd0));
      _mm_storeu_si128(dst + 2, _mm_unpacklo_epi16(ab1, cd1));
      _mm_storeu_si128(dst + 3, _mm_unpackhi_epi16(ab1, cd1));
    }
    for (int j0 = full; j0 < npad; j0 += QNR) {
      int32_t *dst = b + (long)j0 * kq + (long)q * QNR;
      for (int jj = 0; jj < QNR; jj++) {
        int j = j0 + jj;
        dst[jj] = j < np ? (int32_t)((uint32_t)r[0][j] | (uint32_t)r[1][j] << 8 | (uint32_t)r[2][j] << 16 | (uint32_t)r[3][j] << 24) : 0;
      }
    }
  }
}


/*
 * dst[t] = src[t·sw] (t < n, sw 1 or 2; with flip, each byte ^ 0x80) in whole steps: writes up
 * to 7 bytes past dst[n − 1] and reads up to 16 past src[(n − 1)·sw].
 */
__attribute__((target("avx2"))) static inline void run_copy(uint8_t *dst, const uint8_t *src, int n, int sw, int flip) {
  const __m256i lo = _mm256_set1_epi16(0xff), f = _mm256_set1_epi8(flip ? (char)0x80 : 0);
  int t = 0;
  if (sw == 1) {
    for (; t + 32 <= n; t += 32)
      _mm256_storeu_si256((__m256i *)(dst + t), _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(src + t)), f));
    for (; t < n; t += 8)
      _mm_storel_epi64((__m128i *)(dst + t), _mm_xor_si128(_mm_loadl_epi64((const __m128i *)(src + t)), _mm256_castsi256_si128(f)));
    return;
  }
  for (; t + 32 <= n; t += 32) {
    __m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + 2 * t)), lo);
    __m256i b = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + 2 * t + 32)), lo);
    _mm256_storeu_si256((__m256i *)(dst + t), _mm256_xor_si256(_mm256_permute4x64_epi64(_mm256_packus_epi16(a, b), 0xd8), f));
  }
  for (; t < n; t += 8) {
    __m128i a = _mm_and_si128(_mm_loadu_si128((const __m128i *)(src + 2 * t)), _mm256_castsi256_si128(lo));
    _mm_storel_epi64((__m128i *)(dst + t), _mm_xor_si128(_mm_packus_epi16(a, a), _mm256_castsi256_si128(f)));
  }
}

/* run_copy where src's steps stay before `end`, else exactly (writes past dst[n − 1] either way are allowed). */
__attribute__((target("avx2"))) static inline void run_copy_within(uint8_t *dst, const uint8_t *src, int n, int sw, int flip,
                                                                   const uint8_t *end) {
  if (!end || src + (long)n * sw + 32 <= end) {
    run_copy(dst, src, n, sw, flip);
    return;
  }
  for (int t = 0; t < n; t++) dst[t] = (uint8_t)(src[(long)t * sw] ^ (flip ? 0x80 : 0));
}

/* Input rows [r0, r0 + rows) of every channel as planes [C, rows, W + 2·PW] padded with xZp (then `tail` bytes of xZp). */
__attribute__((target("avx2"))) static void pad_planes(const qat_conv_geom *g, const uint8_t *x, int xzp, int flip, int r0, int rows,
                                                        size_t tail, uint8_t *xp) {
  int wp = g->w + 2 * g->pw;
  size_t plane = (size_t)rows * wp;
  const uint8_t *end = x + (size_t)g->c * g->h * g->w;
  for (int ci = 0; ci < g->c; ci++)
    for (int r = 0; r < rows; r++) {
      uint8_t *row = xp + ci * plane + (size_t)r * wp;
      int iy = r0 + r - g->ph;
      if (iy < 0 || iy >= g->h) {
        memset(row, xzp, (size_t)wp);
        continue;
      }
      for (int t = 0; t < g->pw; t++) row[t] = (uint8_t)xzp;
      run_copy_within(row + g->pw, x + ((long)ci * g->h + iy) * g->w, g->w, 1, flip, end);
      for (int t = 0; t < g->pw; t++) row[g->pw + g->w + t] = (uint8_t)xzp; /* after the copy's overrun */
    }
  memset(xp + (size_t)g->c * plane, xzp, tail);
}

/*
 * n whole output rows of ow bytes (dst row stride ow) from src (row stride ss, column stride
 * sw ≤ 2): one vector step per row for ow ≤ 32 (ResNet's 7-, 14- and 28-wide planes), with the
 * overrun of run_copy; reads up to 64 bytes from each row's start.
 */
__attribute__((target("avx2"))) static void rows_copy(uint8_t *dst, const uint8_t *src, long ss, int n, int ow, int sw, int flip) {
  const __m256i lo = _mm256_set1_epi16(0xff), f = _mm256_set1_epi8(flip ? (char)0x80 : 0);
  const __m128i lo1 = _mm256_castsi256_si128(lo), f1 = _mm256_castsi256_si128(f);
  if (ow > 32) {
    for (int i = 0; i < n; i++) run_copy(dst + (long)i * ow, src + i * ss, ow, sw, flip);
  } else if (sw == 1 && ow <= 8) {
    for (int i = 0; i < n; i++) _mm_storel_epi64((__m128i *)(dst + (long)i * ow), _mm_xor_si128(_mm_loadl_epi64((const __m128i *)(src + i * ss)), f1));
  } else if (sw == 1 && ow <= 16) {
    for (int i = 0; i < n; i++) _mm_storeu_si128((__m128i *)(dst + (long)i * ow), _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + i * ss)), f1));
  } else if (sw == 1) {
    for (int i = 0; i < n; i++)
      _mm256_storeu_si256((__m256i *)(dst + (long)i * ow), _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(src + i * ss)), f));
  } else if (ow <= 8) {
    for (int i = 0; i < n; i++) {
      __m128i a = _mm_and_si128(_mm_loadu_si128((const __m128i *)(src + i * ss)), lo1);
      _mm_storel_epi64((__m128i *)(dst + (long)i * ow), _mm_xor_si128(_mm_packus_epi16(a, a), f1));
    }
  } else if (ow <= 16) {
    for (int i = 0; i < n; i++) {
      __m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + i * ss)), lo);
      __m128i p = _mm_packus_epi16(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
      _mm_storeu_si128((__m128i *)(dst + (long)i * ow), _mm_xor_si128(p, f1));
    }
  } else {
    for (int i = 0; i < n; i++) {
      __m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + i * ss)), lo);
      __m256i b = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + i * ss + 32)), lo);
      _mm256_storeu_si256((__m256i *)(dst + (long)i * ow), _mm256_xor_si256(_mm256_permute4x64_epi64(_mm256_packus_epi16(a, b), 0xd8), f));
    }
  }
}

/*
 * im2col rows [0, K) for positions [p0, p0 + np) into col[k·np + j], from planes (plane, row
 * stride rs) starting at src; `end`: where reading must stop (0 when the source has slack).
 */
__attribute__((target("avx2"))) static void im2col8(const qat_conv_geom *g, const uint8_t *src, size_t plane, long rs, int p0, int np,
                                                     int flip, const uint8_t *end, uint8_t *col) {
  int khw = g->kh * g->kw, K = g->c * khw, oy_start = p0 / g->ow, ox_start = p0 % g->ow;
  int first = ox_start ? g->ow - ox_start : 0; /* a first partial output row */
  if (first > np) first = np;
  int whole = (np - first) / g->ow, last = np - first - whole * g->ow;
  long ss = (long)g->sh * rs;
  for (int k = 0; k < K; k++) {
    int ci = k / khw, r = k % khw;
    const uint8_t *src0 = src + ci * plane + (size_t)(r / g->kw) * g->dh * rs + (size_t)(r % g->kw) * g->dw;
    uint8_t *dst = col + (long)k * np;
    if (g->sw > 2) {
      for (int j = 0, oy = oy_start, ox0 = ox_start; j < np; oy++, ox0 = 0) {
        int run = g->ow - ox0 < np - j ? g->ow - ox0 : np - j;
        const uint8_t *s = src0 + (long)(oy - oy_start) * ss + (long)ox0 * g->sw;
        for (int t = 0; t < run; t++) dst[j + t] = (uint8_t)(s[(long)t * g->sw] ^ (flip ? 0x80 : 0));
        j += run;
      }
      continue;
    }
    const uint8_t *s = src0 + (long)ox_start * g->sw;
    if (first) run_copy_within(dst, s, first, g->sw, flip, end);
    if (first) s = src0 + ss;
    if (end && whole && s + (whole - 1) * ss + 64 > end) {
      for (int i = 0; i < whole; i++) run_copy_within(dst + first + (long)i * g->ow, s + i * ss, g->ow, g->sw, flip, end);
    } else if (whole) {
      rows_copy(dst + first, s, ss, whole, g->ow, g->sw, flip);
    }
    if (last) run_copy_within(dst + first + (long)whole * g->ow, s + whole * ss, last, g->sw, flip, end);
  }
}

/*
 * The packed activation operand (16-column panels of quad words, npad columns, thread's
 * scratch slot 2) for positions [p0, p0 + np) of image x, whose input rows are [r0, r0 + rows).
 */
const int32_t *qat_conv8_cols(const qat_conv_geom *g, const uint8_t *x, int xzp, int flip, int wide, int p0, int np, int npad,
                              int r0, int rows, int thread) {
  int K = g->c * g->kh * g->kw, khw = g->kh * g->kw, wp = g->w + 2 * g->pw;
  const uint8_t **rowp = qat_scratch(thread, 0, (size_t)K * sizeof(uint8_t *));
  uint8_t *zero = qat_scratch(thread, 4, (size_t)npad + SLACK);
  memset(zero, 0, (size_t)npad);
  if (!wide && !flip && g->ph == 0 && g->pw == 0) { /* the input itself: rows of W, planes of H·W */
    uint8_t *col = qat_scratch(thread, 1, (size_t)K * np + SLACK);
    im2col8(g, x + (size_t)r0 * g->w, (size_t)g->h * g->w, g->w, p0, np, 0, x + (size_t)g->c * g->h * g->w, col);
    for (int k = 0; k < K; k++) rowp[k] = col + (long)k * np;
  } else {
    size_t plane = (size_t)rows * wp, tail = (size_t)(g->kw - 1) * g->dw + 2 * QNR + SLACK;
    uint8_t *xp = qat_scratch(thread, 5, (size_t)g->c * plane + tail);
    pad_planes(g, x, xzp, flip, r0, rows, tail, xp);
    if (wide) {
      for (int k = 0; k < K; k++) {
        int ci = k / khw, r = k % khw;
        rowp[k] = xp + ci * plane + (size_t)(r / g->kw) * g->dh * wp + (size_t)(r % g->kw) * g->dw;
      }
    } else {
      uint8_t *col = qat_scratch(thread, 1, (size_t)K * np + SLACK);
      im2col8(g, xp, plane, wp, p0, np, 0, NULL, col);
      for (int k = 0; k < K; k++) rowp[k] = col + (long)k * np;
    }
  }
  int32_t *cols = qat_scratch(thread, 2, (size_t)npad * kquads(K) * 4);
  quad_rows(rowp, K, np, npad, zero, cols);
  return cols;
}
#endif
