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

// ---- values ----------------------------------------------------------------

/// How a model's param values are drawn.
enum class Domain {
  Distinct, ///< |v| >= 0.11, pairwise >= 0.06 apart (kinks, maxima, ties)
  Positive, ///< in [0.5, 2] (log, sqrt, divisors)
  Prob,     ///< in [0.2, 0.8] (bce)
  Uniform,  ///< in [-0.5, 0.5] (smooth ops with many values: conv)
};

/// Draws values for the params of one model (all from one pool, so that
/// Distinct holds across params too, e.g. for maximum(a, b)).
class ValuePool {
public:
  ValuePool(Domain d, size_t total, uint32_t seed) : rng_(seed) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (size_t k = 0; k < total; ++k) {
      switch (d) {
      case Domain::Distinct:
        values_.push_back((u(rng_) < 0.5 ? -1.0 : 1.0) * (0.11 + 0.06 * static_cast<double>(k)));
        break;
      case Domain::Positive:
        values_.push_back(0.5 + 1.5 * u(rng_));
        break;
      case Domain::Prob:
        values_.push_back(0.2 + 0.6 * u(rng_));
        break;
      case Domain::Uniform:
        values_.push_back(u(rng_) - 0.5);
        break;
      }
    }
    std::shuffle(values_.begin(), values_.end(), rng_);
  }
  double next() { return values_.at(next_++); }

private:
  std::mt19937 rng_;
  std::vector<double> values_;
  size_t next_ = 0;
};

