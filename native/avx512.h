/*
 * The AVX-512 / AVX-512 VNNI kernel files' common header (sgemm-avx512.c, int8-vnni.c): the
 * intrinsics and the per-function target attributes (with QAT_AVX512_IMPL defined), and the
 * entry points sgemm.c, int8.c and int8-u8s8.c dispatch to. The normal build compiles those functions
 * for avx512f+bw+dq+vl (QAT_TARGET_AVX512) or that plus avx512vnni (QAT_TARGET_VNNI) and runs them
 * only where threads.c detected that level. The emulation build (-DQAT_EMULATE_AVX512, made by
 * `node scripts/build-native.mjs --emu512` for test/backend/native-avx512-emu.test.ts) takes the
 * same source through SIMDe's portable implementations of the _mm512_* intrinsics (SIMD
 * Everywhere, header-only: Debian's libsimde-dev), so the kernels are tested on CPUs without
 * AVX-512; there the attributes are empty.
 */
#ifndef QAT_AVX512_H
#define QAT_AVX512_H

#include "qat.h"

/* Only the kernel files define QAT_AVX512_IMPL (the dispatching files need just the declarations). */
#if QAT_X86 && defined(QAT_AVX512_IMPL)
#ifdef QAT_EMULATE_AVX512
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
/* SIMDe 0.7.4 defines this alias with the masked form's four parameters */
#undef _mm512_madd_epi16
#define _mm512_madd_epi16(a, b) simde_mm512_madd_epi16(a, b)
#define QAT_TARGET_AVX512
#define QAT_TARGET_VNNI
#else
#include <immintrin.h>
#define QAT_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#define QAT_TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#endif
#endif

/* The AVX-512 float GEMM: qat_sgemm_epi's contract (epi already NULL when it does nothing; k > 0). */
void qat_sgemm_avx512(int m, int n, int k, const float *a, long ars, long acs, const float *b, long brs, long bcs,
                      float *c, long ldc, int accumulate, int thread, const qat_epi *epi);

/* int8.c's int16-pair micro-kernel contract (6 × 16 tile, int8.h): vpmaddwd + vpaddd, or VNNI's vpdpwssd. */
void qat_qukr_avx512bw(int kc, const int32_t *a, const int32_t *b, long ldb, int32_t *c, long ldc, int load);
void qat_qukr_vnni(int kc, const int32_t *a, const int32_t *b, long ldb, int32_t *c, long ldc, int load);

/* The u8 × s8 quad GEMM with vpdpbusd: acc [oc rounded up to QM8 × ldc] = weight quads · B (np columns
 * as QNR-column panels of quad words, int8-u8s8.c's layout). Exact for any u8 activation byte. */
void qat_igemm8_vnni(int oc, int np, int kq, const int32_t *wq, const int32_t *b, int32_t *acc, long ldc);

#endif
