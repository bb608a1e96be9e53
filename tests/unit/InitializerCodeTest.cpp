// P_init computes initial values from the initializers (codegen/InitializerCode.h)
// bit for bit as the interpreter does, and an object no longer carries its
// random weights: its size does not grow with them.
#include "tests/unit/JitTestUtil.h"
#include "codegen/Compiler.h"
#include "codegen/Layout.h"
#include "frontend/Parser.h"
#include "passes/Pipeline.h"
#include "runtime/Initializers.h"

#include <gtest/gtest.h>

#include <cstring>

namespace nnc {
namespace {

/// Compiles `model` (its training step when it has one) and checks that
/// P_init writes, for every param and state, exactly initialTensor()'s bits.
void expectInitLikeTheInterpreter(const Graph &model) {
  PassContext ctx;
  auto infer = optimizedInference(model, ctx);
  ASSERT_TRUE(infer.ok()) << infer.errorText();
  std::optional<Graph> train;
  if (hasTrainingStep(model)) {
    auto step = optimizedTrainingStep(model, ctx);
    ASSERT_TRUE(step.ok()) << step.errorText();
    train = std::move(step).value();
  }
  auto jit = jitCompile(*infer, train ? &*train : nullptr, {});
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  const ModelFunctions &f = (*jit)->functions();
  jittest::AlignedBuffer state(f.stateSize());
  std::memset(state.p, 0xab, f.stateSize()); // P_init must write every byte it owns
  ASSERT_EQ(f.init(state.p), 0);
  const Graph &g = train ? *train : *infer;
  for (const auto &[name, offset] : layoutState(*infer, train ? &*train : nullptr).entries) {
    Tensor want = initialTensor(g, g.findValue(name));
    ASSERT_EQ(std::memcmp(static_cast<char *>(state.p) + offset, want.data(),
                          static_cast<size_t>(want.bytes())),
              0)
        << model.name << ": " << name;
  }
}

TEST(InitializerCode, EveryInitializerMatchesTheInterpreterBitForBit) {
  auto g = parseModel(R"(model inits {
  dim B
  input x: f32[B, 3]
  param u: f32[7, 3] = uniform(-0.5, 2, seed=3)
  param un: f32[3, 3] = uniform(-1, -1, seed=-4)
  param n: f32[3, 5] = normal(1, 0.25, seed=9)
  param g2: f32[3, 4] = glorot_uniform(seed=11)
  param g4: f32[2, 3, 3, 3] = glorot_uniform(seed=12)
  param h2: f32[3, 4] = he_normal(seed=13)
  param h4: f32[4, 3, 2, 2] = he_normal()
  param o: f32[5] = ones()
  param f: f32[2, 2] = fill(-3.25)
  param lit: f32[2] = [0.1, -7]
  param z: f32[0, 3] = []
  state k: i32[3] = fill(7)
  state s: f32[] = fill(0.5)
  y = matmul(x, u, transpose_b=true)
  output y
}
)",
                      "inits.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  expectInitLikeTheInterpreter(*g);
}

TEST(InitializerCode, EveryExampleStartsFromTheInterpretersValues) {
  for (const char *name : {"xor.ir", "mlp.ir", "cnn.ir", "resnet_s.ir", "backprop_example.ir",
                           "perceptron_rule.ir", "digits_mlp.ir"}) {
    auto g = loadModelFile(std::string(NNC_SOURCE_DIR "/examples/") + name);
    ASSERT_TRUE(g.ok()) << g.errorText();
    expectInitLikeTheInterpreter(*g);
  }
}

TEST(InitializerCode, AnObjectDoesNotCarryItsRandomWeights) {
  // 2048 x 2048 floats are 16 MiB of data; as code they are a loop.
  auto g = parseModel("model big {\n  dim B\n  input x: f32[B, 2048]\n"
                      "  param w: f32[2048, 2048] = he_normal(seed=1)\n"
                      "  y = matmul(x, w)\n  output y\n}\n",
                      "big.ir");
  ASSERT_TRUE(g.ok());
  PassContext ctx;
  auto infer = optimizedInference(*g, ctx);
  ASSERT_TRUE(infer.ok());
  auto object = compileObject(jittest::planned(*infer), {});
  ASSERT_TRUE(object.ok()) << object.errorText();
  EXPECT_LT(object->size(), 256u * 1024) << "the object holds " << object->size() << " bytes";
}

} // namespace
} // namespace nnc
