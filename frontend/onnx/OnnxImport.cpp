/// The ONNX importer (frontend/onnx/OnnxImport.h), its core: one pass over the graph's
/// nodes in order (ONNX requires a topological order), keeping for each ONNX
/// value its nnc name and shape (dims as text: numbers or dim names), so
/// that shape-reading ops (Flatten, Reshape) and the convolution's output
/// sizes are written with what nnc's types express.
#include "frontend/onnx/Importer.h"
#include "frontend/onnx/TensorProto.h"
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

namespace onnximport {

Importer::Importer(const onnx::ModelProto &m, const OnnxImportOptions &o) : model_(m), options_(o) {
  for (const auto &op : m.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx")
      opset_ = op.version();
}

Result<OnnxImport> Importer::run(const std::string &name) {
  const onnx::GraphProto &g = model_.graph();
  if (opset_ > kNewestOpset)
    return Result<OnnxImport>::fail("the model's opset {} is newer than {}, the newest nnc's "
                                    "importer knows",
                                    opset_, kNewestOpset);
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
    else if (std::string name = outputName(it->second);
             !std::count(outputs_.begin(), outputs_.end(), name))
      outputs_.push_back(name);
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

/// The name a graph output is returned by: a value; a constant (folded
/// shape arithmetic, a Constant) is declared and copied into one.
std::string Importer::outputName(Known &k) {
  if (hasProduct(k.shape))
    errors_.push_back("graph output '" + k.name +
                      "' has a dim that is a product of a symbolic dim " + dimsText(k.shape) +
                      ": nnc's types cannot return it");
  if (!k.immediate && !k.ints && !k.entries)
    return k.name;
  std::string value = fresh(k.name + "_out");
  if (k.immediate) {
    std::string c = fresh(k.name + "_const");
    decls_ += "  const " + c + ": f32[] = " + k.name + "\n";
    body_ += "  " + value + " = reshape(" + c + ", shape=[])\n";
  } else {
    body_ += "  " + value + " = reshape(" + tensorName(k) + ", shape=" + dimsText(k.shape) + ")\n";
  }
  return value;
}

/// The loss over `out` and a `labels` input, and the minimize statement.
void Importer::addLoss(const Known &out) {
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

std::string Importer::fresh(const std::string &onnxName) {
  std::string base = onnxIdentifier(onnxName), id = base;
  for (int k = 2; taken_.count(id); ++k)
    id = base + "_" + std::to_string(k);
  taken_.insert(id);
  return id;
}

/// The dims of an ONNX type: static sizes, named dims, fresh dims for unknown ones.
std::optional<Dims> Importer::dimsOf(const onnx::TypeProto &t) {
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

std::optional<std::string> Importer::dtypeOf(int32_t t) {
  switch (t) {
  case onnx::TensorProto::FLOAT:
    return "f32";
  case onnx::TensorProto::INT64:
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::BOOL:
    return "i32";
  default:
    return std::nullopt;
  }
}

void Importer::declareInput(const onnx::ValueInfoProto &v) {
  std::optional<std::string> dtype = dtypeOf(v.type().tensor_type().elem_type());
  std::optional<Dims> d = dimsOf(v.type());
  if (!dtype || !d) {
    errors_.push_back(
        fmt::format("graph input '{}': {}", v.name(),
                    !dtype ? "element type " + std::to_string(v.type().tensor_type().elem_type()) +
                                 " is not FLOAT, INT32, INT64 or BOOL"
                           : "has no tensor shape, or a dim that is negative or above 2^40"));
    return;
  }
  Known k = Known::of(fresh(v.name()), *d, *dtype == "i32");
  decls_ += "  input " + k.name + ": " + *dtype + dimsText(k.shape) + "\n";
  known_[v.name()] = k;
}

void Importer::declareInitializer(const onnx::TensorProto &t) {
  std::vector<float> f;
  std::vector<int64_t> ints;
  std::string why;
  if (!decodeTensorProto(t, f, ints, why)) {
    errors_.push_back(fmt::format("initializer '{}': {}", t.name(), why));
    return;
  }
  Dims d;
  std::vector<int64_t> shape(t.dims().begin(), t.dims().end());
  for (int64_t s : shape)
    d.push_back(std::to_string(s));
  Known k = Known::of(fresh(t.name()), d, !ints.empty() || f.empty());
  if (t.data_type() != onnx::TensorProto::FLOAT) {
    // Integers: kept for the shape ops that read them; declared as an i32
    // const when an op reads them as a tensor (constTensor).
    k.integer = true;
    k.ints = ints;
    known_[t.name()] = k;
    return;
  }
  decls_ += fmt::format("  {} {}: f32{} = safetensors(\"{}\", key=\"{}\")\n",
                        runningStatistics_.count(t.name()) ? "state" : "param", k.name, dimsText(d),
                        options_.weightsFile, k.name);
  weights_.emplace_back(k.name, Tensor::f32(shape, f));
  known_[t.name()] = k;
}

// ---- nodes -------------------------------------------------------------------------

const onnx::AttributeProto *Importer::attribute(const onnx::NodeProto &n, const char *name) {
  for (const auto &a : n.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t Importer::intAttr(const onnx::NodeProto &n, const char *name, int64_t otherwise) {
  const onnx::AttributeProto *a = attribute(n, name);
  return a ? a->i() : otherwise;
}

float Importer::floatAttr(const onnx::NodeProto &n, const char *name, float otherwise) {
  const onnx::AttributeProto *a = attribute(n, name);
  return a ? a->f() : otherwise;
}

std::vector<int64_t> Importer::intsAttr(const onnx::NodeProto &n, const char *name) {
  const onnx::AttributeProto *a = attribute(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}

/// An error naming the node.
void Importer::fail(const onnx::NodeProto &n, const std::string &what) {
  errors_.push_back(
      fmt::format("node '{}' ({}, opset {}): {}", n.name(), n.op_type(), opset_, what));
}

std::string Importer::number(double v) {
  if (std::isnan(v)) {
    if (current_)
      fail(*current_, "a NaN constant is not supported");
    else
      errors_.push_back("a NaN constant is not supported");
    return "0";
  }
  constexpr float largest = std::numeric_limits<float>::max();
  if (std::isinf(static_cast<float>(v)))
    v = v < 0 ? -largest : largest;
  return formatNumber(v);
}

/// The operands as known values; false (and an error) when one is not.
bool Importer::operands(const onnx::NodeProto &n, std::vector<Known> &out, size_t least) {
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
std::string Importer::tensorName(Known &k) {
  if (k.entries && !declaredConsts_.count(k.name)) {
    errors_.push_back(fmt::format("integer tensor '{}' holds symbolic dims {} and is read as a "
                                  "tensor: nnc's consts are static",
                                  k.name, dimsText(*k.entries)));
    declaredConsts_.insert(k.name);
  }
  if (k.ints && k.name.size() && !declaredConsts_.count(k.name)) {
    for (int64_t v : *k.ints)
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
        errors_.push_back(fmt::format("integer tensor '{}': {} does not fit in i32", k.name, v));
    std::vector<std::string> items;
    std::vector<int64_t> shape;
    for (int64_t v : *k.ints)
      items.push_back(std::to_string(v));
    for (const std::string &d : k.shape)
      shape.push_back(staticDim(d).value_or(0));
    declaredConsts_.insert(k.name);
    if (!literalFits(shape)) {
      errors_.push_back(fmt::format("integer tensor '{}' of shape {} is too large to write as a "
                                    "literal",
                                    k.name, dimsText(k.shape)));
      return k.name;
    }
    decls_ += "  const " + k.name + ": i32" + dimsText(k.shape) + " = " +
              nestedLiteral(items, shape) + "\n";
  }
  return k.name;
}

/// Defines the node's first output as `expr` with `shape`.
void Importer::define(const onnx::NodeProto &n, const std::string &expr, Dims shape, bool integer) {
  defineOutput(n, 0, expr, std::move(shape), integer);
}

void Importer::defineOutput(const onnx::NodeProto &n, int k, const std::string &expr, Dims shape,
                            bool integer) {
  Known known = Known::of(fresh(n.output(k)), std::move(shape), integer);
  body_ += "  " + known.name + " = " + expr + "\n";
  known_[n.output(k)] = known;
}

void Importer::node(const onnx::NodeProto &n) {
  current_ = &n;
  if (!n.domain().empty() && n.domain() != "ai.onnx")
    return fail(n, "domain '" + n.domain() + "' is not supported");
  if (n.output_size() < 1)
    return fail(n, "has no output");
  static const std::map<std::string, std::string> unary = {
      {"Relu", "relu"}, {"Sigmoid", "sigmoid"}, {"Tanh", "tanh"}, {"Exp", "exp"},
      {"Log", "log"},   {"Sqrt", "sqrt"},       {"Neg", "neg"},   {"Abs", "abs"},
      {"Erf", "erf"},   {"Sin", "sin"},         {"Cos", "cos"},   {"Softplus", "softplus"}};
  static const std::map<std::string, std::string> binary = {
      {"Add", "add"}, {"Sub", "sub"}, {"Mul", "mul"}, {"Div", "div"}, {"Pow", "pow"}};
  // Every other op: its converter (one file per op family, Importer.h).
  using Converter = void (Importer::*)(const onnx::NodeProto &);
  static const std::map<std::string, Converter> converters = {
      {"Identity", &Importer::identity},
      {"Dropout", &Importer::dropout},
      {"Constant", &Importer::constant},
      {"MatMul", &Importer::matMul},
      {"Gemm", &Importer::gemm},
      {"Softmax", &Importer::softmax},
      {"LogSoftmax", &Importer::softmax},
      {"Flatten", &Importer::flatten},
      {"Reshape", &Importer::reshape},
      {"Transpose", &Importer::transpose},
      {"Conv", &Importer::conv},
      {"MaxPool", &Importer::pool},
      {"AveragePool", &Importer::pool},
      {"GlobalAveragePool", &Importer::globalAveragePool},
      {"LeakyRelu", &Importer::leakyRelu},
      {"Max", &Importer::extremum},
      {"Min", &Importer::extremum},
      {"Where", &Importer::where},
      {"Clip", &Importer::clip},
      {"Gather", &Importer::gather},
      {"Concat", &Importer::concat},
      {"Unsqueeze", &Importer::squeeze},
      {"Squeeze", &Importer::squeeze},
      {"ReduceMean", &Importer::reduce},
      {"ReduceSum", &Importer::reduce},
      {"ReduceMax", &Importer::reduce},
      {"Slice", &Importer::slice},
      {"BatchNormalization", &Importer::batchNorm},
      {"LayerNormalization", &Importer::layerNorm},
      {"Shape", &Importer::shapeOf},
      {"Size", &Importer::sizeOf},
      {"ConstantOfShape", &Importer::constantOfShape},
      {"Expand", &Importer::expand},
      {"Range", &Importer::range},
      {"Cast", &Importer::cast},
      {"Trilu", &Importer::trilu},
      {"ArgMax", &Importer::argMax},
      {"Split", &Importer::split},
      {"Equal", &Importer::equal},
      {"Pad", &Importer::pad},
      {"Elu", &Importer::activation},
      {"Selu", &Importer::activation},
      {"HardSigmoid", &Importer::activation},
      {"HardSwish", &Importer::activation},
      {"Softsign", &Importer::activation},
      {"PRelu", &Importer::prelu},
      {"Sum", &Importer::variadicSum},
      {"Mean", &Importer::variadicSum},
      {"Greater", &Importer::compare},
      {"GreaterOrEqual", &Importer::compare},
      {"Less", &Importer::compare},
      {"LessOrEqual", &Importer::compare},
  };
  // Ops whose first operand may be integer (nnc's i32 has add, sub, mul
  // and the ops that move data); every other op needs f32 data.
  static const std::set<std::string> integerData = {"Identity", "Constant",  "Reshape",
                                                    "Flatten",  "Transpose", "Gather",
                                                    "Concat",   "Unsqueeze", "Squeeze",
                                                    "Slice",    "Add",       "Sub",
                                                    "Mul",      "Where",     "Max",
                                                    "Min",      "Shape",     "Size",
                                                    "Cast",     "Expand",    "Split",
                                                    "Equal",    "Div",       "Neg",
                                                    "Range",    "Trilu",     "ConstantOfShape"};
  const std::string &op = n.op_type();
  std::vector<Known> in;
  if (!unary.count(op) && !binary.count(op) && !converters.count(op) && op != "Reciprocal" &&
      op != "Gelu")
    return fail(n, "op type '" + op + "' is not supported");
  if (!integerData.count(op) && n.input_size() > 0) {
    auto first = known_.find(n.input(0));
    if (first != known_.end() && first->second.integer)
      return fail(n, "integer operands are not supported (nnc's i32 has add, sub, mul and the "
                     "data-movement ops)");
  }
  // Dims that are products of a symbolic dim (batch * heads) pass through
  // the ops of attention's reshapes; any other op refuses them.
  static const std::set<std::string> productAware = {
      "Reshape", "Transpose", "MatMul", "Gemm",  "Softmax", "LogSoftmax", "Identity",
      "Dropout", "Shape",     "Cast",   "Where", "Equal",   "Reciprocal"};
  if (!productAware.count(op) && !unary.count(op) && !binary.count(op))
    for (const std::string &input : n.input())
      if (auto k = known_.find(input); k != known_.end() && hasProduct(k->second.shape))
        return fail(n, "input '" + input + "' has a dim that is a product of a symbolic dim " +
                           dimsText(k->second.shape) + ": not supported by this op");
  if (op == "Neg") {
    if (!operands(n, in, 1))
      return;
    if (in[0].ints) { // shape arithmetic: folded
      Dims negated;
      for (int64_t v : *in[0].ints) {
        if (v < -kMaxExtent || v > kMaxExtent)
          return fail(n, "a folded value is out of range");
        negated.push_back(std::to_string(-v));
      }
      return defineEntries(n, negated, in[0].shape);
    }
    // nnc's neg takes f32; an integer is subtracted from 0.
    return define(n, (in[0].integer ? "sub(0, " : "neg(") + tensorName(in[0]) + ")", in[0].shape,
                  in[0].integer);
  }
  if (op == "Reciprocal") {
    if (operands(n, in, 1))
      define(n, "div(1, " + tensorName(in[0]) + ")", in[0].shape);
  } else if (op == "Gelu") { // opset 20; exporters may emit it earlier
    const onnx::AttributeProto *approximate = attribute(n, "approximate");
    if (approximate && approximate->s() != "none")
      return fail(n, "approximate=" + approximate->s() + " is not supported (nnc's gelu is exact)");
    if (operands(n, in, 1))
      define(n, "gelu(" + tensorName(in[0]) + ")", in[0].shape);
  } else if (auto u = unary.find(op); u != unary.end()) {
    if (operands(n, in, 1))
      define(n, u->second + "(" + tensorName(in[0]) + ")", in[0].shape);
  } else if (auto b = binary.find(op); b != binary.end()) {
    if (!operands(n, in, 2) || foldIntegerArithmetic(n, in))
      return;
    if (op == "Pow" && !in[0].integer && in[1].integer) { // ONNX's exponent may be integer
      in[1].name = "cast(" + tensorName(in[1]) + ", to=f32)";
      in[1].ints.reset();
      in[1].integer = false;
    }
    if (in[0].integer != in[1].integer || (in[0].integer && b->second == "div"))
      return fail(n, in[0].integer == in[1].integer
                         ? "integer division is not supported"
                         : "operands of different element types are not supported");
    std::optional<Dims> shape = broadcast(in[0].shape, in[1].shape);
    if (!shape)
      return fail(n, "the operands' shapes do not broadcast");
    if (!productsAlign(in[0].shape, in[1].shape))
      return fail(n, "a dim that is a product of a symbolic dim meets another dim");
    define(n, b->second + "(" + tensorName(in[0]) + ", " + tensorName(in[1]) + ")", *shape);
  } else if (auto c = converters.find(op); c != converters.end()) {
    (this->*(c->second))(n);
  } else {
    fail(n, "op type '" + op + "' is not supported");
  }
}

} // namespace onnximport

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
  Result<OnnxImport> imported = onnximport::Importer(model, options).run(name);
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
