/// Shape rules of the data-movement ops: reshape, transpose, concat, slice,
/// tril/triu, gather, and the gradients of slice and gather.
#include "ir/ShapeRules.h"
#include "ir/InternalError.h"
#include "ir/SliceRange.h"

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

/// The `axis` attribute resolved against `rank` (nullopt after an error).
std::optional<size_t> axisOf(ShapeQuery &q, size_t rank) {
  if (q.attr("axis").isNone())
    return std::nullopt; // a missing required attribute: reported where it was read
  int64_t axis = q.attr("axis").asInt();
  if (!q.normalizeAxis(axis, rank, "axis"))
    return std::nullopt;
  return static_cast<size_t>(axis);
}

/// concat(a, b, ..., axis=): one dtype and rank; static extents along the
/// axis, which add up; the other dims equal.
TypeOrNone inferConcat(ShapeQuery &q) {
  const Type &first = q.operand(0);
  std::optional<size_t> axis = axisOf(q, first.rank());
  if (!axis)
    return std::nullopt;
  Type out = first;
  int64_t total = 0;
  for (size_t i = 0; i < q.operands.size(); ++i) {
    const Type &t = q.operand(i);
    if (t.dtype != first.dtype || t.rank() != first.rank())
      return q.error("operand {} is {} but operand 0 is {}: one dtype and rank", i, q.str(t),
                     q.str(first));
    for (size_t a = 0; a < t.rank(); ++a)
      if (a != *axis && t.shape[a] != first.shape[a])
        return q.error("operand {} is {} but operand 0 is {}: dims other than axis {} must match",
                       i, q.str(t), q.str(first), *axis);
    if (!t.shape[*axis].isStatic())
      return q.error("operand {} is {}: the concatenated axis must be static", i, q.str(t));
    total += t.shape[*axis].size;
  }
  out.shape[*axis] = Dim::fixed(total);
  return out;
}

/// slice(x, axis=, start=, end=, step=): x with the axis (static) cut to
/// Python's x[start:end:step].
TypeOrNone inferSlice(ShapeQuery &q, const Type &x) {
  std::optional<size_t> axis = axisOf(q, x.rank());
  if (!axis)
    return std::nullopt;
  if (!x.shape[*axis].isStatic())
    return q.error("{}: the sliced axis {} must be static", q.str(x), *axis);
  int64_t step = q.attr("step").asInt();
  if (step < 1)
    return q.error("step must be at least 1, got {}", step);
  const AttrValue &end = q.attr("end");
  SliceRange r =
      sliceRange(x.shape[*axis].size, q.attr("start").asInt(),
                 end.isNone() ? std::nullopt : std::optional<int64_t>(end.asInt()), step);
  Type out = x;
  out.shape[*axis] = Dim::fixed(r.count);
  return out;
}

/// tril/triu: rank 2 or more; the type is kept.
TypeOrNone inferTriangle(ShapeQuery &q) {
  const Type &x = q.operand(0);
  if (x.rank() < 2)
    return q.error("{} has rank {}: it needs two axes (the last two) or more", q.str(x), x.rank());
  return x;
}

/// cast(x, to=): x's shape in the dtype `to` names.
TypeOrNone inferCast(ShapeQuery &q) {
  const std::string &to = q.attr("to").ident;
  if (to != "f32" && to != "i32")
    return q.error("to must be f32 or i32, got '{}'", to);
  Type out = q.operand(0);
  out.dtype = to == "f32" ? DType::F32 : DType::I32;
  return out;
}

/// gather(x, indices, axis=): indices i32; x.shape[:axis] + indices.shape +
/// x.shape[axis+1:].
TypeOrNone inferGather(ShapeQuery &q, const Type &x, const Type &indices) {
  if (indices.dtype != DType::I32)
    return q.error("indices must be i32, got {}", q.str(indices));
  if (x.rank() == 0)
    return q.error("{} has no axis to gather from", q.str(x));
  std::optional<size_t> axis = axisOf(q, x.rank());
  if (!axis)
    return std::nullopt;
  Type out{x.dtype, {}};
  out.shape.assign(x.shape.begin(), x.shape.begin() + static_cast<std::ptrdiff_t>(*axis));
  out.shape.insert(out.shape.end(), indices.shape.begin(), indices.shape.end());
  out.shape.insert(out.shape.end(), x.shape.begin() + static_cast<std::ptrdiff_t>(*axis) + 1,
                   x.shape.end());
  return out;
}

/// slice_grad (x, dy) and gather_grad (x, indices, dy): x's type, with dy
/// the type the forward op gives.
TypeOrNone inferScatterGrad(ShapeQuery &q) {
  const Type &x = q.operand(0);
  const Type &dy = q.operands.back();
  TypeOrNone forward =
      q.info.kind == OpKind::SliceGrad ? inferSlice(q, x) : inferGather(q, x, q.operand(1));
  if (!forward)
    return std::nullopt;
  if (x.dtype != DType::F32)
    return q.error("x must be f32, got {}", q.str(x));
  if (dy != *forward)
    return q.error("the incoming gradient is {} but the forward result is {}", q.str(dy),
                   q.str(*forward));
  return x;
}

} // namespace

TypeOrNone inferShapeOpType(ShapeQuery &q) {
  switch (q.info.kind) {
  case OpKind::Reshape:
    return inferReshape(q);
  case OpKind::Transpose:
    return inferTranspose(q);
  case OpKind::Concat:
    return inferConcat(q);
  case OpKind::Slice:
    return inferSlice(q, q.operand(0));
  case OpKind::Tril:
  case OpKind::Triu:
    return inferTriangle(q);
  case OpKind::Gather:
    return inferGather(q, q.operand(0), q.operand(1));
  case OpKind::Cast:
    return inferCast(q);
  case OpKind::SliceGrad:
  case OpKind::GatherGrad:
    return inferScatterGrad(q);
  default:
    NNC_UNHANDLED_OPKIND(q.info.kind, "shape rule");
  }
}

} // namespace nnc
