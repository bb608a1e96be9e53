/// The runtime's thread pool: persistent workers that run the tasks of one
/// parallel loop at a time, the calling thread included. Each thread first
/// claims tasks from its own contiguous share of the loop, then helps with
/// the others' (atomic counters, one per share); idle workers spin briefly,
/// then sleep on a condition variable (they burn no CPU between jobs). A
/// call allocates nothing. Compiled code reaches a pool through `run`, the runner of the
/// C ABI's `P_set_parallel_runner` (DESIGN.md, "Threads").
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace nnc {

class ThreadPool {
public:
  /// One task of a parallel loop; must not throw.
  using Task = void (*)(void *ctx, int64_t i);

  /// A pool of `threads` threads in all (at least 1): the caller and
  /// `threads - 1` workers (fewer if the system refuses to start them).
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  /// Calls task(ctx, i) exactly once for every i in [0, tasks), on the
  /// pool's threads, and returns when all have finished (their writes are
  /// then visible to the caller). With one thread, one task, or while the
  /// pool runs another loop (a nested or concurrent call), the tasks run
  /// inline on the calling thread, in order.
  void parallelFor(int64_t tasks, Task task, void *ctx);

  /// The runner of the C ABI (P_set_parallel_runner): `pool` is a ThreadPool.
  static void run(void *pool, int64_t tasks, Task task, void *ctx);

  /// The number of hardware threads (at least 1): the default pool size.
  static int defaultThreads();
  /// A pool of `threads` threads (0: defaultThreads()), shared by everyone
  /// who asks for that size while one of them still holds it.
  static std::shared_ptr<ThreadPool> shared(int threads);

private:
  /// One thread's share of a job: tasks [next, end), claimed one at a time
  /// (by its owner, then by any thread that ran out of its own). A cache
  /// line each, so claims of different shares do not contend.
  struct alignas(64) Share {
    std::atomic<int64_t> next{0};
    int64_t end = 0;
  };

  void workerLoop(int self);
  /// Waits until the job generation differs from `seen`; returns it.
  uint64_t waitForJob(uint64_t seen);
  /// Claims and runs tasks of the current job until none are left: those of
  /// thread `self`'s share first (0 is the caller).
  void runTasks(int self);
  void waitForWorkers();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0}; ///< bumped once per job (and to stop)
  std::atomic<bool> stop_{false};
  std::atomic<bool> busy_{false};   ///< a job is running
  std::atomic<int> working_{0};     ///< workers not yet done with the job
  std::unique_ptr<Share[]> shares_; ///< one per thread (written before generation_)
  Task task_ = nullptr;             ///< the job (written before generation_)
  void *ctx_ = nullptr;
};

} // namespace nnc
