/*
 * Int8Model's compiled run on the native int8 kernels (see int8-plan.h): a plan checks its
 * spec once — buffer indices, every step's geometry against the buffers it reads and writes,
 * parameter offsets — copies the small int32 parameters, allocates the intermediate buffers,
 * and then runs quantize → the layers (qat_qconv2d, qat_qlinear, qat_qmaxpool2d, qat_qadd:
 * the same kernels, with the same arguments, as the layer-by-layer path) → dequantize with no
 * JavaScript in between. Quantize / dequantize are src/int8/kernels/quantize.ts's arithmetic
 * (float32 division, round half to even, clamp; float32 product), AVX2 where present.
 * Called by binding-int8-plan.c.
 */
#include "int8-plan.h"

#include "int8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if QAT_X86
#include <immintrin.h>
#endif

#define BAD(...)                           \
  do {                                     \
    snprintf(err, errlen, __VA_ARGS__);    \
    return 0;                              \
  } while (0)

static void *zalloc(qp_plan *p, size_t bytes);

static int buf_ok(const qp_plan *p, int b) { return b >= 0 && b < p->nbufs; }

/* The parameters of one conv / linear requantization: offsets inside params, channels ≥ 1. */
static int requant_spec(qp_plan *p, qp_step *s, const int32_t *v, long params_len, char *err, size_t errlen) {
  int per = v[24], ch = v[31];
  long bias = v[28], mult = v[29], shift = v[30], nm = per ? ch : 1;
  if (ch < 1 || (per != 0 && per != 1)) BAD("a requantization needs ≥ 1 channel");
  if ((bias != -1 && (bias < 0 || bias + ch > params_len)) || mult < 0 || mult + nm > params_len || shift < 0 || shift + nm > params_len)
    BAD("a requantization's parameters lie outside the parameter array");
  for (long i = 0; i < nm; i++) {
    int sh = p->params[shift + i];
    if (p->params[mult + i] < 0 || sh < -31 || sh > 30) BAD("a requantization multiplier or shift is out of range");
  }
  s->rq.bias = bias == -1 ? NULL : p->params + bias;
  s->rq.mult = p->params + mult;
  s->rq.shift = p->params + shift;
  s->rq.per_channel = per;
  s->rq.yzp = v[25];
  s->rq.lo = v[26];
  s->rq.hi = v[27];
  s->rq.y_signed = !p->buf_unsigned[s->out];
  int lo = s->rq.y_signed ? -128 : 0, hi = s->rq.y_signed ? 127 : 255;
  if (s->rq.lo < lo || s->rq.hi > hi || s->rq.lo > s->rq.hi || s->rq.yzp < lo || s->rq.yzp > hi) BAD("a requantization's clamp or zero point is outside the output dtype");
  return 1;
}

static int zp_ok(int zp, int is_unsigned) { return is_unsigned ? zp >= 0 && zp <= 255 : zp >= -128 && zp <= 127; }

/* The linear step's int8 rows for qp_linear_u8s8, padded to a multiple of 4 rows of ⌈k/32⌉·32 bytes, and their sums. */
static int linear_bytes(qp_plan *p, qp_step *s, const int8_t *w, long len, char *err, size_t errlen) {
  long kp = ((long)s->k + 31) / 32 * 32, rows = ((long)s->n + 3) / 4 * 4;
  if (len < (long)s->n * s->k) BAD("a linear step's int8 weights are shorter than n·k");
  if (kp > p->xpad_len) {
    free(p->xpad);
    p->xpad_len = 0;
    if (!(p->xpad = zalloc(p, (size_t)kp))) BAD("out of memory");
    p->xpad_len = kp;
  }
  if (!(s->w8 = zalloc(p, (size_t)(rows * kp))) || !(s->wsum = zalloc(p, (size_t)rows * sizeof(int32_t)))) BAD("out of memory");
  for (long o = 0; o < s->n; o++) {
    int32_t sum = 0;
    for (long i = 0; i < s->k; i++) sum += (s->w8[o * kp + i] = w[o * s->k + i]);
    s->wsum[o] = sum;
  }
  return 1;
}

