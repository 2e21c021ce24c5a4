/*
 * Integer GEMM and linear layers of the native backend (and the convolution's GEMM), for the int8
 * engine (src/int8/kernels/gemm-path.ts through src/backend/native/int8.ts):
 *   acc[o, p] = Σ_k (w[o, k] − wZp[o]) · (x[k, p] − xZp)       exact in int32
 *   y[o, p]   = clamp(yZp + sat32(⌊(acc + bias[o])·M0[o] / 2^t + ½⌋), lo, hi), t = 31 − shift[o]
 * — the single-rounding requantization of src/int8/fixed-point.ts, computed in int64, so
 * results equal the TypeScript kernels bit for bit. Both operands are widened to int16 (x − xZp
 * and w − wZp lie in [−255, 255]) and multiplied in pairs along k: with AVX2, vpmaddwd
 * (16-bit × 16-bit → 32-bit, two products summed: at most 2·255² — it cannot saturate, unlike
 * vpmaddubsw's 16-bit sums of u8×s8, which can); in portable C, the same sums. Weights are
 * packed once per layer as 6-row panels of int16 pairs; activations are packed per call as
 * 16-column panels of pairs (the conv: an int16 im2col, then rows 2p and 2p + 1 interleaved).
 * The convolution is in int8-conv.c, linear layers of at most 4 rows in int8-gemv.c. The
 * caller checks the accumulator bound.
 */
#include "int8.h"
#include "avx512.h"

#include <stdlib.h>
#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif


/* w [oc, k] int8 → panels of QMR rows; word (panel, kp, r) = (w[o, 2kp] − zp, w[o, 2kp+1] − zp) as int16 pair. */
void qat_qpack_weights(const int8_t *w, int oc, int k, const int32_t *wzp, int wzp_len, int32_t *out) {
  int kp = kpairs(k);
  for (int o0 = 0; o0 < oc; o0 += QMR) {
    for (int p = 0; p < kp; p++) {
      for (int r = 0; r < QMR; r++) {
        int o = o0 + r;
        int16_t lo = 0, hi = 0;
        if (o < oc) {
          int zp = wzp ? wzp[wzp_len > 1 ? o : 0] : 0;
          lo = (int16_t)(w[(long)o * k + 2 * p] - zp);
          if (2 * p + 1 < k) hi = (int16_t)(w[(long)o * k + 2 * p + 1] - zp);
        }
        uint32_t word = (uint16_t)lo | ((uint32_t)(uint16_t)hi << 16);
        out[((long)o0 / QMR * kp + p) * QMR + r] = (int32_t)word;
      }
    }
  }
  qat_qpack_quads(w, oc, k, wzp, wzp_len, out); /* the u8 × s8 layout after the pairs (int8-u8s8.c) */
}

/* ---- micro-kernels: acc (QMR × QNR int32, row stride ldc) (+)= Σ_kp a[kp, r] · b[kp, j] ---- */
/* The first nc (QNR or QNR / 2) columns of the tile. */
static void qukr_scalar_n(int nc, int kc, const int32_t *a, const int32_t *b, long ldb, int32_t *c, long ldc, int load) {
  int32_t t[QMR * QNR];
  for (int i = 0; i < QMR * QNR; i++) t[i] = 0;
  for (int p = 0; p < kc; p++) {
    for (int r = 0; r < QMR; r++) {
      int32_t aw = a[p * QMR + r];
      int a0 = (int16_t)(aw & 0xffff), a1 = (int16_t)((uint32_t)aw >> 16);
      for (int j = 0; j < nc; j++) {
        int32_t bw = b[p * ldb + j];
        t[r * QNR + j] += a0 * (int16_t)(bw & 0xffff) + a1 * (int16_t)((uint32_t)bw >> 16);
      }
    }
  }
  for (int r = 0; r < QMR; r++)
    for (int j = 0; j < nc; j++) c[r * ldc + j] = load ? c[r * ldc + j] + t[r * QNR + j] : t[r * QNR + j];
}

