/// The JIT against the reference interpreter, for the element-wise ops.
#include "tests/unit/JitTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>

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
  // expf/tanhf 16 times per vector; nnc maps them to libmvec.
  std::string reg = hostVectorRegister();
  for (const char *expr : {"add(x, x)", "sigmoid(x)", "tanh(x)"}) {
    Result<Graph> g = parseModel(
        "model m {\n dim B\n input x: f32[B, 64]\n y = " + std::string(expr) + "\n output y\n}\n",
        "m.ir");
    ASSERT_TRUE(g.ok());
    auto text = emitText(planned(*g), {}, "asm");
    ASSERT_TRUE(text.ok()) << text.errorText();
    EXPECT_NE(text->find("%" + reg), std::string::npos) << expr << " has no " << reg << " code";
    if (std::string(expr) != "add(x, x)" && reg != "xmm") {
      EXPECT_NE(text->find("_ZGV"), std::string::npos) << expr << " calls no vector math function";
    }
  }
}

} // namespace
} // namespace nnc
