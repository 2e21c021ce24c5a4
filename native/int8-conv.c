/*
 * Integer convolution (groups = 1) of the native backend, for the int8 engine
 * (src/int8/kernels/gemm-path.ts through src/backend/native/int8.ts): per task (an image, or
 * a run of its output rows), x − xZp becomes zero-padded int16 planes (a padded position is
 * x = xZp, so 0), the activation operand is packed as 16-column panels of int16 pairs, the
 * GEMM of int8.c multiplies, and each output row is requantized (int8.c's exact single
 * rounding), so results equal src/int8/kernels/qconv2d.ts bit for bit.
 *   stride 1, wide rows (W + 2·PW ≤ 1.05·OW, e.g. ResNet's 56×56): "wide" pixels — the GEMM
 *             runs over oh × (W + 2·PW) positions, so that row k of the activation operand is
 *             one contiguous slice of the padded planes (no im2col at all); the 2·PW + …
 *             positions past each output row are computed and dropped.
 *   otherwise: an int16 im2col of the task's pixels from the padded planes (stride-2 rows
 *             copied 16 at a time with AVX2).
 * A following 2×2 stride-2 max pool is fused: the max of each window's accumulators is
 * requantized (requantization is non-decreasing, so this equals pooling the outputs). Called
 * by binding-int8.c.
 */
#include "int8.h"

#include <stdlib.h>
#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif

typedef struct {
  const void *x;
  int xu, xzp;
  const int32_t *w;
  const qat_conv_geom *g;
  const qat_requant *rq;
  void *y;
  int chunks, chunk; /* chunks per image; positions per chunk (whole QNR tiles, or whole output rows / row pairs) */
  int pool;          /* a 2×2 stride-2 max pool follows (fused) */
  int wide;          /* stride 1: positions are oy·(W + 2·PW) + ox */
  int u8;            /* the u8 × s8 path (int8-u8s8.c) */
} qconv_ctx;

/* Padded rows [r0, r0 + rows) of x − xZp as int16 planes [C, rows, W + 2·PW] (0 in the padding). */
static void pad16(const qconv_ctx *cx, const void *x, int r0, int rows, int16_t *xp) {
  const qat_conv_geom *g = cx->g;
  int wp = g->w + 2 * g->pw, zp = cx->xzp;
  for (int ci = 0; ci < g->c; ci++) {
    int16_t *plane = xp + (long)ci * rows * wp;
    for (int r = 0; r < rows; r++) {
      int16_t *row = plane + (long)r * wp;
      int iy = r0 + r - g->ph;
      if (iy < 0 || iy >= g->h) {
        memset(row, 0, (size_t)wp * sizeof(int16_t));
        continue;
      }
      for (int t = 0; t < g->pw; t++) row[t] = row[wp - 1 - t] = 0;
      long src = ((long)ci * g->h + iy) * g->w;
      int16_t *o = row + g->pw;
      if (cx->xu) {
        const uint8_t *s = (const uint8_t *)x + src;
        for (int t = 0; t < g->w; t++) o[t] = (int16_t)(s[t] - zp);
      } else {
        const int8_t *s = (const int8_t *)x + src;
        for (int t = 0; t < g->w; t++) o[t] = (int16_t)(s[t] - zp);
      }
    }
  }
}

#if QAT_X86
/* dst[t] = src[2t] for t < n with AVX2 (16 per step: the low halves of 16 int32 words, packed); returns how many. */
__attribute__((target("avx2"))) static int even16_avx2(int16_t *dst, const int16_t *src, int n) {
  const __m256i lo = _mm256_set1_epi32(0xffff);
  int t = 0;
  for (; t + 16 <= n; t += 16) {
    __m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + 2 * t)), lo);
    __m256i b = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + 2 * t + 16)), lo);
    _mm256_storeu_si256((__m256i *)(dst + t), _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8));
  }
  return t;
}
#endif

