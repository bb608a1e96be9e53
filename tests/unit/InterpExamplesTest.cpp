// The interpreter on the model files of examples/: the course's worked
// numbers from the parsed text, and every example's forward pass.
#include "InterpTestUtil.h"

#include "frontend/Parser.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace nnc::test {
namespace {

std::string readExample(const std::string &name) {
  std::ifstream in(std::string(NNC_SOURCE_DIR "/examples/") + name, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

TEST(InterpExamples, BackpropExampleForwardPassFromTheFile) {
  Result<Graph> g = parseModel(readExample("backprop_example.ir"), "backprop_example.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  Interpreter it(*g);
  Status s = it.run({f32({1, 2}, {0.35f, 0.9f}), f32({1, 1}, {0.5f})});
  ASSERT_TRUE(s.ok()) << s.errorText();
  double h1 = sigmoid(0.755), h2 = sigmoid(0.68), y = sigmoid(0.3 * h1 + 0.9 * h2);
  expectTensor(it.value(g->findValue("h")), {1, 2}, {h1, h2});
  expectTensor(it.value(g->findValue("y")), {1, 1}, {y});
  expectTensor(it.value(g->findValue("loss")), {}, {0.5 * (y - 0.5) * (y - 0.5)});
  // The file's header: h = [0.68027, 0.66374], y = 0.69028, loss = 0.018104.
  expectTensor(it.value(g->findValue("loss")), {}, {0.018104}, 1e-5);
}

TEST(InterpExamples, McCullochPittsUnitComputesAnd) {
  Result<Graph> g = parseModel(readExample("mcculloch_pitts.ir"), "mcculloch_pitts.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  Interpreter it(*g);
  ASSERT_TRUE(it.run({f32({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1})}).ok());
  expectTensor(it.value(g->findValue("y")), {4, 1}, {0, 0, 0, 1});
}

/// A deterministic input for `v` at batch size `batch`: f32 values in
/// [0, 1), i32 labels 0, 1, 0, 1, ...
Tensor exampleInput(const Graph &g, ValueId v, int64_t batch) {
  std::vector<int64_t> dims(g.dims.size(), batch);
  Tensor t(g.type(v).dtype, concreteShape(g.type(v), dims));
  for (int64_t i = 0; i < t.numel(); ++i)
    t.set(i, t.dtype() == DType::I32 ? static_cast<double>(i % 2)
                                     : std::fmod(0.37 * static_cast<double>(i), 1.0));
  return t;
}

TEST(InterpExamples, EveryExampleRunsAndGivesFiniteOutputs) {
  for (const auto &entry : std::filesystem::directory_iterator(NNC_SOURCE_DIR "/examples")) {
    if (entry.path().extension() != ".ir")
      continue;
    std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    Result<Graph> g = parseModel(readExample(name), name);
    ASSERT_TRUE(g.ok()) << g.errorText();
    Interpreter it(*g);
    std::vector<Tensor> inputs;
    for (ValueId v : g->valuesOfKind(ValueKind::Input))
      inputs.push_back(exampleInput(*g, v, 2));
    Status s = it.run(inputs);
    ASSERT_TRUE(s.ok()) << s.errorText();
    std::vector<ValueId> results;
    for (const OutputRef &o : g->outputs)
      results.push_back(o.value);
    if (g->minimize)
      results.push_back(g->minimize->loss);
    for (ValueId v : results) {
      const Tensor &t = it.value(v);
      for (int64_t i = 0; i < t.numel(); ++i)
        ASSERT_TRUE(std::isfinite(t.at(i))) << g->value(v).name << " element " << i;
    }
  }
}

} // namespace
} // namespace nnc::test
