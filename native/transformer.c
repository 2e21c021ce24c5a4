/*
 * GELU and LayerNorm of the native backend (the Kernels entries gelu, geluBackward, layerNorm,
 * layerNormBackward; src/backend/ref/transformer.ts is the definition). Every value is
 * computed in float64 from the float32 inputs and rounded once when stored, as the reference.
 *   erf: cubic Hermite interpolation on the reference's 1/512 grid over [0, 6] (knots from the
 *        C library's erf; same expression and order as the reference, so AVX2 lanes — four
 *        float64, gathers — and the portable loop give the reference's value up to its knots).
 *   exp, tanh (AVX2): Cody–Waite reduction and the degree-13 Taylor polynomial (Estrin's scheme),
 *        within a few float64 ulps;
 *        tanh(u) = ±(1 − 2/(e^{2|u|} + 1)); the portable path calls the C library.
 *   LayerNorm: row sums in four float64 lanes (the reference sums in order: mean and rstd
 *        differ from its in the last float64 bits); the weight / bias gradients are summed over
 *        rows in order per column, in float64 lanes with no fused multiply-add — the
 *        reference's operations, bit for bit when mean and rstd are the same.
 * Large inputs are split among threads in fixed pieces (elements, rows, or columns for the
 * weight / bias gradients), so results do not depend on the thread count. Built with
 * -ffp-contract=off (scripts/build-native.mjs). Called by binding-transformer.c.
 */
#include "transformer.h"

#include <math.h>
#if QAT_X86
#include <immintrin.h>
#endif

#define ERF_STEPS 512
#define ERF_KNOTS (6 * ERF_STEPS + 2)
#define CHUNK 8192        /* elements per GELU task (a multiple of 4: vector lanes never straddle tasks) */
#define ROWS_PER_TASK 32  /* LayerNorm rows per task */
#define COLS_PER_TASK 16  /* LayerNorm weight / bias gradient columns per task */
#define PARALLEL_MIN (1L << 16)

static double erf_y[ERF_KNOTS], erf_dh[ERF_KNOTS]; /* erf at the knots, and its derivative × step */
static double erf_yd[2 * ERF_KNOTS];                /* the same interleaved: y₀, dh₀, y₁, dh₁, … (AVX2 loads) */
static double inv_sqrt2, inv_sqrt_2pi, sqrt_2_over_pi;
static const double GELU_C = 0.044715;

__attribute__((constructor)) static void erf_table_init(void) {
  for (int i = 0; i < ERF_KNOTS; i++) {
    double v = (double)i / ERF_STEPS;
    erf_y[i] = erf(v);
    erf_dh[i] = ((2 / sqrt(M_PI)) * exp(-v * v)) / ERF_STEPS;
    erf_yd[2 * i] = erf_y[i];
    erf_yd[2 * i + 1] = erf_dh[i];
  }
  inv_sqrt2 = M_SQRT1_2;
  inv_sqrt_2pi = 1 / sqrt(2 * M_PI);
  sqrt_2_over_pi = sqrt(2 / M_PI);
}

/* The reference's erfFast. */
static inline double erf_fast(double x) {
  double a = fabs(x);
  if (!(a < 6)) return isnan(x) ? x : x > 0 ? 1.0 : -1.0;
  double u = a * ERF_STEPS;
  int i = (int)u;
  double t = u - i, t2 = t * t, t3 = t2 * t;
  double r = (2 * t3 - 3 * t2 + 1) * erf_y[i] + (t3 - 2 * t2 + t) * erf_dh[i] + (3 * t2 - 2 * t3) * erf_y[i + 1] +
             (t3 - t2) * erf_dh[i + 1];
  return x < 0 ? -r : r;
}

/* One element of each GELU form (portable path and the reference's expressions). */
static inline float gelu1(float xf, int tanh_form) {
  double v = xf;
  if (tanh_form) return (float)(0.5 * v * (1 + tanh(sqrt_2_over_pi * (v + GELU_C * v * v * v))));
  return (float)(0.5 * v * (1 + erf_fast(v * inv_sqrt2)));
}

