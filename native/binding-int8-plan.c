/*
 * Node-API functions of Int8Model's compiled runs (int8-plan.c): int8PlanCreate builds a plan
 * from its spec (copied, with the int8 linear weights; the packed weight arrays are referenced) into a
 * type-tagged external, int8PlanRun runs one from a float32 input to a float32 output. Every
 * length is checked here or in qp_plan_new, so a wrong spec throws instead of touching memory
 * outside an array; a weight array that was detached or shrank since throws at the next run.
 * Registered on the addon's exports by binding.c; called by src/int8/plan.ts.
 */
#include "binding.h"
#include "int8-plan.h"

#include <stdlib.h>

typedef struct {
  qp_plan *p;
  napi_ref *w;
  const int32_t **wp; /* the weights' data pointers, resolved per run */
  int nw;
  int accounted; /* p->bytes was reported to the GC (napi_adjust_external_memory) */
} plan_box;

static const napi_type_tag plan_tag = {0x7161742d696e7438ULL, 0x706c616e2d763031ULL}; /* "qat-int8" "plan-v01" */

static void plan_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  plan_box *b = data;
  for (int i = 0; i < b->nw; i++)
    if (b->w[i]) napi_delete_reference(env, b->w[i]);
  int64_t adjusted;
  if (b->accounted) napi_adjust_external_memory(env, -(int64_t)b->p->bytes, &adjusted);
  qp_plan_free(b->p);
  free(b->w);
  free(b->wp);
  free(b);
}

/* Data and length of argument i, a typed array of type `want`; NULL after throwing otherwise. */
static void *typed(call_t *c, int i, napi_typedarray_type want, size_t *len) {
  void *data = arr(c, i, want, 0);
  if (!data) return NULL;
  napi_get_typedarray_info(c->env, c->argv[i], NULL, len, NULL, NULL, NULL);
  return data;
}

static napi_value range_error(napi_env env, const char *name, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "qat-native %s: %s", name, what);
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

/* The Int8Arrays of argument i (an array): data and lengths into bytes / lens (n of them); 0 after throwing. */
static int int8_list(call_t *c, int i, const int8_t ***bytes, long **lens, uint32_t *n) {
  bool is_array = false;
  napi_is_array(c->env, c->argv[i], &is_array);
  if (!is_array || napi_get_array_length(c->env, c->argv[i], n) != napi_ok) {
    fail(c, i, "an array of Int8Arrays");
    return 0;
  }
  *bytes = calloc(*n ? *n : 1, sizeof **bytes);
  *lens = calloc(*n ? *n : 1, sizeof **lens);
  if (!*bytes || !*lens) {
    napi_throw_range_error(c->env, NULL, "qat-native int8PlanCreate: out of memory");
    return 0;
  }
  for (uint32_t j = 0; j < *n; j++) {
    napi_value v;
    bool is = false;
    napi_typedarray_type type;
    size_t len = 0;
    void *data = NULL;
    if (napi_get_element(c->env, c->argv[i], j, &v) != napi_ok || napi_is_typedarray(c->env, v, &is) != napi_ok || !is ||
        napi_get_typedarray_info(c->env, v, &type, &len, &data, NULL, NULL) != napi_ok || type != napi_int8_array) {
      fail(c, i, "an array of Int8Arrays");
      return 0;
    }
    (*bytes)[j] = data;
    (*lens)[j] = (long)len;
  }
  return 1;
}

