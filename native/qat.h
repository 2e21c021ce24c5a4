/*
 * Shared declarations of the native CPU backend (qat-native): the thread pool, per-thread
 * scratch, ISA dispatch, the float GEMM and the kernels the Node-API binding (binding.c)
 * exposes to src/backend/native/. Every kernel takes raw pointers and sizes and writes into
 * caller-owned memory, like the TypeScript `Kernels` interface it implements.
 */
#ifndef QAT_NATIVE_H
#define QAT_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#define QAT_X86 1
#else
#define QAT_X86 0
#endif

/* ---- ISA dispatch (threads.c) ----
 * Ordered levels: each implies the ones below it. AVX512 = avx512f+bw+dq+vl (and AVX2+FMA);
 * AVX512_VNNI adds avx512vnni. The AVX-512 kernels are in sgemm-avx512.c and int8-vnni.c
 * (avx512.h); a build with -DQAT_EMULATE_AVX512 runs them on SIMDe's emulation and reports
 * AVX512_VNNI on any AVX2 CPU (tests only). */
enum { QAT_ISA_SCALAR = 0, QAT_ISA_AVX2 = 1, QAT_ISA_AVX512 = 2, QAT_ISA_AVX512_VNNI = 3 };
/* The ISA the kernels use: the best the CPU supports, unless lowered by qat_set_isa. */
int qat_isa(void);
/* Lowers the ISA (for tests of the other paths); returns the ISA now in effect. */
int qat_set_isa(int isa);
const char *qat_isa_name(int isa);
/* Which kernel variants ran (bits, for tests: the binding's kernelPaths): qat_note_path in a
 * dispatch, qat_take_paths returns the bits noted since its last call and clears them. */
enum {
  QAT_PATH_SGEMM_AVX512 = 1, QAT_PATH_IGEMM_SCALAR = 2, QAT_PATH_IGEMM_AVX2 = 4, QAT_PATH_IGEMM_AVX512BW = 8,
  QAT_PATH_IGEMM_VNNI = 16, QAT_PATH_CONV8_AVX2 = 32, QAT_PATH_CONV8_VNNI = 64,
  /* int8-u8s8.c: quads summed in pairs in 16 bits / pairs marked unsafe run quad by quad */
  QAT_PATH_CONV8_PAIRS = 128, QAT_PATH_CONV8_MARKED = 256, QAT_PATH_COUNT = 9
};
void qat_note_path(int bit);
int qat_take_paths(void);
const char *qat_path_name(int index); /* name of bit 1 << index */

/* ---- threads (threads.c) ---- */
typedef void (*qat_task_fn)(void *ctx, int task, int thread);
/* Runs fn(ctx, t, thread) for t in [0, ntasks) on up to nthreads threads (the caller is thread 0). */
void qat_parallel(int ntasks, int nthreads, qat_task_fn fn, void *ctx);
/* Profile mode 1 (regions run on the calling thread, timed in its CPU time), 2 (live statistics of
 * real regions) or 0 (off); out receives and resets the counters of the mode that was on — mode 1:
 * regions, parallel regions, ns in regions, ns in parallel ones, their ideal ns on their threads;
 * mode 2: regions, worker sleeps, workers that found their region closed, main's ns in regions,
 * main's ns waiting for workers at the end — then the calling thread's CPU time now (ns). */
void qat_pool_profile(int mode, double out[6]);
/* Thread count the kernels use (set from JS before each call). */
extern int qat_threads;
/* Per-thread scratch: slot s of thread t, at least bytes long, 64-byte aligned (grown, never shrunk). */
void *qat_scratch(int thread, int slot, size_t bytes);
#define QAT_MAX_THREADS 64

/* ---- float GEMM (sgemm.c) ----
 * C[i, j] (+)= Σ_p A[i, p]·B[p, j], A element (i, p) at a[i·ars + p·acs], B (p, j) at
 * b[p·brs + j·bcs], C row-major with leading dimension ldc. Single-threaded; `thread` picks
 * the packing scratch. Each C element is computed by the same instruction sequence whatever
 * its position, so callers may split C among threads with bitwise identical results. */
void qat_sgemm(int m, int n, int k, const float *a, long ars, long acs, const float *b, long brs, long bcs,
               float *c, long ldc, int accumulate, int thread);

/* A fused epilogue (the Kernels `Epilogue`): v = act(c + bias), applied to each C value once its
 * sum is complete. bias (nullable) is indexed by C's row (per_col 0) or column (per_col 1) in
 * the call's own coordinates; act: relu = v > 0 ? v : 0, clamp = v < lo ? lo : v > hi ? hi : v. */
enum { QAT_ACT_NONE = 0, QAT_ACT_RELU = 1, QAT_ACT_CLAMP = 2 };
typedef struct {
  const float *bias;
  int per_col, act;
  double lo, hi;
} qat_epi;
/* qat_sgemm, then epi (nullable) on each C tile right after its last k block, while it is in cache. */
void qat_sgemm_epi(int m, int n, int k, const float *a, long ars, long acs, const float *b, long brs, long bcs,
                   float *c, long ldc, int accumulate, int thread, const qat_epi *epi);
/* epi over rows [0, m) × columns [0, n) of C (row stride ldc), r0/c0 its offset for the bias. */
void qat_epi_apply(float *c, long ldc, int m, int n, int r0, int c0, const qat_epi *epi);

