/*
 * The int8 convolution's u8 × s8 path (AVX2), taken by int8-conv.c when it is exact: uint8
 * activations whose values all lie in [0, 127] (PyTorch's x86 preset quantizes activations to
 * 7 bits) and weights whose w − wZp fit int8. Then vpmaddubsw's 16-bit sums of two products,
 * at most 2·127·128 = 32512 in size, cannot saturate, and each 32-bit lane sums 4 products
 * (vpmaddwd with ones): 4 k per weight broadcast instead of the int16 path's 2. The activation
 * operand is x itself (padding holds xZp), so
 *   Σ_k (x − xZp)·w = Σ_k x·w − xZp·Σ_k w
 * and the caller folds −xZp·Σ_k w into the bias (exact in int32: the accumulator bound holds).
 * Pairs of quads: the 16-bit results of two quads q, q + 1 are added (vpaddw) before the one
 * vpmaddwd that widens them — 3 multiplies per 64 products instead of 4 (the multiplies are
 * what bounds this kernel: Zen 3 issues two per cycle) — where that sum of 4 products cannot
 * leave int16: a 16-bit lane then sums 4 products x·w with x ≤ 127, so it lies within
 * 127·max(Σ w⁺, Σ w⁻) of its 4 weights; the packer marks each pair of quads (per 4-row panel,
 * both lanes of every row) where that bound passes 32767, and the kernel runs those (≈ 1 % of
 * pairs with Gaussian weights, all of them with uniform ±128 ones) quad by quad instead:
 * bit-identical either way. Weights: 4-row panels of 4-byte k quads, packed once after the
 * int16 pairs (qat_qpack_weights), then Σ_k w per row, a flag saying whether every w − wZp
 * fits int8, and the marks (a 64-bit word per panel and k block of 128 quads). Called by
 * int8-conv.c.
 */
#include "int8.h"
#include "avx512.h"

#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif

#define QKC8 128 /* k quads per block */

size_t qat_quad_offset(int oc, int k) { return (size_t)((oc + QMR - 1) / QMR) * QMR * kpairs(k); }

static size_t quad_words(int oc, int k) { return (size_t)((oc + QM8 - 1) / QM8) * QM8 * kquads(k); }

static int quad_blocks(int k) { return (kquads(k) + QKC8 - 1) / QKC8; }

/* Two int32 words (one 64-bit mask: bit i for quads 2i, 2i + 1 of the block) per panel and block. */
static size_t mask_words(int oc, int k) { return (size_t)2 * ((oc + QM8 - 1) / QM8) * quad_blocks(k); }

size_t qat_qpack_words(int oc, int k) { return qat_quad_offset(oc, k) + quad_words(oc, k) + (size_t)oc + 1 + mask_words(oc, k); }

const int32_t *qat_quad_sums(const int32_t *wpacked, int oc, int k) { return wpacked + qat_quad_offset(oc, k) + quad_words(oc, k); }

/* The unsafe-pair marks of panel `panel`, block `blk` (after the sums and the flag). */
static uint64_t pair_mask(const int32_t *wpacked, int oc, int k, int panel, int blk) {
  const int32_t *m = qat_quad_sums(wpacked, oc, k) + oc + 1 + 2 * ((long)panel * quad_blocks(k) + blk);
  return (uint64_t)(uint32_t)m[0] | (uint64_t)(uint32_t)m[1] << 32;
}

/*
 * 1 when quads q, q + 1 of panel p must not be summed in 16 bits: for some row and lane h, the
 * lane's 4 weights (k = 4q + 2h, 4q + 2h + 1, 4q + 4 + 2h, 4q + 5 + 2h; the packed bytes are
 * w − wZp) have 127·max(Σ w⁺, Σ w⁻) > 32767.
 */
