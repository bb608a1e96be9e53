/// batchnorm and dropout, the two ops that train differently from how they
/// infer (IR.md section 3, "Training mode and inference mode"): batch norm
/// against torch.nn.BatchNorm1d's numbers (training output, gradients,
/// running statistics, inference before and after a step) in both engines;
/// dropout's mask (kept fraction, scaling, the same mask forward and
/// backward, a new mask each step, the same bits in both engines and on 1
/// and 2 threads) and its identity in inference.
#include "JitTestUtil.h"
#include "codegen/Session.h"
#include "frontend/Parser.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"
#include "passes/TrainingMode.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace nnc {
namespace {

Graph parsed(const std::string &text) { return jittest::parsedOrFail(text, "m.ir"); }

/// The training step as the pipeline's first two passes make it.
Graph trainingStep(const Graph &model) {
  Graph step = model;
  PassContext ctx;
  Result<Ok> ran = runPipeline(step, {"training-mode", "autodiff"}, ctx);
  EXPECT_TRUE(ran.ok()) << ran.errorText();
  return step;
}

void expectNear(const Tensor &t, const std::vector<double> &want, double tolerance,
                const std::string &what) {
  ASSERT_EQ(t.numel(), static_cast<int64_t>(want.size())) << what;
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(t.at(static_cast<int64_t>(i)), want[i], tolerance) << what << "[" << i << "]";
}

// ---- batch norm -----------------------------------------------------------------

/// x [4, 2, 3] = (i * 7 mod 11) / 5 - 1, r = (i * 5 mod 7) / 3 - 1; gamma,
/// beta and the running statistics are torch's after copying these in.
std::string batchNormModel() {
  std::string x = "[", r = "[";
  for (int i = 0; i < 24; ++i) {
    x += (i ? ", " : "") + std::to_string(((i * 7) % 11) / 5.0 - 1.0);
    r += (i ? ", " : "") + std::to_string(((i * 5) % 7) / 3.0 - 1.0);
  }
  return "model bn {\n"
         "  input x: f32[4, 2, 3]\n"
         "  param gamma: f32[2] = [1.5, -0.5]\n"
         "  param beta: f32[2] = [0.1, 0.2]\n"
         "  state rm: f32[2] = [0.2, -0.1]\n"
         "  state rv: f32[2] = [1.5, 0.5]\n"
         "  const r: f32[24] = " +
         r +
         "]\n"
         "  y = batchnorm(x, gamma, beta, rm, rv)\n"
         "  loss = sum(mul(reshape(y, shape=[24]), r))\n"
         "  output y\n"
         "  minimize loss with sgd(lr=1)\n}\n";
}

Tensor batchNormInput() {
  std::vector<float> x;
  for (int i = 0; i < 24; ++i)
    x.push_back(static_cast<float>(((i * 7) % 11) / 5.0 - 1.0));
  return Tensor::f32({4, 2, 3}, x);
}

// torch.nn.BatchNorm1d(2) with the values above (momentum 0.1, eps 1e-5).
const std::vector<double> kTorchInferBefore = {
    -1.369689, 0.344948, -0.634844, -0.57781,  -0.01213, 0.55355,   0.834844, -0.144948,
    -1.124741, -0.29497, 0.27071,   0.83639,   0.344948, -0.634844, 1.079793, -0.01213,
    0.55355,   -0.43639, -0.144948, -1.124741, 0.589896, 0.27071,   0.83639,  -0.15355};
const std::vector<double> kTorchTrain = {
    -2.204316, 1.076405,  -0.798293, -0.598281, 0.019743, 0.637767,  2.013754, 0.139056,
    -1.735641, -0.289269, 0.328755,  0.946779,  1.076405, -0.798293, 2.482428, 0.019743,
    0.637767,  -0.443775, 0.139056,  -1.735641, 1.545079, 0.328755,  0.946779, -0.134763};
const std::vector<double> kTorchInferAfter = {
    -1.396642, 0.381547,  -0.634561, -0.576444, -0.008314, 0.559815,  0.8896,   -0.126507,
    -1.142615, -0.292379, 0.275751,  0.84388,   0.381547,  -0.634561, 1.143627, -0.008314,
    0.559815,  -0.434411, -0.126507, -1.142615, 0.635574,  0.275751,  0.84388,  -0.150347};
// After one SGD step with lr 1: param - its gradient; the running statistics
// (1 - 0.1) old + 0.1 batch (unbiased variance).
const std::vector<double> kTorchGamma = {1.5 + 1.171686, -0.5 + 3.673810};
const std::vector<double> kTorchBeta = {0.1 + 1.0, 0.2 - 0.666667};
const std::vector<double> kTorchRunningMean = {0.178333, -0.093333};
const std::vector<double> kTorchRunningVar = {1.394697, 0.495697};

TEST(TrainingMode, BatchNormInTheInterpreterIsTorchs) {
  Graph model = parsed(batchNormModel());
  Graph step = trainingStep(model);
  Interpreter infer(model);
  ASSERT_TRUE(infer.run({batchNormInput()}).ok());
  expectNear(infer.value(model.findValue("y")), kTorchInferBefore, 1e-5, "inference y");

  Interpreter train(step);
  ASSERT_TRUE(train.run({batchNormInput()}).ok());
  expectNear(train.value(step.findValue("y")), kTorchTrain, 1e-5, "training y");
  train.applyUpdates();
  expectNear(train.value(step.findValue("gamma")), kTorchGamma, 1e-5, "gamma");
  expectNear(train.value(step.findValue("beta")), kTorchBeta, 1e-5, "beta");
  expectNear(train.value(step.findValue("rm")), kTorchRunningMean, 1e-5, "running mean");
  expectNear(train.value(step.findValue("rv")), kTorchRunningVar, 1e-5, "running var");
}

TEST(TrainingMode, BatchNormCompiledIsTorchs) {
  Graph model = parsed(batchNormModel());
  Graph step = trainingStep(model);
  auto jit = JitSession::create(model, &step);
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  auto before = (*jit)->infer({batchNormInput()});
  ASSERT_TRUE(before.ok()) << before.errorText();
  expectNear((*before)[0], kTorchInferBefore, 1e-5, "inference y");
  ASSERT_TRUE((*jit)->trainStep({batchNormInput()}).ok());
  expectNear((*jit)->read("gamma"), kTorchGamma, 1e-5, "gamma");
  expectNear((*jit)->read("beta"), kTorchBeta, 1e-5, "beta");
  expectNear((*jit)->read("rm"), kTorchRunningMean, 1e-5, "running mean");
  expectNear((*jit)->read("rv"), kTorchRunningVar, 1e-5, "running var");
  // Inference after the step: torch's with the updated running statistics,
  // but this model's gamma and beta moved too: put torch's back.
  ASSERT_TRUE((*jit)->write("gamma", Tensor::f32({2}, std::vector<float>{1.5f, -0.5f})).ok());
  ASSERT_TRUE((*jit)->write("beta", Tensor::f32({2}, std::vector<float>{0.1f, 0.2f})).ok());
  auto after = (*jit)->infer({batchNormInput()});
  ASSERT_TRUE(after.ok());
  expectNear((*after)[0], kTorchInferAfter, 1e-5, "inference y after a step");
}

TEST(TrainingMode, ConstRunningStatisticsAreNotUpdated) {
  Graph model = parsed("model m {\n  input x: f32[4, 2]\n  param g: f32[2] = ones()\n"
                       "  param b: f32[2] = zeros()\n  const rm: f32[2] = zeros()\n"
                       "  state rv: f32[2] = ones()\n  y = batchnorm(x, g, b, rm, rv)\n"
                       "  loss = sum(mul(y, y))\n  minimize loss with sgd(lr=0.1)\n}\n");
  Graph step = trainingStep(model);
  ASSERT_EQ(step.updates.size(), 3u); // g, b and rv; rm is a const
}

// ---- dropout ---------------------------------------------------------------------

constexpr int kDropoutElements = 4096;

/// loss = sum(y * y) with y = dropout(w): with the same mask m forward and
/// backward, dloss/dw = 2 w m s^2 (s = 1 / (1 - p)), so a gradient is
/// non-zero exactly where the forward pass kept the element.
std::string dropoutModel(const std::string &lr, int64_t elements = kDropoutElements) {
  return "model d {\n  input x: f32[1]\n  param w: f32[" + std::to_string(elements) +
         "] = ones()\n  y = dropout(w, p=0.25, seed=5)\n  output y\n"
         "  loss = sum(mul(y, y))\n  minimize loss with sgd(lr=" +
         lr + ")\n}\n";
}

TEST(TrainingMode, DropoutKeepsScalesAndReusesItsMaskInTheBackwardPass) {
  Graph model = parsed(dropoutModel("1"));
  Graph step = trainingStep(model);
  Interpreter interp(step);
  Tensor x = Tensor::f32({1}, std::vector<float>{0});
  ASSERT_TRUE(interp.run({x}).ok());
  Tensor y = interp.value(step.findValue("y")).clone();
  const double scale = 1 / 0.75;
  int kept = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    if (y.at(i) != 0) {
      EXPECT_FLOAT_EQ(y.at(i), scale) << i;
      ++kept;
    }
  }
  // 4096 draws of p = 0.75: the standard deviation of the fraction is 0.007.
  EXPECT_NEAR(kept / double(kDropoutElements), 0.75, 0.03);
  interp.applyUpdates();
  const Tensor &w = interp.value(step.findValue("w"));
  for (int64_t i = 0; i < w.numel(); ++i) // w - 2 y s where kept, w elsewhere
    EXPECT_FLOAT_EQ(w.at(i), y.at(i) != 0 ? 1 - 2 * scale * scale : 1) << i;

