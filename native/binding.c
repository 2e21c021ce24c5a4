/*
 * Node-API binding of the native backend: one JS function per kernel, taking typed arrays
 * (any ArrayBuffer or SharedArrayBuffer, used in place) and numbers. Argument checking is
 * the caller's (the TypeScript wrappers in src/backend/native/ validate shapes before
 * calling); this layer only checks each array's element type (binding.h). The int8 engine's
 * functions are in binding-int8.c. Loaded by src/backend/native/addon.ts.
 */
#include "binding.h"
#include "conv-direct.h"

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

/* poolProfile(mode): the pool's counters since the last call (threads.c), then mode 1 (profile: regions on the calling thread, timed), 2 (live counters of real regions) or 0 (off) */
static napi_value js_pool_profile(napi_env env, napi_callback_info info) {
  BEGIN("poolProfile", 1);
  int on = i32(&c, 0);
  if (c.failed) return NULL;
  double p[6];
  LOCKED(qat_pool_profile(on, p));
  napi_value o;
  napi_create_object(env, &o);
  const char *names[6] = {"regions", "parallelRegions", "regionNs", "parallelNs", "idealNs", "threadNs"};
  for (int i = 0; i < 6; i++) napi_set_named_property(env, o, names[i], num(env, p[i]));
  return o;
}

static napi_value js_set_isa(napi_env env, napi_callback_info info) {
  BEGIN("setIsa", 1);
  int n = i32(&c, 0);
  if (c.failed) return NULL;
  napi_value s;
  napi_create_string_utf8(env, qat_isa_name(qat_set_isa(n)), NAPI_AUTO_LENGTH, &s);
  return s;
}

/* matmul(a, b, c, batch, m, n, k, aStride, bStride, cStride, transA, transB, accumulate[, bias?, act, lo, hi]) */
static napi_value js_matmul(napi_env env, napi_callback_info info) {
  BEGIN("matmul", 13);
  const float *a = F32(0), *b = F32(1);
  float *out = F32(2);
  qat_matmul_geom g = {i32(&c, 3), i32(&c, 4), i32(&c, 5), i32(&c, 6), (long)f64(&c, 7), (long)f64(&c, 8),
                       (long)f64(&c, 9), i32(&c, 10), i32(&c, 11), i32(&c, 12)};
  qat_epi e;
  const qat_epi *epi = epi_args(&c, 13, &e);
  if (c.failed) return NULL;
  if (epi) e.per_col = 1; /* matmul: bias per column of C */
  LOCKED(qat_matmul(a, b, out, &g, epi));
  return undef(env);
}

