/// The ONNX importer's data-movement converters: Gather, Concat, Squeeze
/// and Unsqueeze, Slice, Flatten, Reshape, Transpose (each also folds the
/// known values of shape arithmetic, frontend/onnx/ShapeArithmetic.cpp).
#include "frontend/onnx/Importer.h"
#include "frontend/onnx/TensorProto.h"
#include "ir/Printer.h"

#include <fmt/format.h>

namespace nnc::onnximport {

void Importer::gather(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 2))
    return;
  std::optional<int64_t> axis = axisIn(n, intAttr(n, "axis", 0), in[0].shape.size());
  if (!axis)
    return;
  if (std::optional<Dims> e = entriesOf(in[0]); e && in[1].ints && in[0].shape.size() == 1) {
    Dims picked; // shape arithmetic: folded
    for (int64_t i : *in[1].ints) {
      auto size = static_cast<int64_t>(e->size());
      if (i < -size || i >= size)
        return fail(n, fmt::format("index {} is outside the axis of size {}", i, size));
      picked.push_back((*e)[static_cast<size_t>(i < 0 ? i + size : i)]);
    }
    return defineEntries(n, picked, in[1].shape);
  }
  if (in[1].ints) {
    // Constant indices: checked, and negative ones (ONNX counts them from
    // the end) turned into nnc's [0, extent).
    std::optional<int64_t> extent = staticDim(in[0].shape[static_cast<size_t>(*axis)]);
    bool negative = false;
    for (int64_t i : *in[1].ints) {
      if (extent && (i < -*extent || i >= *extent))
        return fail(n, fmt::format("index {} is outside the axis of size {}", i, *extent));
      negative = negative || i < 0;
    }
    if (negative && !extent)
      return fail(n, "negative indices into a symbolic axis are not supported");
    if (negative) {
      in[1].name = fresh(n.input(1) + "_wrapped");
      for (int64_t &i : *in[1].ints)
        i = i < 0 ? i + *extent : i;
    }
  }
  Dims out(in[0].shape.begin(), in[0].shape.begin() + *axis);
  out.insert(out.end(), in[1].shape.begin(), in[1].shape.end());
  out.insert(out.end(), in[0].shape.begin() + *axis + 1, in[0].shape.end());
  std::string indices = tensorName(in[1]);
  std::optional<int64_t> extent = staticDim(in[0].shape[static_cast<size_t>(*axis)]);
  if (!in[1].ints && extent) {
    // Run-time indices may count from the end (ONNX takes [-n, n)): n is
    // added where one is negative, 1 - step(index) being 1 exactly there.
    indices = fmt::format("add({0}, mul(cast(sub(1, step(cast({0}, to=f32))), to=i32), {1}))",
                          indices, *extent);
  }
  define(n, fmt::format("gather({}, {}, axis={})", tensorName(in[0]), indices, *axis), out,
         in[0].integer);
}

void Importer::concat(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  std::optional<int64_t> axis = axisIn(n, intAttr(n, "axis", 0), in[0].shape.size());
  if (!axis)
    return;
  if (in.size() == 1) {
    known_[n.output(0)] = in[0];
    return;
  }
  Dims joined; // shape arithmetic: folded when every operand's values are known
  for (const Known &k : in) {
    std::optional<Dims> e = entriesOf(k);
    if (!e || k.shape.size() != 1 || !k.integer)
      break;
    joined.insert(joined.end(), e->begin(), e->end());
    if (&k == &in.back())
      return defineEntries(n, joined, {std::to_string(joined.size())});
  }
  std::string list;
  int64_t total = 0;
  bool known = true;
  for (const Known &k : in)
    if (k.shape.size() != in[0].shape.size())
      return fail(n, "the operands' ranks differ");
  for (Known &k : in) {
    list += (list.empty() ? "" : ", ") + tensorName(k);
    std::optional<int64_t> e = staticDim(k.shape[static_cast<size_t>(*axis)]);
    known = known && e.has_value();
    total += e.value_or(0);
  }
  if (!known)
    return fail(n, "the concatenated axis must be static");
  Dims out = in[0].shape;
  out[static_cast<size_t>(*axis)] = std::to_string(total);
  define(n, fmt::format("concat({}, axis={})", list, *axis), out, in[0].integer);
}

