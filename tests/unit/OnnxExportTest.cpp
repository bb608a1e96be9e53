/// ONNX export (frontend/onnx/OnnxExport.h): every example model exports to
/// an ONNX model that ONNX's checker accepts (the exporter checks), imports
/// back, and computes the outputs of the model it came from (the
/// interpreter on both, the same inputs); fused ops export as the ops they
/// fuse; what has no ONNX form is an error naming the op.
#include "JitTestUtil.h"
#include "frontend/ModelFile.h"
#include "frontend/onnx/OnnxExport.h"
#include "frontend/onnx/OnnxImport.h"
#include "runtime/io/ExternalWeights.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace nnc {
namespace {

/// `g` exported with its initial values, then imported back.
Graph roundTrip(const Graph &g) {
  Interpreter values(g);
  Result<std::string> bytes =
      exportOnnx(g, [&](ValueId id) { return values.stateTensor(id).clone(); });
  EXPECT_TRUE(bytes.ok()) << bytes.errorText();
  if (!bytes.ok())
    return {};
  OnnxImportOptions options;
  options.weightsFile = "<exported>";
  Result<OnnxImport> imported = importOnnxBytes(*bytes, "exported.onnx", options);
  EXPECT_TRUE(imported.ok()) << imported.errorText();
  if (!imported.ok())
    return {};
  Graph back = jittest::parsedOrFail(imported->text, "exported.onnx (imported)");
  Status attached = attachWeights(back, imported->weights, options.weightsFile);
  EXPECT_TRUE(attached.ok()) << attached.errorText() << imported->text;
  return back;
}

/// The outputs of `g` and of its round trip agree on the same inputs
/// (every dim 3; i32 inputs in [0, 10)).
void expectRoundTripComputesTheSame(const Graph &g, const std::string &what) {
  SCOPED_TRACE(what);
  Graph back = roundTrip(g);
  if (back.values.empty())
    return;
  std::vector<int64_t> dims(g.dims.size(), 3);
  std::vector<Tensor> inputs = jittest::randomInputs(g, dims, 10, nullptr);
  std::map<std::string, Tensor> byName;
  std::vector<ValueId> ids = g.valuesOfKind(ValueKind::Input);
  for (size_t k = 0; k < ids.size(); ++k)
    byName[g.value(ids[k]).name] = inputs[k];
  std::vector<Tensor> backInputs;
  for (ValueId id : back.valuesOfKind(ValueKind::Input))
    backInputs.push_back(byName.at(back.value(id).name));
  Interpreter a(g), b(back);
  Status ranA = a.run(inputs), ranB = b.run(backInputs);
  ASSERT_TRUE(ranA.ok()) << ranA.errorText();
  ASSERT_TRUE(ranB.ok()) << ranB.errorText();
  ASSERT_EQ(g.outputs.size(), back.outputs.size());
  for (size_t k = 0; k < g.outputs.size(); ++k)
    jittest::expectClose(b.value(back.outputs[k].value), a.value(g.outputs[k].value),
                         what + ", output " + std::to_string(k));
}

TEST(OnnxExport, EveryExampleComesBackComputingTheSame) {
  for (const char *name :
       {"xor.ir", "backprop_example.ir", "perceptron.ir", "mcculloch_pitts.ir", "mlp.ir",
        "digits_mlp.ir", "cnn.ir", "resnet_s.ir", "resnet_bn.ir", "transformer_lm.ir"}) {
    Result<Graph> g = loadModel(std::string(NNC_SOURCE_DIR) + "/examples/" + name);
    ASSERT_TRUE(g.ok()) << g.errorText();
    expectRoundTripComputesTheSame(*g, name);
  }
}

/// The element-wise ops, the shape ops and the fused ops (written here as
/// a fusion pass would), each exported as the ops it stands for.
TEST(OnnxExport, OpsAndFusedOpsComeBackComputingTheSame) {
  std::string text = R"(model ops {
  dim B
  input x: f32[B, 4]
  input i: i32[B, 2]
  param w: f32[4, 4] = uniform(-1, 1, seed=1)
  param b: f32[4] = uniform(-1, 1, seed=2)
  param g: f32[4] = ones()
  param emb: f32[10, 3] = normal(0, 1, seed=3)
  a = gelu(x) + step(x) * leaky_relu(x, alpha=0.2) - clip(x, min=-0.5)
  c = where(eq(x, 0.25), softplus(x), maximum(x, minimum(x, 0.1)) / pow(abs(x) + 1, 0.5))
  m = fused_matmul(x, w, b, activation=gelu)
  n = fused_matmul(x, w, transpose_b=true)
  l = fused_add_layernorm(m, n, g, b, eps=0.001)
  e = fused_elementwise(a, c, 0.5, program=[[mul, 0, 2], [sub, 3, 1], [relu, 4]])
  r = reshape(transpose(concat(a, l, axis=1), perm=[1, 0]), shape=[4, B, 2])
  s = sum(slice(r, axis=0, start=1, step=2), axes=[0]) + mean(r, axes=[0], keepdims=false)
  t = log_softmax(tril(matmul(x, x, transpose_b=true), k=-1) + triu(matmul(x, x, transpose_b=true)))
  k = gather(emb, cast(cast(i, to=f32), to=i32), axis=0)
  q = reshape(x, shape=[B, 1, 4])
  f = fused_attention(q, q, q, scale=0.5)
  o = argmax(layernorm(e, g, b), axis=-1)
  z = max(x, axes=[1], keepdims=true)
  output s, t, k, f, o, z
}
)";
  Graph g = jittest::parsedOrFail(text);
  expectRoundTripComputesTheSame(g, "ops");
}

