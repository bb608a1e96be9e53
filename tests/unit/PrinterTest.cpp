/// The canonical printer: number formatting against numpy's repr, and
/// printing as a fixed point.
#include "frontend/Parser.h"
#include "ir/Printer.h"

#include <gtest/gtest.h>

namespace nnc {
namespace {

TEST(FormatNumber, MatchesNumpyReprWithoutTrailingZeroOrPlus) {
  // Left: the value; right: repr(numpy.float32(v)) (computed with numpy
  // 1.24) with ".0", "+" and exponent zeros removed as IR.md requires.
  const std::pair<double, const char *> cases[] = {
      {1, "1"},
      {0.1, "0.1"},
      {1e-5, "1e-5"},
      {1e20, "1e20"},
      {-2.5, "-2.5"},
      {0.5, "0.5"},
      {1e-4, "1e-4"},
      {9.999e-5, "9.999e-5"},
      {123456789, "123456790"},
      {1e16, "1e16"},
      {9.9e15, "9900000000000000"},
      {1.0 / 3.0, "0.33333334"},
      {9.5367431640625e-07, "9.536743e-7"},
      {3.4028235e38, "3.4028235e38"},
      {1.17549435e-38, "1.1754944e-38"},
      {1e-45, "1e-45"},
      {100000, "100000"},
      {0.01, "0.01"},
      {-0.001, "-0.001"},
      {65504, "65504"},
      {1.5e-7, "1.5e-7"},
      {0.1 + 0.2, "0.3"},
      {0, "0"},
      {-2, "-2"},
  };
  for (const auto &[value, expected] : cases)
    EXPECT_EQ(formatNumber(value), expected) << "value " << value;
}

std::string printed(const std::string &text) {
  Result<Graph> g = parseModel(text, "test.ir");
  EXPECT_TRUE(g.ok()) << g.errorText();
  return g ? printGraph(*g) : "";
}

const char *kXor = R"(# xor.ir
model xor {
  dim B                                   # a symbolic dimension (batch size)
  input x: f32[B, 2]
  input y: f32[B, 1]
  param w1: f32[2, 2] = uniform(-1, 1, seed=1)
  param b1: f32[2]    = zeros()
  param w2: f32[2, 1] = uniform(-1, 1, seed=2)
  param b2: f32[1]    = zeros()
  h    = sigmoid(matmul(x, w1) + b1)
  yhat = sigmoid(matmul(h, w2) + b2)
  loss = sse(yhat, y)
  output yhat
  minimize loss with sgd(lr=0.5)
}
)";

TEST(Printer, XorCanonicalFormIsExactlyAsSpecified) {
  EXPECT_EQ(printed(kXor), R"(model xor {
  dim B
  input x: f32[B, 2]
  input y: f32[B, 1]
  param w1: f32[2, 2] = uniform(-1, 1, seed=1)
  param b1: f32[2] = zeros()
  param w2: f32[2, 1] = uniform(-1, 1, seed=2)
  param b2: f32[1] = zeros()
  t0: f32[B, 2] = matmul(x, w1)
  t1: f32[B, 2] = add(t0, b1)
  h: f32[B, 2] = sigmoid(t1)
  t2: f32[B, 1] = matmul(h, w2)
  t3: f32[B, 1] = add(t2, b2)
  yhat: f32[B, 1] = sigmoid(t3)
  loss: f32[] = sse(yhat, y)
  output yhat
  minimize loss with sgd(lr=0.5)
}
)");
}

TEST(Printer, IsAFixedPoint) {
  std::string once = printed(kXor);
  EXPECT_EQ(printed(once), once);
}

TEST(Printer, TemporariesSkipUserNamesAndNumbersStayInline) {
  std::string text = R"(model m {
  dim B
  input x: f32[B, 3]
  t0 = mul(x, -2)
  t2 = x * -2 + 1 - x
  output t2
})";
  EXPECT_EQ(printed(text), R"(model m {
  dim B
  input x: f32[B, 3]
  t0: f32[B, 3] = mul(x, -2)
  t1: f32[B, 3] = mul(x, -2)
  t3: f32[B, 3] = add(t1, 1)
  t2: f32[B, 3] = sub(t3, x)
  output t2
}
)");
}