/* Batched matmul C[b] (+)= op(A[b])·op(B[b]) (the Kernels `matmul` entry), threaded. */
typedef struct {
  int batch, m, n, k;
  long a_stride, b_stride, c_stride;
  int trans_a, trans_b, accumulate;
} qat_matmul_geom;
void qat_matmul(const float *a, const float *b, float *c, const qat_matmul_geom *g, const qat_epi *epi);

/* ---- float kernels (conv.c, nn.c: pooling, norm.c: batch norm and channel affine) ---- */
typedef struct {
  int n, c, h, w, oc, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, groups;
} qat_conv_geom;
void qat_conv2d(const float *x, const float *w, float *y, const qat_conv_geom *g, const qat_epi *epi);
void qat_conv2d_bwd_input(const float *dy, const float *w, float *dx, const qat_conv_geom *g);
void qat_conv2d_bwd_weight(const float *x, const float *dy, float *dw, const qat_conv_geom *g);

typedef struct {
  int n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, count_include_pad;
} qat_pool_geom;
void qat_max_pool2d(const float *x, float *y, int32_t *argmax, const qat_pool_geom *g);
void qat_max_pool2d_bwd(const float *dy, const int32_t *argmax, float *dx, const qat_pool_geom *g);
void qat_avg_pool2d(const float *x, float *y, const qat_pool_geom *g);
void qat_avg_pool2d_bwd(const float *dy, float *dx, const qat_pool_geom *g);

/* Batch norm's per-channel statistics (mean, variance, 1/σ) are float64, as src/ops/batchnorm.ts keeps them. */
void qat_bn_stats(const float *x, int n, int c, int hw, double *mean, double *var);
void qat_bn_apply(const float *x, const double *mean, const double *inv_std, const float *gamma, const float *beta,
                  float *y, int n, int c, int hw);
void qat_bn_backward(const float *dy, const float *x, const double *mean, const double *inv_std, const float *gamma,
                     float *dx, float *dgamma, float *dbeta, int n, int c, int hw, int training);

/* ---- int8 engine (int8.c) ---- */
typedef struct {
  const int32_t *bias, *mult, *shift; /* bias per output channel (nullable); mult/shift per channel or one */
  int per_channel, yzp, lo, hi, y_signed;
} qat_requant;
size_t qat_qpack_words(int oc, int k);
void qat_qpack_weights(const int8_t *w, int oc, int k, const int32_t *wzp, int wzp_len, int32_t *out);
/* pool2: a 2×2 stride-2 max pool follows, fused (y is then [n, oc, oh/2, ow/2]). */
void qat_qconv2d(const void *x, int x_unsigned, int xzp, const int32_t *wpacked, const qat_conv_geom *g,
                 const qat_requant *rq, void *y, int pool2);
void qat_qlinear(const void *x, int x_unsigned, int xzp, int m, int k, const int32_t *wpacked, int n,
                 const qat_requant *rq, void *y);
int qat_igemm_bench(int m, int n, int k, const int32_t *wpacked, const int32_t *bpanels, int32_t *c); /* −1: out of memory */

/* ---- data movement, reductions, softmax (layout.c, softmax.c) ---- */
#define QAT_MAX_RANK 16
enum { QAT_REDUCE_SUM = 0, QAT_REDUCE_MAX = 1, QAT_REDUCE_MIN = 2 };
void qat_copy_strided(const void *src, long src_off, const long *src_strides, void *dst, long dst_off,
                      const long *dst_strides, const long *shape, int rank, int elem);
/* acc: scratch of out_len doubles */
void qat_reduce_f32(int op, const float *x, const long *shape, const int *reduced, int rank, float *out, long out_len,
                    double *acc);
void qat_softmax(const float *x, float *out, long rows, long cols, int log);
/* out[i] = g[i]·(lo < y[i] < hi ? 1 : 0), hi = +∞ unbounded (elementwise.c) */
void qat_mask_mul(const float *g, const float *y, double lo, double hi, float *out, long n);

/* Elementwise float32 (elementwise.c), bit-exact with src/backend/ref/elementwise.ts. */
enum { QAT_UN_NEG, QAT_UN_ABS, QAT_UN_RELU, QAT_UN_SQUARE, QAT_UN_SQRT, QAT_UN_RECIPROCAL, QAT_UN_FLOOR, QAT_UN_CEIL, QAT_UN_ROUND, QAT_UN_SIGN };
enum { QAT_BIN_ADD, QAT_BIN_SUB, QAT_BIN_MUL, QAT_BIN_DIV, QAT_BIN_MAX, QAT_BIN_MIN };
void qat_unary_f32(int op, const float *x, float *y, long n);
/* y[i] = a[i] op b: with bu8 (nullable) b is that uint8 array (n values); else with channels = 0 b
 * has n values; else y viewed as [n / (channels·inner), channels, inner] takes b[channel]. */
void qat_binary_f32(int op, const float *a, const float *b, const uint8_t *bu8, float *y, long n, long channels, long inner);

/* Below this many flops a product runs on one thread (waking a worker costs tens of µs). */
#define QAT_PARALLEL_MIN_FLOPS (1L << 22)

#endif
