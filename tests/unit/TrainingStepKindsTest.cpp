// Training steps that are not autodiff's: a model whose updates are written
// by hand (the perceptron rule as the course states it) trains in the JIT
// as in the interpreter, and inference never applies updates. Inference
// takes no tensor for an input that no output depends on (labels).
#include "codegen/Session.h"
#include "frontend/Parser.h"
#include "nnc/Host.h"
#include "passes/Pipeline.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

namespace nnc {
namespace {

Graph loadExample(const std::string &name) {
  auto g = loadModelFile(NNC_SOURCE_DIR "/examples/" + name);
  EXPECT_TRUE(g.ok()) << g.errorText();
  return std::move(g).value();
}

/// AND: four examples, one at a time.
std::vector<Tensor> andBatch(int i) {
  const float x[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  return {Tensor::f32({1, 2}, x[i]), Tensor::f32({1, 1}, std::vector<float>{i == 3 ? 1.0f : 0.0f})};
}

TEST(TrainingStepKinds, HandWrittenUpdatesTrainAlikeInTheJitAndTheInterpreter) {
  Graph model = loadExample("perceptron_rule.ir");
  ASSERT_TRUE(hasTrainingStep(model));
  PassContext ctx;
  auto step = optimizedTrainingStep(model, ctx);
  ASSERT_TRUE(step.ok()) << step.errorText();
  auto infer = optimizedInference(model, ctx);
  ASSERT_TRUE(infer.ok()) << infer.errorText();
  auto jit = JitSession::create(*infer, &*step);
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  Interpreter interp(*step);
  for (int epoch = 0; epoch < 5; ++epoch)
    for (int i = 0; i < 4; ++i) {
      auto loss = (*jit)->trainStep(andBatch(i));
      ASSERT_TRUE(loss.ok()) << loss.errorText();
      ASSERT_TRUE(interp.run(andBatch(i)).ok());
      interp.applyUpdates();
      // The reported loss is the model's scalar output: misclassified examples.
      EXPECT_EQ(*loss, interp.value(step->outputs.back().value).at(0));
    }
  for (const char *name : {"w", "b"}) {
    Tensor fromJit = (*jit)->read(name);
    const Tensor &fromInterp = interp.value(step->findValue(name));
    for (int64_t k = 0; k < fromJit.numel(); ++k)
      EXPECT_EQ(fromJit.at(k), fromInterp.at(k)) << name << "[" << k << "]";
  }
  // Learned AND: w = (0.2, 0.1), b = -0.2 after these passes (Rosenblatt's rule by hand).
  EXPECT_FLOAT_EQ((*jit)->read("w").at(0), 0.2f);
  EXPECT_FLOAT_EQ((*jit)->read("w").at(1), 0.1f);
  EXPECT_FLOAT_EQ((*jit)->read("b").at(0), -0.2f);
}

TEST(TrainingStepKinds, InferenceNeverAppliesUpdates) {
  auto model = CompiledModel::load(NNC_SOURCE_DIR "/examples/perceptron_rule.ir");
  ASSERT_TRUE(model.ok()) << model.errorText();
  ASSERT_TRUE(model->canTrain());
  std::vector<float> state(model->stateSize() / 4 + 16);
  auto *aligned =
      reinterpret_cast<float *>((reinterpret_cast<uintptr_t>(state.data()) + 63) / 64 * 64);
  ASSERT_EQ(model->init(aligned), 0);
  int64_t dims[1] = {1};
  std::vector<float> workspace(model->workspaceSize(dims) / 4 + 32);
  auto *ws =
      reinterpret_cast<float *>((reinterpret_cast<uintptr_t>(workspace.data()) + 63) / 64 * 64);
  const float x[2] = {1, 1}, y[1] = {1};
  float errors = -1, yhat = -1;
  const void *inputs[2] = {x, y};
  void *outputs[2] = {&errors, &yhat};
  std::vector<float> before(aligned, aligned + model->stateSize() / 4);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(model->infer(aligned, ws, dims, inputs, outputs), 0);
  EXPECT_EQ(std::vector<float>(aligned, aligned + model->stateSize() / 4), before);
  EXPECT_EQ(yhat, 1); // step(0) = 1 with the initial zeros
  EXPECT_EQ(errors, 0);
}

TEST(TrainingStepKinds, InferenceTakesNoTensorForAnUnusedInput) {
  Graph model = loadExample("xor.ir");
  Graph outputsOnly = model;
  outputsOnly.minimize.reset(); // yhat needs x only; y feeds the loss alone
  PassContext ctx;
  auto infer = optimizedInference(outputsOnly, ctx);
  ASSERT_TRUE(infer.ok());
  std::vector<Tensor> inputs = {Tensor::f32({2, 2}, std::vector<float>{0, 1, 1, 1}), Tensor()};
  auto jit = JitSession::create(*infer, nullptr);
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  auto fromJit = (*jit)->infer(inputs);
  ASSERT_TRUE(fromJit.ok()) << fromJit.errorText();
  Interpreter interp(*infer);
  ASSERT_TRUE(interp.run(inputs).ok());
  const Tensor &want = interp.value(infer->outputs[0].value);
  for (int64_t k = 0; k < want.numel(); ++k)
    EXPECT_NEAR((*fromJit)[0].at(k), want.at(k), 1e-6);
  // A used input stays required, and the error names it.
  auto missing = (*jit)->infer({Tensor(), Tensor()});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.errorText().find("input 'x' expects f32[B, 2] but got no tensor"),
            std::string::npos)
      << missing.errorText();
}

} // namespace
} // namespace nnc
