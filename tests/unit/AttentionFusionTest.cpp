/// fuse-attention: softmax(q k^T * scale [+ mask]) v as one fused_attention
/// (passes/fusion/FuseAttention.cpp, codegen/lower/Attention.cpp) agrees
/// with the unfused ops in both engines, for key counts that are and are
/// not multiples of the kernel's tile, with a causal mask, a per-batch mask,
/// `/ c` scales and no scale; what it does not fuse it says why.
#include "JitTestUtil.h"
#include "codegen/Session.h"
#include "frontend/Parser.h"
#include "passes/Pipeline.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace nnc {
namespace {

Graph parsed(const std::string &text) { return jittest::parsedOrFail(text, "a.ir"); }

Tensor filled(const std::vector<int64_t> &shape, int salt) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[static_cast<size_t>(i)] = std::sin(0.37f * static_cast<float>(i) + static_cast<float>(salt));
  return Tensor::f32(shape, v);
}

std::string dims(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// An attention model: `scores` is the expression of s (q, k given) that
/// softmax reads.
std::string model(int64_t b, int64_t tq, int64_t tk, int64_t d, int64_t dv,
                  const std::string &scores, const std::string &maskDecl = "") {
  return "model a {\n  input q: f32" + dims({b, 2, tq, d}) + "\n  input k: f32" +
         dims({b, 2, tk, d}) + "\n  input v: f32" + dims({b, 2, tk, dv}) + "\n" + maskDecl +
         "  s = " + scores + "\n  o = matmul(softmax(s), v)\n  output o\n}\n";
}

/// The model's fused inference (which must hold one fused_attention and no
/// softmax) in the interpreter and the JIT, against the unfused model in the
/// interpreter.
void expectFusedAgrees(const std::string &text, int64_t b, int64_t tq, int64_t tk, int64_t d,
                       int64_t dv) {
  SCOPED_TRACE(text);
  Graph g = parsed(text);
  std::vector<Tensor> inputs = {filled({b, 2, tq, d}, 1), filled({b, 2, tk, d}, 2),
                                filled({b, 2, tk, dv}, 3)};
  Interpreter reference(g);
  ASSERT_TRUE(reference.run(inputs).ok());
  const Tensor &want = reference.value(g.outputs[0].value);

  PassContext ctx;
  auto fused = optimizedInference(g, ctx);
  ASSERT_TRUE(fused.ok()) << fused.errorText();
  int attention = 0;
  for (const Node &n : fused->nodes) {
    attention += n.op == OpKind::FusedAttention;
    EXPECT_NE(n.op, OpKind::Softmax);
  }
  ASSERT_EQ(attention, 1);
  Interpreter interp(*fused);
  ASSERT_TRUE(interp.run(inputs).ok());
  auto jit = JitSession::create(*fused, nullptr);
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  auto got = (*jit)->infer(inputs);
  ASSERT_TRUE(got.ok()) << got.errorText();
  const Tensor *jitOut = &(*got)[0];
  for (const Tensor *t : {&interp.value(fused->outputs[0].value), jitOut}) {
    ASSERT_EQ(t->shape(), want.shape());
    for (int64_t i = 0; i < want.numel(); ++i)
      ASSERT_NEAR(t->at(i), want.at(i), 1e-5 * std::max(1.0, std::fabs(want.at(i))))
          << "element " << i << (t == jitOut ? " (JIT)" : " (interpreter)");
  }
}

TEST(AttentionFusion, CausalMaskAcrossKeyTiles) {
  // 70 keys: a full tile of 64 and a partial one; 70 query rows: 8 blocks
  // of 8 and one of 6.
  std::string mask = "  const ones: f32[70, 70] = ones()\n  mask = (tril(ones) - 1) * 1e9\n";
  expectFusedAgrees(
      model(2, 70, 70, 8, 5, "matmul(q, k, transpose_b=true) * 0.35355339 + mask", mask), 2, 70, 70,
      8, 5);
}

TEST(AttentionFusion, ScalesMasksAndShapes) {
  expectFusedAgrees(model(1, 3, 130, 4, 6, "matmul(q, k, transpose_b=true) / 2"), 1, 3, 130, 4, 6);
  expectFusedAgrees(model(3, 5, 7, 4, 3, "matmul(q, k, transpose_b=true)"), 3, 5, 7, 4, 3);
  std::string perBatch = "  const m: f32[1, 2, 4, 9] = fill(-0.5)\n";
  expectFusedAgrees(model(1, 4, 9, 4, 2, "m + 0.5 * matmul(q, k, transpose_b=true)", perBatch), 1,
                    4, 9, 4, 2);
}

TEST(AttentionFusion, TheTrainingStepKeepsAttentionUnfusedAndSaysWhy) {
  std::string text = "model a {\n  dim B\n  input q: f32[B, 2, 4, 4]\n"
                     "  param k: f32[2, 4, 4] = uniform(-1, 1, seed=1)\n"
                     "  param v: f32[2, 4, 3] = uniform(-1, 1, seed=2)\n"
                     "  o = matmul(softmax(matmul(q, k, transpose_b=true) * 0.5), v)\n"
                     "  loss = sum(o)\n  minimize loss with sgd(lr=0.1)\n}\n";
  PassContext ctx;
  ctx.remarks = true;
  auto step = optimizedTrainingStep(parsed(text), ctx);
  ASSERT_TRUE(step.ok()) << step.errorText();
  for (const Node &n : step->nodes)
    EXPECT_NE(n.op, OpKind::FusedAttention);
  EXPECT_NE(ctx.diags.render().find("attention not fused: the probabilities are kept"),
            std::string::npos)
      << ctx.diags.render();
}

TEST(AttentionFusion, ABroadcastKeyIsNotFused) {
  std::string text = "model a {\n  input q: f32[2, 2, 4, 4]\n  input k: f32[4, 4]\n"
                     "  input v: f32[2, 2, 4, 3]\n"
                     "  o = matmul(softmax(matmul(q, k, transpose_b=true)), v)\n  output o\n}\n";
  PassContext ctx;
  ctx.remarks = true;
  auto fused = optimizedInference(parsed(text), ctx);
  ASSERT_TRUE(fused.ok()) << fused.errorText();
  EXPECT_NE(ctx.diags.render().find("q, k and v do not share their batch dims"), std::string::npos)
      << ctx.diags.render();
}

} // namespace
} // namespace nnc
