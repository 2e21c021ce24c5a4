/*
 * Batch-norm and per-channel affine kernels of the native backend, following
 * src/backend/ref/batchnorm.ts, fused.ts and channel-affine.ts: every elementwise step operation for
 * operation (no contraction into FMA: the build passes -ffp-contract=off; on AVX2 the same
 * row code is compiled for 4 float64 lanes), so those results equal the reference bit for bit;
 * the per-channel sums are float64 like the reference's but with independent accumulators (a
 * single chain costs 4 cycles an element; on AVX2 4 lanes × 4 chains), so they agree with it to
 * float64 rounding, and what depends on them (gradients) to float32 rounding. Batch norm's per-channel mean, variance and
 * 1/σ are float64 arrays (the op keeps them so). Channels are split among threads.
 * The fused entries (norm.h) run a channel's passes back to back while its planes are in L2:
 *   qat_bn_train          statistics, 1/σ, apply (and ReLU) — the same functions as qat_bn_stats,
 *                         then qat_bn_apply (then relu), so the same values;
 *   qat_bn_relu_backward  the backward of relu(apply(x)): dy masked by y > 0, y recomputed from x
 *                         with apply's expression, then qat_bn_backward's sums and rows — the
 *                         values of maskMul then qat_bn_backward.
 * The per-channel sums live in norm-sums.h. Called by binding.c and binding-norm.c.
 */
#include "norm.h"
#include "norm-sums.h"

#include <math.h>

#if QAT_X86
#include <immintrin.h>
#endif

#define ELEMENTWISE_MIN (1L << 16) /* elements below which a kernel stays on one thread */

static int threads_for(long elements) { return elements >= ELEMENTWISE_MIN ? qat_threads : 1; }

/*
 * The per-element steps of batch norm as row functions, compiled twice: for the baseline and,
 * through the same inline body, for AVX2 (4 float64 lanes instead of 2). Same operations in the
 * same order per element (no contraction), so both equal the reference bit for bit.
 */
static inline __attribute__((always_inline)) void apply_row_body(const float *x, float *y, int n, double m, double scale, double shift) {
  for (int j = 0; j < n; j++) y[j] = (float)(((double)x[j] - m) * scale + shift);
}
static inline __attribute__((always_inline)) void bwd_row_body(const float *dy, const float *x, float *dx, int n, double m, double scale,
                                                               double a, double k) {
  for (int j = 0; j < n; j++) dx[j] = (float)(scale * ((double)dy[j] - a - ((double)x[j] - m) * k));
}
/* apply, then relu's expression (elementwise.c: v > 0 ? v : 0) */
static inline __attribute__((always_inline)) void apply_relu_row_body(const float *x, float *y, int n, double m, double scale, double shift) {
  for (int j = 0; j < n; j++) {
    float v = (float)(((double)x[j] - m) * scale + shift);
    y[j] = v > 0.0f ? v : 0.0f;
  }
}
/* bwd_row of g = dy·(y > 0 ? 1 : 0) (maskMul's product), y recomputed with apply's expression (shift = β) */
static inline __attribute__((always_inline)) void bwd_relu_row_body(const float *dy, const float *x, float *dx, int n, double m, double scale,
                                                                    double a, double k, double shift) {
  for (int j = 0; j < n; j++) {
    float y = (float)(((double)x[j] - m) * scale + shift);
    float g = dy[j] * (y > 0.0f ? 1.0f : 0.0f);
    dx[j] = (float)(scale * ((double)g - a - ((double)x[j] - m) * k));
  }
}
typedef void (*apply_fn)(const float *, float *, int, double, double, double);
typedef void (*bwd_fn)(const float *, const float *, float *, int, double, double, double, double, double);
static void apply_row(const float *x, float *y, int n, double m, double scale, double shift) { apply_row_body(x, y, n, m, scale, shift); }
static void apply_relu_row(const float *x, float *y, int n, double m, double scale, double shift) { apply_relu_row_body(x, y, n, m, scale, shift); }
static void bwd_row(const float *dy, const float *x, float *dx, int n, double m, double scale, double a, double k, double shift) {
  (void)shift;
  bwd_row_body(dy, x, dx, n, m, scale, a, k);
}
static void bwd_relu_row(const float *dy, const float *x, float *dx, int n, double m, double scale, double a, double k, double shift) {
  bwd_relu_row_body(dy, x, dx, n, m, scale, a, k, shift);
}
#if QAT_X86
__attribute__((target("avx2"))) static void apply_row_avx2(const float *x, float *y, int n, double m, double scale, double shift) {
  apply_row_body(x, y, n, m, scale, shift);
}
__attribute__((target("avx2"))) static void apply_relu_row_avx2(const float *x, float *y, int n, double m, double scale, double shift) {
  apply_relu_row_body(x, y, n, m, scale, shift);
}
__attribute__((target("avx2"))) static void bwd_row_avx2(const float *dy, const float *x, float *dx, int n, double m, double scale,
                                                         double a, double k, double shift) {
  (void)shift;
  bwd_row_body(dy, x, dx, n, m, scale, a, k);
}
/*
 * bwd_relu_row_body in 4 float64 lanes, written out (the compiler keeps the masked product as a
 * branch). The mask fl32(v) > 0 is taken as v > 2^-150 on the float64 v = (x − m)·scale + shift:
 * round to nearest even sends exactly the v ≤ 2^-150 (the tie included) to 0 and NaN compares
 * false either way, so no rounding to float32 is needed; g·1 or g·0 in float64 is the float32
 * product widened (exact, sign of zero included).
 */
