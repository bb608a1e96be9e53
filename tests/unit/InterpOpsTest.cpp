// Interpreter kernels, op by op: hand-computed values for every op of
// nnc/Ops.def and every attribute default.
#include "InterpTestUtil.h"
#include "frontend/Parser.h"

#include <cmath>
#include <limits>

namespace nnc::test {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();
constexpr float kInff = std::numeric_limits<float>::infinity();

// ---- element-wise unary ----------------------------------------------------

TEST(InterpElementwise, NegAbsExpLogSqrt) {
  std::vector<float> x = {-2.0f, -0.5f, 0.0f, 1.5f};
  expectTensor(runUnary(OpKind::Neg, {4}, x), {4}, {2.0, 0.5, 0.0, -1.5});
  expectTensor(runUnary(OpKind::Abs, {4}, x), {4}, {2.0, 0.5, 0.0, 1.5});
  expectTensor(runUnary(OpKind::Exp, {4}, x), {4},
               {0.1353352832366127, 0.6065306597126334, 1.0, 4.4816890703380645});
  expectTensor(runUnary(OpKind::Log, {4}, {2.5f, 1.0f, 0.0f, -1.0f}), {4},
               {0.9162907318741551, 0.0, -kInf, kNaN});
  expectTensor(runUnary(OpKind::Sqrt, {3}, {2.0f, 0.0f, -1.0f}), {3},
               {1.4142135623730951, 0.0, kNaN});
}

TEST(InterpElementwise, SigmoidTanh) {
  std::vector<float> x = {-2.0f, -0.5f, 0.0f, 1.5f};
  expectTensor(runUnary(OpKind::Sigmoid, {2, 2}, x), {2, 2},
               {0.11920292202211755, 0.3775406687981454, 0.5, 0.8175744761936437});
  expectTensor(runUnary(OpKind::Tanh, {2, 2}, x), {2, 2},
               {-0.9640275800758169, -0.46211715726000974, 0.0, 0.9051482536448664});
  // Saturation, no overflow to NaN.
  expectTensor(runUnary(OpKind::Sigmoid, {2}, {-1000.0f, 1000.0f}), {2}, {0.0, 1.0});
}

TEST(InterpElementwise, ReluPropagatesNaN) {
  expectTensor(runUnary(OpKind::Relu, {4}, {-1.0f, 0.0f, 2.5f, kNaNf}), {4}, {0.0, 0.0, 2.5, kNaN});
}

TEST(InterpElementwise, LeakyReluDefaultAndGivenAlpha) {
  std::vector<float> x = {-2.0f, 0.0f, 3.0f, kNaNf};
  expectTensor(runUnary(OpKind::LeakyRelu, {4}, x), {4}, {-0.02, 0.0, 3.0, kNaN});
  expectTensor(runUnary(OpKind::LeakyRelu, {4}, x, {attr("alpha", 0.2)}), {4},
               {-0.4, 0.0, 3.0, kNaN});
}

TEST(InterpElementwise, GeluIsTheExactErfForm) {
  expectTensor(runUnary(OpKind::Gelu, {4}, {-2.0f, -0.5f, 0.0f, 1.5f}), {4},
               {-0.04550026389635842, -0.15426876936299344, 0.0, 1.399789198096713});
  // The tanh approximation would give 0.841192 at 1.
  expectTensor(runUnary(OpKind::Gelu, {1}, {1.0f}), {1}, {0.8413447460685429});
}

TEST(InterpElementwise, SoftplusIsStableWithPyTorchThreshold) {
  expectTensor(runUnary(OpKind::Softplus, {4}, {-2.0f, -0.5f, 0.0f, 1.5f}), {4},
               {0.1269280110429725, 0.4740769841801067, 0.6931471805599453, 1.7014132779827524});
  // Above 20 softplus(x) = x; far below, exp(x) without loss to 0 or inf.
  expectTensor(runUnary(OpKind::Softplus, {4}, {25.0f, 19.5f, -30.0f, 1000.0f}), {4},
               {25.0, 19.500000003398267, 9.357622968839737e-14, 1000.0});
}

TEST(InterpElementwise, StepIsOneFromZeroUp) {
  expectTensor(runUnary(OpKind::Step, {5}, {-0.1f, 0.0f, -0.0f, 3.0f, -7.0f}), {5},
               {0.0, 1.0, 1.0, 1.0, 0.0});
}

// ---- element-wise binary ---------------------------------------------------

TEST(InterpElementwise, AddBroadcastsRowAndColumn) {
  Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  expectTensor(runBinary(OpKind::Add, a, f32({3}, {10, 20, 30})), {2, 3}, {11, 22, 33, 14, 25, 36});
  expectTensor(runBinary(OpKind::Add, f32({2, 1}, {1, 2}), f32({1, 3}, {10, 20, 30})), {2, 3},
               {11, 21, 31, 12, 22, 32});
  expectTensor(runBinary(OpKind::Add, f32({}, {0.5f}), f32({2}, {1, 2})), {2}, {1.5, 2.5});
}

TEST(InterpElementwise, SubMulDiv) {
  Tensor a = f32({2, 2}, {1, 2, 3, 4});
  Tensor b = f32({2}, {2, -4});
  expectTensor(runBinary(OpKind::Sub, a, b), {2, 2}, {-1, 6, 1, 8});
  expectTensor(runBinary(OpKind::Mul, a, b), {2, 2}, {2, -8, 6, -16});
  expectTensor(runBinary(OpKind::Div, a, b), {2, 2}, {0.5, -0.5, 1.5, -1});
  expectTensor(runBinary(OpKind::Div, f32({3}, {1, -1, 0}), f32({1}, {0})), {3},
               {kInf, -kInf, kNaN});
}

TEST(InterpElementwise, MaximumMinimumPropagateNaN) {
  Tensor a = f32({4}, {1, 5, kNaNf, -2});
  Tensor b = f32({4}, {3, 2, 0, kNaNf});
  expectTensor(runBinary(OpKind::Maximum, a, b), {4}, {3, 5, kNaN, kNaN});
  expectTensor(runBinary(OpKind::Minimum, a, b), {4}, {1, 2, kNaN, kNaN});
}

TEST(InterpElementwise, EqGivesF32OneOrZero) {
  Tensor r = runBinary(OpKind::Eq, f32({4}, {1, 2, kNaNf, 0}), f32({4}, {1, 3, kNaNf, -0.0f}));
  EXPECT_EQ(r.dtype(), DType::F32);
  expectTensor(r, {4}, {1, 0, 0, 1});
  Tensor ri = runBinary(OpKind::Eq, i32({2, 2}, {1, 2, 3, 4}), i32({2}, {1, 4}));
  EXPECT_EQ(ri.dtype(), DType::F32);
  expectTensor(ri, {2, 2}, {1, 0, 0, 1});
}

TEST(InterpElementwise, IntegerAddSubMulWrap) {
  Tensor a = i32({3}, {7, -3, 2147483647});
  Tensor b = i32({3}, {5, 4, 1});
  Tensor sum = runBinary(OpKind::Add, a, b);
  EXPECT_EQ(sum.dtype(), DType::I32);
  expectTensor(sum, {3}, {12, 1, -2147483648.0});
  expectTensor(runBinary(OpKind::Sub, a, b), {3}, {2, -7, 2147483646});
  expectTensor(runBinary(OpKind::Mul, a, i32({1}, {-2})), {3}, {-14, 6, 2});
}

TEST(InterpElementwise, ImmediateOperandIsAScalar) {
  ModelBuilder m;
  ValueId x = m.input("x", staticShape({3}));
  ValueId y = m.op(OpKind::Mul, {x, m.immediate(-2)});
  ValueId n = m.input("n", DType::I32, staticShape({2}));
  ValueId k = m.op(OpKind::Add, {n, m.immediate(3, DType::I32)});
  Graph g = m.finish();
  Interpreter it(g);
  ASSERT_TRUE(it.run({f32({3}, {1, -2, 0.5f}), i32({2}, {1, -5})}).ok());
  expectTensor(it.value(y), {3}, {-2, 4, -1});
  EXPECT_EQ(it.value(k).dtype(), DType::I32);
  expectTensor(it.value(k), {2}, {4, -2});
}

// ---- matmul ----------------------------------------------------------------

/// matmul of a [2, 3] and b [3, 2] under each transpose flag, with the
/// operands stored transposed where the flag says so.
TEST(InterpMatMul, AllTransposeCombinations) {
  // a = [[1, 2, 3], [4, 5, 6]], b = [[7, 8], [9, 10], [11, 12]].
  Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor aT = f32({3, 2}, {1, 4, 2, 5, 3, 6});
  Tensor b = f32({3, 2}, {7, 8, 9, 10, 11, 12});
  Tensor bT = f32({2, 3}, {7, 9, 11, 8, 10, 12});
  std::vector<double> want = {58, 64, 139, 154};
  expectTensor(runBinary(OpKind::MatMul, a, b), {2, 2}, want);
  expectTensor(runBinary(OpKind::MatMul, aT, b, {flag("transpose_a", true)}), {2, 2}, want);
  expectTensor(runBinary(OpKind::MatMul, a, bT, {flag("transpose_b", true)}), {2, 2}, want);
  expectTensor(
      runBinary(OpKind::MatMul, aT, bT, {flag("transpose_a", true), flag("transpose_b", true)}),
      {2, 2}, want);
}

TEST(InterpMatMul, NonSquareAndEmptyInner) {
  // [1, 3] x [3, 1] = dot product.
  expectTensor(runBinary(OpKind::MatMul, f32({1, 3}, {1, 2, 3}), f32({3, 1}, {4, 5, 6})), {1, 1},
               {32});
  // K = 0: an empty sum is 0.
  expectTensor(runBinary(OpKind::MatMul, f32({2, 0}, {}), f32({0, 3}, {})), {2, 3},
               {0, 0, 0, 0, 0, 0});
}

// ---- shape -----------------------------------------------------------------

TEST(InterpShape, ReshapeCopiesInCOrder) {
  expectTensor(runUnary(OpKind::Reshape, {2, 3}, {1, 2, 3, 4, 5, 6}, {ints("shape", {3, 2})}),
               {3, 2}, {1, 2, 3, 4, 5, 6});
  expectTensor(runUnary(OpKind::Reshape, {2, 3}, {1, 2, 3, 4, 5, 6}, {ints("shape", {-1})}), {6},
               {1, 2, 3, 4, 5, 6});
}

TEST(InterpShape, ReshapeKeepsSymbolicDimsAndI32) {
  ModelBuilder m;
  int32_t B = m.dim("B");
  ValueId x = m.input("x", DType::I32, {Dim::sym(B), Dim::fixed(2), Dim::fixed(2)});
  AttrValue shape = AttrValue::values({AttrValue::name("B"), AttrValue::num(4)});
  ValueId y = m.op(OpKind::Reshape, {x}, {attr("shape", shape)});
  Graph g = m.finish();
  Interpreter it(g);
  ASSERT_TRUE(it.run({i32({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8})}).ok());
  EXPECT_EQ(it.value(y).dtype(), DType::I32);
  expectTensor(it.value(y), {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
}

TEST(InterpShape, TransposeDefaultReversesAxes) {
  // x[i][j][k] = 100 i + 10 j + k over [2, 3, 2]; the result is [2, 3, 2]
  // reversed: y[k][j][i] = x[i][j][k].
  std::vector<float> x;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 2; ++k)
        x.push_back(static_cast<float>(100 * i + 10 * j + k));
  std::vector<double> want;
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i)
        want.push_back(100 * i + 10 * j + k);
  expectTensor(runUnary(OpKind::Transpose, {2, 3, 2}, x), {2, 3, 2}, want);
  expectTensor(runUnary(OpKind::Transpose, {2, 3}, {1, 2, 3, 4, 5, 6}), {3, 2}, {1, 4, 2, 5, 3, 6});
}

TEST(InterpShape, TransposeWithPerm) {
  // perm [1, 0, 2] on [2, 3, 2]: y[j][i][k] = x[i][j][k].
  std::vector<float> x;
  for (int i = 0; i < 12; ++i)
    x.push_back(static_cast<float>(i));
  std::vector<double> want;
  for (int j = 0; j < 3; ++j)
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 2; ++k)
        want.push_back(i * 6 + j * 2 + k);
  expectTensor(runUnary(OpKind::Transpose, {2, 3, 2}, x, {ints("perm", {1, 0, 2})}), {3, 2, 2},
               want);
  // The identity permutation copies.
  expectTensor(runUnary(OpKind::Transpose, {2, 2}, {1, 2, 3, 4}, {ints("perm", {0, 1})}), {2, 2},
               {1, 2, 3, 4});
}

