/// Input binding shared by the interpreter and the JIT sessions.
#include "runtime/InputBinding.h"

namespace nnc {

namespace {

/// Values of the symbolic dims as inputs bind them, and which input bound
/// each (for messages).
class DimBinding {
public:
  explicit DimBinding(const Graph &g)
      : graph_(g), dims_(g.dims.size(), -1), boundBy_(g.dims.size(), kNoValue) {}

  /// Checks input `id` against tensor `t` and binds its symbolic dims,
  /// reporting every mismatch.
  void bind(ValueId id, const Tensor &t, Diagnostics &diags) {
    const Value &v = graph_.value(id);
    if (t.empty() || t.dtype() != v.type.dtype || t.rank() != v.type.rank()) {
      mismatch(v, id, t, diags, "");
      return;
    }
    for (size_t axis = 0; axis < v.type.rank(); ++axis) {
      const Dim &d = v.type.shape[axis];
      if (d.isStatic()) {
        if (d.size != t.dim(axis))
          return mismatch(v, id, t, diags, origins(v.type));
        continue;
      }
      auto sym = static_cast<size_t>(d.symbol);
      if (boundBy_[sym] == kNoValue) {
        dims_[sym] = t.dim(axis);
        boundBy_[sym] = id;
      } else if (dims_[sym] != t.dim(axis)) {
        const std::string &dimName = graph_.dims[sym].name;
        diags.error(v.loc, "input '{}' has {} for dim {} but input '{}' set {} = {}", v.name,
                    t.dim(axis), dimName, graph_.value(boundBy_[sym]).name, dimName, dims_[sym]);
      }
    }
  }

  std::vector<int64_t> takeDims() { return std::move(dims_); }

private:
  void mismatch(const Value &v, ValueId id, const Tensor &t, Diagnostics &diags,
                const std::string &why) {
    diags.error(v.loc, "input '{}' expects {} but got {}{}", v.name, graph_.typeString(id),
                t.empty() ? std::string("no tensor") : t.typeString(), why);
  }

  /// " (B = 4 from input 'x')" for the dims of `t` already bound.
  std::string origins(const Type &t) const {
    std::string text;
    for (const Dim &d : t.shape) {
      if (d.isStatic() || boundBy_[static_cast<size_t>(d.symbol)] == kNoValue)
        continue;
      auto sym = static_cast<size_t>(d.symbol);
      text += fmt::format("{}{} = {} from input '{}'", text.empty() ? " (" : ", ",
                          graph_.dims[sym].name, dims_[sym], graph_.value(boundBy_[sym]).name);
    }
    return text.empty() ? text : text + ")";
  }

  const Graph &graph_;
  std::vector<int64_t> dims_;
  std::vector<ValueId> boundBy_;
};

} // namespace

Result<std::vector<int64_t>> bindInputs(const Graph &g, const std::vector<Tensor> &inputs) {
  using R = Result<std::vector<int64_t>>;
  std::vector<ValueId> ids = g.valuesOfKind(ValueKind::Input);
  if (inputs.size() != ids.size())
    return R::failAt(g.loc, "model '{}' has {} input{} but {} tensor{} given", g.name, ids.size(),
                     ids.size() == 1 ? "" : "s", inputs.size(),
                     inputs.size() == 1 ? " was" : "s were");
  DimBinding binding(g);
  Diagnostics diags;
  std::vector<int> uses = g.useCounts();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (inputs[i].empty() && uses[static_cast<size_t>(ids[i])] == 0)
      continue; // no output depends on it: it may be left out
    binding.bind(ids[i], inputs[i], diags);
  }
  if (diags.hasErrors())
    return R(std::move(diags));
  return binding.takeDims();
}

} // namespace nnc