__attribute__((target("avx2"))) static void bwd_relu_row_avx2(const float *dy, const float *x, float *dx, int n, double m, double scale,
                                                              double a, double k, double shift) {
  const __m256d mv = _mm256_set1_pd(m), sv = _mm256_set1_pd(scale), tv = _mm256_set1_pd(shift), av = _mm256_set1_pd(a), kv = _mm256_set1_pd(k);
  const __m256d tiny = _mm256_set1_pd(0x1p-150), one = _mm256_set1_pd(1.0);
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    __m256d xd = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j)), mv);
    __m256d on = _mm256_and_pd(_mm256_cmp_pd(_mm256_add_pd(_mm256_mul_pd(xd, sv), tv), tiny, _CMP_GT_OQ), one);
    __m256d g = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(dy + j)), on);
    __m256d r = _mm256_sub_pd(_mm256_sub_pd(g, av), _mm256_mul_pd(xd, kv));
    _mm_storeu_ps(dx + j, _mm256_cvtpd_ps(_mm256_mul_pd(sv, r)));
  }
  bwd_relu_row_body(dy + j, x + j, dx + j, n - j, m, scale, a, k, shift);
}

#endif

/* ---- batch norm: x viewed as [n, c, hw]; one task per channel ---- */
typedef struct {
  const float *x, *dy, *mean, *gamma, *beta; /* mean: the channel affine's scale */
  const double *bn_mean, *inv_std;            /* batch norm's per-channel statistics (float64, as the op keeps them) */
  float *y, *dgamma, *dbeta;
  double *out_mean, *out_var, *out_inv_std;
  double eps;
  int n, c, hw, training, relu;
} bn_ctx;

static int avx2(void) {
#if QAT_X86
  return qat_isa() >= QAT_ISA_AVX2;
#else
  return 0;
#endif
}

/* Mean and biased variance of channel ch: two passes (Σ x, then Σ (x − mean)²), image by image. */
static void channel_stats(const bn_ctx *b, int ch, double *mean, double *var) {
  double (*sum)(const float *, int) = sum_f32;
  double (*sumsq)(const float *, int, double) = sumsq_dev;
#if QAT_X86
  if (avx2()) sum = sum_f32_avx2, sumsq = sumsq_dev_avx2;
#endif
  double count = (double)b->n * b->hw, s = 0, ss = 0;
  for (int i = 0; i < b->n; i++) s += sum(b->x + ((long)i * b->c + ch) * b->hw, b->hw);
  double m = s / count;
  for (int i = 0; i < b->n; i++) ss += sumsq(b->x + ((long)i * b->c + ch) * b->hw, b->hw, m);
  *mean = m;
  *var = ss / count;
}

/* y = (x − m)·inv_std·γ + β over channel ch (then relu when b->relu) */
static void channel_apply(const bn_ctx *b, int ch, double m, double inv_std) {
  double scale = inv_std * (b->gamma ? (double)b->gamma[ch] : 1.0), shift = b->beta ? b->beta[ch] : 0.0;
  apply_fn row = b->relu ? apply_relu_row : apply_row;
#if QAT_X86
  if (avx2()) row = b->relu ? apply_relu_row_avx2 : apply_row_avx2;
#endif
  for (int i = 0; i < b->n; i++) {
    long base = ((long)i * b->c + ch) * b->hw;
    row(b->x + base, b->y + base, b->hw, m, scale, shift);
  }
}

static void stats_task(void *p, int ch, int thread) {
  (void)thread;
  const bn_ctx *b = p;
  channel_stats(b, ch, &b->out_mean[ch], &b->out_var[ch]);
}

void qat_bn_stats(const float *x, int n, int c, int hw, double *mean, double *var) {
  bn_ctx b = {.x = x, .out_mean = mean, .out_var = var, .n = n, .c = c, .hw = hw};
  qat_parallel(c, threads_for((long)n * c * hw), stats_task, &b);
}

