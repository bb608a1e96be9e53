// The simplification passes: every example's training step computes the same
// outputs, gradients and updates after `simplify` as before, with no more
// nodes; a model written with redundancies loses them; the pipelines.
#include "InterpTestUtil.h"

#include "ir/GraphRewrite.h"
#include "frontend/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace nnc::test {
namespace {

Graph load(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  Result<Graph> g = parseModel(text.str(), path);
  EXPECT_TRUE(g.ok()) << g.errorText();
  return g.ok() ? std::move(g).value() : Graph{};
}

Graph runPasses(Graph g, const std::vector<std::string> &passes) {
  PassContext ctx;
  Status s = runPipeline(g, passes, ctx);
  EXPECT_TRUE(s.ok()) << s.errorText();
  return g;
}

/// Deterministic inputs at batch size 3: f32 in [0, 1), i32 labels 0, 1, 0, ...
std::vector<Tensor> inputsFor(const Graph &g) {
  std::vector<Tensor> inputs;
  for (ValueId v : g.valuesOfKind(ValueKind::Input)) {
    std::vector<int64_t> dims(g.dims.size(), 3);
    Tensor t(g.type(v).dtype, concreteShape(g.type(v), dims));
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, t.dtype() == DType::I32 ? static_cast<double>(i % 2)
                                       : std::fmod(0.37 * static_cast<double>(i) + 0.1, 1.0));
    inputs.push_back(t);
  }
  return inputs;
}

void expectClose(const Tensor &a, const Tensor &b, const std::string &what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.at(i), y = b.at(i);
    ASSERT_LE(std::fabs(x - y), 1e-6 * std::max(1.0, std::fabs(x))) << what << " element " << i;
  }
}

/// Runs both graphs on the same inputs and compares outputs, updates (by
/// target name) and the values named grad.* that both still have.
void expectSameResults(const Graph &before, const Graph &after, const std::string &model) {
  Interpreter a(before), b(after);
  ASSERT_TRUE(a.run(inputsFor(before)).ok()) << model;
  Status s = b.run(inputsFor(after));
  ASSERT_TRUE(s.ok()) << model << ": " << s.errorText();
  ASSERT_EQ(before.outputs.size(), after.outputs.size()) << model;
  for (size_t i = 0; i < before.outputs.size(); ++i)
    expectClose(a.value(before.outputs[i].value), b.value(after.outputs[i].value),
                model + " output " + std::to_string(i));
  ASSERT_EQ(before.updates.size(), after.updates.size()) << model;
  for (const Update &u : before.updates) {
    const std::string &target = before.value(u.target).name;
    const Update *match = nullptr;
    for (const Update &v : after.updates)
      if (after.value(v.target).name == target)
        match = &v;
    ASSERT_NE(match, nullptr) << model << ": no update of " << target;
    expectClose(a.value(u.value), b.value(match->value), model + " update of " + target);
  }
  for (size_t i = 0; i < before.values.size(); ++i) {
    const std::string &name = before.values[i].name;
    if (!name.starts_with("grad."))
      continue;
    if (ValueId w = after.findValue(name); w != kNoValue)
      expectClose(a.value(static_cast<ValueId>(i)), b.value(w), model + " " + name);
  }
}

TEST(Simplify, EveryExampleTrainingStepKeepsItsResults) {
  int examples = 0;
  for (const auto &entry : std::filesystem::directory_iterator(NNC_SOURCE_DIR "/examples")) {
    if (entry.path().extension() != ".ir")
      continue;
    Graph g = load(entry.path().string());
    if (!g.minimize)
      continue;
    std::string name = entry.path().filename().string();
    Graph step = runPasses(g, {"autodiff"});
    Graph simplified = runPasses(step, {"simplify"});
    EXPECT_TRUE(verifyGraph(simplified).empty()) << name;
    EXPECT_LE(simplified.nodes.size(), step.nodes.size()) << name;
    expectSameResults(step, simplified, name);
    // Simplified output prints and parses back to the same text.
    std::string printed = printGraph(simplified);
    Result<Graph> reparsed = parseModel(printed, name);
    ASSERT_TRUE(reparsed.ok()) << reparsed.errorText() << printed;
    EXPECT_EQ(printGraph(*reparsed), printed) << name;
    // A second run changes nothing.
    EXPECT_EQ(printGraph(runPasses(simplified, {"simplify"})), printed) << name;
    ++examples;
  }
  EXPECT_GE(examples, 6);
}

TEST(Simplify, KeepsTheLearningRateStateThatTrainingLoopsWrite) {
  // lr=1 used to fold away as a multiply by one; the rate is now a state a
  // schedule may change, so simplify must keep the multiply.
  Graph step = runPasses(load(NNC_SOURCE_DIR "/examples/backprop_example.ir"), {"autodiff"});
  Graph simplified = runPasses(step, {"simplify"});
  ValueId lr = simplified.findValue("sgd.lr");
  ASSERT_NE(lr, kNoValue);
  int readers = 0;
  for (const Node &n : simplified.nodes)
    readers += static_cast<int>(std::count(n.operands.begin(), n.operands.end(), lr));
  EXPECT_EQ(readers, 2); // one update per param
  expectSameResults(step, simplified, "backprop_example");
}

