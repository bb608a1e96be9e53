/// Helpers shared by the training tests (TrainingTest.cpp,
/// CheckpointResumeTest.cpp): parsing, the training step as `nnc train`
/// builds it, reading params out of an interpreter, the UCI digits.
#pragma once

#include "frontend/Parser.h"
#include "passes/Pass.h"
#include "runtime/io/Dataset.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace nnc::test {

inline bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

inline std::string readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline Graph parseOk(const std::string &text) {
  Result<Graph> g = parseModel(text, "model.ir");
  EXPECT_TRUE(g.ok()) << g.errorText() << "\n" << text;
  return g.ok() ? std::move(g).value() : Graph{};
}

/// The training step of a model text, built as `nnc train` builds it.
inline Graph trainingStep(const std::string &text) {
  Graph g = parseOk(text);
  if (g.values.empty())
    return g;
  PassContext ctx;
  Status s = runPipeline(g, {"autodiff"}, ctx);
  EXPECT_TRUE(s.ok()) << s.errorText();
  return g;
}

inline ValueId named(const Graph &g, const std::string &name) {
  ValueId id = g.findValue(name);
  EXPECT_NE(id, kNoValue) << name;
  return id;
}

inline std::vector<double> valuesOf(const Tensor &t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i)
    v[static_cast<size_t>(i)] = t.at(i);
  return v;
}

inline std::vector<double> param(const Interpreter &it, const std::string &name) {
  return valuesOf(it.value(named(it.graph(), name)));
}

inline Tensor tensorOf(std::vector<int64_t> shape, const std::vector<double> &v) {
  std::vector<float> f(v.begin(), v.end());
  return Tensor::f32(std::move(shape), f);
}

inline void runOk(Interpreter &it, const std::vector<Tensor> &inputs) {
  Status s = it.run(inputs);
  ASSERT_TRUE(s.ok()) << s.errorText();
}

inline const std::string kDigitsCsv = NNC_SOURCE_DIR "/examples/data/digits.csv.gz";

inline Dataset loadDigits() {
  Result<Dataset> d = readCsv(kDigitsCsv);
  EXPECT_TRUE(d.ok()) << d.errorText();
  if (!d.ok())
    return Dataset{};
  EXPECT_EQ(d->size(), 1797);
  EXPECT_EQ(d->features.shape(), (std::vector<int64_t>{1797, 64}));
  return std::move(d).value();
}

/// Held-out accuracy of the digits MLP's params, from a forward pass in

} // namespace nnc::test
