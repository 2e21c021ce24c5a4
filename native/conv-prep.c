/*
 * The prepared input ("xq", conv-direct.h) of the direct float convolution kernels: layout, tap
 * offsets and the copy of one image into zero-padded planes whose rows are split by stride
 * phase. Called per image by the forward and strided backward-input tasks (conv-direct.c,
 * conv-dgrad.c) and the backward-weight preparation (conv-wgrad.c). Rows at stride 1 and 2 are
 * copied by AVX2 row routines where the CPU has them (16 source floats split into two phases
 * of 8 a step at stride 2), other strides element by element; every version writes the same
 * floats (a pure copy), so the ISA never changes a result. qat_cd_gather2 (every other float)
 * also serves conv.c's im2col at stride 2.
 */
#include "conv-direct.h"

#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif

qat_cd_layout qat_cd_layout_of(const qat_cd_geom *d) {
  qat_cd_layout L;
  L.hp = d->ih + 2 * d->ph;
  L.wp = d->iw + 2 * d->pw;
  L.wh = (L.wp + d->sw - 1) / d->sw;
  L.wq = d->sw * L.wh;
  L.plane = (long)L.hp * L.wq;
  L.rowstep = (long)d->sh * L.wq;
  L.size = d->cin * L.plane + QAT_CD_SLACK;
  return L;
}

void qat_cd_offsets(const qat_cd_geom *d, const qat_cd_layout *L, int *off) {
  int t = 0;
  for (int ci = 0; ci < d->cin; ci++)
    for (int ky = 0; ky < d->kh; ky++)
      for (int kx = 0; kx < d->kw; kx++) {
        int cx = kx * d->dw;
        off[t++] = (int)(ci * L->plane + (long)ky * d->dh * L->wq + (long)(cx % d->sw) * L->wh + cx / d->sw);
      }
}

/* One padded row (wq floats) from source row s (iw floats), padding pw on the left: at stride 1
 * row[ix] = s[ix − pw]; at stride 2 row[(ix mod 2)·wh + ix/2] = s[ix − pw] (wq = 2·wh); zero
 * outside the source. */
typedef void (*row_fn)(float *row, int wq, const float *s, int iw, int pw);

static void row1_portable(float *row, int wq, const float *s, int iw, int pw) {
  memset(row, 0, pw * sizeof(float));
  memcpy(row + pw, s, iw * sizeof(float));
  memset(row + pw + iw, 0, (wq - pw - iw) * sizeof(float));
}

static void row2_portable(float *row, int wq, const float *s, int iw, int pw) {
  int wh = wq / 2;
  for (int ix = 0; ix < wq; ix++) {
    int t = ix - pw;
    row[(ix & 1) * wh + (ix >> 1)] = t >= 0 && t < iw ? s[t] : 0.0f;
  }
}

#if QAT_X86
__attribute__((target("avx2,fma"))) static void row1_avx2(float *row, int wq, const float *s, int iw, int pw) {
  for (int i = 0; i < pw; i++) row[i] = 0.0f;
  float *d = row + pw;
  int t = 0;
  for (; t + 8 <= iw; t += 8) _mm256_storeu_ps(d + t, _mm256_loadu_ps(s + t));
  for (; t < iw; t++) d[t] = s[t];
  for (int i = pw + iw; i < wq; i++) row[i] = 0.0f;
}

/* Source floats s[t0 … t0 + 7] with those outside [0, iw) read as zero (masked: never touched). */
__attribute__((target("avx2,fma"))) static inline __m256 load_in(const float *s, int t0, int iw) {
  if (t0 >= 0 && t0 + 8 <= iw) return _mm256_loadu_ps(s + t0);
  __m256i j = _mm256_add_epi32(_mm256_set1_epi32(t0), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256i m = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), j), _mm256_cmpgt_epi32(_mm256_set1_epi32(iw), j));
  /* lanes off the mask are not read; the base address is only formed, at most 8 floats outside s */
  return _mm256_maskload_ps((const float *)((const char *)s + (long)t0 * (long)sizeof(float)), m);
}