int64_t count(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string typeText(const std::string &dtype, const std::vector<int64_t> &shape) {
  std::string s = dtype + "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// A nested list literal of `shape` (a bare number for a scalar).
std::string literal(const std::vector<int64_t> &shape, const std::vector<double> &v, size_t axis,
                    size_t &at) {
  std::ostringstream os;
  os.precision(9);
  if (axis == shape.size()) {
    os << v[at++];
    return os.str();
  }
  os << "[";
  for (int64_t i = 0; i < shape[axis]; ++i)
    os << (i ? ", " : "") << literal(shape, v, axis + 1, at);
  os << "]";
  return os.str();
}

std::string literal(const std::vector<int64_t> &shape, const std::vector<double> &v) {
  size_t at = 0;
  return literal(shape, v, 0, at);
}

// ---- cases -----------------------------------------------------------------

struct Param {
  std::string name;
  std::vector<int64_t> shape;
};

/// One test model: params of `shape`, extra declarations (consts), and the
/// body that defines `out` of shape `outShape`.
struct Case {
  std::string label;
  std::vector<Param> params;
  std::string body;
  std::vector<int64_t> outShape;
  Domain domain = Domain::Distinct;
  std::string decls = {};       ///< extra declarations, e.g. i32 labels
  bool straightThrough = false; ///< step: the AD gradient must equal r
};

/// The model text of a case, with its params and the weighting r drawn
/// from `seed`.
std::string modelText(const Case &c, uint32_t seed) {
  size_t total = 0;
  for (const Param &p : c.params)
    total += static_cast<size_t>(count(p.shape));
  ValuePool pool(c.domain, total, seed);
  std::ostringstream os;
  os << "model gradcheck {\n";
  for (const Param &p : c.params) {
    std::vector<double> v;
    for (int64_t i = 0; i < count(p.shape); ++i)
      v.push_back(pool.next());
    os << "  param " << p.name << ": " << typeText("f32", p.shape) << " = " << literal(p.shape, v)
       << "\n";
  }
  std::mt19937 rng(seed * 7919u + 1);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> r;
  for (int64_t i = 0; i < count(c.outShape); ++i)
    r.push_back(u(rng));
  os << "  const r: " << typeText("f32", c.outShape) << " = " << literal(c.outShape, r) << "\n";
  os << c.decls;
  os << c.body << "\n";
  os << "  loss = sum(mul(out, r))\n";
  os << "  minimize loss with sgd(lr=0)\n}\n";
  return os.str();
}

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

// ---- recipes, by family and traits -----------------------------------------------

using Recipe = std::function<std::vector<Case>(const OpInfo &)>;

std::string call(const std::string &op, const std::string &args) {
  return "  out = " + op + "(" + args + ")";
}

std::vector<Case> unaryCases(const OpInfo &info) {
  std::string op = info.name;
  Case c{"unary [2, 3]", {{"x", {2, 3}}}, call(op, "x"), {2, 3}};
  if (info.kind == OpKind::Log || info.kind == OpKind::Sqrt)
    c.domain = Domain::Positive;
  if (info.kind == OpKind::Step)
    c.straightThrough = true;
  std::vector<Case> cases{c};
  if (info.kind == OpKind::LeakyRelu) {
    Case a = c;
    a.label = "leaky_relu alpha=0.2";
    a.body = call(op, "x, alpha=0.2");
    cases.push_back(a);
  }
  return cases;
}

std::vector<Case> binaryCases(const OpInfo &info) {
  std::string op = info.name;
  Domain d = info.kind == OpKind::Div ? Domain::Positive : Domain::Distinct;
  std::vector<Case> cases{
      {"same shape", {{"a", {2, 3}}, {"b", {2, 3}}}, call(op, "a, b"), {2, 3}, d},
      {"[3] with [2, 3]", {{"a", {3}}, {"b", {2, 3}}}, call(op, "a, b"), {2, 3}, d},
      {"[2, 3] with [3]", {{"a", {2, 3}}, {"b", {3}}}, call(op, "a, b"), {2, 3}, d},
      {"[2, 1] with [2, 3]", {{"a", {2, 1}}, {"b", {2, 3}}}, call(op, "a, b"), {2, 3}, d},
      {"[2, 3] with [2, 1]", {{"a", {2, 3}}, {"b", {2, 1}}}, call(op, "a, b"), {2, 3}, d},
      {"[2, 1] with [1, 3]", {{"a", {2, 1}}, {"b", {1, 3}}}, call(op, "a, b"), {2, 3}, d},
  };
  return cases;
}

std::vector<Case> matMulCases(const OpInfo &info) {
  std::vector<Case> cases;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      std::vector<int64_t> a = ta ? std::vector<int64_t>{3, 2} : std::vector<int64_t>{2, 3};
      std::vector<int64_t> b = tb ? std::vector<int64_t>{4, 3} : std::vector<int64_t>{3, 4};
      std::string flags = std::string("transpose_a=") + (ta ? "true" : "false") +
                          ", transpose_b=" + (tb ? "true" : "false");
      cases.push_back(Case{
          flags, {{"a", a}, {"b", b}}, call(info.name, "a, b, " + flags), {2, 4}, Domain::Uniform});
    }
  return cases;
}

std::vector<Case> shapeCases(const OpInfo &info) {
  if (info.kind == OpKind::Reshape)
    return {
        {"[2, 3] to [3, 2]", {{"x", {2, 3}}}, call("reshape", "x, shape=[3, 2]"), {3, 2}},
        {"[2, 3, 2] to [6, -1]", {{"x", {2, 3, 2}}}, call("reshape", "x, shape=[6, -1]"), {6, 2}},
    };
  if (info.kind == OpKind::Transpose)
    return {
        {"no perm", {{"x", {2, 3}}}, call("transpose", "x"), {3, 2}},
        {"no perm rank 3", {{"x", {2, 3, 4}}}, call("transpose", "x"), {4, 3, 2}},
        {"perm [1, 2, 0]", {{"x", {2, 3, 4}}}, call("transpose", "x, perm=[1, 2, 0]"), {3, 4, 2}},
    };
  return {};
}

std::vector<Case> reduceCases(const OpInfo &info) {
  std::string op = info.name;
  if (info.has(kReduction)) {
    // (attributes, output shape) on x: [2, 3, 4]
    std::vector<std::pair<std::string, std::vector<int64_t>>> variants = {
        {"", {}},
        {", keepdims=true", {1, 1, 1}},
        {", axes=[1]", {2, 4}},
        {", axes=[1], keepdims=true", {2, 1, 4}},
        {", axes=[0, 2]", {3}},
        {", axes=[0, 2], keepdims=true", {1, 3, 1}},
        {", axes=[-1]", {2, 3}},
    };
    std::vector<Case> cases;
    for (const auto &[attrs, shape] : variants)
      cases.push_back(
          Case{op + "(x" + attrs + ")", {{"x", {2, 3, 4}}}, call(op, "x" + attrs), shape});
    return cases;
  }
  if (info.kind == OpKind::Softmax || info.kind == OpKind::LogSoftmax)
    return {
        {"axis 0", {{"x", {3, 4}}}, call(op, "x, axis=0"), {3, 4}},
        {"axis -1", {{"x", {3, 4}}}, call(op, "x, axis=-1"), {3, 4}},
        {"axis 1 of rank 3", {{"x", {2, 3, 2}}}, call(op, "x, axis=1"), {2, 3, 2}},
    };
  return {};
}

std::vector<Case> normCases(const OpInfo &info) {
  if (info.kind != OpKind::LayerNorm)
    return {};
  return {
      {"[3, 4]",
       {{"x", {3, 4}}, {"gamma", {4}}, {"beta", {4}}},
       call("layernorm", "x, gamma, beta"),
       {3, 4},
       Domain::Uniform},
      {"[2, 2, 3] eps=0.1",
       {{"x", {2, 2, 3}}, {"gamma", {3}}, {"beta", {3}}},
       call("layernorm", "x, gamma, beta, eps=0.1"),
       {2, 2, 3},
       Domain::Uniform},
  };
}

std::vector<Case> convCases(const OpInfo &info) {
  if (info.kind == OpKind::Conv2d)
    return {
        {"stride 2 padding 1, bias",
         {{"x", {2, 2, 5, 5}}, {"w", {3, 2, 3, 3}}, {"b", {3}}},
         call("conv2d", "x, w, b, stride=2, padding=1"),
         {2, 3, 3, 3},
         Domain::Uniform},
        {"stride 2 padding 1, no bias",
         {{"x", {2, 2, 5, 5}}, {"w", {3, 2, 3, 3}}},
         call("conv2d", "x, w, stride=2, padding=1"),
         {2, 3, 3, 3},
         Domain::Uniform},
        {"stride 1 padding 0, 2x3 kernel, bias",
         {{"x", {1, 2, 4, 5}}, {"w", {2, 2, 2, 3}}, {"b", {2}}},
         call("conv2d", "x, w, b"),
         {1, 2, 3, 3},
         Domain::Uniform},
        {"stride [1, 2] padding [2, 1]",
         {{"x", {1, 1, 4, 4}}, {"w", {2, 1, 3, 3}}},
         call("conv2d", "x, w, stride=[1, 2], padding=[2, 1]"),
         {1, 2, 6, 2},
         Domain::Uniform},
    };
  if (info.kind == OpKind::MaxPool2d || info.kind == OpKind::AvgPool2d) {
    std::string op = info.name;
    return {
        {"kernel 2 stride 2",
         {{"x", {1, 2, 4, 4}}},
         call(op, "x, kernel=2, stride=2"),
         {1, 2, 2, 2}},
        {"kernel 3 stride 1",
         {{"x", {1, 2, 5, 5}}},
         call(op, "x, kernel=3, stride=1"),
         {1, 2, 3, 3}},
        {"kernel [2, 3] default stride",
         {{"x", {2, 1, 4, 6}}},
         call(op, "x, kernel=[2, 3]"),
         {2, 1, 2, 2}},
    };
  }
  return {};
}

std::vector<Case> lossCases(const OpInfo &info) {
  std::string op = info.name;
  switch (info.kind) {
  case OpKind::Sse:
  case OpKind::Mse:
    return {{"pred and target params",
             {{"p", {2, 3}}, {"t", {2, 3}}},
             call(op, "p, t"),
             {},
             Domain::Uniform}};
  case OpKind::Bce:
    return {{"probs and target params",
             {{"p", {2, 3}}, {"t", {2, 3}}},
             call(op, "p, t"),
             {},
             Domain::Prob}};
  case OpKind::SoftmaxCrossEntropy:
    return {{"i32 labels",
             {{"logits", {3, 4}}},
             call(op, "logits, labels"),
             {},
             Domain::Distinct,
             "  const labels: i32[3] = [2, 0, 3]\n"}};
  default:
    return {};
  }
}

/// The recipe for an op: by family, then traits inside the family's function.
std::vector<Case> casesFor(const OpInfo &info) {
  switch (info.family) {
  case OpFamily::Elementwise:
    if (info.has(kUnary))
      return unaryCases(info);
    if (info.has(kBinary))
      return binaryCases(info);
    return {};
  case OpFamily::MatMul:
    return matMulCases(info);
  case OpFamily::Shape:
    return shapeCases(info);
  case OpFamily::Reduce:
    return reduceCases(info);
  case OpFamily::Norm:
    return normCases(info);
  case OpFamily::Conv:
    return convCases(info);
  case OpFamily::Loss:
    return lossCases(info);
  }
  return {};
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
