/// The ONNX importer (frontend/onnx/OnnxImport.h): one pass over the graph's
/// nodes in order (ONNX requires a topological order), keeping for each ONNX
/// value its nnc name and shape (dims as text: numbers or dim names), so
/// that shape-reading ops (Flatten, Reshape) and the convolution's output
/// sizes are written with what nnc's types express.
#include "frontend/onnx/OnnxImport.h"
#include "frontend/Lexer.h"
#include "ir/Printer.h"

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace nnc {

std::string onnxIdentifier(const std::string &name) {
  std::string id;
  for (char c : name)
    id += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  if (id.empty() || std::isdigit(static_cast<unsigned char>(id[0])) || isKeyword(id))
    id = "v" + id;
  return id;
}

namespace {

using Dims = std::vector<std::string>; ///< a shape: numbers or dim names

/// What the importer knows of one ONNX value.
struct Known {
  std::string name; ///< its nnc name, or an immediate number (a scalar constant)
  Dims shape;
  bool integer = false;
  /// Its values, when the importer knows them (i32 initializers and
  /// constants that shape ops read).
  std::optional<std::vector<int64_t>> ints;
  bool immediate = false; ///< `name` is a number (a float scalar constant)
};

std::string dimsText(const Dims &d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i)
    s += (i ? ", " : "") + d[i];
  return s + "]";
}

std::optional<int64_t> staticDim(const std::string &d) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
  if (ec != std::errc() || end != d.data() + d.size())
    return std::nullopt;
  return v;
}

/// The largest dim and element count the importer takes (nnc's tensors
/// are far smaller; this keeps every size computation inside int64).
constexpr int64_t kMaxExtent = int64_t{1} << 40;

/// The product of `dims`, or nullopt when one is negative or the product
/// passes kMaxExtent.
template <typename Range> std::optional<int64_t> elementCount(const Range &dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || d > kMaxExtent || (d && n > kMaxExtent / d))
      return std::nullopt;
    n *= d;
  }
  return n;
}

/// NumPy broadcasting of two shapes (dims as text).
std::optional<Dims> broadcast(const Dims &a, const Dims &b) {
  Dims out(std::max(a.size(), b.size()));
  for (size_t i = 0; i < out.size(); ++i) {
    const std::string *x = i < out.size() - a.size() ? nullptr : &a[i - (out.size() - a.size())];
    const std::string *y = i < out.size() - b.size() ? nullptr : &b[i - (out.size() - b.size())];
    if (!x || *x == "1")
      out[i] = y ? *y : "1";
    else if (!y || *y == "1" || *x == *y)
      out[i] = *x;
    else
      return std::nullopt;
  }
  return out;
}

class Importer {
public:
  Importer(const onnx::ModelProto &m, const OnnxImportOptions &o) : model_(m), options_(o) {
    for (const auto &op : m.opset_import())
      if (op.domain().empty() || op.domain() == "ai.onnx")
        opset_ = op.version();
  }

  Result<OnnxImport> run(const std::string &name) {
    const onnx::GraphProto &g = model_.graph();
    for (const onnx::TensorProto &t : g.initializer())
      initializers_[t.name()] = &t;
    // A batch norm's running statistics are states, not params.
    for (const onnx::NodeProto &n : g.node())
      if (n.op_type() == "BatchNormalization")
        for (int k = 3; k < std::min(n.input_size(), 5); ++k)
          runningStatistics_.insert(n.input(k));
    for (const onnx::ValueInfoProto &v : g.input())
      if (!initializers_.count(v.name()))
        declareInput(v);
    for (const onnx::TensorProto &t : g.initializer())
      declareInitializer(t);
    for (const onnx::NodeProto &n : g.node())
      node(n);
    for (const onnx::ValueInfoProto &v : g.output()) {
      auto it = known_.find(v.name());
      if (it == known_.end())
        errors_.push_back(fmt::format("graph output '{}' is computed by no node", v.name()));
      else if (it->second.immediate || it->second.ints)
        errors_.push_back(fmt::format("graph output '{}' is a constant", v.name()));
      else if (!std::count(outputs_.begin(), outputs_.end(), it->second.name))
        outputs_.push_back(it->second.name);
    }
    if (outputs_.empty() && errors_.empty())
      errors_.push_back("the graph has no outputs");
    if (!options_.loss.empty() && errors_.empty())
      addLoss(known_.at(g.output(0).name()));
    if (!errors_.empty()) {
      std::string all;
      for (const std::string &e : errors_)
        all += (all.empty() ? "" : "\n") + e;
      return Result<OnnxImport>::fail("{}", all);
    }
    std::string text =
        "# imported from ONNX (opset " + std::to_string(opset_) + ")\nmodel " + name + " {\n";
    for (const std::string &d : dims_)
      text += "  dim " + d + "\n";
    text += decls_ + body_;
    std::string outs;
    for (const std::string &o : outputs_)
      outs += (outs.empty() ? "" : ", ") + o;
    text += "  output " + outs + "\n" + minimize_ + "}\n";
    return OnnxImport{text, std::move(weights_)};
  }

private:
  /// The loss over `out` and a `labels` input, and the minimize statement.
  void addLoss(const Known &out) {
    static const std::set<std::string> losses = {"softmax_cross_entropy", "mse", "sse", "bce"};
    if (!losses.count(options_.loss)) {
      errors_.push_back("--loss must be softmax_cross_entropy, mse, sse or bce, not '" +
                        options_.loss + "'");
      return;
    }
    bool classes = options_.loss == "softmax_cross_entropy";
    if (classes && out.shape.size() < 2) {
      errors_.push_back("softmax_cross_entropy needs an output of rank 2 or more (logits)");
      return;
    }
    Dims labelShape(out.shape.begin(), out.shape.end() - (classes ? 1 : 0));
    std::string labels = fresh("labels"), loss = fresh("loss");
    decls_ += "  input " + labels + ": " + (classes ? "i32" : "f32") + dimsText(labelShape) + "\n";
    body_ += "  " + loss + " = " + options_.loss + "(" + out.name + ", " + labels + ")\n";
    minimize_ = "  minimize " + loss + " with " + options_.optimizer + "\n";
  }

