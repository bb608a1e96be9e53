/// The static dataflow graph: declarations (dims, inputs, params, states,
/// consts), op nodes in topological order, updates, outputs and `minimize`.
#pragma once

#include "ir/Attr.h"
#include "ir/OpInfo.h"
#include "nnc/SourceLoc.h"
#include "ir/Type.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

using NodeId = int32_t;

enum class ValueKind : uint8_t {
  Input,     ///< supplied by the caller at every call
  Param,     ///< trainable, owned by the model
  State,     ///< owned by the model, not differentiated
  Const,     ///< a fixed tensor written as a literal
  Immediate, ///< a scalar number written inline as an operand (`mul(x, 2)`)
  Op,        ///< the result of a node
};

const char *valueKindName(ValueKind k);

/// How a param or state gets its first value: a named initializer with its
/// arguments (`uniform(-1, 1, seed=1)`), or a literal (`name == "literal"`,
/// numbers in Value::data).
struct Initializer {
  std::string name;
  Attrs args;
  SourceLoc loc;
};

struct Value {
  std::string name; ///< empty for unnamed temporaries (printed as tK)
  ValueKind kind = ValueKind::Op;
  Type type;
  SourceLoc loc;
  NodeId def = -1;          ///< the defining node, for ValueKind::Op
  Initializer init;         ///< for Param and State
  std::vector<double> data; ///< literal numbers: Const, Immediate, literal init

  bool isDeclaration() const { return kind != ValueKind::Op && kind != ValueKind::Immediate; }
  /// The scalar number of an Immediate.
  double immediate() const { return data.empty() ? 0.0 : data[0]; }
};

struct Node {
  OpKind op;
  std::vector<ValueId> operands;
  Attrs attrs; ///< one per AttrSpec of the op, defaults filled in
  ValueId result = kNoValue;
  SourceLoc loc;

  const OpInfo &info() const { return opInfo(op); }
};

/// `NAME <- VALUE`: a training-step update of a param or state.
struct Update {
  ValueId target;
  ValueId value;
  SourceLoc loc;
};

struct OutputRef {
  ValueId value;
  SourceLoc loc;
};

/// `minimize LOSS with OPTIMIZER(args)`.
struct Minimize {
  ValueId loss;
  std::string optimizer;
  Attrs args;
  SourceLoc loc;
};

/// What is wrong with `minimize`'s optimizer arguments, outside the
/// ranges PyTorch's optimizers accept (lr, momentum, weight_decay and eps
/// at least 0; betas in [0, 1)): one message each.
std::vector<std::string> optimizerArgProblems(const Minimize &m);

struct DimDecl {
  std::string name;
  SourceLoc loc;
};

class Graph {
public:
  std::string name;
  SourceLoc loc;
  std::vector<DimDecl> dims;
  std::vector<Value> values;
  std::vector<Node> nodes; ///< topological order; also the printing order
  std::vector<Update> updates;
  std::vector<OutputRef> outputs;
  std::optional<Minimize> minimize;

  Value &value(ValueId id) { return values[static_cast<size_t>(id)]; }
  const Value &value(ValueId id) const { return values[static_cast<size_t>(id)]; }
  const Type &type(ValueId id) const { return value(id).type; }
  /// An immediate or a rank-0 tensor: one number for every element.
  bool isScalar(ValueId id) const {
    return value(id).kind == ValueKind::Immediate || type(id).rank() == 0;
  }
  Node &node(NodeId id) { return nodes[static_cast<size_t>(id)]; }
  const Node &node(NodeId id) const { return nodes[static_cast<size_t>(id)]; }

  /// The names of the `dim`s, indexed by Dim::symbol.
  DimNames dimNames() const;
  std::string typeString(ValueId id) const;
  std::string typeString(const Type &t) const;
  /// The value or dim with this user-given name, or kNoValue / -1.
  ValueId findValue(std::string_view valueName) const;
  int32_t findDim(std::string_view dimName) const;
  /// Values of one declaration kind, in declaration order.
  std::vector<ValueId> valuesOfKind(ValueKind kind) const;
  /// Numbers of uses of each value by nodes, updates, outputs and minimize.
  std::vector<int> useCounts() const;
};

} // namespace nnc
