/// The ONNX importer's converters, one per op (or family of ops): each reads
/// its node's operands, checks what nnc's op takes, and defines the node's
/// output as an nnc expression with its shape (frontend/onnx/Importer.h).
#include "frontend/onnx/Importer.h"
#include "frontend/onnx/TensorProto.h"
#include "ir/Printer.h"

#include <fmt/format.h>

namespace nnc::onnximport {

/// Identity, and Dropout in inference: the operand itself.
void Importer::identity(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (operands(n, in, 1))
    known_[n.output(0)] = in[0];
}

void Importer::leakyRelu(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (operands(n, in, 1))
    define(n,
           fmt::format("leaky_relu({}, alpha={})", tensorName(in[0]),
                       formatNumber(floatAttr(n, "alpha", 0.01f))),
           in[0].shape);
}

void Importer::dropout(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  bool training = intAttr(n, "is_test", 1) == 0 && opset_ < 7;
  if (in.size() > 2 && !in[2].name.empty())
    training = !in[2].ints || in[2].ints->empty() || (*in[2].ints)[0] != 0;
  if (training)
    return fail(n, "training_mode is not supported (nnc's dropout draws its own masks)");
  if (n.output_size() > 1 && !n.output(1).empty())
    return fail(n, "the mask output is not supported");
  known_[n.output(0)] = in[0];
}

/// Max and Min of any number of operands: a chain of maximum (minimum).
void Importer::extremum(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  if (in.size() == 1) {
    known_[n.output(0)] = in[0];
    return;
  }
  for (const Known &k : in)
    if (k.integer)
      return fail(n, "integer operands are not supported (nnc's maximum and minimum take f32)");
  std::string expr = tensorName(in[0]);
  Dims shape = in[0].shape;
  for (size_t i = 1; i < in.size(); ++i) {
    std::optional<Dims> both = broadcast(shape, in[i].shape);
    if (!both)
      return fail(n, "the operands' shapes do not broadcast");
    shape = *both;
    expr = (n.op_type() == "Max" ? "maximum(" : "minimum(") + expr + ", " + tensorName(in[i]) + ")";
  }
  define(n, expr, shape);
}

void Importer::where(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 3))
    return;
  std::optional<Dims> ab = broadcast(in[1].shape, in[2].shape);
  std::optional<Dims> shape = ab ? broadcast(in[0].shape, *ab) : std::nullopt;
  if (!shape)
    return fail(n, "the operands' shapes do not broadcast");
  define(n,
         "where(" + tensorName(in[0]) + ", " + tensorName(in[1]) + ", " + tensorName(in[2]) + ")",
         *shape);
}

void Importer::globalAveragePool(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  if (in[0].shape.size() != 4)
    return fail(n, "needs an input of rank 4");
  define(n, "mean(" + in[0].name + ", axes=[2, 3], keepdims=true)",
         {in[0].shape[0], in[0].shape[1], "1", "1"});
}

/// Constant: integers are kept for shape ops (and declared as an i32 const
/// if read as a tensor), a float scalar becomes an immediate number, other
/// floats a const with a literal.
void Importer::constant(const onnx::NodeProto &n) {
  onnx::TensorProto t;
  if (const onnx::AttributeProto *value = attribute(n, "value"); value && value->has_t()) {
    t = value->t();
  } else if (const onnx::AttributeProto *a = attribute(n, "value_float")) {
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_float_data(a->f());
  } else if (const onnx::AttributeProto *a = attribute(n, "value_floats")) {
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_dims(a->floats_size());
    *t.mutable_float_data() = a->floats();
  } else if (const onnx::AttributeProto *a = attribute(n, "value_int")) {
    t.set_data_type(onnx::TensorProto::INT64);
    t.add_int64_data(a->i());
  } else if (const onnx::AttributeProto *a = attribute(n, "value_ints")) {
    t.set_data_type(onnx::TensorProto::INT64);
    t.add_dims(a->ints_size());
    *t.mutable_int64_data() = a->ints();
  } else {
    return fail(n, "only value, value_float(s) and value_int(s) are supported (not "
                   "sparse_value or strings)");
  }
  std::vector<float> f;
  std::vector<int64_t> ints;
  std::string why;
  if (!decodeTensorProto(t, f, ints, why))
    return fail(n, why);
  Dims d;
  for (int64_t s : t.dims())
    d.push_back(std::to_string(s));
  Known k = Known::of(fresh(n.output(0)), d, t.data_type() != onnx::TensorProto::FLOAT);
  if (k.integer) {
    k.ints = ints;
  } else if (f.size() == 1 && d.empty()) {
    k.name = formatNumber(f[0]); // an immediate: mul(x, 0.5)
    k.immediate = true;
  } else {
    std::vector<std::string> items;
    for (float v : f)
      items.push_back(formatNumber(v));
    decls_ += "  const " + k.name + ": f32" + dimsText(d) + " = " +
              nestedLiteral(items, {t.dims().begin(), t.dims().end()}) + "\n";
  }
  known_[n.output(0)] = k;
}

