/*
 * Elementwise kernels of the native backend, float32:
 *   maskMul, the gradient of relu / hardtanh (Kernels.maskMul; src/backend/ref/epilogue.ts is
 *     the definition): out[i] = g[i] · (lo < y[i] < hi ? 1 : 0), hi = +∞ meaning no upper bound
 *     (+∞ passes), the product taken as a real multiply (g·0 keeps g's sign, NaN·0 is NaN; NaN
 *     in y masks to 0). On AVX2, 8 lanes with float32 compares when lo and hi are float32 values
 *     (a float32 y compares to them as to the float64 originals), else float64 compares.
 *   unary (neg abs relu square sqrt reciprocal floor ceil round sign) and binary (add sub mul
 *     div maximum minimum; b full, one value, per channel of [outer, C, inner], or a full
 *     Uint8Array such as QAT's straight-through mask), following src/backend/ref/elementwise.ts:
 *     each is one IEEE float32 operation per element (the reference's float64 result of two
 *     float32 operands rounds to the same float32), so results equal the reference bit for bit.
 *     The loops are compiled twice, portable and for AVX2 (same operations, 8 lanes).
 *   addRelu (norm.h; a residual join followed by ReLU): out[i] = relu(a[i] + b[i]), the float32
 *     add then relu's expression — binary add then unary relu, in one pass.
 * Chunks of CHUNK elements are split among threads from 2^17 elements (≈ 0.2 ms of work) up.
 * Called by binding-layout.c (maskMul) and binding.c (unary, binary).
 */
#include "norm.h"

#include <math.h>
#if QAT_X86
#include <immintrin.h>
#endif

#define CHUNK 16384             /* elements per task */
#define PARALLEL_MIN (1L << 17) /* elements below which a kernel stays on one thread */

typedef struct {
  const float *g, *y;
  float *out;
  long n;
  double lo, hi;
} mask_ctx;

static void mask_scalar(const float *g, const float *y, float *out, long n, double lo, double hi) {
  if (isinf(hi) && hi > 0) {
    for (long i = 0; i < n; i++) out[i] = g[i] * ((double)y[i] > lo ? 1.0f : 0.0f);
  } else {
    for (long i = 0; i < n; i++) {
      double v = y[i];
      out[i] = g[i] * (v > lo && v < hi ? 1.0f : 0.0f);
    }
  }
}

#if QAT_X86
__attribute__((target("avx2"))) static long mask_avx2(const float *g, const float *y, float *out, long n, float lo, float hi, int bounded) {
  const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi), one = _mm256_set1_ps(1.0f);
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(y + i);
    __m256 m = _mm256_cmp_ps(v, vlo, _CMP_GT_OQ);
    if (bounded) m = _mm256_and_ps(m, _mm256_cmp_ps(v, vhi, _CMP_LT_OQ));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(g + i), _mm256_and_ps(m, one)));
  }
  return i;
}
#endif

static void mask_task(void *p, int task, int thread) {
  (void)thread;
  const mask_ctx *cx = p;
  long i0 = (long)task * CHUNK, n = cx->n - i0 < CHUNK ? cx->n - i0 : CHUNK;
  const float *g = cx->g + i0, *y = cx->y + i0;
  float *out = cx->out + i0;
  long done = 0;
#if QAT_X86
  int unbounded = isinf(cx->hi) && cx->hi > 0;
  int exact = (double)(float)cx->lo == cx->lo && (unbounded || (double)(float)cx->hi == cx->hi);
  if (qat_isa() >= QAT_ISA_AVX2 && exact) done = mask_avx2(g, y, out, n, (float)cx->lo, (float)cx->hi, !unbounded);
#endif
  mask_scalar(g + done, y + done, out + done, n - done, cx->lo, cx->hi);
}

void qat_mask_mul(const float *g, const float *y, double lo, double hi, float *out, long n) {
  if (n <= 0) return;
  mask_ctx cx = {g, y, out, n, lo, hi};
  int tasks = (int)((n + CHUNK - 1) / CHUNK);
  qat_parallel(tasks, n >= PARALLEL_MIN ? qat_threads : 1, mask_task, &cx);
}

