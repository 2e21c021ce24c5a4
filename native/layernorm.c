/*
 * LayerNorm (forward with saved mean / rstd, backward for x, weight, bias) and the softmax /
 * log-softmax backward of the native backend (Kernels layerNorm, layerNormBackward,
 * softmaxBackward; definitions src/backend/ref/transformer.ts and ref/softmax-backward.ts).
 * Float64 per element, as the reference: row sums in four float64 lanes (the reference sums in
 * order: mean and rstd differ from its in the last float64 bits); the weight / bias gradients
 * are summed over rows in order per column, in float64 lanes with no fused multiply-add — the
 * reference's operations, bit for bit when mean and rstd are the same. Fixed pieces of rows or
 * columns per task, so results do not depend on the thread count. Built with -ffp-contract=off.
 * Called by binding-transformer.c.
 */
#include "transformer.h"

#include <math.h>

#include "vexp.h"

#define ROWS_PER_TASK 32  /* rows per task */
#define COLS_PER_TASK 16  /* weight / bias gradient columns per task */
#define PARALLEL_MIN (1L << 16)

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