static int step_spec(qp_plan *p, qp_step *s, const int32_t *v, long params_len, const int8_t *const *bytes, const long *bytes_len,
                     int nbytes, char *err, size_t errlen) {
  s->op = v[0];
  s->in = v[1];
  s->in2 = v[2];
  s->out = v[3];
  s->weight = v[4];
  s->xzp = v[5];
  if (!buf_ok(p, s->in) || !buf_ok(p, s->out) || s->out == s->in) BAD("a step's buffers are out of range");
  if (!zp_ok(s->xzp, p->buf_unsigned[s->in])) BAD("a step's input zero point is outside its dtype");
  long in_len = p->buf_len[s->in], out_len = p->buf_len[s->out];
  if (s->op == QP_CONV || s->op == QP_LINEAR) {
    if (s->weight < 0 || s->weight >= p->nweights) BAD("a step's weight index is out of range");
    if (!requant_spec(p, s, v, params_len, err, errlen)) return 0;
  }
  switch (s->op) {
    case QP_CONV: {
      memcpy(&s->g, v + 6, sizeof s->g);
      s->pool2 = v[22];
      const qat_conv_geom *g = &s->g;
      if (g->n < 1 || g->c < 1 || g->h < 1 || g->w < 1 || g->oc < 1 || g->kh < 1 || g->kw < 1 || g->sh < 1 || g->sw < 1 || g->dh < 1 ||
          g->dw < 1 || g->ph < 0 || g->pw < 0 || g->groups != 1 || (s->pool2 != 0 && s->pool2 != 1))
        BAD("a conv step's geometry is invalid");
      long oh = ((long)g->h + 2L * g->ph - (long)g->dh * (g->kh - 1) - 1) / g->sh + 1;
      long ow = ((long)g->w + 2L * g->pw - (long)g->dw * (g->kw - 1) - 1) / g->sw + 1;
      if ((long)g->h + 2L * g->ph - (long)g->dh * (g->kh - 1) - 1 < 0 || (long)g->w + 2L * g->pw - (long)g->dw * (g->kw - 1) - 1 < 0 ||
          oh != g->oh || ow != g->ow)
        BAD("a conv step's output size is not its geometry's");
      if ((long)g->c * g->kh * g->kw > (1L << 30)) BAD("a conv step's kernel is too large");
      if (s->pool2 && (g->oh < 2 || g->ow < 2)) BAD("a fused pool needs a conv output of at least 2×2");
      long want_out = (long)g->n * g->oc * (s->pool2 ? (long)(g->oh >> 1) * (g->ow >> 1) : (long)g->oh * g->ow);
      if ((long)g->n * g->c * g->h * g->w > in_len || want_out > out_len) BAD("a conv step's buffers are too small");
      if (s->rq.per_channel && v[31] < g->oc) BAD("a conv step has fewer channels of requantization than outputs");
      if (v[28] != -1 && v[31] < g->oc) BAD("a conv step's bias is shorter than its outputs");
      s->wwords = (long)qat_qpack_words(g->oc, g->c * g->kh * g->kw);
      break;
    }
    case QP_LINEAR:
      s->m = v[6];
      s->k = v[7];
      s->n = v[8];
      if (s->m < 1 || s->k < 1 || s->n < 1) BAD("a linear step's sizes are invalid");
      if ((long)s->m * s->k > in_len || (long)s->m * s->n > out_len) BAD("a linear step's buffers are too small");
      if ((s->rq.per_channel || v[28] != -1) && v[31] < s->n) BAD("a linear step has fewer channels of parameters than outputs");
      s->wwords = (long)qat_qpack_words(s->n, s->k);
      if (v[9] != -1) {
        if (v[9] < 0 || v[9] >= nbytes || s->m > QGEMV_MAX_ROWS || !p->buf_unsigned[s->in]) BAD("a linear step's int8 weights are invalid here");
        if (!linear_bytes(p, s, bytes[v[9]], bytes_len[v[9]], err, errlen)) return 0;
      }
      break;
    case QP_MAXPOOL: {
      memcpy(s->pool, v + 6, sizeof s->pool);
      const int *q = s->pool; /* planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow */
      for (int i = 0; i < 11; i++)
        if (q[i] < (i == 7 || i == 8 ? 0 : 1)) BAD("a max pool step's geometry is invalid");
      if (p->buf_unsigned[s->in] != p->buf_unsigned[s->out]) BAD("a max pool step's input and output dtypes differ");
      if (2 * q[7] > q[3] || 2 * q[8] > q[4] || (long)(q[9] - 1) * q[5] + q[3] > (long)q[1] + 2 * q[7] ||
          (long)(q[10] - 1) * q[6] + q[4] > (long)q[2] + 2 * q[8])
        BAD("a max pool step's windows do not fit");
      if ((long)q[0] * q[1] * q[2] > in_len || (long)q[0] * q[9] * q[10] > out_len) BAD("a max pool step's buffers are too small");
      break;
    }
    case QP_ADD: {
      s->bzp = v[6];
      memcpy(s->mults, v + 7, sizeof s->mults);
      s->left_shift = v[11];
      s->len = v[12];
      s->has_post = v[13];
      s->post_xzp = v[14];
      int add_signed = v[15];
      if (!buf_ok(p, s->in2) || s->in2 == s->out) BAD("an add step's buffers are out of range");
      if (!zp_ok(s->bzp, p->buf_unsigned[s->in2])) BAD("an add step's zero point is outside its dtype");
      if (s->len < 1 || s->len > in_len || s->len > p->buf_len[s->in2] || s->len > out_len) BAD("an add step's buffers are too small");
      if (s->left_shift < 0 || s->left_shift > 22 || (s->has_post != 0 && s->has_post != 1) || (add_signed != 0 && add_signed != 1))
        BAD("an add step's parameters are invalid");
      for (int i = 0; i < 4; i += 2)
        if (s->mults[i] < 0 || s->mults[i + 1] < -31 || s->mults[i + 1] > 30) BAD("an add step's multipliers are out of range");
      memcpy(s->add_ints, v + 24, sizeof s->add_ints);
      qat_requant *r[2] = {&s->rq, &s->post};
      for (int j = 0; j < 2; j++) {
        const int32_t *a = s->add_ints + 5 * j;
        int sg = j == 0 ? add_signed : !p->buf_unsigned[s->out];
        *r[j] = (qat_requant){NULL, a, a + 1, 0, a[2], a[3], a[4], sg};
        if (j == 1 && !s->has_post) break;
        int lo = sg ? -128 : 0, hi = sg ? 127 : 255;
        if (a[0] < 0 || a[1] < -31 || a[1] > 30 || a[2] < lo || a[2] > hi || a[3] < lo || a[4] > hi || a[3] > a[4]) BAD("an add step's requantization is out of range");
      }
      if (!s->has_post && add_signed == p->buf_unsigned[s->out]) BAD("an add step's output dtype is not its buffer's");
      if (s->has_post && !zp_ok(s->post_xzp, !add_signed)) BAD("an add step's post zero point is outside its dtype");
      break;
    }
    default:
      BAD("unknown step %d", s->op);
  }
  if (s->op == QP_CONV || s->op == QP_LINEAR)
    if (s->wwords > p->wwords[s->weight]) p->wwords[s->weight] = s->wwords;
  return 1;
}

