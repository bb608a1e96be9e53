/// The compiled training step against the interpreter: the worked
/// backpropagation example and XOR train to the interpreter's numbers.
#include "JitTestUtil.h"
#include "codegen/Session.h"
#include "frontend/Parser.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

namespace nnc {
namespace {

using jittest::loadExample;

/// Trains `steps` steps with both engines on the same inputs and checks
/// every param and state after each step, within IR.md's tolerance.
void expectSameTraining(const Graph &model, const std::vector<Tensor> &inputs, int steps) {
  Graph step = model;
  PassContext ctx;
  ASSERT_TRUE(runPipeline(step, {"training-mode", "autodiff"}, ctx).ok());
  Interpreter interp(step);
  auto jit = JitSession::create(model, &step);
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  for (int s = 0; s < steps; ++s) {
    ASSERT_TRUE(interp.run(inputs).ok());
    double want = interp.value(step.outputs.back().value).at(0);
    interp.applyUpdates();
    auto loss = (*jit)->trainStep(inputs);
    ASSERT_TRUE(loss.ok()) << loss.errorText();
    ASSERT_NEAR(*loss, want, 1e-5 * std::max(1.0, std::fabs(want))) << "step " << s;
    for (const std::string &name : (*jit)->stateNames()) {
      Tensor a = (*jit)->read(name);
      const Tensor &b = interp.value(step.findValue(name));
      for (int64_t i = 0; i < b.numel(); ++i)
        ASSERT_NEAR(a.at(i), b.at(i), 1e-5 * std::max(1.0, std::fabs(b.at(i))))
            << name << "[" << i << "] after step " << s;
    }
  }
}

void expectSameTraining(const std::string &example, const std::vector<Tensor> &inputs, int steps) {
  expectSameTraining(loadExample(example), inputs, steps);
}

TEST(JitTraining, WorkedBackpropExampleMatchesTheInterpreterAndTheCourse) {
  std::vector<Tensor> inputs = {Tensor::f32({1, 2}, std::vector<float>{0.35f, 0.9f}),
                                Tensor::f32({1, 1}, std::vector<float>{0.5f})};
  expectSameTraining("backprop_example.ir", inputs, 3);
  // One step of the course's example, compiled: the output weights of the slides.
  Graph model = loadExample("backprop_example.ir");
  Graph step = model;
  PassContext ctx;
  ASSERT_TRUE(runPipeline(step, {"autodiff"}, ctx).ok());
  auto jit = JitSession::create(model, &step);
  ASSERT_TRUE(jit.ok());
  ASSERT_TRUE((*jit)->trainStep(inputs).ok());
  Tensor w2 = (*jit)->read("w2");
  EXPECT_NEAR(w2.at(0), 0.272326, 1e-6);
  EXPECT_NEAR(w2.at(1), 0.872998, 1e-6);
  auto y = (*jit)->infer(inputs);
  ASSERT_TRUE(y.ok());
  EXPECT_NEAR((*y)[0].at(0), 0.682019, 1e-6);
}

TEST(JitTraining, XorMatchesTheInterpreterStepByStep) {
  std::vector<Tensor> inputs = {Tensor::f32({4, 2}, std::vector<float>{0, 0, 0, 1, 1, 0, 1, 1}),
                                Tensor::f32({4, 1}, std::vector<float>{0, 1, 1, 0})};
  expectSameTraining("xor.ir", inputs, 200);
}

// One step: the tolerance bounds one computation. Over several steps
// rounding differences compound (Adam divides small gradients by their own
// magnitude), which is expected of any two f32 engines.
TEST(JitTraining, ResNetAndCnnStepsMatchTheInterpreter) {
  std::vector<float> pixels(3 * 784);
  for (size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<float>((i * 37) % 101) / 101.0f;
  Tensor labels = Tensor::i32({3}, std::vector<int32_t>{1, 7, 3});
  expectSameTraining("resnet_s.ir", {Tensor::f32({3, 784}, pixels), labels}, 1);
  expectSameTraining("cnn.ir", {Tensor::f32({3, 1, 28, 28}, pixels), labels}, 1);
}

/// The modern modules: batch norm in training mode (and its running
/// statistics), gather, batched matmuls, causal attention.
TEST(JitTraining, ResNetBnAndTransformerStepsMatchTheInterpreter) {
  std::vector<float> pixels(2 * 784);
  for (size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<float>((i * 37) % 101) / 101.0f;
  expectSameTraining(
      "resnet_bn.ir",
      {Tensor::f32({2, 1, 28, 28}, pixels), Tensor::i32({2}, std::vector<int32_t>{1, 7})}, 1);
  std::string text = "The quick brown fox jumps over the lazy dog; the dog sleeps on. "
                     "A second line of text to learn from, for the second example..";
  std::vector<int32_t> x, y; // two windows of 64 bytes and the bytes after them
  for (size_t i = 0; i < 128; ++i) {
    x.push_back(static_cast<unsigned char>(text[i % text.size()]));
    y.push_back(static_cast<unsigned char>(text[(i + 1) % text.size()]));
  }
  // With SGD: Adam's first step moves a param by lr g / (|g| + eps), which
  // turns the rounding noise of a gradient that is 0 in exact arithmetic
  // (the key bias: softmax ignores a constant added to a row) into steps of
  // up to lr; SGD compares the gradients themselves.
  std::string lm = jittest::exampleText("transformer_lm.ir");
  lm.replace(lm.find("adam(lr=0.002)"), 14, "sgd(lr=0.1)");
  Result<Graph> sgdModel = parseModel(lm, "transformer_lm.ir");
  ASSERT_TRUE(sgdModel.ok()) << sgdModel.errorText();
  expectSameTraining(*sgdModel, {Tensor::i32({2, 64}, x), Tensor::i32({2, 64}, y)}, 1);
}

/// The losses of `steps` steps of the whole pipeline (fusion included) on
/// one batch.
std::vector<float> losses(const std::string &example, const std::vector<Tensor> &inputs,
                          int steps) {
  Graph model = loadExample(example);
  PassContext ctx;
  auto planned = planModel(model, ctx);
  EXPECT_TRUE(planned.ok()) << planned.errorText();
  if (!planned.ok())
    return {};
  auto jit = JitSession::create(*planned);
  EXPECT_TRUE(jit.ok()) << jit.errorText();
  std::vector<float> out;
  for (int s = 0; s < steps && jit.ok(); ++s) {
    auto l = (*jit)->trainStep(inputs);
    EXPECT_TRUE(l.ok()) << l.errorText();
    out.push_back(l.ok() ? *l : 0);
  }
  return out;
}

/// The loss went down to below `fraction` of the first step's.
void expectLearns(const std::string &example, const std::vector<Tensor> &inputs, int steps,
                  float fraction) {
  std::vector<float> l = losses(example, inputs, steps);
  ASSERT_EQ(l.size(), static_cast<size_t>(steps));
  EXPECT_LT(l.back(), fraction * l.front()) << example << ": " << l.front() << " then " << l.back();
}

TEST(JitTraining, ResNetBnAndTransformerLearnABatch) {
  std::vector<float> pixels(8 * 784);
  std::vector<int32_t> labels;
  for (size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<float>((i * 37 + i / 784 * 11) % 101) / 101.0f;
  for (int32_t i = 0; i < 8; ++i)
    labels.push_back(i);
  std::vector<Tensor> images = {Tensor::f32({8, 1, 28, 28}, pixels), Tensor::i32({8}, labels)};
  expectLearns("resnet_bn.ir", images, 12, 0.7f);

  std::string text = "to be or not to be, that is the question. ";
  std::vector<int32_t> x, y;
  for (size_t i = 0; i < 4 * 64; ++i) {
    x.push_back(static_cast<unsigned char>(text[i % text.size()]));
    y.push_back(static_cast<unsigned char>(text[(i + 1) % text.size()]));
  }
  std::vector<Tensor> bytes = {Tensor::i32({4, 64}, x), Tensor::i32({4, 64}, y)};
  expectLearns("transformer_lm.ir", bytes, 8, 0.7f);
}

} // namespace
} // namespace nnc
