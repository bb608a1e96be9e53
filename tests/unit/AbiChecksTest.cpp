/// The compiled model's C ABI checks every call before touching memory:
/// null or misaligned state and workspace, missing input/output arrays,
/// negative or huge dims, labels outside [0, classes). A refused call
/// returns its status and leaves the state (and the loss) as they were.
#include "codegen/Compiler.h"
#include "codegen/Layout.h"
#include "frontend/Parser.h"
#include "passes/Pass.h"
#include "runtime/Tensor.h"

#include "tests/unit/JitTestUtil.h"

#include <gtest/gtest.h>

#include <climits>
#include <cstring>

namespace nnc {
namespace {

using jittest::AlignedBuffer;

const char *kModel = "model m {\n"
                     "  dim B\n"
                     "  input x: f32[B, 4]\n"
                     "  input labels: i32[B]\n"
                     "  param w: f32[4, 3] = uniform(-1, 1, seed=1)\n"
                     "  logits = matmul(x, w)\n"
                     "  loss = softmax_cross_entropy(logits, labels)\n"
                     "  output logits\n"
                     "  minimize loss with sgd(lr=0.1)\n"
                     "}\n";

class AbiChecks : public ::testing::Test {
protected:
  void SetUp() override {
    Result<Graph> g = parseModel(kModel, "m.ir");
    ASSERT_TRUE(g.ok()) << g.errorText();
    model_ = std::move(g).value();
    step_ = model_;
    PassContext ctx;
    ASSERT_TRUE(runPipeline(step_, {"autodiff"}, ctx).ok());
    auto jit = jitCompile(model_, &step_, {});
    ASSERT_TRUE(jit.ok()) << jit.errorText();
    jit_ = std::move(jit).value();
    const ModelFunctions &f = jit_->functions();
    ASSERT_NE(f.trainStep, nullptr);
    // Room for a pointer 4 bytes past an aligned one.
    stateBytes_ = f.stateSize();
    state_ = std::make_unique<AlignedBuffer>(stateBytes_ + 64);
    ASSERT_EQ(f.init(state_->p), kAbiOk);
    initial_.assign(static_cast<const char *>(state_->p),
                    static_cast<const char *>(state_->p) + stateBytes_);
    workspace_ = std::make_unique<AlignedBuffer>(f.workspaceSize(dims_.data()) + 64);
  }

  const ModelFunctions &f() const { return jit_->functions(); }
  bool stateUnchanged() const { return std::memcmp(state_->p, initial_.data(), stateBytes_) == 0; }
  void *misaligned(void *p) const { return static_cast<char *>(p) + 4; }

