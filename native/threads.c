/*
 * The native backend's thread pool: persistent pthreads started on demand, woken per
 * parallel region (spin for an adaptive window, then sleep on a condition variable), tasks
 * handed out by an atomic counter; the calling thread works too and never waits for a worker
 * that has not joined yet (see "pool" below). Profile counters for bench/thread-profile.ts. Also the per-thread scratch buffers and the
 * ISA choice (and the record of which kernel variants ran, for tests). Used by every kernel file; the thread count comes from JS (setNumThreads).
 */
#include "qat.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if QAT_X86
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

int qat_threads = 1;

/* Held by the binding around every kernel call (binding.h): one kernel at a time per process. */
pthread_mutex_t qat_kernel_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- ISA ---- */
static int isa_best = -1, isa_now = -1;

static int detect_isa(void) {
#if QAT_X86 && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return QAT_ISA_SCALAR;
#ifdef QAT_EMULATE_AVX512
  return QAT_ISA_AVX512_VNNI; /* the AVX-512 kernels run emulated (SIMDe), everything else natively */
#else
  /* __builtin_cpu_supports also checks that the OS saves the zmm and mask registers (XCR0) */
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512dq") ||
      !__builtin_cpu_supports("avx512vl"))
    return QAT_ISA_AVX2;
  return __builtin_cpu_supports("avx512vnni") ? QAT_ISA_AVX512_VNNI : QAT_ISA_AVX512;
#endif
#endif
  return QAT_ISA_SCALAR;
}

int qat_isa(void) {
  if (isa_now < 0) isa_now = isa_best = detect_isa();
  return isa_now;
}

int qat_set_isa(int isa) {
  qat_isa();
  isa_now = isa < isa_best ? (isa < 0 ? 0 : isa) : isa_best;
  return isa_now;
}

const char *qat_isa_name(int isa) {
#ifdef QAT_EMULATE_AVX512
  if (isa == QAT_ISA_AVX512_VNNI) return "avx512-vnni (emulated)";
  if (isa == QAT_ISA_AVX512) return "avx512 (emulated)";
#endif
  return isa == QAT_ISA_AVX512_VNNI ? "avx512-vnni" : isa == QAT_ISA_AVX512 ? "avx512" : isa == QAT_ISA_AVX2 ? "avx2-fma" : "scalar";
}

static atomic_int paths_seen = 0;

void qat_note_path(int bit) { /* read first: no cache-line traffic once the bit is set */
  if (!(atomic_load_explicit(&paths_seen, memory_order_relaxed) & bit)) atomic_fetch_or_explicit(&paths_seen, bit, memory_order_relaxed);
}

int qat_take_paths(void) { return atomic_exchange(&paths_seen, 0); }

const char *qat_path_name(int index) {
  static const char *names[QAT_PATH_COUNT] = {"sgemm-avx512", "igemm-scalar", "igemm-avx2", "igemm-avx512bw", "igemm-vnni",
                                               "conv8-avx2", "conv8-vnni", "conv8-avx2-pairs", "conv8-avx2-marked"};
  return index >= 0 && index < QAT_PATH_COUNT ? names[index] : "";
}

/* ---- scratch ---- */
typedef struct { void *p; size_t size; } block;
#define SLOTS 6
static block scratch[QAT_MAX_THREADS][SLOTS];

void *qat_scratch(int thread, int slot, size_t bytes) {
  block *b = &scratch[thread][slot];
  if (b->size >= bytes) return b->p;
  free(b->p);
  size_t size = bytes > 2 * b->size ? bytes : 2 * b->size;
  size = (size + 63) & ~(size_t)63;
  b->p = aligned_alloc(64, size);
  b->size = b->p ? size : 0;
  if (!b->p) abort(); /* out of memory: nothing sensible to return to a kernel */
  return b->p;
}

/* ---- pool ----
 * A region: main publishes fn/ctx/tasks, opens the join word for the new generation and wakes
 * the workers; whoever is inside takes tasks from the atomic counter. When main runs out of
 * tasks it closes the join word and waits only for the workers that got in (those still
 * mid-task), never for one that has not woken yet: a late worker finds its region closed and
 * goes back to waiting. So a region never lasts longer than its work because of a worker's
 * wake-up latency (or, on a loaded machine, a worker the scheduler has not run yet).
 * Waiting workers spin for an adaptive window (time-based, doubled after a near miss — woken
 * soon after it went to sleep — and halved after long sleeps), then sleep on a condition
 * variable. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static int started = 0;                  /* workers running (thread ids 1..started) */
static atomic_int generation = 0;        /* bumped per region */
static atomic_int go[QAT_MAX_THREADS];   /* go[id] = the region worker id must join next */
static atomic_int next_task = 0;
static atomic_llong join = 0;            /* generation << 32 | CLOSED | workers inside */
static int region_tasks = 0;
static qat_task_fn region_fn = NULL;
static void *region_ctx = NULL;

#define CLOSED (1LL << 31)
#define SPIN_MIN_NS 50000.0
#define SPIN_MAX_NS 1000000.0
#define NEAR_MISS_NS 200000.0 /* woken this soon after falling asleep: spin longer next time */
#define LONG_SLEEP_NS 20000000.0

static double mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Live statistics of real regions (poolProfile mode 2): regions, worker sleeps, workers that found
 * their region closed, main's ns in regions, main's ns waiting for workers at the end. */
static int live_on = 0;
static double live[5];
static atomic_int live_sleeps = 0, live_late = 0;

