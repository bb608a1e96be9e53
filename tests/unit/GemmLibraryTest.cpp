// The GEMM library (codegen/GemmLibrary.h): nnc's programs link its kernels
// for three CPUs; JIT-compiled models call them for large enough GEMMs (the
// epilogues as functions of their own) and compute the same bits as with
// every GEMM compiled into the module; tiny GEMMs and activations the
// library lacks stay in the module.
#include "tests/unit/JitTestUtil.h"

#include "codegen/Compiler.h"
#include "codegen/HostInfo.h"
#include "codegen/Session.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

namespace nnc {
namespace {

Graph trainingStep(const Graph &model) {
  PassContext ctx;
  Result<Graph> step = optimizedTrainingStep(model, ctx);
  EXPECT_TRUE(step.ok()) << step.errorText();
  return std::move(step).value();
}

bool linked(const std::string &name) {
  std::vector<std::string> kernels = linkedGemmKernels();
  return std::find(kernels.begin(), kernels.end(), name) != kernels.end();
}

TEST(GemmLibrary, ProgramsLinkItsKernelsForThreeCpusAndBf16) {
  std::vector<std::string> kernels = linkedGemmKernels();
  // 12 variants x 3 CPUs, and in bf16 for AVX512_BF16; 5 of those again
  // reading A's pairs converted once for all tasks (GemmOperands::aPairs).
  EXPECT_EQ(kernels.size(), 53u);
  for (const char *name :
       {"nnc_gemm_skylake_avx512_aN_bN", "nnc_gemm_haswell_aN_bT", "nnc_gemm_x86_64_aT_bN",
        "nnc_gemm_haswell_aN_bN_arelu", "nnc_gemm_x86_64_aT_bN_brelu_sums",
        "nnc_gemm_skylake_avx512_aN_bN_sums", "nnc_gemm_cooperlake_aN_bN_bf16",
        "nnc_gemm_cooperlake_aT_bN_brelu_sums_bf16", "nnc_gemm_cooperlake_aN_bT_arelu_bf16",
        "nnc_gemm_cooperlake_aN_bN_brelu_sums_bf16_apairs",
        "nnc_gemm_cooperlake_aN_bT_bf16_apairs"})
    EXPECT_TRUE(linked(name)) << name;
}

/// `steps` training steps of `text` compiled for `cpu` with the GEMM library
/// and without it, on `threads` threads: the same loss and the same bits in
/// every param after each step. Returns the GEMMs that called the library.
int expectSameStepsWithAndWithoutTheLibrary(const std::string &text, const std::string &cpu,
                                            int64_t batch, int steps, int threads = 2) {
  Result<Graph> model = parseModel(text, "m.ir");
  EXPECT_TRUE(model.ok()) << model.errorText();
  Graph step = trainingStep(*model);
  std::vector<Tensor> inputs = jittest::randomInputs(step, {batch}, 10);
  std::vector<std::unique_ptr<JitSession>> sessions;
  for (bool library : {true, false}) {
    CompileOptions options;
    options.cpu = cpu;
    options.gemmLibrary = library;
    options.threads = threads;
    auto jit = JitSession::create(*model, &step, options);
    EXPECT_TRUE(jit.ok()) << jit.errorText();
    if (!jit.ok())
      return 0;
    sessions.push_back(std::move(jit).value());
  }
  EXPECT_EQ(sessions[1]->model().times().gemmLibraryCalls, 0);
  for (int s = 0; s < steps; ++s) {
    Result<float> withLibrary = sessions[0]->trainStep(inputs);
    Result<float> without = sessions[1]->trainStep(inputs);
    if (!withLibrary.ok() || !without.ok()) {
      ADD_FAILURE() << "step " << s + 1 << " failed";
      return 0;
    }
    EXPECT_EQ(*withLibrary, *without) << "loss of step " << s + 1;
    for (ValueId p : model->valuesOfKind(ValueKind::Param)) {
      const std::string &name = model->value(p).name;
      Tensor a = sessions[0]->read(name), b = sessions[1]->read(name);
      EXPECT_EQ(std::memcmp(a.data(), b.data(), static_cast<size_t>(a.bytes())), 0)
          << name << " after step " << s + 1;
    }
  }
  return sessions[0]->model().times().gemmLibraryCalls;
}

// The MLP's step: forward GEMMs with bias and relu epilogues, grad-input
// GEMMs mapping A by relu's gradient (W read transposed), weight-gradient
// GEMMs mapping B with the bias gradient as column sums and the SGD update
// in the epilogue (x read transposed). Batch 70: a remainder of tile rows
// and an edge panel. Every GEMM of the forward and of the step calls the
// library, on the host's tiles, AVX2's and SSE2's.
TEST(GemmLibrary, MlpStepsComputeTheBitsOfTheGemmsCompiledIn) {
  for (const std::string &cpu : jittest::runnableCpus()) {
    SCOPED_TRACE("cpu '" + cpu + "'");
    EXPECT_EQ(expectSameStepsWithAndWithoutTheLibrary(jittest::exampleText("mlp.ir"), cpu, 70, 3),
              11);
  }
}

// Matmuls in every transpose, momentum's velocity in an epilogue, a
// sigmoid whose gradient the library lacks (that GEMM stays in the
// module), a 4 x 3 layer too small for the library, and a layer 1030
// wide, which a library kernel packs (too wide to read B in place).
TEST(GemmLibrary, TransposesFallbacksAndTinyGemmsComputeTheSameBits) {
  const std::string text = "model m {\n  dim B\n  input x0: f32[B, 40]\n  input t: f32[B, 3]\n"
                           "  param w0: f32[40, 1030] = uniform(-0.3, 0.3, seed=5)\n"
                           "  param w01: f32[1030, 96] = uniform(-0.05, 0.05, seed=6)\n"
                           "  x = matmul(relu(matmul(x0, w0)), w01)\n"
                           "  param w1: f32[96, 80] = uniform(-0.3, 0.3, seed=1)\n"
                           "  param w2: f32[50, 80] = uniform(-0.3, 0.3, seed=2)\n"
                           "  param w3: f32[50, 4] = uniform(-0.3, 0.3, seed=3)\n"
                           "  param w4: f32[4, 3] = uniform(-0.3, 0.3, seed=4)\n"
                           "  h1 = relu(matmul(x, w1))\n"
                           "  h2 = sigmoid(matmul(h1, w2, transpose_b=true))\n"
                           "  h3 = tanh(matmul(h2, w3))\n"
                           "  y = matmul(h3, w4)\n"
                           "  loss = mse(y, t)\n  output y\n"
                           "  minimize loss with sgd(lr=0.05, momentum=0.9)\n}\n";
  for (const std::string &cpu : jittest::runnableCpus()) {
    SCOPED_TRACE("cpu '" + cpu + "'");
    // Calling the library: the first four forward GEMMs, in inference and
    // in the step (8); the wide layers' three gradients and x's (relu's
    // gradient on A or B where it applies, 4); the weight gradient of w1;
    // the gradients of the sigmoid layer, plain GEMMs after sigmoid_grad (2).
    // The others (tanh's gradient, the layers of 4 and 3) are compiled in.
    EXPECT_EQ(expectSameStepsWithAndWithoutTheLibrary(text, cpu, 67, 3), 15);
  }
}

// bf16: the library's bf16 kernels (pairs from each depth block's first
// row, as in the module) give the bits of the GEMMs compiled in; the
// 1030-wide layer has an odd depth block of 515 rows.
TEST(GemmLibrary, Bf16StepsComputeTheBitsOfTheGemmsCompiledIn) {
  if (!jittest::hostHasBf16())
    GTEST_SKIP() << "this CPU has no AVX512_BF16";
  std::string mlp = jittest::bf16MlpText();
  ASSERT_EQ(mlp.find("precision=bf16"), mlp.find("w1, precision=bf16") + 4);
  // Two calls per GEMM: with A's pairs converted once for all its tasks
  // (on one thread, where they fit the area), and by each task. Both ways.
  for (int threads : {1, 2})
    EXPECT_EQ(expectSameStepsWithAndWithoutTheLibrary(mlp, "", 70, 3, threads), 22) << threads;
  const std::string wide = "model m {\n  dim B\n  input x: f32[B, 40]\n  input t: f32[B, 3]\n"
                           "  param w0: f32[40, 1030] = uniform(-0.3, 0.3, seed=5)\n"
                           "  param w1: f32[1030, 3] = uniform(-0.05, 0.05, seed=6)\n"
                           "  y = matmul(relu(matmul(x, w0, precision=bf16)), w1, precision=bf16)\n"
                           "  loss = mse(y, t)\n  output y\n"
                           "  minimize loss with sgd(lr=0.05)\n}\n";
  for (int threads : {1, 2})
    EXPECT_GT(expectSameStepsWithAndWithoutTheLibrary(wide, "", 67, 2, threads), 0) << threads;
}

// Without the library (CompileOptions::gemmLibrary), nothing calls it.
TEST(GemmLibrary, OffMeansEveryGemmIsCompiledIn) {
  Graph model = jittest::loadExample("mlp.ir");
  Graph step = trainingStep(model);
  CompileOptions options;
  options.gemmLibrary = false;
  auto jit = JitSession::create(model, &step, options);
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  EXPECT_EQ((*jit)->model().times().gemmLibraryCalls, 0);
}

} // namespace
} // namespace nnc