static void qukr_scalar(int kc, const int32_t *a, const int32_t *b, long ldb, int32_t *c, long ldc, int load) {
  qukr_scalar_n(QNR, kc, a, b, ldb, c, ldc, load);
}

static void qukr_scalar8(int kc, const int32_t *a, const int32_t *b, long ldb, int32_t *c, long ldc, int load) {
  qukr_scalar_n(QNR / 2, kc, a, b, ldb, c, ldc, load);
}

#if QAT_X86
/* Row r of the 6 × 16 tile: two vpmaddwd of the broadcast weight pair word with the 16 columns. */
#define QROW(r, c0, c1)                                                         \
  do {                                                                           \
    __m256i ar = _mm256_set1_epi32(a[r]);                                        \
    c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(ar, b0));                        \
    c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(ar, b1));                        \
  } while (0)

/* 12 accumulators, 2 column loads and 6 broadcasts per k pair (192 MACs). */
__attribute__((target("avx2"))) static void qukr_avx2(int kc, const int32_t *a, const int32_t *b, long ldb, int32_t *c,
                                                       long ldc, int load) {
  __m256i z = _mm256_setzero_si256();
  __m256i c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
  for (int p = 0; p < kc; p++) {
    __m256i b0 = _mm256_loadu_si256((const __m256i *)b), b1 = _mm256_loadu_si256((const __m256i *)(b + 8));
    QROW(0, c00, c01);
    QROW(1, c10, c11);
    QROW(2, c20, c21);
    QROW(3, c30, c31);
    QROW(4, c40, c41);
    QROW(5, c50, c51);
    a += QMR;
    b += ldb;
  }
  __m256i acc[2 * QMR] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
  for (int r = 0; r < QMR; r++) {
    __m256i *cr = (__m256i *)(c + r * ldc);
    __m256i lo = acc[2 * r], hi = acc[2 * r + 1];
    if (load) {
      lo = _mm256_add_epi32(lo, _mm256_loadu_si256(cr));
      hi = _mm256_add_epi32(hi, _mm256_loadu_si256(cr + 1));
    }
    _mm256_storeu_si256(cr, lo);
    _mm256_storeu_si256(cr + 1, hi);
  }
}

/* The tile's first 8 columns only (a last panel with at most 8 valid columns): 6 accumulators. */
__attribute__((target("avx2"))) static void qukr8_avx2(int kc, const int32_t *a, const int32_t *b, long ldb, int32_t *c,
                                                        long ldc, int load) {
  __m256i acc[QMR];
  for (int r = 0; r < QMR; r++) acc[r] = _mm256_setzero_si256();
  for (int p = 0; p < kc; p++) {
    __m256i b0 = _mm256_loadu_si256((const __m256i *)b);
    for (int r = 0; r < QMR; r++) acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(_mm256_set1_epi32(a[r]), b0));
    a += QMR;
    b += ldb;
  }
  for (int r = 0; r < QMR; r++) {
    __m256i *cr = (__m256i *)(c + r * ldc);
    _mm256_storeu_si256(cr, load ? _mm256_add_epi32(acc[r], _mm256_loadu_si256(cr)) : acc[r]);
  }
}
#undef QROW
#endif

typedef void (*qukr_fn)(int, const int32_t *, const int32_t *, long, int32_t *, long, int);

static qukr_fn pick_qukr(int half) {
  int isa = qat_isa();
  if (!half)
    qat_note_path(isa >= QAT_ISA_AVX512_VNNI ? QAT_PATH_IGEMM_VNNI : isa >= QAT_ISA_AVX512 ? QAT_PATH_IGEMM_AVX512BW
                  : isa >= QAT_ISA_AVX2 ? QAT_PATH_IGEMM_AVX2 : QAT_PATH_IGEMM_SCALAR);
#if QAT_X86
  /* AVX-512 (int8-vnni.c): 16-lane rows for the full tiles; a half tile stays on AVX2's 8 lanes */
  if (!half && isa >= QAT_ISA_AVX512_VNNI) return qat_qukr_vnni;
  if (!half && isa >= QAT_ISA_AVX512) return qat_qukr_avx512bw;
  if (isa >= QAT_ISA_AVX2) return half ? qukr8_avx2 : qukr_avx2;
#endif
  return half ? qukr_scalar8 : qukr_scalar;
}

