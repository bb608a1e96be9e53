/// The ops of the Transformer and ResNet modules (IR.md section 3) on
/// numbers worked out by hand (each the value torch gives), in both engines:
/// sin, cos, clip, pow and its gradient's edge cases, where, concat, slice
/// with Python's rules, tril/triu, gather and its scatter-add gradient, the
/// consts' initializers, softmax_cross_entropy over leading dims; and their
/// errors, located. The table-walking tests (GradCheckTest, OpCoverageTest,
/// OpRoundTripTest) check gradients against finite differences and the JIT
/// against the interpreter on random values.
#include "JitTestUtil.h"
#include "codegen/Session.h"
#include "frontend/Parser.h"
#include "ir/Printer.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace nnc {
namespace {

Graph parsed(const std::string &text) { return jittest::parsedOrFail(text, "m.ir"); }

/// The model's outputs from the interpreter and from the JIT, which must
/// agree to the last bit or within `tolerance` (transcendentals).
std::vector<Tensor> runBoth(const std::string &text, const std::vector<Tensor> &inputs,
                            double tolerance = 0) {
  Graph g = parsed(text);
  Interpreter interp(g);
  Status s = interp.run(inputs);
  EXPECT_TRUE(s.ok()) << s.errorText();
  std::vector<Tensor> want;
  for (const OutputRef &o : g.outputs)
    want.push_back(interp.value(o.value).clone());
  auto session = JitSession::create(g, nullptr);
  EXPECT_TRUE(session.ok()) << session.errorText();
  if (!session.ok())
    return want;
  auto got = (*session)->infer(inputs);
  EXPECT_TRUE(got.ok()) << got.errorText();
  if (!got.ok())
    return want;
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ((*got)[k].shape(), want[k].shape());
    for (int64_t i = 0; i < want[k].numel() && (*got)[k].shape() == want[k].shape(); ++i) {
      double a = (*got)[k].at(i), b = want[k].at(i);
      if (a == b)
        continue; // infinities too
      if (std::isnan(b))
        EXPECT_TRUE(std::isnan(a)) << "output " << k << " element " << i;
      else
        EXPECT_NEAR(a, b, tolerance * std::max(1.0, std::fabs(b)))
            << "output " << k << " element " << i;
    }
  }
  return want;
}

void expectValues(const Tensor &t, const std::vector<int64_t> &shape,
                  const std::vector<double> &values, double tolerance = 0) {
  ASSERT_EQ(t.shape(), shape);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i) {
    if (t.at(static_cast<int64_t>(i)) == values[i])
      continue; // infinities too
    if (std::isnan(values[i]))
      EXPECT_TRUE(std::isnan(t.at(static_cast<int64_t>(i)))) << "element " << i;
    else
      EXPECT_NEAR(t.at(static_cast<int64_t>(i)), values[i], tolerance) << "element " << i;
  }
}

TEST(ModernOps, SinCosClipPow) {
  Tensor x = Tensor::f32({5}, std::vector<float>{-2.0f, -0.5f, 0.0f, 1.0f, NAN});
  auto out = runBoth("model m {\n input x: f32[5]\n s = sin(x)\n c = cos(x)\n"
                     " k = clip(x, min=-1, max=0.5)\n lo = clip(x, min=0)\n"
                     " p = pow(x, 2)\n output s, c, k, lo, p\n}\n",
                     {x}, 1e-6);
  expectValues(out[0], {5}, {std::sin(-2.0), std::sin(-0.5), 0.0, std::sin(1.0), NAN}, 1e-6);
  expectValues(out[1], {5}, {std::cos(-2.0), std::cos(-0.5), 1.0, std::cos(1.0), NAN}, 1e-6);
  expectValues(out[2], {5}, {-1.0, -0.5, 0.0, 0.5, NAN}); // torch.clamp keeps NaN
  expectValues(out[3], {5}, {0.0, 0.0, 0.0, 1.0, NAN});
  expectValues(out[4], {5}, {4.0, 0.25, 0.0, 1.0, NAN}, 1e-6);
}

/// pow's gradients at PyTorch's special points: d/da is 0 where b == 0
/// (not 0 * inf), d/db is 0 where a == 0 and b >= 0 (not 0 * log 0).
TEST(ModernOps, PowGradientsAtTheEdgesAreTorchs) {
  auto out = runBoth("model m {\n input a: f32[4]\n input b: f32[4]\n input dy: f32[4]\n"
                     " da = pow_base_grad(a, b, dy)\n db = pow_exponent_grad(a, b, dy)\n"
                     " output da, db\n}\n",
                     {Tensor::f32({4}, std::vector<float>{0.0f, 0.0f, 2.0f, 0.0f}),
                      Tensor::f32({4}, std::vector<float>{0.0f, 2.0f, 3.0f, -1.0f}),
                      Tensor::f32({4}, std::vector<float>{1.0f, 1.0f, 0.5f, 1.0f})},
                     1e-6);
  // da: b == 0 -> 0; 2 * 0^1 = 0; 0.5 * 3 * 2^2 = 6; -1 * 0^-2 = -inf.
  expectValues(out[0], {4}, {0.0, 0.0, 6.0, -INFINITY});
  // db: a == 0, b >= 0 -> 0 twice; 0.5 * 8 * log 2; a == 0, b < 0: inf * -inf.
  expectValues(out[1], {4}, {0.0, 0.0, 4.0 * std::log(2.0), -INFINITY}, 1e-6);
}

