/*
 * Node-API binding of the native backend: one JS function per kernel, taking typed arrays
 * (any ArrayBuffer or SharedArrayBuffer, used in place) and numbers. Argument checking is
 * the caller's (the TypeScript wrappers in src/backend/native/ validate shapes before calling); this layer only
 * checks each array's element type, throwing a TypeError naming the kernel and argument.
 * Loaded by src/backend/native/addon.ts.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "qat.h"

/*
 * One kernel at a time per process: the thread pool and the per-thread scratch are process
 * globals, and Node may load this addon in several worker_threads that call it concurrently.
 */
static pthread_mutex_t kernel_lock = PTHREAD_MUTEX_INITIALIZER;
#define LOCKED(stmt)                    \
  do {                                  \
    pthread_mutex_lock(&kernel_lock);   \
    stmt;                               \
    pthread_mutex_unlock(&kernel_lock); \
  } while (0)

#define MAX_ARGS 16

typedef struct {
  napi_env env;
  const char *name;
  size_t argc;
  napi_value argv[MAX_ARGS];
  int failed;
} call_t;

static int begin(call_t *c, napi_env env, napi_callback_info info, const char *name, size_t want) {
  c->env = env;
  c->name = name;
  c->argc = MAX_ARGS;
  c->failed = 0;
  if (napi_get_cb_info(env, info, &c->argc, c->argv, NULL, NULL) != napi_ok) return 0;
  if (c->argc < want) {
    char msg[160];
    snprintf(msg, sizeof msg, "qat-native %s: expected %zu arguments, got %zu", name, want, c->argc);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  return 1;
}

static void fail(call_t *c, int i, const char *what) {
  if (c->failed) return;
  char msg[160];
  snprintf(msg, sizeof msg, "qat-native %s: argument %d must be %s", c->name, i, what);
  napi_throw_type_error(c->env, NULL, msg);
  c->failed = 1;
}

/* Data pointer of a typed array of the given type; NULL for null/undefined when optional. */
static void *arr(call_t *c, int i, napi_typedarray_type want, int optional) {
  napi_valuetype vt;
  napi_typeof(c->env, c->argv[i], &vt);
  if (optional && (vt == napi_null || vt == napi_undefined)) return NULL;
  bool is;
  napi_is_typedarray(c->env, c->argv[i], &is);
  napi_typedarray_type type;
  size_t length;
  void *data = NULL;
  if (is && napi_get_typedarray_info(c->env, c->argv[i], &type, &length, &data, NULL, NULL) == napi_ok &&
      type == want)
    return data;
  fail(c, i, want == napi_float32_array ? "a Float32Array" : want == napi_int32_array ? "an Int32Array" : want == napi_int8_array ? "an Int8Array" : "a typed array");
  return NULL;
}

/* Data pointer of an Int8Array or Uint8Array; *is_unsigned says which. */
static void *q8(call_t *c, int i, int *is_unsigned) {
  bool is;
  napi_is_typedarray(c->env, c->argv[i], &is);
  napi_typedarray_type type;
  size_t length;
  void *data = NULL;
  if (is && napi_get_typedarray_info(c->env, c->argv[i], &type, &length, &data, NULL, NULL) == napi_ok &&
      (type == napi_int8_array || type == napi_uint8_array)) {
    *is_unsigned = type == napi_uint8_array;
    return data;
  }
  fail(c, i, "an Int8Array or a Uint8Array");
  return NULL;
}

static int i32(call_t *c, int i) {
  int32_t v = 0;
  if (napi_get_value_int32(c->env, c->argv[i], &v) != napi_ok) fail(c, i, "a number");
  return v;
}

static double f64(call_t *c, int i) {
  double v = 0;
  if (napi_get_value_double(c->env, c->argv[i], &v) != napi_ok) fail(c, i, "a number");
  return v;
}

static napi_value undef(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

#define F32(i) ((float *)arr(&c, i, napi_float32_array, 0))
#define F32_OPT(i) ((float *)arr(&c, i, napi_float32_array, 1))
#define I32A(i) ((int32_t *)arr(&c, i, napi_int32_array, 0))
#define BEGIN(name, n) \
  call_t c; \
  if (!begin(&c, env, info, name, n)) return NULL

static napi_value js_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_string_utf8(env, qat_isa_name(qat_isa()), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "isa", v);
  napi_set_named_property(env, o, "threads", num(env, qat_threads));
  napi_set_named_property(env, o, "maxThreads", num(env, QAT_MAX_THREADS));
  return o;
}

static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  BEGIN("setThreads", 1);
  int n = i32(&c, 0);
  if (c.failed) return NULL;
  LOCKED(qat_threads = n < 1 ? 1 : n > QAT_MAX_THREADS ? QAT_MAX_THREADS : n);
  return undef(env);
}

