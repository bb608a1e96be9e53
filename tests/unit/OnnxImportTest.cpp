/// The ONNX importer (frontend/onnx/OnnxImport.h) on models built here with
/// ONNX's protobuf classes: an MLP and a CNN import to graphs that compute
/// what the same networks written in nnc's language compute (the interpreter
/// on both, the same weights); names map by the documented rule; what
/// cannot be imported is an error per node; a malformed file is an error.
#include "JitTestUtil.h"
#include "codegen/Session.h"
#include "frontend/ModelFile.h"
#include "frontend/onnx/OnnxImport.h"
#include "passes/Pipeline.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace nnc {
namespace {

namespace fs = std::filesystem;

/// A small builder of ONNX graphs.
struct OnnxModel {
  onnx::ModelProto m;
  onnx::GraphProto *g;

  explicit OnnxModel(int64_t opset = 13) {
    m.set_ir_version(8);
    auto *op = m.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    g = m.mutable_graph();
    g->set_name("g");
  }
  /// dims: a number, or a name for dim_param.
  void value(onnx::ValueInfoProto *v, const std::string &name,
             const std::vector<std::string> &dims) {
    v->set_name(name);
    auto *t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (const std::string &d : dims) {
      auto *dim = t->mutable_shape()->add_dim();
      if (std::isdigit(static_cast<unsigned char>(d[0])))
        dim->set_dim_value(std::stoll(d));
      else
        dim->set_dim_param(d);
    }
  }
  void input(const std::string &name, const std::vector<std::string> &dims) {
    value(g->add_input(), name, dims);
  }
  void output(const std::string &name) { value(g->add_output(), name, {}); }
  /// An f32 initializer of `shape` holding `values`.
  void tensor(const std::string &name, const std::vector<int64_t> &shape,
              const std::vector<float> &values) {
    auto *t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape)
      t->add_dims(d);
    for (float v : values)
      t->add_float_data(v);
  }
  /// An f32 initializer of `shape` filled with sin(k + salt) / 2.
  std::vector<float> weight(const std::string &name, const std::vector<int64_t> &shape, int salt) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    std::vector<float> v;
    for (int64_t k = 0; k < n; ++k)
      v.push_back(0.5f * std::sin(static_cast<float>(k + salt)));
    tensor(name, shape, v);
    return v;
  }
  void ints(const std::string &name, const std::vector<int64_t> &values) {
    auto *t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values)
      t->add_int64_data(v);
  }
  onnx::NodeProto *node(const std::string &op, const std::vector<std::string> &in,
                        const std::string &out, const std::string &name = "") {
    auto *n = g->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? op + "_" + out : name);
    for (const std::string &i : in)
      n->add_input(i);
    n->add_output(out);
    return n;
  }
  static void attr(onnx::NodeProto *n, const std::string &name, int64_t v) {
    auto *a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto *n, const std::string &name, std::vector<int64_t> v) {
    auto *a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v)
      a->add_ints(x);
  }
  std::string save(const std::string &file) const {
    fs::path p =
        fs::temp_directory_path() / ("nnc-onnx-" + std::to_string(::getpid()) + "-" + file);
    std::ofstream(p, std::ios::binary) << m.SerializeAsString();
    return p.string();
  }
};

std::string literal(const std::vector<float> &v, const std::vector<int64_t> &shape) {
  std::vector<double> d(v.begin(), v.end());
  std::string s;
  size_t at = 0;
  std::function<std::string(size_t)> level = [&](size_t axis) -> std::string {
    if (axis == shape.size())
      return std::to_string(d[at++]);
    std::string out = "[";
    for (int64_t i = 0; i < shape[axis]; ++i)
      out += (i ? ", " : "") + level(axis + 1);
    return out + "]";
  };
  return level(0);
}

Tensor inputOf(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  std::vector<float> v;
  for (int64_t k = 0; k < n; ++k)
    v.push_back(std::cos(0.3f * static_cast<float>(k)));
  return Tensor::f32(shape, v);
}

/// The imported model's first output against `reference`'s, both in the
/// interpreter on `x`.
void expectSameAs(const std::string &onnxPath, const std::string &reference, const Tensor &x) {
  Result<Graph> imported = loadModel(onnxPath);
  ASSERT_TRUE(imported.ok()) << imported.errorText();
  Graph want = jittest::parsedOrFail(reference, "reference.ir");
  Interpreter a(*imported), b(want);
  ASSERT_TRUE(a.run({x}).ok());
  ASSERT_TRUE(b.run({x}).ok());
  const Tensor &got = a.value(imported->outputs[0].value);
  const Tensor &exp = b.value(want.outputs[0].value);
  ASSERT_EQ(got.shape(), exp.shape());
  for (int64_t i = 0; i < exp.numel(); ++i)
    EXPECT_NEAR(got.at(i), exp.at(i), 1e-5 * std::max(1.0, std::fabs(exp.at(i)))) << i;
}