/* Rows [0, K) of im2col(x − xZp) for pixels [p0, p0 + np) into col[k·np + j], from the padded planes (rows from oy0·SH on). */
static void im2col16(const qat_conv_geom *g, const int16_t *xp, int rows, int p0, int np, int16_t *col) {
#if QAT_X86
  int avx2 = qat_isa() >= QAT_ISA_AVX2;
#endif
  int khw = g->kh * g->kw, K = g->c * khw, wp = g->w + 2 * g->pw;
  int oy_start = p0 / g->ow, ox_start = p0 % g->ow;
  for (int k = 0; k < K; k++) {
    int ci = k / khw, r = k % khw, ky = (r / g->kw) * g->dh, kx = (r % g->kw) * g->dw;
    const int16_t *plane = xp + (long)ci * rows * wp + (long)ky * wp + kx;
    int16_t *dst = col + (long)k * np;
    for (int j = 0, oy = oy_start, ox0 = ox_start; j < np; oy++, ox0 = 0) {
      int run = g->ow - ox0 < np - j ? g->ow - ox0 : np - j; /* pixels left on this output row */
      const int16_t *src = plane + (long)(oy - oy_start) * g->sh * wp + (long)ox0 * g->sw;
      if (g->sw == 1) {
        memcpy(dst + j, src, (size_t)run * sizeof(int16_t));
      } else {
        int t = 0;
#if QAT_X86
        if (avx2 && g->sw == 2) t = even16_avx2(dst + j, src, run);
#endif
        for (; t < run; t++) dst[j + t] = src[(long)t * g->sw];
      }
      j += run;
    }
  }
}

/*
 * Interleaves int16 rows 2p and 2p + 1 (row k at rowp[k], np values) into QNR-column panels of
 * words: word (p, j) at b[(j / QNR)·kp·QNR + p·QNR + j % QNR] (zero beyond K and np; npad columns).
 */
#if QAT_X86
/* The full 16-column panels with AVX2 (interleave two rows of 16 int16 per store). */
__attribute__((target("avx2"))) static int pair_rows_avx2(const int16_t *const *rowp, int K, int np, int32_t *b) {
  int kp = kpairs(K), full = np / QNR * QNR;
  const __m256i zero = _mm256_setzero_si256();
  for (int p = 0; p < kp; p++) {
    const int16_t *r0 = rowp[2 * p], *r1 = 2 * p + 1 < K ? rowp[2 * p + 1] : NULL;
    for (int j0 = 0; j0 < full; j0 += QNR) {
      __m256i a = _mm256_loadu_si256((const __m256i *)(r0 + j0));
      __m256i c = r1 ? _mm256_loadu_si256((const __m256i *)(r1 + j0)) : zero;
      __m256i lo = _mm256_unpacklo_epi16(a, c), hi = _mm256_unpackhi_epi16(a, c);
      int32_t *d = b + (long)j0 * kp + (long)p * QNR;
      _mm256_storeu_si256((__m256i *)d, _mm256_permute2x128_si256(lo, hi, 0x20));
      _mm256_storeu_si256((__m256i *)(d + 8), _mm256_permute2x128_si256(lo, hi, 0x31));
    }
  }
  return full;
}
#endif

static void pair_rows(const int16_t *const *rowp, int K, int np, int npad, int32_t *b) {
  int kp = kpairs(K), start = 0;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) start = pair_rows_avx2(rowp, K, np, b);
#endif
  for (int p = 0; p < kp; p++) {
    const int16_t *r0 = rowp[2 * p], *r1 = 2 * p + 1 < K ? rowp[2 * p + 1] : NULL;
    for (int j0 = start; j0 < npad; j0 += QNR) {
      int32_t *d = b + (long)j0 * kp + (long)p * QNR;
      int nj = np - j0 < QNR ? np - j0 : QNR;
      if (nj < 0) nj = 0;
      int jj = 0;
      if (r1)
        for (; jj < nj; jj++) d[jj] = pair16(r0[j0 + jj], r1[j0 + jj]);
      else
        for (; jj < nj; jj++) d[jj] = pair16(r0[j0 + jj], 0);
      for (; jj < QNR; jj++) d[jj] = 0;
    }
  }
}

/* Max of the 2×2 windows of `pairs` row pairs of acc (rows `stride` apart, ow valid values) → pooled rows of ow/2. */
static void pool_rows(const int32_t *acc, int ow, int stride, int pairs, int32_t *out) {
  int pw = ow / 2;
  for (int r = 0; r < pairs; r++) {
    const int32_t *a = acc + (long)2 * r * stride, *b = a + stride;
    int32_t *o = out + (long)r * pw;
    for (int j = 0; j < pw; j++) {
      int32_t m = a[2 * j] > a[2 * j + 1] ? a[2 * j] : a[2 * j + 1];
      int32_t n = b[2 * j] > b[2 * j + 1] ? b[2 * j] : b[2 * j + 1];
      o[j] = m > n ? m : n;
    }
  }
}