/* epilogue(y, outer, c, inner, bias?, act, lo, hi): y = act(y + bias[c]) in place over [outer, c, inner] */
static napi_value js_epilogue(napi_env env, napi_callback_info info) {
  BEGIN("epilogue", 8);
  float *y = F32(0);
  int outer = i32(&c, 1), ch = i32(&c, 2), inner = i32(&c, 3);
  qat_epi e;
  const qat_epi *epi = epi_args(&c, 4, &e);
  if (c.failed || !epi) return NULL;
  /* [outer·c rows, inner columns], bias per row taken modulo c: one row block per outer index */
  LOCKED(for (int o = 0; o < outer; o++) qat_epi_apply(y + (long)o * ch * inner, inner, ch, inner, 0, 0, epi));
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

static int pool_geom(call_t *c, int i, qat_pool_geom *g) {
  const int32_t *v = (const int32_t *)arr(c, i, napi_int32_array, 0);
  if (!v) return 0;
  memcpy(g, v, sizeof *g);
  return 1;
}

/* conv2d(x, w, y, geom[, bias?, act, lo, hi]) */
static napi_value js_conv2d(napi_env env, napi_callback_info info) {
  BEGIN("conv2d", 4);
  const float *x = F32(0), *w = F32(1);
  float *y = F32(2);
  qat_conv_geom g;
  qat_epi e;
  if (!conv_geom(&c, 3, &g)) return NULL;
  const qat_epi *epi = epi_args(&c, 4, &e);
  if (c.failed) return NULL;
  LOCKED(qat_conv2d(x, w, y, &g, epi));
  return undef(env);
}

#define CONV_FN(jsname, cname, fn)                                   \
  static napi_value cname(napi_env env, napi_callback_info info) {   \
    BEGIN(jsname, 4);                                                \
    const float *p0 = F32(0), *p1 = F32(1);                          \
    float *p2 = F32(2);                                              \
    qat_conv_geom g;                                                 \
    if (!conv_geom(&c, 3, &g) || c.failed) return NULL;              \
    LOCKED(fn(p0, p1, p2, &g));                                      \
    return undef(env);                                               \
  }
CONV_FN("conv2dBackwardInput", js_conv2d_bwd_input, qat_conv2d_bwd_input)
CONV_FN("conv2dBackwardWeight", js_conv2d_bwd_weight, qat_conv2d_bwd_weight)

/* convDirectPaths(geom): which passes take conv-direct.c's kernels (1 forward, 2 backward input, 4 backward weight) */
static napi_value js_conv_direct_paths(napi_env env, napi_callback_info info) {
  BEGIN("convDirectPaths", 1);
  qat_conv_geom g;
  if (!conv_geom(&c, 0, &g) || c.failed) return NULL;
  return num(env, (double)qat_conv_direct_paths(&g));
}

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

/* batchNormStats(x, n, c, hw, mean, variance): mean and variance Float64Array */
static napi_value js_bn_stats(napi_env env, napi_callback_info info) {
  BEGIN("batchNormStats", 6);
  const float *x = F32(0);
  double *mean = F64(4), *var = F64(5);
  int n = i32(&c, 1), ch = i32(&c, 2), hw = i32(&c, 3);
  if (c.failed) return NULL;
  LOCKED(qat_bn_stats(x, n, ch, hw, mean, var));
  return undef(env);
}

/* batchNormApply(x, mean, invStd, gamma?, beta?, y, n, c, hw): mean and invStd Float64Array */
static napi_value js_bn_apply(napi_env env, napi_callback_info info) {
  BEGIN("batchNormApply", 9);
  const float *x = F32(0), *gamma = F32_OPT(3), *beta = F32_OPT(4);
  const double *mean = F64(1), *is = F64(2);
  float *y = F32(5);
  int n = i32(&c, 6), ch = i32(&c, 7), hw = i32(&c, 8);
  if (c.failed) return NULL;
  LOCKED(qat_bn_apply(x, mean, is, gamma, beta, y, n, ch, hw));
  return undef(env);
}

/* batchNormBackward(dy, x, mean, invStd, gamma?, dx, dgamma?, dbeta?, n, c, hw, training): mean and invStd Float64Array */
static napi_value js_bn_backward(napi_env env, napi_callback_info info) {
  BEGIN("batchNormBackward", 12);
  const float *dy = F32(0), *x = F32(1), *gamma = F32_OPT(4);
  const double *mean = F64(2), *is = F64(3);
  float *dx = F32(5), *dg = F32_OPT(6), *db = F32_OPT(7);
  int n = i32(&c, 8), ch = i32(&c, 9), hw = i32(&c, 10), tr = i32(&c, 11);
  if (c.failed) return NULL;
  LOCKED(qat_bn_backward(dy, x, mean, is, gamma, dx, dg, db, n, ch, hw, tr));
  return undef(env);
}

/* unary(op, x, out, n): float32, op a QAT_UN_* code (elementwise.c) */
static napi_value js_unary(napi_env env, napi_callback_info info) {
  BEGIN("unary", 4);
  int op = i32(&c, 0);
  const float *x = F32(1);
  float *y = F32(2);
  double n = f64(&c, 3);
  if (c.failed) return NULL;
  LOCKED(qat_unary_f32(op, x, y, (long)n));
  return undef(env);
}

/* binary(op, a, b, out, n, channels, inner): b a Float32Array (n values, or per channel when channels > 0) or a Uint8Array (n values) */
static napi_value js_binary(napi_env env, napi_callback_info info) {
  BEGIN("binary", 7);
  int op = i32(&c, 0);
  const float *a = F32(1);
  napi_typedarray_type type = napi_float32_array;
  void *b = NULL;
  bool is = false;
  napi_is_typedarray(env, c.argv[2], &is);
  if (!is || napi_get_typedarray_info(env, c.argv[2], &type, NULL, &b, NULL, NULL) != napi_ok ||
      (type != napi_float32_array && type != napi_uint8_array))
    fail(&c, 2, "a Float32Array or a Uint8Array");
  float *y = F32(3);
  double n = f64(&c, 4), channels = f64(&c, 5), inner = f64(&c, 6);
  if (c.failed) return NULL;
  int u8 = type == napi_uint8_array;
  LOCKED(qat_binary_f32(op, a, u8 ? NULL : (const float *)b, u8 ? (const uint8_t *)b : NULL, y, (long)n, (long)channels, (long)inner));
  return undef(env);
}

void qat_define_int8(napi_env env, napi_value exports);   /* binding-int8.c */
void qat_define_layout(napi_env env, napi_value exports); /* binding-layout.c */
void qat_define_transformer(napi_env env, napi_value exports); /* binding-transformer.c */
void qat_define_int8_plan(napi_env env, napi_value exports);  /* binding-int8-plan.c */
void qat_define_qat(napi_env env, napi_value exports);         /* binding-qat.c */
void qat_define_isa(napi_env env, napi_value exports);         /* binding-isa.c */
void qat_define_norm(napi_env env, napi_value exports);        /* binding-norm.c */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"info", NULL, js_info, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, js_set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"poolProfile", NULL, js_pool_profile, NULL, NULL, NULL, napi_default, NULL},
      {"setIsa", NULL, js_set_isa, NULL, NULL, NULL, napi_default, NULL},
      {"matmul", NULL, js_matmul, NULL, NULL, NULL, napi_default, NULL},
      {"sgemm", NULL, js_sgemm, NULL, NULL, NULL, napi_default, NULL},
      {"epilogue", NULL, js_epilogue, NULL, NULL, NULL, napi_default, NULL},
      {"conv2d", NULL, js_conv2d, NULL, NULL, NULL, napi_default, NULL},
      {"conv2dBackwardInput", NULL, js_conv2d_bwd_input, NULL, NULL, NULL, napi_default, NULL},
      {"conv2dBackwardWeight", NULL, js_conv2d_bwd_weight, NULL, NULL, NULL, napi_default, NULL},
      {"convDirectPaths", NULL, js_conv_direct_paths, NULL, NULL, NULL, napi_default, NULL},
      {"maxPool2d", NULL, js_max_pool, NULL, NULL, NULL, napi_default, NULL},
      {"maxPool2dBackward", NULL, js_max_pool_bwd, NULL, NULL, NULL, napi_default, NULL},
      {"avgPool2d", NULL, js_avg_pool, NULL, NULL, NULL, napi_default, NULL},
      {"avgPool2dBackward", NULL, js_avg_pool_bwd, NULL, NULL, NULL, napi_default, NULL},
      {"batchNormStats", NULL, js_bn_stats, NULL, NULL, NULL, napi_default, NULL},
      {"batchNormApply", NULL, js_bn_apply, NULL, NULL, NULL, napi_default, NULL},
      {"batchNormBackward", NULL, js_bn_backward, NULL, NULL, NULL, napi_default, NULL},
      {"unary", NULL, js_unary, NULL, NULL, NULL, napi_default, NULL},
      {"binary", NULL, js_binary, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  qat_define_int8(env, exports);
  qat_define_layout(env, exports);
  qat_define_transformer(env, exports);
  qat_define_int8_plan(env, exports);
  qat_define_qat(env, exports);
  qat_define_isa(env, exports);
  qat_define_norm(env, exports);
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
