/*
 * The int8 engine's native max pool and residual add (src/int8/layer-cache.ts through
 * src/backend/native/int8.ts), bit-identical to src/int8/kernels/pool.ts and elementwise.ts:
 *   max pool (dilation 1, padding ≤ kernel/2): a vertical max of each output row's input
 *     rows into a row bordered with the dtype's minimum (which never wins: every window holds
 *     an input element), then the horizontal max over the row split into its stride phases, so
 *     every step is a contiguous byte max the compiler vectorizes. int8 is pooled as uint8 with
 *     the sign bit flipped (an order-preserving map).
 *   add (TFLite's quantized Add): â = MBQM((a − aZp)·2^ls, Ma) depends on the byte a alone, so
 *     it is a 256-entry table (likewise b̂); the sum is requantized once with int8.c's exact
 *     single rounding, and an optional following requantization (the ReLU or dtype change of
 *     the next node) is a 256-entry table of its bytes (lookups by AVX2 gathers). When every
 *     byte of a and b is below 128 (the x86 preset's 7-bit activations) and n ≥ 8192, the whole
 *     chain is one 16 KB table of y per byte pair, built per call from those tables.
 *     Called by binding-int8.c.
 */
#include "int8.h"

#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif

#define POOL_MAX_ROW 65536

typedef struct {
  const uint8_t *x;
  uint8_t *y;
  int flip, h, w, kh, kw, sh, sw, ph, pw, oh, ow;
} pool_ctx;

static void pool_plane(void *p, int plane, int thread) {
  const pool_ctx *cx = p;
  int h = cx->h, w = cx->w, sw = cx->sw, ow = cx->ow;
  /* the bordered row: index pw + ix holds input column ix; it reaches past the last window */
  int len = (ow - 1) * sw + cx->kw;
  if (len < cx->pw + w) len = cx->pw + w;
  int plen = (len + sw - 1) / sw; /* values per stride phase */
  uint8_t *row = qat_scratch(thread, 0, (size_t)len + (size_t)sw * plen + 64);
  uint8_t *phase = row + len;
  const uint8_t *x = cx->x + (long)plane * h * w;
  uint8_t *y = cx->y + (long)plane * cx->oh * ow;
  uint8_t flip = (uint8_t)cx->flip;
  for (int oy = 0; oy < cx->oh; oy++) {
    memset(row, 0, (size_t)len);
    uint8_t *mid = row + cx->pw;
    int y0 = oy * cx->sh - cx->ph;
    for (int ky = 0; ky < cx->kh; ky++) {
      int iy = y0 + ky;
      if (iy < 0 || iy >= h) continue;
      const uint8_t *src = x + (long)iy * w;
      for (int i = 0; i < w; i++) {
        uint8_t v = src[i] ^ flip;
        mid[i] = v > mid[i] ? v : mid[i];
      }
    }
    /* phase r holds row[r], row[r + sw], …: window tap kx of output ox is phase[kx % sw][ox + kx / sw] */
    for (int r = 0; r < sw; r++) {
      uint8_t *ph = phase + (long)r * plen;
      int i = 0;
      for (; r + (long)i * sw < len; i++) ph[i] = row[r + (long)i * sw];
      for (; i < plen; i++) ph[i] = 0;
    }
    uint8_t *out = y + (long)oy * ow;
    memcpy(out, phase, (size_t)ow);
    for (int kx = 1; kx < cx->kw; kx++) {
      const uint8_t *src = phase + (long)(kx % sw) * plen + kx / sw;
      for (int i = 0; i < ow; i++) out[i] = src[i] > out[i] ? src[i] : out[i];
    }
    if (flip)
      for (int i = 0; i < ow; i++) out[i] ^= flip;
  }
}

int qat_qmaxpool2d(const void *x, int x_unsigned, int planes, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw,
                   int oh, int ow, void *y) {
  if ((long)(ow - 1) * sw + kw + (long)pw + w + 64 > POOL_MAX_ROW) return 0;
  pool_ctx cx = {x, y, x_unsigned ? 0 : 0x80, h, w, kh, kw, sh, sw, ph, pw, oh, ow};
  double work = (double)planes * oh * ow * kh * kw;
  int threads = 2 * work >= QAT_PARALLEL_MIN_FLOPS ? qat_threads : 1;
  qat_parallel(planes, threads, pool_plane, &cx);
  return 1;
}

/* ---- add ---- */

