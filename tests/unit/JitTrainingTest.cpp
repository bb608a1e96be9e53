/// The compiled training step against the interpreter: the worked
/// backpropagation example and XOR train to the interpreter's numbers.
#include "JitTestUtil.h"
#include "codegen/Session.h"
#include "frontend/Parser.h"
#include "passes/Pass.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

namespace nnc {
namespace {

using jittest::loadExample;

/// Trains `steps` steps with both engines on the same inputs and checks
/// every param and state after each step, within IR.md's tolerance.
void expectSameTraining(const std::string &example, const std::vector<Tensor> &inputs, int steps) {
  Graph model = loadExample(example);
  Graph step = model;
  PassContext ctx;
  ASSERT_TRUE(runPipeline(step, {"autodiff"}, ctx).ok());
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

} // namespace
} // namespace nnc