static napi_value js_set_isa(napi_env env, napi_callback_info info) {
  BEGIN("setIsa", 1);
  int n = i32(&c, 0);
  if (c.failed) return NULL;
  napi_value s;
  napi_create_string_utf8(env, qat_isa_name(qat_set_isa(n)), NAPI_AUTO_LENGTH, &s);
  return s;
}

/* matmul(a, b, c, batch, m, n, k, aStride, bStride, cStride, transA, transB, accumulate) */
static napi_value js_matmul(napi_env env, napi_callback_info info) {
  BEGIN("matmul", 13);
  const float *a = F32(0), *b = F32(1);
  float *out = F32(2);
  qat_matmul_geom g = {i32(&c, 3), i32(&c, 4), i32(&c, 5), i32(&c, 6), (long)f64(&c, 7), (long)f64(&c, 8),
                       (long)f64(&c, 9), i32(&c, 10), i32(&c, 11), i32(&c, 12)};
  if (c.failed) return NULL;
  LOCKED(qat_matmul(a, b, out, &g));
  return undef(env);
}

/* sgemm(m, n, k, a, aOff, ars, acs, b, bOff, brs, bcs, c, cOff, ldc, accumulate): one thread, for benchmarks */
static napi_value js_sgemm(napi_env env, napi_callback_info info) {
  BEGIN("sgemm", 15);
  const float *a = F32(3), *b = F32(7);
  float *out = F32(11);
  int m = i32(&c, 0), n = i32(&c, 1), k = i32(&c, 2);
  long ao = (long)f64(&c, 4), ars = (long)f64(&c, 5), acs = (long)f64(&c, 6);
  long bo = (long)f64(&c, 8), brs = (long)f64(&c, 9), bcs = (long)f64(&c, 10);
  long co = (long)f64(&c, 12), ldc = (long)f64(&c, 13);
  int acc = i32(&c, 14);
  if (c.failed) return NULL;
  LOCKED(qat_sgemm(m, n, k, a + ao, ars, acs, b + bo, brs, bcs, out + co, ldc, acc, 0));
  return undef(env);
}

static int conv_geom(call_t *c, int i, qat_conv_geom *g) {
  const int32_t *v = (const int32_t *)arr(c, i, napi_int32_array, 0);
  if (!v) return 0;
  memcpy(g, v, sizeof *g);
  return 1;
}

static int pool_geom(call_t *c, int i, qat_pool_geom *g) {
  const int32_t *v = (const int32_t *)arr(c, i, napi_int32_array, 0);
  if (!v) return 0;
  memcpy(g, v, sizeof *g);
  return 1;
}

#define CONV_FN(jsname, cname, fn)                                   \
  static napi_value cname(napi_env env, napi_callback_info info) {   \
    BEGIN(jsname, 4);                                                \
    const float *p0 = F32(0), *p1 = F32(1);                          \
    float *p2 = F32(2);                                              \
    qat_conv_geom g;                                                 \
    if (!conv_geom(&c, 3, &g) || c.failed) return NULL;              \
    LOCKED(fn(p0, p1, p2, &g));                                              \
    return undef(env);                                               \
  }
CONV_FN("conv2d", js_conv2d, qat_conv2d)
CONV_FN("conv2dBackwardInput", js_conv2d_bwd_input, qat_conv2d_bwd_input)
CONV_FN("conv2dBackwardWeight", js_conv2d_bwd_weight, qat_conv2d_bwd_weight)