/* ---- unary ---- */
static inline __attribute__((always_inline)) void unary_body(int op, const float *x, float *y, long n) {
  switch (op) {
  case QAT_UN_NEG: for (long i = 0; i < n; i++) y[i] = -x[i]; break;
  case QAT_UN_ABS: for (long i = 0; i < n; i++) y[i] = fabsf(x[i]); break;
  case QAT_UN_RELU: for (long i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f; break;
  case QAT_UN_SQUARE: for (long i = 0; i < n; i++) y[i] = x[i] * x[i]; break;
  case QAT_UN_SQRT: for (long i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
  case QAT_UN_RECIPROCAL: for (long i = 0; i < n; i++) y[i] = 1.0f / x[i]; break;
  case QAT_UN_FLOOR: for (long i = 0; i < n; i++) y[i] = floorf(x[i]); break;
  case QAT_UN_CEIL: for (long i = 0; i < n; i++) y[i] = ceilf(x[i]); break;
  case QAT_UN_ROUND: for (long i = 0; i < n; i++) y[i] = rintf(x[i]); break; /* half to even (default rounding mode) */
  case QAT_UN_SIGN: for (long i = 0; i < n; i++) y[i] = x[i] > 0.0f ? 1.0f : x[i] < 0.0f ? -1.0f : 0.0f; break;
  default: break;
  }
}
static void unary_run(int op, const float *x, float *y, long n) { unary_body(op, x, y, n); }
#if QAT_X86
__attribute__((target("avx2"))) static void unary_run_avx2(int op, const float *x, float *y, long n) { unary_body(op, x, y, n); }
#endif

/* ---- binary: a full; b full (b_len = n), one value (C = 1), per channel of [outer, C, inner], or full uint8 ---- */
#define BIN_LOOP(EXPR)                                                            \
  switch (op) {                                                                   \
  case QAT_BIN_ADD: for (long i = 0; i < n; i++) { float u = a[i], v = (EXPR); y[i] = u + v; } break; \
  case QAT_BIN_SUB: for (long i = 0; i < n; i++) { float u = a[i], v = (EXPR); y[i] = u - v; } break; \
  case QAT_BIN_MUL: for (long i = 0; i < n; i++) { float u = a[i], v = (EXPR); y[i] = u * v; } break; \
  case QAT_BIN_DIV: for (long i = 0; i < n; i++) { float u = a[i], v = (EXPR); y[i] = u / v; } break; \
  case QAT_BIN_MAX: for (long i = 0; i < n; i++) { float u = a[i], v = (EXPR); y[i] = u != u || v != v ? NAN : u > v ? u : v; } break; \
  case QAT_BIN_MIN: for (long i = 0; i < n; i++) { float u = a[i], v = (EXPR); y[i] = u != u || v != v ? NAN : u < v ? u : v; } break; \
  default: break;                                                                 \
  }

/* y[i] = a[i] op b[i] (bu8: b is uint8), or a[i] op s (b NULL) over one run of n elements */
static inline __attribute__((always_inline)) void binary_body(int op, const float *a, const float *b, const uint8_t *bu8, float s,
                                                              float *y, long n) {
  if (b) {
    BIN_LOOP(b[i])
  } else if (bu8) {
    BIN_LOOP((float)bu8[i])
  } else {
    BIN_LOOP(s)
  }
}
static void binary_run(int op, const float *a, const float *b, const uint8_t *bu8, float s, float *y, long n) {
  binary_body(op, a, b, bu8, s, y, n);
}
#if QAT_X86
__attribute__((target("avx2"))) static void binary_run_avx2(int op, const float *a, const float *b, const uint8_t *bu8, float s, float *y,
                                                             long n) {
  binary_body(op, a, b, bu8, s, y, n);
}
#endif

typedef struct {
  int op, mode; /* mode: 0 unary, 1 binary */
  const float *a, *b;
  const uint8_t *bu8;
  float *y;
  long n, channels, inner; /* b per channel of [outer, channels, inner] when channels > 0 */
} ew_ctx;

static void ew_task(void *p, int task, int thread) {
  (void)thread;
  const ew_ctx *cx = p;
  long i0 = (long)task * CHUNK, i1 = i0 + CHUNK < cx->n ? i0 + CHUNK : cx->n;
  void (*un)(int, const float *, float *, long) = unary_run;
  void (*bin)(int, const float *, const float *, const uint8_t *, float, float *, long) = binary_run;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) {
    un = unary_run_avx2;
    bin = binary_run_avx2;
  }
#endif
  if (cx->mode == 0) {
    un(cx->op, cx->a + i0, cx->y + i0, i1 - i0);
  } else if (cx->channels == 0) {
    bin(cx->op, cx->a + i0, cx->b ? cx->b + i0 : NULL, cx->bu8 ? cx->bu8 + i0 : NULL, 0.0f, cx->y + i0, i1 - i0);
  } else if (cx->inner == 1) { /* b along the last axis: runs of up to `channels` elements */
    for (long i = i0; i < i1;) {
      long c = i % cx->channels, len = cx->channels - c < i1 - i ? cx->channels - c : i1 - i;
      bin(cx->op, cx->a + i, cx->b + c, NULL, 0.0f, cx->y + i, len);
      i += len;
    }
  } else { /* one value of b per run of `inner` elements */
    for (long i = i0; i < i1;) {
      long r = i / cx->inner, len = (r + 1) * cx->inner - i;
      if (len > i1 - i) len = i1 - i;
      bin(cx->op, cx->a + i, NULL, NULL, cx->b[r % cx->channels], cx->y + i, len);
      i += len;
    }
  }
}

static void ew_run(ew_ctx *cx) {
  if (cx->n <= 0) return;
  int tasks = (int)((cx->n + CHUNK - 1) / CHUNK);
  qat_parallel(tasks, cx->n >= PARALLEL_MIN ? qat_threads : 1, ew_task, cx);
}

void qat_unary_f32(int op, const float *x, float *y, long n) {
  ew_ctx cx = {.op = op, .mode = 0, .a = x, .y = y, .n = n};
  ew_run(&cx);
}

void qat_binary_f32(int op, const float *a, const float *b, const uint8_t *bu8, float *y, long n, long channels, long inner) {
  ew_ctx cx = {.op = op, .mode = 1, .a = a, .y = y, .n = n};
  if (bu8) cx.bu8 = bu8;
  else if (channels == 0) cx.b = b;
  else if (channels == 1 && inner >= n) cx.channels = 1, cx.inner = n, cx.b = b; /* one value */
  else cx.b = b, cx.channels = channels, cx.inner = inner;
  ew_run(&cx);
}

/* ---- addRelu ---- */
static inline __attribute__((always_inline)) void add_relu_body(const float *a, const float *b, float *y, long n) {
  for (long i = 0; i < n; i++) {
    float s = a[i] + b[i];
    y[i] = s > 0.0f ? s : 0.0f;
  }
}
static void add_relu_run(const float *a, const float *b, float *y, long n) { add_relu_body(a, b, y, n); }
#if QAT_X86
__attribute__((target("avx2"))) static void add_relu_run_avx2(const float *a, const float *b, float *y, long n) { add_relu_body(a, b, y, n); }
#endif

static void add_relu_task(void *p, int task, int thread) {
  (void)thread;
  const ew_ctx *cx = p;
  long i0 = (long)task * CHUNK, i1 = i0 + CHUNK < cx->n ? i0 + CHUNK : cx->n;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) {
    add_relu_run_avx2(cx->a + i0, cx->b + i0, cx->y + i0, i1 - i0);
    return;
  }
#endif
  add_relu_run(cx->a + i0, cx->b + i0, cx->y + i0, i1 - i0);
}

void qat_add_relu_f32(const float *a, const float *b, float *out, long n) {
  if (n <= 0) return;
  ew_ctx cx = {.a = a, .b = b, .y = out, .n = n};
  qat_parallel((int)((n + CHUNK - 1) / CHUNK), n >= PARALLEL_MIN ? qat_threads : 1, add_relu_task, &cx);
}
