/*
 * Node-API functions of the int8 engine's native kernels (int8.c): weight packing, conv and
 * linear with the requantization, the max pool and residual add (int8-elem.c), and the raw int
 * GEMM for benchmarks. Registered on the
 * addon's exports by binding.c; helpers in binding.h.
 */
#include "binding.h"
#include "int8.h"

static napi_value js_qpack_words(napi_env env, napi_callback_info info) {
  BEGIN("qpackWords", 2);
  int oc = i32(&c, 0), k = i32(&c, 1);
  if (c.failed) return NULL;
  return num(env, (double)qat_qpack_words(oc, k));
}

/* qpackWeights(w: Int8Array, oc, k, wZp: Int32Array | null, out: Int32Array) */
static napi_value js_qpack_weights(napi_env env, napi_callback_info info) {
  BEGIN("qpackWeights", 5);
  const int8_t *w = arr(&c, 0, napi_int8_array, 0);
  int oc = i32(&c, 1), k = i32(&c, 2);
  const int32_t *zp = arr(&c, 3, napi_int32_array, 1);
  int32_t *out = I32A(4);
  size_t zlen = 0;
  if (zp) napi_get_typedarray_info(env, c.argv[3], NULL, &zlen, NULL, NULL, NULL);
  if (c.failed) return NULL;
  LOCKED(qat_qpack_weights(w, oc, k, zp, (int)zlen, out));
  return undef(env);
}

/* The requantization arguments at i..i+3: bias?, multiplier, shift, ints [perChannel, yZp, lo, hi, ySigned]. */
static int requant_args(call_t *c, int i, qat_requant *rq) {
  rq->bias = arr(c, i, napi_int32_array, 1);
  rq->mult = arr(c, i + 1, napi_int32_array, 0);
  rq->shift = arr(c, i + 2, napi_int32_array, 0);
  const int32_t *v = arr(c, i + 3, napi_int32_array, 0);
  if (c->failed) return 0;
  rq->per_channel = v[0];
  rq->yzp = v[1];
  rq->lo = v[2];
  rq->hi = v[3];
  rq->y_signed = v[4];
  return 1;
}

/* qconv2d(x, xZp, wPacked, geom, bias?, multiplier, shift, ints, y); qconv2dPool2: the same, then a fused 2×2 max pool */
static napi_value qconv(napi_env env, napi_callback_info info, const char *name, int pool2) {
  BEGIN(name, 9);
  int xu = 0, yu = 0;
  const void *x = q8(&c, 0, &xu);
  int xzp = i32(&c, 1);
  const int32_t *w = I32A(2);
  qat_conv_geom g;
  qat_requant rq;
  if (!conv_geom(&c, 3, &g) || !requant_args(&c, 4, &rq)) return NULL;
  void *y = q8(&c, 8, &yu);
  if (c.failed) return NULL;
  LOCKED(qat_qconv2d(x, xu, xzp, w, &g, &rq, y, pool2));
  return undef(env);
}

static napi_value js_qconv2d(napi_env env, napi_callback_info info) { return qconv(env, info, "qconv2d", 0); }
static napi_value js_qconv2d_pool2(napi_env env, napi_callback_info info) { return qconv(env, info, "qconv2dPool2", 1); }

/* qlinear(x, xZp, m, k, wPacked, n, bias?, multiplier, shift, ints, y) */
static napi_value js_qlinear(napi_env env, napi_callback_info info) {
  BEGIN("qlinear", 11);
  int xu = 0, yu = 0;
  const void *x = q8(&c, 0, &xu);
  int xzp = i32(&c, 1), m = i32(&c, 2), k = i32(&c, 3);
  const int32_t *w = I32A(4);
  int n = i32(&c, 5);
  qat_requant rq;
  if (!requant_args(&c, 6, &rq)) return NULL;
  void *y = q8(&c, 10, &yu);
  if (c.failed) return NULL;
  LOCKED(qat_qlinear(x, xu, xzp, m, k, w, n, &rq, y));
  return undef(env);
}

