// The optimizers appended by autodiff, against torch.optim.SGD and
// torch.optim.Adam's update rules computed here in double; the course's
// worked backpropagation example after one step; and autodiff's located
// error and warning for params the loss cannot or does not use.
#include "InterpTestUtil.h"

#include "frontend/Parser.h"
#include "passes/Pass.h"
#include "passes/autodiff/Autodiff.h"
#include "runtime/LearningRateSchedule.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace nnc::test {
namespace {

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

ValueId named(const Graph &g, const std::string &name) {
  ValueId id = g.findValue(name);
  EXPECT_NE(id, kNoValue) << name;
  return id;
}

/// Parses `text` and appends its training step (autodiff pass).
Graph trainingGraph(const std::string &text, PassContext &ctx) {
  Result<Graph> parsed = parseModel(text, "model.ir");
  EXPECT_TRUE(parsed.ok()) << parsed.errorText();
  if (!parsed.ok())
    return Graph{};
  Graph g = std::move(parsed).value();
  Result<bool> done = createAutodiffPass()->run(g, ctx);
  EXPECT_TRUE(done.ok()) << done.errorText();
  return g;
}

// ---- a fixed gradient: loss = sum(w * c), so dloss/dw = c ----------------------------

const std::vector<double> kW0 = {0.5, -1.0, 2.0};
const std::vector<double> kC = {0.3, -0.7, 1.5};

std::string fixedGradientModel(const std::string &optimizer) {
  return "model opt {\n  param w: f32[3] = [0.5, -1.0, 2.0]\n"
         "  const c: f32[3] = [0.3, -0.7, 1.5]\n"
         "  loss = sum(mul(w, c))\n  minimize loss with " +
         optimizer + "\n}\n";
}

/// Runs `steps` training steps and returns w after each.
std::vector<Tensor> train(const std::string &optimizer, int steps) {
  PassContext ctx;
  Graph g = trainingGraph(fixedGradientModel(optimizer), ctx);
  std::vector<Tensor> after;
  if (g.values.empty())
    return after;
  Interpreter it(g);
  for (int s = 0; s < steps; ++s) {
    Status ran = it.run({});
    EXPECT_TRUE(ran.ok()) << ran.errorText();
    it.applyUpdates();
    after.push_back(it.value(named(g, "w")).clone());
  }
  return after;
}

/// torch.optim.SGD (dampening 0, no nesterov), in double:
///   d = grad + weight_decay * p
///   buf = d on the first step, else momentum * buf + d; d = buf (if momentum)
///   p = p - lr * d
std::vector<std::vector<double>> torchSgd(double lr, double momentum, double decay, int steps) {
  std::vector<double> p = kW0, buf(p.size(), 0.0);
  std::vector<std::vector<double>> out;
  for (int s = 0; s < steps; ++s) {
    for (size_t i = 0; i < p.size(); ++i) {
      double d = kC[i] + decay * p[i];
      if (momentum != 0) {
        buf[i] = s == 0 ? d : momentum * buf[i] + d;
        d = buf[i];
      }
      p[i] -= lr * d;
    }
    out.push_back(p);
  }
  return out;
}

/// torch.optim.Adam (no weight decay, no amsgrad), in double:
///   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
///   p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
std::vector<std::vector<double>> torchAdam(double lr, double b1, double b2, double eps, int steps) {
  std::vector<double> p = kW0, m(p.size(), 0.0), v(p.size(), 0.0);
  std::vector<std::vector<double>> out;
  for (int t = 1; t <= steps; ++t) {
    double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
    for (size_t i = 0; i < p.size(); ++i) {
      double g = kC[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      double denom = std::sqrt(v[i]) / std::sqrt(bc2) + eps;
      p[i] -= lr / bc1 * m[i] / denom;
    }
    out.push_back(p);
  }
  return out;
}

void expectSteps(const std::vector<Tensor> &got, const std::vector<std::vector<double>> &want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t s = 0; s < got.size(); ++s) {
    SCOPED_TRACE("after step " + std::to_string(s + 1));
    expectTensor(got[s], {3}, want[s], 1e-6);
  }
}

TEST(Optimizer, SgdPlain) {
  std::vector<std::vector<double>> want = torchSgd(0.1, 0, 0, 3);
  // Written out: p - 0.1 c per step.
  EXPECT_NEAR(want[2][0], 0.5 - 3 * 0.1 * 0.3, 1e-15);
  expectSteps(train("sgd(lr=0.1)", 3), want);
}

TEST(Optimizer, SgdMomentum) {
  std::vector<std::vector<double>> want = torchSgd(0.1, 0.9, 0, 3);
  // buf = c, 1.9 c, 2.71 c: p = p0 - 0.1 (1 + 1.9 + 2.71) c after three steps.
  EXPECT_NEAR(want[2][2], 2.0 - 0.1 * 5.61 * 1.5, 1e-12);
  expectSteps(train("sgd(lr=0.1, momentum=0.9)", 3), want);
}

TEST(Optimizer, SgdWeightDecay) {
  std::vector<std::vector<double>> want = torchSgd(0.1, 0, 0.01, 3);
  // One step: p - 0.1 (c + 0.01 p).
  EXPECT_NEAR(want[0][1], -1.0 - 0.1 * (-0.7 + 0.01 * -1.0), 1e-15);
  expectSteps(train("sgd(lr=0.1, weight_decay=0.01)", 3), want);
}

TEST(Optimizer, SgdMomentumAndWeightDecay) {
  expectSteps(train("sgd(lr=0.1, momentum=0.9, weight_decay=0.01)", 3),
              torchSgd(0.1, 0.9, 0.01, 3));
}

TEST(Optimizer, AdamDefaultBetas) {
  std::vector<std::vector<double>> want = torchAdam(0.1, 0.9, 0.999, 1e-8, 3);
  // With a constant gradient, m_hat = c and v_hat = c^2: each step moves
  // every weight by lr |c| / (|c| + eps), about lr, against the sign of c.
  EXPECT_NEAR(want[2][0], 0.5 - 0.3, 1e-6);
  expectSteps(train("adam(lr=0.1)", 3), want);
}

TEST(Optimizer, AdamSmallLearningRate) {
  expectSteps(train("adam(lr=0.001)", 3), torchAdam(0.001, 0.9, 0.999, 1e-8, 3));
}

// ---- the learning rate is state ------------------------------------------------------

/// Runs one step per entry of `rates`, writing the learning-rate state
/// before each (as `nnc train --lr-schedule` does); w after the last.
Tensor trainWithRates(const std::string &optimizer, const std::vector<float> &rates) {
  PassContext ctx;
  Result<Graph> model = parseModel(fixedGradientModel(optimizer), "model.ir");
  EXPECT_TRUE(model.ok());
  std::string lrName = learningRateName(*model);
  Graph g = trainingGraph(fixedGradientModel(optimizer), ctx);
  Interpreter it(g);
  for (float rate : rates) {
    it.stateTensor(named(g, lrName)) = Tensor::scalar(rate);
    EXPECT_TRUE(it.run({}).ok());
    it.applyUpdates();
  }
  return it.value(named(g, "w")).clone();
}

TEST(Optimizer, LearningRateIsAScalarStateInitializedToLr) {
  for (const char *optimizer : {"sgd", "adam"}) {
    PassContext ctx;
    Graph g = trainingGraph(fixedGradientModel(std::string(optimizer) + "(lr=0.25)"), ctx);
    ValueId lr = named(g, std::string(optimizer) + ".lr");
    ASSERT_NE(lr, kNoValue);
    EXPECT_EQ(g.value(lr).kind, ValueKind::State);
    EXPECT_EQ(g.typeString(lr), "f32[]");
    Interpreter it(g);
    expectTensor(it.value(lr), {}, {0.25}, 0);
  }
}

TEST(Optimizer, SgdReadsTheLearningRateStateEachStep) {
  // Two steps at 0.1 then 0.05: p0 - (0.1 + 0.05) c.
  std::vector<double> want;
  for (size_t i = 0; i < kW0.size(); ++i)
    want.push_back(kW0[i] - 0.15 * kC[i]);
  expectTensor(trainWithRates("sgd(lr=0.1)", {0.1f, 0.05f}), {3}, want, 1e-6);
  // A rate of zero leaves the params alone.
  expectTensor(trainWithRates("sgd(lr=0.1)", {0.0f}), {3}, kW0, 0);
}

TEST(Optimizer, AdamScalesItsStepByTheLearningRateState) {
  // With a constant gradient each Adam step moves w by about lr against c's sign.
  Tensor w = trainWithRates("adam(lr=0.1)", {0.1f, 0.02f});
  for (size_t i = 0; i < kW0.size(); ++i)
    EXPECT_NEAR(w.f32()[i], kW0[i] - 0.12 * (kC[i] > 0 ? 1 : -1), 1e-5) << i;
}

TEST(Optimizer, LearningRateNameAvoidsTheModelsNames) {
  std::string text = "model opt {\n  param sgd.lr: f32[3] = [0.5, -1.0, 2.0]\n"
                     "  loss = sum(mul(sgd.lr, sgd.lr))\n  minimize loss with sgd(lr=0.1)\n}\n";
  Result<Graph> model = parseModel(text, "model.ir");
  ASSERT_TRUE(model.ok()) << model.errorText();
  EXPECT_EQ(learningRateName(*model), "sgd.lr.1");
  PassContext ctx;
  Graph g = trainingGraph(text, ctx);
  EXPECT_EQ(g.value(named(g, "sgd.lr.1")).kind, ValueKind::State);
  EXPECT_EQ(g.value(named(g, "sgd.lr")).kind, ValueKind::Param);
}

TEST(Optimizer, LearningRateSchedules) {
  using S = LearningRateSchedule;
  EXPECT_EQ(parseLearningRateSchedule("cosine"), S::Cosine);
  EXPECT_EQ(parseLearningRateSchedule("linear"), S::Linear);
  EXPECT_EQ(parseLearningRateSchedule("constant"), S::Constant);
  EXPECT_EQ(parseLearningRateSchedule("step"), std::nullopt);
  EXPECT_EQ(scheduledLearningRate(S::Constant, 0.1, 7, 10), 0.1);
  // Cosine: the base at step 0, half of it halfway, 0.1 (1 + cos(0.9 pi)) / 2 at 9 of 10.
  EXPECT_EQ(scheduledLearningRate(S::Cosine, 0.1, 0, 10), 0.1);
  EXPECT_NEAR(scheduledLearningRate(S::Cosine, 0.1, 5, 10), 0.05, 1e-15);
  EXPECT_NEAR(scheduledLearningRate(S::Cosine, 0.1, 9, 10), 0.1 * (1 + std::cos(0.9 * M_PI)) / 2,
              1e-15);
  EXPECT_NEAR(scheduledLearningRate(S::Linear, 0.1, 9, 10), 0.01, 1e-15);
}

// ---- the course's worked example -------------------------------------------------

TEST(Optimizer, BackpropExampleOneStep) {
  std::ifstream in(std::string(NNC_SOURCE_DIR "/examples/backprop_example.ir"), std::ios::binary);
  ASSERT_TRUE(in) << "cannot open examples/backprop_example.ir";
  std::stringstream text;
  text << in.rdbuf();
  PassContext ctx;
  Graph g = trainingGraph(text.str(), ctx);
  ASSERT_FALSE(g.values.empty());
  Interpreter it(g);
  Tensor x = f32({1, 2}, {0.35f, 0.9f});
  Tensor t = f32({1, 1}, {0.5f});
  Status ran = it.run({x, t});
  ASSERT_TRUE(ran.ok()) << ran.errorText();
  expectTensor(it.value(named(g, "y")), {1, 1}, {0.690283}, 1e-6);
  it.applyUpdates();
  // w1 is [[top_x1, bottom_x1], [top_x2, bottom_x2]].
  expectTensor(it.value(named(g, "w2")), {2, 1}, {0.272326, 0.872998}, 1e-6);
  expectTensor(it.value(named(g, "w1")), {2, 2}, {0.0990709, 0.3971399, 0.7976110, 0.5926455},
               1e-6);
  ran = it.run({x, t});
  ASSERT_TRUE(ran.ok()) << ran.errorText();
  expectTensor(it.value(named(g, "y")), {1, 1}, {0.682019}, 1e-6);
}

// ---- params autodiff cannot or need not differentiate -------------------------------

TEST(Optimizer, ParamOnlyThroughArgmaxIsALocatedError) {
  std::string text = "model m {\n"
                     "  param w: f32[2, 3] = [[0.1, 0.5, 0.2], [0.9, 0.3, 0.4]]\n"
                     "  const labels: i32[2] = [1, 0]\n"
                     "  const t: f32[2] = [1, 1]\n"
                     "  k = argmax(w)\n"
                     "  hit = eq(k, labels)\n"
                     "  loss = sse(hit, t)\n"
                     "  minimize loss with sgd(lr=0.1)\n"
                     "}\n";
  Result<Graph> parsed = parseModel(text, "model.ir");
  ASSERT_TRUE(parsed.ok()) << parsed.errorText();
  Graph g = std::move(parsed).value();
  PassContext ctx;
  Result<ParamGradients> grads = differentiate(g, ctx);
  ASSERT_FALSE(grads.ok());
  std::string err = grads.errorText();
  EXPECT_TRUE(contains(err, "model.ir:5:")) << err;
  EXPECT_TRUE(contains(err, "error: the loss reaches param 'w' only through argmax, which has no "
                            "gradient"))
      << err;
}

TEST(Optimizer, ParamNotAffectingTheLossIsAWarning) {
  std::string text = "model m {\n"
                     "  param w: f32[3] = [0.5, -1.0, 2.0]\n"
                     "  param unused: f32[2] = [1, 2]\n"
                     "  const c: f32[3] = [0.3, -0.7, 1.5]\n"
                     "  loss = sum(mul(w, c))\n"
                     "  minimize loss with sgd(lr=0.1)\n"
                     "}\n";
  Result<Graph> parsed = parseModel(text, "model.ir");
  ASSERT_TRUE(parsed.ok()) << parsed.errorText();
  Graph g = std::move(parsed).value();
  PassContext ctx;
  Result<ParamGradients> grads = differentiate(g, ctx);
  ASSERT_TRUE(grads.ok()) << grads.errorText();
  EXPECT_EQ(grads->size(), 1u);
  EXPECT_FALSE(ctx.diags.hasErrors());
  std::string warnings = ctx.diags.render();
  EXPECT_TRUE(contains(warnings, "model.ir:3:"));
  EXPECT_TRUE(contains(warnings, "warning: param 'unused' does not affect the loss 'loss'"))
      << warnings;
}

} // namespace
} // namespace nnc::test
