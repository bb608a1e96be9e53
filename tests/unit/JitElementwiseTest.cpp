/// The JIT against the reference interpreter, for the element-wise ops.
#include "codegen/Compiler.h"
#include "ir/Parser.h"
#include "runtime/Initializers.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace nnc {
namespace {

struct AlignedBuffer {
  explicit AlignedBuffer(uint64_t bytes)
      : p(std::aligned_alloc(64, std::max<uint64_t>(64, (bytes + 63) / 64 * 64))) {}
  ~AlignedBuffer() { std::free(p); }
  void *p;
};

/// Runs `text` (inputs random in [-2, 2]) through the interpreter and the
/// JIT at batch `batch`, and compares every output within IR.md's tolerance.
void expectJitMatchesInterpreter(const std::string &text, int64_t batch) {
  Result<Graph> g = parseModel(text, "m.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  std::vector<int64_t> dims(g->dims.size(), batch);
  std::vector<Tensor> inputs;
  uint64_t seed = 1;
  for (ValueId id : g->valuesOfKind(ValueKind::Input)) {
    Tensor t(DType::F32, concreteShape(g->type(id), dims));
    fillUniform(t.f32(), t.numel(), -2, 2, seed++);
    inputs.push_back(t);
  }
  Interpreter interp(*g);
  ASSERT_TRUE(interp.run(inputs).ok());

  auto jit = jitCompile(*g, nullptr, {});
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  const ModelFunctions &f = (*jit)->functions();
  AlignedBuffer state(f.stateSize()), workspace(f.workspaceSize(dims.data()));
  ASSERT_EQ(f.init(state.p), 0);
  std::vector<const void *> in;
  for (const Tensor &t : inputs)
    in.push_back(t.data());
  std::vector<Tensor> outs;
  std::vector<void *> outPtrs;
  for (const OutputRef &o : g->outputs) {
    outs.emplace_back(g->type(o.value).dtype, concreteShape(g->type(o.value), dims));
    outPtrs.push_back(outs.back().data());
  }
  ASSERT_EQ(f.infer(state.p, workspace.p, dims.data(), in.data(), outPtrs.data()), 0);
  for (size_t k = 0; k < outs.size(); ++k) {
    const Tensor &want = interp.value(g->outputs[k].value);
    double largest = 1;
    for (int64_t i = 0; i < want.numel(); ++i)
      largest = std::max(largest, std::fabs(want.at(i)));
    for (int64_t i = 0; i < want.numel(); ++i)
      ASSERT_NEAR(outs[k].at(i), want.at(i), 1e-5 * largest)
          << "output " << k << " element " << i << " of\n" << text;
  }
}

TEST(JitElementwise, EveryUnaryOpMatchesTheInterpreter) {
  for (const char *op : {"neg", "abs", "exp", "sqrt", "log", "sigmoid", "tanh", "relu",
                         "leaky_relu", "gelu", "softplus", "step"})
    for (int64_t batch : {1, 3, 64}) {
      std::string x = std::string(op) == "sqrt" || std::string(op) == "log" ? "abs(x)" : "x";
      expectJitMatchesInterpreter("model m {\n dim B\n input x: f32[B, 17]\n y = " +
                                      std::string(op) + "(" + x + ")\n output y\n}\n",
                                  batch);
    }
}

TEST(JitElementwise, BinaryOpsBroadcast) {
  for (const char *op : {"add", "sub", "mul", "div", "maximum", "minimum", "eq"})
    for (int64_t batch : {1, 3, 64})
      expectJitMatchesInterpreter(
          "model m {\n dim B\n input x: f32[B, 5]\n input r: f32[5]\n input c: f32[B, 1]\n"
          " y = " + std::string(op) + "(x, r)\n z = " + std::string(op) + "(c, x)\n"
          " w = " + std::string(op) + "(x, 0.5)\n output y, z, w\n}\n",
          batch);
}

TEST(JitElementwise, GradientOpsMatchTheInterpreter) {
  for (const char *op : {"sigmoid_grad", "tanh_grad", "relu_grad", "leaky_relu_grad", "gelu_grad",
                         "abs_grad"})
    expectJitMatchesInterpreter("model m {\n dim B\n input x: f32[B, 9]\n input d: f32[B, 9]\n y = " +
                                    std::string(op) + "(x, d)\n output y\n}\n",
                                3);
  for (const char *op : {"maximum_grad", "minimum_grad"})
    expectJitMatchesInterpreter("model m {\n dim B\n input a: f32[B, 4]\n input b: f32[4]\n"
                                " input d: f32[B, 4]\n y = " + std::string(op) +
                                    "(a, b, d)\n output y\n}\n",
                                3);
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
    Result<Graph> g = parseModel("model m {\n dim B\n input x: f32[B, 64]\n y = " +
                                     std::string(expr) + "\n output y\n}\n",
                                 "m.ir");
    ASSERT_TRUE(g.ok());
    auto text = emitText(*g, nullptr, {}, "asm");
    ASSERT_TRUE(text.ok()) << text.errorText();
    EXPECT_NE(text->find("%" + reg), std::string::npos) << expr << " has no " << reg << " code";
    if (std::string(expr) != "add(x, x)" && reg != "xmm") {
      EXPECT_NE(text->find("_ZGV"), std::string::npos) << expr << " calls no vector math function";
    }
  }
}

} // namespace
} // namespace nnc