static inline float gelu_bwd1(float gf, float xf, int tanh_form) {
  double v = xf, g = gf;
  if (tanh_form) {
    double t = tanh(sqrt_2_over_pi * (v + GELU_C * v * v * v));
    return (float)(g * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * sqrt_2_over_pi * (1 + 3 * GELU_C * v * v)));
  }
  return (float)(g * (0.5 * (1 + erf_fast(v * inv_sqrt2)) + v * inv_sqrt_2pi * exp(-0.5 * v * v)));
}

#if QAT_X86
#define AVX2 __attribute__((target("avx2,fma")))
#define V(c) _mm256_set1_pd(c)

/* erf_fast in four lanes. */
AVX2 static inline __m256d erf4(__m256d x) {
  const __m256d sign = V(-0.0);
  __m256d a = _mm256_andnot_pd(sign, x);
  __m256d in = _mm256_cmp_pd(a, V(6.0), _CMP_LT_OQ); /* false for NaN */
  __m256d u = _mm256_mul_pd(_mm256_and_pd(a, in), V(ERF_STEPS));
  __m128i i = _mm256_cvttpd_epi32(u);
  __m256d t = _mm256_sub_pd(u, _mm256_cvtepi32_pd(i));
  __m256d t2 = _mm256_mul_pd(t, t), t3 = _mm256_mul_pd(t2, t);
  __m256d h00 = _mm256_add_pd(_mm256_sub_pd(_mm256_mul_pd(V(2), t3), _mm256_mul_pd(V(3), t2)), V(1));
  __m256d h10 = _mm256_add_pd(_mm256_sub_pd(t3, _mm256_mul_pd(V(2), t2)), t);
  __m256d h01 = _mm256_sub_pd(_mm256_mul_pd(V(3), t2), _mm256_mul_pd(V(2), t3));
  __m256d h11 = _mm256_sub_pd(t3, t2);
  /* four 256-bit loads of (y_i, dh_i, y_i+1, dh_i+1), transposed (cheaper than four gathers) */
  int k[4];
  _mm_storeu_si128((__m128i *)k, i);
  __m256d r0 = _mm256_loadu_pd(erf_yd + 2 * k[0]), r1 = _mm256_loadu_pd(erf_yd + 2 * k[1]);
  __m256d r2 = _mm256_loadu_pd(erf_yd + 2 * k[2]), r3 = _mm256_loadu_pd(erf_yd + 2 * k[3]);
  __m256d ya = _mm256_unpacklo_pd(r0, r1), da = _mm256_unpackhi_pd(r0, r1);
  __m256d yb = _mm256_unpacklo_pd(r2, r3), db = _mm256_unpackhi_pd(r2, r3);
  __m256d y0 = _mm256_permute2f128_pd(ya, yb, 0x20), y1 = _mm256_permute2f128_pd(ya, yb, 0x31);
  __m256d d0 = _mm256_permute2f128_pd(da, db, 0x20), d1 = _mm256_permute2f128_pd(da, db, 0x31);
  __m256d r = _mm256_mul_pd(h00, y0);
  r = _mm256_add_pd(r, _mm256_mul_pd(h10, d0));
  r = _mm256_add_pd(r, _mm256_mul_pd(h01, y1));
  r = _mm256_add_pd(r, _mm256_mul_pd(h11, d1));
  r = _mm256_xor_pd(r, _mm256_and_pd(_mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_LT_OQ), sign));
  /* |x| ≥ 6: ±1; NaN: x */
  __m256d out = _mm256_or_pd(_mm256_and_pd(x, sign), V(1.0));
  out = _mm256_blendv_pd(out, x, _mm256_cmp_pd(x, x, _CMP_UNORD_Q));
  return _mm256_blendv_pd(out, r, in);
}

