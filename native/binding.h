/*
 * Shared helpers of the Node-API binding (binding.c, binding-int8.c): argument access with
 * type checks that throw a TypeError naming the kernel and argument, and the process-wide
 * kernel lock. Header-only (static functions), included by the two binding files.
 */
#ifndef QAT_BINDING_H
#define QAT_BINDING_H

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
extern pthread_mutex_t qat_kernel_lock; /* threads.c */
#define LOCKED(stmt)                    \
  do {                                  \
    pthread_mutex_lock(&qat_kernel_lock);   \
    stmt;                               \
    pthread_mutex_unlock(&qat_kernel_lock); \
  } while (0)

#define MAX_ARGS 20

typedef struct {
  napi_env env;
  const char *name;
  size_t argc;
  napi_value argv[MAX_ARGS];
  int failed;
} call_t;

static inline int begin(call_t *c, napi_env env, napi_callback_info info, const char *name, size_t want) {
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

static inline void fail(call_t *c, int i, const char *what) {
  if (c->failed) return;
  char msg[160];
  snprintf(msg, sizeof msg, "qat-native %s: argument %d must be %s", c->name, i, what);
  napi_throw_type_error(c->env, NULL, msg);
  c->failed = 1;
}

/* Data pointer of a typed array of the given type; NULL for null/undefined when optional. */
static inline void *arr(call_t *c, int i, napi_typedarray_type want, int optional) {
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
  fail(c, i, want == napi_float32_array ? "a Float32Array" : want == napi_float64_array ? "a Float64Array" : want == napi_int32_array ? "an Int32Array" : want == napi_int8_array ? "an Int8Array" : "a typed array");
  return NULL;
}

/* Data pointer of an Int8Array or Uint8Array; *is_unsigned says which. */
static inline void *q8(call_t *c, int i, int *is_unsigned) {
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

static inline int i32(call_t *c, int i) {
  int32_t v = 0;
  if (napi_get_value_int32(c->env, c->argv[i], &v) != napi_ok) fail(c, i, "a number");
  return v;
}

static inline double f64(call_t *c, int i) {
  double v = 0;
  if (napi_get_value_double(c->env, c->argv[i], &v) != napi_ok) fail(c, i, "a number");
  return v;
}

static inline napi_value undef(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static inline napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

#define F32(i) ((float *)arr(&c, i, napi_float32_array, 0))
#define F32_OPT(i) ((float *)arr(&c, i, napi_float32_array, 1))
#define F64(i) ((double *)arr(&c, i, napi_float64_array, 0))
#define I32A(i) ((int32_t *)arr(&c, i, napi_int32_array, 0))
#define BEGIN(name, n) \
  call_t c; \
  if (!begin(&c, env, info, name, n)) return NULL

/* The fused epilogue at arguments i..i+3 (bias?, act, lo, hi); returns NULL when they are absent. */
static inline const qat_epi *epi_args(call_t *c, int i, qat_epi *e) {
  if (c->argc < (size_t)i + 4) return NULL;
  e->bias = (const float *)arr(c, i, napi_float32_array, 1);
  e->per_col = 0;
  e->act = i32(c, i + 1);
  e->lo = f64(c, i + 2);
  e->hi = f64(c, i + 3);
  return c->failed ? NULL : e;
}

static inline int conv_geom(call_t *c, int i, qat_conv_geom *g) {
  const int32_t *v = (const int32_t *)arr(c, i, napi_int32_array, 0);
  if (!v) return 0;
  memcpy(g, v, sizeof *g);
  return 1;
}

#endif
