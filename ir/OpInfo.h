/// The op table (nnc/Ops.def) as C++: the op enum, each op's name, arity,
/// attributes and traits, and lookup by name.
#pragma once

#include "ir/Attr.h"
#include "nnc/Types.h"

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <string_view>
#include <vector>

namespace nnc {

enum class OpKind : uint16_t {
#define NNC_OP(id, name, family, minIn, maxIn, traits, ...) id,
#include "nnc/Ops.def"
#undef NNC_OP
};

inline constexpr int kNumOps = 0
#define NNC_OP(id, name, family, minIn, maxIn, traits, ...) +1
#include "nnc/Ops.def"
#undef NNC_OP
    ;

/// The op families: one file per family in each layer holds their semantics.
enum class OpFamily : uint8_t {
  Elementwise,
  MatMul,
  Shape,
  Reduce,
  Norm,
  Conv,
  Loss,
};

/// Traits that passes ask about instead of listing ops.
enum OpTrait : uint32_t {
  kNone = 0,
  kUnary = 1u << 0,                      ///< element-wise f32 -> f32, same shape
  kBinary = 1u << 1,                     ///< element-wise with NumPy broadcasting
  kCommutative = 1u << 2,                ///< op(a, b) == op(b, a)
  kIntegerOk = 1u << 3,                  ///< accepts i32 operands
  kNoGradient = 1u << 4,                 ///< not differentiable (argmax, eq)
  kReduction = 1u << 5,                  ///< sum/mean/max over `axes`
  kLoss = 1u << 6,                       ///< a scalar loss of (prediction, target)
  kGradientOp = kNoGradient | (1u << 7), ///< written by autodiff (not itself differentiated)
  /// Written by the fusion passes. fused_attention alone has a gradient
  /// rule (training fuses it before autodiff); every other fused op is
  /// written after autodiff (kFused).
  kFusedForm = 1u << 8,
  kFused = kNoGradient | kFusedForm, ///< written by the fusion passes after autodiff
  /// A pooling window: `stride` defaults to `kernel` (absent when equal,
  /// and so printed).
  kWindow = 1u << 9,
  /// Operand 0 selects (where's condition, gather's indices): no gradient
  /// flows to it, even when it is an f32 computed from params.
  kSelector = 1u << 10,
  /// Written by the training-mode rewrite (passes/TrainingMode.h) for an op
  /// that trains differently (batchnorm, dropout); users write the op itself.
  kTrainingForm = 1u << 11,
  /// Element-wise, and each element takes a division, a square root or a
  /// transcendental function: tens of cycles, so a loop of fewer elements
  /// already pays for the threads.
  kCostly = 1u << 12,
};

/// Everything the table says about one op.
struct OpInfo {
  OpKind kind;
  const char *name;
  OpFamily family;
  int minInputs;
  int maxInputs;
  uint32_t traits;
  std::vector<AttrSpec> attrs;

  bool has(OpTrait t) const { return (traits & t) == t; }
  /// Index of the named attribute, or -1.
  int attrIndex(std::string_view attrName) const;
};

const OpInfo &opInfo(OpKind kind);

/// The attributes of `op` at their defaults, in its AttrSpec order.
Attrs defaultAttrs(OpKind op);
/// The same, with the named attributes set (a name `op` lacks is an
/// internal error).
Attrs attrsWith(OpKind op, std::initializer_list<std::pair<const char *, AttrValue>> named);
/// The op called `name`, or nullptr.
const OpInfo *findOp(std::string_view name);
const std::vector<OpInfo> &allOps();

/// A call-like form that is not an op: an initializer (`uniform(-1, 1)`) or
/// an optimizer (`sgd(lr=0.1)`). Their arguments are attributes.
struct CallableInfo {
  const char *name;
  std::vector<AttrSpec> attrs;
  int attrIndex(std::string_view attrName) const;
};

const CallableInfo *findInitializer(std::string_view name);
const CallableInfo *findOptimizer(std::string_view name);
const std::vector<CallableInfo> &allInitializers();
const std::vector<CallableInfo> &allOptimizers();

} // namespace nnc
