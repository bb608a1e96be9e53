// Finite-difference checks of every gradient rule, driven from the op table:
// each differentiable op (not kNoGradient) must have a recipe here, keyed by
// its family and traits, or the test fails, so a new op cannot go untested.
//
// A recipe builds small models in which params feed the op; the op's result
// is reduced to a scalar by a fixed random weighting,
//   loss = sum(mul(out, r)),   minimize loss with sgd(lr=0),
// nnc::differentiate gives each param's gradient, the Interpreter evaluates
// it, and it is compared with central differences of the loss (computed in
// double from f32 evaluations). Inputs keep away from kinks: relu, abs, step
// and max inputs are at least 0.11 from 0 and 0.06 from each other.
#include "InterpTestUtil.h"
#include "OpRecipes.h"

#include "ir/OpInfo.h"
#include "frontend/Parser.h"
#include "passes/Pass.h"
#include "passes/autodiff/Autodiff.h"
#include "runtime/Interpreter.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace nnc::test {
namespace {

Graph parseOrFail(const std::string &text) {
  Result<Graph> g = parseModel(text, "gradcheck.ir");
  EXPECT_TRUE(g.ok()) << g.errorText() << "\n" << text;
  return g.ok() ? std::move(g).value() : Graph{};
}

ValueId paramNamed(const Graph &g, const std::string &name) {
  for (ValueId id : g.valuesOfKind(ValueKind::Param))
    if (g.value(id).name == name)
      return id;
  return kNoValue;
}

/// The largest |autodiff - finite difference| / max(1, |fd|) seen.
double worstError = 0;

double lossOf(Interpreter &it, ValueId loss) {
  Status s = it.run({});
  EXPECT_TRUE(s.ok()) << s.errorText();
  return it.value(loss).at(0);
}

/// Checks every param's AD gradient of one case against central
/// differences (or, for a straight-through case, against r).
void checkCase(const std::string &opName, const Case &c) {
  SCOPED_TRACE(opName + ": " + c.label);
  std::string text = modelText(c, static_cast<uint32_t>(std::hash<std::string>{}(c.label)));
  SCOPED_TRACE(text);
  Graph forward = parseOrFail(text);
  Graph backward = parseOrFail(text);
  if (forward.values.empty() || backward.values.empty())
    return;

  PassContext ctx;
  Result<ParamGradients> grads = differentiate(backward, ctx);
  ASSERT_TRUE(grads.ok()) << grads.errorText();
  EXPECT_FALSE(ctx.diags.hasErrors()) << ctx.diags.render();
  Interpreter ad(backward);
  Status ran = ad.run({});
  ASSERT_TRUE(ran.ok()) << ran.errorText();

  Interpreter fd(forward);
  ValueId loss = forward.minimize->loss;
  for (const Param &p : c.params) {
    SCOPED_TRACE("param " + p.name);
    ValueId id = paramNamed(backward, p.name);
    ASSERT_NE(id, kNoValue);
    auto it = grads->find(id);
    ASSERT_NE(it, grads->end()) << "no gradient";
    const Tensor &grad = ad.value(it->second);
    ASSERT_EQ(grad.shape(), p.shape);

    if (c.straightThrough) { // d loss / d out = r, passed through unchanged
      const Tensor &r = ad.value(backward.findValue("r"));
      ASSERT_EQ(r.shape(), grad.shape());
      for (int64_t i = 0; i < grad.numel(); ++i)
        EXPECT_EQ(grad.at(i), r.at(i)) << "element " << i;
      continue;
    }

    ValueId fid = paramNamed(forward, p.name);
    Tensor &w = fd.stateTensor(fid);
    for (int64_t i = 0; i < w.numel(); ++i) {
      float v = w.f32()[i];
      double h = 1e-2 * std::max(1.0, std::fabs(static_cast<double>(v)));
      float vp = static_cast<float>(v + h), vm = static_cast<float>(v - h);
      w.f32()[i] = vp;
      double lp = lossOf(fd, loss);
      w.f32()[i] = vm;
      double lm = lossOf(fd, loss);
      w.f32()[i] = v;
      double numeric = (lp - lm) / (static_cast<double>(vp) - static_cast<double>(vm));
      double analytic = grad.at(i);
      worstError =
          std::max(worstError, std::fabs(analytic - numeric) / std::max(1.0, std::fabs(numeric)));
      EXPECT_LE(std::fabs(analytic - numeric), 2e-3 * std::max(1.0, std::fabs(numeric)))
          << "element " << i << ": autodiff " << analytic << ", finite difference " << numeric;
    }
  }
}

// ---- the tests ----------------------------------------------------------------

/// Every differentiable op of the table, checked by its recipe.
TEST(GradCheck, EveryDifferentiableOp) {
  int checked = 0;
  for (const OpInfo &info : allOps()) {
    if (info.has(kNoGradient))
      continue;
    std::vector<Case> cases = casesFor(info);
    if (cases.empty()) {
      ADD_FAILURE() << "op '" << info.name
                    << "' is differentiable but GradCheckTest has no recipe for it";
      continue;
    }
    for (const Case &c : cases)
      if (!c.forwardOnly) // a case whose result has no gradient (cast to i32)
        checkCase(info.name, c);
    ++checked;
  }
  EXPECT_GT(checked, 30);
  std::printf("[ gradcheck ] %d ops; worst relative error %.3g (tolerance 2e-3)\n", checked,
              worstError);
}

/// Kinks are where finite differences do not apply; check the gradient ops
/// on ties and zeros directly.
TEST(GradCheck, TiesAndZeros) {
  // maximum / minimum: a tie gives half to each side.
  std::string text = "model m {\n  param a: f32[3] = [1, 2, 3]\n  param b: f32[3] = [1, 1, 4]\n"
                     "  hi = maximum(a, b)\n  lo = minimum(a, b)\n"
                     "  loss = sum(add(hi, mul(lo, 10)))\n  minimize loss with sgd(lr=0)\n}\n";
  Graph g = parseOrFail(text);
  PassContext ctx;
  Result<ParamGradients> grads = differentiate(g, ctx);
  ASSERT_TRUE(grads.ok()) << grads.errorText();
  Interpreter it(g);
  ASSERT_TRUE(it.run({}).ok());
  expectTensor(it.value(grads->at(paramNamed(g, "a"))), {3}, {5.5, 1, 10});
  expectTensor(it.value(grads->at(paramNamed(g, "b"))), {3}, {5.5, 10, 1});

  // max over ties splits evenly; relu, abs at 0 give 0.
  text = "model m {\n  param x: f32[2, 3] = [[1, 3, 3], [0, -1, 2]]\n"
         "  m = max(x, axes=[1])\n  z = add(relu(x), abs(x))\n"
         "  loss = add(sum(m), sum(z))\n  minimize loss with sgd(lr=0)\n}\n";
  Graph g2 = parseOrFail(text);
  grads = differentiate(g2, ctx);
  ASSERT_TRUE(grads.ok()) << grads.errorText();
  Interpreter it2(g2);
  ASSERT_TRUE(it2.run({}).ok());
  expectTensor(it2.value(grads->at(paramNamed(g2, "x"))), {2, 3}, {2, 2.5, 2.5, 0, -1, 3});

  // maxpool: the first maximum of each window (row-major) takes it all.
  text = "model m {\n  param x: f32[1, 1, 2, 3] = [[[[1, 5, 5], [5, 0, 2]]]]\n"
         "  y = maxpool2d(x, kernel=2, stride=1)\n"
         "  loss = sum(y)\n  minimize loss with sgd(lr=0)\n}\n";
  Graph g3 = parseOrFail(text);
  grads = differentiate(g3, ctx);
  ASSERT_TRUE(grads.ok()) << grads.errorText();
  Interpreter it3(g3);
  ASSERT_TRUE(it3.run({}).ok());
  expectTensor(it3.value(grads->at(paramNamed(g3, "x"))), {1, 1, 2, 3}, {0, 2, 0, 0, 0, 0});
}

/// step's straight-through gradient makes one SGD step on sse exactly
/// Rosenblatt's rule w <- w + lr (y - yhat) x, b <- b + lr (y - yhat),
/// summed over the batch.
TEST(GradCheck, StepIsRosenblattsRule) {
  std::string text = "model perceptron {\n  dim B\n  input x: f32[B, 2]\n  input y: f32[B, 1]\n"
                     "  param w: f32[2, 1] = [[0.3], [-0.2]]\n  param b: f32[1] = [-0.05]\n"
                     "  yhat = step(matmul(x, w) + b)\n  loss = sse(yhat, y)\n"
                     "  output yhat\n  minimize loss with sgd(lr=0.25)\n}\n";
  Graph g = parseOrFail(text);
  PassContext ctx;
  std::unique_ptr<Pass> pass = createAutodiffPass();
  Result<bool> changed = pass->run(g, ctx);
  ASSERT_TRUE(changed.ok()) << changed.errorText();

  const double x[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  const double y[4] = {0, 0, 0, 1}; // AND
  double w[2] = {0.3, -0.2}, b = -0.05, lr = 0.25;
  double dw[2] = {0, 0}, db = 0;
  int wrong = 0;
  for (int i = 0; i < 4; ++i) {
    double yhat = x[i][0] * w[0] + x[i][1] * w[1] + b >= 0 ? 1 : 0;
    wrong += yhat != y[i];
    dw[0] += lr * (y[i] - yhat) * x[i][0];
    dw[1] += lr * (y[i] - yhat) * x[i][1];
    db += lr * (y[i] - yhat);
  }
  ASSERT_GT(wrong, 0) << "the step should change something";

  Interpreter it(g);
  Status s = it.run({f32({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1}), f32({4, 1}, {0, 0, 0, 1})});
  ASSERT_TRUE(s.ok()) << s.errorText();
  it.applyUpdates();
  expectTensor(it.value(paramNamed(g, "w")), {2, 1}, {w[0] + dw[0], w[1] + dw[1]}, 1e-6);
  expectTensor(it.value(paramNamed(g, "b")), {1}, {b + db}, 1e-6);
}

} // namespace
} // namespace nnc::test