static napi_value js_max_pool(napi_env env, napi_callback_info info) {
  BEGIN("maxPool2d", 4);
  const float *x = F32(0);
  float *y = F32(1);
  int32_t *am = I32A(2);
  qat_pool_geom g;
  if (!pool_geom(&c, 3, &g) || c.failed) return NULL;
  LOCKED(qat_max_pool2d(x, y, am, &g));
  return undef(env);
}

static napi_value js_max_pool_bwd(napi_env env, napi_callback_info info) {
  BEGIN("maxPool2dBackward", 4);
  const float *dy = F32(0);
  const int32_t *am = I32A(1);
  float *dx = F32(2);
  qat_pool_geom g;
  if (!pool_geom(&c, 3, &g) || c.failed) return NULL;
  LOCKED(qat_max_pool2d_bwd(dy, am, dx, &g));
  return undef(env);
}

static napi_value js_avg_pool(napi_env env, napi_callback_info info) {
  BEGIN("avgPool2d", 3);
  const float *x = F32(0);
  float *y = F32(1);
  qat_pool_geom g;
  if (!pool_geom(&c, 2, &g) || c.failed) return NULL;
  LOCKED(qat_avg_pool2d(x, y, &g));
  return undef(env);
}

static napi_value js_avg_pool_bwd(napi_env env, napi_callback_info info) {
  BEGIN("avgPool2dBackward", 3);
  const float *dy = F32(0);
  float *dx = F32(1);
  qat_pool_geom g;
  if (!pool_geom(&c, 2, &g) || c.failed) return NULL;
  LOCKED(qat_avg_pool2d_bwd(dy, dx, &g));
  return undef(env);
}

/* batchNormStats(x, n, c, hw, mean, variance) */
static napi_value js_bn_stats(napi_env env, napi_callback_info info) {
  BEGIN("batchNormStats", 6);
  const float *x = F32(0);
  float *mean = F32(4), *var = F32(5);
  int n = i32(&c, 1), ch = i32(&c, 2), hw = i32(&c, 3);
  if (c.failed) return NULL;
  LOCKED(qat_bn_stats(x, n, ch, hw, mean, var));
  return undef(env);
}

/* batchNormApply(x, mean, invStd, gamma?, beta?, y, n, c, hw) */
static napi_value js_bn_apply(napi_env env, napi_callback_info info) {
  BEGIN("batchNormApply", 9);
  const float *x = F32(0), *mean = F32(1), *is = F32(2), *gamma = F32_OPT(3), *beta = F32_OPT(4);
  float *y = F32(5);
  int n = i32(&c, 6), ch = i32(&c, 7), hw = i32(&c, 8);
  if (c.failed) return NULL;
  LOCKED(qat_bn_apply(x, mean, is, gamma, beta, y, n, ch, hw));
  return undef(env);
}

/* batchNormBackward(dy, x, mean, invStd, gamma?, dx, dgamma?, dbeta?, n, c, hw, training) */
static napi_value js_bn_backward(napi_env env, napi_callback_info info) {
  BEGIN("batchNormBackward", 12);
  const float *dy = F32(0), *x = F32(1), *mean = F32(2), *is = F32(3), *gamma = F32_OPT(4);
  float *dx = F32(5), *dg = F32_OPT(6), *db = F32_OPT(7);
  int n = i32(&c, 8), ch = i32(&c, 9), hw = i32(&c, 10), tr = i32(&c, 11);
  if (c.failed) return NULL;
  LOCKED(qat_bn_backward(dy, x, mean, is, gamma, dx, dg, db, n, ch, hw, tr));
  return undef(env);
}

/* channelAffine(x, scale, bias?, y, n, c, inner) */
static napi_value js_affine(napi_env env, napi_callback_info info) {
  BEGIN("channelAffine", 7);
  const float *x = F32(0), *s = F32(1), *b = F32_OPT(2);
  float *y = F32(3);
  int n = i32(&c, 4), ch = i32(&c, 5), inner = i32(&c, 6);
  if (c.failed) return NULL;
  LOCKED(qat_channel_affine(x, s, b, y, n, ch, inner));
  return undef(env);
}