/* e^x in four lanes: 0 below −708, e^709 above 709, NaN stays NaN. */
AVX2 static inline __m256d exp4(__m256d x) {
  __m256d tiny = _mm256_cmp_pd(x, V(-708.0), _CMP_LT_OQ);
  __m256d xc = _mm256_min_pd(V(709.0), _mm256_max_pd(V(-708.0), x)); /* NaN in x passes through */
  __m256d n = _mm256_round_pd(_mm256_mul_pd(xc, V(1.4426950408889634)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256d r = _mm256_fnmadd_pd(n, V(6.93147180369123816490e-01), xc);
  r = _mm256_fnmadd_pd(n, V(1.90821492927058770002e-10), r);
  /* Σ r^k/k! for k ≤ 13 by Estrin's scheme (pairs, then r², r⁴, r⁸): a short dependency chain */
  __m256d r2 = _mm256_mul_pd(r, r), r4 = _mm256_mul_pd(r2, r2), r8 = _mm256_mul_pd(r4, r4);
#define PAIR(k) _mm256_fmadd_pd(V(1.0 / fact[k + 1]), r, V(1.0 / fact[k]))
  static const double fact[14] = {1, 1, 2, 6, 24, 120, 720, 5040, 40320, 362880, 3628800, 39916800, 479001600, 6227020800.0};
  __m256d s0 = _mm256_fmadd_pd(PAIR(2), r2, PAIR(0)), s1 = _mm256_fmadd_pd(PAIR(6), r2, PAIR(4));
  __m256d s2 = _mm256_fmadd_pd(PAIR(10), r2, PAIR(8)), s3 = PAIR(12);
#undef PAIR
  __m256d p = _mm256_fmadd_pd(_mm256_fmadd_pd(s3, r4, s2), r8, _mm256_fmadd_pd(s1, r4, s0));
  __m256i e = _mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n)), _mm256_set1_epi64x(1023)), 52);
  return _mm256_andnot_pd(tiny, _mm256_mul_pd(p, _mm256_castsi256_pd(e)));
}

/* tanh(u) = ±(1 − 2/(e^{2|u|} + 1)); absolute error ~1e-16. */
AVX2 static inline __m256d tanh4(__m256d u) {
  const __m256d sign = V(-0.0);
  __m256d a = _mm256_andnot_pd(sign, u);
  __m256d e = exp4(_mm256_add_pd(a, a));
  __m256d t = _mm256_sub_pd(V(1.0), _mm256_div_pd(V(2.0), _mm256_add_pd(e, V(1.0))));
  return _mm256_or_pd(t, _mm256_and_pd(u, sign));
}

/* u = √(2/π)·(v + 0.044715·v·v·v), the reference's order. */
AVX2 static inline __m256d tanh_arg(__m256d v) {
  __m256d c = _mm256_mul_pd(_mm256_mul_pd(_mm256_mul_pd(V(GELU_C), v), v), v);
  return _mm256_mul_pd(V(sqrt_2_over_pi), _mm256_add_pd(v, c));
}

AVX2 static inline __m256d gelu4(__m256d v, int tanh_form) {
  __m256d f = tanh_form ? tanh4(tanh_arg(v)) : erf4(_mm256_mul_pd(v, V(inv_sqrt2)));
  return _mm256_mul_pd(_mm256_mul_pd(V(0.5), v), _mm256_add_pd(V(1.0), f));
}

AVX2 static inline __m256d gelu_bwd4(__m256d g, __m256d v, int tanh_form) {
  __m256d d;
  if (tanh_form) {
    __m256d t = tanh4(tanh_arg(v));
    __m256d a = _mm256_mul_pd(V(0.5), _mm256_add_pd(V(1.0), t));
    __m256d b = _mm256_mul_pd(_mm256_mul_pd(_mm256_mul_pd(V(0.5), v), _mm256_sub_pd(V(1.0), _mm256_mul_pd(t, t))), V(sqrt_2_over_pi));
    __m256d q = _mm256_add_pd(V(1.0), _mm256_mul_pd(_mm256_mul_pd(V(3 * GELU_C), v), v));
    d = _mm256_add_pd(a, _mm256_mul_pd(b, q));
  } else {
    __m256d a = _mm256_mul_pd(V(0.5), _mm256_add_pd(V(1.0), erf4(_mm256_mul_pd(v, V(inv_sqrt2)))));
    __m256d e = exp4(_mm256_mul_pd(_mm256_mul_pd(V(-0.5), v), v));
    d = _mm256_add_pd(a, _mm256_mul_pd(_mm256_mul_pd(v, V(inv_sqrt_2pi)), e));
  }
  return _mm256_mul_pd(g, d);
}

