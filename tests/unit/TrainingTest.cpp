// Training the course's networks end to end: the autodiff pass builds the
// training step, the Interpreter runs it batch by batch and applies its
// updates. Every check is against numbers computed here in double: the
// perceptron rule mirrored by hand, forward passes of the trained params,
// argmax accuracy on held-out digits.
//
// - XOR: a single-layer perceptron never gets all four points right; the
//   2-2-1 sigmoid network of examples/xor.ir does.
// - AND and OR: the perceptron rule reaches zero errors in a few epochs.
// - Universal approximation: one hidden tanh layer fits sin(x) better as it
//   widens.
// - The UCI digits: examples/digits_mlp.ir reaches >= 95% held-out accuracy.
// - Checkpoints: save/load round trips params and Adam's state exactly; a
//   failed write leaves the old checkpoint; a truncated one is refused.
// - Resuming: the same seed gives the same order and the same losses.
#include "InterpTestUtil.h"

#include "ir/Parser.h"
#include "passes/Pass.h"
#include "runtime/AtomicFile.h"
#include "runtime/Checkpoint.h"
#include "runtime/Dataset.h"
#include "runtime/Interpreter.h"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <set>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

namespace nnc::test {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

std::string readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Graph parseOk(const std::string &text) {
  Result<Graph> g = parseModel(text, "model.ir");
  EXPECT_TRUE(g.ok()) << g.errorText() << "\n" << text;
  return g.ok() ? std::move(g).value() : Graph{};
}

/// The training step of a model text, built as `nnc train` builds it.
Graph trainingStep(const std::string &text) {
  Graph g = parseOk(text);
  if (g.values.empty())
    return g;
  PassContext ctx;
  Status s = runPipeline(g, {"autodiff"}, ctx);
  EXPECT_TRUE(s.ok()) << s.errorText();
  return g;
}

ValueId named(const Graph &g, const std::string &name) {
  ValueId id = g.findValue(name);
  EXPECT_NE(id, kNoValue) << name;
  return id;
}

std::vector<double> valuesOf(const Tensor &t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i)
    v[static_cast<size_t>(i)] = t.at(i);
  return v;
}

std::vector<double> param(const Interpreter &it, const std::string &name) {
  return valuesOf(it.value(named(it.graph(), name)));
}

Tensor tensorOf(std::vector<int64_t> shape, const std::vector<double> &v) {
  std::vector<float> f(v.begin(), v.end());
  return Tensor::f32(std::move(shape), f);
}

void runOk(Interpreter &it, const std::vector<Tensor> &inputs) {
  Status s = it.run(inputs);
  ASSERT_TRUE(s.ok()) << s.errorText();
}

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

const double kPoints[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};

// ---- the perceptron: step(x w + b), sse, sgd ------------------------------------

const char *kPerceptron = "model perceptron {\n"
                          "  dim B\n"
                          "  input x: f32[B, 2]\n"
                          "  input y: f32[B, 1]\n"
                          "  param w: f32[2, 1] = zeros()\n"
                          "  param b: f32[1] = zeros()\n"
                          "  yhat = step(matmul(x, w) + b)\n"
                          "  loss = sse(yhat, y)\n"
                          "  output yhat\n"
                          "  minimize loss with sgd(lr=1)\n"
                          "}\n";

/// Rosenblatt's rule in double, one example at a time:
/// yhat = [w.x + b >= 0]; w += lr (y - yhat) x; b += lr (y - yhat). With
/// lr = 1 and 0/1 inputs every weight is a small integer, exact in f32 too.
struct PerceptronByHand {
  double w[2] = {0, 0}, b = 0;
  double predict(int i) const {
    return w[0] * kPoints[i][0] + w[1] * kPoints[i][1] + b >= 0 ? 1.0 : 0.0;
  }
  void learn(int i, double y) {
    double err = y - predict(i);
    w[0] += err * kPoints[i][0];
    w[1] += err * kPoints[i][1];
    b += err;
  }
  int errors(const double (&y)[4]) const {
    int n = 0;
    for (int i = 0; i < 4; ++i)
      n += predict(i) != y[i];
    return n;
  }
};

