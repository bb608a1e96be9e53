/// The C++ DSL: models written with it print byte for byte like their .ir
/// twins; errors are located diagnostics, never exceptions.
#include <nnc/Dsl.h>

#include "frontend/Parser.h"
#include "ir/Printer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace {

using namespace nnc::dsl;
using nnc::Graph;
using nnc::Result;

/// The canonical print of a graph, or its errors (so a failure shows them).
std::string printed(const Result<Graph> &g) {
  return g.ok() ? nnc::printGraph(*g) : "error:\n" + g.errorText();
}

/// The graph a model builds (or its errors).
Result<Graph> built(const Model &m) {
  Result<nnc::ModelGraph> g = m.build();
  if (!g)
    return Result<Graph>(g.takeDiags());
  return g->graph();
}

std::string printDsl(const Model &m) { return printed(built(m)); }

std::string printText(const std::string &text) {
  return printed(nnc::parseModel(text, "inline.ir"));
}

std::string printExample(const std::string &file) {
  std::ifstream in(NNC_SOURCE_DIR "/examples/" + file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return printed(nnc::parseModel(text.str(), file));
}

// ---- the examples, written with the DSL ---------------------------------------

Model xorModel() {
  Model m("xor");
  auto B = m.dim("B");
  auto x = m.input("x", f32(B, 2));
  auto y = m.input("y", f32(B, 1));
  auto w1 = m.param("w1", f32(2, 2), uniform(-1, 1, /*seed=*/1));
  auto b1 = m.param("b1", f32(2), zeros());
  auto w2 = m.param("w2", f32(2, 1), uniform(-1, 1, /*seed=*/2));
  auto b2 = m.param("b2", f32(1), zeros());
  auto h = m.name("h", sigmoid(matmul(x, w1) + b1));
  auto yhat = m.name("yhat", sigmoid(matmul(h, w2) + b2));
  auto loss = m.name("loss", sse(yhat, y));
  m.output(yhat);
  m.minimize(loss, sgd({.lr = 0.5}));
  return m;
}

TEST(Dsl, XorPrintsLikeItsIrTwin) { EXPECT_EQ(printDsl(xorModel()), printExample("xor.ir")); }

TEST(Dsl, McCullochPittsPrintsLikeItsIrTwin) {
  Model m("mcculloch_pitts");
  auto B = m.dim("B");
  auto x = m.input("x", f32(B, 2));
  auto w = m.constant("w", f32(2, 1), {{1}, {1}});
  auto T = m.constant("T", f32(), 2);
  auto net = m.name("net", matmul(x, w));
  m.output(m.name("y", step(net - T)));
  EXPECT_EQ(printDsl(m), printExample("mcculloch_pitts.ir"));
}

TEST(Dsl, PerceptronPrintsLikeItsIrTwin) {
  Model m("perceptron");
  auto B = m.dim("B");
  auto x = m.input("x", f32(B, 2));
  auto y = m.input("y", f32(B, 1));
  auto w = m.param("w", f32(2, 1), zeros());
  auto b = m.param("b", f32(1), zeros());
  auto yhat = m.name("yhat", step(matmul(x, w) + b));
  auto loss = m.name("loss", sse(yhat, y));
  m.output(yhat);
  m.minimize(loss, sgd(0.1));
  EXPECT_EQ(printDsl(m), printExample("perceptron.ir"));
}

TEST(Dsl, BackpropExamplePrintsLikeItsIrTwin) {
  Model m("backprop_example");
  auto B = m.dim("B");
  auto x = m.input("x", f32(B, 2));
  auto t = m.input("t", f32(B, 1));
  auto w1 = m.param("w1", f32(2, 2), {{0.1, 0.4}, {0.8, 0.6}});
  auto w2 = m.param("w2", f32(2, 1), {{0.3}, {0.9}});
  auto h = m.name("h", sigmoid(matmul(x, w1)));
  auto y = m.name("y", sigmoid(matmul(h, w2)));
  auto loss = m.name("loss", sse(y, t));
  m.output(y);
  m.minimize(loss, sgd({.lr = 1}));
  EXPECT_EQ(printDsl(m), printExample("backprop_example.ir"));
}

TEST(Dsl, MlpPrintsLikeItsIrTwin) {
  Model m("mlp");
  auto B = m.dim("B");
  auto x = m.input("x", f32(B, 784));
  auto label = m.input("label", i32(B));
  auto w1 = m.param("w1", f32(784, 256), he_normal(1));
  auto b1 = m.param("b1", f32(256), zeros());
  auto w2 = m.param("w2", f32(256, 256), he_normal(2));
  auto b2 = m.param("b2", f32(256), zeros());
  auto w3 = m.param("w3", f32(256, 10), glorot_uniform(3));
  auto b3 = m.param("b3", f32(10), zeros());
  auto pixels = m.name("pixels", (x - 0.2860) / 0.3530);
  auto h1 = m.name("h1", relu(matmul(pixels, w1) + b1));
  auto h2 = m.name("h2", relu(matmul(h1, w2) + b2));
  auto logits = m.name("logits", matmul(h2, w3) + b3);
  auto pred = m.name("pred", argmax(logits));
  auto loss = m.name("loss", softmax_cross_entropy(logits, label));
  m.output(logits);
  m.output(pred);
  m.minimize(loss, sgd({.lr = 0.1}));
  EXPECT_EQ(printDsl(m), printExample("mlp.ir"));
}

TEST(Dsl, ResNetSPrintsLikeItsIrTwin) {
  Model m("resnet_s");
  auto B = m.dim("B");
  auto x = m.input("x", f32(B, 784));
  auto label = m.input("label", i32(B));
  auto wIn = m.param("w_in", f32(784, 128), he_normal(1));
  auto bIn = m.param("b_in", f32(128), zeros());
  std::vector<std::vector<Value>> blocks;
  for (int k = 1; k <= 3; ++k) {
    std::string res = "res" + std::to_string(k) + "_", ln = "ln" + std::to_string(k) + "_";
    blocks.push_back({m.param(res + "w1", f32(128, 128), he_normal(10 * k + 1)),
                      m.param(res + "b1", f32(128), zeros()),
                      m.param(res + "w2", f32(128, 128), he_normal(10 * k + 2)),
                      m.param(res + "b2", f32(128), zeros()),
                      m.param(ln + "gamma", f32(128), ones()),
                      m.param(ln + "beta", f32(128), zeros())});
  }
  auto wOut = m.param("w_out", f32(128, 10), glorot_uniform(2));
  auto bOut = m.param("b_out", f32(10), zeros());
  Value z = m.name("z0", matmul(x, wIn) + bIn);
  for (size_t k = 0; k < blocks.size(); ++k) {
    const auto &p = blocks[k];
    std::string n = std::to_string(k + 1);
    auto a = m.name("a" + n, relu(matmul(z, p[0]) + p[1]));
    z = m.name("z" + n, layernorm(z + relu(matmul(a, p[2]) + p[3]), p[4], p[5]));
  }
  auto logits = m.name("logits", matmul(z, wOut) + bOut);
  auto loss = m.name("loss", softmax_cross_entropy(logits, label));
  m.output(logits);
  m.minimize(loss, adam({.lr = 0.001}));
  EXPECT_EQ(printDsl(m), printExample("resnet_s.ir"));
}

TEST(Dsl, CnnPrintsLikeItsIrTwin) {
  Model m("cnn");
  auto B = m.dim("B");
  auto x = m.input("x", f32(B, 1, 28, 28));
  auto label = m.input("label", i32(B));
  auto k1 = m.param("k1", f32(8, 1, 3, 3), he_normal(1));
  auto c1 = m.param("c1", f32(8), zeros());
  auto w2 = m.param("w2", f32(1568, 64), he_normal(2));
  auto b2 = m.param("b2", f32(64), zeros());
  auto w3 = m.param("w3", f32(64, 10), glorot_uniform(3));
  auto b3 = m.param("b3", f32(10), zeros());
  auto c = m.name("c", relu(conv2d(x, k1, c1, /*stride=*/1, /*padding=*/1)));
  auto p = m.name("p", maxpool2d(c, 2));
  auto f = m.name("f", reshape(p, {B, -1}));
  auto h = m.name("h", relu(matmul(f, w2) + b2));
  auto logits = m.name("logits", matmul(h, w3) + b3);
  auto loss = m.name("loss", softmax_cross_entropy(logits, label));
  m.output(logits);
  m.minimize(loss, sgd({.lr = 0.05, .momentum = 0.9}));
  EXPECT_EQ(printDsl(m), printExample("cnn.ir"));
}

TEST(Dsl, DigitsMlpPrintsLikeItsIrTwin) {
  Model m("digits_mlp");
  auto B = m.dim("B");
  auto x = m.input("x", f32(B, 64));
  auto label = m.input("label", i32(B));
  auto w1 = m.param("w1", f32(64, 64), he_normal(1));
  auto b1 = m.param("b1", f32(64), zeros());
  auto w2 = m.param("w2", f32(64, 10), glorot_uniform(2));
  auto b2 = m.param("b2", f32(10), zeros());
  auto h = m.name("h", relu(matmul(x / 16, w1) + b1));
  auto logits = m.name("logits", matmul(h, w2) + b2);
  auto loss = m.name("loss", softmax_cross_entropy(logits, label));
  m.output(logits);
  m.minimize(loss, sgd(0.1));
  EXPECT_EQ(printDsl(m), printExample("digits_mlp.ir"));
}

// ---- expressions -------------------------------------------------------------

/// A model with `dim B` and `input x: f32[B, 3]`, for small expression tests.
struct Small {
  Model m{"s"};
  SymDim B = m.dim("B");
  Value x = m.input("x", f32(B, 3));
};

constexpr const char *kSmallHead = "model s {\n  dim B\n  input x: f32[B, 3]\n";

TEST(Dsl, ScalarsOnEitherSideBecomeImmediates) {
  Small s;
  s.m.name("a", s.x * 2.0f);
  s.m.name("b", 1.0f - s.x);
  s.m.name("c", s.x / 4 + 0.5);
  s.m.name("d", -s.x);
  s.m.name("e", 2 * -s.x);
  s.m.name("f", s.x * -2.0f);
  s.m.name("g", maximum(s.x, 0.0f));
  s.m.name("h", 1.5f * s.x - s.x / 3.0);
  std::string ir = std::string(kSmallHead) +
                   "a = x * 2\n b = 1 - x\n c = x / 4 + 0.5\n d = -x\n e = 2 * -x\n"
                   "f = x * -2\n g = maximum(x, 0)\n h = 1.5 * x - x / 3\n}\n";
  EXPECT_EQ(printDsl(s.m), printText(ir));
  Result<Graph> g = built(s.m);
  ASSERT_TRUE(g.ok()) << g.errorText();
  EXPECT_EQ(g->node(0).op, nnc::OpKind::Mul);
  EXPECT_EQ(g->value(g->node(0).operands[1]).kind, nnc::ValueKind::Immediate);
}

TEST(Dsl, NestedArgumentsLowerLeftToRightDepthFirst) {
  // C++ may evaluate the arguments of + and relu(...) in any order; the
  // nodes still come out as the parser makes them.
  Small s;
  auto w = s.m.param("w", f32(3, 3), zeros());
  s.m.name("y", relu(s.x) + sigmoid(s.x) * tanh(s.x));
  s.m.name("z", add(matmul(s.x, w), matmul(exp(s.x), w, false, true)));
  std::string ir = std::string(kSmallHead) + " param w: f32[3, 3] = zeros()\n" +
                   " y = relu(x) + sigmoid(x) * tanh(x)\n"
                   " z = add(matmul(x, w), matmul(exp(x), w, transpose_b=true))\n}\n";
  EXPECT_EQ(printDsl(s.m), printText(ir));
}

TEST(Dsl, AnExprUsedTwiceIsOneNode) {
  Small s;
  auto t = relu(s.x);
  s.m.name("a", t + 1.0f);
  s.m.name("b", t * 2.0f);
  std::string want = std::string(kSmallHead) + "  t0: f32[B, 3] = relu(x)\n"
                                               "  a: f32[B, 3] = add(t0, 1)\n"
                                               "  b: f32[B, 3] = mul(t0, 2)\n"
                                               "}\n";
  EXPECT_EQ(printDsl(s.m), want);
  EXPECT_EQ(printText(want), want);
}

TEST(Dsl, AttributesPrintLikeTheParsersOnes) {
  Model m("attrs");
  auto B = m.dim("B");
  auto x = m.input("x", f32(B, 4));
  auto img = m.input("img", f32(B, 2, 6, 6));
  auto k = m.param("k", f32(3, 2, 3, 3), he_normal(5));
  auto g = m.param("g", f32(4), ones());
  m.name("a", leaky_relu(x, 0.2));
  m.name("b", sum(x, {1}, true));
  m.name("c", mean(x));
  m.name("d", max(x, 0));
  m.name("e", transpose(x, {1, 0}));
  m.name("f", argmax(x, 0));
  m.name("h", log_softmax(x, 1));
  m.name("i", layernorm(x, g, g, 1e-3));
  m.name("j", conv2d(img, k, {1, 2}, {0, 1}));
  m.name("l", maxpool2d(img, 2, 1));
  m.name("n", avgpool2d(img, {3, 2}, {3, 2}));
  m.name("o", reshape(x, {B, 2, -1}));
  m.name("q", leaky_relu(x));
  m.name("r", conv2d(img, k, 2));
  std::string ir = "model attrs {\n dim B\n input x: f32[B, 4]\n input img: f32[B, 2, 6, 6]\n"
                   " param k: f32[3, 2, 3, 3] = he_normal(seed=5)\n param g: f32[4] = ones()\n"
                   " a = leaky_relu(x, alpha=0.2)\n b = sum(x, axes=[1], keepdims=true)\n"
                   " c = mean(x)\n d = max(x, axes=0)\n e = transpose(x, perm=[1, 0])\n"
                   " f = argmax(x, axis=0)\n h = log_softmax(x, axis=1)\n"
                   " i = layernorm(x, g, g, eps=0.001)\n"
                   " j = conv2d(img, k, stride=[1, 2], padding=[0, 1])\n"
                   " l = maxpool2d(img, kernel=2, stride=1)\n"
                   " n = avgpool2d(img, kernel=[3, 2], stride=[3, 2])\n"
                   " o = reshape(x, shape=[B, 2, -1])\n q = leaky_relu(x, alpha=0.01)\n"
                   " r = conv2d(img, k, stride=2)\n}\n";
  EXPECT_EQ(printDsl(m), printText(ir));
}

TEST(Dsl, EveryOpOfTheTableHasAFunction) {
  Model m("all");
  auto B = m.dim("B");
  auto x = m.input("x", f32(B, 4));
  auto y = m.input("y", f32(B, 4));
  auto lbl = m.input("lbl", i32(B));
  auto img = m.input("img", f32(B, 1, 4, 4));
  auto w = m.param("w", f32(4, 4), zeros());
  auto filt = m.param("filt", f32(2, 1, 3, 3), zeros());
  auto bias = m.param("bias", f32(2), zeros());
  auto g = m.param("g", f32(4), ones());
  auto g1 = m.param("g1", f32(1), ones());
  auto rs = m.state("rs", f32(1), ones());
  // The ops of the common shapes have their functions written from the table
  // (nnc/Ops.def), and are called here the same way.
  std::vector<Expr> all;
#define NNC_OP(...)
#define NNC_UNARY_OP(id, name, traits) all.push_back(name(x));
#define NNC_BINARY_OP(id, name, traits) all.push_back(name(x, y));
#define NNC_REDUCTION_OP(id, name) all.push_back(name(x));
#define NNC_LOSS_OP(id, name)                                                                      \
  all.push_back(nnc::OpKind::id == nnc::OpKind::SoftmaxCrossEntropy ? name(x, lbl) : name(x, y));
#include "nnc/Ops.def"
#undef NNC_OP
#undef NNC_UNARY_OP
#undef NNC_BINARY_OP
#undef NNC_REDUCTION_OP
#undef NNC_LOSS_OP
  for (Expr e : {leaky_relu(x),
                 matmul(x, w),
                 reshape(x, {B, 2, 2}),
                 transpose(x),
                 argmax(x),
                 softmax(x),
                 log_softmax(x),
                 layernorm(x, g, g),
                 conv2d(img, filt, bias),
                 maxpool2d(img),
                 avgpool2d(img),
                 clip(x, 0.0, 6.0),
                 where(y, x, g),
                 concat({x, y}, 1),
                 slice(x, 1, 1, 3),
                 tril(x),
                 triu(x, 1),
                 gather(w, lbl),
                 cast(lbl, nnc::DType::F32),
                 dropout(x, 0.1),
                 batchnorm(img, g1, g1, rs, rs)})
    all.push_back(e);
  for (size_t i = 0; i < all.size(); ++i)
    m.name("v" + std::to_string(i), all[i]);
  Result<Graph> graph = built(m);
  ASSERT_TRUE(graph.ok()) << graph.errorText();
  std::set<std::string> made;
  for (const nnc::Node &n : graph->nodes)
    made.insert(n.info().name);
  for (const nnc::OpInfo &op : nnc::allOps()) {
    if ((op.traits & nnc::kGradientOp) == nnc::kGradientOp)
      continue; // written by autodiff, not by users
    if (op.traits & nnc::kFusedForm)
      continue; // written by the fusion passes
    if (op.traits & nnc::kTrainingForm)
      continue; // written by the training-mode rewrite
    EXPECT_TRUE(made.count(op.name)) << "no DSL function made '" << op.name << "'";
  }
}

TEST(Dsl, I32ImmediatesAndUpdates) {
  Model m("counter");
  auto n = m.state("n", i32(), 0);
  auto total = m.state("total", f32(), 0);
  m.update(n, n + 1);
  m.update(total, 0.0f);
  std::string ir = "model counter {\n state n: i32[] = 0\n state total: f32[] = 0\n"
                   " n <- n + 1\n total <- 0\n}\n";
  EXPECT_EQ(printDsl(m), printText(ir));
}

TEST(Dsl, TypedNameChecksTheType) {
  Small s;
  s.m.name("a", f32(s.B, 3), relu(s.x));
  EXPECT_TRUE(s.m.build().ok());
  s.m.name("b", f32(s.B, 4), relu(s.x));
  Result<Graph> g = built(s.m);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.errorText().find("'b' is declared f32[B, 4] but its value is f32[B, 3]"),
            std::string::npos)
      << g.errorText();
}