TEST(ModernOps, WhereTakesNonZeroAsTrueAndBroadcasts) {
  auto out = runBoth("model m {\n input c: f32[2, 1]\n input i: i32[3]\n input a: f32[2, 3]\n"
                     " input b: f32[]\n w = where(c, a, b)\n v = where(i, a, b)\n output w, v\n}\n",
                     {Tensor::f32({2, 1}, std::vector<float>{0.0f, NAN}),
                      Tensor::i32({3}, std::vector<int32_t>{0, -4, 1}),
                      Tensor::f32({2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6}),
                      Tensor::f32({}, std::vector<float>{-1})});
  expectValues(out[0], {2, 3}, {-1, -1, -1, 4, 5, 6}); // NaN is non-zero, as torch.where(x != 0)
  expectValues(out[1], {2, 3}, {-1, 2, 3, -1, 5, 6});
}

TEST(ModernOps, ConcatAndSliceFollowPython) {
  auto out = runBoth("model m {\n input x: f32[2, 5]\n input y: f32[2, 1]\n"
                     " c = concat(x, y, axis=1)\n"
                     " a = slice(x, axis=1, start=-3)\n"                 // x[:, -3:]
                     " b = slice(x, axis=1, start=1, end=100, step=3)\n" // x[:, 1:100:3]
                     " e = slice(x, axis=0, start=5)\n"                  // x[5:] is empty
                     " r = concat(y, y, axis=-2)\n output c, a, b, e, r\n}\n",
                     {Tensor::f32({2, 5}, std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}),
                      Tensor::f32({2, 1}, std::vector<float>{-1, -2})});
  expectValues(out[0], {2, 6}, {0, 1, 2, 3, 4, -1, 5, 6, 7, 8, 9, -2});
  expectValues(out[1], {2, 3}, {2, 3, 4, 7, 8, 9});
  expectValues(out[2], {2, 2}, {1, 4, 6, 9});
  expectValues(out[3], {0, 5}, {});
  expectValues(out[4], {4, 1}, {-1, -2, -1, -2});
}

TEST(ModernOps, TrilAndTriuAreTorchs) {
  std::vector<float> ones(12, 1.0f);
  auto out = runBoth("model m {\n input x: f32[3, 4]\n l = tril(x)\n u = triu(x, k=1)\n"
                     " m1 = tril(x, k=-1)\n output l, u, m1\n}\n",
                     {Tensor::f32({3, 4}, ones)});
  expectValues(out[0], {3, 4}, {1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0});
  expectValues(out[1], {3, 4}, {0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1});
  expectValues(out[2], {3, 4}, {0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0});
}

TEST(ModernOps, GatherIsAnEmbeddingLookupAndItsGradientAddsUp) {
  const char *text = "model m {\n input table: f32[4, 2]\n input ids: i32[2, 3]\n"
                     " input dy: f32[2, 3, 2]\n e = gather(table, ids)\n"
                     " g = gather_grad(table, ids, dy)\n"
                     " output e, g\n}\n";
  Tensor table = Tensor::f32({4, 2}, std::vector<float>{0, 1, 10, 11, 20, 21, 30, 31});
  Tensor ids = Tensor::i32({2, 3}, std::vector<int32_t>{3, 0, 3, 1, 1, 1});
  std::vector<float> ones(12, 1.0f);
  auto out = runBoth(text, {table, ids, Tensor::f32({2, 3, 2}, ones)});
  expectValues(out[0], {2, 3, 2}, {30, 31, 0, 1, 30, 31, 10, 11, 10, 11, 10, 11});
  // Row 3 is read twice, row 1 three times, row 2 never.
  expectValues(out[1], {4, 2}, {1, 1, 3, 3, 0, 0, 2, 2});
}

/// An index outside the axis is the same located error in both engines,
/// whether the indices are an input or a const.
TEST(ModernOps, GatherIndexOutOfRangeIsLocatedInBothEngines) {
  const char *text = "model m {\n input table: f32[4, 2]\n input ids: i32[3]\n"
                     " const fixed: i32[2] = [0, -1]\n e = gather(table, ids)\n"
                     " f = gather(table, fixed)\n output e\n output f\n}\n";
  Graph g = parsed(text);
  auto session = JitSession::create(g, nullptr);
  ASSERT_TRUE(session.ok()) << session.errorText();
  auto expectError = [&](const Tensor &ids, const std::string &where, const std::string &what) {
    Tensor table(DType::F32, {4, 2});
    Interpreter interp(g);
    Status fromInterp = interp.run({table, ids});
    auto fromJit = (*session)->infer({table, ids});
    ASSERT_FALSE(fromInterp.ok());
    ASSERT_FALSE(fromJit.ok());
    EXPECT_EQ(fromJit.errorText(), fromInterp.errorText());
    EXPECT_NE(fromJit.errorText().find(where), std::string::npos) << fromJit.errorText();
    EXPECT_NE(fromJit.errorText().find(what), std::string::npos) << fromJit.errorText();
  };
  expectError(Tensor::i32({3}, std::vector<int32_t>{0, 4, 1}),
              "m.ir:5:", "gather: index 4 (element 1 of the indices) is outside [0, 4)");
  expectError(Tensor::i32({3}, std::vector<int32_t>{0, 1, 2}),
              "m.ir:6:", "gather: index -1 (element 1 of the indices) is outside [0, 4)");
}

