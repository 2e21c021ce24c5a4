/*
 * Node-API functions of the native GELU, LayerNorm and softmax-backward kernels (transformer.c):
 * gelu, geluBackward, layerNorm, layerNormBackward on Float32Array data with Float64Array row
 * statistics, softmaxBackward. Registered on the addon's exports by binding.c; helpers in binding.h. Bounds
 * are the TypeScript wrapper's (src/backend/native/transformer.ts); this layer checks types.
 */
#include "binding.h"
#include "transformer.h"

/* gelu(x, out, n, tanh) */
static napi_value js_gelu(napi_env env, napi_callback_info info) {
  BEGIN("gelu", 4);
  const float *x = F32(0);
  float *y = F32(1);
  long n = (long)f64(&c, 2);
  int tanh_form = i32(&c, 3);
  if (c.failed) return NULL;
  LOCKED(qat_gelu(x, y, n, tanh_form));
  return undef(env);
}

/* geluBackward(g, x, dx, n, tanh) */
static napi_value js_gelu_bwd(napi_env env, napi_callback_info info) {
  BEGIN("geluBackward", 5);
  const float *g = F32(0), *x = F32(1);
  float *dx = F32(2);
  long n = (long)f64(&c, 3);
  int tanh_form = i32(&c, 4);
  if (c.failed) return NULL;
  LOCKED(qat_gelu_bwd(g, x, dx, n, tanh_form));
  return undef(env);
}

/* layerNorm(x, weight?, bias?, y, mean, rstd, rows, n, eps) */
static napi_value js_layernorm(napi_env env, napi_callback_info info) {
  BEGIN("layerNorm", 9);
  const float *x = F32(0), *w = F32_OPT(1), *b = F32_OPT(2);
  float *y = F32(3);
  double *mean = F64(4), *rstd = F64(5);
  long rows = (long)f64(&c, 6), n = (long)f64(&c, 7);
  double eps = f64(&c, 8);
  if (c.failed) return NULL;
  LOCKED(qat_layernorm(x, w, b, y, mean, rstd, rows, n, eps));
  return undef(env);
}

/* layerNormBackward(g, x, weight?, mean, rstd, dx?, dweight?, dbias?, rows, n) */
static napi_value js_layernorm_bwd(napi_env env, napi_callback_info info) {
  BEGIN("layerNormBackward", 10);
  const float *g = F32(0), *x = F32(1), *w = F32_OPT(2);
  const double *mean = F64(3), *rstd = F64(4);
  float *dx = F32_OPT(5), *dw = F32_OPT(6), *db = F32_OPT(7);
  long rows = (long)f64(&c, 8), n = (long)f64(&c, 9);
  if (c.failed) return NULL;
  LOCKED(qat_layernorm_bwd(g, x, w, mean, rstd, dx, dw, db, rows, n));
  return undef(env);
}

/* softmaxBackward(y, g, dx, rows, cols, log) */
static napi_value js_softmax_bwd(napi_env env, napi_callback_info info) {
  BEGIN("softmaxBackward", 6);
  const float *y = F32(0), *g = F32(1);
  float *dx = F32(2);
  long rows = (long)f64(&c, 3), n = (long)f64(&c, 4);
  int log = i32(&c, 5);
  if (c.failed) return NULL;
  LOCKED(qat_softmax_bwd(y, g, dx, rows, n, log));
  return undef(env);
}

void qat_define_transformer(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"gelu", NULL, js_gelu, NULL, NULL, NULL, napi_default, NULL},
      {"geluBackward", NULL, js_gelu_bwd, NULL, NULL, NULL, napi_default, NULL},
      {"layerNorm", NULL, js_layernorm, NULL, NULL, NULL, napi_default, NULL},
      {"layerNormBackward", NULL, js_layernorm_bwd, NULL, NULL, NULL, napi_default, NULL},
      {"softmaxBackward", NULL, js_softmax_bwd, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
