/*
 * GELU of the native backend, erf and tanh forms, forward and backward (the Kernels entries
 * gelu, geluBackward; src/backend/ref/transformer.ts is the definition). Every value is
 * computed in float64 from the float32 inputs and rounded once when stored, as the reference.
 *   erf: cubic Hermite interpolation on the reference's 1/512 grid over [0, 6] (knots from the
 *        C library's erf; same expression and order as the reference, so AVX2 lanes — four
 *        float64, each lane's knots loaded as one (y, dh, y′, dh′) row and the rows
 *        transposed — and the portable loop give the reference's value up to its knots).
 *   exp (vexp.h), tanh (AVX2): tanh(u) = ±(1 − 2/(e^{2|u|} + 1)); the portable path calls the
 *        C library.
 * Large inputs are split among threads in fixed 8192-element pieces, so results do not depend
 * on the thread count. Built with -ffp-contract=off (scripts/build-native.mjs). Called by
 * binding-transformer.c. LayerNorm and the softmax backward are in layernorm.c.
 */
#include "transformer.h"

#include <math.h>

#include "vexp.h"

#define ERF_STEPS 512
#define ERF_KNOTS (6 * ERF_STEPS + 2)
#define CHUNK 8192        /* elements per GELU task (a multiple of 4: vector lanes never straddle tasks) */
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