TEST(ModernOps, ConstsTakeDeterministicInitializersAndPrintThem) {
  const char *text = "model m {\n  input x: f32[3]\n  const pos: i32[3] = arange()\n"
                     "  const mask: f32[3] = ones()\n  const half: f32[3] = fill(0.5)\n"
                     "  y: f32[3] = where(pos, x, half)\n  output y\n}\n";
  Graph g = parsed(text);
  EXPECT_EQ(printGraph(g), text);
  auto out = runBoth(text, {Tensor::f32({3}, std::vector<float>{7, 8, 9})});
  expectValues(out[0], {3}, {0.5, 8, 9});
  Result<Graph> random = parseModel(
      "model m {\n input x: f32[3]\n const r: f32[3] = uniform(0, 1)\n y = x + r\n output y\n}\n",
      "r.ir");
  ASSERT_FALSE(random.ok());
  EXPECT_NE(random.errorText().find(
                "r.ir:3:20: error: a const takes a literal, zeros(), ones(), fill(v) or arange()"),
            std::string::npos)
      << random.errorText();
}

/// A language model's loss: logits [B, T, V] with labels [B, T] is the
/// mean over all B x T rows, as the flattened [B T, V] with [B T].
TEST(ModernOps, SoftmaxCrossEntropyOverLeadingDimsIsTheFlattenedOne) {
  std::vector<float> logits;
  for (int i = 0; i < 2 * 3 * 4; ++i)
    logits.push_back(std::sin(0.7f * static_cast<float>(i)));
  std::vector<int32_t> labels{0, 3, 2, 1, 1, 0};
  auto deep = runBoth("model m {\n input x: f32[2, 3, 4]\n input l: i32[2, 3]\n"
                      " loss = softmax_cross_entropy(x, l)\n output loss\n}\n",
                      {Tensor::f32({2, 3, 4}, logits), Tensor::i32({2, 3}, labels)}, 1e-6);
  auto flat = runBoth("model m {\n input x: f32[6, 4]\n input l: i32[6]\n"
                      " loss = softmax_cross_entropy(x, l)\n output loss\n}\n",
                      {Tensor::f32({6, 4}, logits), Tensor::i32({6}, labels)}, 1e-6);
  EXPECT_EQ(deep[0].at(0), flat[0].at(0));
}

/// Shape errors of the new ops: one per class, located at the op.
TEST(ModernOps, ShapeErrorsAreLocated) {
  struct Case {
    const char *body;
    const char *message;
  };
  const Case cases[] = {
      {"y = concat(d, e, axis=0)",
       "error: concat: operand 1 is f32[3, 2] but operand 0 is f32[2, 3]: dims other than "
       "axis 0 must match"},
      {"y = concat(a, a, axis=0)",
       "error: concat: operand 0 is f32[B, 3]: the concatenated axis must be static"},
      {"y = concat(a, a)", "error: concat: missing attribute 'axis'"},
      {"y = slice(a, axis=0, end=1)", "error: slice: f32[B, 3]: the sliced axis 0 must be static"},
      {"y = slice(a, axis=1, step=0)", "error: slice: step must be at least 1, got 0"},
      {"y = gather(a, a)", "error: gather: indices must be i32, got f32[B, 3]"},
      {"y = gather(a, i, axis=2)", "error: gather: axis 2 is out of range for rank 2"},
      {"y = where(i, a, i)",
       "error: where: the values have different dtypes: f32[B, 3] and i32[3]"},
      {"y = tril(i)", "error: tril: i32[3] has rank 1: it needs two axes"},
      {"y = pow(i, i)", "error: pow: i32 operands are not supported"},
  };
  for (const Case &c : cases) {
    std::string text = std::string("model m {\n dim B\n input a: f32[B, 3]\n") +
                       " input d: f32[2, 3]\n input e: f32[3, 2]\n input i: i32[3]\n " + c.body +
                       "\n output y\n}\n";
    Result<Graph> g = parseModel(text, "m.ir");
    ASSERT_FALSE(g.ok()) << c.body;
    EXPECT_NE(g.errorText().find("m.ir:7:6: " + std::string(c.message)), std::string::npos)
        << c.body << "\n"
        << g.errorText();
  }
}

} // namespace
} // namespace nnc
