/*
 * Data movement and reductions of the native backend (the Kernels entries copyStrided and
 * reduce; src/backend/ref/layout.ts and reduce.ts are the definitions):
 *   copy   an N-d strided copy of 1-, 2-, 4- or 8-byte elements after merging dimensions that
 *          are contiguous in both arrays; a contiguous innermost run is one memcpy. Exact.
 *   reduce sum/max/min of float32 over any set of axes without moving the reduced axes last:
 *          x is walked in memory order and every output accumulates its inputs in the
 *          reference's order (row-major over the reduced axes), in float64 for sums — so the
 *          result equals the reference's bit for bit.
 * Single-threaded (memory-bound at the sizes they see). Softmax is in softmax.c. Called by
 * binding-layout.c.
 */
#include "qat.h"

#include <math.h>
#include <string.h>
#if QAT_X86
#include <immintrin.h>
#endif

/* ---- copy ---- */

/* Merges dimensions (dropping size-1 ones) that are contiguous in both arrays; returns the new rank. */
static int merge_dims(int rank, const long *shape, const long *ss, const long *ds, long *m_shape, long *m_ss, long *m_ds) {
  int r = 0;
  for (int d = 0; d < rank; d++) {
    if (shape[d] == 1) continue;
    if (r > 0 && m_ss[r - 1] == shape[d] * ss[d] && m_ds[r - 1] == shape[d] * ds[d]) {
      m_shape[r - 1] *= shape[d];
      m_ss[r - 1] = ss[d];
      m_ds[r - 1] = ds[d];
      continue;
    }
    m_shape[r] = shape[d];
    m_ss[r] = ss[d];
    m_ds[r] = ds[d];
    r++;
  }
  return r;
}

#define STRIDED_RUN(T)                                                              \
  {                                                                                 \
    const T *s = (const T *)src + so;                                               \
    T *d = (T *)dst + dof;                                                          \
    for (long i = 0; i < inner; i++) d[i * d_in] = s[i * s_in];                     \
  }

void qat_copy_strided(const void *src, long src_off, const long *src_strides, void *dst, long dst_off,
                      const long *dst_strides, const long *shape, int rank, int elem) {
  long sh[QAT_MAX_RANK], ss[QAT_MAX_RANK], ds[QAT_MAX_RANK];
  for (int d = 0; d < rank; d++)
    if (shape[d] == 0) return;
  int r = merge_dims(rank, shape, src_strides, dst_strides, sh, ss, ds);
  if (r == 0) {
    memcpy((char *)dst + dst_off * elem, (const char *)src + src_off * elem, elem);
    return;
  }
  long inner = sh[r - 1], s_in = ss[r - 1], d_in = ds[r - 1];
  int contiguous = s_in == 1 && d_in == 1;
  long idx[QAT_MAX_RANK] = {0};
  long so = src_off, dof = dst_off;
  for (;;) {
    if (contiguous) {
      memcpy((char *)dst + dof * elem, (const char *)src + so * elem, (size_t)inner * elem);
    } else if (elem == 4) {
      STRIDED_RUN(uint32_t)
    } else if (elem == 8) {
      STRIDED_RUN(uint64_t)
    } else if (elem == 2) {
      STRIDED_RUN(uint16_t)
    } else {
      STRIDED_RUN(uint8_t)
    }
    int k = r - 2;
    for (; k >= 0; k--) {
      so += ss[k];
      dof += ds[k];
      if (++idx[k] < sh[k]) break;
      so -= ss[k] * sh[k];
      dof -= ds[k] * sh[k];
      idx[k] = 0;
    }
    if (k < 0) return;
  }
}

/* ---- reduce ---- */

/*
 * out[o] = op over the reduced axes of x. `reduced[d]` marks the axes. Adjacent axes of the
 * same kind are merged first; then x is walked in row-major order, each innermost run either
 * reduced into one output (a reduced innermost axis) or added lane-wise into a run of outputs
 * (a kept innermost axis). Either way each output sees its inputs in row-major order of the
 * reduced axes — the reference's order. acc (double, out_len) is caller scratch.
 */
void qat_reduce_f32(int op, const float *x, const long *shape, const int *reduced, int rank, float *out, long out_len,
                    double *acc) {
  long sh[QAT_MAX_RANK], os[QAT_MAX_RANK];
  int red[QAT_MAX_RANK], r = 0;
  long total = 1;
  for (int d = 0; d < rank; d++) total *= shape[d];
  if (total == 0) {
    float fill = op == QAT_REDUCE_SUM ? 0.0f : op == QAT_REDUCE_MAX ? -INFINITY : INFINITY;
    for (long o = 0; o < out_len; o++) out[o] = fill;
    return;
  }
  for (int d = 0; d < rank; d++) {
    if (shape[d] == 1) continue;
    if (r > 0 && red[r - 1] == reduced[d]) {
      sh[r - 1] *= shape[d];
      continue;
    }
    sh[r] = shape[d];
    red[r] = reduced[d];
    r++;
  }
  if (r == 0) { /* one element */
    out[0] = x[0];
    return;
  }
  /* strides in out (kept axes only, row-major; 0 along reduced axes) */
  long o = 1;
  for (int d = r - 1; d >= 0; d--) {
    os[d] = red[d] ? 0 : o;
    if (!red[d]) o *= sh[d];
  }
  long inner = sh[r - 1];
  int inner_reduced = red[r - 1];
  long idx[QAT_MAX_RANK] = {0};
  long ob = 0;
  const float *xp = x;
  int first_pass = 1; /* true while no reduced axis outside the innermost has advanced */
  for (;;) {
    if (inner_reduced) {
      double a = first_pass ? (double)xp[0] : acc[ob];
      long i0 = first_pass ? 1 : 0;
      if (op == QAT_REDUCE_SUM) {
        for (long i = i0; i < inner; i++) a += xp[i];
      } else if (op == QAT_REDUCE_MAX) {
        for (long i = i0; i < inner; i++) {
          double v = xp[i];
          if (v > a || v != v) a = v;
        }
      } else {
        for (long i = i0; i < inner; i++) {
          double v = xp[i];
          if (v < a || v != v) a = v;
        }
      }
      acc[ob] = a;
    } else {
      double *ap = acc + ob;
      if (first_pass) {
        for (long i = 0; i < inner; i++) ap[i] = xp[i];
      } else if (op == QAT_REDUCE_SUM) {
        for (long i = 0; i < inner; i++) ap[i] += xp[i];
      } else if (op == QAT_REDUCE_MAX) {
        for (long i = 0; i < inner; i++) {
          double v = xp[i];
          if (v > ap[i] || v != v) ap[i] = v;
        }
      } else {
        for (long i = 0; i < inner; i++) {
          double v = xp[i];
          if (v < ap[i] || v != v) ap[i] = v;
        }
      }
    }
    xp += inner;
    int k = r - 2;
    for (; k >= 0; k--) {
      ob += os[k];
      if (++idx[k] < sh[k]) break;
      ob -= os[k] * sh[k];
      idx[k] = 0;
    }
    if (k < 0) break;
    /* first_pass: every reduced outer axis is at index 0 */
    first_pass = 1;
    for (int d = 0; d < r - 1; d++)
      if (red[d] && idx[d] != 0) {
        first_pass = 0;
        break;
      }
  }
  for (long i = 0; i < out_len; i++) out[i] = (float)acc[i];
}