  Graph model_, step_;
  std::unique_ptr<JitModel> jit_;
  uint64_t stateBytes_ = 0;
  std::unique_ptr<AlignedBuffer> state_, workspace_;
  std::string initial_;
  std::vector<int64_t> dims_{4};
  Tensor x_ = Tensor::f32({4, 4}, std::vector<float>(16, 0.5f));
  Tensor labels_ = Tensor::i32({4}, std::vector<int32_t>{0, 1, 2, 1});
};

TEST_F(AbiChecks, InitRefusesNullAndMisalignedState) {
  EXPECT_EQ(f().init(nullptr), kAbiBadBuffer);
  EXPECT_EQ(f().init(misaligned(state_->p)), kAbiBadBuffer);
  EXPECT_TRUE(stateUnchanged());
}

TEST_F(AbiChecks, BadBuffersAreRefusedBeforeAnyWrite) {
  const void *in[] = {x_.data(), labels_.data()};
  const void *inNull[] = {x_.data(), nullptr};
  Tensor out(DType::F32, {4, 3});
  void *outs[] = {out.data()};
  void *outsNull[] = {nullptr};
  void *s = state_->p, *w = workspace_->p;
  const int64_t *d = dims_.data();
  float loss = 12345.0f;
  struct Case {
    const char *what;
    int infer, train;
  };
  Case cases[] = {
      {"null state", f().infer(nullptr, w, d, in, outs), f().trainStep(nullptr, w, d, in, &loss)},
      {"misaligned state", f().infer(misaligned(s), w, d, in, outs),
       f().trainStep(misaligned(s), w, d, in, &loss)},
      {"null workspace", f().infer(s, nullptr, d, in, outs),
       f().trainStep(s, nullptr, d, in, &loss)},
      {"misaligned workspace", f().infer(s, misaligned(w), d, in, outs),
       f().trainStep(s, misaligned(w), d, in, &loss)},
      {"null inputs", f().infer(s, w, d, nullptr, outs), f().trainStep(s, w, d, nullptr, &loss)},
      {"a null input", f().infer(s, w, d, inNull, outs), f().trainStep(s, w, d, inNull, &loss)},
  };
  for (const Case &c : cases) {
    EXPECT_EQ(c.infer, kAbiBadBuffer) << "infer with " << c.what;
    EXPECT_EQ(c.train, kAbiBadBuffer) << "train_step with " << c.what;
  }
  EXPECT_EQ(f().infer(s, w, d, in, nullptr), kAbiBadBuffer);
  EXPECT_EQ(f().infer(s, w, d, in, outsNull), kAbiBadBuffer);
  EXPECT_TRUE(stateUnchanged());
  EXPECT_EQ(loss, 12345.0f);
}

TEST_F(AbiChecks, BadDimsAreRefused) {
  const void *in[] = {x_.data(), labels_.data()};
  Tensor out(DType::F32, {4, 3});
  void *outs[] = {out.data()};
  float loss = 12345.0f;
  EXPECT_EQ(f().infer(state_->p, workspace_->p, nullptr, in, outs), kAbiBadDim);
  EXPECT_EQ(f().trainStep(state_->p, workspace_->p, nullptr, in, &loss), kAbiBadDim);
  for (int64_t bad :
       {int64_t{-1}, int64_t{-4}, int64_t{1} << 31, int64_t{1} << 40, INT64_MAX, INT64_MIN}) {
    int64_t dims[] = {bad};
    EXPECT_EQ(f().infer(state_->p, workspace_->p, dims, in, outs), kAbiBadDim) << bad;
    EXPECT_EQ(f().trainStep(state_->p, workspace_->p, dims, in, &loss), kAbiBadDim) << bad;
  }
  EXPECT_TRUE(stateUnchanged());
  EXPECT_EQ(loss, 12345.0f);
}

TEST_F(AbiChecks, WorkspaceSizeOfNullDimsIsZero) {
  EXPECT_EQ(f().workspaceSize(nullptr), 0u);
  EXPECT_GT(f().workspaceSize(dims_.data()), 0u);
}

TEST_F(AbiChecks, OutOfRangeLabelsAreRefusedWithoutAnUpdate) {
  for (int32_t bad : {3, -1, INT_MAX, INT_MIN}) {
    Tensor labels = labels_.clone();
    labels.i32()[3] = bad;
    const void *in[] = {x_.data(), labels.data()};
    Tensor out(DType::F32, {4, 3});
    void *outs[] = {out.data()};
    float loss = 12345.0f;
    EXPECT_EQ(f().infer(state_->p, workspace_->p, dims_.data(), in, outs), kAbiBadLabel) << bad;
    EXPECT_EQ(f().trainStep(state_->p, workspace_->p, dims_.data(), in, &loss), kAbiBadLabel)
        << bad;
    EXPECT_TRUE(stateUnchanged()) << "state updated despite label " << bad;
    EXPECT_EQ(loss, 12345.0f);
  }
  // And a good call still works afterwards.
  const void *in[] = {x_.data(), labels_.data()};
  float loss = 0;
  EXPECT_EQ(f().trainStep(state_->p, workspace_->p, dims_.data(), in, &loss), kAbiOk);
  EXPECT_GT(loss, 0.0f);
  EXPECT_FALSE(stateUnchanged());
}

} // namespace
} // namespace nnc