static void drain(int thread) {
  for (;;) {
    int t = atomic_fetch_add(&next_task, 1);
    if (t >= region_tasks) break;
    region_fn(region_ctx, t, thread);
  }
}

/* Enters region gen unless it is closed or over; returns 1 when in. */
static int enter(int gen) {
  long long v = atomic_load(&join);
  for (;;) {
    if ((int)(v >> 32) != gen || (v & CLOSED)) return 0;
    if (atomic_compare_exchange_weak(&join, &v, v + 1)) return 1;
  }
}

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  int seen = 0;
  double spin_ns = 100000.0;
  for (;;) {
    int gen = atomic_load(&go[id]);
    if (gen == seen) {
      double t0 = mono_ns();
      for (int i = 0; gen == seen; i++) {
        CPU_RELAX();
        gen = atomic_load(&go[id]);
        if ((i & 63) == 63) {
          double spun = mono_ns() - t0;
          if (spun > spin_ns) break;
          if (spun > SPIN_MIN_NS) sched_yield(); /* polite on a loaded machine; returns at once on an idle core */
        }
      }
    }
    if (gen == seen) {
      double slept = mono_ns();
      if (live_on) atomic_fetch_add(&live_sleeps, 1);
      pthread_mutex_lock(&mu);
      while ((gen = atomic_load(&go[id])) == seen) pthread_cond_wait(&wake, &mu);
      pthread_mutex_unlock(&mu);
      slept = mono_ns() - slept;
      if (slept < NEAR_MISS_NS) spin_ns = spin_ns * 2 < SPIN_MAX_NS ? spin_ns * 2 : SPIN_MAX_NS;
      else if (slept > LONG_SLEEP_NS) spin_ns = spin_ns / 2 > SPIN_MIN_NS ? spin_ns / 2 : SPIN_MIN_NS;
    }
    seen = gen;
    if (!enter(gen)) {
      if (live_on) atomic_fetch_add(&live_late, 1);
      continue;
    }
    drain(id);
    atomic_fetch_sub(&join, 1);
  }
  return NULL;
}

static void ensure_workers(int n) {
  while (started < n && started < QAT_MAX_THREADS - 1) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, worker, (void *)(intptr_t)(started + 1)) != 0) {
      pthread_attr_destroy(&attr);
      break;
    }
    pthread_attr_destroy(&attr);
    started++;
  }
}

/*
 * Profile mode (bench/thread-profile.ts, through the binding's poolProfile): every region runs
 * on the calling thread, and the time of those that would run on more than one thread is
 * counted, with the time they would take on their threads if their tasks were equal
 * (⌈tasks/threads⌉/tasks of it) — the parallel fraction of a step, measured at one thread.
 */
static int prof_on = 0;
static double prof[5]; /* regions, parallel regions, ns in regions, ns in parallel regions, ideal ns of those */

/* CPU time of the calling thread (other processes' load does not inflate it). */
static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

void qat_pool_profile(int mode, double out[6]) {
  if (live_on) {
    live[1] = atomic_exchange(&live_sleeps, 0);
    live[2] = atomic_exchange(&live_late, 0);
    memcpy(out, live, sizeof live);
  } else {
    memcpy(out, prof, sizeof prof);
  }
  memset(prof, 0, sizeof prof);
  memset(live, 0, sizeof live);
  out[5] = now_ns();
  prof_on = mode == 1;
  live_on = mode == 2;
}

static void profiled(int ntasks, int nthreads, qat_task_fn fn, void *ctx) {
  double t0 = now_ns();
  for (int t = 0; t < ntasks; t++) fn(ctx, t, 0);
  double dt = now_ns() - t0;
  prof[0] += 1;
  prof[2] += dt;
  if (nthreads > 1) {
    prof[1] += 1;
    prof[3] += dt;
    prof[4] += dt * (double)((ntasks + nthreads - 1) / nthreads) / ntasks;
  }
}

void qat_parallel(int ntasks, int nthreads, qat_task_fn fn, void *ctx) {
  if (ntasks <= 0) return;
  if (nthreads > ntasks) nthreads = ntasks;
  if (nthreads > QAT_MAX_THREADS) nthreads = QAT_MAX_THREADS;
  if (prof_on) {
    profiled(ntasks, nthreads, fn, ctx);
    return;
  }
  if (nthreads > 1) ensure_workers(nthreads - 1);
  if (nthreads <= 1 || started == 0) {
    for (int t = 0; t < ntasks; t++) fn(ctx, t, 0);
    return;
  }
  int helpers = nthreads - 1 < started ? nthreads - 1 : started;
  double t0 = live_on ? mono_ns() : 0;
  region_fn = fn;
  region_ctx = ctx;
  region_tasks = ntasks;
  atomic_store(&next_task, 0);
  int gen = atomic_fetch_add(&generation, 1) + 1;
  atomic_store(&join, (long long)gen << 32);
  pthread_mutex_lock(&mu);
  for (int id = 1; id <= helpers; id++) atomic_store(&go[id], gen);
  pthread_cond_broadcast(&wake);
  pthread_mutex_unlock(&mu);
  drain(0);
  atomic_fetch_or(&join, CLOSED);
  double t1 = live_on ? mono_ns() : 0;
  for (int i = 0; (atomic_load(&join) & (CLOSED - 1)) != 0; i++) {
    if (i < 4000) CPU_RELAX();
    else sched_yield();
  }
  if (live_on) {
    double t2 = mono_ns();
    live[0] += 1;
    live[3] += t2 - t0;
    live[4] += t2 - t1;
  }
}
