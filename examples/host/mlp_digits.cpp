// mlp_digits.cpp: a host program that builds the digits MLP with nnc's C++
// DSL, JIT-compiles it with the host API, trains it on the UCI digits set
// and prints the held-out accuracy. Usage: mlp_digits [digits.csv.gz]
#include "runtime/io/Dataset.h"

#include <nnc/Dsl.h>
#include <nnc/Host.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace {

/// The model of examples/digits_mlp.ir, written in C++.
nnc::Result<nnc::Graph> buildModel() {
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
  auto data = nnc::readCsv(csv);
  if (!data) {
    std::fputs(data.errorText().c_str(), stderr);
    return 1;
  }
  auto split = nnc::splitHoldout(std::move(data).value(), 0.2, 7);
  if (!split) {
    std::fputs(split.errorText().c_str(), stderr);
    return 1;
  }
  auto &[train, test] = *split;
  const int64_t batch = 32;
  int64_t maxDims[1] = {std::max<int64_t>(batch, test.size())};
  Aligned state(model->stateSize()), workspace(model->workspaceSize(maxDims));
  if (model->init(state.p) != 0)
    return 1;
  auto batcher = nnc::Batcher::create(train, {64}, batch, 1);
  for (uint64_t epoch = 0; epoch < 30; ++epoch) {
    batcher->shuffle(epoch);
    for (int64_t i = 0; i < batcher->batchCount(); ++i) {
      nnc::Batch b = batcher->batch(i);
      int64_t dims[1] = {b.labels.dim(0)};
      const void *inputs[2] = {b.features.data(), b.labels.data()};
      float loss = 0;
      if (int status = model->trainStep(state.p, workspace.p, dims, inputs, &loss)) {
        std::fprintf(stderr, "train step failed with status %d\n", status);
        return 1;
      }
    }
  }
  int64_t dims[1] = {test.size()};
  nnc::Tensor logits(nnc::DType::F32, {test.size(), 10});
  const void *inputs[2] = {test.features.data(), test.labels.data()};
  void *outputs[1] = {logits.data()};
  if (model->infer(state.p, workspace.p, dims, inputs, outputs) != 0)
    return 1;
  int64_t correct = 0;
  for (int64_t r = 0; r < test.size(); ++r) {
    int64_t best = 0;
    for (int64_t c = 1; c < 10; ++c)
      if (logits.f32()[r * 10 + c] > logits.f32()[r * 10 + best])
        best = c;
    correct += best == test.labels.i32()[r];
  }
  double accuracy = static_cast<double>(correct) / static_cast<double>(test.size());
  std::printf("digits MLP (JIT, host API): held-out accuracy %.4f on %lld examples\n", accuracy,
              static_cast<long long>(test.size()));
  return accuracy >= 0.95 ? 0 : 1;
}