/* n elements, 4 at a time; a tail of < 4 goes through the same lanes (padded with zeros). */
AVX2 static void gelu_avx2(const float *g, const float *x, float *y, long n, int tanh_form) {
  long i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
    __m256d r = g ? gelu_bwd4(_mm256_cvtps_pd(_mm_loadu_ps(g + i)), v, tanh_form) : gelu4(v, tanh_form);
    _mm_storeu_ps(y + i, _mm256_cvtpd_ps(r));
  }
  if (i < n) {
    float xt[4] = {0}, gt[4] = {0}, yt[4];
    for (long k = 0; k < n - i; k++) xt[k] = x[i + k], gt[k] = g ? g[i + k] : 0;
    __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(xt));
    __m256d r = g ? gelu_bwd4(_mm256_cvtps_pd(_mm_loadu_ps(gt)), v, tanh_form) : gelu4(v, tanh_form);
    _mm_storeu_ps(yt, _mm256_cvtpd_ps(r));
    for (long k = 0; k < n - i; k++) y[i + k] = yt[k];
  }
}
#endif

typedef struct {
  const float *g, *x;
  float *y;
  long n;
  int tanh_form;
} gelu_ctx;

static void gelu_task(void *p, int task, int thread) {
  (void)thread;
  const gelu_ctx *cx = p;
  long i0 = (long)task * CHUNK, n = cx->n - i0 < CHUNK ? cx->n - i0 : CHUNK;
  const float *g = cx->g ? cx->g + i0 : NULL, *x = cx->x + i0;
  float *y = cx->y + i0;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) {
    gelu_avx2(g, x, y, n, cx->tanh_form);
    return;
  }
#endif
  if (g) {
    for (long i = 0; i < n; i++) y[i] = gelu_bwd1(g[i], x[i], cx->tanh_form);
  } else {
    for (long i = 0; i < n; i++) y[i] = gelu1(x[i], cx->tanh_form);
  }
}

static void gelu_run(const float *g, const float *x, float *y, long n, int tanh_form) {
  if (n <= 0) return;
  gelu_ctx cx = {g, x, y, n, tanh_form};
  qat_parallel((int)((n + CHUNK - 1) / CHUNK), n >= PARALLEL_MIN ? qat_threads : 1, gelu_task, &cx);
}

void qat_gelu(const float *x, float *y, long n, int tanh_form) { gelu_run(NULL, x, y, n, tanh_form); }

void qat_gelu_bwd(const float *g, const float *x, float *dx, long n, int tanh_form) { gelu_run(g, x, dx, n, tanh_form); }

/* ---- LayerNorm ---- */

#if QAT_X86
/* Σ x (sq 0) or Σ (x − mu)² (sq 1) over n floats, four float64 lanes. */
AVX2 static double row_sum_avx2(const float *x, long n, double mu, int sq) {
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), m = V(mu);
  long j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(x + j)), b = _mm256_cvtps_pd(_mm_loadu_ps(x + j + 4));
    if (sq) {
      a = _mm256_sub_pd(a, m), b = _mm256_sub_pd(b, m);
      a = _mm256_mul_pd(a, a), b = _mm256_mul_pd(b, b);
    }
    s0 = _mm256_add_pd(s0, a), s1 = _mm256_add_pd(s1, b);
  }
  double l[4];
  _mm256_storeu_pd(l, _mm256_add_pd(s0, s1));
  double s = (l[0] + l[1]) + (l[2] + l[3]);
  for (; j < n; j++) {
    double c = sq ? x[j] - mu : x[j];
    s += sq ? c * c : c;
  }
  return s;
}

