/// The thread pool: one job at a time, published by bumping a generation
/// counter; every worker acknowledges every job, so a job's fields are never
/// rewritten while a worker may still read them.
///
/// Why shares rather than one counter for all: thread j always gets the
/// same part of a loop of the same size, so the columns of a weight that
/// one thread's GEMM tasks read in the forward pass are the ones its tasks
/// update in the backward pass, and they stay in that core's L2 from step
/// to step. With one counter the tasks went to whichever thread came
/// first, and on 2 threads the residual block's step took 1.7x the CPU
/// time of 1 thread.
#include "runtime/ThreadPool.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <system_error>

namespace nnc {

namespace {

using Clock = std::chrono::steady_clock;

/// How long a thread waits actively for a job (workers, then they block)
/// or for the workers to finish one (the caller): long enough to bridge the
/// gaps between the parallel loops of one training step.
constexpr auto kSpin = std::chrono::microseconds(100);
/// Polls with `pause` before polling with sched_yield: a yield lets a
/// thread that waits for a core run at once when there are more threads
/// than cores (a pool larger than the machine, or a busy machine).
constexpr unsigned kPauses = 64;

void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

/// Polls until `done()` holds or kSpin has passed; returns done().
template <typename F> bool spinUntil(F done) {
  Clock::time_point deadline = Clock::now() + kSpin;
  for (unsigned i = 0;; ++i) {
    if (done())
      return true;
    if (i < kPauses) {
      cpuRelax();
      continue;
    }
    std::this_thread::yield();
    if (Clock::now() > deadline)
      return done();
  }
}

} // namespace

ThreadPool::ThreadPool(int threads)
    : shares_(new Share[static_cast<size_t>(std::max(threads, 1))]) {
  for (int i = 1; i < threads; ++i) {
    try {
      workers_.emplace_back([this, i] { workerLoop(i); });
    } catch (const std::system_error &) {
      break; // fewer threads than asked: slower, the same results
    }
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread &t : workers_)
    t.join();
}

int ThreadPool::defaultThreads() {
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

std::shared_ptr<ThreadPool> ThreadPool::shared(int threads) {
  static std::mutex mutex;
  static std::map<int, std::weak_ptr<ThreadPool>> pools;
  threads = threads > 0 ? threads : defaultThreads();
  std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<ThreadPool> pool = pools[threads].lock();
  if (!pool) {
    pool = std::make_shared<ThreadPool>(threads);
    pools[threads] = pool;
  }
  return pool;
}

void ThreadPool::run(void *pool, int64_t tasks, Task task, void *ctx) {
  static_cast<ThreadPool *>(pool)->parallelFor(tasks, task, ctx);
}

void ThreadPool::parallelFor(int64_t tasks, Task task, void *ctx) {
  bool idle = false;
  if (tasks <= 1 || workers_.empty() ||
      !busy_.compare_exchange_strong(idle, true, std::memory_order_acquire)) {
    for (int64_t i = 0; i < tasks; ++i)
      task(ctx, i);
    return;
  }
  task_ = task;
  ctx_ = ctx;
  const int64_t shares = threads();
  // Share j: tasks [start(j), start(j + 1)), sizes differing by at most one.
  auto start = [&](int64_t j) { return j * (tasks / shares) + std::min(j, tasks % shares); };
  for (int64_t j = 0; j < shares; ++j) {
    shares_[j].next.store(start(j), std::memory_order_relaxed);
    shares_[j].end = start(j + 1);
  }
  working_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  {
    // Under the mutex, so that a worker about to sleep cannot miss the job.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  runTasks(0);
  waitForWorkers();
  busy_.store(false, std::memory_order_release);
}

void ThreadPool::runTasks(int self) {
  const int shares = threads();
  for (int k = 0; k < shares; ++k) {
    Share &share = shares_[(self + k) % shares];
    for (int64_t i = share.next.fetch_add(1, std::memory_order_relaxed); i < share.end;
         i = share.next.fetch_add(1, std::memory_order_relaxed))
      task_(ctx_, i);
  }
}

void ThreadPool::waitForWorkers() {
  auto done = [this] { return working_.load(std::memory_order_acquire) == 0; };
  while (!spinUntil(done))
    std::this_thread::yield();
}

uint64_t ThreadPool::waitForJob(uint64_t seen) {
  auto posted = [&] { return generation_.load(std::memory_order_acquire) != seen; };
  if (!spinUntil(posted)) {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, posted);
  }
  return generation_.load(std::memory_order_acquire);
}

void ThreadPool::workerLoop(int self) {
  uint64_t seen = 0;
  for (;;) {
    seen = waitForJob(seen);
    if (stop_.load(std::memory_order_relaxed))
      return;
    runTasks(self);
    working_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

} // namespace nnc
