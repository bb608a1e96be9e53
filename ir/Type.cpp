/// Types, their printed form, and NumPy broadcasting over symbolic dims.
#include "ir/Type.h"

#include <algorithm>
#include <limits>

namespace nnc {

const char *dtypeName(DType t) { return t == DType::F32 ? "f32" : "i32"; }

bool Type::isStatic() const {
  return std::all_of(shape.begin(), shape.end(), [](const Dim &d) { return d.isStatic(); });
}

int64_t Type::staticElements() const {
  for (const Dim &d : shape)
    if (d.size == 0)
      return 0;
  int64_t n = 1;
  for (const Dim &d : shape)
    if (__builtin_mul_overflow(n, d.size, &n))
      return std::numeric_limits<int64_t>::max();
  return n;
}

std::string dimToString(const Dim &d, const DimNames &names) {
  if (d.isStatic())
    return std::to_string(d.size);
  if (static_cast<size_t>(d.symbol) < names.size())
    return names[d.symbol];
  return "?" + std::to_string(d.symbol);
}

std::string shapeToString(const Shape &s, const DimNames &names) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i)
      out += ", ";
    out += dimToString(s[i], names);
  }
  return out + "]";
}

std::string typeToString(const Type &t, const DimNames &names) {
  return dtypeName(t.dtype) + shapeToString(t.shape, names);
}

bool broadcastShapes(const Shape &a, const Shape &b, Shape &out) {
  size_t rank = std::max(a.size(), b.size());
  Shape result(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Align from the right; a missing dim acts as 1.
    const Dim *da = i < a.size() ? &a[a.size() - 1 - i] : nullptr;
    const Dim *db = i < b.size() ? &b[b.size() - 1 - i] : nullptr;
    Dim &r = result[rank - 1 - i];
    if (!da)
      r = *db;
    else if (!db)
      r = *da;
    else if (*da == *db)
      r = *da;
    else if (da->isOne())
      r = *db;
    else if (db->isOne())
      r = *da;
    else
      return false;
  }
  out = std::move(result);
  return true;
}

bool literalFills(const std::vector<int64_t> &literal, const Type &t) {
  if (literal.size() > t.rank())
    return false;
  for (size_t i = 0; i < literal.size(); ++i)
    if (!t.shape[i].isStatic() || t.shape[i].size != literal[i])
      return false;
  if (literal.size() == t.rank())
    return true;
  // A shorter literal ends where a dim is 0; the dims after it must be static.
  if (literal.empty() || literal.back() != 0)
    return false;
  for (size_t i = literal.size(); i < t.rank(); ++i)
    if (!t.shape[i].isStatic())
      return false;
  return true;
}

} // namespace nnc