AVX2 static void row_out_avx2(const float *x, const float *w, const float *b, float *y, long n, double mu, double rs) {
  __m256d m = V(mu), r = V(rs);
  long j = 0;
  for (; j + 4 <= n; j += 4) {
    __m256d o = _mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j)), m), r);
    if (w) o = _mm256_mul_pd(o, _mm256_cvtps_pd(_mm_loadu_ps(w + j)));
    if (b) o = _mm256_add_pd(o, _mm256_cvtps_pd(_mm_loadu_ps(b + j)));
    _mm_storeu_ps(y + j, _mm256_cvtpd_ps(o));
  }
  for (; j < n; j++) {
    double o = (x[j] - mu) * rs;
    if (w) o *= w[j];
    if (b) o += b[j];
    y[j] = (float)o;
  }
}
#endif

typedef struct {
  const float *x, *w, *b, *g;
  float *y, *dw, *db;
  double *mean, *rstd;
  const double *cmean, *crstd;
  long rows, n;
  double eps;
} ln_ctx;

static void ln_fwd_task(void *p, int task, int thread) {
  (void)thread;
  const ln_ctx *cx = p;
  long n = cx->n, r0 = (long)task * ROWS_PER_TASK, r1 = r0 + ROWS_PER_TASK < cx->rows ? r0 + ROWS_PER_TASK : cx->rows;
  int avx2 = 0;
#if QAT_X86
  avx2 = qat_isa() >= QAT_ISA_AVX2;
#endif
  for (long r = r0; r < r1; r++) {
    const float *x = cx->x + r * n;
    float *y = cx->y + r * n;
    double s = 0, v = 0, mu, rs;
#if QAT_X86
    if (avx2) {
      mu = row_sum_avx2(x, n, 0, 0) / n;
      rs = 1 / sqrt(row_sum_avx2(x, n, mu, 1) / n + cx->eps);
      row_out_avx2(x, cx->w, cx->b, y, n, mu, rs);
      cx->mean[r] = mu, cx->rstd[r] = rs;
      continue;
    }
#endif
    (void)avx2;
    for (long j = 0; j < n; j++) s += x[j];
    mu = s / n;
    for (long j = 0; j < n; j++) {
      double c = x[j] - mu;
      v += c * c;
    }
    rs = 1 / sqrt(v / n + cx->eps);
    cx->mean[r] = mu, cx->rstd[r] = rs;
    for (long j = 0; j < n; j++) {
      double o = (x[j] - mu) * rs;
      if (cx->w) o *= cx->w[j];
      if (cx->b) o += cx->b[j];
      y[j] = (float)o;
    }
  }
}

void qat_layernorm(const float *x, const float *w, const float *b, float *y, double *mean, double *rstd, long rows, long n,
                   double eps) {
  if (rows <= 0 || n <= 0) return;
  ln_ctx cx = {.x = x, .w = w, .b = b, .y = y, .mean = mean, .rstd = rstd, .rows = rows, .n = n, .eps = eps};
  qat_parallel((int)((rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK), rows * n >= PARALLEL_MIN ? qat_threads : 1, ln_fwd_task, &cx);
}

#if QAT_X86
/* dx of one row: rs·(ĝ − mean ĝ − x̂·mean(ĝ·x̂)), ĝ = g·w, x̂ = (x − mu)·rs. */
AVX2 static void row_dx_avx2(const float *g, const float *x, const float *w, float *dx, long n, double mu, double rs) {
  __m256d m = V(mu), r = V(rs), sg = _mm256_setzero_pd(), sgx = _mm256_setzero_pd();
  long j = 0;
  for (; j + 4 <= n; j += 4) {
    __m256d xh = _mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j)), m), r);
    __m256d gh = _mm256_cvtps_pd(_mm_loadu_ps(g + j));
    if (w) gh = _mm256_mul_pd(gh, _mm256_cvtps_pd(_mm_loadu_ps(w + j)));
    sg = _mm256_add_pd(sg, gh);
    sgx = _mm256_add_pd(sgx, _mm256_mul_pd(gh, xh));
  }
  double a[4], c[4];
  _mm256_storeu_pd(a, sg);
  _mm256_storeu_pd(c, sgx);
  double s1 = (a[0] + a[1]) + (a[2] + a[3]), s2 = (c[0] + c[1]) + (c[2] + c[3]);
  for (long k = j; k < n; k++) {
    double xh = (x[k] - mu) * rs, gh = w ? (double)g[k] * w[k] : g[k];
    s1 += gh, s2 += gh * xh;
  }
  s1 /= n, s2 /= n;
  __m256d v1 = V(s1), v2 = V(s2);
  for (j = 0; j + 4 <= n; j += 4) {
    __m256d xh = _mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + j)), m), r);
    __m256d gh = _mm256_cvtps_pd(_mm_loadu_ps(g + j));
    if (w) gh = _mm256_mul_pd(gh, _mm256_cvtps_pd(_mm_loadu_ps(w + j)));
    __m256d d = _mm256_mul_pd(r, _mm256_sub_pd(_mm256_sub_pd(gh, v1), _mm256_mul_pd(xh, v2)));
    _mm_storeu_ps(dx + j, _mm256_cvtpd_ps(d));
  }
  for (; j < n; j++) {
    double xh = (x[j] - mu) * rs, gh = w ? (double)g[j] * w[j] : g[j];
    dx[j] = (float)(rs * (gh - s1 - xh * s2));
  }
}

