// The interpreter as a whole: binding inputs and symbolic dims, located
// errors, updates, and the course's worked examples as golden tests.
#include "InterpTestUtil.h"

#include "nnc/SourceLoc.h"

#include <cmath>

namespace nnc::test {
namespace {

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

/// A source file for located errors; line 2 declares x, line 3 y, line 5
/// holds the loss.
const SourceFile *modelFile() {
  static const SourceFile *file = SourceFile::add(
      "model.ir", "model m {\n  input x: f32[B, 2]\n  input y: f32[B, 2]\n"
                  "  input labels: i32[B]\n  loss = softmax_cross_entropy(x, labels)\n}\n");
  return file;
}

// ---- golden tests from the course ------------------------------------------

/// The backpropagation example's forward pass: x = [0.35, 0.9], hidden
/// weights 0.1, 0.8 (top unit) and 0.4, 0.6 (bottom unit), output weights
/// 0.3 and 0.9, sigmoid everywhere, no biases.
TEST(InterpGolden, BackpropExampleForwardPass) {
  ModelBuilder m;
  int32_t B = m.dim("B");
  ValueId x = m.input("x", {Dim::sym(B), Dim::fixed(2)});
  ValueId w1 = m.constant("w1", staticShape({2, 2}), {0.1, 0.4, 0.8, 0.6});
  ValueId w2 = m.constant("w2", staticShape({2, 1}), {0.3, 0.9});
  ValueId h = m.op(OpKind::Sigmoid, {m.op(OpKind::MatMul, {x, w1})});
  ValueId y = m.op(OpKind::Sigmoid, {m.op(OpKind::MatMul, {h, w2})});
  m.output(y);
  Graph g = m.finish();
  Interpreter it(g);
  ASSERT_TRUE(it.run({f32({1, 2}, {0.35f, 0.9f})}).ok());
  // The course's numbers (inputs to the units 0.755, 0.68 and 0.80133).
  expectTensor(it.value(h), {1, 2}, {0.680267, 0.663739}, 1e-6);
  expectTensor(it.value(y), {1, 1}, {0.690283}, 1e-6);
  // And in double.
  double h1 = sigmoid(0.35 * 0.1 + 0.9 * 0.8), h2 = sigmoid(0.35 * 0.4 + 0.9 * 0.6);
  expectTensor(it.value(h), {1, 2}, {h1, h2}, 1e-6);
  expectTensor(it.value(y), {1, 1}, {sigmoid(0.3 * h1 + 0.9 * h2)}, 1e-6);
}

/// The course's convolution: a 7x7 filter with 30 along a curve (the back of
/// a mouse) gives a large response where the image holds the curve and 0
/// over an empty region.
TEST(InterpGolden, ConvolutionFindsTheCurve) {
  // clang-format off
  const int curve[7][7] = {{0, 0, 0,  0,  0, 30, 0},
                           {0, 0, 0,  0, 30,  0, 0},
                           {0, 0, 0, 30,  0,  0, 0},
                           {0, 0, 0, 30,  0,  0, 0},
                           {0, 0, 0, 30,  0,  0, 0},
                           {0, 0, 0, 30,  0,  0, 0},
                           {0, 0, 0,  0,  0,  0, 0}};
  // clang-format on
  std::vector<float> filter;
  for (const auto &row : curve)
    for (int v : row)
      filter.push_back(static_cast<float>(v));
  // The image under the filter at (2, 3): 50 on the curve but for one 20,
  // and one curve pixel dark, as in the course: 4 * 50 * 30 + 20 * 30.
  std::vector<float> image(14 * 14, 0.0f);
  auto pixel = [&](int r, int c) -> float & { return image[(2 + r) * 14 + (3 + c)]; };
  pixel(0, 5) = 50;
  pixel(1, 4) = 50;
  pixel(2, 3) = 50;
  pixel(3, 3) = 20;
  pixel(4, 3) = 50;
  ModelBuilder m;
  ValueId x = m.input("image", staticShape({1, 1, 14, 14}));
  ValueId w = m.constant("filter", staticShape({1, 1, 7, 7}),
                         std::vector<double>(filter.begin(), filter.end()));
  ValueId y = m.op(OpKind::Conv2d, {x, w});
  Graph g = m.finish();
  Interpreter it(g);
  ASSERT_TRUE(it.run({f32({1, 1, 14, 14}, image)}).ok());
  const Tensor &out = it.value(y);
  ASSERT_EQ(out.shape(), (std::vector<int64_t>{1, 1, 8, 8}));
  EXPECT_EQ(out.f32()[2 * 8 + 3], 6600.0f);
  EXPECT_EQ(out.f32()[7 * 8 + 7], 0.0f);
  // The curve's position has the largest response of all.
  for (int64_t i = 0; i < out.numel(); ++i)
    EXPECT_LE(out.f32()[i], 6600.0f);
}

/// LN(MM_{aW,ab}(z)) = LN(MM_{W,b}(z)) for a > 0, and both match a double
/// computation.
TEST(InterpGolden, LayerNormIsScaleInvariant) {
  const std::vector<double> w = {0.5, -1.0, 2.0, 0.3, 1.5, 0.2, -0.7, 1.1, -2.0, 0.9, 0.4, -0.6};
  const std::vector<double> b = {0.1, -0.2, 0.3, 0.05};
  const std::vector<double> gamma = {1.0, 2.0, 0.5, -1.0}, beta = {0.0, 0.1, -0.2, 0.3};
  const std::vector<float> z = {0.3f, -1.2f, 2.0f, 1.5f, 0.7f, -0.4f};
  const double eps = 1e-10; // small against a^2 var for every a below, so eps
                            // does not break the identity
  auto scaled = [](const std::vector<double> &v, double a) {
    std::vector<double> out;
    for (double e : v)
      out.push_back(a * e);
    return out;
  };
  /// LN(matmul(z, W) + b) for W, b given.
  auto run = [&](const std::vector<double> &wv, const std::vector<double> &bv) {
    ModelBuilder m;
    int32_t B = m.dim("B");
    ValueId zi = m.input("z", {Dim::sym(B), Dim::fixed(3)});
    ValueId mm =
        m.op(OpKind::Add, {m.op(OpKind::MatMul, {zi, m.constant("W", staticShape({3, 4}), wv)}),
                           m.constant("b", staticShape({4}), bv)});
    ValueId ln = m.op(OpKind::LayerNorm,
                      {mm, m.constant("gamma", staticShape({4}), gamma),
                       m.constant("beta", staticShape({4}), beta)},
                      {attr("eps", eps)});
    Graph g = m.finish();
    Interpreter it(g);
    EXPECT_TRUE(it.run({f32({2, 3}, z)}).ok());
    return it.value(ln);
  };
  // The reference, in double.
  std::vector<double> want;
  for (int r = 0; r < 2; ++r) {
    double mm[4], mean = 0, var = 0;
    for (int j = 0; j < 4; ++j) {
      mm[j] = b[j];
      for (int k = 0; k < 3; ++k)
        mm[j] += static_cast<double>(z[r * 3 + k]) * w[k * 4 + j];
      mean += mm[j] / 4;
    }
    for (double v : mm)
      var += (v - mean) * (v - mean) / 4;
    for (int j = 0; j < 4; ++j)
      want.push_back((mm[j] - mean) / std::sqrt(var + eps) * gamma[j] + beta[j]);
  }
  expectTensor(run(w, b), {2, 4}, want, 1e-5);
  for (double a : {0.05, 0.5, 2.0, 7.5, 100.0})
    expectTensor(run(scaled(w, a), scaled(b, a)), {2, 4}, want, 1e-5);
}

// ---- run-time errors -------------------------------------------------------

Graph crossEntropyGraph(ValueId &loss, SourceLoc lossLoc) {
  ModelBuilder m;
  int32_t B = m.dim("B");
  ValueId x = m.input("x", {Dim::sym(B), Dim::fixed(10)});
  ValueId labels = m.input("labels", DType::I32, {Dim::sym(B)});
  loss = m.op(OpKind::SoftmaxCrossEntropy, {x, labels}, {}, lossLoc);
  return m.finish();
}

TEST(InterpErrors, LabelOutOfRangeIsALocatedError) {
  SourceLoc at{modelFile(), 5, 10};
  ValueId loss;
  Graph g = crossEntropyGraph(loss, at);
  Interpreter it(g);
  std::vector<float> logits(40, 0.0f);
  Status s = it.run({f32({4, 10}, logits), i32({4}, {0, 9, 3, 12})});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.errorText(), "model.ir:5:10: error: softmax_cross_entropy: label "
                                      "12 in row 3 is outside [0, 10)"))
      << s.errorText();
  Status neg = it.run({f32({2, 10}, logits), i32({2}, {-1, 0})});
  ASSERT_FALSE(neg.ok());
  EXPECT_TRUE(contains(neg.errorText(), "label -1 in row 0 is outside [0, 10)")) << neg.errorText();
  // In range, the same interpreter runs: uniform logits cost log 10.
  ASSERT_TRUE(it.run({f32({2, 10}, logits), i32({2}, {0, 9})}).ok());
  expectTensor(it.value(loss), {}, {std::log(10.0)});
}