// ---- reductions ------------------------------------------------------------

TEST(InterpReduce, SumOverAllAndGivenAxes) {
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  expectTensor(runUnary(OpKind::Sum, {2, 3}, x), {}, {21});
  expectTensor(runUnary(OpKind::Sum, {2, 3}, x, {ints("axes", {1})}), {2}, {6, 15});
  expectTensor(runUnary(OpKind::Sum, {2, 3}, x, {ints("axes", {0}), flag("keepdims", true)}),
               {1, 3}, {5, 7, 9});
  expectTensor(runUnary(OpKind::Sum, {2, 3}, x, {ints("axes", {-1}), flag("keepdims", true)}),
               {2, 1}, {6, 15});
  expectTensor(runUnary(OpKind::Sum, {2, 3}, x, {flag("keepdims", true)}), {1, 1}, {21});
  // Rank 3, two axes: x[i][j][k] = 4i + 2j + k, keep j.
  expectTensor(runUnary(OpKind::Sum, {2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7}, {ints("axes", {0, 2})}),
               {2}, {10, 18});
  // An empty sum is 0.
  expectTensor(runUnary(OpKind::Sum, {2, 0}, {}, {ints("axes", {1})}), {2}, {0, 0});
}

TEST(InterpReduce, Mean) {
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  expectTensor(runUnary(OpKind::Mean, {2, 3}, x), {}, {3.5});
  expectTensor(runUnary(OpKind::Mean, {2, 3}, x, {ints("axes", {0})}), {3}, {2.5, 3.5, 4.5});
  expectTensor(runUnary(OpKind::Mean, {2, 3}, x, {ints("axes", {1}), flag("keepdims", true)}),
               {2, 1}, {2, 5});
  // The mean of nothing is 0 / 0, as in PyTorch.
  expectTensor(runUnary(OpKind::Mean, {0, 3}, {}, {ints("axes", {0})}), {3}, {kNaN, kNaN, kNaN});
}

