/// Graph accessors.
#include "ir/Graph.h"

#include "ir/Printer.h"

#include <fmt/format.h>

namespace nnc {

const char *valueKindName(ValueKind k) {
  switch (k) {
  case ValueKind::Input:
    return "input";
  case ValueKind::Param:
    return "param";
  case ValueKind::State:
    return "state";
  case ValueKind::Const:
    return "const";
  case ValueKind::Immediate:
    return "number";
  case ValueKind::Op:
    return "value";
  }
  return "value";
}

DimNames Graph::dimNames() const {
  DimNames names;
  names.reserve(dims.size());
  for (const DimDecl &d : dims)
    names.push_back(d.name);
  return names;
}

std::string Graph::typeString(ValueId id) const { return typeString(type(id)); }

std::string Graph::typeString(const Type &t) const { return typeToString(t, dimNames()); }

ValueId Graph::findValue(std::string_view valueName) const {
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].name == valueName)
      return static_cast<ValueId>(i);
  return kNoValue;
}

int32_t Graph::findDim(std::string_view dimName) const {
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i].name == dimName)
      return static_cast<int32_t>(i);
  return -1;
}

std::vector<ValueId> Graph::valuesOfKind(ValueKind kind) const {
  std::vector<ValueId> out;
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].kind == kind)
      out.push_back(static_cast<ValueId>(i));
  return out;
}

std::vector<int> Graph::useCounts() const {
  std::vector<int> uses(values.size(), 0);
  for (const Node &n : nodes)
    for (ValueId v : n.operands)
      ++uses[static_cast<size_t>(v)];
  for (const Update &u : updates)
    ++uses[static_cast<size_t>(u.value)];
  for (const OutputRef &o : outputs)
    ++uses[static_cast<size_t>(o.value)];
  if (minimize)
    ++uses[static_cast<size_t>(minimize->loss)];
  return uses;
}

std::vector<std::string> optimizerArgProblems(const Minimize &m) {
  std::vector<std::string> problems;
  const CallableInfo *info = findOptimizer(m.optimizer);
  if (!info)
    return problems;
  for (size_t i = 0; i < info->attrs.size() && i < m.args.size(); ++i) {
    std::string name(info->attrs[i].name);
    if (m.args[i].isNone())
      continue;
    double v = m.args[i].number;
    bool beta = name == "beta1" || name == "beta2";
    if (beta ? !(v >= 0 && v < 1) : !(v >= 0))
      problems.push_back(fmt::format("{}: {} must be {}, got {}", m.optimizer, name,
                                     beta ? "in [0, 1)" : "at least 0", formatNumber(v)));
  }
  return problems;
}

} // namespace nnc