TEST(OnnxImport, AnMlpComputesWhatItsNncTwinComputes) {
  OnnxModel o;
  o.input("input.1", {"batch", "4"});
  std::vector<float> w1 = o.weight("fc1.weight", {3, 4}, 1), b1 = o.weight("fc1.bias", {3}, 2);
  std::vector<float> w2 = o.weight("fc2.weight", {3, 2}, 3), b2 = o.weight("fc2.bias", {2}, 4);
  auto *gemm = o.node("Gemm", {"input.1", "fc1.weight", "fc1.bias"}, "5");
  OnnxModel::attr(gemm, "transB", 1);
  o.node("Relu", {"5"}, "6");
  o.node("MatMul", {"6", "fc2.weight"}, "7");
  o.node("Add", {"7", "fc2.bias"}, "8");
  o.node("Softmax", {"8"}, "probs");
  o.output("probs");
  std::string path = o.save("mlp.onnx");
  std::string twin = "model t {\n  dim batch\n  input x: f32[batch, 4]\n"
                     "  const w1: f32[3, 4] = " +
                     literal(w1, {3, 4}) + "\n  const b1: f32[3] = " + literal(b1, {3}) +
                     "\n  const w2: f32[3, 2] = " + literal(w2, {3, 2}) +
                     "\n  const b2: f32[2] = " + literal(b2, {2}) +
                     "\n  h = relu(matmul(x, w1, transpose_b=true) + b1)\n"
                     "  y = softmax(matmul(h, w2) + b2)\n  output y\n}\n";
  expectSameAs(path, twin, inputOf({5, 4}));
  // The names: "input.1" -> input_1, "5" -> v5; the params read the weights.
  Result<OnnxImport> text = importOnnx(path);
  ASSERT_TRUE(text.ok()) << text.errorText();
  EXPECT_NE(text->text.find("input input_1: f32[batch, 4]"), std::string::npos) << text->text;
  EXPECT_NE(text->text.find("param fc1_weight: f32[3, 4] = safetensors("), std::string::npos)
      << text->text;
  EXPECT_NE(text->text.find("v5 = "), std::string::npos) << text->text;
  EXPECT_EQ(text->weights.size(), 4u);
  fs::remove(path);
}

TEST(OnnxImport, ACnnComputesWhatItsNncTwinComputes) {
  OnnxModel o;
  o.input("x", {"N", "1", "6", "6"});
  std::vector<float> w = o.weight("w", {2, 1, 3, 3}, 5), b = o.weight("b", {2}, 6);
  std::vector<float> fc = o.weight("fc", {18, 3}, 7);
  auto *conv = o.node("Conv", {"x", "w", "b"}, "c");
  OnnxModel::attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
  OnnxModel::attr(conv, "kernel_shape", std::vector<int64_t>{3, 3});
  o.node("Relu", {"c"}, "r");
  auto *pool = o.node("MaxPool", {"r"}, "p");
  OnnxModel::attr(pool, "kernel_shape", std::vector<int64_t>{2, 2});
  OnnxModel::attr(pool, "strides", std::vector<int64_t>{2, 2});
  o.node("Flatten", {"p"}, "f");
  o.node("MatMul", {"f", "fc"}, "y");
  o.output("y");
  std::string path = o.save("cnn.onnx");
  std::string twin = "model t {\n  dim N\n  input x: f32[N, 1, 6, 6]\n"
                     "  const w: f32[2, 1, 3, 3] = " +
                     literal(w, {2, 1, 3, 3}) + "\n  const b: f32[2] = " + literal(b, {2}) +
                     "\n  const fc: f32[18, 3] = " + literal(fc, {18, 3}) +
                     "\n  p = maxpool2d(relu(conv2d(x, w, b, padding=1)), kernel=2)\n"
                     "  y = matmul(reshape(p, shape=[N, 18]), fc)\n  output y\n}\n";
  expectSameAs(path, twin, inputOf({3, 1, 6, 6}));
  fs::remove(path);
}

