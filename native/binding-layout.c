/*
 * Node-API functions of the native data-movement, reduction, softmax and maskMul kernels
 * (layout.c, softmax.c, elementwise.c): copyStrided on any typed array whose element is 1, 2,
 * 4 or 8 bytes, reduce, softmax and maskMul on Float32Array. Registered on the addon's exports by binding.c; helpers in
 * binding.h. Bounds are the TypeScript wrapper's (src/backend/native/layout.ts); this layer
 * checks element types and that both arrays of a copy have the same one.
 */
#include "binding.h"

/* Data pointer and element size of any typed array (0 when it is none, or BigInt64 etc. are fine: 8). */
static void *any_array(call_t *c, int i, napi_typedarray_type *type) {
  bool is;
  napi_is_typedarray(c->env, c->argv[i], &is);
  size_t length;
  void *data = NULL;
  if (is && napi_get_typedarray_info(c->env, c->argv[i], type, &length, &data, NULL, NULL) == napi_ok) return data;
  fail(c, i, "a typed array");
  return NULL;
}

static int elem_size(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: return 1;
    case napi_int16_array: case napi_uint16_array: return 2;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
    default: return 8;
  }
}

/* copyStrided(src, dst, geom: Float64Array [rank, srcOff, dstOff, shape…, srcStrides…, dstStrides…]) */
static napi_value js_copy_strided(napi_env env, napi_callback_info info) {
  BEGIN("copyStrided", 3);
  napi_typedarray_type ts = napi_int8_array, td = napi_int8_array;
  const void *src = any_array(&c, 0, &ts);
  void *dst = any_array(&c, 1, &td);
  const double *g = arr(&c, 2, napi_float64_array, 0);
  if (c.failed) return NULL;
  if (ts != td) {
    fail(&c, 1, "a typed array of the source's type");
    return NULL;
  }
  int rank = (int)g[0];
  if (rank < 0 || rank > QAT_MAX_RANK) {
    fail(&c, 2, "a geometry of rank at most 16");
    return NULL;
  }
  long shape[QAT_MAX_RANK], ss[QAT_MAX_RANK], ds[QAT_MAX_RANK];
  for (int d = 0; d < rank; d++) {
    shape[d] = (long)g[3 + d];
    ss[d] = (long)g[3 + rank + d];
    ds[d] = (long)g[3 + 2 * rank + d];
  }
  qat_copy_strided(src, (long)g[1], ss, dst, (long)g[2], ds, shape, rank, elem_size(ts));
  return undef(env);
}

/* reduce(op 0 sum 1 max 2 min, x, geom: Int32Array [rank, shape…, reduced…], out, outLen) */
static napi_value js_reduce(napi_env env, napi_callback_info info) {
  BEGIN("reduce", 5);
  int op = i32(&c, 0);
  const float *x = F32(1);
  const int32_t *g = I32A(2);
  float *out = F32(3);
  long out_len = (long)f64(&c, 4);
  if (c.failed) return NULL;
  int rank = g[0];
  if (rank < 0 || rank > QAT_MAX_RANK) {
    fail(&c, 2, "a geometry of rank at most 16");
    return NULL;
  }
  long shape[QAT_MAX_RANK];
  int reduced[QAT_MAX_RANK];
  for (int d = 0; d < rank; d++) {
    shape[d] = g[1 + d];
    reduced[d] = g[1 + rank + d];
  }
  LOCKED(qat_reduce_f32(op, x, shape, reduced, rank, out, out_len,
                        qat_scratch(0, 4, (size_t)(out_len > 0 ? out_len : 1) * sizeof(double))));
  return undef(env);
}

/* softmax(x, out, rows, cols, log) */
static napi_value js_softmax(napi_env env, napi_callback_info info) {
  BEGIN("softmax", 5);
  const float *x = F32(0);
  float *out = F32(1);
  long rows = (long)f64(&c, 2), cols = (long)f64(&c, 3);
  int log = i32(&c, 4);
  if (c.failed) return NULL;
  LOCKED(qat_softmax(x, out, rows, cols, log));
  return undef(env);
}

/* maskMul(g, y, lo, hi, out, n) */
static napi_value js_mask_mul(napi_env env, napi_callback_info info) {
  BEGIN("maskMul", 6);
  const float *g = F32(0), *y = F32(1);
  double lo = f64(&c, 2), hi = f64(&c, 3);
  float *out = F32(4);
  long n = (long)f64(&c, 5);
  if (c.failed) return NULL;
  LOCKED(qat_mask_mul(g, y, lo, hi, out, n));
  return undef(env);
}

void qat_define_layout(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"copyStrided", NULL, js_copy_strided, NULL, NULL, NULL, napi_default, NULL},
      {"reduce", NULL, js_reduce, NULL, NULL, NULL, napi_default, NULL},
      {"softmax", NULL, js_softmax, NULL, NULL, NULL, napi_default, NULL},
      {"maskMul", NULL, js_mask_mul, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