/* int8PlanCreate(head, bufs, steps, params: Int32Array, scales: Float32Array [in, out], weights: Int32Array[], bytes: Int8Array[]) */
static napi_value js_plan_create(napi_env env, napi_callback_info info) {
  BEGIN("int8PlanCreate", 7);
  size_t nh = 0, nb = 0, ns = 0, np = 0, nsc = 0;
  const int32_t *head = typed(&c, 0, napi_int32_array, &nh);
  const int32_t *bufs = typed(&c, 1, napi_int32_array, &nb);
  const int32_t *steps = typed(&c, 2, napi_int32_array, &ns);
  const int32_t *params = typed(&c, 3, napi_int32_array, &np);
  const float *scales = typed(&c, 4, napi_float32_array, &nsc);
  if (c.failed) return NULL;
  bool is_array = false;
  uint32_t nw = 0;
  napi_is_array(env, c.argv[5], &is_array);
  if (!is_array || napi_get_array_length(env, c.argv[5], &nw) != napi_ok) {
    fail(&c, 5, "an array of Int32Arrays");
    return NULL;
  }
  if (nh < QP_HEAD_INTS || nsc < 2 || (uint32_t)head[2] != nw) return range_error(env, c.name, "the spec's header does not match its arrays");
  const int8_t **bytes = NULL;
  long *bytes_len = NULL;
  uint32_t nbytes = 0;
  qp_plan *p = NULL;
  char err[200] = "";
  if (int8_list(&c, 6, &bytes, &bytes_len, &nbytes))
    p = qp_plan_new(head, bufs, (long)nb, steps, (long)ns, params, (long)np, scales, bytes, bytes_len, (int)nbytes, err, sizeof err);
  free(bytes);
  free(bytes_len);
  if (c.failed) return NULL;
  if (!p) return err[0] ? range_error(env, c.name, err) : NULL;
  plan_box *b = calloc(1, sizeof *b);
  if (b) {
    b->p = p;
    b->nw = (int)nw;
    b->w = calloc(nw ? nw : 1, sizeof *b->w);
    b->wp = calloc(nw ? nw : 1, sizeof *b->wp);
  }
  if (!b || !b->w || !b->wp) {
    if (b) free(b->w), free(b->wp), free(b);
    qp_plan_free(p);
    return range_error(env, c.name, "out of memory");
  }
  napi_value ext = NULL;
  for (uint32_t i = 0; i < nw; i++) {
    napi_value v;
    bool is = false;
    napi_typedarray_type type;
    size_t len = 0;
    if (napi_get_element(env, c.argv[5], i, &v) != napi_ok || napi_is_typedarray(env, v, &is) != napi_ok || !is ||
        napi_get_typedarray_info(env, v, &type, &len, NULL, NULL, NULL) != napi_ok || type != napi_int32_array ||
        (long)len < p->wwords[i] || napi_create_reference(env, v, 1, &b->w[i]) != napi_ok) {
      char msg[96];
      snprintf(msg, sizeof msg, "weight %u is not an Int32Array of at least %ld words", i, p->wwords[i]);
      plan_finalize(env, b, NULL);
      return range_error(env, c.name, msg);
    }
  }
  if (napi_create_external(env, b, plan_finalize, NULL, &ext) != napi_ok || napi_type_tag_object(env, ext, &plan_tag) != napi_ok) {
    plan_finalize(env, b, NULL);
    return range_error(env, c.name, "cannot create the plan object");
  }
  int64_t adjusted;
  if (napi_adjust_external_memory(env, (int64_t)p->bytes, &adjusted) == napi_ok) b->accounted = 1;
  return ext;
}

/* int8PlanRun(plan, x: Float32Array, y: Float32Array, threads) → −1, or the index of x's first NaN (nothing run) */
static napi_value js_plan_run(napi_env env, napi_callback_info info) {
  BEGIN("int8PlanRun", 4);
  bool tagged = false;
  plan_box *b = NULL;
  napi_valuetype vt;
  napi_typeof(env, c.argv[0], &vt);
  if (vt != napi_external || napi_check_object_type_tag(env, c.argv[0], &plan_tag, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, c.argv[0], (void **)&b) != napi_ok) {
    fail(&c, 0, "a plan from int8PlanCreate");
    return NULL;
  }
  size_t nx = 0, ny = 0;
  const float *x = typed(&c, 1, napi_float32_array, &nx);
  float *y = typed(&c, 2, napi_float32_array, &ny);
  int threads = i32(&c, 3);
  if (c.failed) return NULL;
  const qp_plan *p = b->p;
  if ((long)nx != p->buf_len[0] || (long)ny != p->buf_len[p->out_buf]) return range_error(env, c.name, "the input or output length is not the plan's");
  for (int i = 0; i < b->nw; i++) {
    napi_value v;
    napi_typedarray_type type;
    size_t len = 0;
    void *data = NULL;
    if (napi_get_reference_value(env, b->w[i], &v) != napi_ok || v == NULL ||
        napi_get_typedarray_info(env, v, &type, &len, &data, NULL, NULL) != napi_ok || type != napi_int32_array ||
        (long)len < p->wwords[i]) {
      char msg[96];
      snprintf(msg, sizeof msg, "weight %d was detached or shrank since the plan was built", i);
      return range_error(env, c.name, msg);
    }
    b->wp[i] = data;
  }
  long r;
  LOCKED(qat_threads = threads < 1 ? 1 : threads > QAT_MAX_THREADS ? QAT_MAX_THREADS : threads;
         r = qp_plan_run(p, b->wp, x, y));
  if (r == -2) return range_error(env, c.name, "a padded max pool row is too wide");
  return num(env, (double)r);
}

void qat_define_int8_plan(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"int8PlanCreate", NULL, js_plan_create, NULL, NULL, NULL, napi_default, NULL},
      {"int8PlanRun", NULL, js_plan_run, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