/*
 * acc [ocp × ldc] (ocp = oc rounded up to QMR) = packed weights · B for np columns (a multiple
 * of QNR), B as QNR-column panels of int16-pair words: (p, j) at b[(j / QNR)·kp·QNR + p·QNR + j % QNR].
 * Only the first ncols columns are wanted: a last panel with at most QNR / 2 of them is computed half.
 */
void qat_igemm(int oc, int np, int ncols, int kp, const int32_t *wpacked, const int32_t *b, int32_t *acc, long ldc) {
  qukr_fn full = pick_qukr(0), half = pick_qukr(1);
  /* per k block, QMC weight rows (in L2) against every 16-column panel (in L1 per micro-kernel call) */
  for (int pc = 0; pc < kp; pc += QKC) {
    int kc = kp - pc < QKC ? kp - pc : QKC;
    for (int o0 = 0; o0 < oc; o0 += QMC) {
      int o1 = o0 + QMC < oc ? o0 + QMC : oc;
      for (int j = 0; j < np; j += QNR) {
        const int32_t *bp = b + (long)j * kp + (long)pc * QNR;
        qukr_fn ukr = ncols - j <= QNR / 2 ? half : full; /* a last panel of ≤ 8 valid columns: half the work */
        for (int o = o0; o < o1; o += QMR)
          ukr(kc, wpacked + (long)o * kp + (long)pc * QMR, bp, QNR, acc + (long)o * ldc + j, ldc, pc > 0);
      }
    }
  }
}

#if QAT_X86
/*
 * With t ≥ 33 (M < 1/4, every conv and add of the ResNets), 32 outputs per step in 32-bit
 * lanes: floor((v·M0 + 2^(t−1)) / 2^t) = (hi + 2^(t−33)) >> (t − 32), hi = floor(v·M0 / 2^32)
 * (floors of floors: 2^(t−1) is a multiple of 2^32), an arithmetic shift; |result| < 2^30, so
 * adding yZp cannot wrap, and the saturating packs to 16 then 8 bits followed by the byte
 * clamp to [lo, hi] give requant_one's integers. Returns how many outputs it wrote.
 */
__attribute__((target("avx2"))) static int requant_run32_avx2(const int32_t *acc, int n, int32_t bias, int32_t m0, int t,
                                                               const qat_requant *rq, void *dst) {
  const __m256i vb = _mm256_set1_epi32(bias), vm = _mm256_set1_epi64x(m0), vz = _mm256_set1_epi32(rq->yzp);
  const __m256i rnd = _mm256_set1_epi32(1 << (t - 33));
  const __m128i sh = _mm_cvtsi32_si128(t - 32);
  const __m256i lo = _mm256_set1_epi8((char)rq->lo), hi = _mm256_set1_epi8((char)rq->hi);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  int j = 0;
#define HI32(v)                                                                                                     \
  _mm256_add_epi32(_mm256_sra_epi32(_mm256_add_epi32(_mm256_blend_epi32(_mm256_srli_epi64(_mm256_mul_epi32(v, vm), 32), \
                                                                         _mm256_mul_epi32(_mm256_srli_epi64(v, 32), vm), 0xAA), rnd), sh), vz)
  for (; j + 32 <= n; j += 32) {
    __m256i v0 = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + j)), vb);
    __m256i v1 = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + j + 8)), vb);
    __m256i v2 = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + j + 16)), vb);
    __m256i v3 = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + j + 24)), vb);
    __m256i w01 = _mm256_packs_epi32(HI32(v0), HI32(v1)), w23 = _mm256_packs_epi32(HI32(v2), HI32(v3));
    __m256i b;
    if (rq->y_signed) {
      b = _mm256_packs_epi16(w01, w23);
      b = _mm256_min_epi8(_mm256_max_epi8(b, lo), hi);
    } else {
      b = _mm256_packus_epi16(w01, w23);
      b = _mm256_min_epu8(_mm256_max_epu8(b, lo), hi);
    }
    /* the packs interleave 128-bit lanes: dword k of b holds outputs 4·order[k] … */
    _mm256_storeu_si256((__m256i *)((char *)dst + j), _mm256_permutevar8x32_epi32(b, order));
  }
