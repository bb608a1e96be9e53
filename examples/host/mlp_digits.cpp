// mlp_digits.cpp: a host program that builds the digits MLP with nnc's C++
// DSL, JIT-compiles it with the host API, trains it on the UCI digits set
// and prints the held-out accuracy. It uses only nnc's installed headers and
// libnnc (examples/host/CMakeLists.txt builds it against an installed nnc;
// the source tree's build links the same library). Reads the CSV itself
// (zlib). Usage: mlp_digits [digits.csv.gz]
#include <nnc/Dsl.h>
#include <nnc/Host.h>

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#ifndef NNC_SOURCE_DIR
#define NNC_SOURCE_DIR "."
#endif

namespace {

/// The model of examples/digits_mlp.ir, written in C++.
nnc::Result<nnc::ModelGraph> buildModel() {
  using namespace nnc::dsl;
  Model m("digits_mlp");
  auto B = m.dim("B");
  auto x = m.input("x", f32(B, 64));
  auto label = m.input("label", i32(B));
  auto w1 = m.param("w1", f32(64, 64), he_normal(1));
  auto b1 = m.param("b1", f32(64), zeros());
  auto w2 = m.param("w2", f32(64, 10), glorot_uniform(2));
  auto b2 = m.param("b2", f32(10), zeros());
  auto h = m.name("h", relu(matmul(x / 16, w1) + b1));
  auto logits = m.name("logits", matmul(h, w2) + b2);
  auto loss = m.name("loss", softmax_cross_entropy(logits, label));
  m.output(logits);
  m.minimize(loss, sgd({.lr = 0.1}));
  return m.build();
}

struct Aligned {
  explicit Aligned(uint64_t bytes) : p(std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64)) {}
  ~Aligned() { std::free(p); }
  void *p;
};

/// The digits: 64 pixel values (0-16) and a label per row.
struct Digits {
  std::vector<float> pixels;
  std::vector<int32_t> labels;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

/// Reads a gzip-compressed CSV of 64 features and a label per row.
bool readDigits(const std::string &path, Digits &out) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) {
    std::fprintf(stderr, "%s: cannot open\n", path.c_str());
    return false;
  }
  char line[4096];
  while (gzgets(file, line, sizeof line)) {
    std::stringstream row(line);
    std::string cell;
    std::vector<float> values;
    while (std::getline(row, cell, ','))
      values.push_back(std::strtof(cell.c_str(), nullptr));
    if (values.size() != 65) {
      std::fprintf(stderr, "%s: a row of %zu values, not 65\n", path.c_str(), values.size());
      gzclose(file);
      return false;
    }
    out.pixels.insert(out.pixels.end(), values.begin(), values.end() - 1);
    out.labels.push_back(static_cast<int32_t>(values.back()));
  }
  gzclose(file);
  return out.size() > 0;
}

/// Rows `order[begin, end)` of `d`.
Digits rows(const Digits &d, const std::vector<int64_t> &order, size_t begin, size_t end) {
  Digits out;
  for (size_t i = begin; i < end; ++i) {
    auto r = order[i];
    out.pixels.insert(out.pixels.end(), d.pixels.begin() + r * 64, d.pixels.begin() + r * 64 + 64);
    out.labels.push_back(d.labels[static_cast<size_t>(r)]);
  }
  return out;
}

} // namespace

int main(int argc, char **argv) {
  std::string csv = argc > 1 ? argv[1] : NNC_SOURCE_DIR "/examples/data/digits.csv.gz";
  auto graph = buildModel();
  if (!graph) {
    std::fputs(graph.errorText().c_str(), stderr);
    return 1;
  }
  auto model = nnc::CompiledModel::compile(*graph);
  if (!model) {
    std::fputs(model.errorText().c_str(), stderr);
    return 1;
  }
  Digits all;
  if (!readDigits(csv, all))
    return 1;
  // A fixed shuffle; 20% held out.
  std::vector<int64_t> order(static_cast<size_t>(all.size()));
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<int64_t>(i);
  std::mt19937_64 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  size_t held = order.size() / 5;
  Digits test = rows(all, order, 0, held), train = rows(all, order, held, order.size());

  const int64_t batch = 32;
  int64_t maxDims[1] = {std::max<int64_t>(batch, test.size())};
  Aligned state(model->stateSize()), workspace(model->workspaceSize(maxDims));
  if (model->init(state.p) != 0)
    return 1;
  std::vector<int64_t> trainOrder(static_cast<size_t>(train.size()));
  for (size_t i = 0; i < trainOrder.size(); ++i)
    trainOrder[i] = static_cast<int64_t>(i);
  for (int epoch = 0; epoch < 30; ++epoch) {
    std::shuffle(trainOrder.begin(), trainOrder.end(), rng);
    for (size_t begin = 0; begin + batch <= trainOrder.size(); begin += batch) {
      Digits b = rows(train, trainOrder, begin, begin + batch);
      int64_t dims[1] = {batch};
      const void *inputs[2] = {b.pixels.data(), b.labels.data()};
      float loss = 0;
      if (int status = model->trainStep(state.p, workspace.p, dims, inputs, &loss)) {
        std::fprintf(stderr, "train step failed with status %d\n", status);
        return 1;
      }
    }
  }
  int64_t dims[1] = {test.size()};
  std::vector<float> logits(static_cast<size_t>(test.size() * 10));
  const void *inputs[2] = {test.pixels.data(), test.labels.data()};
  void *outputs[1] = {logits.data()};
  if (model->infer(state.p, workspace.p, dims, inputs, outputs) != 0)
    return 1;
  int64_t correct = 0;
  for (int64_t r = 0; r < test.size(); ++r) {
    int64_t best = 0;
    for (int64_t c = 1; c < 10; ++c)
      if (logits[static_cast<size_t>(r * 10 + c)] > logits[static_cast<size_t>(r * 10 + best)])
        best = c;
    correct += best == test.labels[static_cast<size_t>(r)];
  }
  double accuracy = static_cast<double>(correct) / static_cast<double>(test.size());
  std::printf("digits MLP (JIT, host API): held-out accuracy %.4f on %lld examples\n", accuracy,
              static_cast<long long>(test.size()));
  return accuracy >= 0.95 ? 0 : 1;
}
