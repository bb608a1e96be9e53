/// Attribute value construction and comparison.
#include "ir/Attr.h"

#include <cmath>

namespace nnc {

AttrValue AttrValue::num(double v) {
  AttrValue a;
  a.kind = Kind::Number;
  a.number = v;
  return a;
}

AttrValue AttrValue::flag(bool b) {
  AttrValue a;
  a.kind = Kind::Bool;
  a.boolean = b;
  return a;
}

AttrValue AttrValue::name(std::string s) {
  AttrValue a;
  a.kind = Kind::Ident;
  a.ident = std::move(s);
  return a;
}

AttrValue AttrValue::text(std::string s) {
  AttrValue a;
  a.kind = Kind::Text;
  a.ident = std::move(s);
  return a;
}

AttrValue AttrValue::ints(const std::vector<int64_t> &v) {
  AttrValue a;
  a.kind = Kind::List;
  for (int64_t x : v)
    a.list.push_back(num(static_cast<double>(x)));
  return a;
}

AttrValue AttrValue::values(std::vector<AttrValue> v) {
  AttrValue a;
  a.kind = Kind::List;
  a.list = std::move(v);
  return a;
}

bool AttrValue::isInteger() const {
  return kind == Kind::Number && std::nearbyint(number) == number && std::fabs(number) < 9.0e15;
}

std::vector<int64_t> AttrValue::asInts() const {
  if (kind == Kind::Number)
    return {asInt()};
  std::vector<int64_t> out;
  for (const AttrValue &v : list)
    out.push_back(v.asInt());
  return out;
}

bool operator==(const AttrValue &a, const AttrValue &b) {
  if (a.kind != b.kind)
    return false;
  switch (a.kind) {
  case AttrValue::Kind::None:
    return true;
  case AttrValue::Kind::Number:
    return a.number == b.number;
  case AttrValue::Kind::Bool:
    return a.boolean == b.boolean;
  case AttrValue::Kind::Ident:
  case AttrValue::Kind::Text:
    return a.ident == b.ident;
  case AttrValue::Kind::List:
    return a.list == b.list;
  }
  return false;
}

} // namespace nnc