  // ---- names and declarations ----------------------------------------------------

  std::string fresh(const std::string &onnxName) {
    std::string base = onnxIdentifier(onnxName), id = base;
    for (int k = 2; taken_.count(id); ++k)
      id = base + "_" + std::to_string(k);
    taken_.insert(id);
    return id;
  }

  /// The dims of an ONNX type: static sizes, named dims, fresh dims for unknown ones.
  std::optional<Dims> dimsOf(const onnx::TypeProto &t) {
    if (!t.has_tensor_type() || !t.tensor_type().has_shape())
      return std::nullopt;
    Dims d;
    for (const auto &dim : t.tensor_type().shape().dim()) {
      if (dim.has_dim_value()) {
        if (dim.dim_value() < 0 || dim.dim_value() > kMaxExtent)
          return std::nullopt;
        d.push_back(std::to_string(dim.dim_value()));
        continue;
      }
      // A dim_param names one dim wherever it appears; an unknown dim is a new one.
      std::string param = dim.has_dim_param() ? dim.dim_param() : "";
      auto it = param.empty() ? dimNames_.end() : dimNames_.find(param);
      if (it == dimNames_.end()) {
        std::string name = fresh(param.empty() ? "d" + std::to_string(dims_.size()) : param);
        dims_.push_back(name);
        if (!param.empty())
          it = dimNames_.emplace(param, name).first;
        d.push_back(name);
        continue;
      }
      d.push_back(it->second);
    }
    return d;
  }

  static std::optional<std::string> dtypeOf(int32_t t) {
    switch (t) {
    case onnx::TensorProto::FLOAT:
      return "f32";
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::INT32:
      return "i32";
    default:
      return std::nullopt;
    }
  }

  void declareInput(const onnx::ValueInfoProto &v) {
    std::optional<std::string> dtype = dtypeOf(v.type().tensor_type().elem_type());
    std::optional<Dims> d = dimsOf(v.type());
    if (!dtype || !d) {
      errors_.push_back(fmt::format(
          "graph input '{}': {}", v.name(),
          !dtype ? "element type " + std::to_string(v.type().tensor_type().elem_type()) +
                       " is not FLOAT, INT32 or INT64"
                 : "has no tensor shape"));
      return;
    }
    Known k{fresh(v.name()), *d, *dtype == "i32", std::nullopt};
    decls_ += "  input " + k.name + ": " + *dtype + dimsText(k.shape) + "\n";
    known_[v.name()] = k;
  }

