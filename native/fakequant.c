/*
 * Fused fake quantization, LSQ's backward and the observers' min/max for QAT on the native
 * backend, bit-exact with the definitions in src/quant/fake-quantize.ts (PyTorch 1.13's
 * fake_quantize_*_affine_cachemask on float32), src/quant/lsq.ts and src/quant/minmax.ts:
 *
 *   p = fl32(x·fl32(1/S)),  q = fl32(Z + rint(p))  (ties to even; q = −2^63 for NaN or |p| ≥ 2^63,
 *   ATen's int64 conversion),  x̂ = fl32((clamp(q, qmin, qmax) − Z)·S),  mask = qmin ≤ q ≤ qmax
 *
 * The portable path evaluates that definition in float64 element by element (exact for any
 * Z, qmin, qmax). The AVX2 path works in float32 lanes, exact when Z, qmin and qmax are
 * integers within ±2^23 (every preset): Z + rint(p) is then one correctly rounded float32 add of
 * the exact sum (what fl32 of the float64 sum gives), clamp(q) − Z is an exact small integer and
 * its product with S is one float32 rounding, as the reference's double product rounded on store.
 * Min/max folds `if (v < m) m = v` (so NaN never wins; a NaN flag makes the result NaN) in 8-lane
 * registers; when the result is ±0 the sign is the first zero's in index order, as the
 * sequential loop leaves it. LSQ's backward repeats lsq.ts's loop element for element (float32
 * products, float64 sums in its order, per block then per channel). Large tensors are split
 * among threads (elementwise, or whole channels for sums, so results do not depend on the
 * thread count). Called by binding-qat.c.
 */
#include "fakequant.h"

#include <math.h>
#include <stdlib.h>
#if QAT_X86
#include <immintrin.h>
#endif

#define CHUNK 16384             /* elements per task (a multiple of 32) */
#define PARALLEL_MIN (1L << 17) /* elements below which a kernel stays on one thread */
#define TWO63 9223372036854775808.0
#define RINT_LIMIT 2251799813685248.0 /* 2^51 */
#define RINT_MAGIC 6755399441055744.0 /* 1.5·2^52: (p + M) − M = rint(p) for |p| < 2^51 */

typedef struct {
  float scale, inv;
  double scale_d, zp, qmin, qmax;
  int fast; /* float32 lanes are exact (see the header comment) */
} fq_param;

static int small_int(double v) { return v >= -8388608.0 && v <= 8388608.0 && v == (double)(long)v; }

static fq_param fq_make(float scale, double zp, double qmin, double qmax) {
  fq_param p = {.scale = scale, .inv = (float)(1.0 / (double)scale), .scale_d = scale, .zp = zp, .qmin = qmin, .qmax = qmax};
  p.fast = small_int(zp) && small_int(qmin) && small_int(qmax) && qmin <= qmax;
  return p;
}

/* The definition, element by element in float64 (the reference's arithmetic). */
static void fq_scalar(const float *x, float *out, uint8_t *mask, long n, const fq_param *fp) {
  const double zp = fp->zp, lo = fp->qmin, hi = fp->qmax, s = fp->scale_d;
  for (long i = 0; i < n; i++) {
    double p = x[i] * fp->inv, q; /* float32 product, widened */
    if (p > -RINT_LIMIT && p < RINT_LIMIT) q = (float)(zp + ((p + RINT_MAGIC) - RINT_MAGIC));
    else if (p >= -TWO63 && p < TWO63) q = (float)(zp + p);
    else q = -TWO63; /* NaN, |p| ≥ 2^63 */
    int in = q >= lo && q <= hi;
    out[i] = (float)(((in ? q : q > hi ? hi : lo) - zp) * s);
    mask[i] = (uint8_t)in;
  }
}