/* The int16 path's accumulators acc [·, npad] for positions [p0, p0 + np) of image img (input rows from oy0·SH, `rows` of them). */
static void int16_gemm(const qconv_ctx *cx, int img, int p0, int np, int npad, int oy0, int rows, int thread, int32_t *acc) {
  const qat_conv_geom *g = cx->g;
  int K = g->c * g->kh * g->kw, kp = kpairs(K), wp = g->w + 2 * g->pw;
  int32_t *cols = qat_scratch(thread, 2, (size_t)npad * kp * 4);
  const int16_t **rowp = qat_scratch(thread, 0, (size_t)K * sizeof(int16_t *));
  /* wide positions past the last valid one read up to (KW − 1)·DW values beyond the last plane */
  size_t plane_words = (size_t)g->c * rows * wp, tail = (size_t)(g->kw - 1) * g->dw + QNR;
  int16_t *xp = qat_scratch(thread, 5, (plane_words + tail) * 2);
  memset(xp + plane_words, 0, tail * 2);
  pad16(cx, (const char *)cx->x + (long)img * g->c * g->h * g->w, oy0 * g->sh, rows, xp);
  int khw = g->kh * g->kw;
  if (cx->wide) {
    for (int k = 0; k < K; k++) {
      int ci = k / khw, r = k % khw;
      rowp[k] = xp + (long)ci * rows * wp + (long)(r / g->kw) * g->dh * wp + (long)(r % g->kw) * g->dw;
    }
  } else {
    int16_t *col16 = qat_scratch(thread, 1, (size_t)K * np * 2);
    im2col16(g, xp, rows, p0, np, col16);
    for (int k = 0; k < K; k++) rowp[k] = col16 + (long)k * np;
  }
  pair_rows(rowp, K, np, npad, cols);
  qat_igemm(g->oc, npad, np, kp, cx->w, cols, acc, npad);
}

static void qconv_task(void *p, int task, int thread) {
  const qconv_ctx *cx = p;
  const qat_conv_geom *g = cx->g;
  int img = task / cx->chunks, wp = g->w + 2 * g->pw;
  int pitch = cx->wide ? wp : g->ow;          /* positions per output row */
  int used = cx->pool ? g->oh / 2 * 2 : g->oh; /* output rows computed (an odd last one is dropped under the pool) */
  int span = used * (cx->wide ? wp : g->ow);
  int p0 = (task % cx->chunks) * cx->chunk, np = span - p0 < cx->chunk ? span - p0 : cx->chunk;
  if (np <= 0) return;
  int npad = (np + QNR - 1) / QNR * QNR, ocp = (g->oc + QMR - 1) / QMR * QMR + QM8;
  int32_t *acc = qat_scratch(thread, 3, (size_t)ocp * npad * 4);
  /* the padded input rows this task's output rows read */
  int oy0 = p0 / pitch, oy1 = (p0 + np - 1) / pitch, rows = (oy1 - oy0) * g->sh + (g->kh - 1) * g->dh + 1;
  if (cx->u8) {
    /* int8 x (VNNI only): the bytes x + 128, zero point xZp + 128 */
    qat_conv8_acc(g, (const uint8_t *)cx->x + (long)img * g->c * g->h * g->w, cx->xu ? cx->xzp : cx->xzp + 128, !cx->xu, cx->wide,
                  p0, np, npad, oy0 * g->sh, rows, cx->w, thread, acc);
  } else {
    int16_gemm(cx, img, p0, np, npad, oy0, rows, thread, acc);
  }
  int nrows = np / pitch; /* whole output rows (wide and pooled chunks are whole rows) */
  if (!cx->pool) {
    char *wide8 = cx->wide ? qat_scratch(thread, 1, (size_t)npad) : NULL;
    for (int o = 0; o < g->oc; o++) {
      long out = ((long)img * g->oc + o) * g->oh * g->ow;
      if (!cx->wide) {
        qat_requant_row(acc + (long)o * npad, np, o, cx->rq, cx->y, out + p0, 1);
        continue;
      }
      /* requantize the whole wide row set (vector lanes), then keep ow of every wp values */
      qat_requant_row(acc + (long)o * npad, np, o, cx->rq, wide8, 0, 1);
      char *dst = (char *)cx->y + out + (long)oy0 * g->ow;
      for (int r = 0; r < nrows; r++) memcpy(dst + (long)r * g->ow, wide8 + (long)r * wp, (size_t)g->ow);
    }
    return;
  }
  int pairs = nrows / 2, pw = g->ow / 2, ph = g->oh / 2, pr0 = oy0 / 2;
  int32_t *pooled = qat_scratch(thread, 4, (size_t)pairs * pw * 4);
  for (int o = 0; o < g->oc; o++) {
    pool_rows(acc + (long)o * npad, g->ow, pitch, pairs, pooled);
    qat_requant_row(pooled, pairs * pw, o, cx->rq, cx->y, ((long)img * g->oc + o) * ph * pw + (long)pr0 * pw, 1);
  }
}