static int unsafe_pair(const int32_t *quads, int p, int kq, int q) {
  for (int r = 0; r < QM8; r++)
    for (int h = 0; h < 2; h++) {
      int pos = 0, neg = 0;
      for (int t = 0; t < 4; t++) {
        const int8_t *word = (const int8_t *)(quads + ((long)p * kq + q + (t >> 1)) * QM8 + r);
        int v = word[2 * h + (t & 1)];
        if (v > 0) pos += v; else neg -= v;
      }
      if (127 * (pos > neg ? pos : neg) > 32767) return 1;
    }
  return 0;
}

/* Quads, sums and the fits-int8 flag of w [oc, k] (after the int16 pairs in `packed`). */
void qat_qpack_quads(const int8_t *w, int oc, int k, const int32_t *wzp, int wzp_len, int32_t *packed) {
  int32_t *out = packed + qat_quad_offset(oc, k), *sums = out + quad_words(oc, k);
  int kq = kquads(k), fits = 1;
  for (int o0 = 0; o0 < oc; o0 += QM8)
    for (int q = 0; q < kq; q++)
      for (int r = 0; r < QM8; r++) {
        int o = o0 + r;
        uint32_t word = 0;
        for (int t = 0; t < 4 && o < oc; t++) {
          int kk = 4 * q + t, v = 0;
          if (kk < k) v = w[(long)o * k + kk] - (wzp ? wzp[wzp_len > 1 ? o : 0] : 0);
          if (v < -128 || v > 127) fits = 0;
          word |= (uint32_t)(uint8_t)(int8_t)v << (8 * t);
        }
        out[((long)o0 / QM8 * kq + q) * QM8 + r] = (int32_t)word;
      }
  for (int o = 0; o < oc; o++) {
    int64_t s = 0;
    for (int kk = 0; kk < k; kk++) s += w[(long)o * k + kk] - (wzp ? wzp[wzp_len > 1 ? o : 0] : 0);
    sums[o] = (int32_t)s; /* |s| ≤ 255·k */
  }
  sums[oc] = fits;
  int32_t *marks = sums + oc + 1;
  int nb = quad_blocks(k);
  for (int p = 0; p < (oc + QM8 - 1) / QM8; p++)
    for (int blk = 0; blk < nb; blk++) {
      uint64_t m = 0;
      for (int q = blk * QKC8; q + 1 < kq && q < (blk + 1) * QKC8; q += 2)
        if (unsafe_pair(out, p, kq, q)) m |= (uint64_t)1 << ((q - blk * QKC8) / 2);
      marks[2 * ((long)p * nb + blk)] = (int32_t)(uint32_t)m;
      marks[2 * ((long)p * nb + blk) + 1] = (int32_t)(uint32_t)(m >> 32);
    }
}

#if QAT_X86
/*
 * The same tile over pairs of quads: the two quads' 16-bit sums are added before widening,
 * except for the pairs marked in `unsafe` (bit i: quads 2i, 2i + 1), which run quad by quad;
 * an odd last quad runs alone. kc ≤ 128.
 */
__attribute__((target("avx2"))) static inline void uk8p(int kc, uint64_t unsafe, const int32_t *a, const int32_t *b, long ldb,
                                                         int32_t *c, long ldc, int load, int half) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i z = _mm256_setzero_si256();
  __m256i c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
#define U8PAIR(r, c0, c1)                                                                                    \
  do {                                                                                                       \
    __m256i a0 = _mm256_set1_epi32(a[r]), a1 = _mm256_set1_epi32(a[QM8 + r]);                                \
    __m256i s0 = _mm256_add_epi16(_mm256_maddubs_epi16(b0, a0), _mm256_maddubs_epi16(b2, a1));               \
    c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(s0, ones));                                                  \
    if (!half) {                                                                                             \
      __m256i s1 = _mm256_add_epi16(_mm256_maddubs_epi16(b1, a0), _mm256_maddubs_epi16(b3, a1));             \
      c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(s1, ones));                                                \
    }                                                                                                        \
  } while (0)
