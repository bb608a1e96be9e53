// Checkpoints and resuming, through the interpreter: save/load round trips
// params and Adam's state exactly; a failed write leaves the old checkpoint;
// a truncated one is refused by name; the same seed gives the same order and
// the same losses, and a resumed run continues where the first one stopped.
#include "InterpTestUtil.h"
#include "TrainingTestUtil.h"

#include "runtime/io/AtomicFile.h"
#include "runtime/io/Checkpoint.h"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <set>
#include <sys/resource.h>
#include <unistd.h>

namespace nnc::test {
namespace {

namespace fs = std::filesystem;

// ---- checkpoints -----------------------------------------------------------------

const char *kAdamModel = "model ck {\n"
                         "  dim B\n"
                         "  input x: f32[B, 2]\n"
                         "  input y: f32[B, 1]\n"
                         "  param w1: f32[2, 3] = uniform(-1, 1, seed=3)\n"
                         "  param b1: f32[3] = zeros()\n"
                         "  param w2: f32[3, 1] = uniform(-1, 1, seed=4)\n"
                         "  param b2: f32[1] = zeros()\n"
                         "  h = tanh(matmul(x, w1) + b1)\n"
                         "  yhat = sigmoid(matmul(h, w2) + b2)\n"
                         "  loss = bce(yhat, y)\n"
                         "  output yhat\n"
                         "  minimize loss with adam(lr=0.05)\n"
                         "}\n";

/// A fresh directory under the temp folder, removed at the end.
class TempDir {
public:
  explicit TempDir(const std::string &tag) {
    path_ = fs::temp_directory_path() / ("nnc-training-" + tag + "-" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, ec);
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string &name) const { return (path_ / name).string(); }
  std::set<std::string> entries() const {
    std::set<std::string> names;
    for (const auto &e : fs::directory_iterator(path_))
      names.insert(e.path().filename().string());
    return names;
  }
  const fs::path &path() const { return path_; }

private:
  fs::path path_;
};

/// The raw bytes of every param and state.
std::vector<std::string> snapshot(const Interpreter &it) {
  std::vector<std::string> bytes;
  for (ValueKind kind : {ValueKind::Param, ValueKind::State})
    for (ValueId id : it.graph().valuesOfKind(kind)) {
      const Tensor &t = it.value(id);
      bytes.emplace_back(static_cast<const char *>(t.data()), static_cast<size_t>(t.bytes()));
    }
  return bytes;
}

std::vector<Tensor> xorBatch() {
  return {tensorOf({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1}), tensorOf({4, 1}, {0, 1, 1, 0})};
}

void steps(Interpreter &it, int n) {
  for (int s = 0; s < n; ++s) {
    runOk(it, xorBatch());
    it.applyUpdates();
  }
}

TEST(Training, CheckpointRoundTripContinuesBitIdentically) {
  Graph g = trainingStep(kAdamModel);
  ASSERT_FALSE(g.values.empty());
  ASSERT_FALSE(g.valuesOfKind(ValueKind::State).empty()) << "adam has no state buffers";
  TempDir dir("roundtrip");
  std::string path = dir.file("ck.safetensors");

  Interpreter original(g);
  std::vector<std::string> initial = snapshot(original);
  steps(original, 5);
  Status saved = saveCheckpoint(original, path);
  ASSERT_TRUE(saved.ok()) << saved.errorText();
  std::vector<std::string> atSave = snapshot(original);
  ASSERT_NE(atSave, initial);
  steps(original, 1);

  Interpreter resumed(g);
  ASSERT_EQ(snapshot(resumed), initial);
  Status loaded = loadCheckpoint(resumed, path);
  ASSERT_TRUE(loaded.ok()) << loaded.errorText();
  EXPECT_EQ(snapshot(resumed), atSave) << "params or optimizer state not restored exactly";
  steps(resumed, 1);
  EXPECT_EQ(snapshot(resumed), snapshot(original))
      << "one step after loading differs from continuing the original";

  // Without Adam's state (a fresh interpreter given only the params), the
  // same step lands elsewhere: the checkpoint's state matters.
  Interpreter paramsOnly(g);
  Interpreter reference(g);
  ASSERT_TRUE(loadCheckpoint(reference, path).ok());
  for (ValueId id : g.valuesOfKind(ValueKind::Param))
    paramsOnly.stateTensor(id) = reference.value(id).clone();
  steps(paramsOnly, 1);
  EXPECT_NE(snapshot(paramsOnly), snapshot(original));
}

TEST(Training, FailedCheckpointWriteLeavesThePreviousOne) {
  Graph g = trainingStep(kAdamModel);
  ASSERT_FALSE(g.values.empty());
  TempDir dir("interrupted");
  std::string path = dir.file("ck.safetensors");
  Interpreter it(g);
  steps(it, 3);
  ASSERT_TRUE(saveCheckpoint(it, path).ok());
  std::vector<std::string> atSave = snapshot(it);
  Result<std::string> before = readWholeFile(path);
  ASSERT_TRUE(before.ok()) << before.errorText();
  ASSERT_GT(before->size(), 256u);
  steps(it, 3);
  ASSERT_NE(snapshot(it), atSave);

  // The disk "fills up" half-way through the write: files may not grow past
  // 128 bytes (SIGXFSZ ignored, so write() fails with EFBIG).
  struct rlimit old = {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  struct rlimit small = old;
  small.rlim_cur = 128;
  auto oldHandler = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  Status failed = saveCheckpoint(it, path);
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, oldHandler);
  ASSERT_FALSE(failed.ok()) << "a write past the file size limit succeeded";
  EXPECT_TRUE(contains(failed.errorText(), path)) << failed.errorText();

  Result<std::string> after = readWholeFile(path);
  ASSERT_TRUE(after.ok()) << after.errorText();
  EXPECT_TRUE(*after == *before) << "the previous checkpoint was changed";
  EXPECT_EQ(dir.entries(), std::set<std::string>{"ck.safetensors"}) << "a temporary file remains";
  Interpreter reloaded(g);
  ASSERT_TRUE(loadCheckpoint(reloaded, path).ok());
  EXPECT_EQ(snapshot(reloaded), atSave);

  // A folder nobody may write to (not a restriction for root, who skips it).
  if (::geteuid() != 0) {
    fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec);
    Status denied = saveCheckpoint(it, path);
    fs::permissions(dir.path(), fs::perms::owner_all);
    EXPECT_FALSE(denied.ok());
    EXPECT_TRUE(contains(denied.errorText(), path)) << denied.errorText();
    Result<std::string> still = readWholeFile(path);
    ASSERT_TRUE(still.ok());
    EXPECT_TRUE(*still == *before);
    EXPECT_EQ(dir.entries(), std::set<std::string>{"ck.safetensors"});
  }
}

TEST(Training, TruncatedCheckpointIsRefusedByName) {
  Graph g = trainingStep(kAdamModel);
  ASSERT_FALSE(g.values.empty());
  TempDir dir("truncated");
  std::string path = dir.file("ck.safetensors");
  Interpreter it(g);
  steps(it, 2);
  ASSERT_TRUE(saveCheckpoint(it, path).ok());
  Result<std::string> bytes = readWholeFile(path);
  ASSERT_TRUE(bytes.ok()) << bytes.errorText();

  for (size_t keep : {bytes->size() - 1, bytes->size() / 2, size_t{12}, size_t{4}}) {
    SCOPED_TRACE("kept " + std::to_string(keep) + " of " + std::to_string(bytes->size()) +
                 " bytes");
    std::string cut = dir.file("cut-" + std::to_string(keep) + ".safetensors");
    {
      std::ofstream out(cut, std::ios::binary);
      out.write(bytes->data(), static_cast<std::streamsize>(keep));
    }
    Interpreter fresh(g);
    std::vector<std::string> initial = snapshot(fresh);
    Status loaded = loadCheckpoint(fresh, cut);
    ASSERT_FALSE(loaded.ok()) << "a truncated checkpoint was accepted";
    EXPECT_TRUE(contains(loaded.errorText(), cut)) << loaded.errorText();
    EXPECT_EQ(snapshot(fresh), initial) << "a refused checkpoint changed the params";
  }
}

// ---- resuming: the same seed, the same run ---------------------------------------

struct TrainingRun {
  std::vector<std::vector<int64_t>> orders; ///< per epoch
  std::vector<float> losses;                ///< per batch
  std::vector<std::string> final;           ///< params and state bytes
};

/// `nnc train`'s loop: shuffle with (seed, epoch), run each batch, apply.
void trainEpochs(Interpreter &it, const Dataset &data, uint64_t seed, uint64_t first, uint64_t last,
                 TrainingRun &run) {
  Result<Batcher> batcher = Batcher::create(data, {64}, 128, seed);
  ASSERT_TRUE(batcher.ok()) << batcher.errorText();
  ValueId loss = named(it.graph(), "loss");
  for (uint64_t epoch = first; epoch < last; ++epoch) {
    batcher->shuffle(epoch);
    run.orders.push_back(batcher->order());
    for (int64_t i = 0; i < batcher->batchCount(); ++i) {
      Batch b = batcher->batch(i);
      runOk(it, {b.features, b.labels});
      run.losses.push_back(static_cast<float>(it.value(loss).at(0)));
      it.applyUpdates();
    }
  }
  run.final = snapshot(it);
}

TEST(Training, SameSeedSameOrderAndLossesAndResume) {
  Dataset digits = loadDigits();
  ASSERT_EQ(digits.size(), 1797);
  Result<std::pair<Dataset, Dataset>> split = splitHoldout(digits, 0.5, 3);
  ASSERT_TRUE(split.ok()) << split.errorText();
  const Dataset &data = split->first;
  const int64_t n = data.size();
  ASSERT_EQ(n, 1797 - 899); // round(898.5) = 899 held out (half away from zero)

  std::string model = readText(NNC_SOURCE_DIR "/examples/digits_mlp.ir");
  Graph g = trainingStep(model);
  ASSERT_FALSE(g.values.empty());

  TrainingRun first, second;
  {
    Interpreter it(g);
    trainEpochs(it, data, 7, 0, 2, first);
  }
  {
    Interpreter it(g);
    trainEpochs(it, data, 7, 0, 2, second);
  }
  ASSERT_EQ(first.orders.size(), 2u);
  EXPECT_EQ(first.orders, second.orders);
  EXPECT_EQ(first.losses, second.losses);
  EXPECT_EQ(first.final, second.final);
  // ceil(898 / 128) = 8 batches per epoch.
  EXPECT_EQ(first.losses.size(), 16u);

  // Each order is a permutation of the rows; the epochs differ, and so does
  // another seed.
  for (const std::vector<int64_t> &order : first.orders) {
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> identity(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      identity[static_cast<size_t>(i)] = i;
    EXPECT_EQ(sorted, identity);
  }
  EXPECT_NE(first.orders[0], first.orders[1]);
  EXPECT_EQ(shuffledOrder(n, 7, 0), first.orders[0]);
  EXPECT_NE(shuffledOrder(n, 8, 0), first.orders[0]);

  // A batch holds the rows of the order, in that order.
  Result<Batcher> batcher = Batcher::create(data, {64}, 128, 7);
  ASSERT_TRUE(batcher.ok());
  batcher->shuffle(1);
  Batch last = batcher->batch(batcher->batchCount() - 1);
  ASSERT_EQ(last.features.shape(), (std::vector<int64_t>{n - 7 * 128, 64}));
  for (int64_t r = 0; r < last.features.dim(0); ++r) {
    int64_t row = first.orders[1][static_cast<size_t>(7 * 128 + r)];
    EXPECT_EQ(last.labels.i32()[r], data.labels.i32()[row]);
    for (int64_t k = 0; k < 64; ++k)
      ASSERT_EQ(last.features.at(r * 64 + k), data.features.at(row * 64 + k));
  }

  // Training falls: the second epoch's mean loss is below the first's.
  double e1 = 0, e2 = 0;
  for (size_t i = 0; i < 8; ++i) {
    e1 += first.losses[i];
    e2 += first.losses[8 + i];
  }
  EXPECT_LT(e2, e1);

  // Resume: one epoch, a checkpoint, a fresh interpreter that loads it and
  // runs the second epoch: the same losses and params as the uninterrupted run.
  TempDir dir("resume");
  std::string path = dir.file("epoch1.safetensors");
  TrainingRun before, after;
  {
    Interpreter it(g);
    trainEpochs(it, data, 7, 0, 1, before);
    ASSERT_TRUE(saveCheckpoint(it, path).ok());
  }
  Interpreter resumed(g);
  Status loaded = loadCheckpoint(resumed, path);
  ASSERT_TRUE(loaded.ok()) << loaded.errorText();
  trainEpochs(resumed, data, 7, 1, 2, after);
  std::vector<float> joined = before.losses;
  joined.insert(joined.end(), after.losses.begin(), after.losses.end());
  EXPECT_EQ(joined, first.losses);
  EXPECT_EQ(after.orders[0], first.orders[1]);
  EXPECT_EQ(after.final, first.final);
}

} // namespace
} // namespace nnc::test
