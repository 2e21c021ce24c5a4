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
 * fits int8, and the marks (a bitmap per 4-row panel, one bit per pair of quads, in 64-bit
 * words). Up to 1200 quads (K = 4800: all of ResNet-18) the whole k runs in one kernel call
 * per tile, so the accumulators never leave registers between k blocks (the activation panel,
 * ≤ 75 KB, is read from L2). A panel's last 1 or 2 columns run per column (uk8_col). Called
 * by int8-conv.c.
 */
#include "int8.h"
#include "avx512.h"

#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif

#define QKC8 128   /* k quads per block (and marks per bitmap word: 64 pairs) */
#define KLONG 1200 /* up to this many quads the GEMM runs the whole k in one block: the tile stays in registers */

size_t qat_quad_offset(int oc, int k) { return (size_t)((oc + QMR - 1) / QMR) * QMR * kpairs(k); }

static size_t quad_words(int oc, int k) { return (size_t)((oc + QM8 - 1) / QM8) * QM8 * kquads(k); }

static int quad_blocks(int k) { return (kquads(k) + QKC8 - 1) / QKC8; }

/* Per panel, a bitmap of its pairs of quads (bit i: quads 2i, 2i + 1), in 64-bit words as int32 pairs. */
static size_t mask_words(int oc, int k) { return (size_t)2 * ((oc + QM8 - 1) / QM8) * quad_blocks(k); }

size_t qat_qpack_words(int oc, int k) { return qat_quad_offset(oc, k) + quad_words(oc, k) + (size_t)oc + 1 + mask_words(oc, k); }

const int32_t *qat_quad_sums(const int32_t *wpacked, int oc, int k) { return wpacked + qat_quad_offset(oc, k) + quad_words(oc, k); }

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
  int32_t *marks = sums + oc + 1; /* word blk of panel p: pairs [64·blk, 64·blk + 64) */
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
 * The 4 × 16 tile over pairs of quads: the two quads' 16-bit sums are added before widening,
 * except for the pairs marked in the panel's bitmap `bits` (from the block's first quad, a
 * multiple of 128: bit i of word w is quads 128w + 2i, 128w + 2i + 1), which run quad by
 * quad; an odd last quad runs alone.
 */
__attribute__((target("avx2"))) static inline void uk8p(int kc, const uint32_t *bits, const int32_t *a, const int32_t *b, long ldb,
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
    /* a chunk of ≤ 128 quads: its 64 marks are one word of the panel's bitmap */
    int cend = q + 128 < even ? q + 128 : even, w = q / 128;
    uint64_t unsafe = bits[2 * w] | (uint64_t)bits[2 * w + 1] << 32;
    if (cend - q < 128) unsafe &= ((uint64_t)1 << (cend - q) / 2) - 1;
    while (q < cend) {
      /* a run of safe pairs up to the next marked one */
      int stop = unsafe ? q + 2 * __builtin_ctzll(unsafe) : cend;
      if (stop > cend) stop = cend;
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
      if (q == cend) break;
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

__attribute__((target("avx2"))) static void uk8p_full(int kc, const uint32_t *bits, const int32_t *a, const int32_t *b, long ldb,
                                                       int32_t *c, long ldc, int load) {
  uk8p(kc, bits, a, b, ldb, c, ldc, load, 0);
}

__attribute__((target("avx2"))) static void uk8p_half(int kc, const uint32_t *bits, const int32_t *a, const int32_t *b, long ldb,
                                                       int32_t *c, long ldc, int load) {
  uk8p(kc, bits, a, b, ldb, c, ldc, load, 1);
}

/*
 * One column x (kc activation words, contiguous) of a 4-row panel — a panel's last 1 or 2
 * columns (a tile of 16 would be mostly padding: ResNet's 7×7 planes are 3 panels + 1 column):
 * the panel's two quads q, q + 1 are one 32-byte load ([q: rows 0–3 | q + 1: rows 0–3]) times
 * x[q], x[q + 1] spread over the matching halves; the halves are added at the end.
 */
__attribute__((target("avx2"))) static void uk8_col(int kc, const int32_t *a, const int32_t *x, int32_t *c, long ldc, int load) {
  const __m256i ones = _mm256_set1_epi16(1), spread = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
  __m256i s = _mm256_setzero_si256();
  int q = 0;
  for (; q + 1 < kc; q += 2) {
    __m256i xq = _mm256_permutevar8x32_epi32(_mm256_castsi128_si256(_mm_loadl_epi64((const __m128i *)(x + q))), spread);
    s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(xq, _mm256_loadu_si256((const __m256i *)(a + q * QM8))), ones));
  }
  __m128i r = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  if (q < kc) {
    __m128i x1 = _mm_set1_epi32(x[q]);
    r = _mm_add_epi32(r, _mm_madd_epi16(_mm_maddubs_epi16(x1, _mm_loadu_si128((const __m128i *)(a + q * QM8))), _mm256_castsi256_si128(ones)));
  }
  int32_t v[QM8];
  _mm_storeu_si128((__m128i *)v, r);
  for (int i = 0; i < QM8; i++) c[i * ldc] = load ? c[i * ldc] + v[i] : v[i];
}