#define U8ONE(r, c0, c1, w, x0, x1)                                                                          \
  do {                                                                                                       \
    __m256i ar = _mm256_set1_epi32(w[r]);                                                                    \
    c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(_mm256_maddubs_epi16(x0, ar), ones));                        \
    if (!half) c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(_mm256_maddubs_epi16(x1, ar), ones));             \
  } while (0)
  int q = 0, even = kc & ~1;
  while (q < even) {
    /* a run of safe pairs up to the next marked one */
    int stop = unsafe ? q + 2 * __builtin_ctzll(unsafe) : even;
    if (stop > even) stop = even;
    unsafe = stop - q >= 128 ? 0 : unsafe >> ((stop - q) / 2);
    for (; q < stop; q += 2) {
      __m256i b0 = _mm256_loadu_si256((const __m256i *)b), b2 = _mm256_loadu_si256((const __m256i *)(b + ldb));
      __m256i b1 = half ? z : _mm256_loadu_si256((const __m256i *)(b + 8));
      __m256i b3 = half ? z : _mm256_loadu_si256((const __m256i *)(b + ldb + 8));
      U8PAIR(0, c00, c01);
      U8PAIR(1, c10, c11);
      U8PAIR(2, c20, c21);
      U8PAIR(3, c30, c31);
      a += 2 * QM8;
      b += 2 * ldb;
    }
    if (q == even) break;
    /* the marked pair, quad by quad */
    for (int t = 0; t < 2; t++) {
      __m256i b0 = _mm256_loadu_si256((const __m256i *)b), b1 = half ? z : _mm256_loadu_si256((const __m256i *)(b + 8));
      U8ONE(0, c00, c01, a, b0, b1);
      U8ONE(1, c10, c11, a, b0, b1);
      U8ONE(2, c20, c21, a, b0, b1);
      U8ONE(3, c30, c31, a, b0, b1);
      a += QM8;
      b += ldb;
    }
    q += 2;
    unsafe >>= 1;
  }
  if (q < kc) {
    __m256i b0 = _mm256_loadu_si256((const __m256i *)b), b1 = half ? z : _mm256_loadu_si256((const __m256i *)(b + 8));
    U8ONE(0, c00, c01, a, b0, b1);
    U8ONE(1, c10, c11, a, b0, b1);
    U8ONE(2, c20, c21, a, b0, b1);
    U8ONE(3, c30, c31, a, b0, b1);
  }
#undef U8PAIR
#undef U8ONE
  __m256i acc[2 * QM8] = {c00, c01, c10, c11, c20, c21, c30, c31};
  for (int r = 0; r < QM8; r++) {
    __m256i *cr = (__m256i *)(c + r * ldc);
    for (int h = 0; h < (half ? 1 : 2); h++) {
      __m256i v = acc[2 * r + h];
      if (load) v = _mm256_add_epi32(v, _mm256_loadu_si256(cr + h));
      _mm256_storeu_si256(cr + h, v);
    }
  }
}

__attribute__((target("avx2"))) static void uk8p_full(int kc, uint64_t unsafe, const int32_t *a, const int32_t *b, long ldb,
                                                       int32_t *c, long ldc, int load) {
  uk8p(kc, unsafe, a, b, ldb, c, ldc, load, 0);
}

__attribute__((target("avx2"))) static void uk8p_half(int kc, uint64_t unsafe, const int32_t *a, const int32_t *b, long ldb,
                                                       int32_t *c, long ldc, int load) {
  uk8p(kc, unsafe, a, b, ldb, c, ldc, load, 1);
}

