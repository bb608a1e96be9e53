/// The gradient reducer of data-parallel training
/// (runtime/distributed/GradientReducer.h) against a fake communicator of
/// two processes whose other process contributes known numbers: buckets
/// from the last param, each summed once and scaled by this process's
/// share, whatever the order in which gradients become ready.
#include "runtime/distributed/GradientReducer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <utility>
#include <numeric>
#include <random>

namespace nnc {
namespace {

/// Rank 0 of two; the other rank's gradients are `other` (same layout).
class FakeCommunicator final : public Communicator {
public:
  FakeCommunicator(const float *base, std::vector<float> other)
      : base_(base), other_(std::move(other)) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  void allreduceSum(float *data, int64_t count) override {
    auto at = static_cast<size_t>(data - base_);
    for (int64_t i = 0; i < count; ++i)
      data[i] += other_[at + static_cast<size_t>(i)];
    std::lock_guard<std::mutex> lock(mutex_);
    sums.emplace_back(at, count);
  }
  int64_t allreduceMax(int64_t value) override { return value; }
  void broadcast(void *, int64_t, int) override {}
  [[noreturn]] void abort(int) override { std::abort(); }

  std::vector<std::pair<size_t, int64_t>> sums; ///< (float offset, count) per all-reduce

private:
  std::mutex mutex_;
  const float *base_;
  std::vector<float> other_;
};

/// Four params of 16, 16, 32 and 64 floats, back to back.
std::vector<std::pair<uint64_t, uint64_t>> fourParams() {
  return {{0, 64}, {64, 64}, {128, 128}, {256, 256}};
}

TEST(GradientReducer, BucketsFromTheLastParamEachAtLeastTheBucketSize) {
  std::vector<float> g(128);
  FakeCommunicator comm(g.data(), std::vector<float>(128, 0.0f));
  EXPECT_EQ(GradientReducer(comm, fourParams(), 128).buckets(), 3u); // {p3} {p2} {p1, p0}
  EXPECT_EQ(GradientReducer(comm, fourParams(), 1 << 20).buckets(), 1u);
  EXPECT_EQ(GradientReducer(comm, fourParams(), 1).buckets(), 4u);
}

TEST(GradientReducer, SumsEachBucketOnceScaledByTheShare) {
  std::vector<float> g(128), other(128);
  std::iota(other.begin(), other.end(), 1000.0f);
  FakeCommunicator comm(g.data(), other);
  GradientReducer reducer(comm, fourParams(), 128);
  std::mt19937 rng(7);
  for (int step = 0; step < 20; ++step) {
    std::iota(g.begin(), g.end(), static_cast<float>(step));
    std::vector<float> want(128);
    for (size_t i = 0; i < want.size(); ++i)
      want[i] = g[i] * 0.25f + other[i];
    comm.sums.clear();
    reducer.begin(g.data(), 0.25f);
    std::vector<int64_t> order = {0, 1, 2, 3};
    std::shuffle(order.begin(), order.end(), rng);
    for (int64_t p : order)
      GradientReducer::ready(&reducer, p);
    reducer.finish();
    EXPECT_EQ(g, want) << "step " << step;
    ASSERT_EQ(comm.sums.size(), 3u) << "each bucket summed once";
    // In the fixed order, whatever order the params became ready in: every
    // process calls the same collectives in the same order.
    EXPECT_EQ(comm.sums[0], (std::pair<size_t, int64_t>{64, 64})); // p3
    EXPECT_EQ(comm.sums[1], (std::pair<size_t, int64_t>{32, 32})); // p2
    EXPECT_EQ(comm.sums[2], (std::pair<size_t, int64_t>{0, 32}));  // p0 and p1
  }
}

TEST(GradientReducer, AllReadyServesAStepWithoutGradientsAndAStepThatStopped) {
  std::vector<float> g(128, 0.0f), other(128, 2.0f);
  FakeCommunicator comm(g.data(), other);
  GradientReducer reducer(comm, fourParams(), 64);
  reducer.begin(g.data(), 0.0f);
  reducer.allReady();
  reducer.finish();
  EXPECT_EQ(g, other);
  // Some params ready, then the rest at once (a compute that failed half way).
  reducer.begin(g.data(), 1.0f);
  GradientReducer::ready(&reducer, 3);
  reducer.allReady();
  reducer.finish();
  EXPECT_EQ(g, std::vector<float>(128, 4.0f));
}

} // namespace
} // namespace nnc