/* acc [oc rounded up to 4 × ldc] = quads · B (np columns as 16-column panels of quad words; the first ncols wanted). */
static void igemm8(int oc, int np, int ncols, int k, const int32_t *wpacked, const int32_t *b, int32_t *acc, long ldc) {
  int kq = kquads(k), nw = quad_blocks(k), seen = 0; /* bit 0: some pair ran in 16 bits; bit 1: some pair was marked */
  const int32_t *wq = wpacked + qat_quad_offset(oc, k);
  const uint32_t *marks = (const uint32_t *)(qat_quad_sums(wpacked, oc, k) + oc + 1);
  for (int p = 0; p < (oc + QM8 - 1) / QM8; p++)
    for (int w = 0; w < nw; w++) {
      int pairs = (kq - 128 * w) / 2 < 64 ? (kq - 128 * w) / 2 : 64;
      uint64_t valid = pairs >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << pairs) - 1;
      uint64_t m = (marks[2 * ((long)p * nw + w)] | (uint64_t)marks[2 * ((long)p * nw + w) + 1] << 32) & valid;
      seen |= (m ? 2 : 0) | (m != valid ? 1 : 0);
    }
  /* the whole k in one block up to KLONG quads (the tile stays in registers), else blocks of QKC8 */
  int kcb = kq <= KLONG ? kq : QKC8;
  int32_t col[KLONG + 1]; /* a last panel's column, contiguous */
  for (int pc = 0; pc < kq; pc += kcb) {
    int kc = kq - pc < kcb ? kq - pc : kcb;
    for (int o0 = 0; o0 < oc; o0 += QMC) {
      int o1 = o0 + QMC < oc ? o0 + QMC : oc;
      for (int j = 0; j < np; j += QNR) {
        const int32_t *bp = b + (long)j * kq + (long)pc * QNR;
        int half = ncols - j <= QNR / 2;
        if (ncols - j <= 2) { /* one or two columns: each copied out contiguous, then per column */
          for (int jj = 0; jj < ncols - j; jj++) {
            for (int q = 0; q < kc; q++) col[q] = bp[(long)q * QNR + jj];
            for (int o = o0; o < o1; o += QM8) uk8_col(kc, wq + (long)o * kq + (long)pc * QM8, col, acc + (long)o * ldc + j + jj, ldc, pc > 0);
          }
          continue;
        }
        for (int o = o0; o < o1; o += QM8)
          (half ? uk8p_half : uk8p_full)(kc, marks + 2 * ((long)(o / QM8) * nw + pc / 128), wq + (long)o * kq + (long)pc * QM8, bp, QNR,
                                         acc + (long)o * ldc + j, ldc, pc > 0);
      }
    }
  }
  if (seen & 1) qat_note_path(QAT_PATH_CONV8_PAIRS);
  if (seen & 2) qat_note_path(QAT_PATH_CONV8_MARKED);
}

/*
 * The task's accumulators acc [·, npad] for positions [p0, p0 + np) of image x (bytes of
 * uint8 values ≤ 127): padded byte planes (xZp in the padding) of input rows [r0, r0 + rows),
 * rows of the activation operand (wide: slices of the planes; otherwise an im2col), packed
 * into quads (int8-pack8.c), times the weight quads.
 */
void qat_conv8_acc(const qat_conv_geom *g, const uint8_t *x, int xzp, int flip, int wide, int p0, int np, int npad,
                   int r0, int rows, const int32_t *wpacked, int thread, int32_t *acc) {
  int K = g->c * g->kh * g->kw;
  const int32_t *cols = qat_conv8_cols(g, x, xzp, flip, wide, p0, np, npad, r0, rows, thread);
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