TEST(InterpReduce, MaxPropagatesNaN) {
  std::vector<float> x = {1, 7, 3, -4, -5, -6};
  expectTensor(runUnary(OpKind::Max, {2, 3}, x), {}, {7});
  expectTensor(runUnary(OpKind::Max, {2, 3}, x, {ints("axes", {1})}), {2}, {7, -4});
  expectTensor(runUnary(OpKind::Max, {2, 3}, x, {ints("axes", {0}), flag("keepdims", true)}),
               {1, 3}, {1, 7, 3});
  expectTensor(runUnary(OpKind::Max, {2, 3}, {1, kNaNf, 3, -kInff, -kInff, 2}, {ints("axes", {1})}),
               {2}, {kNaN, 2});
}

TEST(InterpReduce, MaxOverAnEmptyAxisIsAnError) {
  // A static empty axis is refused when the model is checked...
  auto stat = parseModel("model m {\n  input x: f32[0, 3]\n  y = max(x, axes=[0])\n  output y\n}\n",
                         "m.ir");
  ASSERT_FALSE(stat.ok());
  EXPECT_EQ(stat.diags().list()[0].message, "max: cannot reduce over an empty axis of f32[0, 3]");
  // ... and a symbolic one bound to 0 at run time.
  auto g = parseModel("model m {\n  dim N\n  input x: f32[N, 3]\n  y = max(x, axes=[0])\n"
                      "  output y\n}\n",
                      "m.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  Interpreter it(*g);
  Status s = it.run({f32({0, 3}, {})});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.diags().list()[0].message, "max: cannot reduce over an empty axis of f32[0, 3]");
  EXPECT_EQ(s.diags().list()[0].loc.line, 4u);
}