TEST(Dsl, ModelsMoveAndBuildRepeatedly) {
  Model m = xorModel();
  Model moved = std::move(m);
  std::string first = printDsl(moved);
  EXPECT_EQ(printDsl(moved), first);
  EXPECT_EQ(first, printExample("xor.ir"));
}

// ---- locations and errors ---------------------------------------------------------

TEST(Dsl, NodesCarryTheUsersSourceLocation) {
  Small s;
  uint32_t line = __LINE__ + 1;
  s.m.name("y", relu(s.x));
  Result<Graph> g = built(s.m);
  ASSERT_TRUE(g.ok()) << g.errorText();
  const nnc::SourceLoc &loc = g->node(0).loc;
  ASSERT_NE(loc.file, nullptr);
  EXPECT_NE(loc.file->name().find("DslTest.cpp"), std::string::npos) << loc.str();
  EXPECT_EQ(loc.line, line);
  EXPECT_GT(loc.col, 0u);
  EXPECT_EQ(g->value(g->node(0).result).loc.line, line);
}

TEST(Dsl, AShapeErrorIsAReturnedDiagnostic) {
  Small s;
  auto w = s.m.param("w", f32(2, 1), zeros());
  uint32_t line = __LINE__ + 1;
  auto h = s.m.name("h", sigmoid(matmul(s.x, w)));
  EXPECT_FALSE(h.ok());
  s.m.output(h); // a failed value is used quietly: one error, not a cascade
  Result<Graph> g = built(s.m);
  ASSERT_FALSE(g.ok());
  ASSERT_EQ(g.diags().errorCount(), 1u) << g.errorText();
  std::string text = g.errorText();
  EXPECT_NE(text.find("matmul: inner dimensions differ"), std::string::npos) << text;
  EXPECT_NE(text.find("DslTest.cpp:" + std::to_string(line) + ":"), std::string::npos) << text;
}