#if QAT_X86
/* 32 elements an iteration in float32 lanes (fp->fast); returns how many it did. */
__attribute__((target("avx2"))) static long fq_avx2(const float *x, float *out, uint8_t *mask, long n, const fq_param *fp) {
  const __m256 inv = _mm256_set1_ps(fp->inv), sv = _mm256_set1_ps(fp->scale), zv = _mm256_set1_ps((float)fp->zp);
  const __m256 lo = _mm256_set1_ps((float)fp->qmin), hi = _mm256_set1_ps((float)fp->qmax);
  const __m256 limit = _mm256_set1_ps((float)TWO63), bad_code = _mm256_set1_ps((float)-TWO63);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i one = _mm256_set1_epi8(1), order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  long i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i m[4];
    for (int k = 0; k < 4; k++) {
      __m256 p = _mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), inv);
      __m256 bad = _mm256_cmp_ps(_mm256_and_ps(p, abs_mask), limit, _CMP_NLT_UQ); /* NaN or |p| ≥ 2^63 */
      __m256 q = _mm256_add_ps(zv, _mm256_round_ps(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      q = _mm256_blendv_ps(q, bad_code, bad);
      __m256 in = _mm256_and_ps(_mm256_cmp_ps(q, lo, _CMP_GE_OQ), _mm256_cmp_ps(q, hi, _CMP_LE_OQ));
      __m256 qc = _mm256_min_ps(_mm256_max_ps(q, lo), hi);
      _mm256_storeu_ps(out + i + 8 * k, _mm256_mul_ps(_mm256_sub_ps(qc, zv), sv));
      m[k] = _mm256_castps_si256(in);
    }
    /* four 8 × int32 masks → 32 bytes: the packs interleave 128-bit halves, the permutation restores the order */
    __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(m[0], m[1]), _mm256_packs_epi32(m[2], m[3]));
    b = _mm256_permutevar8x32_epi32(b, order);
    _mm256_storeu_si256((__m256i *)(mask + i), _mm256_and_si256(b, one));
  }
  return i;
}
#endif

static void fq_run(const float *x, float *out, uint8_t *mask, long n, const fq_param *fp) {
  long done = 0;
#if QAT_X86
  if (fp->fast && qat_isa() >= QAT_ISA_AVX2) done = fq_avx2(x, out, mask, n, fp);
#endif
  fq_scalar(x + done, out + done, mask + done, n - done, fp);
}

typedef struct {
  const float *x;
  float *out;
  uint8_t *mask;
  long n, channels, inner;
  const fq_param *params; /* one, or one per channel */
} fq_ctx;

static void fq_tensor_task(void *p, int task, int thread) {
  (void)thread;
  const fq_ctx *c = p;
  long i0 = (long)task * CHUNK, len = c->n - i0 < CHUNK ? c->n - i0 : CHUNK;
  fq_run(c->x + i0, c->out + i0, c->mask + i0, len, c->params);
}

void qat_fake_quant_f32(const float *x, float *out, uint8_t *mask, long n, float scale, double zp, double qmin, double qmax) {
  if (n <= 0) return;
  fq_param fp = fq_make(scale, zp, qmin, qmax);
  fq_ctx c = {.x = x, .out = out, .mask = mask, .n = n, .params = &fp};
  qat_parallel((int)((n + CHUNK - 1) / CHUNK), n >= PARALLEL_MIN ? qat_threads : 1, fq_tensor_task, &c);
}

/* One task per block (o, ch) of [outer, channels, inner]. */
static void fq_block_task(void *p, int task, int thread) {
  (void)thread;
  const fq_ctx *c = p;
  long base = (long)task * c->inner;
  fq_run(c->x + base, c->out + base, c->mask + base, c->inner, &c->params[task % c->channels]);
}

void qat_fake_quant_channels_f32(const float *x, float *out, uint8_t *mask, long outer, long channels, long inner,
                                 const float *scales, const double *zps, double qmin, double qmax) {
  long n = outer * channels * inner;
  if (n <= 0) return;
  fq_param stack[256], *params = channels <= 256 ? stack : malloc(sizeof(fq_param) * channels);
  if (!params) { /* no memory for the table: one channel at a time */
    for (long o = 0; o < outer; o++)
      for (long ch = 0; ch < channels; ch++) {
        fq_param fp = fq_make(scales[ch], zps[ch], qmin, qmax);
        long base = (o * channels + ch) * inner;
        fq_run(x + base, out + base, mask + base, inner, &fp);
      }
    return;
  }
  for (long ch = 0; ch < channels; ch++) params[ch] = fq_make(scales[ch], zps[ch], qmin, qmax);
  fq_ctx c = {.x = x, .out = out, .mask = mask, .n = n, .channels = channels, .inner = inner, .params = params};
  qat_parallel((int)(outer * channels), n >= PARALLEL_MIN ? qat_threads : 1, fq_block_task, &c);
  if (params != stack) free(params);
}

