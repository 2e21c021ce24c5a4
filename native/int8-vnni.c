/*
 * The int8 GEMM micro-kernels for AVX-512 CPUs, chosen at run time by int8.c (int16 pairs) and
 * int8-u8s8.c (u8 × s8 quads):
 *   qat_qukr_avx512bw  6 × 16 tile of int16 pairs: per k pair one 16-lane column load and, per
 *                      row, vpmaddwd of the broadcast weight pair + vpaddd (AVX-512BW);
 *   qat_qukr_vnni      the same tile with VNNI's vpdpwssd (the pair products and the add fused,
 *                      no saturation: each step adds at most 2·255² to the int32 lane);
 *   qat_igemm8_vnni    u8 activations × s8 weights with vpdpbusd: each int32 lane adds four
 *                      u8·s8 products (each in [−32640, 32385], summed without saturation)
 *                      per weight broadcast — exact for the whole u8 range, unlike AVX2's
 *                      vpmaddubsw (16-bit pair sums, hence int8-u8s8.c's 7-bit condition).
 *                      4 × 32 tiles (two 16-column panels), 4 × 16 for a last lone panel.
 * The accumulators are the same integers as the AVX2 / portable kernels' (integer sums in any
 * order), and the requantization after them is int8.c's, so outputs stay bit-exact with the
 * TypeScript kernels. Speed unmeasured: the development CPU has no AVX-512 (tested through
 * SIMDe's emulation, avx512.h).
 */
#define QAT_AVX512_IMPL
#include "avx512.h"
#include "int8.h"

#if QAT_X86
#define QKC8V 128 /* k quads per block, as int8-u8s8.c */

/* Row r of the 6 × 16 tile, AVX-512BW: vpmaddwd of the broadcast weight pair word with the 16 columns, then vpaddd. */
#define QROW_BW(r) c##r = _mm512_add_epi32(c##r, _mm512_madd_epi16(_mm512_set1_epi32(a[r]), b0))
/* The same with VNNI's fused vpdpwssd. */
#define QROW_VNNI(r) c##r = _mm512_dpwssd_epi32(c##r, _mm512_set1_epi32(a[r]), b0)

#define QUKR_BODY(ROW)                                                                               \
  __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;                  \
  for (int p = 0; p < kc; p++) {                                                                     \
    __m512i b0 = _mm512_loadu_si512((const void *)b);                                                \
    ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5);                                                  \
    a += QMR;                                                                                        \
    b += ldb;                                                                                        \
  }                                                                                                  \
  __m512i acc[QMR] = {c0, c1, c2, c3, c4, c5};                                                       \
  for (int r = 0; r < QMR; r++) {                                                                    \
    int32_t *cr = c + r * ldc;                                                                       \
    __m512i v = acc[r];                                                                              \
    if (load) v = _mm512_add_epi32(v, _mm512_loadu_si512((const void *)cr));                         \
    _mm512_storeu_si512((void *)cr, v);                                                              \
  }

QAT_TARGET_AVX512 void qat_qukr_avx512bw(int kc, const int32_t *a, const int32_t *b, long ldb, int32_t *c, long ldc, int load) {
  QUKR_BODY(QROW_BW)
}

QAT_TARGET_VNNI void qat_qukr_vnni(int kc, const int32_t *a, const int32_t *b, long ldb, int32_t *c, long ldc, int load) {
  QUKR_BODY(QROW_VNNI)
}
#undef QUKR_BODY
#undef QROW_BW
#undef QROW_VNNI

/* acc (4 × 32, row stride ldc) (+)= Σ_q a[q, r] · (b0 | b1)[q, j]: quad words, u8 (b) × s8 (a). */
QAT_TARGET_VNNI static void uk8_vnni2(int kc, const int32_t *a, const int32_t *b0p, const int32_t *b1p, int32_t *c, long ldc,
                                      int load) {
  __m512i z = _mm512_setzero_si512();
  __m512i c0a = z, c0b = z, c1a = z, c1b = z, c2a = z, c2b = z, c3a = z, c3b = z;
#define ROW8(r)                                                \
  do {                                                         \
    __m512i ar = _mm512_set1_epi32(a[r]);                      \
    c##r##a = _mm512_dpbusd_epi32(c##r##a, b0, ar);            \
    c##r##b = _mm512_dpbusd_epi32(c##r##b, b1, ar);            \
  } while (0)
  for (int q = 0; q < kc; q++) {
    __m512i b0 = _mm512_loadu_si512((const void *)(b0p + q * QNR)), b1 = _mm512_loadu_si512((const void *)(b1p + q * QNR));
    ROW8(0); ROW8(1); ROW8(2); ROW8(3);
    a += QM8;
  }
#undef ROW8
  __m512i acc[2 * QM8] = {c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b};
  for (int r = 0; r < QM8; r++)
    for (int h = 0; h < 2; h++) {
      int32_t *cr = c + r * ldc + h * QNR;
      __m512i v = acc[2 * r + h];
      if (load) v = _mm512_add_epi32(v, _mm512_loadu_si512((const void *)cr));
      _mm512_storeu_si512((void *)cr, v);
    }
}

/* acc (4 × 16) (+)= the same for one panel. */
QAT_TARGET_VNNI static void uk8_vnni1(int kc, const int32_t *a, const int32_t *bp, int32_t *c, long ldc, int load) {
  __m512i z = _mm512_setzero_si512(), c0 = z, c1 = z, c2 = z, c3 = z;
  for (int q = 0; q < kc; q++) {
    __m512i b0 = _mm512_loadu_si512((const void *)(bp + q * QNR));
    c0 = _mm512_dpbusd_epi32(c0, b0, _mm512_set1_epi32(a[0]));
    c1 = _mm512_dpbusd_epi32(c1, b0, _mm512_set1_epi32(a[1]));
    c2 = _mm512_dpbusd_epi32(c2, b0, _mm512_set1_epi32(a[2]));
    c3 = _mm512_dpbusd_epi32(c3, b0, _mm512_set1_epi32(a[3]));
    a += QM8;
  }
  __m512i acc[QM8] = {c0, c1, c2, c3};
  for (int r = 0; r < QM8; r++) {
    int32_t *cr = c + r * ldc;
    __m512i v = acc[r];
    if (load) v = _mm512_add_epi32(v, _mm512_loadu_si512((const void *)cr));
    _mm512_storeu_si512((void *)cr, v);
  }
}

void qat_igemm8_vnni(int oc, int np, int kq, const int32_t *wq, const int32_t *b, int32_t *acc, long ldc) {
  qat_note_path(QAT_PATH_CONV8_VNNI);
  for (int pc = 0; pc < kq; pc += QKC8V) {
    int kc = kq - pc < QKC8V ? kq - pc : QKC8V;
    for (int o0 = 0; o0 < oc; o0 += QMC) {
      int o1 = o0 + QMC < oc ? o0 + QMC : oc;
      for (int j = 0; j < np; j += 2 * QNR) {
        const int32_t *b0 = b + (long)j * kq + (long)pc * QNR;
        for (int o = o0; o < o1; o += QM8) {
          const int32_t *a = wq + (long)o * kq + (long)pc * QM8;
          int32_t *c = acc + (long)o * ldc + j;
          if (j + QNR < np) uk8_vnni2(kc, a, b0, b0 + (long)QNR * kq, c, ldc, pc > 0);
          else uk8_vnni1(kc, a, b0, c, ldc, pc > 0);
        }
      }
    }
  }
}
#endif