  /// An initializer's values, as doubles (f32) or int64 (integers).
  bool valuesOf(const onnx::TensorProto &t, std::vector<float> &f, std::vector<int64_t> &i,
                std::string &why) {
    std::optional<int64_t> count = elementCount(t.dims());
    if (!count) {
      why = "its dims are negative or too large";
      return false;
    }
    int64_t n = *count;
    if (t.data_location() == onnx::TensorProto::EXTERNAL) {
      why = "external data is not supported";
      return false;
    }
    switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      if (t.has_raw_data()) {
        if (t.raw_data().size() != static_cast<size_t>(n) * 4) {
          why = "raw data of the wrong size";
          return false;
        }
        f.resize(static_cast<size_t>(n));
        std::memcpy(f.data(), t.raw_data().data(), f.size() * 4);
      } else {
        f.assign(t.float_data().begin(), t.float_data().end());
      }
      if (f.size() != static_cast<size_t>(n)) {
        why = "the data does not match the dims";
        return false;
      }
      return true;
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::INT32: {
      size_t width = t.data_type() == onnx::TensorProto::INT64 ? 8 : 4;
      if (t.has_raw_data()) {
        if (t.raw_data().size() != static_cast<size_t>(n) * width) {
          why = "raw data of the wrong size";
          return false;
        }
        for (int64_t k = 0; k < n; ++k) {
          int64_t v = 0;
          if (width == 8)
            std::memcpy(&v, t.raw_data().data() + k * 8, 8);
          else {
            int32_t v32;
            std::memcpy(&v32, t.raw_data().data() + k * 4, 4);
            v = v32;
          }
          i.push_back(v);
        }
      } else if (width == 8) {
        i.assign(t.int64_data().begin(), t.int64_data().end());
      } else {
        i.assign(t.int32_data().begin(), t.int32_data().end());
      }
      if (i.size() != static_cast<size_t>(n)) {
        why = "the data does not match the dims";
        return false;
      }
      return true;
    }
    default:
      why = "element type " + std::to_string(t.data_type()) + " is not FLOAT, INT32 or INT64";
      return false;
    }
  }

  void declareInitializer(const onnx::TensorProto &t) {
    std::vector<float> f;
    std::vector<int64_t> ints;
    std::string why;
    if (!valuesOf(t, f, ints, why)) {
      errors_.push_back(fmt::format("initializer '{}': {}", t.name(), why));
      return;
    }
    Dims d;
    std::vector<int64_t> shape(t.dims().begin(), t.dims().end());
    for (int64_t s : shape)
      d.push_back(std::to_string(s));
    Known k{fresh(t.name()), d, !ints.empty() || f.empty(), std::nullopt};
    if (t.data_type() != onnx::TensorProto::FLOAT) {
      // Integers: kept for the shape ops that read them; declared as an i32
      // const when an op reads them as a tensor (constTensor).
      k.integer = true;
      k.ints = ints;
      known_[t.name()] = k;
      return;
    }
    decls_ += fmt::format("  {} {}: f32{} = safetensors(\"{}\", key=\"{}\")\n",
                          runningStatistics_.count(t.name()) ? "state" : "param", k.name,
                          dimsText(d), options_.weightsFile, k.name);
    weights_.emplace_back(k.name, Tensor::f32(shape, f));
    known_[t.name()] = k;
  }

  // ---- nodes -------------------------------------------------------------------------

  const onnx::AttributeProto *attribute(const onnx::NodeProto &n, const char *name) {
    for (const auto &a : n.attribute())
      if (a.name() == name)
        return &a;
    return nullptr;
  }
  int64_t intAttr(const onnx::NodeProto &n, const char *name, int64_t otherwise) {
    const onnx::AttributeProto *a = attribute(n, name);
    return a ? a->i() : otherwise;
  }
  float floatAttr(const onnx::NodeProto &n, const char *name, float otherwise) {
    const onnx::AttributeProto *a = attribute(n, name);
    return a ? a->f() : otherwise;
  }
  std::vector<int64_t> intsAttr(const onnx::NodeProto &n, const char *name) {
    const onnx::AttributeProto *a = attribute(n, name);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
  }

  /// An error naming the node.
  void fail(const onnx::NodeProto &n, const std::string &what) {
    errors_.push_back(
        fmt::format("node '{}' ({}, opset {}): {}", n.name(), n.op_type(), opset_, what));
  }

  /// The operands as known values; false (and an error) when one is not.
  bool operands(const onnx::NodeProto &n, std::vector<Known> &out, size_t least) {
    if (static_cast<size_t>(n.input_size()) < least) {
      fail(n, fmt::format("expects at least {} inputs, has {}", least, n.input_size()));
      return false;
    }
    for (const std::string &in : n.input()) {
      if (in.empty()) {
        out.push_back(Known{});
        continue;
      }
      auto it = known_.find(in);
      if (it == known_.end()) {
        fail(n, "input '" + in + "' is not computed before it (or could not be imported)");
        return false;
      }
      out.push_back(it->second);
    }
    return true;
  }

  /// An operand read as a tensor: an integer initializer becomes an i32 const.
  std::string tensorName(Known &k) {
    if (k.ints && k.name.size() && !declaredConsts_.count(k.name)) {
      for (int64_t v : *k.ints)
        if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
          errors_.push_back(fmt::format("integer tensor '{}': {} does not fit in i32", k.name, v));
      std::string list;
      for (size_t i = 0; i < k.ints->size(); ++i)
        list += (i ? ", " : "") + std::to_string((*k.ints)[i]);
      decls_ += "  const " + k.name + ": i32" + dimsText(k.shape) + " = " +
                (k.shape.empty() ? list : "[" + list + "]") + "\n";
      declaredConsts_.insert(k.name);
    }
    return k.name;
  }

  /// Defines the node's first output as `expr` with `shape`.
  void define(const onnx::NodeProto &n, const std::string &expr, Dims shape, bool integer = false) {
    Known k{fresh(n.output(0)), std::move(shape), integer, std::nullopt};
    body_ += "  " + k.name + " = " + expr + "\n";
    known_[n.output(0)] = k;
  }

  void node(const onnx::NodeProto &n) {
    if (!n.domain().empty() && n.domain() != "ai.onnx") {
      fail(n, "domain '" + n.domain() + "' is not supported");
      return;
    }
    if (n.output_size() < 1) {
      fail(n, "has no output");
      return;
    }
    static const std::map<std::string, std::string> unary = {
        {"Relu", "relu"}, {"Sigmoid", "sigmoid"}, {"Tanh", "tanh"}, {"Exp", "exp"},
        {"Log", "log"},   {"Sqrt", "sqrt"},       {"Neg", "neg"},   {"Abs", "abs"},
        {"Erf", "erf"},   {"Sin", "sin"},         {"Cos", "cos"},   {"Softplus", "softplus"}};
    static const std::map<std::string, std::string> binary = {
        {"Add", "add"}, {"Sub", "sub"}, {"Mul", "mul"}, {"Div", "div"}, {"Pow", "pow"}};
    const std::string &op = n.op_type();
    std::vector<Known> in;
    if (auto u = unary.find(op); u != unary.end()) {
      if (operands(n, in, 1))
        define(n, u->second + "(" + in[0].name + ")", in[0].shape);
    } else if (auto b = binary.find(op); b != binary.end()) {
      if (!operands(n, in, 2))
        return;
      std::optional<Dims> shape = broadcast(in[0].shape, in[1].shape);
      if (!shape)
        return fail(n, "the operands' shapes do not broadcast");
      define(n, b->second + "(" + tensorName(in[0]) + ", " + tensorName(in[1]) + ")", *shape);
    } else if (op == "Identity" || op == "Dropout") {
      if (operands(n, in, 1))
        known_[n.output(0)] = in[0]; // inference: the identity
    } else if (op == "Constant") {
      constant(n);
    } else if (op == "MatMul") {
      matMul(n);
    } else if (op == "Gemm") {
      gemm(n);
    } else if (op == "Softmax" || op == "LogSoftmax") {
      softmax(n);
    } else if (op == "Flatten") {
      flatten(n);
    } else if (op == "Reshape") {
      reshape(n);
    } else if (op == "Transpose") {
      transpose(n);
    } else if (op == "Conv") {
      conv(n);
    } else if (op == "MaxPool" || op == "AveragePool") {
      pool(n);
    } else if (op == "LeakyRelu") {
      if (operands(n, in, 1))
        define(n,
               fmt::format("leaky_relu({}, alpha={})", in[0].name,
                           formatNumber(floatAttr(n, "alpha", 0.01f))),
               in[0].shape);
    } else if (op == "Max" || op == "Min") {
      if (!operands(n, in, 1))
        return;
      std::string expr = tensorName(in[0]);
      Dims shape = in[0].shape;
      for (size_t i = 1; i < in.size(); ++i) {
        std::optional<Dims> b2 = broadcast(shape, in[i].shape);
        if (!b2)
          return fail(n, "the operands' shapes do not broadcast");
        shape = *b2;
        expr = (op == "Max" ? "maximum(" : "minimum(") + expr + ", " + tensorName(in[i]) + ")";
      }
      define(n, expr, shape);
    } else if (op == "Where") {
      if (!operands(n, in, 3))
        return;
      std::optional<Dims> ab = broadcast(in[1].shape, in[2].shape);
      std::optional<Dims> shape = ab ? broadcast(in[0].shape, *ab) : std::nullopt;
      if (!shape)
        return fail(n, "the operands' shapes do not broadcast");
      define(n,
             "where(" + tensorName(in[0]) + ", " + tensorName(in[1]) + ", " + tensorName(in[2]) +
                 ")",
             *shape);
    } else if (op == "Clip") {
      clip(n);
    } else if (op == "Gather") {
      gather(n);
    } else if (op == "Concat") {
      concat(n);
    } else if (op == "Unsqueeze" || op == "Squeeze") {
      squeeze(n);
    } else if (op == "ReduceMean" || op == "ReduceSum" || op == "ReduceMax") {
      reduce(n);
    } else if (op == "Slice") {
      slice(n);
    } else if (op == "BatchNormalization") {
      batchNorm(n);
    } else if (op == "LayerNormalization") {
      layerNorm(n);
    } else if (op == "GlobalAveragePool") {
      if (operands(n, in, 1)) {
        if (in[0].shape.size() != 4)
          return fail(n, "needs an input of rank 4");
        define(n, "mean(" + in[0].name + ", axes=[2, 3], keepdims=true)",
               {in[0].shape[0], in[0].shape[1], "1", "1"});
      }
    } else {
      fail(n, "op type '" + op + "' is not supported");
    }
  }

  /// Constant: integers are kept for shape ops (and declared as an i32 const
  /// if read as a tensor), a float scalar becomes an immediate number, other
  /// floats a const with a literal.
  void constant(const onnx::NodeProto &n) {
    const onnx::AttributeProto *value = attribute(n, "value");
    if (!value || !value->has_t())
      return fail(n, "only the 'value' attribute (a tensor) is supported");
    const onnx::TensorProto &t = value->t();
    std::vector<float> f;
    std::vector<int64_t> ints;
    std::string why;
    if (!valuesOf(t, f, ints, why))
      return fail(n, why);
    Dims d;
    for (int64_t s : t.dims())
      d.push_back(std::to_string(s));
    Known k{fresh(n.output(0)), d, t.data_type() != onnx::TensorProto::FLOAT, std::nullopt};
    if (k.integer) {
      k.ints = ints;
    } else if (f.size() == 1 && d.empty()) {
      k.name = formatNumber(f[0]); // an immediate: mul(x, 0.5)
      k.immediate = true;
    } else {
      std::string list;
      for (size_t i = 0; i < f.size(); ++i)
        list += (i ? ", " : "") + formatNumber(f[i]);
      if (d.size() > 1)
        return fail(n, "float constants of rank above 1 are not supported");
      decls_ += "  const " + k.name + ": f32" + dimsText(d) + " = " +
                (d.empty() ? list : "[" + list + "]") + "\n";
    }
    known_[n.output(0)] = k;
  }

  /// An axis attribute (or constant) in [0, rank), or nullopt (and an error).
  std::optional<int64_t> axisIn(const onnx::NodeProto &n, int64_t axis, size_t rank) {
    auto r = static_cast<int64_t>(rank);
    if (axis < -r || axis >= r) {
      fail(n, fmt::format("axis {} is outside a rank-{} input", axis, rank));
      return std::nullopt;
    }
    return axis < 0 ? axis + r : axis;
  }

  /// A constant operand's integers (input k), or an attribute's before the
  /// opset where it became an input.
  std::optional<std::vector<int64_t>>
  constantInts(const onnx::NodeProto &n, const std::vector<Known> &in, size_t k, const char *attr) {
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
  static std::optional<std::string> scalarOf(const Known &k) {
    if (k.immediate)
      return k.name;
    if (k.ints && k.ints->size() == 1)
      return std::to_string((*k.ints)[0]);
    return std::nullopt;
  }

  void clip(const onnx::NodeProto &n) {
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

  void gather(const onnx::NodeProto &n) {
    std::vector<Known> in;
    if (!operands(n, in, 2))
      return;
    std::optional<int64_t> axis = axisIn(n, intAttr(n, "axis", 0), in[0].shape.size());
    if (!axis)
      return;
    if (in[1].ints) {
      std::optional<int64_t> extent = staticDim(in[0].shape[static_cast<size_t>(*axis)]);
      for (int64_t i : *in[1].ints)
        if (extent && (i < -*extent || i >= *extent))
          return fail(n, fmt::format("index {} is outside the axis of size {}", i, *extent));
    }
    Dims out(in[0].shape.begin(), in[0].shape.begin() + *axis);
    out.insert(out.end(), in[1].shape.begin(), in[1].shape.end());
    out.insert(out.end(), in[0].shape.begin() + *axis + 1, in[0].shape.end());
    define(n, fmt::format("gather({}, {}, axis={})", tensorName(in[0]), tensorName(in[1]), *axis),
           out);
  }

  void concat(const onnx::NodeProto &n) {
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
  void squeeze(const onnx::NodeProto &n) {
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
    if (in[0].ints) { // folded: a constant of new dims
      Known k = in[0];
      k.shape = out;
      known_[n.output(0)] = k;
      return;
    }
    define(n, "reshape(" + in[0].name + ", shape=" + dimsText(out) + ")", out);
  }

  void reduce(const onnx::NodeProto &n) {
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
    define(n,
           fmt::format("{}({}, axes=[{}], keepdims={})", names.at(n.op_type()), in[0].name, list,
                       keep),
           out);
  }

  /// Slice with constant starts, ends, axes and steps: one nnc slice per axis.
  void slice(const onnx::NodeProto &n) {
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
    std::string expr = in[0].name;
    Dims shape = in[0].shape;
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
      expr = fmt::format("slice({}, axis={}, start={}{}, step={})", expr, *axis, (*starts)[k],
                         endText, step);
      shape[static_cast<size_t>(*axis)] = std::to_string(count);
    }
    define(n, expr, shape);
  }

  void batchNorm(const onnx::NodeProto &n) {
    std::vector<Known> in;
    if (!operands(n, in, 5))
      return;
    if (intAttr(n, "training_mode", 0) != 0 || n.output_size() > 1)
      return fail(n, "training_mode=1 (or its extra outputs) is not supported");
    for (size_t k = 3; k < 5; ++k)
      if (!runningStatistics_.count(n.input(static_cast<int>(k))) ||
          !initializers_.count(n.input(static_cast<int>(k))))
        return fail(n, "the running statistics must be initializers");
    // ONNX's momentum weighs the old statistic, torch's (and nnc's) the new.
    define(n,
           fmt::format("batchnorm({}, {}, {}, {}, {}, momentum={}, eps={})", in[0].name, in[1].name,
                       in[2].name, in[3].name, in[4].name,
                       formatNumber(1 - floatAttr(n, "momentum", 0.9f)),
                       formatNumber(floatAttr(n, "epsilon", 1e-5f))),
           in[0].shape);
  }

  void layerNorm(const onnx::NodeProto &n) {
    std::vector<Known> in;
    if (!operands(n, in, 2))
      return;
    if (n.output_size() > 1)
      return fail(n, "the Mean and InvStdDev outputs are not supported yet");
    std::optional<int64_t> axis = axisIn(n, intAttr(n, "axis", -1), in[0].shape.size());
    if (!axis)
      return;
    if (*axis != static_cast<int64_t>(in[0].shape.size()) - 1)
      return fail(n, "only the last axis is supported");
    if (in.size() < 3 || in[2].name.empty())
      return fail(n, "a bias (B) is required");
    define(n,
           fmt::format("layernorm({}, {}, {}, eps={})", in[0].name, in[1].name, in[2].name,
                       formatNumber(floatAttr(n, "epsilon", 1e-5f))),
           in[0].shape);
  }

  void matMul(const onnx::NodeProto &n) {
    std::vector<Known> in;
    if (!operands(n, in, 2))
      return;
    const Dims &a = in[0].shape, &b = in[1].shape;
    if (a.size() < 2 || b.size() < 2)
      return fail(n, "1-D operands are not supported");
    Dims lead(a.begin(), a.end() - 2), leadB(b.begin(), b.end() - 2);
    std::optional<Dims> batch = broadcast(lead, leadB);
    if (!batch)
      return fail(n, "the batch dims do not broadcast");
    Dims out = *batch;
    out.push_back(a[a.size() - 2]);
    out.push_back(b.back());
    define(n, "matmul(" + in[0].name + ", " + in[1].name + ")", out);
  }

  void gemm(const onnx::NodeProto &n) {
    std::vector<Known> in;
    if (!operands(n, in, 2))
      return;
    bool ta = intAttr(n, "transA", 0) != 0, tb = intAttr(n, "transB", 0) != 0;
    float alpha = floatAttr(n, "alpha", 1), beta = floatAttr(n, "beta", 1);
    const Dims &a = in[0].shape, &b = in[1].shape;
    if (a.size() != 2 || b.size() != 2)
      return fail(n, "A and B must have rank 2");
    Dims out = {ta ? a[1] : a[0], tb ? b[0] : b[1]};
    std::string expr = fmt::format("matmul({}, {}, transpose_a={}, transpose_b={})", in[0].name,
                                   in[1].name, ta, tb);
    if (alpha != 1)
      expr = fmt::format("mul({}, {})", expr, alpha);
    if (in.size() > 2 && !in[2].name.empty()) {
      std::string c = beta == 1 ? in[2].name : fmt::format("mul({}, {})", in[2].name, beta);
      expr = fmt::format("add({}, {})", expr, c);
    }
    define(n, expr, out);
  }

  void softmax(const onnx::NodeProto &n) {
    std::vector<Known> in;
    if (!operands(n, in, 1))
      return;
    auto rank = static_cast<int64_t>(in[0].shape.size());
    int64_t axis = intAttr(n, "axis", opset_ >= 13 ? -1 : 1);
    if (axis < 0)
      axis += rank;
    // Before opset 13 the op flattens from `axis` on: the same as nnc's
    // softmax over one axis when that axis is the last.
    if (axis != rank - 1 && opset_ < 13)
      return fail(n, "axis " + std::to_string(axis) +
                         " below the last flattens the input (opset < 13): not supported");
    define(n,
           fmt::format("{}({}, axis={})", n.op_type() == "Softmax" ? "softmax" : "log_softmax",
                       in[0].name, axis),
           in[0].shape);
  }

  /// The product of dims [from, to) when all are static.
  static std::optional<int64_t> product(const Dims &d, size_t from, size_t to) {
    std::vector<int64_t> sizes;
    for (size_t i = from; i < to && i < d.size(); ++i) {
      std::optional<int64_t> s = staticDim(d[i]);
      if (!s)
        return std::nullopt;
      sizes.push_back(*s);
    }
    return elementCount(sizes);
  }

  void flatten(const onnx::NodeProto &n) {
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

  void reshape(const onnx::NodeProto &n) {
    std::vector<Known> in;
    if (!operands(n, in, 2))
      return;
    if (!in[1].ints)
      return fail(n, "the shape is not a constant (an initializer or Constant)");
    if (intAttr(n, "allowzero", 0) != 0)
      return fail(n, "allowzero=1 is not supported");
    const Dims &d = in[0].shape;
    Dims out;
    for (size_t i = 0; i < in[1].ints->size(); ++i) {
      int64_t s = (*in[1].ints)[i];
      out.push_back(s == 0 && i < d.size() ? d[i] : std::to_string(s));
    }
    // -1 stays -1 in the op; its value for later shape reads when static.
    Dims known = out, others;
    for (const std::string &t : out)
      if (t != "-1")
        others.push_back(t);
    std::optional<int64_t> total = product(d, 0, d.size()),
                           rest = product(others, 0, others.size());
    for (std::string &s : known)
      if (s == "-1")
        s = total && rest && *rest ? std::to_string(*total / *rest) : "-1";
    define(n, "reshape(" + in[0].name + ", shape=" + dimsText(out) + ")", known);
  }

  void transpose(const onnx::NodeProto &n) {
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
      out.push_back(d[static_cast<size_t>(p)]);
      list += (list.empty() ? "" : ", ") + std::to_string(p);
    }
    define(n, "transpose(" + in[0].name + ", perm=[" + list + "])", out);
  }

  /// The window attributes of Conv and the pools, as nnc's (stride, padding);
  /// false (and an error) for what nnc's ops do not take.
  bool window(const onnx::NodeProto &n, std::vector<int64_t> &stride, std::vector<int64_t> &pads) {
    stride = intsAttr(n, "strides");
    if (stride.empty())
      stride = {1, 1};
    pads = intsAttr(n, "pads");
    if (pads.empty())
      pads = {0, 0, 0, 0};
    const onnx::AttributeProto *autoPad = attribute(n, "auto_pad");
    if (autoPad && autoPad->s() != "NOTSET" && autoPad->s() != "VALID") {
      fail(n, "auto_pad=" + autoPad->s() + " is not supported");
      return false;
    }
    for (int64_t d : intsAttr(n, "dilations"))
      if (d != 1) {
        fail(n, "dilations other than 1 are not supported");
        return false;
      }
    if (pads.size() != 4 || stride.size() != 2 || pads[0] != pads[2] || pads[1] != pads[3]) {
      fail(n, "only 2-D windows with equal padding on both sides are supported");
      return false;
    }
    for (int64_t v : stride)
      if (v < 1 || v > kMaxExtent) {
        fail(n, "strides must be positive");
        return false;
      }
    for (int64_t v : pads)
      if (v < 0 || v > kMaxExtent) {
        fail(n, "pads must not be negative");
        return false;
      }
    if (intAttr(n, "ceil_mode", 0) != 0) {
      fail(n, "ceil_mode=1 is not supported");
      return false;
    }
    return true;
  }

  std::optional<Dims> windowOutput(const onnx::NodeProto &n, const Dims &x, std::string channels,
                                   std::vector<int64_t> kernel, const std::vector<int64_t> &stride,
                                   const std::vector<int64_t> &pads) {
    std::optional<int64_t> h = staticDim(x[2]), w = staticDim(x[3]);
    if (!h || !w) {
      fail(n, "symbolic image sizes are not supported");
      return std::nullopt;
    }
    if (kernel[0] < 1 || kernel[1] < 1 || kernel[0] > *h + 2 * pads[0] ||
        kernel[1] > *w + 2 * pads[1]) {
      fail(n, "the window does not fit the padded image");
      return std::nullopt;
    }
    return Dims{x[0], std::move(channels),
                std::to_string((*h + 2 * pads[0] - kernel[0]) / stride[0] + 1),
                std::to_string((*w + 2 * pads[1] - kernel[1]) / stride[1] + 1)};
  }

  void conv(const onnx::NodeProto &n) {
    std::vector<Known> in;
    if (!operands(n, in, 2))
      return;
    if (in[0].shape.size() != 4 || in[1].shape.size() != 4)
      return fail(n, "only 2-D convolutions (rank-4 input and weight) are supported");
    if (intAttr(n, "group", 1) != 1)
      return fail(n, "group=" + std::to_string(intAttr(n, "group", 1)) + " is not supported");
    std::vector<int64_t> stride, pads;
    if (!window(n, stride, pads))
      return;
    std::optional<int64_t> kh = staticDim(in[1].shape[2]), kw = staticDim(in[1].shape[3]);
    std::optional<Dims> out = windowOutput(n, in[0].shape, in[1].shape[0],
                                           {kh.value_or(1), kw.value_or(1)}, stride, pads);
    if (!out)
      return;
    std::string bias = in.size() > 2 && !in[2].name.empty() ? ", " + in[2].name : "";
    define(n,
           fmt::format("conv2d({}, {}{}, stride=[{}, {}], padding=[{}, {}])", in[0].name,
                       in[1].name, bias, stride[0], stride[1], pads[0], pads[1]),
           *out);
  }

  void pool(const onnx::NodeProto &n) {
    std::vector<Known> in;
    if (!operands(n, in, 1))
      return;
    if (in[0].shape.size() != 4)
      return fail(n, "only 2-D pooling (a rank-4 input) is supported");
    std::vector<int64_t> kernel = intsAttr(n, "kernel_shape"), stride, pads;
    if (kernel.size() != 2)
      return fail(n, "kernel_shape must have 2 sizes");
    if (!window(n, stride, pads))
      return;
    if (pads[0] || pads[1])
      return fail(n, "padding is not supported for pooling");
    if (n.op_type() == "AveragePool" && intAttr(n, "count_include_pad", 0) != 0)
      return fail(n, "count_include_pad=1 is not supported");
    std::optional<Dims> out = windowOutput(n, in[0].shape, in[0].shape[1], kernel, stride, pads);
    if (!out)
      return;
    define(n,
           fmt::format("{}({}, kernel=[{}, {}], stride=[{}, {}])",
                       n.op_type() == "MaxPool" ? "maxpool2d" : "avgpool2d", in[0].name, kernel[0],
                       kernel[1], stride[0], stride[1]),
           *out);
  }

  const onnx::ModelProto &model_;
  OnnxImportOptions options_;
  int64_t opset_ = 1;
  std::map<std::string, const onnx::TensorProto *> initializers_;
  std::map<std::string, Known> known_;
  std::set<std::string> taken_, declaredConsts_, runningStatistics_;
  std::map<std::string, std::string> dimNames_; ///< dim_param -> its dim's name
  std::vector<std::string> dims_, outputs_, errors_;
  std::string decls_, body_, minimize_;
  NamedTensors weights_;
};

} // namespace

Result<OnnxImport> importOnnxBytes(std::string_view bytes, const std::string &path,
                                   const OnnxImportOptions &options) {
  onnx::ModelProto model;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return Result<OnnxImport>::fail("{}: not an ONNX model (the protobuf does not parse: "
                                    "malformed or truncated)",
                                    path);
  if (!model.has_graph())
    return Result<OnnxImport>::fail("{}: the ONNX model has no graph", path);
  std::string name = options.modelName.empty()
                         ? onnxIdentifier(std::filesystem::path(path).stem().string())
                         : options.modelName;
  Result<OnnxImport> imported = Importer(model, options).run(name);
  if (!imported)
    return Result<OnnxImport>::fail("{}: cannot import:\n{}", path,
                                    imported.diags().list()[0].message);
  return imported;
}

Result<OnnxImport> importOnnx(const std::string &path, const OnnxImportOptions &options) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return Result<OnnxImport>::fail("{}: cannot open the file", path);
  std::ostringstream bytes;
  bytes << file.rdbuf();
  return importOnnxBytes(bytes.str(), path, options);
}

} // namespace nnc