/// Trains the perceptron one example at a time for up to `epochs` epochs,
/// checking the weights and all four predictions against the rule by hand
/// after every epoch. Returns the errors after each epoch.
std::vector<int> trainPerceptron(const double (&y)[4], int epochs, bool stopAtZero) {
  Graph g = trainingStep(kPerceptron);
  std::vector<int> errors;
  if (g.values.empty())
    return errors;
  Interpreter it(g);
  PerceptronByHand hand;
  Tensor allX = tensorOf({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1});
  Tensor allY = tensorOf({4, 1}, {y[0], y[1], y[2], y[3]});
  ValueId yhat = named(g, "yhat");
  for (int e = 0; e < epochs; ++e) {
    SCOPED_TRACE("epoch " + std::to_string(e + 1));
    for (int i = 0; i < 4; ++i) {
      runOk(it, {tensorOf({1, 2}, {kPoints[i][0], kPoints[i][1]}), tensorOf({1, 1}, {y[i]})});
      it.applyUpdates();
      hand.learn(i, y[i]);
    }
    EXPECT_EQ(param(it, "w"), (std::vector<double>{hand.w[0], hand.w[1]}));
    EXPECT_EQ(param(it, "b"), (std::vector<double>{hand.b}));
    runOk(it, {allX, allY}); // evaluation only: no applyUpdates
    int wrong = 0;
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(it.value(yhat).at(i), hand.predict(i)) << "point " << i;
      wrong += it.value(yhat).at(i) != y[i];
    }
    EXPECT_EQ(wrong, hand.errors(y));
    errors.push_back(wrong);
    if (stopAtZero && wrong == 0)
      break;
  }
  return errors;
}

TEST(Training, PerceptronNeverSolvesXor) {
  const double xorY[4] = {0, 1, 1, 0};
  std::vector<int> errors = trainPerceptron(xorY, 100, false);
  ASSERT_EQ(errors.size(), 100u);
  for (size_t e = 0; e < errors.size(); ++e)
    EXPECT_GE(errors[e], 1) << "after epoch " << e + 1;
}

TEST(Training, PerceptronLearnsAndAndOr) {
  // Traced by hand from w = 0, b = 0, lr = 1, in the order (0,0), (0,1),
  // (1,0), (1,1), firing when w.x + b >= 0:
  //   AND: errors after each epoch 3, 2, 1, 2, 0; ends at w = (2, 1), b = -3.
  //   OR:  errors after each epoch 1, 1, 0;       ends at w = (1, 1), b = -1.
  const double andY[4] = {0, 0, 0, 1};
  const double orY[4] = {0, 1, 1, 1};
  EXPECT_EQ(trainPerceptron(andY, 50, true), (std::vector<int>{3, 2, 1, 2, 0}));
  EXPECT_EQ(trainPerceptron(orY, 50, true), (std::vector<int>{1, 1, 0}));
  PerceptronByHand hand;
  for (int e = 0; e < 5; ++e)
    for (int i = 0; i < 4; ++i)
      hand.learn(i, andY[i]);
  EXPECT_EQ(hand.w[0], 2);
  EXPECT_EQ(hand.w[1], 1);
  EXPECT_EQ(hand.b, -3);
}

// ---- XOR with a hidden layer ---------------------------------------------------

TEST(Training, HiddenLayerSolvesXor) {
  // examples/xor.ir as it is, trained full-batch with a larger step.
  std::string text = readText(NNC_SOURCE_DIR "/examples/xor.ir");
  size_t lr = text.find("sgd(lr=0.5)");
  ASSERT_NE(lr, std::string::npos) << "examples/xor.ir changed its optimizer";
  text.replace(lr, 11, "sgd(lr=2)");
  Graph g = trainingStep(text);
  ASSERT_FALSE(g.values.empty());
  Interpreter it(g);
  const double y[4] = {0, 1, 1, 0};
  Tensor x = tensorOf({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1});
  Tensor t = tensorOf({4, 1}, {y[0], y[1], y[2], y[3]});
  for (int s = 0; s < 3000; ++s) {
    runOk(it, {x, t});
    it.applyUpdates();
  }
  runOk(it, {x, t});
  double modelLoss = it.value(named(g, "loss")).at(0);

  // The forward pass in double from the trained params.
  std::vector<double> w1 = param(it, "w1"), b1 = param(it, "b1"), w2 = param(it, "w2"),
                      b2 = param(it, "b2");
  double loss = 0;
  int correct = 0;
  for (int i = 0; i < 4; ++i) {
    double h[2];
    for (int j = 0; j < 2; ++j)
      h[j] = sigmoid(kPoints[i][0] * w1[0 * 2 + j] + kPoints[i][1] * w1[1 * 2 + j] + b1[j]);
    double out = sigmoid(h[0] * w2[0] + h[1] * w2[1] + b2[0]);
    EXPECT_NEAR(it.value(named(g, "yhat")).at(i), out, 1e-5);
    loss += 0.5 * (out - y[i]) * (out - y[i]);
    correct += (out >= 0.5) == (y[i] == 1);
  }
  RecordProperty("xor_loss", std::to_string(loss));
  EXPECT_NEAR(modelLoss, loss, 1e-6);
  EXPECT_EQ(correct, 4);
  EXPECT_LT(loss, 0.01);
}

