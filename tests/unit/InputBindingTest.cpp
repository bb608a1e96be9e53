// Binding a call's tensors to a model's inputs (runtime/InputBinding.h): the
// interpreter and the JIT give the same located errors, and a mismatch says
// where each dim got its value.
#include "codegen/Session.h"
#include "frontend/Parser.h"
#include "runtime/InputBinding.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

namespace nnc {
namespace {

Graph model() {
  auto g = parseModel("model m {\n  dim B\n  input x: f32[B, 2]\n  input t: f32[B, 1]\n"
                      "  y = sum(x, axes=[1], keepdims=true) - t\n  output y\n}\n",
                      "m.ir");
  EXPECT_TRUE(g.ok()) << g.errorText();
  return std::move(g).value();
}

/// The one error both engines give for `inputs`, which must be the same.
std::string errorOf(const std::vector<Tensor> &inputs) {
  Graph g = model();
  Interpreter interp(g);
  Status fromInterp = interp.run(inputs);
  auto session = JitSession::create(g, nullptr);
  EXPECT_TRUE(session.ok()) << session.errorText();
  auto fromJit = (*session)->infer(inputs);
  EXPECT_FALSE(fromInterp.ok());
  EXPECT_FALSE(fromJit.ok());
  EXPECT_EQ(fromInterp.errorText(), fromJit.errorText());
  return fromInterp.errorText();
}

TEST(InputBinding, AMismatchNamesWhereItsDimsGotTheirValues) {
  EXPECT_EQ(errorOf({Tensor(DType::F32, {4, 2}), Tensor(DType::F32, {4, 3})}),
            "m.ir:4:9: error: input 't' expects f32[B, 1] but got f32[4, 3] (B = 4 from input "
            "'x')\n  input t: f32[B, 1]\n        ^\n");
}

TEST(InputBinding, TwoInputsThatDisagreeOnADim) {
  EXPECT_EQ(errorOf({Tensor(DType::F32, {4, 2}), Tensor(DType::F32, {5, 1})}),
            "m.ir:4:9: error: input 't' has 5 for dim B but input 'x' set B = 4\n"
            "  input t: f32[B, 1]\n        ^\n");
}

TEST(InputBinding, WrongDtypeOrRankOrNoTensor) {
  std::string dtype = errorOf({Tensor(DType::I32, {4, 2}), Tensor(DType::F32, {4, 1})});
  EXPECT_NE(dtype.find("input 'x' expects f32[B, 2] but got i32[4, 2]"), std::string::npos)
      << dtype;
  std::string none = errorOf({Tensor(DType::F32, {4, 2}), Tensor()});
  EXPECT_NE(none.find("input 't' expects f32[B, 1] but got no tensor"), std::string::npos) << none;
}

TEST(InputBinding, AnUnusedInputMayBeLeftOutAndItsDimsStayUnbound) {
  auto g = parseModel("model m {\n  dim B\n  dim N\n  input x: f32[B, 2]\n  input u: f32[N]\n"
                      "  y = relu(x)\n  output y\n}\n",
                      "m.ir");
  ASSERT_TRUE(g.ok());
  auto dims = bindInputs(*g, {Tensor(DType::F32, {3, 2}), Tensor()});
  ASSERT_TRUE(dims.ok()) << dims.errorText();
  EXPECT_EQ(*dims, (std::vector<int64_t>{3, -1}));
}

} // namespace
} // namespace nnc