/// fused_conv2d exports as Conv and its activation (with and without bias).
TEST(OnnxExport, FusedConvolutionsComeBackComputingTheSame) {
  std::string text = R"(model convs {
  dim B
  input x: f32[B, 2, 6, 6]
  param w: f32[3, 2, 3, 3] = uniform(-1, 1, seed=1)
  param b: f32[3] = uniform(-1, 1, seed=2)
  r = fused_conv2d(x, w, b, padding=1, activation=relu)
  l = fused_conv2d(x, w, stride=2, activation=leaky_relu, alpha=0.2)
  n = fused_conv2d(x, w, b)
  output r, l, n
}
)";
  Graph g = jittest::parsedOrFail(text);
  expectRoundTripComputesTheSame(g, "convs");
}

/// The error of exporting model `text`, which must fail.
std::string exportError(const std::string &text) {
  Graph g = jittest::parsedOrFail(text);
  Interpreter values(g);
  Result<std::string> bytes =
      exportOnnx(g, [&](ValueId id) { return values.stateTensor(id).clone(); });
  EXPECT_FALSE(bytes.ok());
  return bytes.ok() ? "" : bytes.errorText();
}

TEST(OnnxExport, ALossHasNoOnnxFormAndIsAnErrorNamingIt) {
  std::string error = exportError("model l {\n  input x: f32[2, 3]\n  input y: f32[2, 3]\n"
                                  "  e = mse(x, y)\n  output e\n}\n");
  EXPECT_NE(error.find("mse has no ONNX form"), std::string::npos) << error;
}

TEST(OnnxExport, ABf16MatMulIsAnErrorNamingItsPrecision) {
  std::string error = exportError("model l {\n  input x: f32[2, 3]\n  input w: f32[3, 4]\n"
                                  "  y = matmul(x, w, precision=bf16)\n  output y\n}\n");
  EXPECT_NE(error.find("m.ir:4:"), std::string::npos) << error;
  EXPECT_NE(error.find("matmul has precision=bf16, which ONNX cannot say"), std::string::npos)
      << error;
}

} // namespace
} // namespace nnc
