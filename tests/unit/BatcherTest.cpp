/// Shuffling, batching and hold-out splits (runtime/io/Batcher.cpp) over
/// synthetic data sets and the UCI digits.
#include "runtime/io/Dataset.h"
#include "tests/unit/DatasetTestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

using namespace nnc;
using namespace nnc::datatest;

namespace {

TEST(Batcher, ShuffleIsDeterministicAndGolden) {
  // Golden values: SplitMix64 + Fisher-Yates must give these on every
  // machine (also checked against an independent Python implementation).
  EXPECT_EQ(shuffledOrder(10, 42, 0), (std::vector<int64_t>{6, 1, 8, 5, 2, 7, 4, 3, 9, 0}));
  EXPECT_EQ(shuffledOrder(10, 42, 1), (std::vector<int64_t>{9, 0, 5, 3, 7, 2, 8, 1, 6, 4}));
  std::vector<int64_t> big = shuffledOrder(60000, 1, 0);
  EXPECT_EQ(std::vector<int64_t>(big.begin(), big.begin() + 8),
            (std::vector<int64_t>{58057, 49064, 33875, 20835, 17714, 29819, 34328, 16082}));
  big = shuffledOrder(60000, 1, 3);
  EXPECT_EQ(std::vector<int64_t>(big.begin(), big.begin() + 8),
            (std::vector<int64_t>{19227, 28860, 53756, 25523, 3588, 29721, 38650, 36473}));
  EXPECT_EQ(shuffledOrder(1000, 5, 2), shuffledOrder(1000, 5, 2));
  EXPECT_NE(shuffledOrder(1000, 5, 2), shuffledOrder(1000, 5, 3));
  EXPECT_NE(shuffledOrder(1000, 5, 2), shuffledOrder(1000, 6, 2));
  EXPECT_TRUE(shuffledOrder(0, 1, 0).empty());
  EXPECT_EQ(shuffledOrder(1, 1, 0), (std::vector<int64_t>{0}));
  for (uint64_t epoch = 0; epoch < 5; ++epoch) {
    std::vector<int64_t> order = shuffledOrder(777, 9, epoch);
    std::sort(order.begin(), order.end());
    for (int64_t i = 0; i < 777; ++i)
      ASSERT_EQ(order[static_cast<size_t>(i)], i);
  }
}

TEST(Batcher, BatchesCoverEveryRowOncePerEpoch) {
  Dataset d = synthetic(10, {2, 2});
  Result<Batcher> b = Batcher::create(d, {4}, 4, 42);
  ASSERT_TRUE(b.ok()) << b.errorText();
  EXPECT_EQ(b->batchCount(), 3);
  for (uint64_t epoch = 0; epoch < 3; ++epoch) {
    b->shuffle(epoch);
    EXPECT_EQ(b->order(), shuffledOrder(10, 42, epoch));
    std::multiset<int64_t> seen;
    for (int64_t i = 0; i < b->batchCount(); ++i) {
      Batch bt = b->batch(i);
      int64_t n = i < 2 ? 4 : 2; // the last partial batch is used
      ASSERT_EQ(bt.features.shape(), (std::vector<int64_t>{n, 4}));
      ASSERT_EQ(bt.labels.shape(), (std::vector<int64_t>{n}));
      for (int64_t r = 0; r < n; ++r) {
        // Feature 100*row + k identifies the row; the label must match.
        auto row = static_cast<int64_t>(bt.features.f32()[r * 4] / 100);
        EXPECT_EQ(row, b->order()[static_cast<size_t>(i * 4 + r)]);
        for (int64_t k = 0; k < 4; ++k)
          EXPECT_EQ(bt.features.f32()[r * 4 + k], 100.0f * row + k);
        EXPECT_EQ(bt.labels.i32()[r], row % 10);
        seen.insert(row);
      }
    }
    EXPECT_EQ(seen, (std::multiset<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  }
  b->inOrder();
  Batch first = b->batch(0);
  EXPECT_EQ(first.labels.i32()[3], 3);
}

TEST(Batcher, BatchIntoRefillsItsTensorsUnlessShapeOrSharingSaysOtherwise) {
  Dataset d = synthetic(10, {2, 2});
  Result<Batcher> b = Batcher::create(d, {4}, 4, 42);
  ASSERT_TRUE(b.ok()) << b.errorText();
  b->shuffle(1);
  auto same = [](const Batch &x, const Batch &y) {
    return x.features.shape() == y.features.shape() &&
           std::equal(x.features.f32(), x.features.f32() + x.features.numel(), y.features.f32()) &&
           std::equal(x.labels.i32(), x.labels.i32() + x.labels.numel(), y.labels.i32());
  };
  Batch out;
  b->batchInto(0, out);
  EXPECT_TRUE(same(out, b->batch(0)));
  const void *storage = out.features.data();
  b->batchInto(1, out); // same shape, held by nobody else: refilled in place
  EXPECT_EQ(out.features.data(), storage);
  EXPECT_TRUE(same(out, b->batch(1)));
  Tensor held = out.features; // shared: a new tensor, the held one unchanged
  b->batchInto(0, out);
  EXPECT_NE(out.features.data(), storage);
  EXPECT_EQ(held.data(), storage);
  EXPECT_TRUE(same(out, b->batch(0)));
  b->batchInto(2, out); // the last, partial batch has its own shape
  EXPECT_EQ(out.features.shape(), (std::vector<int64_t>{2, 4}));
  EXPECT_TRUE(same(out, b->batch(2)));
  // On a pool's threads (3: parts of 1 and 2 rows, then 0 and 1 of the
  // partial batch), the same rows.
  ThreadPool pool(3);
  for (int64_t i : {0, 1, 2, 1}) {
    b->batchInto(i, out, &pool);
    EXPECT_TRUE(same(out, b->batch(i))) << "batch " << i;
  }
}

TEST(Batcher, BatchesTakeTheModelInputShape) {
  // 28x28 pixels feed f32[B, 784] or f32[B, 1, 28, 28].
  Dataset d = synthetic(5, {28, 28});
  for (std::vector<int64_t> example :
       {std::vector<int64_t>{784}, std::vector<int64_t>{1, 28, 28}}) {
    Result<Batcher> b = Batcher::create(d, example, 3, 1);
    ASSERT_TRUE(b.ok()) << b.errorText();
    b->inOrder();
    Batch last = b->batch(1);
    std::vector<int64_t> shape{2};
    shape.insert(shape.end(), example.begin(), example.end());
    EXPECT_EQ(last.features.shape(), shape);
    EXPECT_EQ(last.features.f32()[784 + 783], 400.0f + 783);
    EXPECT_EQ(last.labels.i32()[1], 4);
  }
  EXPECT_EQ(message(Batcher::create(d, {10}, 3, 1)),
            "synthetic: each example has 784 elements ([28, 28]), but the model "
            "input takes 10 per example ([10])");
  EXPECT_EQ(message(Batcher::create(d, {784}, 0, 1)), "batch size must be positive, got 0");
  EXPECT_EQ(message(Batcher::create(d, {-1, 784}, 2, 1)),
            "synthetic: the model input's per-example shape [-1, 784] has a "
            "dimension that is not positive");
  // gatherBatch on its own: any rows, repeats allowed.
  std::vector<int64_t> rows{4, 4, 0};
  Batch g = gatherBatch(d, rows, {1, 28, 28});
  EXPECT_EQ(g.features.shape(), (std::vector<int64_t>{3, 1, 28, 28}));
  EXPECT_EQ(g.features.f32()[784], 400.0f);
  EXPECT_EQ(g.features.f32()[2 * 784 + 5], 5.0f);
}

TEST(Batcher, HoldoutSplit) {
  Dataset d = synthetic(10, {3});
  Result<std::pair<Dataset, Dataset>> s = splitHoldout(d, 0.3, 7);
  ASSERT_TRUE(s.ok()) << s.errorText();
  const Dataset &train = s->first, &held = s->second;
  EXPECT_EQ(train.features.shape(), (std::vector<int64_t>{7, 3}));
  EXPECT_EQ(held.features.shape(), (std::vector<int64_t>{3, 3}));
  auto rowsOf = [](const Dataset &p) {
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < p.size(); ++i) {
      auto row = static_cast<int64_t>(p.features.f32()[i * 3] / 100);
      EXPECT_EQ(p.labels.i32()[i], row % 10);
      EXPECT_EQ(p.features.f32()[i * 3 + 2], 100.0f * row + 2);
      rows.push_back(row);
    }
    return rows;
  };
  // Golden: the held-out rows for seed 7, in their original order.
  EXPECT_EQ(rowsOf(held), (std::vector<int64_t>{0, 3, 6}));
  EXPECT_EQ(rowsOf(train), (std::vector<int64_t>{1, 2, 4, 5, 7, 8, 9}));
  EXPECT_EQ(held.source, "synthetic (held-out 30%)");
  EXPECT_EQ(train.source, "synthetic (training part)");

  Result<std::pair<Dataset, Dataset>> again = splitHoldout(d, 0.3, 7);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(rowsOf(again->second), rowsOf(held));

  EXPECT_EQ(message(splitHoldout(d, 0, 7)),
            "synthetic: the held-out fraction must be between 0 and 1, got 0");
  EXPECT_EQ(message(splitHoldout(d, 1.5, 7)),
            "synthetic: the held-out fraction must be between 0 and 1, got 1.5");
  EXPECT_EQ(message(splitHoldout(synthetic(3, {1}), 0.1, 7)),
            "synthetic: cannot hold out 0.1 of 3 examples: one part would be "
            "empty");
}

TEST(Batcher, DigitsHoldout) {
  Result<Dataset> d = readCsv(NNC_SOURCE_DIR "/examples/data/digits.csv.gz");
  ASSERT_TRUE(d.ok()) << d.errorText();
  Result<std::pair<Dataset, Dataset>> s = splitHoldout(std::move(*d), 0.2, 1);
  ASSERT_TRUE(s.ok()) << s.errorText();
  EXPECT_EQ(s->first.size(), 1797 - 359);
  EXPECT_EQ(s->second.size(), 359);
  EXPECT_EQ(s->second.features.shape(), (std::vector<int64_t>{359, 64}));
}

} // namespace