// ---- universal approximation: sin(x) on [-pi, pi] ------------------------------

std::string approximator(int width) {
  std::string h = std::to_string(width);
  return "model approx {\n"
         "  dim B\n"
         "  input x: f32[B, 1]\n"
         "  input y: f32[B, 1]\n"
         "  param w1: f32[1, " +
         h +
         "] = uniform(-2, 2, seed=1)\n"
         "  param b1: f32[" +
         h +
         "] = uniform(-3, 3, seed=2)\n"
         "  param w2: f32[" +
         h +
         ", 1] = uniform(-0.5, 0.5, seed=3)\n"
         "  param b2: f32[1] = zeros()\n"
         "  h = tanh(matmul(x, w1) + b1)\n"
         "  yhat = matmul(h, w2) + b2\n"
         "  loss = mse(yhat, y)\n"
         "  output yhat\n"
         "  minimize loss with adam(lr=0.01)\n"
         "}\n";
}

/// Trains the width-`width` approximator full-batch and returns the final
/// mean squared error, computed in double from the trained params.
double fitSine(int width, int steps) {
  SCOPED_TRACE("width " + std::to_string(width));
  const int n = 64;
  std::vector<double> xs(n), ys(n);
  for (int i = 0; i < n; ++i) {
    xs[i] = -std::numbers::pi + 2 * std::numbers::pi * i / (n - 1);
    ys[i] = std::sin(xs[i]);
  }
  Graph g = trainingStep(approximator(width));
  if (g.values.empty())
    return INFINITY;
  Interpreter it(g);
  Tensor x = tensorOf({n, 1}, xs), y = tensorOf({n, 1}, ys);
  for (int s = 0; s < steps; ++s) {
    Status ran = it.run({x, y});
    EXPECT_TRUE(ran.ok()) << ran.errorText();
    if (!ran.ok())
      return INFINITY;
    it.applyUpdates();
  }
  Status ran = it.run({x, y});
  EXPECT_TRUE(ran.ok()) << ran.errorText();
  std::vector<double> w1 = param(it, "w1"), b1 = param(it, "b1"), w2 = param(it, "w2"),
                      b2 = param(it, "b2");
  // Inputs as the model saw them: rounded to f32.
  double mse = 0;
  for (int i = 0; i < n; ++i) {
    double xi = static_cast<float>(xs[i]), yi = static_cast<float>(ys[i]);
    double out = b2[0];
    for (int j = 0; j < width; ++j)
      out += std::tanh(xi * w1[j] + b1[j]) * w2[j];
    mse += (out - yi) * (out - yi) / n;
  }
  EXPECT_NEAR(it.value(named(g, "loss")).at(0), mse, 1e-7 + 1e-3 * mse);
  return mse;
}

TEST(Training, WiderHiddenLayerFitsSineBetter) {
  // A small Adam step keeps the three runs smooth: from 700 to 1200 steps
  // each width ends about 3x below the next narrower one.
  const int steps = 800;
  double mse2 = fitSine(2, steps), mse8 = fitSine(8, steps), mse32 = fitSine(32, steps);
  RecordProperty("mse2", std::to_string(mse2));
  RecordProperty("mse8", std::to_string(mse8));
  RecordProperty("mse32", std::to_string(mse32));
  EXPECT_GT(mse2, mse8);
  EXPECT_GT(mse8, mse32);
  EXPECT_LT(mse32, 1e-3);
  // sin has variance 1/2 on the grid: even two units do far better than a
  // constant.
  EXPECT_LT(mse2, 0.1);
}

// ---- the UCI digits ---------------------------------------------------------------

const std::string kDigitsCsv = NNC_SOURCE_DIR "/examples/data/digits.csv.gz";

Dataset loadDigits() {
  Result<Dataset> d = readCsv(kDigitsCsv);
  EXPECT_TRUE(d.ok()) << d.errorText();
  if (!d.ok())
    return Dataset{};
  EXPECT_EQ(d->size(), 1797);
  EXPECT_EQ(d->features.shape(), (std::vector<int64_t>{1797, 64}));
  return std::move(d).value();
}