/// An axis attribute (or constant) in [0, rank), or nullopt (and an error).
std::optional<int64_t> Importer::axisIn(const onnx::NodeProto &n, int64_t axis, size_t rank) {
  auto r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) {
    fail(n, fmt::format("axis {} is outside a rank-{} input", axis, rank));
    return std::nullopt;
  }
  return axis < 0 ? axis + r : axis;
}

/// A constant operand's integers (input k), or an attribute's before the
/// opset where it became an input.
std::optional<std::vector<int64_t>> Importer::constantInts(const onnx::NodeProto &n,
                                                           const std::vector<Known> &in, size_t k,
                                                           const char *attr) {
  if (in.size() > k && !in[k].name.empty()) {
    if (!in[k].ints) {
      fail(n, std::string("input ") + std::to_string(k) + " must be a constant");
      return std::nullopt;
    }
    return in[k].ints;
  }
  if (attribute(n, attr))
    return intsAttr(n, attr);
  return std::vector<int64_t>{};
}

/// The single float of a constant operand, if it is one.
std::optional<std::string> Importer::scalarOf(const Known &k) {
  if (k.immediate)
    return k.name;
  if (k.ints && k.ints->size() == 1)
    return std::to_string((*k.ints)[0]);
  return std::nullopt;
}

void Importer::clip(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  std::string bounds;
  if (opset_ < 11) {
    if (attribute(n, "min"))
      bounds += ", min=" + formatNumber(floatAttr(n, "min", 0));
    if (attribute(n, "max"))
      bounds += ", max=" + formatNumber(floatAttr(n, "max", 0));
  } else {
    const char *names[] = {"min", "max"};
    for (size_t k = 1; k < 3 && k < in.size(); ++k) {
      if (in[k].name.empty())
        continue;
      std::optional<std::string> v = scalarOf(in[k]);
      if (!v)
        return fail(n, std::string(names[k - 1]) + " must be a constant scalar");
      bounds += std::string(", ") + names[k - 1] + "=" + *v;
    }
  }
  define(n, "clip(" + in[0].name + bounds + ")", in[0].shape);
}

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
  define(n, fmt::format("gather({}, {}, axis={})", tensorName(in[0]), tensorName(in[1]), *axis),
         out);
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
  define(n, fmt::format("concat({}, axis={})", list, *axis), out);
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
      drop[static_cast<size_t>(*axis)] = true;
    }
    Dims kept;
    for (size_t i = 0; i < out.size(); ++i)
      if (!(axes->empty() ? out[i] == "1" : drop[i]))
        kept.push_back(out[i]);
    out = kept;
  }
  if (in[0].ints || in[0].entries) { // folded: a constant of new dims
    Known k = in[0];
    k.shape = out;
    known_[n.output(0)] = k;
    return;
  }
  define(n, "reshape(" + in[0].name + ", shape=" + dimsText(out) + ")", out);
}

