/// The all-reduce of a data-parallel step's gradients, by buckets, while the
/// backward pass goes on (the DDP/Horovod schedule; DESIGN.md, "Data
/// parallelism"). The compiled step reports each param's gradient ready
/// (PREFIX_compute_gradients' callback); a background thread takes the
/// buckets in a fixed order (from the last params' bucket), each as soon as
/// all its params are ready, scales it by this process's share of the batch
/// and sums it across processes in place. The fixed order makes every
/// process call the same collectives in the same order, whatever the order
/// in which its gradients became ready.
#pragma once

#include "runtime/distributed/Communicator.h"

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace nnc {

class GradientReducer {
public:
  /// `params`: each trained param's gradient as (byte offset, bytes) in the
  /// flat buffer, in the compiled step's order. Buckets take the params
  /// from the last (whose gradients the backward pass finishes first), each
  /// at least `bucketBytes` (the last may be smaller).
  GradientReducer(Communicator &comm, std::vector<std::pair<uint64_t, uint64_t>> params,
                  uint64_t bucketBytes);
  ~GradientReducer();
  GradientReducer(const GradientReducer &) = delete;
  GradientReducer &operator=(const GradientReducer &) = delete;

  /// Starts a step on `gradients`, each to be multiplied by `scale` before
  /// the sum.
  void begin(float *gradients, float scale);
  /// PREFIX_compute_gradients' ready callback (`self` is the reducer).
  static void ready(void *self, int64_t param);
  /// Marks every param ready (a process without examples in this step).
  void allReady();
  /// Waits until every bucket is summed.
  void finish();

  size_t buckets() const { return buckets_.size(); }
  /// Seconds the background thread spent in all-reduces, and the main
  /// thread waited in finish(), since the reducer began.
  double reduceSeconds() const { return reduceSeconds_; }
  double waitSeconds() const { return waitSeconds_; }

private:
  struct Bucket {
    uint64_t begin = 0, end = 0; ///< byte range in the flat buffer
    int params = 0;
  };
  void markReady(int64_t param);
  void serve();

  Communicator &comm_;
  std::vector<Bucket> buckets_;
  std::vector<int> bucketOf_; ///< per param
  std::vector<int> pending_;  ///< per bucket: params not yet ready (main thread only)
  float *gradients_ = nullptr;
  float scale_ = 1;

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<char> complete_; ///< per bucket: all its params are ready
  int reduced_ = 0;            ///< buckets reduced this step (the next to take)
  bool stop_ = false;
  double reduceSeconds_ = 0, waitSeconds_ = 0;
  std::thread thread_;
};

} // namespace nnc
