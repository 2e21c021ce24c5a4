/*
 * Node-API entries about the instruction sets (registered by binding.c's init):
 * kernelPaths() — the names of the kernel variants that ran since its last call
 * ("sgemm-avx512", "igemm-avx2", "conv8-vnni", … : threads.c's qat_note_path bits), so tests
 * can assert that an AVX-512 / VNNI kernel, and not its fallback, computed a result.
 */
#include "binding.h"

static napi_value js_kernel_paths(napi_env env, napi_callback_info info) {
  (void)info;
  int bits;
  LOCKED(bits = qat_take_paths());
  napi_value list, s;
  napi_create_array(env, &list);
  uint32_t n = 0;
  for (int i = 0; i < QAT_PATH_COUNT; i++) {
    if (!(bits & (1 << i))) continue;
    napi_create_string_utf8(env, qat_path_name(i), NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, list, n++, s);
  }
  return list;
}

void qat_define_isa(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"kernelPaths", NULL, js_kernel_paths, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
