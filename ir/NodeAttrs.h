/// Named, typed access to a node's attributes, generated from the op table's
/// attribute list (nnc/Ops.def, NNC_ATTR): `attr::alpha(node)`,
/// `attr::transposeA(node)`, `attr::axes(node)`. Code outside ir/ reads
/// attributes through these, never by position, so reordering or adding an
/// attribute in the table cannot silently read the wrong one. Asking a node
/// for an attribute its op does not have is an internal error. The same
/// accessors take (op, attrs) for the instructions of a fused_elementwise
/// program.
#pragma once

#include "ir/Graph.h"

#include <optional>
#include <string>

namespace nnc {

/// The attribute `name` of `op` in `attrs`; an internal error when the op
/// has none of that name.
const AttrValue &attrNamed(OpKind op, const Attrs &attrs, const char *name);

namespace attr {

#define NNC_ATTR_TYPE_Float double
#define NNC_ATTR_TYPE_OptFloat std::optional<double>
#define NNC_ATTR_TYPE_OptInt std::optional<int64_t>
#define NNC_ATTR_TYPE_Bool bool
#define NNC_ATTR_TYPE_Int int64_t
#define NNC_ATTR_TYPE_Name const std::string &
#define NNC_ATTR_TYPE_Value const AttrValue &
#define NNC_ATTR_GET_Float(v) (v).number
#define NNC_ATTR_GET_OptFloat(v) ((v).isNone() ? std::nullopt : std::optional<double>((v).number))
#define NNC_ATTR_GET_OptInt(v) ((v).isNone() ? std::nullopt : std::optional<int64_t>((v).asInt()))
#define NNC_ATTR_GET_Bool(v) (v).boolean
#define NNC_ATTR_GET_Int(v) (v).asInt()
#define NNC_ATTR_GET_Name(v) (v).ident
#define NNC_ATTR_GET_Value(v) (v)

#define NNC_ATTR(accessor, name, kind)                                                             \
  inline NNC_ATTR_TYPE_##kind accessor(OpKind op, const Attrs &attrs) {                            \
    return NNC_ATTR_GET_##kind(attrNamed(op, attrs, name));                                        \
  }                                                                                                \
  inline NNC_ATTR_TYPE_##kind accessor(const Node &node) { return accessor(node.op, node.attrs); }
#define NNC_OP(...)
#include "nnc/Ops.def"
#undef NNC_OP
#undef NNC_ATTR

/// Whether `node` reads its operands as bf16: it has `precision` (matmul,
/// conv2d and their forms) and it is bf16.
inline bool bf16Operands(const Node &node) {
  return node.info().attrIndex("precision") >= 0 && precision(node) == "bf16";
}

} // namespace attr

} // namespace nnc
