/// The JIT against the reference interpreter, for matmul (every transpose
/// combination, edge tiles, symbolic rows) and the shape ops.
#include "tests/unit/JitTestUtil.h"
#include "codegen/Compiler.h"
#include "codegen/HostInfo.h"
#include "frontend/Parser.h"
#include "runtime/Initializers.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>

namespace nnc {
namespace {

using namespace jittest;

std::string str(int64_t n) { return std::to_string(n); }

/// A model of one matmul per (k, n) pair, rows `m` (a dim name or a
/// number), with the given transpose flags.
std::string matmulModel(bool ta, bool tb, const std::string &m,
                        const std::vector<std::pair<int64_t, int64_t>> &kn) {
  std::string text = "model m {\n dim B\n";
  std::string body, outputs;
  for (size_t i = 0; i < kn.size(); ++i) {
    auto [k, n] = kn[i];
    std::string id = str(static_cast<int64_t>(i));
    text += " input a" + id + ": f32[" + (ta ? str(k) + ", " + m : m + ", " + str(k)) + "]\n";
    text +=
        " input b" + id + ": f32[" + (tb ? str(n) + ", " + str(k) : str(k) + ", " + str(n)) + "]\n";
    body += " c" + id + " = matmul(a" + id + ", b" + id +
            ", transpose_a=" + (ta ? "true" : "false") +
            ", transpose_b=" + (tb ? "true" : "false") + ")\n";
    outputs += (outputs.empty() ? " output c" : ", c") + id;
  }
  return text + body + outputs + "\n}\n";
}

TEST(JitMatMul, EveryTransposeCombinationWithSymbolicRows) {
  // Every depth with two widths, every width at least twice (one model per
  // flag combination keeps the compile time down).
  std::vector<std::pair<int64_t, int64_t>> kn = {{1, 1},    {1, 100},  {7, 17},   {7, 33},
                                                 {17, 7},   {17, 100}, {33, 33},  {33, 1},
                                                 {100, 17}, {100, 7},  {784, 33}, {784, 100}};
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      std::string text = matmulModel(ta, tb, "B", kn);
      expectJitMatchesInterpreter(text, {1, 3, 64});
    }
}

TEST(JitMatMul, BlockedShapesAndRowRemainders) {
  // k > KC (two or more depth blocks), n > NC (two column blocks), rows that
  // leave every remainder of the register tile.
  std::vector<std::pair<int64_t, int64_t>> kn = {{300, 260}, {513, 33}, {784, 256}};
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      std::string text = matmulModel(ta, tb, "B", kn);
      expectJitMatchesInterpreter(text, {5, 15, 29});
    }
  expectJitMatchesInterpreter(matmulModel(false, false, "200", {{300, 400}}), {1});
  // n > 1024: B stored [k, n] is packed even where narrower ones are read in place.
  expectJitMatchesInterpreter(matmulModel(false, false, "B", {{40, 1100}}), {3, 9});
}

TEST(JitMatMul, NarrowerTargetsUseTheirOwnTiles) {
  // SSE2 (4 lanes, 4 x 8 tiles) and AVX2 (8 lanes, 6 x 16 tiles) run here too.
  if (hostInfo().vectorBits < 256)
    GTEST_SKIP() << "host has no AVX2";
  std::vector<std::pair<int64_t, int64_t>> kn = {{7, 17}, {33, 100}, {300, 20}};
  for (const char *cpu : {"x86-64", "haswell"})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        CompileOptions options;
        options.cpu = cpu;
        expectJitMatchesInterpreter(matmulModel(ta, tb, "B", kn), {1, 7, 64}, 1, nullptr, options);
      }
}

TEST(JitMatMul, ZeroDepthGivesZeros) {
  expectJitMatchesInterpreter(matmulModel(false, false, "B", {{0, 5}}), {3});
}

// A batched matmul runs one blocked GEMM per batch index inside a task,
// split there into the widest column chunks and one row block (N = 200:
// two chunks of NC; 67 rows: every row remainder), in every transpose
// variant, f32 and bf16, on one thread and two.
TEST(JitMatMul, BatchedBlockedGemmsMatchTheInterpreter) {
  for (std::string precision : {"f32", "bf16"}) {
    if (precision == "bf16" && !jittest::hostHasBf16())
      continue;
    const std::string p = ", precision=" + precision + ")\n";
    const std::string text =
        "model m {\n dim B\n input x: f32[B, 3, 67, 40]\n input xt: f32[B, 3, 40, 67]\n"
        " input w: f32[3, 40, 200]\n input wt: f32[3, 200, 40]\n y = matmul(x, w" +
        p + " z = matmul(xt, wt, transpose_a=true, transpose_b=true" + p +
        " u = matmul(xt, w, transpose_a=true" + p + " v = matmul(x, wt, transpose_b=true" + p +
        " output y, z, u, v\n}\n";
    for (int threads : {1, 2}) {
      CompileOptions options;
      options.threads = threads;
      expectJitMatchesInterpreter(text, {1, 2}, 1, nullptr, options);
    }
  }
}

TEST(JitMatMul, ChainedMatMulsShareThePackingArea) {
  expectJitMatchesInterpreter(
      "model m {\n dim B\n input x: f32[B, 40]\n input w1: f32[40, 50]\n"
      " input w2: f32[50, 30]\n input w3: f32[20, 30]\n"
      " h = matmul(x, w1)\n g = matmul(h, w2)\n y = matmul(g, w3, transpose_b=true)\n"
      " z = matmul(g, h, transpose_a=true)\n output y, z\n}\n",
      {9, 16});
}