/* gemmlowp SaturatingRoundingDoublingHighMul (src/int8/fixed-point.ts). */
static int32_t srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  int64_t ab = (int64_t)a * b;
  int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C division truncates, as `| 0` does */
}

/* gemmlowp RoundingDivideByPOT, exponent ∈ [0, 31]. */
static int32_t rdbpot(int32_t x, int e) {
  int32_t mask = e >= 31 ? INT32_MAX : (int32_t)(((int64_t)1 << e) - 1);
  int32_t rem = x & mask, threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (rem > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier (double rounding), x·2^shift saturated first. */
static int32_t mbqm(int32_t x, int32_t m0, int shift) {
  int32_t t = x;
  if (shift > 0) {
    int64_t v = (int64_t)x * ((int64_t)1 << shift);
    t = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
  }
  int32_t hm = srdhm(t, m0);
  return shift < 0 ? rdbpot(hm, -shift) : hm;
}

typedef struct {
  const uint8_t *a, *b;
  uint8_t *y;
  long n, chunk;
  int32_t ta[256], tb[256];
  uint8_t post[256];
  int32_t post32[256]; /* the same table as int32 (gathers) */
  const uint8_t *pairs; /* when every byte of a and b is < 128: y = pairs[a·128 + b] */
  int has_post;
  qat_requant rq;
} add_ctx;

#define ADD_RUN 1024
#define ADD_PAIRS_MIN 8192 /* elements from which building the 128×128 table pays */

#if QAT_X86
/* s[i] = ta[a[i]] + tb[b[i]] for i < n, 8 per step (table gathers); returns how many. */
__attribute__((target("avx2"))) static int add_sums_avx2(const add_ctx *cx, const uint8_t *a, const uint8_t *b, int n, int32_t *s) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i ia = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(a + i)));
    __m256i ib = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(b + i)));
    __m256i v = _mm256_add_epi32(_mm256_i32gather_epi32(cx->ta, ia, 4), _mm256_i32gather_epi32(cx->tb, ib, 4));
    _mm256_storeu_si256((__m256i *)(s + i), v);
  }
  return i;
}

/* y[i] = post[y[i]] for i < n, 16 per step (gathers from the int32 copy of the table); returns how many. */
__attribute__((target("avx2"))) static int add_post_avx2(const add_ctx *cx, uint8_t *y, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i bytes = _mm_loadu_si128((const __m128i *)(y + i));
    __m256i lo = _mm256_i32gather_epi32(cx->post32, _mm256_cvtepu8_epi32(bytes), 4);
    __m256i hi = _mm256_i32gather_epi32(cx->post32, _mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8)), 4);
    __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xd8); /* 16 words, in order */
    __m128i p = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128((__m128i *)(y + i), p);
  }
  return i;
}

/* y[i] = pairs[a[i]·128 + b[i]] for i in [i0, i1), 16 per step (4-byte gathers from the padded table); returns where it stopped. */
__attribute__((target("avx2"))) static long add_pairs_avx2(const add_ctx *cx, long i0, long i1) {
  const __m256i byte = _mm256_set1_epi32(0xff);
  long i = i0;
  for (; i + 16 <= i1; i += 16) {
    __m128i a = _mm_loadu_si128((const __m128i *)(cx->a + i)), b = _mm_loadu_si128((const __m128i *)(cx->b + i));
    __m256i lo = _mm256_or_si256(_mm256_slli_epi32(_mm256_cvtepu8_epi32(a), 7), _mm256_cvtepu8_epi32(b));
    __m256i hi = _mm256_or_si256(_mm256_slli_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(a, 8)), 7), _mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)));
    lo = _mm256_and_si256(_mm256_i32gather_epi32((const int *)cx->pairs, lo, 1), byte);
    hi = _mm256_and_si256(_mm256_i32gather_epi32((const int *)cx->pairs, hi, 1), byte);
    __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xd8);
    _mm_storeu_si128((__m128i *)(cx->y + i), _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
  }
  return i;
}
#endif

