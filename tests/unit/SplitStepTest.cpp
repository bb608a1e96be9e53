/// The training step cut at the gradients (passes/SplitTrainingStep.h,
/// PREFIX_compute_gradients and PREFIX_apply_gradients): computing the
/// gradients and then applying them is the training step, to the bit, for
/// networks with every kind of state (batch norm's running statistics,
/// Adam's moments, dropout's step counter); each gradient is reported
/// ready exactly once; the host API exposes the same split.
#include "JitTestUtil.h"

#include "codegen/Session.h"
#include "frontend/ModelFile.h"
#include "nnc/Host.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

namespace nnc {
namespace {

using jittest::AlignedBuffer;
using jittest::randomInputs;

void recordReady(void *ctx, int64_t param) {
  static_cast<std::vector<int64_t> *>(ctx)->push_back(param);
}

PlannedModel planSplit(const Graph &g) {
  PassContext ctx;
  PlanRequest request;
  request.splitTrainingStep = true;
  auto planned = planModel(g, ctx, request);
  EXPECT_TRUE(planned.ok()) << planned.errorText();
  return std::move(planned).value();
}

void expectSplitIsTheTrainingStep(const std::string &file, int64_t batch, int32_t classes) {
  SCOPED_TRACE(file);
  auto g = loadModel(NNC_SOURCE_DIR "/examples/" + file);
  ASSERT_TRUE(g.ok()) << g.errorText();
  PlannedModel planned = planSplit(*g);
  ASSERT_TRUE(planned.split.has_value());
  CompileOptions options;
  options.threads = 2;
  options.useCache = false;
  auto whole = JitSession::create(planned, options);
  auto split = JitSession::create(planned, options);
  ASSERT_TRUE(whole.ok() && split.ok());
  std::vector<int64_t> dims(g->dims.size(), batch);
  std::vector<float> gradients((*split)->gradientsSize() / 4);
  ASSERT_FALSE(gradients.empty());
  for (int step = 0; step < 3; ++step) {
    auto inputs = randomInputs(*g, dims, classes, [&](const std::string &, Tensor &t) {
      if (t.dtype() == DType::F32) // another batch each step
        for (int64_t i = 0; i < t.numel(); ++i)
          t.f32()[i] *= static_cast<float>(step + 1) / 2;
    });
    auto wholeLoss = (*whole)->trainStep(inputs);
    std::vector<int64_t> ready;
    auto splitLoss = (*split)->computeGradients(inputs, gradients.data(), recordReady, &ready);
    ASSERT_TRUE(wholeLoss.ok() && splitLoss.ok()) << wholeLoss.errorText() << splitLoss.errorText();
    EXPECT_EQ(*wholeLoss, *splitLoss) << "step " << step;
    std::sort(ready.begin(), ready.end());
    ASSERT_EQ(ready.size(), planned.split->params.size());
    for (size_t i = 0; i < ready.size(); ++i)
      EXPECT_EQ(ready[i], static_cast<int64_t>(i)) << "each gradient is ready exactly once";
    ASSERT_TRUE((*split)->applyGradients(gradients.data()).ok());
  }
  for (const std::string &name : (*whole)->stateNames()) {
    Tensor a = (*whole)->read(name), b = (*split)->read(name);
    ASSERT_EQ(a.bytes(), b.bytes()) << name;
    EXPECT_EQ(std::memcmp(a.data(), b.data(), static_cast<size_t>(a.bytes())), 0)
        << name << " differs after 3 steps";
  }
}

TEST(SplitStep, MlpIsTheTrainingStep) { expectSplitIsTheTrainingStep("mlp.ir", 16, 10); }

TEST(SplitStep, ResNetWithBatchNormIsTheTrainingStep) {
  expectSplitIsTheTrainingStep("resnet_bn.ir", 8, 10);
}

TEST(SplitStep, TransformerIsTheTrainingStep) {
  expectSplitIsTheTrainingStep("transformer_lm.ir", 2, 10);
}

TEST(SplitStep, HandWrittenUpdatesHaveNoGradientsToSplitAt) {
  auto g = loadModel(NNC_SOURCE_DIR "/examples/perceptron_rule.ir");
  ASSERT_TRUE(g.ok());
  PlannedModel planned = planSplit(*g);
  EXPECT_FALSE(planned.split.has_value());
}

TEST(SplitStep, TheHostApiExposesIt) {
  CompileOptions options;
  options.threads = 1;
  options.splitTrainingStep = true;
  auto model = CompiledModel::load(NNC_SOURCE_DIR "/examples/xor.ir", options);
  ASSERT_TRUE(model.ok()) << model.errorText();
  ASSERT_EQ(model->gradientsSize(), 4u * 64); // four params, each in 64 bytes
  EXPECT_EQ(model->gradientOffset("w1"), 0);
  EXPECT_EQ(model->gradientOffset("b2"), 3 * 64);
  EXPECT_EQ(model->gradientOffset("nope"), -1);
  int64_t dims[1] = {4};
  AlignedBuffer a(model->stateSize()), b(model->stateSize()), ws(model->workspaceSize(dims));
  ASSERT_EQ(model->init(a.p), 0);
  ASSERT_EQ(model->init(b.p), 0);
  float x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, y[4] = {0, 1, 1, 0};
  const void *inputs[2] = {x, y};
  std::vector<float> gradients(model->gradientsSize() / 4);
  for (int step = 0; step < 5; ++step) {
    float l1 = 0, l2 = 0;
    ASSERT_EQ(model->trainStep(a.p, ws.p, dims, inputs, &l1), 0);
    ASSERT_EQ(model->computeGradients(b.p, ws.p, dims, inputs, gradients.data(), &l2), 0);
    ASSERT_EQ(model->applyGradients(b.p, ws.p, gradients.data()), 0);
    EXPECT_EQ(l1, l2);
  }
  EXPECT_EQ(std::memcmp(a.p, b.p, model->stateSize()), 0);
  EXPECT_EQ(model->computeGradients(b.p, ws.p, dims, inputs, nullptr, nullptr), 2)
      << "a null gradient buffer is refused";
}

/// What a ready callback saw: each gradient's numbers when reported ready
/// (then zeroed, as a reducer may change them at once).
struct Seen {
  std::vector<float> *gradients;
  std::vector<int64_t> offsets, sizes;
  std::vector<std::vector<float>> atReady;
};

void snapshotThenClobber(void *ctx, int64_t i) {
  auto &seen = *static_cast<Seen *>(ctx);
  float *p = seen.gradients->data() + seen.offsets[static_cast<size_t>(i)] / 4;
  seen.atReady[static_cast<size_t>(i)].assign(p, p + seen.sizes[static_cast<size_t>(i)]);
  std::fill(p, p + seen.sizes[static_cast<size_t>(i)], 0.0f);
}

TEST(SplitStep, AGradientSharedByTwoParamsIsCopiedBeforeEitherIsReady) {
  // b and c get one gradient value (simplify merges them): one is computed
  // in place, the other copied from it, before the callback may change it.
  auto g = ModelGraph::parse("model shared {\n  dim B\n  input x: f32[B, 3]\n"
                             "  input label: i32[B]\n"
                             "  param w: f32[3, 4] = uniform(-1, 1, seed=1)\n"
                             "  param b: f32[4] = zeros()\n  param c: f32[4] = zeros()\n"
                             "  logits = matmul(x, w) + (b + c)\n"
                             "  loss = softmax_cross_entropy(logits, label)\n"
                             "  minimize loss with sgd(lr=0.1)\n}\n",
                             "shared.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  CompileOptions options;
  options.threads = 1;
  options.splitTrainingStep = true;
  auto model = CompiledModel::compile(*g, options);
  ASSERT_TRUE(model.ok()) << model.errorText();
  std::vector<float> gradients(model->gradientsSize() / 4);
  Seen seen{&gradients, {}, {}, std::vector<std::vector<float>>(3)};
  for (const char *name : {"w", "b", "c"})
    seen.offsets.push_back(model->gradientOffset(name));
  seen.sizes = {12, 4, 4};
  int64_t dims[1] = {2};
  AlignedBuffer state(model->stateSize()), ws(model->workspaceSize(dims));
  ASSERT_EQ(model->init(state.p), 0);
  float x[6] = {1, 2, 3, -1, 0.5f, 2};
  int32_t label[2] = {1, 3};
  const void *inputs[2] = {x, label};
  float loss = 0;
  ASSERT_EQ(model->computeGradients(state.p, ws.p, dims, inputs, gradients.data(), &loss,
                                    snapshotThenClobber, &seen),
            0);
  EXPECT_EQ(seen.atReady[1], seen.atReady[2]) << "c's gradient is b's";
  EXPECT_NE(seen.atReady[1], std::vector<float>(4, 0.0f));
}

} // namespace
} // namespace nnc
