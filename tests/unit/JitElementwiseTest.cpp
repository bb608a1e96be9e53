/// The JIT against the reference interpreter, for the element-wise ops.
#include "tests/unit/JitTestUtil.h"
#include "codegen/Session.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>

namespace nnc {
namespace {

using namespace jittest;

TEST(JitElementwise, EveryUnaryOpMatchesTheInterpreter) {
  for (const char *op : {"neg", "abs", "exp", "sqrt", "log", "sigmoid", "tanh", "relu",
                         "leaky_relu", "gelu", "softplus", "step"})
    for (int64_t batch : {1, 3, 64}) {
      std::string x = std::string(op) == "sqrt" || std::string(op) == "log" ? "abs(x)" : "x";
      expectJitMatchesInterpreter("model m {\n dim B\n input x: f32[B, 17]\n y = " +
                                      std::string(op) + "(" + x + ")\n output y\n}\n",
                                  {batch});
    }
}

TEST(JitElementwise, BinaryOpsBroadcast) {
  for (const char *op : {"add", "sub", "mul", "div", "maximum", "minimum", "eq"})
    for (int64_t batch : {1, 3, 64})
      expectJitMatchesInterpreter(
          "model m {\n dim B\n input x: f32[B, 5]\n input r: f32[5]\n input c: f32[B, 1]\n"
          " y = " +
              std::string(op) + "(x, r)\n z = " + std::string(op) +
              "(c, x)\n"
              " w = " +
              std::string(op) + "(x, 0.5)\n output y, z, w\n}\n",
          {batch});
}

TEST(JitElementwise, GradientOpsMatchTheInterpreter) {
  for (const char *op :
       {"sigmoid_grad", "tanh_grad", "relu_grad", "leaky_relu_grad", "gelu_grad", "abs_grad"})
    expectJitMatchesInterpreter(
        "model m {\n dim B\n input x: f32[B, 9]\n input d: f32[B, 9]\n y = " + std::string(op) +
            "(x, d)\n output y\n}\n",
        {3});
  for (const char *op : {"maximum_grad", "minimum_grad"})
    expectJitMatchesInterpreter("model m {\n dim B\n input a: f32[B, 4]\n input b: f32[4]\n"
                                " input d: f32[B, 4]\n y = " +
                                    std::string(op) + "(a, b, d)\n output y\n}\n",
                                {3});
}

} // namespace
} // namespace nnc

namespace nnc {
namespace {

/// The widest vector register name the host's code should use.
std::string hostVectorRegister() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string text((std::istreambuf_iterator<char>(cpuinfo)), std::istreambuf_iterator<char>());
  if (text.find(" avx512f") != std::string::npos)
    return "zmm";
  if (text.find(" avx2") != std::string::npos)
    return "ymm";
  return "xmm";
}

TEST(JitElementwise, AddSigmoidAndTanhLoopsUseTheHostVectorWidth) {
  // Transcendentals must stay vectorized: LLVM alone would call scalar
  // tanhf 16 times per vector; nnc maps it to libmvec. exp (sigmoid's) is
  // inline vector code, no call at all.
  std::string reg = hostVectorRegister();
  for (const char *expr : {"add(x, x)", "sigmoid(x)", "tanh(x)"}) {
    Result<Graph> g = parseModel(
        "model m {\n dim B\n input x: f32[B, 64]\n y = " + std::string(expr) + "\n output y\n}\n",
        "m.ir");
    ASSERT_TRUE(g.ok());
    auto text = emitText(planned(*g), {}, "asm");
    ASSERT_TRUE(text.ok()) << text.errorText();
    EXPECT_NE(text->find("%" + reg), std::string::npos) << expr << " has no " << reg << " code";
    if (std::string(expr) == "tanh(x)" && reg != "xmm") {
      EXPECT_NE(text->find("_ZGV"), std::string::npos) << expr << " calls no vector math function";
    }
    if (std::string(expr) == "sigmoid(x)") {
      EXPECT_EQ(text->find("expf"), std::string::npos) << expr << " calls expf";
    }
  }
}

} // namespace
} // namespace nnc