/// x: f32[B, 2] at line 2 and y: f32[B, 2] at line 3 of model.ir.
Graph twoInputGraph(ValueId &sum) {
  ModelBuilder m;
  int32_t B = m.dim("B");
  ValueId x = m.input("x", DType::F32, {Dim::sym(B), Dim::fixed(2)}, {modelFile(), 2, 9});
  ValueId y = m.input("y", DType::F32, {Dim::sym(B), Dim::fixed(2)}, {modelFile(), 3, 9});
  sum = m.op(OpKind::Add, {x, y});
  return m.finish();
}

TEST(InterpErrors, InputShapeMismatchIsLocatedAtTheDeclaration) {
  ValueId sum;
  Graph g = twoInputGraph(sum);
  Interpreter it(g);
  Tensor good = f32({4, 2}, std::vector<float>(8, 1.0f));
  Status s = it.run({f32({4, 3}, std::vector<float>(12, 0.0f)), good});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(
      contains(s.errorText(), "model.ir:2:9: error: input 'x' expects f32[B, 2] but got f32[4, 3]"))
      << s.errorText();
  // Rank and dtype are part of the type.
  Status rank = it.run({good, f32({8}, std::vector<float>(8, 1.0f))});
  ASSERT_FALSE(rank.ok());
  EXPECT_TRUE(
      contains(rank.errorText(), "model.ir:3:9: error: input 'y' expects f32[B, 2] but got f32[8]"))
      << rank.errorText();
  Status dtype = it.run({i32({4, 2}, std::vector<int32_t>(8, 1)), good});
  ASSERT_FALSE(dtype.ok());
  EXPECT_TRUE(contains(dtype.errorText(), "input 'x' expects f32[B, 2] but got i32[4, 2]"))
      << dtype.errorText();
  Status none = it.run({good, Tensor()});
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(contains(none.errorText(), "input 'y' expects f32[B, 2] but got no tensor"))
      << none.errorText();
}