/* dw, db for columns [j0, j0 + 4): sums over rows in order, four float64 lanes. */
AVX2 static void cols_dwdb_avx2(const ln_ctx *cx, long j0) {
  long n = cx->n;
  __m256d sw = _mm256_setzero_pd(), sb = _mm256_setzero_pd();
  for (long r = 0; r < cx->rows; r++) {
    __m256d xh = _mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(cx->x + r * n + j0)), V(cx->cmean[r])), V(cx->crstd[r]));
    __m256d g = _mm256_cvtps_pd(_mm_loadu_ps(cx->g + r * n + j0));
    sw = _mm256_add_pd(sw, _mm256_mul_pd(g, xh));
    sb = _mm256_add_pd(sb, g);
  }
  if (cx->dw) _mm_storeu_ps(cx->dw + j0, _mm256_cvtpd_ps(sw));
  if (cx->db) _mm_storeu_ps(cx->db + j0, _mm256_cvtpd_ps(sb));
}
#endif

static void row_dx_scalar(const float *g, const float *x, const float *w, float *dx, long n, double mu, double rs) {
  double sg = 0, sgx = 0;
  for (long j = 0; j < n; j++) {
    double xh = (x[j] - mu) * rs, gh = w ? (double)g[j] * w[j] : g[j];
    sg += gh, sgx += gh * xh;
  }
  sg /= n, sgx /= n;
  for (long j = 0; j < n; j++) {
    double xh = (x[j] - mu) * rs, gh = w ? (double)g[j] * w[j] : g[j];
    dx[j] = (float)(rs * (gh - sg - xh * sgx));
  }
}

static void ln_dx_task(void *p, int task, int thread) {
  (void)thread;
  const ln_ctx *cx = p;
  long n = cx->n, r0 = (long)task * ROWS_PER_TASK, r1 = r0 + ROWS_PER_TASK < cx->rows ? r0 + ROWS_PER_TASK : cx->rows;
  void (*row)(const float *, const float *, const float *, float *, long, double, double) = row_dx_scalar;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) row = row_dx_avx2;
#endif
  for (long r = r0; r < r1; r++) row(cx->g + r * n, cx->x + r * n, cx->w, cx->y + r * n, n, cx->cmean[r], cx->crstd[r]);
}

static void ln_dwdb_task(void *p, int task, int thread) {
  (void)thread;
  const ln_ctx *cx = p;
  long n = cx->n, j0 = (long)task * COLS_PER_TASK, j1 = j0 + COLS_PER_TASK < n ? j0 + COLS_PER_TASK : n, j = j0;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2)
    for (; j + 4 <= j1; j += 4) cols_dwdb_avx2(cx, j);
#endif
  for (; j < j1; j++) {
    double sw = 0, sb = 0;
    for (long r = 0; r < cx->rows; r++) {
      double g = cx->g[r * n + j];
      sw += g * ((cx->x[r * n + j] - cx->cmean[r]) * cx->crstd[r]);
      sb += g;
    }
    if (cx->dw) cx->dw[j] = (float)sw;
    if (cx->db) cx->db[j] = (float)sb;
  }
}

