/// Recipes for small models that use one op each, by family and traits,
/// shared by the tests that walk the op table: GradCheckTest (autodiff
/// against finite differences) and OpCoverageTest (the JIT against the
/// interpreter, forward and backward). A new op without a recipe fails both.
///
/// A recipe's model has params (literal values drawn from its Domain),
/// defines `out`, and reduces it to a scalar by a fixed random weighting,
///   loss = sum(mul(out, r)),   minimize loss with sgd(lr=0),
/// except for ops without a gradient (forwardOnly), whose model outputs
/// `out` alone. Inputs keep away from kinks: relu, abs, step and max inputs
/// are at least 0.11 from 0 and 0.06 from each other.
#pragma once

#include "ir/OpInfo.h"

#include <algorithm>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace nnc::test {

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

inline int64_t count(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

inline std::string typeText(const std::string &dtype, const std::vector<int64_t> &shape) {
  std::string s = dtype + "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// A nested list literal of `shape` (a bare number for a scalar).
inline std::string literal(const std::vector<int64_t> &shape, const std::vector<double> &v,
                           size_t axis, size_t &at) {
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

inline std::string literal(const std::vector<int64_t> &shape, const std::vector<double> &v) {
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
  bool forwardOnly = false;     ///< an op without a gradient: the model outputs `out`, no loss
};

/// The model text of a case, with its params and the weighting r drawn
/// from `seed`.
inline std::string modelText(const Case &c, uint32_t seed) {
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
  if (c.forwardOnly) {
    os << "  output out\n}\n";
    return os.str();
  }
  os << "  loss = sum(mul(out, r))\n";
  os << "  minimize loss with sgd(lr=0)\n}\n";
  return os.str();
}

// ---- recipes, by family and traits -----------------------------------------------

using Recipe = std::function<std::vector<Case>(const OpInfo &)>;

inline std::string call(const std::string &op, const std::string &args) {
  return "  out = " + op + "(" + args + ")";
}

inline std::vector<Case> unaryCases(const OpInfo &info) {
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
  if (info.kind == OpKind::Clip) {
    // Distinct values are +-(0.11 + 0.06 k): the bounds lie 0.03 from any.
    for (const char *bounds : {"min=-0.2, max=0.26", "min=-0.2", "max=0.26"}) {
      Case a = c;
      a.label = std::string("clip ") + bounds;
      a.params = {{"x", {3, 4}}};
      a.outShape = {3, 4};
      a.body = call(op, std::string("x, ") + bounds);
      cases.push_back(a);
    }
  }
  return cases;
}

inline std::vector<Case> binaryCases(const OpInfo &info) {
  std::string op = info.name;
  Domain d =
      info.kind == OpKind::Div || info.kind == OpKind::Pow ? Domain::Positive : Domain::Distinct;
  std::vector<Case> cases{
      {"same shape", {{"a", {2, 3}}, {"b", {2, 3}}}, call(op, "a, b"), {2, 3}, d},
      {"[3] with [2, 3]", {{"a", {3}}, {"b", {2, 3}}}, call(op, "a, b"), {2, 3}, d},
      {"[2, 3] with [3]", {{"a", {2, 3}}, {"b", {3}}}, call(op, "a, b"), {2, 3}, d},
      {"[2, 1] with [2, 3]", {{"a", {2, 1}}, {"b", {2, 3}}}, call(op, "a, b"), {2, 3}, d},
      {"[2, 3] with [2, 1]", {{"a", {2, 3}}, {"b", {2, 1}}}, call(op, "a, b"), {2, 3}, d},
      {"[2, 1] with [1, 3]", {{"a", {2, 1}}, {"b", {1, 3}}}, call(op, "a, b"), {2, 3}, d},
  };
  if (info.has(kNoGradient)) // eq: compare with itself too (all ones)
    cases.push_back({"a with a", {{"a", {2, 3}}}, call(op, "a, a"), {2, 3}, d});
  for (Case &c : cases)
    c.forwardOnly = info.has(kNoGradient);
  return cases;
}

/// fused_attention: without a mask, with a causal [Tq, Tk] mask, with a
/// mask of the scores' shape, and with keys past one tile (64) of the
/// kernel's schedule.
inline std::vector<Case> attentionCases() {
  auto causal = [](int64_t t, int64_t batches) {
    std::string rows;
    for (int64_t i = 0; i < t; ++i) {
      rows += i ? ", [" : "[";
      for (int64_t j = 0; j < t; ++j)
        rows += std::string(j ? ", " : "") + (j <= i ? "0" : "-1e9");
      rows += "]";
    }
    std::string one = "[" + rows + "]";
    std::string all = one;
    for (int64_t b = 1; b < batches; ++b)
      all += ", " + one;
    return batches ? "[" + all + "]" : one;
  };
  std::vector<Case> cases = {
      {"q [2, 5, 3], k [2, 7, 3], v [2, 7, 4]",
       {{"q", {2, 5, 3}}, {"k", {2, 7, 3}}, {"v", {2, 7, 4}}},
       call("fused_attention", "q, k, v, scale=0.5"),
       {2, 5, 4}},
      {"causal [5, 5] mask",
       {{"q", {2, 5, 3}}, {"k", {2, 5, 3}}, {"v", {2, 5, 2}}},
       call("fused_attention", "q, k, v, mask, scale=0.7"),
       {2, 5, 2}},
      {"mask of the scores' shape [2, 4, 4]",
       {{"q", {2, 4, 2}}, {"k", {2, 4, 2}}, {"v", {2, 4, 3}}},
       call("fused_attention", "q, k, v, mask"),
       {2, 4, 3}},
      {"70 keys (two tiles)",
       {{"q", {1, 3, 2}}, {"k", {1, 70, 2}}, {"v", {1, 70, 2}}},
       call("fused_attention", "q, k, v, scale=2"),
       {1, 3, 2}},
  };
  cases[1].decls = "  const mask: f32[5, 5] = " + causal(5, 0) + "\n";
  cases[2].decls = "  const mask: f32[2, 4, 4] = " + causal(4, 2) + "\n";
  for (Case &c : cases)
    c.domain = Domain::Uniform;
  return cases;
}

inline std::vector<Case> matMulCases(const OpInfo &info) {
  if (info.kind == OpKind::FusedAttention)
    return attentionCases();
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
  // Batch dims: one GEMM per batch index, broadcast; and rows of one GEMM.
  std::vector<Case> batched = {
      {"batched [2, 2, 3] x [2, 3, 4]",
       {{"a", {2, 2, 3}}, {"b", {2, 3, 4}}},
       call("matmul", "a, b"),
       {2, 2, 4}},
      {"broadcast [2, 1, 2, 3] x [3, 3, 2]",
       {{"a", {2, 1, 2, 3}}, {"b", {3, 3, 2}}},
       call("matmul", "a, b"),
       {2, 3, 2, 2}},
      {"batched transposed [2, 3, 2]^T x [2, 4, 3]^T",
       {{"a", {2, 3, 2}}, {"b", {2, 4, 3}}},
       call("matmul", "a, b, transpose_a=true, transpose_b=true"),
       {2, 2, 4}},
      {"rows [2, 2, 3] x [3, 4]",
       {{"a", {2, 2, 3}}, {"b", {3, 4}}},
       call("matmul", "a, b"),
       {2, 2, 4}},
      {"rows [2, 2, 3] x [4, 3]^T",
       {{"a", {2, 2, 3}}, {"b", {4, 3}}},
       call("matmul", "a, b, transpose_b=true"),
       {2, 2, 4}},
      {"[2, 3] x batched [2, 3, 4]",
       {{"a", {2, 3}}, {"b", {2, 3, 4}}},
       call("matmul", "a, b"),
       {2, 2, 4}},
  };
  for (Case &c : batched) {
    c.domain = Domain::Uniform;
    cases.push_back(c);
  }
  return cases;
}

inline std::vector<Case> shapeCases(const OpInfo &info) {
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
  if (info.kind == OpKind::Concat)
    return {
        {"axis 1", {{"a", {2, 3}}, {"b", {2, 2}}}, call("concat", "a, b, axis=1"), {2, 5}},
        {"axis 0, three",
         {{"a", {2, 3}}, {"b", {1, 3}}, {"c", {2, 3}}},
         call("concat", "a, b, c, axis=0"),
         {5, 3}},
        {"axis -2 of rank 3",
         {{"a", {2, 1, 2}}, {"b", {2, 2, 2}}},
         call("concat", "a, b, axis=-2"),
         {2, 3, 2}},
    };
  if (info.kind == OpKind::Slice)
    return {
        {"1:4 of axis 1", {{"x", {3, 5}}}, call("slice", "x, axis=1, start=1, end=4"), {3, 3}},
        {"::2 of axis 1", {{"x", {3, 5}}}, call("slice", "x, axis=1, step=2"), {3, 3}},
        {"-2: of axis 0", {{"x", {4, 2}}}, call("slice", "x, axis=0, start=-2"), {2, 2}},
        {"1:100:2 of axis -1",
         {{"x", {2, 2, 5}}},
         call("slice", "x, axis=-1, start=1, end=100, step=2"),
         {2, 2, 2}},
    };
  if (info.kind == OpKind::Cast) {
    Case toInt{
        "f32 to i32, toward zero", {{"x", {2, 3}}}, call("cast", "mul(x, 9), to=i32"), {2, 3}};
    toInt.forwardOnly = true;
    return {
        {"f32 to f32", {{"x", {2, 3}}}, call("cast", "x, to=f32"), {2, 3}},
        {"i32 to f32",
         {{"x", {2, 2}}},
         "  out = mul(x, cast(idx, to=f32))",
         {2, 2},
         Domain::Distinct,
         "  const idx: i32[2, 2] = [[-3, 0], [7, 2]]\n"},
        toInt,
    };
  }
  if (info.kind == OpKind::Tril || info.kind == OpKind::Triu) {
    std::string op = info.name;
    return {
        {"k 0", {{"x", {2, 3, 4}}}, call(op, "x"), {2, 3, 4}},
        {"k 1", {{"x", {3, 3}}}, call(op, "x, k=1"), {3, 3}},
        {"k -1", {{"x", {4, 3}}}, call(op, "x, k=-1"), {4, 3}},
    };
  }
  if (info.kind == OpKind::Gather)
    return {
        {"rows, repeated",
         {{"x", {4, 3}}},
         call("gather", "x, idx"),
         {2, 2, 3},
         Domain::Distinct,
         "  const idx: i32[2, 2] = [[0, 3], [3, 1]]\n"},
        {"axis 1",
         {{"x", {2, 4}}},
         call("gather", "x, idx, axis=1"),
         {2, 3},
         Domain::Distinct,
         "  const idx: i32[3] = [3, 0, 3]\n"},
        {"axis -1 of rank 3",
         {{"x", {2, 2, 3}}},
         call("gather", "x, idx, axis=-1"),
         {2, 2, 2},
         Domain::Distinct,
         "  const idx: i32[2] = [2, 2]\n"},
    };
  return {};
}

inline std::vector<Case> reduceCases(const OpInfo &info) {
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
  if (info.kind == OpKind::ArgMax) {
    std::vector<Case> cases = {
        {"axis -1", {{"x", {3, 4}}}, call(op, "x"), {3}},
        {"axis 0", {{"x", {3, 4}}}, call(op, "x, axis=0"), {4}},
        {"axis 1 of rank 3", {{"x", {2, 3, 2}}}, call(op, "x, axis=1"), {2, 2}},
    };
    for (Case &c : cases)
      c.forwardOnly = true;
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

/// The running statistics of the batchnorm recipes: states of 3 channels.
inline const char *kRunningStats = "  state rm: f32[3] = [0.1, -0.2, 0.05]\n"
                                   "  state rv: f32[3] = [0.5, 1.5, 0.8]\n";

/// batchnorm as written (inference: the running statistics), its training
/// form (the batch's statistics) and the running statistics' updates.
inline std::vector<Case> batchNormCases(const OpInfo &info) {
  std::vector<Case> cases;
  auto add = [&](const std::string &label, const std::vector<int64_t> &x, const std::string &args,
                 bool perChannel) {
    std::vector<Param> params = {{"x", x}};
    if (!perChannel)
      params.insert(params.end(), {{"gamma", {3}}, {"beta", {3}}});
    Case c{label,
           params,
           call(info.name, args),
           perChannel ? std::vector<int64_t>{3} : x,
           Domain::Uniform,
           kRunningStats};
    c.forwardOnly = info.has(kNoGradient);
    cases.push_back(c);
  };
  switch (info.kind) {
  case OpKind::BatchNorm:
    add("[4, 3]", {4, 3}, "x, gamma, beta, rm, rv", false);
    add("[2, 3, 2, 2] eps=0.1", {2, 3, 2, 2}, "x, gamma, beta, rm, rv, eps=0.1", false);
    break;
  case OpKind::BatchNormTrain:
    add("[4, 3]", {4, 3}, "x, gamma, beta", false);
    add("[2, 3, 2, 2] eps=0.1", {2, 3, 2, 2}, "x, gamma, beta, eps=0.1", false);
    break;
  case OpKind::BatchNormRunningMean:
  case OpKind::BatchNormRunningVar:
    add("[4, 3]", {4, 3}, "x, rm", true);
    add("[2, 3, 2, 2] momentum=0.3", {2, 3, 2, 2}, "x, rv, momentum=0.3", true);
    break;
  default:
    break;
  }
  return cases;
}

inline std::vector<Case> normCases(const OpInfo &info) {
  if (info.kind != OpKind::LayerNorm)
    return batchNormCases(info);
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

inline std::vector<Case> convCases(const OpInfo &info) {
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

inline std::vector<Case> lossCases(const OpInfo &info) {
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
             "  const labels: i32[3] = [2, 0, 3]\n"},
            {"leading dims [2, 3]",
             {{"logits", {2, 3, 4}}},
             call(op, "logits, labels"),
             {},
             Domain::Uniform,
             "  const labels: i32[2, 3] = [[2, 0, 3], [1, 1, 0]]\n"}};
  default:
    return {};
  }
}

/// where(cond, a, b) with an f32 and an i32 condition, broadcasting each way.
inline std::vector<Case> whereCases() {
  const char *f32Cond = "  const c: f32[2, 3] = [[1, 0, 1], [0, 0, -2]]\n";
  const char *i32Cond = "  const c: i32[3] = [0, 7, 1]\n";
  return {
      {"f32 cond, one shape",
       {{"a", {2, 3}}, {"b", {2, 3}}},
       call("where", "c, a, b"),
       {2, 3},
       Domain::Uniform,
       f32Cond},
      {"i32 cond [3], a [2, 1], b [3]",
       {{"a", {2, 1}}, {"b", {3}}},
       call("where", "c, a, b"),
       {2, 3},
       Domain::Uniform,
       i32Cond},
      {"cond from a param (no gradient to it)",
       {{"a", {2, 3}}, {"b", {2, 3}}},
       "  m = relu(a)\n" + call("where", "m, a, b"),
       {2, 3},
       Domain::Distinct},
  };
}

/// dropout_train at a fixed step: the mask is a constant of the model.
inline std::vector<Case> dropoutTrainCases() {
  const char *step = "  const step: i32[] = 3\n";
  return {
      {"p 0.5 [4, 5]",
       {{"x", {4, 5}}},
       call("dropout_train", "x, step"),
       {4, 5},
       Domain::Uniform,
       step},
      {"p 0.2 seed 9 [2, 3, 4]",
       {{"x", {2, 3, 4}}},
       call("dropout_train", "x, step, p=0.2, seed=9"),
       {2, 3, 4},
       Domain::Uniform,
       step},
  };
}

/// The recipe for an op: by family, then traits inside the family's function.
inline std::vector<Case> casesFor(const OpInfo &info) {
  switch (info.family) {
  case OpFamily::Elementwise:
    if (info.has(kUnary))
      return unaryCases(info);
    if (info.has(kBinary))
      return binaryCases(info);
    if (info.kind == OpKind::Where)
      return whereCases();
    if (info.kind == OpKind::DropoutTrain)
      return dropoutTrainCases();
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

} // namespace nnc::test