/* ---- min / max ---- */

/* Folds x[0, n) into *mn, *mx (`if (v < m) m = v`), sets *nan when x holds a NaN. */
static void mm_scalar(const float *x, long n, float *mn, float *mx, int *nan) {
  float a = *mn, b = *mx;
  int bad = 0;
  for (long i = 0; i < n; i++) {
    float v = x[i];
    if (v < a) a = v;
    if (v > b) b = v;
    bad |= v != v;
  }
  *mn = a;
  *mx = b;
  *nan |= bad;
}

#if QAT_X86
__attribute__((target("avx2"))) static long mm_avx2(const float *x, long n, float *mn, float *mx, int *nan) {
  __m256 a0 = _mm256_set1_ps(*mn), a1 = a0, b0 = _mm256_set1_ps(*mx), b1 = b0, bad = _mm256_setzero_ps();
  long i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 u = _mm256_loadu_ps(x + i), v = _mm256_loadu_ps(x + i + 8);
    a0 = _mm256_min_ps(u, a0); /* u < a ? u : a — a NaN u keeps a */
    a1 = _mm256_min_ps(v, a1);
    b0 = _mm256_max_ps(u, b0);
    b1 = _mm256_max_ps(v, b1);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(u, v, _CMP_UNORD_Q));
  }
  float la[16], lb[16];
  _mm256_storeu_ps(la, a0);
  _mm256_storeu_ps(la + 8, a1);
  _mm256_storeu_ps(lb, b0);
  _mm256_storeu_ps(lb + 8, b1);
  float a = *mn, b = *mx;
  for (int k = 0; k < 16; k++) {
    if (la[k] < a) a = la[k];
    if (lb[k] > b) b = lb[k];
  }
  *mn = a;
  *mx = b;
  *nan |= _mm256_movemask_ps(bad) != 0;
  return i;
}
#endif

static void mm_run(const float *x, long n, float *mn, float *mx, int *nan) {
  long done = 0;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) done = mm_avx2(x, n, mn, mx, nan);
#endif
  mm_scalar(x + done, n - done, mn, mx, nan);
}

/* The first zero of x[0, n) in index order (its sign is the loop's result when the extreme is ±0); 1 if found. */
static int first_zero(const float *x, long n, float *z) {
  for (long i = 0; i < n; i++)
    if (x[i] == 0.0f) {
      *z = x[i];
      return 1;
    }
  return 0;
}

typedef struct {
  const float *x;
  long n, channels, inner;
  float mn[QAT_MAX_THREADS], mx[QAT_MAX_THREADS];
  int nan[QAT_MAX_THREADS];
  float *mins, *maxs;
} mm_ctx;

static void mm_tensor_task(void *p, int task, int thread) {
  mm_ctx *c = p;
  long i0 = (long)task * CHUNK, len = c->n - i0 < CHUNK ? c->n - i0 : CHUNK;
  mm_run(c->x + i0, len, &c->mn[thread], &c->mx[thread], &c->nan[thread]);
}

void qat_minmax_f32(const float *x, long n, double out[3]) {
  mm_ctx c = {.x = x, .n = n};
  for (int t = 0; t < QAT_MAX_THREADS; t++) c.mn[t] = INFINITY, c.mx[t] = -INFINITY, c.nan[t] = 0;
  if (n > 0) qat_parallel((int)((n + CHUNK - 1) / CHUNK), n >= PARALLEL_MIN ? qat_threads : 1, mm_tensor_task, &c);
  float mn = INFINITY, mx = -INFINITY;
  int nan = 0;
  for (int t = 0; t < QAT_MAX_THREADS; t++) {
    if (c.mn[t] < mn) mn = c.mn[t];
    if (c.mx[t] > mx) mx = c.mx[t];
    nan |= c.nan[t];
  }
  if (mn == 0.0f) first_zero(x, n, &mn);
  if (mx == 0.0f) first_zero(x, n, &mx);
  out[0] = mn;
  out[1] = mx;
  out[2] = nan;
}

