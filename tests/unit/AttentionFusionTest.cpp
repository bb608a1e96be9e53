/// fuse-attention: softmax(q k^T * scale [+ mask]) v as one fused_attention
/// (passes/fusion/FuseAttention.cpp, codegen/lower/Attention.cpp) agrees
/// with the unfused ops in both engines, for key counts that are and are
/// not multiples of the kernel's tile, with a causal mask, a per-batch mask,
/// `/ c` scales and no scale, in inference and in a training step (forward
/// and backward); what it does not fuse it says why.
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

/// A training step of attention over params q, k, v [2, 2, T, 8] (T = 70:
/// two key tiles and a partial block of query rows), causal when `causal`.
std::string trainingModel(bool causal) {
  std::string text = "model a {\n"
                     "  param q: f32[2, 2, 70, 8] = uniform(-1, 1, seed=1)\n"
                     "  param k: f32[2, 2, 70, 8] = uniform(-1, 1, seed=2)\n"
                     "  param v: f32[2, 2, 70, 5] = uniform(-1, 1, seed=3)\n"
                     "  const ones: f32[70, 70] = ones()\n"
                     "  state r: f32[2, 2, 70, 5] = uniform(-1, 1, seed=4)\n";
  text += causal ? "  mask = (tril(ones) - 1) * 1e9\n"
                   "  s = matmul(q, k, transpose_b=true) * 0.35355339 + mask\n"
                 : "  s = matmul(q, k, transpose_b=true) / 3\n";
  return text + "  o = matmul(softmax(s), v)\n  output o\n  loss = sum(o * r)\n"
                "  minimize loss with sgd(lr=1)\n}\n";
}

/// The training step fuses attention before autodiff: one fused_attention
/// and a fused_attention_grad for each of q, k and v, no softmax; one step
/// of it (interpreter and JIT) moves every param as the unfused step does.
void expectFusedTrainingAgrees(bool causal) {
  SCOPED_TRACE(causal ? "causal" : "unmasked");
  Graph model = parsed(trainingModel(causal));
  PassContext ctx;
  ctx.trainingAttentionMinBytes = 0; // scores of 39 KiB per example: fuse them anyway
  auto fused = optimizedTrainingStep(model, ctx);
  ASSERT_TRUE(fused.ok()) << fused.errorText();
  int forward = 0, backward = 0;
  for (const Node &n : fused->nodes) {
    forward += n.op == OpKind::FusedAttention;
    backward += n.op == OpKind::FusedAttentionGrad;
    EXPECT_NE(n.op, OpKind::Softmax);
    EXPECT_NE(n.op, OpKind::SoftmaxGrad);
  }
  EXPECT_EQ(forward, 1);
  EXPECT_EQ(backward, 3);

  Graph unfused = model;
  ASSERT_TRUE(runPipeline(unfused, {"training-mode", "autodiff"}, ctx).ok());
  Interpreter want(unfused), fusedInterp(*fused);
  ASSERT_TRUE(want.run({}).ok());
  ASSERT_TRUE(fusedInterp.run({}).ok());
  want.applyUpdates();
  fusedInterp.applyUpdates();
  auto jit = JitSession::create(model, &*fused);
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  ASSERT_TRUE((*jit)->trainStep({}).ok());
  for (const char *name : {"q", "k", "v"}) {
    const Tensor &w = want.value(unfused.findValue(name));
    const Tensor &f = fusedInterp.value(fused->findValue(name));
    Tensor j = (*jit)->read(name);
    for (int64_t i = 0; i < w.numel(); ++i) {
      double tol = 1e-5 * std::max(1.0, std::fabs(w.at(i)));
      ASSERT_NEAR(f.at(i), w.at(i), tol) << name << "[" << i << "] (interpreter)";
      ASSERT_NEAR(j.at(i), w.at(i), tol) << name << "[" << i << "] (JIT)";
    }
  }
}

TEST(AttentionFusion, TheTrainingStepFusesForwardAndBackward) {
  expectFusedTrainingAgrees(false);
  expectFusedTrainingAgrees(true);
}

TEST(AttentionFusion, AMaskComputedFromParamsIsNotFusedInTraining) {
  std::string text = "model a {\n  input q: f32[2, 4, 4]\n  input k: f32[2, 4, 4]\n"
                     "  input v: f32[2, 4, 3]\n  param bias: f32[4, 4] = zeros()\n"
                     "  o = matmul(softmax(matmul(q, k, transpose_b=true) + bias), v)\n"
                     "  loss = sum(o)\n  minimize loss with sgd(lr=0.1)\n}\n";
  PassContext ctx;
  ctx.remarks = true;
  ctx.trainingAttentionMinBytes = 0;
  auto step = optimizedTrainingStep(parsed(text), ctx);
  ASSERT_TRUE(step.ok()) << step.errorText();
  for (const Node &n : step->nodes)
    EXPECT_NE(n.op, OpKind::FusedAttention);
  EXPECT_NE(ctx.diags.render().find("the mask is computed from params"), std::string::npos)
      << ctx.diags.render();
}

/// Scores below PassContext::trainingAttentionMinBytes per example stay
/// unfused in a training step (the unfused backward is faster there), and
/// the remark says so; inference fuses them.
TEST(AttentionFusion, SmallScoresStayUnfusedInTraining) {
  PassContext ctx;
  ctx.remarks = true;
  Graph model = parsed(trainingModel(false));
  auto step = optimizedTrainingStep(model, ctx);
  ASSERT_TRUE(step.ok()) << step.errorText();
  for (const Node &n : step->nodes)
    EXPECT_NE(n.op, OpKind::FusedAttention);
  EXPECT_NE(ctx.diags.render().find("scores of 39200 bytes per example are below"),
            std::string::npos)
      << ctx.diags.render();
  auto inference = optimizedInference(model, ctx);
  ASSERT_TRUE(inference.ok()) << inference.errorText();
  int fused = 0;
  for (const Node &n : inference->nodes)
    fused += n.op == OpKind::FusedAttention;
  EXPECT_EQ(fused, 1);
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
