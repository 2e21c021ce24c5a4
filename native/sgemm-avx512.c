/*
 * The AVX-512 float GEMM, taken by sgemm.c's qat_sgemm_epi when qat_isa() ≥ QAT_ISA_AVX512
 * (the level threads.c detects, or the emulation build's): sgemm.c's Goto blocking (B packed
 * per KC-deep slice of NC columns, A per MC rows) with panels for a 12×32 micro-kernel — 24
 * zmm accumulators, per k two 16-float column loads and 12 broadcast FMAs. As in sgemm.c, each
 * C element is the same sequence of FMAs (one chain per KC block, then added to C) wherever it
 * lies, so results do not depend on how callers split C among threads; edge tiles go through a
 * temporary tile. The fused epilogue (sgemm.c's qat_epi_apply) runs on each tile after its
 * last k block. Speed unmeasured: the development CPU has no AVX-512 (the tests run it on
 * SIMDe's emulation, see avx512.h).
 */
#define QAT_AVX512_IMPL
#include "avx512.h"

#include <string.h>

#if QAT_X86
#define MR5 12
#define NR5 32
#define KC5 256
#define MC5 120 /* a multiple of MR5 */
#define NC5 2048

/* B[pc.., jc..] (kc × nc) → panels of NR5 columns, each kc rows of NR5 floats (zero padded). */
static void pack_b5(int kc, int nc, const float *b, long brs, long bcs, float *dst) {
  for (int j = 0; j < nc; j += NR5) {
    int nr = nc - j < NR5 ? nc - j : NR5;
    const float *src = b + j * bcs;
    if (bcs == 1 && nr == NR5) {
      for (int p = 0; p < kc; p++) memcpy(dst + p * NR5, src + p * brs, NR5 * sizeof(float));
    } else if (brs == 1) { /* transposed operand: each column is contiguous along p */
      for (int jj = 0; jj < NR5; jj++) {
        const float *col = src + jj * bcs;
        for (int p = 0; p < kc; p++) dst[p * NR5 + jj] = jj < nr ? col[p] : 0.0f;
      }
    } else {
      for (int p = 0; p < kc; p++)
        for (int jj = 0; jj < NR5; jj++) dst[p * NR5 + jj] = jj < nr ? src[p * brs + jj * bcs] : 0.0f;
    }
    dst += (long)kc * NR5;
  }
}

/* A[ic.., pc..] (mc × kc) → panels of MR5 rows, each kc columns of MR5 floats (zero padded). */
static void pack_a5(int mc, int kc, const float *a, long ars, long acs, float *dst) {
  for (int i = 0; i < mc; i += MR5) {
    int mr = mc - i < MR5 ? mc - i : MR5;
    const float *src = a + i * ars;
    for (int ii = 0; ii < MR5; ii++) {
      if (ii >= mr) {
        for (int p = 0; p < kc; p++) dst[p * MR5 + ii] = 0.0f;
        continue;
      }
      const float *row = src + ii * ars;
      if (acs == 1) {
        for (int p = 0; p < kc; p++) dst[p * MR5 + ii] = row[p];
      } else {
        for (int p = 0; p < kc; p++) dst[p * MR5 + ii] = row[p * acs];
      }
    }
    dst += (long)kc * MR5;
  }
}

#define ACC2(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps()
#define FMA2(i)                                        \
  do {                                                 \
    __m512 ai = _mm512_set1_ps(a[i]);                  \
    c##i##a = _mm512_fmadd_ps(ai, b0, c##i##a);        \
    c##i##b = _mm512_fmadd_ps(ai, b1, c##i##b);        \
  } while (0)

/* C tile (mr × nr valid of MR5 × NR5, row stride ldc) (+)= Σ_p a[p, i]·b[p, j] over kc packed steps. */
QAT_TARGET_AVX512 static void ukr_avx512(int kc, const float *a, const float *b, float *c, long ldc, int load, int mr, int nr) {
  ACC2(0); ACC2(1); ACC2(2); ACC2(3); ACC2(4); ACC2(5);
  ACC2(6); ACC2(7); ACC2(8); ACC2(9); ACC2(10); ACC2(11);
  for (int p = 0; p < kc; p++) {
    __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
    FMA2(0); FMA2(1); FMA2(2); FMA2(3); FMA2(4); FMA2(5);
    FMA2(6); FMA2(7); FMA2(8); FMA2(9); FMA2(10); FMA2(11);
    a += MR5;
    b += NR5;
  }
  __m512 acc[2 * MR5] = {c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b, c4a, c4b, c5a, c5b,
                         c6a, c6b, c7a, c7b, c8a, c8b, c9a, c9b, c10a, c10b, c11a, c11b};
  if (mr == MR5 && nr == NR5) {
    for (int i = 0; i < MR5; i++) {
      float *ci = c + i * ldc;
      __m512 lo = acc[2 * i], hi = acc[2 * i + 1];
      if (load) {
        lo = _mm512_add_ps(_mm512_loadu_ps(ci), lo);
        hi = _mm512_add_ps(_mm512_loadu_ps(ci + 16), hi);
      }
      _mm512_storeu_ps(ci, lo);
      _mm512_storeu_ps(ci + 16, hi);
    }
    return;
  }
  float t[MR5 * NR5] __attribute__((aligned(64)));
  for (int i = 0; i < 2 * MR5; i++) _mm512_storeu_ps(t + 16 * i, acc[i]);
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) c[i * ldc + j] = load ? c[i * ldc + j] + t[i * NR5 + j] : t[i * NR5 + j];
}
#undef ACC2
#undef FMA2

void qat_sgemm_avx512(int m, int n, int k, const float *a, long ars, long acs, const float *b, long brs, long bcs,
                      float *c, long ldc, int accumulate, int thread, const qat_epi *epi) {
  qat_note_path(QAT_PATH_SGEMM_AVX512);
  int ncap = n < NC5 ? ((n + NR5 - 1) / NR5) * NR5 : NC5;
  int kcap = k < KC5 ? k : KC5;
  int mcap = m < MC5 ? ((m + MR5 - 1) / MR5) * MR5 : MC5;
  float *pb = qat_scratch(thread, 0, (size_t)kcap * ncap * sizeof(float));
  float *pa = qat_scratch(thread, 1, (size_t)kcap * mcap * sizeof(float));
  for (int jc = 0; jc < n; jc += NC5) {
    int nc = n - jc < NC5 ? n - jc : NC5;
    for (int pc = 0; pc < k; pc += KC5) {
      int kc = k - pc < KC5 ? k - pc : KC5;
      int load = accumulate || pc > 0, last = pc + kc >= k;
      pack_b5(kc, nc, b + pc * brs + jc * bcs, brs, bcs, pb);
      for (int ic = 0; ic < m; ic += MC5) {
        int mc = m - ic < MC5 ? m - ic : MC5;
        pack_a5(mc, kc, a + ic * ars + pc * acs, ars, acs, pa);
        for (int jr = 0; jr < nc; jr += NR5) {
          int nr = nc - jr < NR5 ? nc - jr : NR5;
          const float *bp = pb + (long)jr * kc;
          for (int ir = 0; ir < mc; ir += MR5) {
            int mr = mc - ir < MR5 ? mc - ir : MR5;
            float *ct = c + (long)(ic + ir) * ldc + jc + jr;
            ukr_avx512(kc, pa + (long)ir * kc, bp, ct, ldc, load, mr, nr);
            if (epi && last) qat_epi_apply(ct, ldc, mr, nr, ic + ir, jc + jr, epi);
          }
        }
      }
    }
  }
}
#endif