TEST(JitMatMulShape, ReshapeCopiesInCOrder) {
  {
    const std::vector<int64_t> batch = {1, 3, 64};
    expectJitMatchesInterpreter("model m {\n dim B\n input x: f32[B, 2, 3]\n"
                                " y = reshape(x, shape=[B, -1])\n z = reshape(x, shape=[B, 3, 2])\n"
                                " output y, z\n}\n",
                                batch);
    expectJitMatchesInterpreter(
        "model m {\n dim B\n input x: f32[B, 12]\n"
        " y = reshape(x, shape=[B, 2, 2, 3])\n z = reshape(y, shape=[B, 4, -1])\n"
        " output y, z\n}\n",
        batch);
  }
  expectJitMatchesInterpreter("model m {\n input x: f32[2, 3]\n y = reshape(x, shape=[6])\n"
                              " output y\n}\n",
                              {1});
}

TEST(JitMatMulShape, TransposeWithAndWithoutPerm) {
  {
    const std::vector<int64_t> batch = {1, 3, 64};
    expectJitMatchesInterpreter("model m {\n dim B\n input x: f32[B, 7]\n"
                                " y = transpose(x)\n z = transpose(x, perm=[1, 0])\n"
                                " w = transpose(x, perm=[0, 1])\n output y, z, w\n}\n",
                                batch);
    expectJitMatchesInterpreter(
        "model m {\n dim B\n input x: f32[B, 3, 5]\n"
        " y = transpose(x)\n z = transpose(x, perm=[0, 2, 1])\n"
        " w = transpose(x, perm=[2, 0, 1])\n v = transpose(x, perm=[1, 2, 0])\n"
        " output y, z, w, v\n}\n",
        batch);
    expectJitMatchesInterpreter("model m {\n dim B\n input x: f32[B, 2, 3, 4]\n"
                                " y = transpose(x)\n z = transpose(x, perm=[0, 3, 1, 2])\n"
                                " w = transpose(x, perm=[2, 1, 3, 0])\n output y, z, w\n}\n",
                                batch);
  }
}

TEST(JitMatMulShape, TransposeFeedsMatMul) {
  expectJitMatchesInterpreter("model m {\n dim B\n input x: f32[B, 3, 4]\n input w: f32[5, 12]\n"
                              " z = reshape(x, shape=[B, -1])\n y = matmul(z, transpose(w))\n"
                              " output y\n}\n",
                              {1, 6});
}

TEST(JitMatMul, AssemblyUsesTheHostVectorWidth) {
  int bits = hostInfo().vectorBits;
  if (bits < 256)
    GTEST_SKIP() << "host has no AVX";
  Result<Graph> g = parseModel(matmulModel(false, false, "B", {{64, 64}}), "m.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  Result<std::string> text = emitText(planned(*g), {}, "asm");
  ASSERT_TRUE(text.ok()) << text.errorText();
  std::string reg = bits >= 512 ? "zmm" : "ymm";
  EXPECT_NE(text->find("vfmadd"), std::string::npos);
  EXPECT_NE(text->find(reg), std::string::npos) << "no " << reg << " register in the matmul";
}

/// GFLOP/s of the JIT's matmul (run with --gtest_also_run_disabled_tests).
TEST(JitMatMul, DISABLED_Throughput) {
  struct Case {
    int64_t m, k, n;
  };
  for (Case c : {Case{512, 512, 512}, Case{64, 784, 256}, Case{64, 256, 256}, Case{64, 256, 10},
                 Case{1, 784, 256}}) {
    for (bool tb : {false, true}) {
      Result<Graph> g = parseModel(matmulModel(false, tb, str(c.m), {{c.k, c.n}}), "m.ir");
      ASSERT_TRUE(g.ok()) << g.errorText();
      auto jit = jitCompile(*g, nullptr, {});
      ASSERT_TRUE(jit.ok()) << jit.errorText();
      const ModelFunctions &f = (*jit)->functions();
      std::vector<int64_t> dims{1};
      AlignedBuffer state(f.stateSize()), workspace(f.workspaceSize(dims.data()));
      AlignedBuffer a(uint64_t(c.m * c.k * 4)), b(uint64_t(c.k * c.n * 4)),
          out(uint64_t(c.m * c.n * 4));
      fillUniform(static_cast<float *>(a.p), c.m * c.k, -1, 1, 1);
      fillUniform(static_cast<float *>(b.p), c.k * c.n, -1, 1, 2);
      const void *in[] = {a.p, b.p};
      void *outs[] = {out.p};
      ASSERT_EQ(f.init(state.p), 0);
      std::vector<double> times;
      for (int rep = 0; rep < 15; ++rep) {
        int iters = std::max<int>(1, int(2e8 / double(2 * c.m * c.n * c.k)));
        auto t0 = std::chrono::steady_clock::now();
        for (int it = 0; it < iters; ++it)
          f.infer(state.p, workspace.p, dims.data(), in, outs);
        times.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters);
      }
      std::sort(times.begin(), times.end());
      double flops = 2.0 * double(c.m) * double(c.n) * double(c.k);
      std::printf("matmul %ldx%ldx%ld%s: %.1f GFLOP/s (median %.1f us)\n", long(c.m), long(c.k),
                  long(c.n), tb ? " (B transposed)" : "", flops / times[times.size() / 2] * 1e-9,
                  times[times.size() / 2] * 1e6);
    }
  }
}

} // namespace
} // namespace nnc