TEST(InterpErrors, SymbolicDimConflictNamesBothInputs) {
  ValueId sum;
  Graph g = twoInputGraph(sum);
  Interpreter it(g);
  Status s =
      it.run({f32({4, 2}, std::vector<float>(8, 1.0f)), f32({5, 2}, std::vector<float>(10, 1.0f))});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.errorText(),
                       "model.ir:3:9: error: input 'y' has 5 for dim B but input 'x' set B = 4"))
      << s.errorText();
}

TEST(InterpErrors, EveryBadInputIsReported) {
  ValueId sum;
  Graph g = twoInputGraph(sum);
  Interpreter it(g);
  Status s = it.run({f32({4}, {}), f32({4, 3}, std::vector<float>(12, 1.0f))});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.diags().errorCount(), 2u) << s.errorText();
}

TEST(InterpErrors, WrongNumberOfInputs) {
  ValueId sum;
  Graph g = twoInputGraph(sum);
  Interpreter it(g);
  Status s = it.run({f32({4, 2}, std::vector<float>(8, 1.0f))});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.errorText(), "has 2 inputs but 1 tensor was given")) << s.errorText();
}

// ---- symbolic dims ---------------------------------------------------------

TEST(InterpRun, OneGraphRunsAtEveryBatchSize) {
  ModelBuilder m;
  int32_t B = m.dim("B");
  ValueId x = m.input("x", {Dim::sym(B), Dim::fixed(3)});
  const std::vector<double> w = {0.5, -1, 0.25, 2, -0.5, 1.5};
  const std::vector<double> bias = {0.1, -0.3};
  ValueId mm = m.op(OpKind::MatMul, {x, m.constant("w", staticShape({3, 2}), w)});
  ValueId h =
      m.op(OpKind::Relu, {m.op(OpKind::Add, {mm, m.constant("b", staticShape({2}), bias)})});
  ValueId rows = m.op(OpKind::Sum, {h}, {ints("axes", {1})});
  ValueId mean = m.op(OpKind::Mean, {h});
  Graph g = m.finish();
  Interpreter it(g);
  for (int64_t batch : {1, 3, 64, 0}) {
    std::vector<float> xs;
    for (int64_t i = 0; i < batch * 3; ++i)
      xs.push_back(static_cast<float>(std::sin(0.7 * static_cast<double>(i))));
    Status s = it.run({f32({batch, 3}, xs)});
    ASSERT_TRUE(s.ok()) << s.errorText();
    EXPECT_EQ(it.dims(), std::vector<int64_t>{batch});
    std::vector<double> wantH, wantRows;
    double total = 0;
    for (int64_t r = 0; r < batch; ++r) {
      double rowSum = 0;
      for (int j = 0; j < 2; ++j) {
        double v = bias[j];
        for (int k = 0; k < 3; ++k)
          v += static_cast<double>(xs[static_cast<size_t>(r * 3 + k)]) * w[k * 2 + j];
        v = std::max(v, 0.0);
        wantH.push_back(v);
        rowSum += v;
      }
      wantRows.push_back(rowSum);
      total += rowSum;
    }
    expectTensor(it.value(h), {batch, 2}, wantH);
    expectTensor(it.value(rows), {batch}, wantRows);
    expectTensor(it.value(mean), {}, {total / static_cast<double>(batch * 2)});
  }
}