void Importer::reduce(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  std::optional<std::vector<int64_t>> axes = constantInts(n, in, 1, "axes");
  if (!axes)
    return;
  bool keep = intAttr(n, "keepdims", 1) != 0;
  size_t rank = in[0].shape.size();
  std::vector<bool> reduced(rank, axes->empty());
  for (int64_t a : *axes) {
    std::optional<int64_t> axis = axisIn(n, a, rank);
    if (!axis)
      return;
    reduced[static_cast<size_t>(*axis)] = true;
  }
  Dims out;
  std::string list;
  for (size_t i = 0; i < rank; ++i) {
    if (reduced[i]) {
      list += (list.empty() ? "" : ", ") + std::to_string(i);
      if (keep)
        out.push_back("1");
    } else {
      out.push_back(in[0].shape[i]);
    }
  }
  static const std::map<std::string, std::string> names = {
      {"ReduceMean", "mean"}, {"ReduceSum", "sum"}, {"ReduceMax", "max"}};
  define(
      n,
      fmt::format("{}({}, axes=[{}], keepdims={})", names.at(n.op_type()), in[0].name, list, keep),
      out);
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
  std::string expr = tensorName(in[0]);
  Dims shape = in[0].shape;
  std::optional<Dims> values = entriesOf(in[0]);
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
    // Python's rules, as nnc's slice: clamp, then count.
    auto clampIndex = [&](int64_t i) {
      if (i < 0)
        i += *extent;
      int64_t lo = step > 0 ? 0 : -1, hi = step > 0 ? *extent : *extent - 1;
      return std::clamp<int64_t>(i, lo, hi);
    };
    int64_t begin = clampIndex((*starts)[k]), end = clampIndex((*ends)[k]);
    int64_t count = step > 0 ? std::max<int64_t>(0, (end - begin + step - 1) / step)
                             : std::max<int64_t>(0, (begin - end - step - 1) / -step);
    std::string endText = (*ends)[k] >= *extent || (*ends)[k] <= -(*extent) - 1
                              ? ""
                              : fmt::format(", end={}", (*ends)[k]);
    if (values && shape.size() == 1) { // shape arithmetic: folded
      Dims picked;
      for (int64_t j = 0; j < count; ++j)
        picked.push_back((*values)[static_cast<size_t>(begin + j * step)]);
      values = picked;
    }
    expr = fmt::format("slice({}, axis={}, start={}{}, step={})", expr, *axis, (*starts)[k],
                       endText, step);
    shape[static_cast<size_t>(*axis)] = std::to_string(count);
  }
  if (values && shape.size() == 1)
    return defineEntries(n, *values, shape);
  define(n, expr, shape, in[0].integer);
}

void Importer::batchNorm(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 5))
    return;
  if (intAttr(n, "training_mode", 0) != 0)
    return batchNormTraining(n, in);
  if (n.output_size() > 1)
    return fail(n, "the extra outputs are for training_mode=1");
  bool statesOk = true;
  for (size_t k = 1; k < 5; ++k)
    statesOk = statesOk && initializers_.count(n.input(static_cast<int>(k))) && !in[k].integer &&
               in[k].shape.size() == 1;
  if (!statesOk) // computed or given statistics: inference's formula, element-wise
    return batchNormFormula(n, in);
  // ONNX's momentum weighs the old statistic, torch's (and nnc's) the new.
  define(n,
         fmt::format("batchnorm({}, {}, {}, {}, {}, momentum={}, eps={})", in[0].name, in[1].name,
                     in[2].name, in[3].name, in[4].name,
                     formatNumber(1 - floatAttr(n, "momentum", 0.9f)),
                     formatNumber(floatAttr(n, "epsilon", 1e-5f))),
         in[0].shape);
}

/// LayerNormalization(x, scale, bias, axis=-1): nnc's layernorm over the
/// dims from `axis` on, flattened into one when there are several (they must
/// be static); no bias is zeros. The optional Mean and InvStdDev outputs
/// (the statistics per normalized row, keeping x's rank) are computed
/// beside it with mean, sub, mul and sqrt.
/// Inference batch norm as element-wise ops, for statistics, scale or bias
/// that are not initializers: (x - mean) / sqrt(var + eps) * scale + bias,
/// each [C] operand reshaped to [C, 1, ...] to broadcast along axis 1.
void Importer::batchNormFormula(const onnx::NodeProto &n, std::vector<Known> &in) {
  const Dims &shape = in[0].shape;
  if (shape.size() < 2)
    return fail(n, "needs an input of rank 2 or more");
  Dims perChannel(shape.size() - 1, "1");
  perChannel[0] = shape[1];
  std::string v[5];
  for (size_t k = 1; k < 5; ++k) {
    if (in[k].integer || in[k].shape.size() != 1 || in[k].shape[0] != shape[1])
      return fail(n, "scale, bias, mean and var must be f32 vectors of the channel count");
    v[k] = "reshape(" + tensorName(in[k]) + ", shape=" + dimsText(perChannel) + ")";
  }
  define(n,
         fmt::format("add(mul(div(sub({}, {}), sqrt(add({}, {}))), {}), {})", tensorName(in[0]),
                     v[3], v[4], formatNumber(floatAttr(n, "epsilon", 1e-5f)), v[1], v[2]),
         shape);
}