/*
 * The bias of the u8 × s8 path, bias[o] − xZp·Σ_k w[o, k] (malloc'd), when that path is exact
 * for this call: AVX2, uint8 input whose bytes (and xZp, the padding) are all ≤ 127, weights
 * that fit int8, K < 2^16 (so Σ x·w fits int32) and every such bias fitting int32; else NULL.
 * With AVX-512 VNNI (vpdpbusd: no 16-bit pair sums) any uint8 input, and int8 input as the
 * bytes x + 128 with the zero point xZp + 128 (Σ (x − xZp)·w is unchanged).
 */
static int32_t *u8s8_bias(const void *x, int x_unsigned, int xzp, const int32_t *wpacked, const qat_conv_geom *g,
                          const qat_requant *rq) {
  int K = g->c * g->kh * g->kw, vnni = qat_isa() >= QAT_ISA_AVX512_VNNI;
  int zp = x_unsigned ? xzp : xzp + 128; /* the zero point of the bytes the GEMM reads */
  if (qat_isa() < QAT_ISA_AVX2 || (!vnni && (!x_unsigned || xzp > 127)) || zp < 0 || zp > 255 || K >= 65536) return NULL;
  const int32_t *sums = qat_quad_sums(wpacked, g->oc, K);
  if (!sums[g->oc]) return NULL;
  long n = vnni ? 0 : (long)g->n * g->c * g->h * g->w, i = 0; /* VNNI: every byte is exact, no 7-bit check */
  const uint8_t *b = x;
  uint64_t any = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, b + i, 8);
    any |= v;
  }
  for (; i < n; i++) any |= b[i];
  if (any & 0x8080808080808080ULL) return NULL;
  int32_t *bias = malloc((size_t)g->oc * sizeof(int32_t));
  if (!bias) return NULL;
  for (int o = 0; o < g->oc; o++) {
    int64_t v = (int64_t)(rq->bias ? rq->bias[o] : 0) - (int64_t)zp * sums[o];
    if (v < INT32_MIN || v > INT32_MAX) {
      free(bias);
      return NULL;
    }
    bias[o] = (int32_t)v;
  }
  return bias;
}

void qat_qconv2d(const void *x, int x_unsigned, int xzp, const int32_t *wpacked, const qat_conv_geom *g,
                 const qat_requant *rq, void *y, int pool2) {
  /* stride 1 runs "wide" unless the extra columns per row would cost more than a 5 % im2col copy */
  int wp = g->w + 2 * g->pw, wide = g->sh == 1 && g->sw == 1 && (long)wp * 100 <= (long)g->ow * 105;
  int pitch = wide ? wp : g->ow, used = pool2 ? g->oh / 2 * 2 : g->oh, span = used * pitch;
  double macs = (double)g->n * g->oc * g->oh * g->ow * g->c * g->kh * g->kw;
  int threads = 2 * macs >= QAT_PARALLEL_MIN_FLOPS ? qat_threads : 1;
  int chunks = g->n >= threads ? 1 : (threads + g->n - 1) / g->n;
  /* a chunk is whole QNR tiles of pixels, or whole output rows (wide), or whole pairs of them (pool) */
  int unit = pool2 ? 2 * pitch : wide ? pitch : QNR;
  int chunk = (span + chunks - 1) / chunks;
  chunk = (chunk + unit - 1) / unit * unit;
  /* bound the per-task column panel (kp·chunk words) to keep it cache-sized */
  int kp = kpairs(g->c * g->kh * g->kw);
  while (chunk > unit && (long)chunk * kp > (1L << 18)) chunk = (chunk / 2 + unit - 1) / unit * unit;
  chunks = (span + chunk - 1) / chunk;
  qconv_ctx cx = {x, x_unsigned, xzp, wpacked, g, rq, y, chunks, chunk, pool2, wide, 0};
  qat_requant rq8;
  int32_t *bias8 = u8s8_bias(x, x_unsigned, xzp, wpacked, g, rq);
  if (bias8) {
    rq8 = *rq;
    rq8.bias = bias8;
    cx.rq = &rq8;
    cx.u8 = 1;
  }
  if (span > 0) qat_parallel(g->n * chunks, threads, qconv_task, &cx);
  free(bias8);
}