void qat_layernorm_bwd(const float *g, const float *x, const float *w, const double *mean, const double *rstd, float *dx,
                       float *dw, float *db, long rows, long n) {
  if (n <= 0) return;
  ln_ctx cx = {.x = x, .w = w, .g = g, .y = dx, .dw = dw, .db = db, .cmean = mean, .crstd = rstd, .rows = rows, .n = n};
  int threads = rows * n >= PARALLEL_MIN ? qat_threads : 1;
  if (dx && rows > 0) qat_parallel((int)((rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK), threads, ln_dx_task, &cx);
  if (dw || db) qat_parallel((int)((n + COLS_PER_TASK - 1) / COLS_PER_TASK), threads, ln_dwdb_task, &cx);
}

/* ---- softmax / log-softmax backward (attention's softmax; Kernels.softmaxBackward) ----
 * softmax: dx = y·(g − Σ g·y); log-softmax: dx = g − exp(y)·Σ g; the row sum in float64 (four
 * lanes on AVX2), each dx in float64 as the reference, exp(y) by exp4 on AVX2, libm otherwise. */

typedef struct {
  const float *y, *g;
  float *dx;
  long rows, n;
  int log;
} smb_ctx;

static void smb_row_scalar(const float *y, const float *g, float *dx, long n, int log) {
  double s = 0;
  if (log) {
    for (long j = 0; j < n; j++) s += g[j];
    for (long j = 0; j < n; j++) dx[j] = (float)(g[j] - exp((double)y[j]) * s);
  } else {
    for (long j = 0; j < n; j++) s += (double)g[j] * y[j];
    for (long j = 0; j < n; j++) dx[j] = (float)(y[j] * (g[j] - s));
  }
}

#if QAT_X86
AVX2 static void smb_row_avx2(const float *y, const float *g, float *dx, long n, int log) {
  __m256d acc = _mm256_setzero_pd();
  long j = 0;
  for (; j + 4 <= n; j += 4) {
    __m256d gv = _mm256_cvtps_pd(_mm_loadu_ps(g + j));
    acc = _mm256_add_pd(acc, log ? gv : _mm256_mul_pd(gv, _mm256_cvtps_pd(_mm_loadu_ps(y + j))));
  }
  double l[4];
  _mm256_storeu_pd(l, acc);
  double s = (l[0] + l[1]) + (l[2] + l[3]);
  for (long k = j; k < n; k++) s += log ? (double)g[k] : (double)g[k] * y[k];
  __m256d sv = V(s);
  for (j = 0; j + 4 <= n; j += 4) {
    __m256d gv = _mm256_cvtps_pd(_mm_loadu_ps(g + j)), yv = _mm256_cvtps_pd(_mm_loadu_ps(y + j));
    __m256d d = log ? _mm256_sub_pd(gv, _mm256_mul_pd(exp4(yv), sv)) : _mm256_mul_pd(yv, _mm256_sub_pd(gv, sv));
    _mm_storeu_ps(dx + j, _mm256_cvtpd_ps(d));
  }
  for (; j < n; j++) dx[j] = (float)(log ? g[j] - exp((double)y[j]) * s : y[j] * (g[j] - s));
}
#endif

static void smb_task(void *p, int task, int thread) {
  (void)thread;
  const smb_ctx *cx = p;
  long n = cx->n, r0 = (long)task * ROWS_PER_TASK * 4, r1 = r0 + ROWS_PER_TASK * 4 < cx->rows ? r0 + ROWS_PER_TASK * 4 : cx->rows;
  void (*row)(const float *, const float *, float *, long, int) = smb_row_scalar;
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) row = smb_row_avx2;
#endif
  for (long r = r0; r < r1; r++) row(cx->y + r * n, cx->g + r * n, cx->dx + r * n, n, cx->log);
}

void qat_softmax_bwd(const float *y, const float *g, float *dx, long rows, long n, int log) {
  if (rows <= 0 || n <= 0) return;
  smb_ctx cx = {y, g, dx, rows, n, log};
  long per = ROWS_PER_TASK * 4;
  qat_parallel((int)((rows + per - 1) / per), rows * n >= PARALLEL_MIN ? qat_threads : 1, smb_task, &cx);
}