/// Unsqueeze and Squeeze as a reshape to the new dims.
void Importer::squeeze(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  std::optional<std::vector<int64_t>> axes = constantInts(n, in, 1, "axes");
  if (!axes)
    return;
  Dims out = in[0].shape;
  if (n.op_type() == "Unsqueeze") {
    auto rank = out.size() + axes->size();
    std::vector<int64_t> sorted;
    for (int64_t a : *axes) {
      std::optional<int64_t> axis = axisIn(n, a, rank);
      if (!axis)
        return;
      sorted.push_back(*axis);
    }
    std::sort(sorted.begin(), sorted.end());
    for (int64_t a : sorted)
      out.insert(out.begin() + std::min<int64_t>(a, static_cast<int64_t>(out.size())), "1");
  } else {
    std::vector<bool> drop(out.size(), false);
    for (int64_t a : *axes) {
      std::optional<int64_t> axis = axisIn(n, a, out.size());
      if (!axis)
        return;
      if (out[static_cast<size_t>(*axis)] != "1")
        return fail(
            n, fmt::format("axis {} has size {}, not 1", *axis, out[static_cast<size_t>(*axis)]));
      drop[static_cast<size_t>(*axis)] = true;
    }
    Dims kept;
    for (size_t i = 0; i < out.size(); ++i)
      if (!(axes->empty() ? out[i] == "1" : drop[i]))
        kept.push_back(out[i]);
    out = kept;
  }
  if (in[0].ints || in[0].entries) // folded: the same values in new dims
    return defineFolded(n, in[0], out);
  define(n, "reshape(" + tensorName(in[0]) + ", shape=" + dimsText(out) + ")", out, in[0].integer);
}

/// Slice with constant starts, ends, axes and steps: one nnc slice per axis.
void Importer::slice(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  std::optional<std::vector<int64_t>> starts = constantInts(n, in, 1, "starts"),
                                      ends = constantInts(n, in, 2, "ends"),
                                      axes = constantInts(n, in, 3, "axes"),
                                      steps = constantInts(n, in, 4, "steps");
  if (!starts || !ends || !axes || !steps)
    return;
  if (starts->size() != ends->size() || (!axes->empty() && axes->size() != starts->size()) ||
      (!steps->empty() && steps->size() != starts->size()))
    return fail(n, "starts, ends, axes and steps differ in length");
  Dims shape = in[0].shape;
  std::optional<Dims> values = shape.size() == 1 ? entriesOf(in[0]) : std::nullopt;
  std::string expr = values ? "" : tensorName(in[0]);
  for (size_t k = 0; k < starts->size(); ++k) {
    int64_t a = axes->empty() ? static_cast<int64_t>(k) : (*axes)[k];
    std::optional<int64_t> axis = axisIn(n, a, shape.size());
    if (!axis)
      return;
    int64_t step = steps->empty() ? 1 : (*steps)[k];
    if (step < -kMaxExtent || step > kMaxExtent)
      return fail(n, "a step is out of range");
    std::optional<int64_t> extent = staticDim(shape[static_cast<size_t>(*axis)]);
    if (!extent || step == 0)
      return fail(n, "slices of symbolic axes (or step 0) are not supported");
    if (step < 0)
      return fail(n, "negative steps are not supported (nnc's slice steps forward)");
    // Python's rules, as nnc's slice: clamp into [0, extent], then count;
    // the op is written with the clamped bounds.
    auto clampIndex = [&](int64_t i) {
      if (i < 0)
        i = std::max<int64_t>(i, -kMaxExtent) + *extent;
      return std::clamp<int64_t>(i, 0, *extent);
    };
    int64_t begin = clampIndex((*starts)[k]), end = clampIndex((*ends)[k]);
    int64_t count = std::max<int64_t>(0, (end - begin + step - 1) / step);
    if (values) { // shape arithmetic: folded
      Dims picked;
      for (int64_t j = 0; j < count; ++j)
        picked.push_back((*values)[static_cast<size_t>(begin + j * step)]);
      values = picked;
    } else {
      expr = fmt::format("slice({}, axis={}, start={}, end={}, step={})", expr, *axis, begin,
                         std::max(begin, end), step);
    }
    shape[static_cast<size_t>(*axis)] = std::to_string(count);
  }
  if (values)
    return defineEntries(n, *values, shape);
  define(n, expr, shape, in[0].integer);
}