TEST(OnnxImport, ReshapeReadsItsConstantShape) {
  OnnxModel o;
  o.input("x", {"B", "2", "3"});
  o.ints("shape", {0, -1});
  o.node("Reshape", {"x", "shape"}, "y");
  o.output("y");
  std::string path = o.save("reshape.onnx");
  expectSameAs(path,
               "model t {\n  dim B\n  input x: f32[B, 2, 3]\n  y = reshape(x, shape=[B, 6])\n"
               "  output y\n}\n",
               inputOf({2, 2, 3}));
  fs::remove(path);
}

TEST(OnnxImport, EveryUnsupportedNodeIsOneErrorAndNamesIt) {
  OnnxModel o;
  o.input("x", {"1", "2", "4", "4"});
  o.weight("w", {2, 1, 3, 3}, 1);
  o.node("LRN", {"x"}, "a", "norm1");
  auto *conv = o.node("Conv", {"x", "w"}, "b", "grouped");
  OnnxModel::attr(conv, "group", 2);
  o.output("b");
  std::string path = o.save("bad.onnx");
  Result<OnnxImport> r = importOnnx(path);
  ASSERT_FALSE(r.ok());
  std::string text = r.errorText();
  EXPECT_NE(text.find("node 'norm1' (LRN, opset 13): op type 'LRN' is not supported"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("node 'grouped' (Conv, opset 13): group=2 is not supported"),
            std::string::npos)
      << text;
  fs::remove(path);
}

TEST(OnnxImport, AMalformedOrTruncatedFileIsAnError) {
  OnnxModel o;
  o.input("x", {"1", "2"});
  o.node("Relu", {"x"}, "y");
  o.output("y");
  std::string bytes = o.m.SerializeAsString();
  fs::path p = fs::temp_directory_path() / "nnc-onnx-truncated.onnx";
  std::ofstream(p, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  Result<OnnxImport> r = importOnnx(p.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.errorText().find("not an ONNX model"), std::string::npos) << r.errorText();
  fs::remove(p);
  EXPECT_FALSE(importOnnx("/nonexistent/model.onnx").ok());
}

/// `nnc import` writes the model and its weights together, and the model
/// then runs like any other; a model it cannot import writes nothing.
TEST(OnnxImport, TheImportCommandWritesBothFilesOrNeither) {
  OnnxModel o;
  o.input("x", {"B", "4"});
  o.weight("w", {4, 2}, 3);
  o.node("MatMul", {"x", "w"}, "y");
  o.output("y");
  fs::path dir = fs::temp_directory_path() / ("nnc-import-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string onnxPath = (dir / "m.onnx").string();
  std::ofstream(onnxPath, std::ios::binary) << o.m.SerializeAsString();
  std::string nnc = NNC_BINARY;
  std::string imported = (dir / "m.ir").string();
  ASSERT_EQ(std::system((nnc + " import " + onnxPath + " -o " + imported).c_str()), 0);
  EXPECT_TRUE(fs::exists(dir / "m.safetensors"));
  EXPECT_EQ(std::system((nnc + " check " + imported).c_str()), 0);
  EXPECT_EQ(std::system((nnc + " check " + onnxPath + " 2>/dev/null").c_str()), 0);
  // A node it cannot import: exit 1, nothing written.
  o.node("LRN", {"y"}, "z");
  std::ofstream((dir / "bad.onnx").string(), std::ios::binary) << o.m.SerializeAsString();
  std::string bad = nnc + " import " + (dir / "bad.onnx").string() + " -o " +
                    (dir / "bad.ir").string() + " 2>/dev/null";
  EXPECT_NE(std::system(bad.c_str()), 0);
  EXPECT_FALSE(fs::exists(dir / "bad.ir"));
  EXPECT_FALSE(fs::exists(dir / "bad.safetensors"));
  fs::remove_all(dir);
}

/// A float attribute.
void floatAttr(onnx::NodeProto *n, const std::string &name, float v) {
  auto *a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

TEST(OnnxImport, NormsReductionsAndShapeOpsComputeWhatTheirTwinComputes) {
  OnnxModel o(17);
  o.input("x", {"B", "3", "4"});
  std::vector<float> g = o.weight("g", {4}, 1), b = o.weight("b", {4}, 2);
  std::vector<float> table = o.weight("table", {5, 4}, 3);
  o.ints("idx", {4, 0, 2});
  o.ints("axes", {1});
  o.ints("starts", {1});
  o.ints("ends", {3});
  o.ints("sliceAxes", {1});
  auto *ln = o.node("LayerNormalization", {"x", "g", "b"}, "n");
  floatAttr(ln, "epsilon", 1e-3f);
  o.node("ReduceMean", {"n", "axes"}, "m");                   // [B, 1, 4] (keepdims)
  o.node("Slice", {"n", "starts", "ends", "sliceAxes"}, "s"); // [B, 2, 4]
  auto *cat = o.node("Concat", {"m", "s"}, "c");              // [B, 3, 4]
  OnnxModel::attr(cat, "axis", 1);
  o.node("Gather", {"table", "idx"}, "t"); // [3, 4]
  o.node("Add", {"c", "t"}, "y");
  o.output("y");
  std::string path = o.save("norms.onnx");
  std::string twin = "model t {\n  dim B\n  input x: f32[B, 3, 4]\n"
                     "  const g: f32[4] = " +
                     literal(g, {4}) + "\n  const b: f32[4] = " + literal(b, {4}) +
                     "\n  const table: f32[5, 4] = " + literal(table, {5, 4}) +
                     "\n  const idx: i32[3] = [4, 0, 2]\n"
                     "  n = layernorm(x, g, b, eps=0.001)\n"
                     "  c = concat(mean(n, axes=[1], keepdims=true), slice(n, axis=1, start=1, "
                     "end=3), axis=1)\n"
                     "  y = c + gather(table, idx)\n  output y\n}\n";
  expectSameAs(path, twin, inputOf({2, 3, 4}));
  fs::remove(path);
}

TEST(OnnxImport, BatchNormalizationRunsOnItsRunningStatisticsAsStates) {
  OnnxModel o;
  o.input("x", {"B", "2", "3", "3"});
  std::vector<float> g = o.weight("g", {2}, 1), b = o.weight("b", {2}, 2);
  std::vector<float> mean = o.weight("mean", {2}, 3), var = {0.5f, 2.0f};
  o.tensor("var", {2}, var); // a variance must be positive
  auto *bn = o.node("BatchNormalization", {"x", "g", "b", "mean", "var"}, "y");
  floatAttr(bn, "epsilon", 1e-3f);
  o.output("y");
  std::string path = o.save("bn.onnx");
  Result<OnnxImport> text = importOnnx(path);
  ASSERT_TRUE(text.ok()) << text.errorText();
  EXPECT_NE(text->text.find("state mean: f32[2]"), std::string::npos) << text->text;
  EXPECT_NE(text->text.find("momentum=0.1"), std::string::npos) << text->text;
  std::string twin = "model t {\n  dim B\n  input x: f32[B, 2, 3, 3]\n"
                     "  const g: f32[2] = " +
                     literal(g, {2}) + "\n  const b: f32[2] = " + literal(b, {2}) +
                     "\n  state m: f32[2] = " + literal(mean, {2}) +
                     "\n  state v: f32[2] = " + literal(var, {2}) +
                     "\n  y = batchnorm(x, g, b, m, v, eps=0.001)\n  output y\n}\n";
  expectSameAs(path, twin, inputOf({2, 2, 3, 3}));
  fs::remove(path);
}

/// `nnc train M.onnx --loss ... --optimizer ...`: the imported inference
/// graph gains a labels input, the loss and its minimize, and trains.
TEST(OnnxImport, AnImportedGraphTrainsWithTheLossItIsGiven) {
  OnnxModel o;
  o.input("x", {"B", "4"});
  o.weight("w", {4, 3}, 1);
  o.node("MatMul", {"x", "w"}, "logits");
  o.output("logits");
  std::string path = o.save("train.onnx");
  ModelLoadOptions options;
  options.onnxLoss = "softmax_cross_entropy";
  options.onnxOptimizer = "sgd(lr=1)";
  Result<Graph> g = loadModel(path, options);
  ASSERT_TRUE(g.ok()) << g.errorText();
  ASSERT_TRUE(g->minimize.has_value());
  ValueId labels = g->findValue("labels");
  ASSERT_NE(labels, kNoValue);
  EXPECT_EQ(g->typeString(labels), "i32[B]");
  PassContext ctx;
  auto step = optimizedTrainingStep(*g, ctx);
  ASSERT_TRUE(step.ok()) << step.errorText();
  Interpreter interp(*step);
  // Each class a direction of its own: separable.
  Tensor x = Tensor::f32({6, 4}, std::vector<float>{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0,
                                                    1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1});
  Tensor y = Tensor::i32({6}, std::vector<int32_t>{0, 1, 2, 0, 1, 2});
  double first = 0, last = 0;
  for (int s = 0; s < 50; ++s) {
    ASSERT_TRUE(interp.run({x, y}).ok());
    last = interp.value(step->outputs.back().value).at(0);
    if (s == 0)
      first = last;
    interp.applyUpdates();
  }
  EXPECT_LT(last, first * 0.5) << first << " -> " << last;
  options.onnxLoss = "hinge";
  EXPECT_FALSE(loadModel(path, options).ok());
  fs::remove(path);
}

TEST(OnnxImport, NamesMapByOneRule) {
  EXPECT_EQ(onnxIdentifier("input.1"), "input_1");
  EXPECT_EQ(onnxIdentifier("0"), "v0");
  EXPECT_EQ(onnxIdentifier("model"), "vmodel"); // a keyword
  EXPECT_EQ(onnxIdentifier("/layer/Relu_output_0"), "_layer_Relu_output_0");
  EXPECT_EQ(onnxIdentifier(""), "v");
}

} // namespace
} // namespace nnc

namespace nnc {
namespace {

/// PyTorch's export of x.view(x.size(0), -1) with a dynamic batch:
/// Shape -> Gather(0) -> Unsqueeze -> Concat([N], [-1]) -> Reshape, which
/// folds at import into nnc's reshape(x, shape=[N, -1]).
TEST(OnnxImport, DynamicBatchShapeArithmeticFoldsIntoNamedDims) {
  OnnxModel o;
  o.input("x", {"N", "3", "4"});
  o.node("Shape", {"x"}, "shape");
  o.ints("zero", {0});
  o.g->mutable_initializer()->rbegin()->clear_dims(); // a scalar index
  o.node("Gather", {"shape", "zero"}, "batch");
  o.ints("axes0", {0});
  o.node("Unsqueeze", {"batch", "axes0"}, "batch1");
  o.ints("minus1", {-1});
  OnnxModel::attr(o.node("Concat", {"batch1", "minus1"}, "target"), "axis", 0);
  o.node("Reshape", {"x", "target"}, "flat");
  o.node("Relu", {"flat"}, "y");
  o.output("y");
  std::string path = o.save("view.onnx");
  Result<OnnxImport> text = importOnnx(path);
  ASSERT_TRUE(text.ok()) << text.errorText();
  EXPECT_NE(text->text.find("reshape(x, shape=[N, -1])"), std::string::npos) << text->text;
  expectSameAs(path,
               "model t {\n  dim N\n  input x: f32[N, 3, 4]\n"
               "  y = relu(reshape(x, shape=[N, -1]))\n  output y\n}\n",
               inputOf({5, 3, 4}));
  fs::remove(path);
}

/// Arithmetic on a symbolic dim that nnc's types cannot hold is an error
/// that says so (N + 1; a product N * 3 is held as two axes).
TEST(OnnxImport, ShapeArithmeticBeyondNamedDimsIsAnError) {
  OnnxModel o;
  o.input("x", {"N", "3"});
  o.node("Shape", {"x"}, "shape");
  o.ints("one", {1});
  o.node("Add", {"shape", "one"}, "scaled");
  o.node("Reshape", {"x", "scaled"}, "y");
  o.output("y");
  std::string path = o.save("mul.onnx");
  Result<OnnxImport> text = importOnnx(path);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.errorText().find("shape arithmetic on symbolic dims (N Add 1)"), std::string::npos)
      << text.errorText();
  fs::remove(path);
}

/// Cast: f32 -> i32 rounds toward zero and saturates, NaN gives 0, in the
/// interpreter and the JIT alike; i32 -> f32 back.
TEST(OnnxImport, CastRoundsTowardZeroAndSaturatesInBothEngines) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> in = {2.7f, -2.7f, 0.5f, -0.5f, 3e9f, -3e9f, nan, 7.0f};
  std::vector<int32_t> want = {2, -2, 0, 0, 2147483647, -2147483647 - 1, 0, 7};
  std::string text = "model c {\n  input x: f32[8]\n  i = cast(x, to=i32)\n"
                     "  f = cast(i, to=f32)\n  output i, f\n}\n";
  Graph g = jittest::parsedOrFail(text);
  Interpreter interp(g);
  ASSERT_TRUE(interp.run({Tensor::f32({8}, in)}).ok());
  auto jit = JitSession::create(g, nullptr);
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  auto got = (*jit)->infer({Tensor::f32({8}, in)});
  ASSERT_TRUE(got.ok()) << got.errorText();
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(interp.value(g.outputs[0].value).i32()[k], want[k]) << k;
    EXPECT_EQ((*got)[0].i32()[k], want[k]) << k;
    EXPECT_EQ((*got)[1].f32()[k], static_cast<float>(want[k])) << k;
  }
}

} // namespace
} // namespace nnc

