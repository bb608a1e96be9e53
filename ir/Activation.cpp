/// Fused activations, from the op table.
#include "ir/Activation.h"

#include <vector>

namespace nnc {

namespace {

const std::vector<Activation> &activations() {
  static const std::vector<Activation> table = {
#define NNC_OP(...)
#define NNC_ACTIVATION(op, gradOp, costly)                                                         \
  Activation{true, false, OpKind::op, OpKind::gradOp, costly},
#include "nnc/Ops.def"
#undef NNC_ACTIVATION
#undef NNC_OP
  };
  return table;
}

} // namespace

Activation activationNamed(std::string_view name) {
  if (name == "none")
    return {true, true, OpKind::Relu, OpKind::ReluGrad};
  for (const Activation &a : activations())
    if (opInfo(a.forward).name == name)
      return a;
  return {};
}

std::optional<Activation> activationOf(OpKind op) {
  for (const Activation &a : activations())
    if (a.forward == op)
      return a;
  return std::nullopt;
}

std::optional<Activation> activationOfGradient(OpKind grad) {
  for (const Activation &a : activations())
    if (a.grad == grad)
      return a;
  return std::nullopt;
}

std::string activationNames() {
  std::string names = "none";
  const std::vector<Activation> &all = activations();
  for (size_t i = 0; i < all.size(); ++i)
    names += std::string(i + 1 == all.size() ? " or " : ", ") + opInfo(all[i].forward).name;
  return names;
}

} // namespace nnc