/* channelAffineBackward(g, x, scale, dx?, dscale?, dbias?, n, c, inner) */
static napi_value js_affine_bwd(napi_env env, napi_callback_info info) {
  BEGIN("channelAffineBackward", 9);
  const float *g = F32(0), *x = F32(1), *s = F32(2);
  float *dx = F32_OPT(3), *ds = F32_OPT(4), *db = F32_OPT(5);
  int n = i32(&c, 6), ch = i32(&c, 7), inner = i32(&c, 8);
  if (c.failed) return NULL;
  LOCKED(qat_channel_affine_bwd(g, x, s, dx, ds, db, n, ch, inner));
  return undef(env);
}

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

/* qconv2d(x, xZp, wPacked, geom, bias?, multiplier, shift, ints, y) */
static napi_value js_qconv2d(napi_env env, napi_callback_info info) {
  BEGIN("qconv2d", 9);
  int xu = 0, yu = 0;
  const void *x = q8(&c, 0, &xu);
  int xzp = i32(&c, 1);
  const int32_t *w = I32A(2);
  qat_conv_geom g;
  qat_requant rq;
  if (!conv_geom(&c, 3, &g) || !requant_args(&c, 4, &rq)) return NULL;
  void *y = q8(&c, 8, &yu);
  if (c.failed) return NULL;
  LOCKED(qat_qconv2d(x, xu, xzp, w, &g, &rq, y));
  return undef(env);
}

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

/* igemmBench(m, n, k, wPacked, bPanels, c): one thread, raw int16-pair GEMM (benchmarks) */
static napi_value js_igemm_bench(napi_env env, napi_callback_info info) {
  BEGIN("igemmBench", 6);
  int m = i32(&c, 0), n = i32(&c, 1), k = i32(&c, 2);
  const int32_t *a = I32A(3), *b = I32A(4);
  int32_t *out = I32A(5);
  if (c.failed) return NULL;
  LOCKED(qat_igemm_bench(m, n, k, a, b, out));
  return undef(env);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"info", NULL, js_info, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, js_set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"setIsa", NULL, js_set_isa, NULL, NULL, NULL, napi_default, NULL},
      {"matmul", NULL, js_matmul, NULL, NULL, NULL, napi_default, NULL},
      {"sgemm", NULL, js_sgemm, NULL, NULL, NULL, napi_default, NULL},
      {"conv2d", NULL, js_conv2d, NULL, NULL, NULL, napi_default, NULL},
      {"conv2dBackwardInput", NULL, js_conv2d_bwd_input, NULL, NULL, NULL, napi_default, NULL},
      {"conv2dBackwardWeight", NULL, js_conv2d_bwd_weight, NULL, NULL, NULL, napi_default, NULL},
      {"maxPool2d", NULL, js_max_pool, NULL, NULL, NULL, napi_default, NULL},
      {"maxPool2dBackward", NULL, js_max_pool_bwd, NULL, NULL, NULL, napi_default, NULL},
      {"avgPool2d", NULL, js_avg_pool, NULL, NULL, NULL, napi_default, NULL},
      {"avgPool2dBackward", NULL, js_avg_pool_bwd, NULL, NULL, NULL, napi_default, NULL},
      {"batchNormStats", NULL, js_bn_stats, NULL, NULL, NULL, napi_default, NULL},
      {"batchNormApply", NULL, js_bn_apply, NULL, NULL, NULL, napi_default, NULL},
      {"batchNormBackward", NULL, js_bn_backward, NULL, NULL, NULL, napi_default, NULL},
      {"channelAffine", NULL, js_affine, NULL, NULL, NULL, napi_default, NULL},
      {"channelAffineBackward", NULL, js_affine_bwd, NULL, NULL, NULL, napi_default, NULL},
      {"qpackWords", NULL, js_qpack_words, NULL, NULL, NULL, napi_default, NULL},
      {"qpackWeights", NULL, js_qpack_weights, NULL, NULL, NULL, napi_default, NULL},
      {"qconv2d", NULL, js_qconv2d, NULL, NULL, NULL, napi_default, NULL},
      {"qlinear", NULL, js_qlinear, NULL, NULL, NULL, napi_default, NULL},
      {"igemmBench", NULL, js_igemm_bench, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