#undef HI32
  return j;
}

/*
 * n contiguous outputs of one channel, 8 per step: (acc + bias)·M0 in 64-bit lanes, the
 * floor shift as a logical shift of the value offset by 2^63 (AVX2 has no 64-bit arithmetic
 * shift), then the clamp to [lo − yZp, hi − yZp] in 64 bits — the same integers as
 * requant_one, since clamping after int32 saturation or before it gives the same output.
 * Returns how many outputs it wrote (a multiple of 8).
 */
__attribute__((target("avx2"))) static int requant_run_avx2(const int32_t *acc, int n, int32_t bias, int32_t m0, int shift,
                                                             const qat_requant *rq, void *dst) {
  int t = 31 - shift;
  const __m256i vb = _mm256_set1_epi32(bias), vm = _mm256_set1_epi64x(m0);
  const __m256i rnd = _mm256_set1_epi64x((long long)(0x8000000000000000ULL + (1ULL << (t - 1))));
  const __m256i off = _mm256_set1_epi64x((long long)(1ULL << (63 - t)));
  const __m128i sh = _mm_cvtsi32_si128(t);
  const __m256i vlo = _mm256_set1_epi64x((long long)rq->lo - rq->yzp), vhi = _mm256_set1_epi64x((long long)rq->hi - rq->yzp);
  const __m256i vz = _mm256_set1_epi32(rq->yzp);
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256i v = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + j)), vb);
    __m256i e = _mm256_mul_epi32(v, vm), o = _mm256_mul_epi32(_mm256_srli_epi64(v, 32), vm);
    e = _mm256_sub_epi64(_mm256_srl_epi64(_mm256_add_epi64(e, rnd), sh), off);
    o = _mm256_sub_epi64(_mm256_srl_epi64(_mm256_add_epi64(o, rnd), sh), off);
    e = _mm256_blendv_epi8(e, vlo, _mm256_cmpgt_epi64(vlo, e));
    e = _mm256_blendv_epi8(e, vhi, _mm256_cmpgt_epi64(e, vhi));
    o = _mm256_blendv_epi8(o, vlo, _mm256_cmpgt_epi64(vlo, o));
    o = _mm256_blendv_epi8(o, vhi, _mm256_cmpgt_epi64(o, vhi));
    __m256i r = _mm256_add_epi32(_mm256_blend_epi32(e, _mm256_slli_epi64(o, 32), 0xAA), vz);
    __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(r, r), 0x08); /* 8 int16 in the low half */
    __m128i h = _mm256_castsi256_si128(w);
    __m128i b8 = rq->y_signed ? _mm_packs_epi16(h, h) : _mm_packus_epi16(h, h);
    _mm_storel_epi64((__m128i *)((char *)dst + j), b8);
  }
  return j;
}
#endif

/* Row o of acc (n values) → y[off + j·ycol] requantized. */
void qat_requant_row(const int32_t *acc, int n, int o, const qat_requant *rq, void *y, long off, long ycol) {
  int ch = rq->per_channel ? o : 0;
  int32_t bias = rq->bias ? rq->bias[o] : 0, m0 = rq->mult[ch], sh = rq->shift[ch];
  int j = 0;
#if QAT_X86
  if (ycol == 1 && qat_isa() >= QAT_ISA_AVX2) {
    if (31 - sh >= 33) j = requant_run32_avx2(acc, n, bias, m0, 31 - sh, rq, (char *)y + off);
    j += requant_run_avx2(acc + j, n - j, bias, m0, sh, rq, (char *)y + off + j);
  }
#endif
  if (rq->y_signed) {
    int8_t *d = (int8_t *)y + off;
    for (; j < n; j++) d[j * ycol] = (int8_t)requant_one(acc[j], bias, m0, sh, rq->yzp, rq->lo, rq->hi);
  } else {
    uint8_t *d = (uint8_t *)y + off;
    for (; j < n; j++) d[j * ycol] = (uint8_t)requant_one(acc[j], bias, m0, sh, rq->yzp, rq->lo, rq->hi);
  }
}

