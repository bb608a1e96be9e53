/// The `activation` attribute of the fused matmul ops: `none` or the name of
/// an element-wise op that a fused matmul may apply in its epilogue, with the
/// gradient op that goes with it. The list is the op table's (nnc/Ops.def,
/// NNC_ACTIVATION).
#pragma once

#include "ir/OpInfo.h"

#include <optional>
#include <string>
#include <string_view>

namespace nnc {

struct Activation {
  bool known = false; ///< the name is `none` or one of the table's
  bool none = true;   ///< `none`: identity, gradient dy
  OpKind forward = OpKind::Relu;
  OpKind grad = OpKind::ReluGrad;
  /// The gradient is too costly to recompute in each matmul that reads it
  /// (gelu's erf and exp): fuse-matmul computes it once instead.
  bool costlyGradient = false;
};

/// The activation called `name` (known == false for an unknown name).
Activation activationNamed(std::string_view name);

/// The activation whose forward op is `op`, if the table lists one.
std::optional<Activation> activationOf(OpKind op);

/// The activation whose gradient op is `grad`, if the table lists one.
std::optional<Activation> activationOfGradient(OpKind grad);

/// The accepted names, for messages: "none, relu, ... or gelu".
std::string activationNames();

} // namespace nnc