namespace nnc {
namespace {

/// Gelu (opset 20, which exporters may emit earlier) is nnc's exact gelu;
/// a reduction with no axes and noop_with_empty_axes is the identity.
TEST(OnnxImport, GeluAndAnEmptyNoopReductionComputeWhatTheirTwinComputes) {
  OnnxModel o;
  o.input("x", {"N", "4"});
  o.node("Gelu", {"x"}, "g");
  OnnxModel::attr(o.node("ReduceSum", {"g"}, "y"), "noop_with_empty_axes", 1);
  o.output("y");
  std::string path = o.save("gelu.onnx");
  expectSameAs(path, "model t {\n  dim N\n  input x: f32[N, 4]\n  y = gelu(x)\n  output y\n}\n",
               inputOf({3, 4}));
  fs::remove(path);
}

} // namespace
} // namespace nnc

namespace nnc {
namespace {

/// PyTorch's x.view(*x.shape[:-1], 2, 2): a Slice of a shape with a
/// symbolic batch folds like Gather does.
TEST(OnnxImport, ASliceOfADynamicShapeFolds) {
  OnnxModel o;
  o.input("x", {"N", "3", "4"});
  o.node("Shape", {"x"}, "shape");
  o.ints("starts", {0});
  o.ints("ends", {-1});
  o.node("Slice", {"shape", "starts", "ends"}, "lead");
  o.ints("tail", {2, 2});
  OnnxModel::attr(o.node("Concat", {"lead", "tail"}, "target"), "axis", 0);
  o.node("Reshape", {"x", "target"}, "y");
  o.output("y");
  std::string path = o.save("slice_shape.onnx");
  expectSameAs(path,
               "model t {\n  dim N\n  input x: f32[N, 3, 4]\n"
               "  y = reshape(x, shape=[N, 3, 2, 2])\n  output y\n}\n",
               inputOf({2, 3, 4}));
  fs::remove(path);
}

/// nnc's numbers are finite: a -inf constant (a mask) becomes the lowest
/// f32, and a NaN constant is an error naming its node.
TEST(OnnxImport, InfiniteConstantsBecomeTheLargestFloatAndNanIsAnError) {
  for (float v : {-std::numeric_limits<float>::infinity(), std::nanf("")}) {
    OnnxModel o;
    o.input("x", {"2"});
    auto *c = o.node("Constant", {}, "mask", "the_mask");
    auto *a = c->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
    a->mutable_t()->add_dims(2);
    a->mutable_t()->add_float_data(0);
    a->mutable_t()->add_float_data(v);
    o.node("Add", {"x", "mask"}, "s");
    o.node("Softmax", {"s"}, "y");
    o.output("y");
    std::string path = o.save("mask.onnx");
    Result<OnnxImport> text = importOnnx(path);
    if (std::isnan(v)) {
      ASSERT_FALSE(text.ok());
      EXPECT_NE(text.errorText().find("node 'the_mask' (Constant, opset 13): a NaN constant"),
                std::string::npos)
          << text.errorText();
    } else {
      ASSERT_TRUE(text.ok()) << text.errorText();
      EXPECT_NE(text->text.find("[0, -3.4028235e38]"), std::string::npos) << text->text;
      Result<Graph> g = loadModel(path);
      ASSERT_TRUE(g.ok()) << g.errorText();
      Interpreter interp(*g);
      ASSERT_TRUE(interp.run({Tensor::f32({2}, std::vector<float>{1, 5})}).ok());
      EXPECT_EQ(interp.value(g->outputs[0].value).at(0), 1.0); // the masked one gets 0
    }
    fs::remove(path);
  }
}

/// Reshaping known values to a shape that does not hold them is an error.
TEST(OnnxImport, AReshapeOfKnownValuesMustHoldThem) {
  OnnxModel o;
  o.input("x", {"2", "3"});
  o.node("Shape", {"x"}, "shape");
  o.ints("three", {3});
  o.node("Reshape", {"shape", "three"}, "bad");
  o.node("Reshape", {"x", "bad"}, "y");
  o.output("y");
  std::string path = o.save("bad_reshape.onnx");
  Result<OnnxImport> text = importOnnx(path);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.errorText().find("does not hold the 2 known values"), std::string::npos)
      << text.errorText();
  fs::remove(path);
}

} // namespace
} // namespace nnc