/// BatchNormalization in training mode: Y with the batch's statistics
/// (nnc's batchnorm_train); the new running statistics, if asked for, by
/// ONNX's rule: old * momentum + batch * (1 - momentum), the batch's
/// variance biased (torch's, and nnc's batchnorm_running_var, unbiased).
void Importer::batchNormTraining(const onnx::NodeProto &n, std::vector<Known> &in) {
  const Dims &shape = in[0].shape;
  if (shape.size() < 2)
    return fail(n, "needs an input of rank 2 or more");
  float eps = floatAttr(n, "epsilon", 1e-5f), momentum = floatAttr(n, "momentum", 0.9f);
  std::string x = tensorName(in[0]);
  define(n,
         fmt::format("batchnorm_train({}, {}, {}, eps={})", x, tensorName(in[1]), tensorName(in[2]),
                     formatNumber(eps)),
         shape);
  std::string axes;
  for (size_t a = 0; a < shape.size(); ++a)
    if (a != 1)
      axes += (axes.empty() ? "" : ", ") + std::to_string(a);
  Dims perChannel(shape.size() - 1, "1");
  perChannel[0] = shape[1];
  auto blend = [&](const std::string &old, const std::string &batch) {
    return fmt::format("add(mul({}, {}), mul({}, {}))", old, formatNumber(momentum), batch,
                       formatNumber(1 - momentum));
  };
  std::string mean = fmt::format("mean({}, axes=[{}])", x, axes);
  if (n.output_size() > 1 && !n.output(1).empty())
    defineOutput(n, 1, blend(tensorName(in[3]), mean), {shape[1]}, false);
  if (n.output_size() > 2 && !n.output(2).empty()) {
    std::string centered = fresh(n.output(2) + "_centered");
    body_ += "  " + centered + " = sub(" + x + ", reshape(" + mean +
             ", shape=" + dimsText(perChannel) + "))\n";
    defineOutput(
        n, 2,
        blend(tensorName(in[4]), fmt::format("mean(mul({0}, {0}), axes=[{1}])", centered, axes)),
        {shape[1]}, false);
  }
}

void Importer::layerNorm(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 2))
    return;
  const Dims &shape = in[0].shape;
  std::optional<int64_t> axis = axisIn(n, intAttr(n, "axis", -1), shape.size());
  if (!axis)
    return;
  auto first = static_cast<size_t>(*axis);
  std::optional<int64_t> width = product(shape, first, shape.size());
  if (!width)
    return fail(n, "the normalized dims " + dimsText(Dims(shape.begin() + *axis, shape.end())) +
                       " must be static");
  bool flatten = first + 1 != shape.size();
  Dims rows(shape.begin(), shape.begin() + *axis), flat = rows, statistics = rows;
  flat.push_back(std::to_string(*width));
  statistics.insert(statistics.end(), shape.size() - first, "1");
  std::string widthText = "[" + std::to_string(*width) + "]";
  auto temp = [&](const std::string &suffix, const std::string &expr) {
    std::string name = fresh(n.output(0) + suffix);
    body_ += "  " + name + " = " + expr + "\n";
    return name;
  };
  std::string x = tensorName(in[0]), gamma = tensorName(in[1]), beta;
  if (flatten) {
    x = temp("_rows", "reshape(" + x + ", shape=" + dimsText(flat) + ")");
    gamma = "reshape(" + gamma + ", shape=" + widthText + ")";
  }
  if (in.size() > 2 && !in[2].name.empty()) {
    beta = tensorName(in[2]);
    if (flatten)
      beta = "reshape(" + beta + ", shape=" + widthText + ")";
  } else {
    beta = fresh(n.output(0) + "_no_bias");
    decls_ += "  const " + beta + ": f32" + widthText + " = zeros()\n";
  }
  float eps = floatAttr(n, "epsilon", 1e-5f);
  std::string y = fmt::format("layernorm({}, {}, {}, eps={})", x, gamma, beta, formatNumber(eps));
  if (flatten)
    y = "reshape(" + y + ", shape=" + dimsText(shape) + ")";
  define(n, y, shape);
  bool wantMean = n.output_size() > 1 && !n.output(1).empty();
  bool wantInvStd = n.output_size() > 2 && !n.output(2).empty();
  if (!wantMean && !wantInvStd)
    return;
  std::string mean = temp("_mean", "mean(" + x + ", axes=[-1], keepdims=true)");
  if (wantMean)
    defineOutput(n, 1, "reshape(" + mean + ", shape=" + dimsText(statistics) + ")", statistics,
                 false);
  if (wantInvStd) {
    std::string centered = temp("_centered", "sub(" + x + ", " + mean + ")");
    defineOutput(n, 2,
                 fmt::format("reshape(div(1, sqrt(add(mean(mul({0}, {0}), axes=[-1], "
                             "keepdims=true), {1}))), shape={2})",
                             centered, formatNumber(eps), dimsText(statistics)),
                 statistics, false);
  }
}

