/* The paired A/B driver of bench/pair.py: two compilations of one model
 * (entry points prefixed a_ and b_, each an AOT object of nnc compile) run
 * alternately in one process on the same inputs, so that both see the
 * same spells of a shared machine. Prints each side's median and minimum
 * per call and the median over pairs of (b time / a time).
 *
 *   pair_driver REPS TRAIN THREADS DIMS... -- INPUT... -- OUTPUT...
 *
 * TRAIN is 1 to time train_step, 0 for infer; THREADS above 1 gives both
 * sides one parallel runner (P_set_parallel_runner) of THREADS - 1
 * spinning workers and the calling thread; DIMS are the model's dims;
 * each INPUT is DTYPE:BYTES (f32 or i32), each OUTPUT its BYTES. Inputs are
 * filled with values in [-1, 1) (f32) or 0 and 1 (i32, labels): valid for
 * every model of bench/ and examples/. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENTRY_POINTS(P)                                                                            \
  uint64_t P##_state_size(void);                                                                   \
  uint64_t P##_workspace_size(const int64_t *dims);                                                \
  int P##_init(void *state);                                                                       \
  int P##_infer(void *state, void *ws, const int64_t *dims, const void *const *in,                 \
                void *const *out);                                                                 \
  __attribute__((weak)) int P##_train_step(void *state, void *ws, const int64_t *dims,             \
                                           const void *const *in, float *loss);                    \
  void P##_set_parallel_runner(void (*run)(void *, int64_t, void (*)(void *, int64_t), void *),    \
                               void *pool);
ENTRY_POINTS(a)
ENTRY_POINTS(b)

enum { kMaxBuffers = 16, kWarmUp = 5 };

static double nowUs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void *buffer(uint64_t bytes) {
  void *p = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
  if (!p) {
    fprintf(stderr, "pair_driver: out of memory\n");
    exit(1);
  }
  return p;
}

/* The parallel runner: the caller posts a job and takes tasks with the
 * workers, which spin between jobs (a benchmark owns the machine). A worker
 * announces itself (`inside`) before it looks at a job, and takes tasks
 * only while the job is open; the caller closes a job once every task is
 * done and writes the next one only when no worker is inside, so a late
 * worker never runs a task of one job with the fields of another. All
 * atomics are sequentially consistent. */
static struct {
  void (*task)(void *, int64_t);
  void *ctx;
  int64_t tasks;
  atomic_llong next, done;
  atomic_int inside, open;
  atomic_uint posted;
} job;

static void runTasks(void) {
  for (int64_t t; (t = atomic_fetch_add(&job.next, 1)) < job.tasks;) {
    job.task(job.ctx, t);
    atomic_fetch_add(&job.done, 1);
  }
}

static void *worker(void *unused) {
  (void)unused;
  for (unsigned seen = 0;;) {
    while (atomic_load(&job.posted) == seen)
      __builtin_ia32_pause();
    atomic_fetch_add(&job.inside, 1);
    seen = atomic_load(&job.posted);
    if (atomic_load(&job.open))
      runTasks();
    atomic_fetch_sub(&job.inside, 1);
  }
  return NULL;
}

static void run(void *pool, int64_t tasks, void (*task)(void *, int64_t), void *ctx) {
  (void)pool;
  while (atomic_load(&job.inside) > 0) // workers that saw the last job, closed
    __builtin_ia32_pause();
  job.task = task;
  job.ctx = ctx;
  job.tasks = tasks;
  atomic_store(&job.done, 0);
  atomic_store(&job.next, 0);
  atomic_store(&job.open, 1);
  atomic_fetch_add(&job.posted, 1);
  runTasks();
  while (atomic_load(&job.done) < tasks)
    __builtin_ia32_pause();
  atomic_store(&job.open, 0);
}

static void startWorkers(int threads) {
  for (int i = 1; i < threads; ++i) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0) {
      fprintf(stderr, "pair_driver: cannot start a thread\n");
      exit(1);
    }
  }
  a_set_parallel_runner(run, NULL);
  b_set_parallel_runner(run, NULL);
}

static int byValue(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, byValue);
  return v[n / 2];
}