static void *zalloc(qp_plan *p, size_t bytes) {
  bytes = (bytes + 63) & ~(size_t)63;
  void *m = aligned_alloc(64, bytes ? bytes : 64);
  if (m) {
    memset(m, 0, bytes ? bytes : 64);
    p->bytes += bytes;
  }
  return m;
}

qp_plan *qp_plan_new(const int32_t *head, const int32_t *bufs, long bufs_len, const int32_t *steps, long steps_len,
                     const int32_t *params, long params_len, const float *scales, const int8_t *const *bytes, const long *bytes_len,
                     int nbytes, char *err, size_t errlen) {
  qp_plan *p = calloc(1, sizeof *p);
  if (!p) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  p->nbufs = head[0];
  p->nsteps = head[1];
  p->nweights = head[2];
  p->in_zp = head[3];
  p->in_qmin = head[4];
  p->in_qmax = head[5];
  p->out_buf = head[6];
  p->out_zp = head[7];
  p->in_scale = scales[0];
  p->out_scale = scales[1];
  int ok = 0;
  if (p->nbufs < 1 || p->nsteps < 0 || p->nweights < 0 || (long)p->nbufs * 2 > bufs_len || (long)p->nsteps * QP_STEP_INTS > steps_len) {
    snprintf(err, errlen, "the spec's counts do not match its arrays");
    goto done;
  }
  if (!(p->in_scale > 0) || !isfinite(p->in_scale) || !(p->out_scale > 0) || !isfinite(p->out_scale)) {
    snprintf(err, errlen, "a scale is not a positive finite float32");
    goto done;
  }
  p->buf = calloc((size_t)p->nbufs, sizeof *p->buf);
  p->buf_len = calloc((size_t)p->nbufs, sizeof *p->buf_len);
  p->buf_unsigned = calloc((size_t)p->nbufs, sizeof *p->buf_unsigned);
  p->steps = calloc((size_t)(p->nsteps ? p->nsteps : 1), sizeof *p->steps);
  p->wwords = calloc((size_t)(p->nweights ? p->nweights : 1), sizeof *p->wwords);
  p->params = malloc((size_t)(params_len ? params_len : 1) * sizeof(int32_t));
  if (!p->buf || !p->buf_len || !p->buf_unsigned || !p->steps || !p->wwords || !p->params) {
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  if (params_len) memcpy(p->params, params, (size_t)params_len * sizeof(int32_t));
  for (int b = 0; b < p->nbufs; b++) {
    p->buf_len[b] = bufs[2 * b];
    p->buf_unsigned[b] = bufs[2 * b + 1] != 0;
    if (p->buf_len[b] < 1) {
      snprintf(err, errlen, "buffer %d is empty", b);
      goto done;
    }
    if (!(p->buf[b] = zalloc(p, (size_t)p->buf_len[b]))) {
      snprintf(err, errlen, "out of memory for a %ld-byte buffer", p->buf_len[b]);
      goto done;
    }
  }
  int lo = p->buf_unsigned[0] ? 0 : -128, hi = p->buf_unsigned[0] ? 255 : 127;
  if (p->in_qmin < lo || p->in_qmax > hi || p->in_qmin >= p->in_qmax || p->in_zp < p->in_qmin || p->in_zp > p->in_qmax) {
    snprintf(err, errlen, "the input's quantization range does not fit its dtype");
    goto done;
  }
  if (!buf_ok(p, p->out_buf) || !zp_ok(p->out_zp, p->buf_unsigned[p->out_buf])) {
    snprintf(err, errlen, "the output buffer or its zero point is invalid");
    goto done;
  }
  for (int i = 0; i < p->nsteps; i++) {
    char why[160];
    if (!step_spec(p, &p->steps[i], steps + (long)i * QP_STEP_INTS, params_len, bytes, bytes_len, nbytes, why, sizeof why)) {
      snprintf(err, errlen, "step %d: %s", i, why);
      goto done;
    }
  }
  ok = 1;
done:
  if (!ok) {
    qp_plan_free(p);
    return NULL;
  }
  return p;
}

void qp_plan_free(qp_plan *p) {
  if (!p) return;
  if (p->buf)
    for (int b = 0; b < p->nbufs; b++) free(p->buf[b]);
  free(p->buf);
  if (p->steps)
    for (int i = 0; i < p->nsteps; i++) free(p->steps[i].w8), free(p->steps[i].wsum);
  free(p->xpad);
  free(p->buf_len);
  free(p->buf_unsigned);
  free(p->steps);
  free(p->wwords);
  free(p->params);
  free(p);
}

static long first_nan(const float *x, long n) {
  for (long i = 0; i < n; i++)
    if (x[i] != x[i]) return i;
  return -1;
}

#if QAT_X86
__attribute__((target("avx2"))) static long quantize_avx2(const float *x, long n, float scale, int zp, int qmin, int qmax, void *q, int qu) {
  const __m256 sv = _mm256_set1_ps(scale), lo = _mm256_set1_ps((float)(qmin - zp)), hi = _mm256_set1_ps((float)(qmax - zp));
  const __m256i zv = _mm256_set1_epi32(zp);
  __m256 nan = _mm256_setzero_ps();
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 a = _mm256_div_ps(_mm256_loadu_ps(x + i), sv);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
    __m256 r = _mm256_min_ps(_mm256_max_ps(_mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), lo), hi);
    __m256i v = _mm256_add_epi32(_mm256_cvtps_epi32(r), zv);
    __m128i h = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    __m128i b = qu ? _mm_packus_epi16(h, h) : _mm_packs_epi16(h, h);
    _mm_storel_epi64((__m128i *)((int8_t *)q + i), b);
  }
  if (_mm256_movemask_ps(nan)) return first_nan(x, n);
  for (; i < n; i++) {
    float v = x[i] / scale;
    if (v != v) return i;
    float r = nearbyintf(v);
    r = r < (float)(qmin - zp) ? (float)(qmin - zp) : r > (float)(qmax - zp) ? (float)(qmax - zp) : r;
    int t = (int)r + zp;
    if (qu) ((uint8_t *)q)[i] = (uint8_t)t;
    else ((int8_t *)q)[i] = (int8_t)t;
  }
  return -1;
}
#endif