static void add_task(void *p, int task, int thread) {
  const add_ctx *cx = p;
  long i0 = (long)task * cx->chunk, i1 = i0 + cx->chunk < cx->n ? i0 + cx->chunk : cx->n;
  if (cx->pairs) {
    long i = i0;
#if QAT_X86
    if (qat_isa() >= QAT_ISA_AVX2) i = add_pairs_avx2(cx, i0, i1);
#endif
    for (; i < i1; i++) cx->y[i] = cx->pairs[(int)cx->a[i] << 7 | cx->b[i]];
    return;
  }
  int32_t s[ADD_RUN];
#if QAT_X86
  int avx2 = qat_isa() >= QAT_ISA_AVX2;
#endif
  for (long r = i0; r < i1; r += ADD_RUN) {
    int len = i1 - r < ADD_RUN ? (int)(i1 - r) : ADD_RUN, i = 0;
    const uint8_t *a = cx->a + r, *b = cx->b + r;
#if QAT_X86
    if (avx2) i = add_sums_avx2(cx, a, b, len, s);
#endif
    for (; i < len; i++) s[i] = cx->ta[a[i]] + cx->tb[b[i]];
    qat_requant_row(s, len, 0, &cx->rq, cx->y, r, 1);
    if (cx->has_post) {
      uint8_t *y = cx->y + r;
      i = 0;
#if QAT_X86
      if (avx2) i = add_post_avx2(cx, y, len);
#endif
      for (; i < len; i++) y[i] = cx->post[y[i]];
    }
  }
}

/* The largest of n bytes (16 lanes: the compiler vectorizes it). */
static int max_byte(const uint8_t *x, long n) {
  uint8_t m[16] = {0};
  long i = 0;
  for (; i + 16 <= n; i += 16)
    for (int t = 0; t < 16; t++) m[t] = x[i + t] > m[t] ? x[i + t] : m[t];
  int best = 0;
  for (int t = 0; t < 16; t++) best = m[t] > best ? m[t] : best;
  for (; i < n; i++) best = x[i] > best ? x[i] : best;
  return best;
}

/* The stored byte b of a tensor of that signedness as its integer value. */
static int byte_value(int b, int is_unsigned) { return is_unsigned ? b : (int)(int8_t)(uint8_t)b; }

/*
 * y[i] = clamp(yZp + SR(TA[a[i]] + TB[b[i]]), lo, hi) with `out` (mult[0], shift[0], yzp, lo, hi,
 * y_signed: the add's output dtype; bias and per_channel unused); then, when `post` is given, the
 * next node's requantization of that value (input zero point post_xzp; post->y_signed its output
 * dtype), applied as a 256-entry table. mults = [aM0, aShift, bM0, bShift].
 */
void qat_qadd(const void *a, int a_unsigned, int azp, const void *b, int b_unsigned, int bzp, const int32_t *mults,
              int left_shift, const qat_requant *out, const qat_requant *post, int post_xzp, void *y, long n) {
  static add_ctx cx; /* 2 KB of tables; calls are serialized by the binding's kernel lock */
  cx.a = a;
  cx.b = b;
  cx.y = y;
  cx.n = n;
  for (int v = 0; v < 256; v++) {
    cx.ta[v] = mbqm((byte_value(v, a_unsigned) - azp) * (1 << left_shift), mults[0], mults[1]);
    cx.tb[v] = mbqm((byte_value(v, b_unsigned) - bzp) * (1 << left_shift), mults[2], mults[3]);
  }
  cx.rq = *out;
  cx.rq.bias = NULL;
  cx.rq.per_channel = 0;
  cx.has_post = post != NULL;
  if (post)
    for (int v = 0; v < 256; v++) {
      cx.post[v] = (uint8_t)requant_one(byte_value(v, !out->y_signed) - post_xzp, 0, post->mult[0], post->shift[0], post->yzp,
                                        post->lo, post->hi);
      cx.post32[v] = cx.post[v];
    }
  cx.pairs = NULL;
  if (n >= ADD_PAIRS_MIN && max_byte(a, n) < 128 && max_byte(b, n) < 128) { /* 7-bit inputs (x86 preset): one 16 KB table */
    static uint8_t pairs[128 * 128 + 4]; /* + 4: the gathers read 4 bytes */
    int32_t s[128];
    for (int va = 0; va < 128; va++) {
      for (int vb = 0; vb < 128; vb++) s[vb] = cx.ta[va] + cx.tb[vb];
      qat_requant_row(s, 128, 0, &cx.rq, pairs, (long)va * 128, 1);
      if (post)
        for (int vb = 0; vb < 128; vb++) pairs[va * 128 + vb] = cx.post[pairs[va * 128 + vb]];
    }
    cx.pairs = pairs;
  }
  int threads = n >= (1L << 16) ? qat_threads : 1;
  long chunk = (n + threads - 1) / threads;
  chunk = (chunk + 63) / 64 * 64;
  if (chunk < 64) chunk = 64;
  cx.chunk = chunk;
  qat_parallel((int)((n + chunk - 1) / chunk), threads, add_task, &cx);
}
