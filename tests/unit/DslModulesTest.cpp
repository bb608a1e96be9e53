/// The modern modules' examples written with the C++ DSL print byte for byte
/// like their .ir twins: examples/resnet_bn.ir (conv, batch norm, residual
/// blocks) and examples/transformer_lm.ir (embeddings, causal multi-head
/// attention, pre-LN blocks).
#include <nnc/Dsl.h>

#include "frontend/Parser.h"
#include "ir/Printer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

namespace {

using namespace nnc::dsl;

std::string printed(const nnc::Result<nnc::Graph> &g) {
  return g.ok() ? nnc::printGraph(*g) : "error:\n" + g.errorText();
}

std::string printed(const nnc::Result<nnc::ModelGraph> &g) {
  return g.ok() ? g->print() : "error:\n" + g.errorText();
}

std::string printExample(const std::string &file) {
  std::ifstream in(NNC_SOURCE_DIR "/examples/" + file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return printed(nnc::parseModel(text.str(), file));
}

/// A batch norm's params and running statistics, declared in the .ir's
/// order: gamma, beta (params), running mean and variance (states).
struct Norm {
  Value gamma, beta, mean, var;
};

Norm declareNorm(Model &m, const std::string &g, const std::string &b, const std::string &rm,
                 const std::string &rv, int64_t channels) {
  return {m.param(g, f32(channels), ones()), m.param(b, f32(channels), zeros()),
          m.state(rm, f32(channels), zeros()), m.state(rv, f32(channels), ones())};
}

Expr bn(const Expr &x, const Norm &n) { return batchnorm(x, n.gamma, n.beta, n.mean, n.var); }

TEST(DslModules, ResNetBnPrintsLikeItsIrTwin) {
  Model m("resnet_bn");
  auto B = m.dim("B");
  auto x = m.input("x", f32(B, 1, 28, 28));
  auto label = m.input("label", i32(B));
  auto stemW = m.param("stem_w", f32(16, 1, 3, 3), he_normal(1));
  Norm stem = declareNorm(m, "stem_g", "stem_b", "stem_rm", "stem_rv", 16);
  // Each block: two 3x3 convs with their norms; blocks 2 and 3 halve the
  // image and have a strided 1x1 shortcut with its norm.
  struct Block {
    Value w1;
    Norm n1;
    Value w2;
    Norm n2;
    Value ws;
    Norm ns;
  };
  std::vector<Block> blocks;
  const int64_t channels[] = {16, 16, 32, 64};
  for (int k = 1; k <= 3; ++k) {
    std::string p = "b" + std::to_string(k) + "_";
    int64_t in = channels[k - 1], out = channels[k];
    Block blk;
    blk.w1 = m.param(p + "w1", f32(out, in, 3, 3), he_normal(10 * k + 1));
    blk.n1 = declareNorm(m, p + "g1", p + "b1", p + "rm1", p + "rv1", out);
    blk.w2 = m.param(p + "w2", f32(out, out, 3, 3), he_normal(10 * k + 2));
    blk.n2 = declareNorm(m, p + "g2", p + "b2", p + "rm2", p + "rv2", out);
    if (k > 1) {
      blk.ws = m.param(p + "ws", f32(out, in, 1, 1), he_normal(10 * k + 3));
      blk.ns = declareNorm(m, p + "gs", p + "bs", p + "rms", p + "rvs", out);
    }
    blocks.push_back(blk);
  }
  auto wOut = m.param("w_out", f32(64, 10), glorot_uniform(2));
  auto bOut = m.param("b_out", f32(10), zeros());

  auto h0 = m.name("h0", relu(bn(conv2d(x, stemW, 1, 1), stem)));
  auto a1 = m.name("a1", relu(bn(conv2d(h0, blocks[0].w1, 1, 1), blocks[0].n1)));
  auto h1 = m.name("h1", relu(bn(conv2d(a1, blocks[0].w2, 1, 1), blocks[0].n2) + h0));
  Value h = h1;
  for (int k = 2; k <= 3; ++k) {
    const Block &blk = blocks[static_cast<size_t>(k - 1)];
    std::string n = std::to_string(k);
    auto a = m.name("a" + n, relu(bn(conv2d(h, blk.w1, 2, 1), blk.n1)));
    auto s = m.name("s" + n, bn(conv2d(h, blk.ws, 2), blk.ns));
    h = m.name("h" + n, relu(bn(conv2d(a, blk.w2, 1, 1), blk.n2) + s));
  }
  auto h3 = h;
  auto logits = m.name("logits", matmul(mean(h3, {2, 3}), wOut) + bOut);
  auto loss = m.name("loss", softmax_cross_entropy(logits, label));
  m.output(logits);
  m.minimize(loss, sgd({.lr = 0.1, .momentum = 0.9}));
  EXPECT_EQ(printed(m.build()), printExample("resnet_bn.ir"));
}

TEST(DslModules, TransformerLmPrintsLikeItsIrTwin) {
  const int64_t T = 64, D = 128, H = 4, F = 512, V = 256, layers = 2;
  Model m("transformer_lm");
  auto B = m.dim("B");
  auto x = m.input("x", i32(B, T));
  auto y = m.input("y", i32(B, T));
  auto wte = m.param("wte", f32(V, D), normal(0, 0.02, 1));
  auto wpe = m.param("wpe", f32(T, D), normal(0, 0.01, 2));
  auto pos = m.constant("pos", i32(T), arange());
  auto ones_ = m.constant("ones", f32(T, T), ones());
  // Each block's params, in the .ir's order; the residual projections'
  // initial std is scaled down by sqrt(2 layers), as GPT-2 does.
  struct Block {
    Value g1, be1, wq, bq, wk, bk, wv, bv, wo, bo, g2, be2, w1, c1, w2, c2;
  };
  const double residualStd = 0.01;
  std::vector<Block> blocks;
  int64_t seed = 10;
  for (int l = 1; l <= layers; ++l) {
    std::string b = "b" + std::to_string(l) + "_", ln = "ln" + std::to_string(l) + "_";
    Block k;
    k.g1 = m.param(ln + "1_gamma", f32(D), ones());
    k.be1 = m.param(ln + "1_beta", f32(D), zeros());
    k.wq = m.param(b + "wq", f32(D, D), normal(0, 0.02, ++seed));
    k.bq = m.param(b + "bq", f32(D), zeros());
    k.wk = m.param(b + "wk", f32(D, D), normal(0, 0.02, ++seed));
    k.bk = m.param(b + "bk", f32(D), zeros());
    k.wv = m.param(b + "wv", f32(D, D), normal(0, 0.02, ++seed));
    k.bv = m.param(b + "bv", f32(D), zeros());
    k.wo = m.param(b + "wo", f32(D, D), normal(0, residualStd, ++seed));
    k.bo = m.param(b + "bo", f32(D), zeros());
    k.g2 = m.param(ln + "2_gamma", f32(D), ones());
    k.be2 = m.param(ln + "2_beta", f32(D), zeros());
    k.w1 = m.param(b + "w1", f32(D, F), normal(0, 0.02, ++seed));
    k.c1 = m.param(b + "c1", f32(F), zeros());
    k.w2 = m.param(b + "w2", f32(F, D), normal(0, residualStd, ++seed));
    k.c2 = m.param(b + "c2", f32(D), zeros());
    blocks.push_back(k);
  }
  auto lnfG = m.param("lnf_gamma", f32(D), ones());
  auto lnfB = m.param("lnf_beta", f32(D), zeros());
  auto wOut = m.param("w_out", f32(D, V), normal(0, 0.02, 3));
  auto bOut = m.param("b_out", f32(V), zeros());

  auto mask = m.name("mask", (tril(ones_) - 1) * 1e9);
  Value h = m.name("h0", gather(wte, x) + gather(wpe, pos));
  auto heads = [&](const Expr &a, const Value &w, const Value &bias) {
    return transpose(reshape(matmul(a, w) + bias, {B, T, H, D / H}), {0, 2, 1, 3});
  };
  for (int l = 1; l <= layers; ++l) {
    const Block &k = blocks[static_cast<size_t>(l - 1)];
    std::string n = std::to_string(l);
    auto a = m.name("a" + n, layernorm(h, k.g1, k.be1));
    auto q = m.name("q" + n, heads(a, k.wq, k.bq));
    auto kk = m.name("k" + n, heads(a, k.wk, k.bk));
    auto v = m.name("v" + n, heads(a, k.wv, k.bv));
    auto s = m.name("s" + n, softmax(matmul(q, kk, false, true) * 0.17677669 + mask));
    auto o = m.name("o" + n, reshape(transpose(matmul(s, v), {0, 2, 1, 3}), {B, T, D}));
    auto r = m.name("r" + n, h + (matmul(o, k.wo) + k.bo));
    auto mlp = m.name("m" + n, gelu(matmul(layernorm(r, k.g2, k.be2), k.w1) + k.c1));
    h = m.name("h" + n, r + (matmul(mlp, k.w2) + k.c2));
  }
  auto logits = m.name("logits", matmul(layernorm(h, lnfG, lnfB), wOut) + bOut);
  auto loss = m.name("loss", softmax_cross_entropy(logits, y));
  m.output(logits);
  m.minimize(loss, adam({.lr = 0.002}));
  EXPECT_EQ(printed(m.build()), printExample("transformer_lm.ir"));
}

} // namespace