TEST(InterpRun, ConcreteShapeFillsSymbolicDims) {
  Type t{DType::F32, {Dim::sym(1), Dim::fixed(3), Dim::sym(0)}};
  EXPECT_EQ(concreteShape(t, {7, 2}), (std::vector<int64_t>{2, 3, 7}));
  EXPECT_EQ(concreteShape(Type{DType::I32, {}}, {}), std::vector<int64_t>{});
}

TEST(InterpRun, ConstsAndImmediatesAreReadyBeforeARun) {
  ModelBuilder m;
  ValueId c = m.constant("c", staticShape({2, 2}), {1, 2, 3, 4});
  ValueId k = m.immediate(2.5);
  ValueId n = m.immediate(-3, DType::I32);
  ValueId y = m.op(OpKind::Mul, {c, k});
  Graph g = m.finish();
  Interpreter it(g);
  expectTensor(it.value(c), {2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(it.value(k).rank(), 0u);
  expectTensor(it.value(k), {}, {2.5});
  EXPECT_EQ(it.value(n).dtype(), DType::I32);
  expectTensor(it.value(n), {}, {-3});
  ASSERT_TRUE(it.run({}).ok());
  expectTensor(it.value(y), {2, 2}, {2.5, 5, 7.5, 10});
  // A state tensor overwritten before a run is what the run reads.
  it.stateTensor(c).f32()[0] = 10;
  ASSERT_TRUE(it.run({}).ok());
  expectTensor(it.value(y), {2, 2}, {25, 5, 7.5, 10});
}

// ---- updates ---------------------------------------------------------------

TEST(InterpUpdates, AllRightSidesAreReadBeforeAnyWrite) {
  ModelBuilder m;
  ValueId a = m.state("a", staticShape({2}), {1, 2});
  ValueId b = m.state("b", staticShape({2}), {3, 4});
  ValueId count = m.state("count", staticShape({}), {0});
  ValueId next = m.op(OpKind::Add, {count, m.immediate(1)});
  m.builder().addUpdate(a, b, {});
  m.builder().addUpdate(b, a, {});
  m.builder().addUpdate(count, next, {});
  Graph g = m.finish();
  Interpreter it(g);
  expectTensor(it.value(a), {2}, {1, 2});
  ASSERT_TRUE(it.run({}).ok());
  it.applyUpdates();
  expectTensor(it.value(a), {2}, {3, 4});
  expectTensor(it.value(b), {2}, {1, 2});
  expectTensor(it.value(count), {}, {1});
  ASSERT_TRUE(it.run({}).ok());
  it.applyUpdates();
  expectTensor(it.value(a), {2}, {1, 2});
  expectTensor(it.value(b), {2}, {3, 4});
  expectTensor(it.value(count), {}, {2});
  // Updated tensors are copies: writing one does not change the other.
  it.stateTensor(a).f32()[0] = 100;
  expectTensor(it.value(b), {2}, {3, 4});
}

} // namespace
} // namespace nnc::test
