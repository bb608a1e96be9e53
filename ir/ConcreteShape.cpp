/// Concrete shapes and value size checks.
#include "ir/ConcreteShape.h"
#include "ir/InternalError.h"

#include "ir/Limits.h"

namespace nnc {

std::vector<int64_t> concreteShape(const Type &t, const std::vector<int64_t> &dims) {
  std::vector<int64_t> shape;
  shape.reserve(t.rank());
  for (const Dim &d : t.shape) {
    if (d.isStatic()) {
      shape.push_back(d.size);
    } else {
      NNC_CHECK(static_cast<size_t>(d.symbol) < dims.size() && dims[d.symbol] >= 0,
                "symbolic dim has no value");
      shape.push_back(dims[static_cast<size_t>(d.symbol)]);
    }
  }
  return shape;
}

Status checkValueSizes(const Graph &g, const std::vector<int64_t> &dims) {
  for (size_t i = 0; i < g.values.size(); ++i) {
    const Value &v = g.values[i];
    bool bound = true;
    for (const Dim &d : v.type.shape)
      bound = bound && (d.isStatic() || (static_cast<size_t>(d.symbol) < dims.size() &&
                                         dims[static_cast<size_t>(d.symbol)] >= 0));
    if (!bound)
      continue;
    std::vector<int64_t> shape = concreteShape(v.type, dims);
    if (std::optional<std::string> problem = tensorSizeProblem(v.type.dtype, shape)) {
      std::string dimValues;
      for (size_t k = 0; k < g.dims.size() && k < dims.size(); ++k)
        dimValues += fmt::format("{}{} = {}", k ? ", " : " (with ", g.dims[k].name, dims[k]);
      if (!dimValues.empty())
        dimValues += ")";
      return Status::failAt(v.loc, "'{}' of type {}: {}{}", v.name.empty() ? "a temporary" : v.name,
                            g.typeString(v.type), *problem, dimValues);
    }
  }
  return Ok{};
}

} // namespace nnc