TEST(Printer, AttributesDefaultsAndPairs) {
  std::string text = R"(model m {
  dim B
  input x: f32[B, 3, 8, 8]
  param w: f32[4, 3, 3, 3] = he_normal(seed=0)
  param b: f32[4] = zeros()
  c = conv2d(x, w, b, stride=[1, 1], padding=[1, 1])
  d = conv2d(x, w, stride=[2, 1])
  p = maxpool2d(c, kernel=2, stride=[2, 2])
  q = avgpool2d(c, kernel=[2, 2], stride=1)
  r = leaky_relu(p, alpha=0.01)
  s = leaky_relu(p, alpha=0.2)
  u = sum(x, axes=[1, -1], keepdims=false)
  v = mean(x, axes=2, keepdims=true)
  k = softmax(x, axis=-1)
  z = reshape(x, shape=[B, -1])
  y = transpose(z)
  output c, d, q, r, s, u, v, k, y
})";
  EXPECT_EQ(printed(text), R"(model m {
  dim B
  input x: f32[B, 3, 8, 8]
  param w: f32[4, 3, 3, 3] = he_normal()
  param b: f32[4] = zeros()
  c: f32[B, 4, 8, 8] = conv2d(x, w, b, padding=1)
  d: f32[B, 4, 3, 6] = conv2d(x, w, stride=[2, 1])
  p: f32[B, 4, 4, 4] = maxpool2d(c)
  q: f32[B, 4, 7, 7] = avgpool2d(c, stride=1)
  r: f32[B, 4, 4, 4] = leaky_relu(p)
  s: f32[B, 4, 4, 4] = leaky_relu(p, alpha=0.2)
  u: f32[B, 8] = sum(x, axes=[1, -1])
  v: f32[B, 3, 1, 8] = mean(x, axes=[2], keepdims=true)
  k: f32[B, 3, 8, 8] = softmax(x)
  z: f32[B, 192] = reshape(x, shape=[B, -1])
  y: f32[192, B] = transpose(z)
  output c, d, q, r, s, u, v, k, y
}
)");
}

TEST(Printer, StatesConstsLiteralsAndUpdates) {
  std::string text = R"(model m {
  dim N
  input x: f32[N, 2]
  const k: f32[2, 2] = [[0.1, 0.4],
                        [0.8, 0.6]]
  const e: f32[0] = []
  const n: i32[] = 3
  param w: f32[2, 1] = [[0.3], [0.9]]
  state count: i32[] = zeros()
  state v: f32[2, 1] = fill(0.5)
  y = matmul(matmul(x, k), w)
  loss = sse(y, y)
  count <- count + 1
  v <- v * 0.9 + w
  w <- w - 0.1 * v
  output y
  minimize loss with adam(lr=0.001, beta2=0.99)
})";
  std::string once = printed(text);
  EXPECT_EQ(once, R"(model m {
  dim N
  input x: f32[N, 2]
  param w: f32[2, 1] = [[0.3], [0.9]]
  state count: i32[] = zeros()
  state v: f32[2, 1] = fill(0.5)
  const k: f32[2, 2] = [[0.1, 0.4], [0.8, 0.6]]
  const e: f32[0] = []
  const n: i32[] = 3
  t0: f32[N, 2] = matmul(x, k)
  y: f32[N, 1] = matmul(t0, w)
  loss: f32[] = sse(y, y)
  t1: i32[] = add(count, 1)
  t2: f32[2, 1] = mul(v, 0.9)
  t3: f32[2, 1] = add(t2, w)
  t4: f32[2, 1] = mul(0.1, v)
  t5: f32[2, 1] = sub(w, t4)
  count <- t1
  v <- t3
  w <- t5
  output y
  minimize loss with adam(lr=0.001, beta2=0.99)
}
)");
  EXPECT_EQ(printed(once), once);
}

} // namespace
} // namespace nnc