long qp_quantize(const float *x, long n, float scale, int zp, int qmin, int qmax, void *q, int qu) {
#if QAT_X86
  if (qat_isa() >= QAT_ISA_AVX2) return quantize_avx2(x, n, scale, zp, qmin, qmax, q, qu);
#endif
  for (long i = 0; i < n; i++) {
    float v = x[i] / scale;
    if (v != v) return i;
    float r = nearbyintf(v); /* the default rounding mode: ties to even */
    r = r < (float)(qmin - zp) ? (float)(qmin - zp) : r > (float)(qmax - zp) ? (float)(qmax - zp) : r;
    int t = (int)r + zp;
    if (qu) ((uint8_t *)q)[i] = (uint8_t)t;
    else ((int8_t *)q)[i] = (int8_t)t;
  }
  return -1;
}

void qp_dequantize(const void *q, int qu, long n, float scale, int zp, float *y) {
  for (long i = 0; i < n; i++) y[i] = (float)(xval(q, qu, i) - zp) * scale;
}

long qp_plan_run(const qp_plan *p, const int32_t *const *weights, const float *x, float *y) {
  long nan = qp_quantize(x, p->buf_len[0], p->in_scale, p->in_zp, p->in_qmin, p->in_qmax, p->buf[0], p->buf_unsigned[0]);
  if (nan >= 0) return nan;
  for (int i = 0; i < p->nsteps; i++) {
    const qp_step *s = &p->steps[i];
    const void *in = p->buf[s->in];
    int iu = p->buf_unsigned[s->in];
    void *out = p->buf[s->out];
    switch (s->op) {
      case QP_CONV:
        qat_qconv2d(in, iu, s->xzp, weights[s->weight], &s->g, &s->rq, out, s->pool2);
        break;
      case QP_LINEAR:
        if (s->w8 && qp_u8_fits7(in, (long)s->m * s->k))
          qp_linear_u8s8(in, s->xzp, s->m, s->k, s->w8, s->wsum, s->n, &s->rq, p->xpad, out);
        else
          qat_qlinear(in, iu, s->xzp, s->m, s->k, weights[s->weight], s->n, &s->rq, out);
        break;
      case QP_MAXPOOL: {
        const int *q = s->pool;
        if (!qat_qmaxpool2d(in, iu, q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], q[10], out)) return -2;
        break;
      }
      case QP_ADD:
        qat_qadd(in, iu, s->xzp, p->buf[s->in2], p->buf_unsigned[s->in2], s->bzp, s->mults, s->left_shift, &s->rq,
                 s->has_post ? &s->post : NULL, s->post_xzp, out, s->len);
        break;
    }
  }
  qp_dequantize(p->buf[p->out_buf], p->buf_unsigned[p->out_buf], p->buf_len[p->out_buf], p->out_scale, p->out_zp, y);
  return -1;
}