/* Reads [DTYPE:]BYTES... up to "--" or the end; returns how many.
 * integer[i] tells an i32 buffer. */
static int readSizes(int *arg, int argc, char **argv, uint64_t *sizes, int *integer) {
  int n = 0;
  for (; *arg < argc && strcmp(argv[*arg], "--") != 0 && n < kMaxBuffers; ++*arg) {
    const char *text = argv[*arg];
    integer[n] = strncmp(text, "i32:", 4) == 0;
    const char *colon = strchr(text, ':');
    sizes[n++] = strtoull(colon ? colon + 1 : text, NULL, 10);
  }
  if (*arg < argc)
    ++*arg; /* the "--" */
  return n;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: pair_driver REPS TRAIN THREADS DIMS... -- SIZE... -- SIZE...\n");
    return 1;
  }
  int reps = atoi(argv[1]), train = atoi(argv[2]), threads = atoi(argv[3]), arg = 4;
  int dimCount = 0;
  if (threads > 1)
    startWorkers(threads);
  int64_t dims[kMaxBuffers];
  for (; arg < argc && strcmp(argv[arg], "--") != 0 && dimCount < kMaxBuffers; ++arg)
    dims[dimCount++] = strtoll(argv[arg], NULL, 10);
  ++arg;
  uint64_t inSizes[kMaxBuffers], outSizes[kMaxBuffers];
  int inInteger[kMaxBuffers], outInteger[kMaxBuffers];
  int inputs = readSizes(&arg, argc, argv, inSizes, inInteger);
  int outputs = readSizes(&arg, argc, argv, outSizes, outInteger);
  if (train && (!a_train_step || !b_train_step)) {
    fprintf(stderr, "pair_driver: the model has no training step\n");
    return 1;
  }
  const void *in[kMaxBuffers];
  void *out[kMaxBuffers];
  for (int i = 0; i < inputs; ++i) {
    void *p = buffer(inSizes[i]);
    for (uint64_t e = 0; e < inSizes[i] / 4; ++e)
      if (inInteger[i])
        ((int32_t *)p)[e] = (int32_t)(e % 2);
      else
        ((float *)p)[e] = (float)((e * 2654435761u) % 2000) / 1000.0f - 1.0f;
    in[i] = p;
  }
  for (int i = 0; i < outputs; ++i)
    out[i] = buffer(outSizes[i]);
  void *stateA = buffer(a_state_size()), *stateB = buffer(b_state_size());
  void *wsA = buffer(a_workspace_size(dims)), *wsB = buffer(b_workspace_size(dims));
  if (a_init(stateA) || b_init(stateB)) {
    fprintf(stderr, "pair_driver: init failed\n");
    return 1;
  }
  double *ta = malloc(sizeof(double) * (size_t)reps), *tb = malloc(sizeof(double) * (size_t)reps);
  double *ratio = malloc(sizeof(double) * (size_t)reps);
  float loss;
  for (int r = -kWarmUp; r < reps; ++r) {
    double s = nowUs();
    int failed =
        train ? a_train_step(stateA, wsA, dims, in, &loss) : a_infer(stateA, wsA, dims, in, out);
    double t1 = nowUs() - s;
    s = nowUs();
    failed |=
        train ? b_train_step(stateB, wsB, dims, in, &loss) : b_infer(stateB, wsB, dims, in, out);
    double t2 = nowUs() - s;
    if (failed) {
      fprintf(stderr, "pair_driver: a call failed\n");
      return 1;
    }
    if (r >= 0) {
      ta[r] = t1;
      tb[r] = t2;
      ratio[r] = t2 / t1;
    }
  }
  double ratioMedian = median(ratio, reps);
  double medianA = median(ta, reps), minA = ta[0];
  double medianB = median(tb, reps), minB = tb[0];
  printf("{\"a_median_us\": %.2f, \"a_min_us\": %.2f, \"b_median_us\": %.2f, \"b_min_us\": %.2f, "
         "\"median_b_over_a\": %.4f, \"pairs\": %d, \"threads\": %d}\n",
         medianA, minA, medianB, minB, ratioMedian, reps, threads);
  return 0;
}