/* ---- linear: y[m, n] = requant((x[m, k] − xZp) · w[n, k]ᵀ + bias), computed transposed ---- */
typedef struct {
  const void *x;
  int xu, xzp, m, k, n;
  const int32_t *w;
  const qat_requant *rq;
  void *y;
  int chunk;
} qlin_ctx;

static void qlinear_task(void *p, int task, int thread) {
  const qlin_ctx *cx = p;
  int r0 = task * cx->chunk, rows = cx->m - r0 < cx->chunk ? cx->m - r0 : cx->chunk;
  int kp = kpairs(cx->k), npad = (rows + QNR - 1) / QNR * QNR, ocp = (cx->n + QMR - 1) / QMR * QMR;
  int32_t *cols = qat_scratch(thread, 2, (size_t)npad * kp * 4);
  int32_t *acc = qat_scratch(thread, 3, (size_t)ocp * npad * 4);
  for (int j = 0; j < npad; j++) {
    int32_t *d = cols + (long)(j / QNR) * kp * QNR + j % QNR;
    if (j >= rows) {
      for (int q = 0; q < kp; q++) d[q * QNR] = 0;
      continue;
    }
    long row = (long)(r0 + j) * cx->k;
    for (int q = 0; q < kp; q++) {
      int a = xval(cx->x, cx->xu, row + 2 * q) - cx->xzp;
      int b = 2 * q + 1 < cx->k ? xval(cx->x, cx->xu, row + 2 * q + 1) - cx->xzp : 0;
      d[q * QNR] = pair16(a, b);
    }
  }
  qat_igemm(cx->n, npad, rows, kp, cx->w, cols, acc, npad);
  for (int o = 0; o < cx->n; o++) qat_requant_row(acc + (long)o * npad, rows, o, cx->rq, cx->y, (long)r0 * cx->n + o, cx->n);
}

void qat_qlinear(const void *x, int x_unsigned, int xzp, int m, int k, const int32_t *wpacked, int n,
                 const qat_requant *rq, void *y) {
  if (m <= QGEMV_MAX_ROWS) { /* a 16-column tile would be mostly padding */
    qat_qlinear_gemv(x, x_unsigned, xzp, m, k, wpacked, n, rq, y);
    return;
  }
  double macs = (double)m * n * k;
  int threads = 2 * macs >= QAT_PARALLEL_MIN_FLOPS ? qat_threads : 1;
  int chunk = (m + threads - 1) / threads;
  chunk = (chunk + QNR - 1) / QNR * QNR;
  if (chunk < QNR) chunk = QNR;
  qlin_ctx cx = {x, x_unsigned, xzp, m, k, n, wpacked, rq, y, chunk};
  qat_parallel((m + chunk - 1) / chunk, threads, qlinear_task, &cx);
}

/*
 * ---- raw int GEMM for the benchmark: C[m, n] = packed A · B (B in QNR-column panels, n % 16 = 0) ----
 * qat_igemm writes whole QMR-row tiles, so when m is not a multiple of QMR it computes into a
 * buffer of the rounded-up rows and copies the m wanted ones (c holds exactly m × n). −1 when
 * that buffer cannot be allocated.
 */
int qat_igemm_bench(int m, int n, int k, const int32_t *wpacked, const int32_t *b, int32_t *c) {
  int ocp = (m + QMR - 1) / QMR * QMR;
  int32_t *acc = c;
  if (ocp != m && !(acc = malloc((size_t)ocp * n * sizeof(int32_t)))) return -1;
  qat_igemm(m, n, n, kpairs(k), wpacked, b, acc, n);
  if (acc != c) {
    memcpy(c, acc, (size_t)m * n * sizeof(int32_t));
    free(acc);
  }
  return 0;
}