TEST(InterpReduce, ArgMaxTakesTheFirstMax) {
  std::vector<float> x = {1, 3, 3, 7, 2, 7};
  Tensor last = runUnary(OpKind::ArgMax, {2, 3}, x);
  EXPECT_EQ(last.dtype(), DType::I32);
  expectTensor(last, {2}, {1, 0});
  expectTensor(runUnary(OpKind::ArgMax, {2, 3}, x, {attr("axis", 0)}), {3}, {1, 0, 1});
  expectTensor(runUnary(OpKind::ArgMax, {2, 3}, x, {attr("axis", -2)}), {3}, {1, 0, 1});
  // A NaN counts as the largest, as in PyTorch.
  expectTensor(runUnary(OpKind::ArgMax, {4}, {1, kNaNf, 5, kNaNf}), {}, {1});
}

TEST(InterpReduce, SoftmaxDefaultAxisIsLast) {
  double e1 = std::exp(1.0), e2 = std::exp(2.0), e3 = std::exp(3.0), s = e1 + e2 + e3;
  expectTensor(runUnary(OpKind::Softmax, {2, 3}, {1, 2, 3, 0, 0, 0}), {2, 3},
               {e1 / s, e2 / s, e3 / s, 1.0 / 3, 1.0 / 3, 1.0 / 3});
  // Axis 0: columns [0, 0] and [1, 3].
  double e = std::exp(2.0);
  expectTensor(runUnary(OpKind::Softmax, {2, 2}, {0, 1, 0, 3}, {attr("axis", 0)}), {2, 2},
               {0.5, 1 / (1 + e), 0.5, e / (1 + e)});
}