/* One task per channel: its blocks in order (o ascending). */
static void mm_channel_task(void *p, int ch, int thread) {
  (void)thread;
  mm_ctx *c = p;
  long outer = c->n / (c->channels * c->inner);
  float mn = INFINITY, mx = -INFINITY;
  int nan = 0;
  for (long o = 0; o < outer; o++) mm_run(c->x + (o * c->channels + ch) * c->inner, c->inner, &mn, &mx, &nan);
  for (int k = 0; k < 2; k++) {
    float *v = k ? &mx : &mn;
    if (*v != 0.0f) continue;
    for (long o = 0; o < outer; o++)
      if (first_zero(c->x + (o * c->channels + ch) * c->inner, c->inner, v)) break;
  }
  c->mins[ch] = nan ? NAN : mn;
  c->maxs[ch] = nan ? NAN : mx;
}

void qat_minmax_channels_f32(const float *x, long outer, long channels, long inner, float *mins, float *maxs) {
  mm_ctx c = {.x = x, .n = outer * channels * inner, .channels = channels, .inner = inner, .mins = mins, .maxs = maxs};
  if (c.n <= 0) {
    for (long ch = 0; ch < channels; ch++) mins[ch] = INFINITY, maxs[ch] = -INFINITY;
    return;
  }
  qat_parallel((int)channels, c.n >= PARALLEL_MIN ? qat_threads : 1, mm_channel_task, &c);
}

/* ---- LSQ backward (src/quant/lsq.ts lsqGradRange, element for element) ---- */

typedef struct {
  const float *x, *dy, *scales;
  const double *zps;
  float *dx;
  double *acc;
  long outer, channels, inner;
  double qmin, qmax;
  float gf;
} lsq_ctx;

/* One block with (S, Z): dx, and its float64 sums ΣdS, ΣdZ in index order (the reference's order). */
static void lsq_block(const float *x, const float *dy, float *dx, long n, float s, double zp, double qmin, double qmax, float gf,
                      double *ds_out, double *dz_out) {
  const float inv = (float)(1.0 / (double)s), small = (float)(qmin - zp), big = (float)(qmax - zp), neg_s = -s;
  double ds = 0, dz = 0;
  for (long i = 0; i < n; i++) {
    float g = dy[i], xi = x[i];
    double p = (float)(zp + (double)xi * inv), q; /* ATen's fma: x·fl(1/S) exact in float64, one float64 add, then float32 */
    if (p > -RINT_LIMIT && p < RINT_LIMIT) q = (p + RINT_MAGIC) - RINT_MAGIC;
    else q = p >= -TWO63 && p < TWO63 ? p : -TWO63;
    if (q >= qmin && q <= qmax) {
      dx[i] = g;
      float xfq = (float)((q - zp) * s);
      ds += ((g * (xfq - xi)) * inv) * gf;
    } else {
      dx[i] = g * 0.0f;
      dz += (g * neg_s) * gf;
      ds += (g * (q < qmin ? small : big)) * gf;
    }
  }
  *ds_out = ds;
  *dz_out = dz;
}

/* One task per channel: its blocks in order, each block's sums added into acc as the reference does. */
static void lsq_channel_task(void *p, int ch, int thread) {
  (void)thread;
  const lsq_ctx *c = p;
  double ds_tot = 0, dz_tot = 0;
  for (long o = 0; o < c->outer; o++) {
    long base = (o * c->channels + ch) * c->inner;
    double ds, dz;
    lsq_block(c->x + base, c->dy + base, c->dx + base, c->inner, c->scales[ch], c->zps[ch], c->qmin, c->qmax, c->gf, &ds, &dz);
    ds_tot += ds;
    dz_tot += dz;
  }
  c->acc[2 * ch] = ds_tot;
  c->acc[2 * ch + 1] = dz_tot;
}

void qat_lsq_grad_f32(const float *x, const float *dy, float *dx, long outer, long channels, long inner, const float *scales,
                      const double *zps, double qmin, double qmax, float gf, double *acc) {
  lsq_ctx c = {.x = x, .dy = dy, .dx = dx, .scales = scales, .zps = zps, .acc = acc, .outer = outer, .channels = channels,
               .inner = inner, .qmin = qmin, .qmax = qmax, .gf = gf};
  if (channels <= 0) return;
  qat_parallel((int)channels, outer * channels * inner >= PARALLEL_MIN ? qat_threads : 1, lsq_channel_task, &c);
}