void Importer::flatten(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  const Dims &d = in[0].shape;
  int64_t a = intAttr(n, "axis", 1), rank = static_cast<int64_t>(d.size());
  if (a < -rank || a > rank || rank == 0)
    return fail(n, fmt::format("axis {} is outside a rank-{} input", a, rank));
  auto axis = static_cast<size_t>(a < 0 ? a + rank : a);
  std::optional<int64_t> outer = product(d, 0, axis), inner = product(d, axis, d.size());
  Dims out;
  if (axis == 1 && inner)
    out = {d[0], std::to_string(*inner)};
  else if (outer && inner)
    out = {std::to_string(*outer), std::to_string(*inner)};
  else
    return fail(n, "axis " + std::to_string(axis) + " over symbolic dims is not supported");
  define(n, "reshape(" + tensorName(in[0]) + ", shape=" + dimsText(out) + ")", out, in[0].integer);
}

void Importer::reshape(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 2))
    return;
  std::optional<Dims> target = entriesOf(in[1]);
  if (!target)
    return fail(n, "the shape is neither a constant nor computed from shapes at import");
  bool allowZero = intAttr(n, "allowzero", 0) != 0;
  const Dims &d = in[0].shape;
  Dims out;
  for (size_t i = 0; i < target->size(); ++i) {
    const std::string &s = (*target)[i];
    if (s == "0" && !allowZero && i >= d.size())
      return fail(n, "a 0 in the shape copies a dim the input does not have");
    out.push_back(s == "0" && !allowZero ? d[i] : s);
  }
  if (in[0].ints || in[0].entries) { // reshaping known values: still known
    std::optional<Dims> resolved = staticReshape(*entriesOf(in[0]), out);
    if (!resolved)
      return fail(n, "the shape " + dimsText(out) + " does not hold the " +
                         std::to_string(entriesOf(in[0])->size()) + " known values");
    return defineFolded(n, in[0], *resolved);
  }
  // -1 stays -1 in the op; its value for later shape reads when static.
  Dims known = out, others;
  for (const std::string &t : out)
    if (t != "-1")
      others.push_back(t);
  // -1 is the static extent left when the symbolic dims match (nnc checks
  // that they do): the static factors' products divided.
  auto staticPart = [](const Dims &dims) {
    std::vector<int64_t> sizes;
    for (const std::string &f : nncDims(dims))
      if (std::optional<int64_t> v = staticDim(f))
        sizes.push_back(*v);
    return elementCount(sizes);
  };
  std::optional<int64_t> total = staticPart(d), rest = staticPart(others);
  for (std::string &s : known)
    if (s == "-1")
      s = total && rest && *rest && *total % *rest == 0 ? std::to_string(*total / *rest) : "-1";
  define(n, "reshape(" + tensorName(in[0]) + ", shape=" + dimsText(out) + ")", known,
         in[0].integer);
}

void Importer::transpose(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  std::vector<int64_t> perm = intsAttr(n, "perm");
  const Dims &d = in[0].shape;
  if (perm.empty())
    for (size_t i = d.size(); i-- > 0;)
      perm.push_back(static_cast<int64_t>(i));
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i)
    if (sorted.size() != d.size() || sorted[i] != static_cast<int64_t>(i))
      return fail(n, fmt::format("perm [{}] is not a permutation of {} axes", fmt::join(perm, ", "),
                                 d.size()));
  Dims out;
  std::string list;
  for (int64_t p : perm) {
    const std::string &moved = d[static_cast<size_t>(p)];
    out.push_back(moved);
    // A product dim moves as its factors' axes, together.
    size_t first = nncAxis(d, static_cast<size_t>(p));
    for (size_t f = 0; f < factorsOf(moved).size(); ++f)
      list += (list.empty() ? "" : ", ") + std::to_string(first + f);
  }
  define(n, "transpose(" + tensorName(in[0]) + ", perm=[" + list + "])", out, in[0].integer);
}

} // namespace nnc::onnximport