TEST(InterpReduce, SoftmaxIsStableForLargeInputs) {
  double e = std::exp(1.0);
  expectTensor(runUnary(OpKind::Softmax, {2}, {1000, 1001}), {2}, {1 / (1 + e), e / (1 + e)});
  expectTensor(runUnary(OpKind::LogSoftmax, {2}, {1000, 1001}), {2},
               {-std::log1p(e), 1 - std::log1p(e)});
}

TEST(InterpReduce, LogSoftmax) {
  double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  expectTensor(runUnary(OpKind::LogSoftmax, {3}, {1, 2, 3}), {3}, {1 - lse, 2 - lse, 3 - lse});
  double lse2 = std::log(std::exp(0.0) + std::exp(4.0));
  expectTensor(runUnary(OpKind::LogSoftmax, {2, 2}, {0, 1, 4, 1}, {attr("axis", 0)}), {2, 2},
               {-lse2, -std::log(2.0), 4 - lse2, -std::log(2.0)});
}

// ---- layernorm -------------------------------------------------------------

/// layernorm of a [rows, n] input, computed here in double.
std::vector<double> layerNormRef(const std::vector<float> &x, size_t n,
                                 const std::vector<double> &gamma, const std::vector<double> &beta,
                                 double eps) {
  std::vector<double> out;
  for (size_t r = 0; r < x.size() / n; ++r) {
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; ++i)
      mean += x[r * n + i];
    mean /= static_cast<double>(n);
    for (size_t i = 0; i < n; ++i)
      var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
    var /= static_cast<double>(n);
    for (size_t i = 0; i < n; ++i)
      out.push_back((x[r * n + i] - mean) / std::sqrt(var + eps) * gamma[i] + beta[i]);
  }
  return out;
}

Tensor runLayerNorm(std::vector<int64_t> shape, const std::vector<float> &x,
                    const std::vector<double> &gamma, const std::vector<double> &beta,
                    std::vector<GivenAttr> attrs = {}) {
  ModelBuilder m;
  int64_t n = shape.back();
  ValueId in = m.input("x", staticShape(shape));
  ValueId g = m.constant("gamma", staticShape({n}), gamma);
  ValueId b = m.constant("beta", staticShape({n}), beta);
  ValueId y = m.op(OpKind::LayerNorm, {in, g, b}, std::move(attrs));
  Graph graph = m.finish();
  Interpreter it(graph);
  EXPECT_TRUE(it.run({f32(shape, x)}).ok());
  return it.value(y);
}

TEST(InterpNorm, LayerNormByHand) {
  // [1, 2, 3, 4]: mean 2.5, biased variance 1.25.
  double sd = std::sqrt(1.25 + 1e-5);
  expectTensor(runLayerNorm({1, 4}, {1, 2, 3, 4}, {1, 1, 1, 1}, {0, 0, 0, 0}), {1, 4},
               {-1.5 / sd, -0.5 / sd, 0.5 / sd, 1.5 / sd});
}

TEST(InterpNorm, LayerNormGammaBetaEpsAndRank3) {
  std::vector<float> x = {1, 2, 3, 4, 5, 5, 5, 5, -1, 0.5f, 8, 2, 0, 0, 0, 1};
  std::vector<double> gamma = {2, 0.5, 1, -1}, beta = {0.1, 0.2, 0.3, 0.4};
  expectTensor(runLayerNorm({2, 2, 4}, x, gamma, beta), {2, 2, 4},
               layerNormRef(x, 4, gamma, beta, 1e-5), 1e-5);
  expectTensor(runLayerNorm({2, 2, 4}, x, gamma, beta, {attr("eps", 0.1)}), {2, 2, 4},
               layerNormRef(x, 4, gamma, beta, 0.1), 1e-5);
  // A constant row normalizes to 0, leaving beta.
  Tensor flat = runLayerNorm({1, 4}, {5, 5, 5, 5}, gamma, beta);
  expectTensor(flat, {1, 4}, beta);
}