/// The rendered errors of a model that must fail.
std::string errorsOf(const Model &m) {
  Result<Graph> g = built(m);
  return g.ok() ? "<built fine>" : g.errorText();
}

TEST(Dsl, NumbersMustBeFiniteF32AsInTheLanguage) {
  Small s;
  s.m.name("a", s.x * 1e300);
  EXPECT_NE(errorsOf(s.m).find("number 1e+300 is not a finite f32"), std::string::npos)
      << errorsOf(s.m);
  Model m("c");
  m.constant("k", f32(2), {Literal(std::numeric_limits<double>::infinity()), Literal(1.0)});
  EXPECT_NE(errorsOf(m).find("literal holds inf, not a finite f32"), std::string::npos)
      << errorsOf(m);
}

TEST(Dsl, NamingMistakesAreReported) {
  Small s;
  s.m.name("x2", s.x);           // a value is not an op
  s.m.input("x", f32(s.B));      // redefinition
  s.m.input("2x", f32(s.B));     // not an identifier
  s.m.input("output", f32(s.B)); // a keyword
  auto r = relu(s.x);
  s.m.name("r1", r);
  s.m.name("r2", r); // already named
  std::string text = errorsOf(s.m);
  EXPECT_NE(text.find("'x2' must name the result of an op"), std::string::npos) << text;
  EXPECT_NE(text.find("redefinition of 'x'"), std::string::npos) << text;
  EXPECT_NE(text.find("'2x' is not a valid name"), std::string::npos) << text;
  EXPECT_NE(text.find("'output' is a reserved keyword"), std::string::npos) << text;
  EXPECT_NE(text.find("already named 'r1'"), std::string::npos) << text;
}