/// Held-out accuracy of the digits MLP's params, from a forward pass in
/// double: h = relu(x / 16 W1 + b1), logits = h W2 + b2, argmax vs label.
/// Also checks the interpreter's logits for the same rows.
double digitsAccuracy(Interpreter &it, const Dataset &held) {
  std::vector<double> w1 = param(it, "w1"), b1 = param(it, "b1"), w2 = param(it, "w2"),
                      b2 = param(it, "b2");
  Result<Batcher> all = Batcher::create(held, {64}, held.size(), 0);
  EXPECT_TRUE(all.ok()) << all.errorText();
  if (!all.ok())
    return 0;
  all->inOrder();
  Batch b = all->batch(0);
  Status ran = it.run({b.features, b.labels}); // evaluation only
  EXPECT_TRUE(ran.ok()) << ran.errorText();
  const Tensor &logits = it.value(named(it.graph(), "logits"));
  int correct = 0;
  double worst = 0;
  for (int64_t r = 0; r < held.size(); ++r) {
    double h[64], out[10];
    for (int j = 0; j < 64; ++j) {
      double z = b1[j];
      for (int k = 0; k < 64; ++k)
        z += held.features.at(r * 64 + k) / 16 * w1[k * 64 + j];
      h[j] = std::max(z, 0.0);
    }
    int best = 0;
    for (int c = 0; c < 10; ++c) {
      out[c] = b2[c];
      for (int j = 0; j < 64; ++j)
        out[c] += h[j] * w2[j * 10 + c];
      if (out[c] > out[best])
        best = c;
      worst = std::max(worst, std::fabs(logits.at(r * 10 + c) - out[c]) /
                                  std::max(1.0, std::fabs(out[c])));
    }
    correct += best == held.labels.i32()[r];
  }
  EXPECT_LT(worst, 1e-4) << "interpreter logits differ from the double forward pass";
  return static_cast<double>(correct) / static_cast<double>(held.size());
}

TEST(Training, DigitsMlpReachesNinetyFivePercentHeldOut) {
  Dataset digits = loadDigits();
  ASSERT_EQ(digits.size(), 1797);
  for (int64_t i = 0; i < digits.size(); ++i) {
    ASSERT_GE(digits.labels.i32()[i], 0);
    ASSERT_LE(digits.labels.i32()[i], 9);
  }
  Result<std::pair<Dataset, Dataset>> split = splitHoldout(digits, 0.2, 1);
  ASSERT_TRUE(split.ok()) << split.errorText();
  const Dataset &train = split->first, &held = split->second;
  // round(1797 * 0.2) = 359 held out.
  ASSERT_EQ(held.size(), 359);
  ASSERT_EQ(train.size(), 1797 - 359);

  // examples/digits_mlp.ir with momentum: plain sgd(lr=0.1) needs some 20
  // epochs to pass 95% on this split, sgd(lr=0.1, momentum=0.9) in batches
  // of 64 stays at 95.5-96.5% from the 8th epoch on.
  std::string text = readText(NNC_SOURCE_DIR "/examples/digits_mlp.ir");
  size_t opt = text.find("sgd(lr=0.1)");
  ASSERT_NE(opt, std::string::npos) << "examples/digits_mlp.ir changed its optimizer";
  text.replace(opt, 11, "sgd(lr=0.1, momentum=0.9)");
  Graph g = trainingStep(text);
  ASSERT_FALSE(g.values.empty());
  Interpreter it(g);
  Result<Batcher> batcher = Batcher::create(train, {64}, 64, 1);
  ASSERT_TRUE(batcher.ok()) << batcher.errorText();
  // ceil(1438 / 64) batches, the last one (30 rows) partial.
  ASSERT_EQ(batcher->batchCount(), 23);
  ASSERT_EQ(batcher->batch(22).labels.dim(0), 1438 - 22 * 64);
  double before = digitsAccuracy(it, held);
  EXPECT_LT(before, 0.5);
  for (uint64_t epoch = 0; epoch < 12; ++epoch) {
    batcher->shuffle(epoch);
    for (int64_t i = 0; i < batcher->batchCount(); ++i) {
      Batch b = batcher->batch(i);
      runOk(it, {b.features, b.labels});
      it.applyUpdates();
    }
  }
  double accuracy = digitsAccuracy(it, held);
  RecordProperty("held_out_accuracy", std::to_string(accuracy));
  EXPECT_GE(accuracy, 0.95);
}

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
  struct rlimit old {};
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