// ---- conv2d and pooling ----------------------------------------------------

/// Runs conv2d(x, w[, b]) with static shapes.
Tensor runConv(const Tensor &x, const Tensor &w, const Tensor *bias,
               std::vector<GivenAttr> attrs = {}) {
  ModelBuilder m;
  std::vector<ValueId> operands = {m.input("x", staticShape(x.shape())),
                                   m.input("w", staticShape(w.shape()))};
  std::vector<Tensor> inputs = {x, w};
  if (bias) {
    operands.push_back(m.input("b", staticShape(bias->shape())));
    inputs.push_back(*bias);
  }
  ValueId y = m.op(OpKind::Conv2d, operands, std::move(attrs));
  Graph g = m.finish();
  Interpreter it(g);
  Status s = it.run(inputs);
  EXPECT_TRUE(s.ok()) << s.errorText();
  return it.value(y);
}

TEST(InterpConv, Conv2dDefaultsAreStride1NoPadding) {
  Tensor x = f32({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  expectTensor(runConv(x, w, nullptr), {1, 1, 2, 2}, {37, 47, 67, 77});
  Tensor b = f32({1}, {0.5f});
  expectTensor(runConv(x, w, &b), {1, 1, 2, 2}, {37.5, 47.5, 67.5, 77.5});
}

TEST(InterpConv, Conv2dStrideAndZeroPadding) {
  Tensor x = f32({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  expectTensor(runConv(x, w, nullptr, {attr("stride", 2), attr("padding", 1)}), {1, 1, 2, 2},
               {4, 18, 36, 77});
  expectTensor(runConv(x, w, nullptr, {ints("stride", {2, 1}), ints("padding", {1, 0})}),
               {1, 1, 2, 2}, {11, 18, 67, 77});
  // Padding 1, stride 1: a 4x4 output whose corners see one tap each.
  Tensor full = runConv(x, w, nullptr, {attr("padding", 1)});
  ASSERT_EQ(full.shape(), (std::vector<int64_t>{1, 1, 4, 4}));
  EXPECT_FLOAT_EQ(full.f32()[0], 4 * 1);
  EXPECT_FLOAT_EQ(full.f32()[3], 3 * 3);
  EXPECT_FLOAT_EQ(full.f32()[12], 2 * 7);
  EXPECT_FLOAT_EQ(full.f32()[15], 1 * 9);
  EXPECT_FLOAT_EQ(full.f32()[5], 37);
}

TEST(InterpConv, Conv2dSumsChannelsPerFilterAndBatch) {
  // Batch 2 (the second image doubled), 2 channels, 2 filters of 1x1.
  Tensor x = f32({2, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 2, 4, 6, 8, 10, 12, 14, 16});
  Tensor w = f32({2, 2, 1, 1}, {1, 10, -1, 0.5f});
  Tensor b = f32({2}, {0, 100});
  expectTensor(runConv(x, w, &b), {2, 2, 2, 2},
               {51, 62, 73, 84, 101.5, 101, 100.5, 100, 102, 124, 146, 168, 103, 102, 101, 100});
}

TEST(InterpConv, MaxPoolDefaultsToKernel2StrideKernel) {
  std::vector<float> x;
  for (int i = 0; i < 16; ++i)
    x.push_back(static_cast<float>(i));
  expectTensor(runUnary(OpKind::MaxPool2d, {1, 1, 4, 4}, x), {1, 1, 2, 2}, {5, 7, 13, 15});
  expectTensor(
      runUnary(OpKind::MaxPool2d, {1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {attr("stride", 1)}),
      {1, 1, 2, 2}, {5, 6, 8, 9});
  // A 5x5 input: the last row and column do not fit a window and are dropped.
  std::vector<float> y;
  for (int i = 0; i < 25; ++i)
    y.push_back(static_cast<float>(i));
  expectTensor(runUnary(OpKind::MaxPool2d, {1, 1, 5, 5}, y), {1, 1, 2, 2}, {6, 8, 16, 18});
  // NaN propagates; -inf is a value like any other.
  expectTensor(
      runUnary(OpKind::MaxPool2d, {1, 2, 2, 2}, {1, kNaNf, 3, 4, -kInff, -kInff, -kInff, -kInff}),
      {1, 2, 1, 1}, {kNaN, -kInf});
}

TEST(InterpConv, AvgPoolDividesByKernelArea) {
  std::vector<float> x;
  for (int i = 0; i < 16; ++i)
    x.push_back(static_cast<float>(i));
  expectTensor(runUnary(OpKind::AvgPool2d, {1, 1, 4, 4}, x), {1, 1, 2, 2}, {2.5, 4.5, 10.5, 12.5});
  expectTensor(runUnary(OpKind::AvgPool2d, {1, 1, 4, 4}, x, {ints("kernel", {2, 1})}), {1, 1, 2, 4},
               {2, 3, 4, 5, 10, 11, 12, 13});
  expectTensor(runUnary(OpKind::AvgPool2d, {1, 1, 4, 4}, x, {attr("kernel", 3), attr("stride", 1)}),
               {1, 1, 2, 2}, {5, 6, 9, 10});
}

// ---- losses ----------------------------------------------------------------

Tensor runLoss(OpKind op, const Tensor &pred, const Tensor &target) {
  return runBinary(op, pred, target);
}

TEST(InterpLoss, SseIsHalfTheSumOfSquares) {
  Tensor p = f32({3, 1}, {0.5f, 0.2f, 0.9f});
  Tensor t = f32({3, 1}, {1, 0, 1});
  double want = 0.5 * (0.25 + 0.04 + 0.01);
  expectTensor(runLoss(OpKind::Sse, p, t), {}, {want});
  // sse of an empty batch is 0.
  expectTensor(runLoss(OpKind::Sse, f32({0, 2}, {}), f32({0, 2}, {})), {}, {0});
}

TEST(InterpLoss, MseIsTheMeanOfSquares) {
  Tensor p = f32({3}, {0.5f, 0.2f, 0.9f});
  Tensor t = f32({3}, {1, 0, 1});
  expectTensor(runLoss(OpKind::Mse, p, t), {}, {(0.25 + 0.04 + 0.01) / 3});
  expectTensor(runLoss(OpKind::Mse, f32({0}, {}), f32({0}, {})), {}, {kNaN});
}

TEST(InterpLoss, BceIsTheMeanLogLossWithPyTorchClamp) {
  Tensor p = f32({3}, {0.5f, 0.2f, 0.9f});
  Tensor t = f32({3}, {1, 0, 1});
  double want = -(std::log(0.5) + std::log(1 - static_cast<double>(0.2f)) +
                  std::log(static_cast<double>(0.9f))) /
                3;
  expectTensor(runLoss(OpKind::Bce, p, t), {}, {want});
  // log 0 is clamped at -100: p = 0 with t = 1 costs 100; p = 1 with t = 1
  // costs 0 (0 * -100 on the other term).
  expectTensor(runLoss(OpKind::Bce, f32({2}, {0, 1}), f32({2}, {1, 1})), {}, {50});
  // A soft target.
  double soft = -(0.25 * std::log(static_cast<double>(0.6f)) +
                  0.75 * std::log(1 - static_cast<double>(0.6f)));
  expectTensor(runLoss(OpKind::Bce, f32({1}, {0.6f}), f32({1}, {0.25f})), {}, {soft});
}

TEST(InterpLoss, SoftmaxCrossEntropy) {
  Tensor logits = f32({3, 3}, {1, 2, 3, 1, 1, 1, 1000, 0, -1000});
  Tensor labels = i32({3}, {2, 0, 1});
  double row0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3;
  double row1 = std::log(3.0);
  double row2 = 1000; // stable: -log softmax = 1000 - 0 + log(1 + tiny)
  expectTensor(runLoss(OpKind::SoftmaxCrossEntropy, logits, labels), {},
               {(row0 + row1 + row2) / 3});
}

TEST(InterpLoss, SoftmaxCrossEntropyOfAnEmptyBatchIsNaN) {
  expectTensor(runLoss(OpKind::SoftmaxCrossEntropy, f32({0, 4}, {}), i32({0}, {})), {}, {kNaN});
}

} // namespace
} // namespace nnc::test