static void apply_task(void *p, int ch, int thread) {
  (void)thread;
  const bn_ctx *b = p;
  channel_apply(b, ch, b->bn_mean[ch], b->inv_std[ch]);
}

void qat_bn_apply(const float *x, const double *mean, const double *inv_std, const float *gamma, const float *beta,
                  float *y, int n, int c, int hw) {
  bn_ctx b = {.x = x, .bn_mean = mean, .inv_std = inv_std, .gamma = gamma, .beta = beta, .y = y, .n = n, .c = c, .hw = hw};
  qat_parallel(c, threads_for((long)n * c * hw), apply_task, &b);
}

/* statistics, 1/√(var + eps) (as src/ops/batchnorm.ts computes it), apply: the channel's planes stay in L2 between passes */
static void train_task(void *p, int ch, int thread) {
  (void)thread;
  const bn_ctx *b = p;
  double m, var;
  channel_stats(b, ch, &m, &var);
  double is = 1 / sqrt(var + b->eps);
  b->out_mean[ch] = m;
  b->out_var[ch] = var;
  b->out_inv_std[ch] = is;
  channel_apply(b, ch, m, is);
}

void qat_bn_train(const float *x, int n, int c, int hw, double eps, const float *gamma, const float *beta, float *y, double *mean,
                  double *var, double *inv_std, int relu) {
  bn_ctx b = {.x = x, .gamma = gamma, .beta = beta, .y = y, .out_mean = mean, .out_var = var, .out_inv_std = inv_std, .eps = eps,
              .n = n, .c = c, .hw = hw, .relu = relu};
  qat_parallel(c, threads_for((long)n * c * hw), train_task, &b);
}

/* dx, dγ, dβ of channel ch; with b->relu, of relu(apply(x)) (dy masked by the recomputed output's sign) */
static void bn_bwd_task(void *p, int ch, int thread) {
  (void)thread;
  const bn_ctx *b = p;
  double count = (double)b->n * b->hw, m = b->bn_mean[ch], is = b->inv_std[ch], sdy = 0, sdyx = 0;
  double scale = is * (b->gamma ? (double)b->gamma[ch] : 1.0), shift = b->beta ? b->beta[ch] : 0.0;
  bwd_fn row = b->relu ? bwd_relu_row : bwd_row;
#if QAT_X86
  if (avx2()) row = b->relu ? bwd_relu_row_avx2 : bwd_row_avx2;
#endif
  for (int i = 0; i < b->n; i++) {
    long base = ((long)i * b->c + ch) * b->hw;
    double sg, sgx;
#if QAT_X86
    if (avx2()) {
      if (b->relu) sum_g_gx_relu_avx2(b->dy + base, b->x + base, b->hw, m, scale, shift, &sg, &sgx);
      else sum_g_gx_avx2(b->dy + base, b->x + base, b->hw, m, &sg, &sgx);
    } else
#endif
    if (b->relu) sum_g_gx_relu(b->dy + base, b->x + base, b->hw, m, scale, shift, &sg, &sgx);
    else sum_g_gx(b->dy + base, b->x + base, b->hw, m, &sg, &sgx);
    sdy += sg;
    sdyx += sgx;
  }
  double dg = sdyx * is;
  if (b->dgamma) b->dgamma[ch] = (float)dg;
  if (b->dbeta) b->dbeta[ch] = (float)sdy;
  double a = b->training ? sdy / count : 0.0, k = b->training ? (is * dg) / count : 0.0;
  for (int i = 0; i < b->n; i++) {
    long base = ((long)i * b->c + ch) * b->hw;
    row(b->dy + base, b->x + base, b->y + base, b->hw, m, scale, a, k, shift);
  }
}

void qat_bn_backward(const float *dy, const float *x, const double *mean, const double *inv_std, const float *gamma,
                     float *dx, float *dgamma, float *dbeta, int n, int c, int hw, int training) {
  bn_ctx b = {.x = x, .dy = dy, .bn_mean = mean, .inv_std = inv_std, .gamma = gamma, .y = dx, .dgamma = dgamma,
              .dbeta = dbeta, .n = n, .c = c, .hw = hw, .training = training};
  qat_parallel(c, threads_for((long)n * c * hw), bn_bwd_task, &b);
}

void qat_bn_relu_backward(const float *dy, const float *x, const double *mean, const double *inv_std, const float *gamma,
                          const float *beta, float *dx, float *dgamma, float *dbeta, int n, int c, int hw, int training) {
  bn_ctx b = {.x = x, .dy = dy, .bn_mean = mean, .inv_std = inv_std, .gamma = gamma, .beta = beta, .y = dx, .dgamma = dgamma,
              .dbeta = dbeta, .n = n, .c = c, .hw = hw, .training = training, .relu = 1};
  qat_parallel(c, threads_for((long)n * c * hw), bn_bwd_task, &b);
}
