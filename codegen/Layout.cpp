/// State layout of compiled models.
#include "codegen/Layout.h"

namespace nnc {

namespace {
uint64_t roundUp(uint64_t n) { return (n + 63) / 64 * 64; }
} // namespace

uint64_t alignedBytes(const Type &t, const std::vector<int64_t> &dims) {
  uint64_t n = 4;
  for (const Dim &d : t.shape)
    n *= static_cast<uint64_t>(d.isStatic() ? d.size : dims[static_cast<size_t>(d.symbol)]);
  return roundUp(n);
}

StateLayout layoutState(const Graph &infer, const Graph *train) {
  const Graph &g = train ? *train : infer;
  StateLayout layout;
  for (ValueKind kind : {ValueKind::Param, ValueKind::State})
    for (ValueId id : g.valuesOfKind(kind)) {
      const Value &v = g.value(id);
      layout.offsetOf[v.name] = layout.size;
      layout.entries.emplace_back(v.name, layout.size);
      layout.size += alignedBytes(v.type, {});
    }
  return layout;
}

GradientLayout layoutGradients(const Graph &gradients, const std::vector<std::string> &params) {
  GradientLayout layout;
  for (size_t i = 0; i < params.size(); ++i) {
    layout.entries.emplace_back(params[i], layout.size);
    layout.size += alignedBytes(gradients.type(gradients.outputs[i].value), {});
  }
  return layout;
}

} // namespace nnc