  // The next step draws another mask.
  ASSERT_TRUE(interp.run({x}).ok());
  const Tensor &y2 = interp.value(step.findValue("y"));
  int same = 0;
  for (int64_t i = 0; i < y2.numel(); ++i)
    same += (y2.at(i) != 0) == (y.at(i) != 0);
  EXPECT_LT(same, kDropoutElements * 0.7); // about 0.625 of them by chance
}

/// Every param and state after `steps` steps on `threads` threads.
/// Enough elements for the compiled mask to run as parallel chunks.
constexpr int64_t kParallelDropoutElements = int64_t{1} << 18;

std::vector<std::vector<float>> trainedDropout(int threads, int steps) {
  Graph model = parsed(dropoutModel("0.01", kParallelDropoutElements));
  Graph step = trainingStep(model);
  auto jit = JitSession::create(model, &step);
  EXPECT_TRUE(jit.ok()) << jit.errorText();
  if (!jit.ok())
    return {};
  (*jit)->setThreads(threads);
  for (int s = 0; s < steps; ++s)
    EXPECT_TRUE((*jit)->trainStep({Tensor::f32({1}, std::vector<float>{0})}).ok());
  std::vector<std::vector<float>> out;
  for (const char *name : {"w", "nnc.step"}) {
    Tensor t = (*jit)->read(name);
    std::vector<float> v;
    for (int64_t i = 0; i < t.numel(); ++i)
      v.push_back(static_cast<float>(t.at(i)));
    out.push_back(v);
  }
  return out;
}

