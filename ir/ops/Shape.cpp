/// reshape and transpose.
#include "ir/ShapeRules.h"

#include <algorithm>

namespace nnc {

namespace {

/// reshape(x, shape=[...]): the dim names of `shape` are exactly x's, in
/// order; the static entries multiply to x's static product; one -1 infers.
TypeOrNone inferReshape(ShapeQuery &q) {
  const Type &x = q.operand(0);
  const AttrValue &spec = q.attr("shape");
  Shape out;
  std::vector<int32_t> outSymbols, inSymbols;
  int64_t staticProduct = 1;
  int inferIndex = -1;
  for (const AttrValue &e : spec.list) {
    if (e.kind == AttrValue::Kind::Ident) {
      auto it = std::find(q.dimNames.begin(), q.dimNames.end(), e.ident);
      if (it == q.dimNames.end())
        return q.error("'{}' in shape is not a dim", e.ident);
      int32_t sym = static_cast<int32_t>(it - q.dimNames.begin());
      outSymbols.push_back(sym);
      out.push_back(Dim::sym(sym));
      continue;
    }
    int64_t n = e.asInt();
    if (n == -1) {
      if (inferIndex >= 0)
        return q.error("shape has more than one -1");
      inferIndex = static_cast<int>(out.size());
      out.push_back(Dim::fixed(1));
      continue;
    }
    if (n < 0)
      return q.error("shape entry {} is negative", n);
    staticProduct *= n;
    out.push_back(Dim::fixed(n));
  }
  int64_t inProduct = 1;
  for (const Dim &d : x.shape) {
    if (d.isSymbolic())
      inSymbols.push_back(d.symbol);
    else
      inProduct *= d.size;
  }
  if (inSymbols != outSymbols)
    return q.error("the dims of shape {} must be those of {}, in the same order", q.str(out),
                   q.str(x));
  if (inferIndex >= 0) {
    if (staticProduct == 0 || inProduct % staticProduct != 0)
      return q.error("cannot infer -1: {} elements do not divide by {}", inProduct, staticProduct);
    out[static_cast<size_t>(inferIndex)] = Dim::fixed(inProduct / staticProduct);
  } else if (staticProduct != inProduct) {
    return q.error("shape {} has {} static elements but {} has {}", q.str(out), staticProduct,
                   q.str(x), inProduct);
  }
  return Type{x.dtype, out};
}

/// transpose(x, perm=[...]): perm is a permutation of x's axes; absent, the
/// axes are reversed.
TypeOrNone inferTranspose(ShapeQuery &q) {
  const Type &x = q.operand(0);
  const AttrValue &permAttr = q.attr("perm");
  std::vector<int64_t> perm;
  if (permAttr.isNone()) {
    for (size_t i = x.rank(); i-- > 0;)
      perm.push_back(static_cast<int64_t>(i));
  } else {
    perm = permAttr.asInts();
  }
  if (perm.size() != x.rank())
    return q.error("perm has {} entries but {} has rank {}", perm.size(), q.str(x), x.rank());
  std::vector<bool> seen(x.rank(), false);
  Type out{x.dtype, {}};
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(x.rank()) || seen[static_cast<size_t>(p)])
      return q.error("perm must be a permutation of 0..{}", x.rank() - 1);
    seen[static_cast<size_t>(p)] = true;
    out.shape.push_back(x.shape[static_cast<size_t>(p)]);
  }
  return out;
}

} // namespace

TypeOrNone inferShapeOpType(ShapeQuery &q) {
  if (q.info.kind == OpKind::Reshape)
    return inferReshape(q);
  return inferTranspose(q);
}

} // namespace nnc
