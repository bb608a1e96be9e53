/// Test helpers: run a model through the reference interpreter and the JIT
/// on the same inputs and compare every output within IR.md's tolerance,
/// 1e-5 x max(1, largest finite magnitude); NaN must match NaN and
/// infinities must match exactly.
#pragma once

#include "codegen/Compiler.h"
#include "codegen/HostInfo.h"
#include "frontend/Parser.h"
#include "runtime/Initializers.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace nnc::jittest {

/// The text of examples/NAME.
inline std::string exampleText(const std::string &name) {
  std::ifstream in(std::string(NNC_SOURCE_DIR) + "/examples/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// examples/mlp.ir with precision=bf16 on its three matmuls.
inline std::string bf16MlpText() {
  std::string text = exampleText("mlp.ir");
  for (const char *product : {"matmul(pixels, w1", "matmul(h1, w2", "matmul(h2, w3"}) {
    size_t at = text.find(product);
    if (at != std::string::npos)
      text.insert(at + std::string(product).size(), ", precision=bf16");
  }
  return text;
}

/// Whether this CPU multiplies in bf16 (AVX512_BF16).
inline bool hostHasBf16() {
  CompileOptions probe;
  probe.precision = Precision::Auto;
  auto has = bf16Products(probe);
  return has.ok() && *has;
}

/// A model's text, parsed as `name` (a failure is a test failure, and gives
/// an empty graph).
inline Graph parsedOrFail(const std::string &text, const std::string &name = "m.ir") {
  Result<Graph> g = parseModel(text, name);
  EXPECT_TRUE(g.ok()) << g.errorText();
  return g.ok() ? std::move(g).value() : Graph{};
}

/// examples/NAME, parsed (a failure is a test failure).
inline Graph loadExample(const std::string &name) {
  Result<Graph> g = parseModel(exampleText(name), name);
  EXPECT_TRUE(g.ok()) << g.errorText();
  return std::move(g).value();
}

/// Graphs that are optimized already, planned (kernel schedule, memory
/// plan) for codegen.
inline PlannedModel planned(const Graph &infer, const Graph *train = nullptr) {
  PassContext ctx;
  return planOptimized(infer, train, ctx);
}

/// The CPUs this host runs code for, widest vectors first: "" (the host
/// itself), then haswell (AVX2) when the host has it, then x86-64 (SSE2).
inline std::vector<std::string> runnableCpus() {
  std::vector<std::string> cpus = {""};
  if (hostInfo().vectorBits >= 256)
    cpus.push_back("haswell");
  cpus.push_back("x86-64");
  return cpus;
}

/// A 64-byte-aligned buffer (the C ABI's state and workspace).
struct AlignedBuffer {
  explicit AlignedBuffer(uint64_t bytes)
      : p(std::aligned_alloc(64, std::max<uint64_t>(64, (bytes + 63) / 64 * 64))) {}
  ~AlignedBuffer() { std::free(p); }
  AlignedBuffer(const AlignedBuffer &) = delete;
  AlignedBuffer &operator=(const AlignedBuffer &) = delete;
  void *p;
};

/// Changes a random input (by name) before the run.
using Adjust = std::function<void(const std::string &, Tensor &)>;

/// Inputs of `g` at `dims`: f32 uniform in [-2, 2], i32 labels uniform in
/// [0, classes); the same every time.
inline std::vector<Tensor> randomInputs(const Graph &g, const std::vector<int64_t> &dims,
                                        int32_t classes = 1, const Adjust &adjust = nullptr) {
  std::vector<Tensor> inputs;
  uint64_t seed = 1;
  for (ValueId id : g.valuesOfKind(ValueKind::Input)) {
    Tensor t(g.type(id).dtype, concreteShape(g.type(id), dims));
    if (t.dtype() == DType::I32) {
      std::vector<float> u(static_cast<size_t>(t.numel()));
      fillUniform(u.data(), t.numel(), 0, 1, seed++);
      for (int64_t i = 0; i < t.numel(); ++i)
        t.i32()[i] =
            std::min(classes - 1, static_cast<int32_t>(u[static_cast<size_t>(i)] * classes));
    } else {
      fillUniform(t.f32(), t.numel(), -2, 2, seed++);
    }
    if (adjust)
      adjust(g.value(id).name, t);
    inputs.push_back(t);
  }
  return inputs;
}

/// Compares one output; reports the first mismatch and returns false.
inline bool expectClose(const Tensor &got, const Tensor &want, const std::string &what) {
  EXPECT_EQ(got.numel(), want.numel()) << what;
  if (got.numel() != want.numel())
    return false;
  double largest = 1;
  for (int64_t i = 0; i < want.numel(); ++i)
    if (std::isfinite(want.at(i)))
      largest = std::max(largest, std::fabs(want.at(i)));
  for (int64_t i = 0; i < want.numel(); ++i) {
    double a = got.at(i), b = want.at(i);
    bool same = std::isnan(b)   ? std::isnan(a)
                : std::isinf(b) ? a == b
                                : std::fabs(a - b) <= 1e-5 * largest;
    EXPECT_TRUE(same) << "element " << i << ": JIT " << a << ", interpreter " << b << " (tolerance "
                      << 1e-5 * largest << ") in " << what;
    if (!same)
      return false;
  }
  return true;
}

/// Runs `g` on `inputs` through the interpreter and the compiled `f`,
/// compares every output, and returns the JIT's outputs.
inline std::vector<Tensor> expectSame(const Graph &g, const ModelFunctions &f,
                                      const std::vector<int64_t> &dims,
                                      const std::vector<Tensor> &inputs, const std::string &what) {
  Interpreter interp(g);
  Status ran = interp.run(inputs);
  EXPECT_TRUE(ran.ok()) << ran.errorText() << what;
  if (!ran.ok())
    return {};
  AlignedBuffer state(f.stateSize()), workspace(f.workspaceSize(dims.data()));
  EXPECT_EQ(f.init(state.p), 0);
  std::vector<const void *> in;
  for (const Tensor &t : inputs)
    in.push_back(t.data());
  std::vector<Tensor> outs;
  std::vector<void *> outPtrs;
  for (const OutputRef &o : g.outputs) {
    outs.emplace_back(g.type(o.value).dtype, concreteShape(g.type(o.value), dims));
    // Garbage in the caller's buffers (NaN bytes): a kernel must write every
    // element, not count on zeroed memory.
    std::memset(outs.back().data(), 0xff, outs.back().bytes());
    outPtrs.push_back(outs.back().data());
  }
  EXPECT_EQ(f.infer(state.p, workspace.p, dims.data(), in.data(), outPtrs.data()), 0) << what;
  for (size_t k = 0; k < outs.size(); ++k)
    if (!expectClose(outs[k], interp.value(g.outputs[k].value),
                     "output " + std::to_string(k) + " of\n" + what))
      break;
  return outs;
}

/// Parses `text`, compiles it once, and compares JIT and interpreter at
/// each batch size (every symbolic dim takes the batch size).
inline void expectJitMatchesInterpreter(const std::string &text,
                                        const std::vector<int64_t> &batches = {1, 3, 64},
                                        int32_t classes = 1, const Adjust &adjust = nullptr,
                                        const CompileOptions &options = {}) {
  Result<Graph> g = parseModel(text, "m.ir");
  ASSERT_TRUE(g.ok()) << g.errorText() << "\n" << text;
  auto jit = jitCompile(*g, nullptr, options);
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  for (int64_t batch : batches) {
    std::vector<int64_t> dims(g->dims.size(), batch);
    expectSame(*g, (*jit)->functions(), dims, randomInputs(*g, dims, classes, adjust),
               text + "(batch " + std::to_string(batch) + ")");
    if (::testing::Test::HasFailure())
      return;
  }
}

} // namespace nnc::jittest