__attribute__((target("avx2,fma"))) static void row2_avx2(float *row, int wq, const float *s, int iw, int pw) {
  int wh = wq / 2, ix = 0;
  for (; ix + 16 <= wq; ix += 16) { /* padded columns ix … ix + 15 → 8 of each phase */
    __m256 a = load_in(s, ix - pw, iw), b = load_in(s, ix - pw + 8, iw);
    __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    _mm256_storeu_ps(row + (ix >> 1), _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0))));
    _mm256_storeu_ps(row + wh + (ix >> 1), _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0))));
  }
  for (; ix < wq; ix++) {
    int t = ix - pw;
    row[(ix & 1) * wh + (ix >> 1)] = t >= 0 && t < iw ? s[t] : 0.0f;
  }
}
#endif

/* dst[m] = src[2m] for m < count; AVX2: 8 a step from 16 consecutive floats, never reading past src[2·count − 2]. */
static void gather2_portable(float *dst, const float *src, int count) {
  for (int m = 0; m < count; m++) dst[m] = src[2 * m];
}

#if QAT_X86
__attribute__((target("avx2,fma"))) static void gather2_avx2(float *dst, const float *src, int count) {
  int m = 0;
  for (; m + 8 < count; m += 8) { /* reads src[2m … 2m + 15], 2m + 15 < 2·count − 2 */
    __m256 a = _mm256_loadu_ps(src + 2 * m), b = _mm256_loadu_ps(src + 2 * m + 8);
    __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    _mm256_storeu_ps(dst + m, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0))));
  }
  for (; m < count; m++) dst[m] = src[2 * m];
}
#endif

void qat_cd_gather2(float *dst, const float *src, int count) {
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) {
    gather2_avx2(dst, src, count);
    return;
  }
#endif
  gather2_portable(dst, src, count);
}

void qat_cd_prepare(const float *x, const qat_cd_geom *d, const qat_cd_layout *L, float *xq) {
  row_fn row1 = row1_portable, row2 = row2_portable;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) {
    row1 = row1_avx2;
    row2 = row2_avx2;
  }
#endif
  for (int ci = 0; ci < d->cin; ci++) {
    const float *src = x + (long)ci * d->ih * d->iw;
    for (int iy = 0; iy < L->hp; iy++) {
      float *row = xq + ci * L->plane + (long)iy * L->wq;
      int yy = iy - d->ph;
      if (yy < 0 || yy >= d->ih) {
        memset(row, 0, L->wq * sizeof(float));
        continue;
      }
      const float *s = src + (long)yy * d->iw;
      if (d->sw == 1) {
        row1(row, L->wq, s, d->iw, d->pw);
      } else if (d->sw == 2) {
        row2(row, L->wq, s, d->iw, d->pw);
      } else {
        /* phase q holds padded columns q, q + sw, …: source columns xx = m·sw + q − pw, valid for m in [lo, hi) */
        for (int q = 0; q < d->sw; q++) {
          float *ph = row + q * L->wh;
          int lo = d->pw - q > 0 ? (d->pw - q + d->sw - 1) / d->sw : 0;
          int hi = (d->iw + d->pw - q + d->sw - 1) / d->sw;
          if (hi > L->wh) hi = L->wh;
          if (hi < lo) hi = lo;
          for (int m = 0; m < lo; m++) ph[m] = 0.0f;
          const float *sq = s + (long)lo * d->sw + q - d->pw;
          for (int m = lo; m < hi; m++, sq += d->sw) ph[m] = *sq;
          for (int m = hi; m < L->wh; m++) ph[m] = 0.0f;
        }
      }
    }
  }
  memset(xq + d->cin * L->plane, 0, QAT_CD_SLACK * sizeof(float));
}
