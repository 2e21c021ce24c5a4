/*
 * Node-API functions of the native QAT kernels (fakequant.c, affine.c): fakeQuant,
 * fakeQuantChannels, minmax, minmaxChannels, lsqGrad, channelAffineF32, channelAffineBackwardF32 on
 * Float32Array data (Uint8Array masks). Registered on the addon's exports by binding.c; helpers
 * in binding.h. Bounds are the TypeScript wrapper's (src/backend/native/qat.ts); this layer
 * checks types.
 */
#include "binding.h"
#include "fakequant.h"

#define U8(i) ((uint8_t *)arr(&c, i, napi_uint8_array, 0))

/* fakeQuant(x, out, mask, n, scale, zp, qmin, qmax) */
static napi_value js_fake_quant(napi_env env, napi_callback_info info) {
  BEGIN("fakeQuant", 8);
  const float *x = F32(0);
  float *out = F32(1);
  uint8_t *mask = U8(2);
  long n = (long)f64(&c, 3);
  double scale = f64(&c, 4), zp = f64(&c, 5), qmin = f64(&c, 6), qmax = f64(&c, 7);
  if (c.failed) return NULL;
  LOCKED(qat_fake_quant_f32(x, out, mask, n, (float)scale, zp, qmin, qmax));
  return undef(env);
}

/* fakeQuantChannels(x, out, mask, outer, channels, inner, scales (F32), zps (F64), qmin, qmax) */
static napi_value js_fake_quant_channels(napi_env env, napi_callback_info info) {
  BEGIN("fakeQuantChannels", 10);
  const float *x = F32(0);
  float *out = F32(1);
  uint8_t *mask = U8(2);
  long outer = (long)f64(&c, 3), channels = (long)f64(&c, 4), inner = (long)f64(&c, 5);
  const float *scales = F32(6);
  const double *zps = F64(7);
  double qmin = f64(&c, 8), qmax = f64(&c, 9);
  if (c.failed) return NULL;
  LOCKED(qat_fake_quant_channels_f32(x, out, mask, outer, channels, inner, scales, zps, qmin, qmax));
  return undef(env);
}

/* minmax(x, n, out (F64 [min, max, nan])) */
static napi_value js_minmax(napi_env env, napi_callback_info info) {
  BEGIN("minmax", 3);
  const float *x = F32(0);
  long n = (long)f64(&c, 1);
  double *out = F64(2);
  if (c.failed) return NULL;
  LOCKED(qat_minmax_f32(x, n, out));
  return undef(env);
}

/* minmaxChannels(x, outer, channels, inner, mins, maxs) */
static napi_value js_minmax_channels(napi_env env, napi_callback_info info) {
  BEGIN("minmaxChannels", 6);
  const float *x = F32(0);
  long outer = (long)f64(&c, 1), channels = (long)f64(&c, 2), inner = (long)f64(&c, 3);
  float *mins = F32(4), *maxs = F32(5);
  if (c.failed) return NULL;
  LOCKED(qat_minmax_channels_f32(x, outer, channels, inner, mins, maxs));
  return undef(env);
}

/* lsqGrad(x, dy, dx, outer, channels, inner, scales (F32), zps (F64), qmin, qmax, gf, acc (F64, 2·channels)) */
static napi_value js_lsq_grad(napi_env env, napi_callback_info info) {
  BEGIN("lsqGrad", 12);
  const float *x = F32(0), *dy = F32(1);
  float *dx = F32(2);
  long outer = (long)f64(&c, 3), channels = (long)f64(&c, 4), inner = (long)f64(&c, 5);
  const float *scales = F32(6);
  const double *zps = F64(7);
  double qmin = f64(&c, 8), qmax = f64(&c, 9), gf = f64(&c, 10);
  double *acc = F64(11);
  if (c.failed) return NULL;
  LOCKED(qat_lsq_grad_f32(x, dy, dx, outer, channels, inner, scales, zps, qmin, qmax, (float)gf, acc));
  return undef(env);
}

/* channelAffineF32(x, scale, bias?, y, n, c, inner) */
static napi_value js_affine(napi_env env, napi_callback_info info) {
  BEGIN("channelAffineF32", 7);
  const float *x = F32(0), *s = F32(1), *b = F32_OPT(2);
  float *y = F32(3);
  long n = (long)f64(&c, 4), ch = (long)f64(&c, 5), inner = (long)f64(&c, 6);
  if (c.failed) return NULL;
  LOCKED(qat_affine_f32(x, s, b, y, n, ch, inner));
  return undef(env);
}

/* channelAffineBackwardF32(g, x, scale, dx?, dscale?, dbias?, n, c, inner) */
static napi_value js_affine_bwd(napi_env env, napi_callback_info info) {
  BEGIN("channelAffineBackwardF32", 9);
  const float *g = F32(0), *x = F32(1), *s = F32(2);
  float *dx = F32_OPT(3), *ds = F32_OPT(4), *db = F32_OPT(5);
  long n = (long)f64(&c, 6), ch = (long)f64(&c, 7), inner = (long)f64(&c, 8);
  if (c.failed) return NULL;
  LOCKED(qat_affine_bwd_f32(g, x, s, dx, ds, db, n, ch, inner));
  return undef(env);
}

void qat_define_qat(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"fakeQuant", NULL, js_fake_quant, NULL, NULL, NULL, napi_default, NULL},
      {"fakeQuantChannels", NULL, js_fake_quant_channels, NULL, NULL, NULL, napi_default, NULL},
      {"minmax", NULL, js_minmax, NULL, NULL, NULL, napi_default, NULL},
      {"minmaxChannels", NULL, js_minmax_channels, NULL, NULL, NULL, napi_default, NULL},
      {"lsqGrad", NULL, js_lsq_grad, NULL, NULL, NULL, napi_default, NULL},
      {"channelAffineF32", NULL, js_affine, NULL, NULL, NULL, napi_default, NULL},
      {"channelAffineBackwardF32", NULL, js_affine_bwd, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
