/// Resource limits: sizes over the limit, or whose arithmetic overflows,
/// are clear located errors, never an overflow or an out-of-memory kill.
#include "ir/Limits.h"
#include "frontend/Parser.h"
#include "ir/Verifier.h"
#include "runtime/Interpreter.h"
#include "runtime/Tensor.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace nnc {
namespace {

Graph parse(const std::string &text) {
  Result<Graph> g = parseModel(text, "limits.ir");
  EXPECT_TRUE(g.ok()) << g.errorText();
  return g.ok() ? std::move(g).value() : Graph{};
}

TEST(Limits, CheckedElementsDetectsOverflowAndNegatives) {
  std::vector<int64_t> ok{2, 3, 4}, over{int64_t{1} << 32, int64_t{1} << 32}, negative{2, -1},
      empty{};
  EXPECT_EQ(checkedElements(ok), 24);
  EXPECT_EQ(checkedElements(empty), 1);
  EXPECT_FALSE(checkedElements(over));
  EXPECT_FALSE(checkedElements(negative));
}

TEST(Limits, TensorSizeProblemNamesTheTypeAndTheLimit) {
  std::vector<int64_t> big{100000, 100000};
  auto problem = tensorSizeProblem(DType::F32, big);
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("f32[100000, 100000] needs 40000000000 bytes"), std::string::npos)
      << *problem;
  EXPECT_NE(problem->find("NNC_MAX_TENSOR_BYTES"), std::string::npos);
  std::vector<int64_t> small{1000, 1000};
  EXPECT_FALSE(tensorSizeProblem(DType::F32, small));
}

TEST(Limits, TensorConstructorRefusesHugeShapes) {
  EXPECT_THROW(Tensor(DType::F32, {100000, 100000}), std::length_error);
  EXPECT_THROW(Tensor(DType::F32, {int64_t{1} << 40, int64_t{1} << 40}), std::length_error);
  EXPECT_THROW(Tensor(DType::I32, {-1}), std::length_error);
  EXPECT_EQ(Tensor(DType::F32, {0, 5}).numel(), 0);
}

TEST(Limits, HugeParamIsALocatedVerifierError) {
  Graph g = parse("model big {\n"
                  "  input x: f32[1, 100000]\n"
                  "  param w: f32[100000, 100000] = zeros()\n"
                  "  y = matmul(x, w)\n"
                  "  output y\n"
                  "}\n");
  Diagnostics d = verifyGraph(g);
  ASSERT_TRUE(d.hasErrors());
  std::string text = d.render();
  EXPECT_NE(text.find("limits.ir:3:"), std::string::npos) << text;
  EXPECT_NE(text.find("'w': f32[100000, 100000] needs 40000000000 bytes"), std::string::npos)
      << text;
}

TEST(Limits, OverflowingStaticShapeIsAVerifierError) {
  Result<Graph> g = parseModel("model big {\n"
                               "  input x: f32[2147483647, 2147483647, 2147483647]\n"
                               "  output x\n"
                               "}\n",
                               "limits.ir");
  std::string text = g.ok() ? verifyGraph(*g).render() : g.errorText();
  EXPECT_NE(text.find("limits.ir:2:"), std::string::npos) << text;
  EXPECT_NE(text.find("more elements than a 64-bit count holds"), std::string::npos) << text;
}

TEST(Limits, ManyParamsTogetherOverTheLimitAreAnError) {
  std::string text = "model big {\n  input x: f32[1]\n";
  // 5 x 4 GiB: each fits the 16 GiB default, together they do not.
  for (int i = 0; i < 5; ++i)
    text += "  param p" + std::to_string(i) + ": f32[1073741824] = zeros()\n";
  text += "  output x\n}\n";
  Graph g = parse(text);
  std::string errors = verifyGraph(g).render();
  EXPECT_NE(errors.find("params and state need more than"), std::string::npos) << errors;
}

TEST(Limits, SymbolicDimValuesAreCheckedAtRunTime) {
  Graph g = parse("model m {\n"
                  "  dim B\n"
                  "  input x: f32[B, 784]\n"
                  "  y = relu(x)\n"
                  "  output y\n"
                  "}\n");
  EXPECT_TRUE(checkValueSizes(g, {64}).ok());
  Status huge = checkValueSizes(g, {int64_t{1} << 40});
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.errorText().find("limits.ir:3:"), std::string::npos) << huge.errorText();
  EXPECT_NE(huge.errorText().find("(with B = 1099511627776)"), std::string::npos)
      << huge.errorText();
  Status overflow = checkValueSizes(g, {int64_t{1} << 60});
  ASSERT_FALSE(overflow.ok());
  EXPECT_NE(overflow.errorText().find("more elements than a 64-bit count holds"), std::string::npos)
      << overflow.errorText();
}

TEST(Limits, InterpreterRefusesAnIntermediateOverTheLimit) {
  // [B, 1] x [1, B]: a B x B result from small inputs.
  Graph g = parse("model m {\n"
                  "  dim B\n"
                  "  input a: f32[B, 1]\n"
                  "  input b: f32[1, B]\n"
                  "  y = matmul(a, b)\n"
                  "  output y\n"
                  "}\n");
  int64_t n = int64_t{1} << 17; // (2^17)^2 * 4 bytes = 64 GiB
  Interpreter interp(g);
  Status s = interp.run({Tensor(DType::F32, {n, 1}), Tensor(DType::F32, {1, n})});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.errorText().find("limits.ir:5:"), std::string::npos) << s.errorText();
  EXPECT_NE(s.errorText().find("needs 68719476736 bytes"), std::string::npos) << s.errorText();
}

TEST(Limits, DeepNestingIsAnErrorNotAStackOverflow) {
  std::string deep(100000, '(');
  Result<Graph> g = parseModel("model m {\n  input x: f32[2]\n  y = " + deep + "x" +
                                   std::string(100000, ')') + "\n  output y\n}\n",
                               "deep.ir");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.errorText().find("nests too deeply"), std::string::npos) << g.errorText();
  std::string calls;
  for (int i = 0; i < 20000; ++i)
    calls += "relu(";
  Result<Graph> h = parseModel("model m {\n  input x: f32[2]\n  y = " + calls + "x" +
                                   std::string(20000, ')') + "\n  output y\n}\n",
                               "deep.ir");
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.errorText().find("nests too deeply"), std::string::npos) << h.errorText();
}

} // namespace
} // namespace nnc
