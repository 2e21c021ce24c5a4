/*
 * Node-API functions of the fused batch-norm / ReLU kernels (norm.h: norm.c, elementwise.c):
 * batchNormTrain, batchNormReluBackward and addRelu, on Float32Array data with Float64Array
 * per-channel statistics, and the global average pool (nn.c) with its backward. Registered on the addon's exports by binding.c; helpers in binding.h.
 * Bounds are checked by the TypeScript wrapper (src/backend/native/norm.ts); this layer checks
 * argument types.
 */
#include "binding.h"
#include "norm.h"

/* batchNormTrain(x, n, c, hw, eps, gamma?, beta?, y, mean, variance, invStd, relu) */
static napi_value js_bn_train(napi_env env, napi_callback_info info) {
  BEGIN("batchNormTrain", 12);
  const float *x = F32(0), *gamma = F32_OPT(5), *beta = F32_OPT(6);
  float *y = F32(7);
  double *mean = F64(8), *var = F64(9), *is = F64(10);
  int n = i32(&c, 1), ch = i32(&c, 2), hw = i32(&c, 3), relu = i32(&c, 11);
  double eps = f64(&c, 4);
  if (c.failed) return NULL;
  LOCKED(qat_bn_train(x, n, ch, hw, eps, gamma, beta, y, mean, var, is, relu));
  return undef(env);
}

/* batchNormReluBackward(dy, x, mean, invStd, gamma?, beta?, dx, dgamma?, dbeta?, n, c, hw, training) */
static napi_value js_bn_relu_backward(napi_env env, napi_callback_info info) {
  BEGIN("batchNormReluBackward", 13);
  const float *dy = F32(0), *x = F32(1), *gamma = F32_OPT(4), *beta = F32_OPT(5);
  const double *mean = F64(2), *is = F64(3);
  float *dx = F32(6), *dg = F32_OPT(7), *db = F32_OPT(8);
  int n = i32(&c, 9), ch = i32(&c, 10), hw = i32(&c, 11), tr = i32(&c, 12);
  if (c.failed) return NULL;
  LOCKED(qat_bn_relu_backward(dy, x, mean, is, gamma, beta, dx, dg, db, n, ch, hw, tr));
  return undef(env);
}

/* addRelu(a, b, out, n) */
static napi_value js_add_relu(napi_env env, napi_callback_info info) {
  BEGIN("addRelu", 4);
  const float *a = F32(0), *b = F32(1);
  float *out = F32(2);
  double n = f64(&c, 3);
  if (c.failed) return NULL;
  LOCKED(qat_add_relu_f32(a, b, out, (long)n));
  return undef(env);
}

/* globalAvgPool(x, y, planes, hw) and globalAvgPoolBackward(dy, dx, planes, hw) */
static napi_value js_gap(napi_env env, napi_callback_info info) {
  BEGIN("globalAvgPool", 4);
  const float *x = F32(0);
  float *y = F32(1);
  double planes = f64(&c, 2), hw = f64(&c, 3);
  if (c.failed) return NULL;
  LOCKED(qat_global_avg_pool(x, y, (long)planes, (long)hw));
  return undef(env);
}

static napi_value js_gap_bwd(napi_env env, napi_callback_info info) {
  BEGIN("globalAvgPoolBackward", 4);
  const float *dy = F32(0);
  float *dx = F32(1);
  double planes = f64(&c, 2), hw = f64(&c, 3);
  if (c.failed) return NULL;
  LOCKED(qat_global_avg_pool_bwd(dy, dx, (long)planes, (long)hw));
  return undef(env);
}

void qat_define_norm(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"batchNormTrain", NULL, js_bn_train, NULL, NULL, NULL, napi_default, NULL},
      {"batchNormReluBackward", NULL, js_bn_relu_backward, NULL, NULL, NULL, napi_default, NULL},
      {"addRelu", NULL, js_add_relu, NULL, NULL, NULL, napi_default, NULL},
      {"globalAvgPool", NULL, js_gap, NULL, NULL, NULL, napi_default, NULL},
      {"globalAvgPoolBackward", NULL, js_gap_bwd, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