/* qmaxPool2d8(x, y, geom [planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow]): dilation 1, padding ≤ kernel/2 */
static napi_value js_qmaxpool2d(napi_env env, napi_callback_info info) {
  BEGIN("qmaxPool2d8", 3);
  int xu = 0, yu = 0;
  const void *x = q8(&c, 0, &xu);
  void *y = q8(&c, 1, &yu);
  const int32_t *g = I32A(2);
  if (c.failed) return NULL;
  int ok = 0;
  LOCKED(ok = qat_qmaxpool2d(x, xu, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], y));
  if (!ok) {
    napi_throw_range_error(env, NULL, "qat-native qmaxPool2d8: a padded row is too wide");
    return NULL;
  }
  return undef(env);
}

/* The ints [m0, shift, yZp, lo, hi, ySigned] of a per-tensor requantization. */
static void requant_ints(const int32_t *v, qat_requant *rq) {
  rq->bias = NULL;
  rq->mult = v;
  rq->shift = v + 1;
  rq->per_channel = 0;
  rq->yzp = v[2];
  rq->lo = v[3];
  rq->hi = v[4];
  rq->y_signed = v[5];
}

/* qadd(a, aZp, b, bZp, mults [aM0, aShift, bM0, bShift], leftShift, out ints, post ints + [xZp] | null, y, n) */
static napi_value js_qadd(napi_env env, napi_callback_info info) {
  BEGIN("qadd", 10);
  int au = 0, bu = 0, yu = 0;
  const void *a = q8(&c, 0, &au);
  int azp = i32(&c, 1);
  const void *b = q8(&c, 2, &bu);
  int bzp = i32(&c, 3);
  const int32_t *mults = I32A(4);
  int ls = i32(&c, 5);
  const int32_t *o = I32A(6);
  const int32_t *p = arr(&c, 7, napi_int32_array, 1);
  void *y = q8(&c, 8, &yu);
  double n = f64(&c, 9);
  if (c.failed) return NULL;
  qat_requant out, post;
  requant_ints(o, &out);
  if (p) requant_ints(p, &post);
  LOCKED(qat_qadd(a, au, azp, b, bu, bzp, mults, ls, &out, p ? &post : NULL, p ? p[6] : 0, y, (long)n));
  return undef(env);
}

/* igemmBench(m, n, k, wPacked, bPanels, c): one thread, raw int16-pair GEMM (benchmarks) */
static napi_value js_igemm_bench(napi_env env, napi_callback_info info) {
  BEGIN("igemmBench", 6);
  int m = i32(&c, 0), n = i32(&c, 1), k = i32(&c, 2);
  const int32_t *a = I32A(3), *b = I32A(4);
  int32_t *out = I32A(5);
  if (c.failed) return NULL;
  int rc;
  LOCKED(rc = qat_igemm_bench(m, n, k, a, b, out));
  if (rc != 0) {
    napi_throw_error(env, NULL, "qat-native igemmBench: out of memory for the rounded-up output rows");
    return NULL;
  }
  return undef(env);
}

void qat_define_int8(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"qpackWords", NULL, js_qpack_words, NULL, NULL, NULL, napi_default, NULL},
      {"qpackWeights", NULL, js_qpack_weights, NULL, NULL, NULL, napi_default, NULL},
      {"qconv2d", NULL, js_qconv2d, NULL, NULL, NULL, napi_default, NULL},
      {"qconv2dPool2", NULL, js_qconv2d_pool2, NULL, NULL, NULL, napi_default, NULL},
      {"qlinear", NULL, js_qlinear, NULL, NULL, NULL, napi_default, NULL},
      {"qmaxPool2d8", NULL, js_qmaxpool2d, NULL, NULL, NULL, napi_default, NULL},
      {"qadd", NULL, js_qadd, NULL, NULL, NULL, napi_default, NULL},
      {"igemmBench", NULL, js_igemm_bench, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