void Importer::matMul(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 2))
    return;
  const Dims &a = in[0].shape, &b = in[1].shape;
  if (a.size() < 2 || b.size() < 2)
    return fail(n, "1-D operands are not supported");
  if (hasProduct({a.end() - 2, a.end()}) || hasProduct({b.end() - 2, b.end()}))
    return fail(n, "a matrix dim is a product of a symbolic dim");
  Dims lead(a.begin(), a.end() - 2), leadB(b.begin(), b.end() - 2);
  if (!productsAlign(lead, leadB))
    return fail(n, "a batch dim that is a product of a symbolic dim meets another dim");
  std::optional<Dims> batch = broadcast(lead, leadB);
  if (!batch)
    return fail(n, "the batch dims do not broadcast");
  Dims out = *batch;
  out.push_back(a[a.size() - 2]);
  out.push_back(b.back());
  define(n, "matmul(" + in[0].name + ", " + in[1].name + ")", out);
}

void Importer::gemm(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 2))
    return;
  bool ta = intAttr(n, "transA", 0) != 0, tb = intAttr(n, "transB", 0) != 0;
  float alpha = floatAttr(n, "alpha", 1), beta = floatAttr(n, "beta", 1);
  const Dims &a = in[0].shape, &b = in[1].shape;
  if (a.size() != 2 || b.size() != 2)
    return fail(n, "A and B must have rank 2");
  if ((ta && hasProduct(a)) || hasProduct(b))
    return fail(n, "a transposed or B operand with a dim that is a product of a symbolic dim");
  Dims out = {ta ? a[1] : a[0], tb ? b[0] : b[1]};
  std::string expr =
      fmt::format("matmul({}, {}, transpose_a={}, transpose_b={})", in[0].name, in[1].name, ta, tb);
  if (alpha != 1)
    expr = fmt::format("mul({}, {})", expr, alpha);
  if (in.size() > 2 && !in[2].name.empty()) {
    std::string c = beta == 1 ? in[2].name : fmt::format("mul({}, {})", in[2].name, beta);
    expr = fmt::format("add({}, {})", expr, c);
  }
  define(n, expr, out);
}

/// Softmax and LogSoftmax along `axis` (from opset 13); before, the input
/// flattened at `axis` into rows: a reshape to [rows..., width] around
/// nnc's softmax when the dims from `axis` on are several (and static).
void Importer::softmax(const onnx::NodeProto &n) {
  std::vector<Known> in;
  if (!operands(n, in, 1))
    return;
  const Dims &shape = in[0].shape;
  std::optional<int64_t> axis = axisIn(n, intAttr(n, "axis", opset_ >= 13 ? -1 : 1), shape.size());
  if (!axis)
    return;
  const char *op = n.op_type() == "Softmax" ? "softmax" : "log_softmax";
  auto first = static_cast<size_t>(*axis);
  if (opset_ < 13 && first + 1 < shape.size()) {
    std::optional<int64_t> width = product(shape, first, shape.size());
    if (!width)
      return fail(n, "the flattened dims " + dimsText(Dims(shape.begin() + *axis, shape.end())) +
                         " must be static (opset < 13)");
    Dims rows(shape.begin(), shape.begin() + *axis);
    rows.push_back(std::to_string(*width));
    return define(n,
                  fmt::format("reshape({}(reshape({}, shape={}), axis=-1), shape={})", op,
                              tensorName(in[0]), dimsText(rows), dimsText(shape)),
                  shape);
  }
  if (isProduct(shape[first]))
    return fail(n, "the axis is a product of a symbolic dim");
  define(n, fmt::format("{}({}, axis={})", op, tensorName(in[0]), nncAxis(shape, first)), shape);
}

/// The product of dims [from, to) when all are static.
std::optional<int64_t> Importer::product(const Dims &d, size_t from, size_t to) {
  std::vector<int64_t> sizes;
  for (size_t i = from; i < to && i < d.size(); ++i) {
    std::optional<int64_t> s = staticDim(d[i]);
    if (!s)
      return std::nullopt;
    sizes.push_back(*s);
  }
  return elementCount(sizes);
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
  define(n, "reshape(" + in[0].name + ", shape=" + dimsText(out) + ")", out);
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
    Known k = in[0];
    k.shape = out;
    known_[n.output(0)] = k;
    return;
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
  Dims out;
  std::string list;
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(d.size()))
      return fail(n, "perm is not a permutation of the axes");
    const std::string &moved = d[static_cast<size_t>(p)];
    out.push_back(moved);
    // A product dim moves as its factors' axes, together.
    size_t first = nncAxis(d, static_cast<size_t>(p));
    for (size_t f = 0; f < factorsOf(moved).size(); ++f)
      list += (list.empty() ? "" : ", ") + std::to_string(first + f);
  }
  define(n, "transpose(" + in[0].name + ", perm=[" + list + "])", out);
}

} // namespace nnc::onnximport