/* acc [oc rounded up to 4 × ldc] = quads · B (np columns as 16-column panels of quad words; the first ncols wanted). */
static void igemm8(int oc, int np, int ncols, int k, const int32_t *wpacked, const int32_t *b, int32_t *acc, long ldc) {
  int kq = kquads(k), seen = 0; /* bit 0: some pair ran in 16 bits; bit 1: some pair was marked */
  const int32_t *wq = wpacked + qat_quad_offset(oc, k);
  for (int pc = 0; pc < kq; pc += QKC8) {
    int kc = kq - pc < QKC8 ? kq - pc : QKC8;
    for (int o0 = 0; o0 < oc; o0 += QMC) {
      int o1 = o0 + QMC < oc ? o0 + QMC : oc;
      for (int j = 0; j < np; j += QNR) {
        const int32_t *bp = b + (long)j * kq + (long)pc * QNR;
        int half = ncols - j <= QNR / 2;
        for (int o = o0; o < o1; o += QM8) {
          uint64_t unsafe = pair_mask(wpacked, oc, k, o / QM8, pc / QKC8);
          seen |= unsafe ? 2 : 0;
          seen |= unsafe != (kc >= 128 ? ~(uint64_t)0 : ((uint64_t)1 << kc / 2) - 1) ? 1 : 0;
          (half ? uk8p_half : uk8p_full)(kc, unsafe, wq + (long)o * kq + (long)pc * QM8, bp, QNR, acc + (long)o * ldc + j, ldc, pc > 0);
        }
      }
    }
  }
  if (seen & 1) qat_note_path(QAT_PATH_CONV8_PAIRS);
  if (seen & 2) qat_note_path(QAT_PATH_CONV8_MARKED);
}

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

/* dst[t] = src[2t] for t < n (32, then 16 per step); returns how many. Reads src[2n − 1]. */
__attribute__((target("avx2"))) static int even8(uint8_t *dst, const uint8_t *src, int n) {
  const __m256i lo = _mm256_set1_epi16(0xff);
  int t = 0;
  for (; t + 32 <= n; t += 32) {
    __m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + 2 * t)), lo);
    __m256i b = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + 2 * t + 32)), lo);
    _mm256_storeu_si256((__m256i *)(dst + t), _mm256_permute4x64_epi64(_mm256_packus_epi16(a, b), 0xd8));
  }
  for (; t + 16 <= n; t += 16) {
    __m128i a = _mm_and_si128(_mm_loadu_si128((const __m128i *)(src + 2 * t)), _mm256_castsi256_si128(lo));
    __m128i b = _mm_and_si128(_mm_loadu_si128((const __m128i *)(src + 2 * t + 16)), _mm256_castsi256_si128(lo));
    _mm_storeu_si128((__m128i *)(dst + t), _mm_packus_epi16(a, b));
  }
  if (t + 8 <= n) { /* 8 more (ResNet's 7- and 14-wide rows end here) */
    __m128i a = _mm_and_si128(_mm_loadu_si128((const __m128i *)(src + 2 * t)), _mm256_castsi256_si128(lo));
    _mm_storel_epi64((__m128i *)(dst + t), _mm_packus_epi16(a, a));
    t += 8;
  }
  return t;
}

/* dst[0, n) = src[0, n) for the short runs of an im2col row (16-byte moves, the last one overlapping). */
__attribute__((target("avx2"))) static void copy_run(uint8_t *dst, const uint8_t *src, int n) {
  if (n < 16) {
    if (n >= 8) { /* two 8-byte moves, the second overlapping */
      uint64_t a, b;
      memcpy(&a, src, 8);
      memcpy(&b, src + n - 8, 8);
      memcpy(dst, &a, 8);
      memcpy(dst + n - 8, &b, 8);
      return;
    }
    for (int t = 0; t < n; t++) dst[t] = src[t];
    return;
  }
  for (int t = 0; t + 16 <= n; t += 16) _mm_storeu_si128((__m128i *)(dst + t), _mm_loadu_si128((const __m128i *)(src + t)));
  _mm_storeu_si128((__m128i *)(dst + n - 16), _mm_loadu_si128((const __m128i *)(src + n - 16)));
}

/*
 * The task's accumulators acc [·, npad] for positions [p0, p0 + np) of image x (bytes of
 * uint8 values ≤ 127): padded byte planes (xZp in the padding) of input rows [r0, r0 + rows),
 * rows of the activation operand (wide: slices of the planes; otherwise an im2col), packed
 * into quads, times the weight quads.
 */
