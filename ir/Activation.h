/// The `activation` attribute of the fused matmul ops: an identifier naming
/// an element-wise op (relu, leaky_relu, sigmoid, tanh, gelu) or none, and
/// the gradient op that goes with it.
#pragma once

#include "ir/OpInfo.h"

#include <string_view>

namespace nnc {

struct Activation {
  bool known = false; ///< the name is one of the accepted ones
  bool none = true;   ///< `none`: identity, gradient dy
  OpKind forward = OpKind::Relu;
  OpKind grad = OpKind::ReluGrad;
};

/// The activation called `name` (known == false for an unknown name).
inline Activation activationNamed(std::string_view name) {
  struct Entry {
    std::string_view name;
    OpKind forward, grad;
  };
  static const Entry entries[] = {
      {"relu", OpKind::Relu, OpKind::ReluGrad},
      {"leaky_relu", OpKind::LeakyRelu, OpKind::LeakyReluGrad},
      {"sigmoid", OpKind::Sigmoid, OpKind::SigmoidGrad},
      {"tanh", OpKind::Tanh, OpKind::TanhGrad},
      {"gelu", OpKind::Gelu, OpKind::GeluGrad},
  };
  if (name == "none")
    return {true, true, OpKind::Relu, OpKind::ReluGrad};
  for (const Entry &e : entries)
    if (e.name == name)
      return {true, false, e.forward, e.grad};
  return {};
}

/// The accepted names, for messages.
inline const char *activationNames() { return "none, relu, leaky_relu, sigmoid, tanh or gelu"; }

} // namespace nnc