TEST(TrainingMode, DropoutMasksAreTheSameBitsOnEveryThreadCountAndInBothEngines) {
  std::vector<std::vector<float>> one = trainedDropout(1, 3), two = trainedDropout(2, 3);
  ASSERT_EQ(one.size(), 2u) << "w and nnc.step";
  EXPECT_EQ(one, two);
  EXPECT_EQ(one[1], std::vector<float>{3}) << "three steps counted";

  Graph model = parsed(dropoutModel("0.01", kParallelDropoutElements));
  Graph step = trainingStep(model);
  Interpreter interp(step);
  for (int s = 0; s < 3; ++s) {
    ASSERT_TRUE(interp.run({Tensor::f32({1}, std::vector<float>{0})}).ok());
    interp.applyUpdates();
  }
  const Tensor &w = interp.value(step.findValue("w"));
  for (int64_t i = 0; i < w.numel(); ++i)
    ASSERT_EQ(static_cast<float>(w.at(i)), one[0][static_cast<size_t>(i)]) << i;
}

TEST(TrainingMode, DropoutIsTheIdentityInInference) {
  Graph model = parsed(dropoutModel("1"));
  auto jit = JitSession::create(model, nullptr);
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  auto y = (*jit)->infer({Tensor::f32({1}, std::vector<float>{0})});
  ASSERT_TRUE(y.ok());
  for (int64_t i = 0; i < (*y)[0].numel(); ++i)
    ASSERT_EQ((*y)[0].at(i), 1.0) << i;
  Interpreter interp(model);
  ASSERT_TRUE(interp.run({Tensor::f32({1}, std::vector<float>{0})}).ok());
  EXPECT_EQ(interp.value(model.findValue("y")).at(7), 1.0);
}

TEST(TrainingMode, ModelsWithoutModeOpsAreUntouched) {
  Graph g = parsed("model m {\n  input x: f32[2]\n  param w: f32[2] = ones()\n"
                   "  loss = sum(mul(x, w))\n  minimize loss with sgd(lr=0.1)\n}\n");
  EXPECT_FALSE(applyTrainingMode(g));
}

