/// Attributes of ops, initializers and optimizers: `alpha=0.2`,
/// `stride=[2, 1]`, `shape=[B, -1]`, `keepdims=true`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nnc {

/// An attribute value as written: a number, a boolean, an identifier, a
/// string (`"weights.safetensors"`), or a list of values. `None` means
/// "absent" (for attributes whose absence has a meaning, such as `axes` of a
/// reduction).
struct AttrValue {
  enum class Kind : uint8_t { None, Number, Bool, Ident, Text, List };
  Kind kind = Kind::None;
  double number = 0;
  bool boolean = false;
  std::string ident; ///< an Ident's name, or a Text's characters
  std::vector<AttrValue> list;

  static AttrValue none() { return {}; }
  static AttrValue num(double v);
  static AttrValue flag(bool b);
  static AttrValue name(std::string s);
  static AttrValue text(std::string s);
  static AttrValue ints(const std::vector<int64_t> &v);
  static AttrValue values(std::vector<AttrValue> v);

  bool isNone() const { return kind == Kind::None; }
  bool isInteger() const;
  int64_t asInt() const { return static_cast<int64_t>(number); }
  /// The integers of a list (or of a single number, as a one-element list).
  std::vector<int64_t> asInts() const;

  friend bool operator==(const AttrValue &a, const AttrValue &b);
  friend bool operator!=(const AttrValue &a, const AttrValue &b) { return !(a == b); }
};

/// What an attribute accepts, and how it is normalized and printed.
enum class AttrType : uint8_t {
  Float,   ///< a number
  Int,     ///< an integer
  Bool,    ///< true or false
  Ints,    ///< a list of integers (`perm`)
  Axes,    ///< a non-empty list of integers, or absent for "all axes"
  IntPair, ///< an integer or `[h, w]`; stored as a two-element list
  Shape,   ///< a list of integers and `dim` names (`reshape`'s `shape`)
  Name,    ///< an identifier
  Text,    ///< a string: `"FILE"`
  Program, ///< fused_elementwise's instructions: a list of [op, operands..., attributes...]
};

/// One attribute of a table entry. `positional` attributes may be given
/// without a key and print without one (initializers: `uniform(-1, 1)`).
struct AttrSpec {
  const char *name;
  AttrType type;
  AttrValue defaultValue; ///< used when not given (None: absent)
  bool required = false;
  bool positional = false;
};

/// Attribute values of one op, in the order of its AttrSpecs.
using Attrs = std::vector<AttrValue>;

} // namespace nnc
