/// GradientReducer (runtime/distributed/GradientReducer.h).
#include "runtime/distributed/GradientReducer.h"

#include <algorithm>
#include <chrono>

namespace nnc {

namespace {
using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}
} // namespace

GradientReducer::GradientReducer(Communicator &comm,
                                 std::vector<std::pair<uint64_t, uint64_t>> params,
                                 uint64_t bucketBytes)
    : comm_(comm), bucketOf_(params.size(), -1) {
  // From the last param down: the layout is in declaration order, so each
  // bucket is one contiguous range of the buffer.
  for (size_t i = params.size(); i-- > 0;) {
    if (buckets_.empty() || buckets_.back().end - buckets_.back().begin >= bucketBytes)
      buckets_.push_back(Bucket{params[i].first, params[i].first + params[i].second, 0});
    Bucket &b = buckets_.back();
    b.begin = params[i].first;
    ++b.params;
    bucketOf_[i] = static_cast<int>(buckets_.size() - 1);
  }
  pending_.assign(buckets_.size(), 0);
  complete_.assign(buckets_.size(), 0);
  thread_ = std::thread([this] { serve(); });
}

GradientReducer::~GradientReducer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void GradientReducer::begin(float *gradients, float scale) {
  gradients_ = gradients;
  scale_ = scale;
  for (size_t b = 0; b < buckets_.size(); ++b)
    pending_[b] = buckets_[b].params;
  std::lock_guard<std::mutex> lock(mutex_);
  std::fill(complete_.begin(), complete_.end(), 0);
  reduced_ = 0;
}

void GradientReducer::ready(void *self, int64_t param) {
  static_cast<GradientReducer *>(self)->markReady(param);
}

void GradientReducer::markReady(int64_t param) {
  int b = bucketOf_[static_cast<size_t>(param)];
  if (--pending_[static_cast<size_t>(b)] != 0)
    return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    complete_[static_cast<size_t>(b)] = 1;
  }
  wake_.notify_one();
}

void GradientReducer::allReady() {
  for (size_t b = 0; b < pending_.size(); ++b)
    if (pending_[b] > 0) {
      pending_[b] = 0;
      std::lock_guard<std::mutex> lock(mutex_);
      complete_[b] = 1;
    }
  wake_.notify_one();
}

void GradientReducer::finish() {
  auto start = Clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return reduced_ == static_cast<int>(buckets_.size()); });
  waitSeconds_ += secondsSince(start);
}

void GradientReducer::serve() {
  for (;;) {
    int b = 0;
    {
      // The next bucket in the fixed order, once complete.
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] {
        return stop_ || (reduced_ < static_cast<int>(buckets_.size()) &&
                         complete_[static_cast<size_t>(reduced_)]);
      });
      if (stop_)
        return;
      b = reduced_;
    }
    auto start = Clock::now();
    const Bucket &bucket = buckets_[static_cast<size_t>(b)];
    float *data = gradients_ + bucket.begin / 4;
    auto count = static_cast<int64_t>((bucket.end - bucket.begin) / 4);
    for (int64_t i = 0; i < count; ++i)
      data[i] *= scale_;
    comm_.allreduceSum(data, count);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      reduceSeconds_ += secondsSince(start);
      ++reduced_;
    }
    done_.notify_all();
  }
}

} // namespace nnc