const char *kRedundant = R"(model redundant {
  dim B
  input x: f32[B, 3]
  input label: i32[B]
  param w: f32[3, 4] = uniform(-1, 1, seed=3)
  param b: f32[4] = zeros()
  const k: f32[4] = [1, 2, 3, 4]
  scale = sum(k) / 10
  h = matmul(x, w) * 1 + b
  u = transpose(transpose(h))
  v = neg(neg(u)) * scale
  r = reshape(reshape(v, shape=[B, 2, 2]), shape=[B, 4])
  same = matmul(x, w) + b
  logits = r + 0 + same - same
  total = sum(sum_grad(x, sum(x, axes=[1]), axes=[1]), axes=[1])
  loss = softmax_cross_entropy(logits, label)
  output logits, total
  minimize loss with adam(lr=0.01)
}
)";

TEST(Simplify, RedundantModelShrinksAndKeepsItsResults) {
  Result<Graph> g = parseModel(kRedundant, "redundant.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  Graph step = runPasses(*g, {"autodiff"});
  Graph simplified = runPasses(step, {"simplify"});
  EXPECT_LT(simplified.nodes.size() + 8, step.nodes.size()) << printGraph(simplified);
  expectSameResults(step, simplified, "redundant");
  std::string printed = printGraph(simplified);
  EXPECT_EQ(printed.find("= transpose("), std::string::npos) << printed;
  EXPECT_EQ(printed.find("neg("), std::string::npos) << printed;
  EXPECT_NE(printed.find("output logits, total, loss"), std::string::npos) << printed;
  // Forward only: the inference graph simplifies the same way.
  Graph infer = *g;
  infer.minimize.reset();
  Graph inferSimplified = runPasses(infer, {"simplify"});
  expectSameResults(infer, inferSimplified, "redundant (inference)");
}

TEST(Simplify, OutputNamesAndDeclarationsSurvive) {
  const char *text = R"(model names {
  input x: f32[2]
  param p: f32[2] = zeros()
  a = x * 1
  b = p + 0
  c = neg(neg(x + p))
  output a, b, c
}
)";
  Result<Graph> g = parseModel(text, "names.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  Graph s = runPasses(*g, {"simplify"});
  std::string printed = printGraph(s);
  EXPECT_NE(printed.find("output a, b, c"), std::string::npos) << printed;
  EXPECT_NE(printed.find("c: f32[2] = add(x, p)"), std::string::npos) << printed;
  EXPECT_NE(s.findValue("p"), kNoValue);
}

TEST(Simplify, FoldLeavesNonFiniteResultsAndBadLabelsAlone) {
  const char *text = R"(model nonfinite {
  const z: f32[2] = [0, 1]
  const logits: f32[1, 2] = [[1, 2]]
  const label: i32[1] = [5]
  a = log(z)
  l = softmax_cross_entropy(logits, label)
  output a, l
}
)";
  Result<Graph> g = parseModel(text, "nonfinite.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  Graph s = runPasses(*g, {"fold"});
  EXPECT_EQ(s.nodes.size(), 2u) << printGraph(s);
}

TEST(Simplify, PipelinesListRegisteredPassesOnly) {
  std::vector<std::string> train = trainPipeline();
  ASSERT_GE(train.size(), 4u);
  EXPECT_EQ(train[0], "training-mode");
  EXPECT_EQ(train[1], "fuse-attention"); // before autodiff: its rule writes the fused backward
  EXPECT_EQ(train[2], "autodiff");
  EXPECT_EQ(train[3], "simplify");
  for (const std::string &p : train)
    EXPECT_NE(findPass(p), nullptr) << p;
  std::vector<std::string> infer = inferPipeline();
  ASSERT_FALSE(infer.empty());
  EXPECT_EQ(infer[0], "fold-batchnorm");
  EXPECT_EQ(infer[1], "simplify");
  for (const std::string &p : infer)
    EXPECT_NE(findPass(p), nullptr) << p;
}

TEST(Simplify, CompactGraphRenumbersUsesOutputsAndUpdates) {
  ModelBuilder m;
  ValueId x = m.input("x", staticShape({2}));
  ValueId s = m.state("s", staticShape({2}), {0, 0});
  ValueId dead = m.op(OpKind::Exp, {x});
  ValueId y = m.op(OpKind::Add, {x, s});
  m.builder().addUpdate(s, y, {});
  m.output(y);
  Graph g = m.finish();
  (void)dead;
  std::vector<bool> keep = {false, true};
  EXPECT_TRUE(compactGraph(g, keep, true));
  EXPECT_TRUE(verifyGraph(g).empty()) << verifyGraph(g).render();
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.outputs[0].value, g.nodes[0].result);
  EXPECT_EQ(g.updates[0].value, g.nodes[0].result);
  EXPECT_EQ(g.value(g.updates[0].target).name, "s");
}

} // namespace
} // namespace nnc::test