void qat_conv8_acc(const qat_conv_geom *g, const uint8_t *x, int xzp, int flip, int wide, int p0, int np, int npad,
                   int r0, int rows, const int32_t *wpacked, int thread, int32_t *acc) {
  int K = g->c * g->kh * g->kw, khw = g->kh * g->kw, wp = g->w + 2 * g->pw;
  size_t plane = (size_t)rows * wp, tail = (size_t)(g->kw - 1) * g->dw + 2 * QNR + 64;
  uint8_t *xp = qat_scratch(thread, 5, (size_t)g->c * plane + tail + (size_t)npad);
  uint8_t *zero = xp + (size_t)g->c * plane + tail;
  memset(zero, 0, (size_t)npad);
  memset(xp + (size_t)g->c * plane, xzp, tail);
  for (int ci = 0; ci < g->c; ci++)
    for (int r = 0; r < rows; r++) {
      uint8_t *row = xp + ci * plane + (size_t)r * wp;
      int iy = r0 + r - g->ph;
      if (iy < 0 || iy >= g->h) {
        memset(row, xzp, (size_t)wp);
        continue;
      }
      memset(row, xzp, (size_t)g->pw);
      const uint8_t *src = x + ((long)ci * g->h + iy) * g->w;
      if (flip) /* int8 x as the u8 bytes x + 128 */
        for (int t = 0; t < g->w; t++) row[g->pw + t] = (uint8_t)(src[t] ^ 0x80);
      else
        memcpy(row + g->pw, src, (size_t)g->w);
      memset(row + g->pw + g->w, xzp, (size_t)g->pw);
    }
  const uint8_t **rowp = qat_scratch(thread, 0, (size_t)K * sizeof(uint8_t *));
  if (wide) {
    for (int k = 0; k < K; k++) {
      int ci = k / khw, r = k % khw;
      rowp[k] = xp + ci * plane + (size_t)(r / g->kw) * g->dh * wp + (size_t)(r % g->kw) * g->dw;
    }
  } else {
    uint8_t *col = qat_scratch(thread, 1, (size_t)K * np);
    int oy_start = p0 / g->ow, ox_start = p0 % g->ow;
    for (int k = 0; k < K; k++) {
      int ci = k / khw, r = k % khw;
      const uint8_t *src0 = xp + ci * plane + (size_t)(r / g->kw) * g->dh * wp + (size_t)(r % g->kw) * g->dw;
      uint8_t *dst = col + (long)k * np;
      for (int j = 0, oy = oy_start, ox0 = ox_start; j < np; oy++, ox0 = 0) {
        int run = g->ow - ox0 < np - j ? g->ow - ox0 : np - j;
        const uint8_t *src = src0 + (long)(oy - oy_start) * g->sh * wp + (long)ox0 * g->sw;
        int t = 0;
        if (g->sw == 1) {
          copy_run(dst + j, src, run);
          t = run;
        } else if (g->sw == 2) {
          t = even8(dst + j, src, run);
        }
        for (; t < run; t++) dst[j + t] = src[(long)t * g->sw];
        j += run;
      }
      rowp[k] = dst;
    }
  }
  int32_t *cols = qat_scratch(thread, 2, (size_t)npad * kquads(K) * 4);
  quad_rows(rowp, K, np, npad, zero, cols);
  if (qat_isa() >= QAT_ISA_AVX512_VNNI) { /* vpdpbusd (int8-vnni.c) */
    qat_igemm8_vnni(g->oc, npad, kquads(K), wpacked + qat_quad_offset(g->oc, K), cols, acc, npad);
    return;
  }
  qat_note_path(QAT_PATH_CONV8_AVX2);
  igemm8(g->oc, npad, np, K, wpacked, cols, acc, npad);
}
#else
void qat_conv8_acc(const qat_conv_geom *g, const uint8_t *x, int xzp, int flip, int wide, int p0, int np, int npad,
                   int r0, int rows, const int32_t *wpacked, int thread, int32_t *acc) {}
#endif