namespace nnc {
namespace {

/// x = from, from + 1/steps, ..., to, then inf, -inf, NaN and `extra`.
std::vector<float> gridWithSpecials(int from, int to, int steps, std::vector<float> extra) {
  std::vector<float> x;
  for (int i = from * steps; i <= to * steps; ++i)
    x.push_back(static_cast<float>(i) / static_cast<float>(steps));
  const float inf = std::numeric_limits<float>::infinity();
  for (float v : {inf, -inf, std::nanf("")})
    x.push_back(v);
  x.insert(x.end(), extra.begin(), extra.end());
  return x;
}

/// The JIT's outputs of `body` (statements over `input x: f32[n]`, ending
/// in an output line) on x.
std::vector<Tensor> jitOutputs(const std::vector<float> &x, const std::string &body) {
  auto n = static_cast<int64_t>(x.size());
  std::string text = "model e {\n  input x: f32[" + std::to_string(n) + "]\n" + body + "}\n";
  Result<Graph> g = parseModel(text, "e.ir");
  EXPECT_TRUE(g.ok()) << g.errorText();
  if (!g.ok())
    return {};
  auto jit = JitSession::create(*g, nullptr);
  EXPECT_TRUE(jit.ok()) << jit.errorText();
  if (!jit.ok())
    return {};
  auto out = (*jit)->infer({Tensor::f32({n}, x)});
  EXPECT_TRUE(out.ok()) << out.errorText();
  return out.ok() ? std::move(*out) : std::vector<Tensor>{};
}

/// The compiled erf (an inline rational function, Lowering::erf) against
/// erf in double: within 1e-6 over [-6, 6] in steps of 1/1024, exactly 0
/// at 0, +-1 beyond, NaN for NaN, and gelu through it within IR.md's 1e-5.
TEST(JitElementwise, ErfIsWithinAMillionthOfErfAndKeepsNaN) {
  std::vector<float> x = gridWithSpecials(-6, 6, 1024, {1e30f, -1e30f});
  auto n = static_cast<int64_t>(x.size());
  std::vector<Tensor> out = jitOutputs(x, "  e = erf(x)\n  g = gelu(x)\n  output e, g\n");
  ASSERT_EQ(out.size(), 2u);
  for (int64_t i = 0; i < n; ++i) {
    double v = x[static_cast<size_t>(i)], e = out[0].f32()[i], gelu = out[1].f32()[i];
    if (std::isnan(v)) {
      EXPECT_TRUE(std::isnan(e) && std::isnan(gelu)) << "erf(NaN) = " << e;
      continue;
    }
    EXPECT_NEAR(e, std::erf(v), 1e-6) << "erf(" << v << ")";
    if (std::isfinite(v)) {
      EXPECT_NEAR(gelu, 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))),
                  1e-5 * std::max(1.0, std::fabs(v)))
          << "gelu(" << v << ")";
    }
  }
  EXPECT_EQ(out[0].f32()[6 * 1024], 0.0f); // erf(0)
}

/// The compiled exp (inline, Lowering::exp) against exp in double over
/// [-110, 90] in steps of 1/64: within 2.5e-7 relative where e^x is a
/// normal float, within the smallest subnormal below that, 0 and inf past
/// f32's range, exactly 1 at 0, NaN for NaN; and sigmoid through it keeps
/// its subnormal tail (sigmoid(-100) = e^-100 > 0).
TEST(JitElementwise, ExpIsWithinFourUlpsAndKeepsSubnormals) {
  std::vector<float> x = gridWithSpecials(-110, 90, 64, {88.72f, -103.9f});
  auto n = static_cast<int64_t>(x.size());
  std::vector<Tensor> out = jitOutputs(x, "  e = exp(x)\n  s = sigmoid(x)\n  output e, s\n");
  ASSERT_EQ(out.size(), 2u);
  const float inf = std::numeric_limits<float>::infinity();
  const double smallestNormal = std::numeric_limits<float>::min();
  const double smallestSubnormal = std::numeric_limits<float>::denorm_min();
  for (int64_t i = 0; i < n; ++i) {
    double v = x[static_cast<size_t>(i)], e = out[0].f32()[i];
    double want = std::exp(v);
    if (std::isnan(v))
      EXPECT_TRUE(std::isnan(e)) << "exp(NaN) = " << e;
    else if (want > std::numeric_limits<float>::max())
      EXPECT_EQ(e, inf) << "exp(" << v << ")";
    else if (want >= smallestNormal)
      EXPECT_NEAR(e, want, 2.5e-7 * want) << "exp(" << v << ")";
    else
      EXPECT_NEAR(e, want, smallestSubnormal) << "exp(" << v << ")";
  }
  EXPECT_EQ(out[0].f32()[110 * 64], 1.0f); // exp(0)
  float sigmoidAtMinus100 = out[1].f32()[10 * 64];
  EXPECT_GT(sigmoidAtMinus100, 0.0f);
  EXPECT_NEAR(sigmoidAtMinus100, std::exp(-100.0), smallestSubnormal);
}

} // namespace
} // namespace nnc