TEST(TrainingMode, BadProbabilityAndChannelsAreLocated) {
  Result<Graph> g = parseModel("model m {\n  input x: f32[2]\n  y = dropout(x, p=1.5)\n"
                               "  output y\n}\n",
                               "m.ir");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.errorText().find("m.ir:3:"), std::string::npos) << g.errorText();
  EXPECT_NE(g.errorText().find("p must be in [0, 1]"), std::string::npos) << g.errorText();
  g = parseModel("model m {\n  input x: f32[4, 3]\n  param g: f32[2] = ones()\n"
                 "  state s: f32[3] = ones()\n  y = batchnorm(x, g, g, s, s)\n  output y\n}\n",
                 "m.ir");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.errorText().find("m.ir:5:"), std::string::npos) << g.errorText();
  EXPECT_NE(g.errorText().find("one per channel"), std::string::npos) << g.errorText();
}

} // namespace
} // namespace nnc

// ---- batch norm folded into the convolution (inference) -------------------------

namespace nnc {
namespace {

const char *kConvBn = "model m {\n  dim B\n  input x: f32[B, 2, 4, 4]\n"
                      "  param w: f32[3, 2, 3, 3] = uniform(-1, 1, seed=4)\n"
                      "  param b: f32[3] = [0.1, -0.2, 0.3]\n"
                      "  param g: f32[3] = [1.5, -0.5, 2]\n  param be: f32[3] = [0.1, 0.2, -0.3]\n"
                      "  state rm: f32[3] = [0.2, -0.1, 0.4]\n  state rv: f32[3] = [1.5, 0.5, 3]\n"
                      "  y = relu(batchnorm(conv2d(x, w, b, padding=1), g, be, rm, rv, eps=0.01))\n"
                      "  z = batchnorm(conv2d(x, w, stride=2), g, be, rm, rv)\n"
                      "  output y, z\n}\n";

TEST(FoldBatchNorm, FoldedInferenceIsTheUnfoldedOneInBothEngines) {
  Graph model = parsed(kConvBn);
  std::vector<float> pixels(2 * 2 * 16);
  for (size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<float>((i * 13) % 17) / 8.0f - 1.0f;
  Tensor x = Tensor::f32({2, 2, 4, 4}, pixels);
  Interpreter reference(model);
  ASSERT_TRUE(reference.run({x}).ok());

  PassContext ctx;
  ctx.remarks = true;
  auto folded = optimizedInference(model, ctx);
  ASSERT_TRUE(folded.ok()) << folded.errorText();
  for (const Node &n : folded->nodes)
    EXPECT_NE(n.op, OpKind::BatchNorm) << "every batchnorm folds";
  EXPECT_NE(ctx.diags.render().find("batchnorm folded into the conv2d"), std::string::npos);
  Interpreter interp(*folded);
  ASSERT_TRUE(interp.run({x}).ok());
  auto jit = JitSession::create(*folded, nullptr);
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  auto got = (*jit)->infer({x});
  ASSERT_TRUE(got.ok()) << got.errorText();
  for (size_t k = 0; k < 2; ++k) {
    const Tensor &want = reference.value(model.outputs[k].value);
    std::vector<double> wanted;
    for (int64_t i = 0; i < want.numel(); ++i)
      wanted.push_back(want.at(i));
    expectNear(interp.value(folded->outputs[k].value), wanted, 1e-5, "interpreter, folded");
    expectNear((*got)[k], wanted, 1e-5, "JIT, folded");
  }
}

TEST(FoldBatchNorm, AConvolutionReadTwiceIsNotFolded) {
  Graph model =
      parsed("model m {\n  input x: f32[2, 1, 3, 3]\n  param w: f32[2, 1, 1, 1] = ones()\n"
             "  param g: f32[2] = ones()\n  state s: f32[2] = ones()\n"
             "  c = conv2d(x, w)\n  y = batchnorm(c, g, g, s, s) + c\n  output y\n}\n");
  PassContext ctx;
  ctx.remarks = true;
  auto folded = optimizedInference(model, ctx);
  ASSERT_TRUE(folded.ok()) << folded.errorText();
  EXPECT_NE(ctx.diags.render().find("batchnorm not folded: the conv2d's result is kept"),
            std::string::npos)
      << ctx.diags.render();
}

} // namespace
} // namespace nnc