TEST(Dsl, HandleMistakesAreReported) {
  Small s;
  Model other("other");
  auto B2 = other.dim("B");
  auto foreign = other.input("z", f32(B2, 3));
  s.m.name("a", relu(foreign));
  s.m.name("b", relu(Value()));
  s.m.input("c", f32(B2));
  std::string text = errorsOf(s.m);
  EXPECT_NE(text.find("a value of another dsl::Model"), std::string::npos) << text;
  EXPECT_NE(text.find("an empty dsl::Value"), std::string::npos) << text;
  EXPECT_NE(text.find("dim 'B' belongs to another model"), std::string::npos) << text;
}

TEST(Dsl, LiteralAndInitializerMistakesAreReported) {
  Small s;
  s.m.param("w", f32(2, 2), {{1, 2, 3}, {4, 5, 6}});
  s.m.param("v", f32(2, 2), {{1, 2}, {3}});
  s.m.state("n", i32(2), {1.5, 2});
  s.m.param("u", f32(2), uniform(1, -1));
  s.m.param("g", f32(2), glorot_uniform());
  std::string text = errorsOf(s.m);
  EXPECT_NE(text.find("literal has shape [2, 3] but the declared type is f32[2, 2]"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ragged literal"), std::string::npos) << text;
  EXPECT_NE(text.find("i32 literal holds the non-integer 1.5"), std::string::npos) << text;
  EXPECT_NE(text.find("uniform: lo (1) must not exceed hi (-1)"), std::string::npos) << text;
  EXPECT_NE(text.find("glorot_uniform needs a rank 2 or 4 tensor"), std::string::npos) << text;
}

TEST(Dsl, OptimizerAndStatementMistakesAreReported) {
  Small s;
  auto loss = s.m.name("loss", sum(s.x));
  auto h = s.m.name("h", relu(s.x));
  s.m.minimize(loss, sgd(SgdOptions{})); // no lr
  s.m.minimize(h, adam(0.1));            // given twice
  s.m.output(2.0f);                      // a number
  s.m.update(s.x, s.x);                  // an input
  std::string text = errorsOf(s.m);
  EXPECT_NE(text.find("sgd: missing attribute 'lr'"), std::string::npos) << text;
  EXPECT_NE(text.find("'minimize' was already given"), std::string::npos) << text;
  EXPECT_NE(text.find("output: expected a value, not a number"), std::string::npos) << text;
  EXPECT_NE(text.find("only a param or state can be updated"), std::string::npos) << text;
}

} // namespace
