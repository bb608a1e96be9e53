/// FLOP counts (ir/Flops.h): matmuls of every rank and transpose, and
/// convolutions, count 2 per multiply-add.
#include "JitTestUtil.h"
#include "ir/Flops.h"

#include <gtest/gtest.h>

namespace nnc {
namespace {

double flopsOf(const std::string &body, const std::string &decls, std::vector<int64_t> dims) {
  Graph g =
      jittest::parsedOrFail("model m {\n  dim B\n" + decls + body + "\n  output y\n}\n", "f.ir");
  return g.nodes.empty() ? -1 : nodeFlops(g, g.nodes.back(), dims);
}

TEST(Flops, MatMulDepthIsTheContractedAxisAtEveryRank) {
  EXPECT_EQ(flopsOf("  y = matmul(a, b)", "  input a: f32[B, 3]\n  input b: f32[3, 5]\n", {2}),
            2.0 * 2 * 5 * 3);
  EXPECT_EQ(flopsOf("  y = matmul(a, b, transpose_a=true)",
                    "  input a: f32[3, B]\n  input b: f32[3, 5]\n", {2}),
            2.0 * 2 * 5 * 3);
  // [B, 64, 128] x [128, 256]: 2 B 64 256 128 (the depth is 128, not 64).
  EXPECT_EQ(
      flopsOf("  y = matmul(a, b)", "  input a: f32[B, 64, 128]\n  input b: f32[128, 256]\n", {4}),
      2.0 * 4 * 64 * 256 * 128);
  // Batched and transposed: [B, 4, 32, 64]^T x [B, 4, 32, 16] -> [B, 4, 64, 16], depth 32.
  EXPECT_EQ(flopsOf("  y = matmul(a, b, transpose_a=true)",
                    "  input a: f32[B, 4, 32, 64]\n  input b: f32[B, 4, 32, 16]\n", {3}),
            2.0 * 3 * 4 * 64 * 16 * 32);
}

TEST(Flops, FusedMatMulGradientsAndAttention) {
  // The weight gradient of a matmul of rows: [B, T, K]^T x [B, T, N] -> [K, N].
  EXPECT_EQ(flopsOf("  y = fused_matmul_grad_weight(x, d, transpose_a=true)",
                    "  input x: f32[B, 6, 3]\n  input d: f32[B, 6, 5]\n", {2}),
            2.0 * 3 * 5 * 2 * 6);
  // [B, 2, 4, 8] queries, 7 keys, Dv 3: 2 B 2 4 7 (8 + 3).
  EXPECT_EQ(flopsOf("  y = fused_attention(q, k, v)",
                    "  input q: f32[B, 2, 4, 8]\n  input k: f32[B, 2, 7, 8]\n"
                    "  input v: f32[B, 2, 7, 3]\n",
                    {2}),
            2.0 * 2 * 2 * 4 * 7 * (8 + 3));
}

TEST(Flops, ConvCountsEveryTap) {
  // [B, 2, 5, 5] with 3 filters of 3x3, stride 1: 3 x 3 x 3 outputs per image, 2 x 9 taps each.
  EXPECT_EQ(flopsOf("  y = conv2d(x, w)",
                    "  input x: f32[B, 2, 5, 5]\n  input w: f32[3, 2, 3, 3]\n", {2}),
            2.0 * 2 * 3 * 3 * 3 * 2 * 9);
}

} // namespace
} // namespace nnc
