/// The ONNX importer's inside (frontend/onnx/, behind OnnxImport.h): what it
/// knows of each ONNX value (its nnc name and shape as text dims), and the
/// Importer, whose core (declarations, operands, the op dispatch) is in
/// OnnxImport.cpp and whose converters are in one file per op family
/// (ElementwiseOps, ActivationOps, ShapeOps, ShapeArithmetic, TensorOps,
/// ReduceOps, MatMulOps, NormOps, WindowOps; Operands for their helpers).
#pragma once

#include "frontend/onnx/OnnxImport.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace nnc::onnximport {

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
  /// A small integer tensor's values when some are dim names (shape
  /// arithmetic over a symbolic dim, frontend/onnx/ShapeArithmetic.cpp);
  /// `ints` holds them when all are numbers.
  std::optional<Dims> entries;

  static Known of(std::string name, Dims shape, bool integer) {
    Known k;
    k.name = std::move(name);
    k.shape = std::move(shape);
    k.integer = integer;
    return k;
  }
};

/// A dim that is a product of a symbolic dim and others (PyTorch's batch *
/// heads), written "batch*2": nnc holds it as that many axes, [batch, 2],
/// the same memory (see ShapeArithmetic.cpp).
inline bool isProduct(const std::string &d) { return d.find('*') != std::string::npos; }

inline bool hasProduct(const Dims &d) { return std::any_of(d.begin(), d.end(), isProduct); }

/// The factors of a dim: "batch*2" -> {"batch", "2"}; any other dim itself.
inline Dims factorsOf(const std::string &d) {
  Dims f;
  size_t start = 0;
  for (size_t star; (star = d.find('*', start)) != std::string::npos; start = star + 1)
    f.push_back(d.substr(start, star - start));
  f.push_back(d.substr(start));
  return f;
}

/// The dims as nnc holds them: every product spread into its factors.
inline Dims nncDims(const Dims &d) {
  Dims out;
  for (const std::string &x : d) {
    Dims f = factorsOf(x);
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}

/// The nnc axis where ONNX axis `axis` of `d` starts.
inline size_t nncAxis(const Dims &d, size_t axis) {
  size_t at = 0;
  for (size_t i = 0; i < axis && i < d.size(); ++i)
    at += factorsOf(d[i]).size();
  return at;
}

/// Whether every product dim of `a` and `b` (aligned from the right, as
/// broadcasting does) meets the same product or no dim: nnc broadcasts the
/// factors' axes, which is ONNX's broadcast only then.
inline bool productsAlign(const Dims &a, const Dims &b) {
  for (size_t i = 1; i <= std::min(a.size(), b.size()); ++i) {
    const std::string &x = a[a.size() - i], &y = b[b.size() - i];
    if ((isProduct(x) || isProduct(y)) && x != y)
      return false;
  }
  return true;
}

/// A shape in nnc's text: `[B, 3]` (products spread into their factors).
inline std::string dimsText(const Dims &shape) {
  Dims d = nncDims(shape);
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i)
    s += (i ? ", " : "") + d[i];
  return s + "]";
}

/// The most lists and numbers a literal the importer writes may have.
constexpr int64_t kMaxLiteralParts = int64_t{1} << 24;

/// Whether a literal of `shape` stays within kMaxLiteralParts (a zero-size
/// dim after large ones is that many empty lists).
inline bool literalFits(const std::vector<int64_t> &shape) {
  int64_t parts = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d && parts > kMaxLiteralParts / d))
      return false;
    parts *= d;
    if (d == 0)
      break;
  }
  return true;
}

/// A literal of `shape` (static dims) holding `items` in C order: nested
/// lists, or the one item of a scalar.
inline std::string nestedLiteral(const std::vector<std::string> &items,
                                 const std::vector<int64_t> &shape, size_t axis = 0,
                                 size_t at = 0) {
  if (axis == shape.size())
    return items.at(at);
  size_t inner = 1;
  for (size_t a = axis + 1; a < shape.size(); ++a)
    inner *= static_cast<size_t>(shape[a]);
  std::string s = "[";
  for (int64_t i = 0; i < shape[axis]; ++i)
    s += (i ? ", " : "") +
         nestedLiteral(items, shape, axis + 1, at + static_cast<size_t>(i) * inner);
  return s + "]";
}

inline std::optional<int64_t> staticDim(const std::string &d) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
  if (ec != std::errc() || end != d.data() + d.size())
    return std::nullopt;
  return v;
}

/// The newest ONNX opset the importer knows the semantics of (older ones
/// are read with their own rules where they differ).
constexpr int64_t kNewestOpset = 17;

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
inline std::optional<Dims> broadcast(const Dims &a, const Dims &b) {
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

/// A 2-D window: kernel, strides, padding before and after each spatial
/// axis (what ONNX's pads, auto_pad and ceil_mode come to), output size.
struct Window {
  std::vector<int64_t> kernel, stride, before{0, 0}, after{0, 0}, extent{0, 0}, output{0, 0};
  /// ceil_mode's extra rows and columns at the end (part of `after`).
  std::vector<int64_t> ceilExtra{0, 0};
  bool padded() const { return before != std::vector<int64_t>{0, 0} || after != before; }
  bool symmetric() const { return before == after; }
};

class Importer {
public:
  Importer(const onnx::ModelProto &m, const OnnxImportOptions &o);

  Result<OnnxImport> run(const std::string &name);

private:
  std::string outputName(Known &k);

  /// The loss over `out` and a `labels` input, and the minimize statement.
  void addLoss(const Known &out);

  // ---- names and declarations ----------------------------------------------------

  std::string fresh(const std::string &onnxName);

  /// The dims of an ONNX type: static sizes, named dims, fresh dims for unknown ones.
  std::optional<Dims> dimsOf(const onnx::TypeProto &t);

  static std::optional<std::string> dtypeOf(int32_t t);

  void declareInput(const onnx::ValueInfoProto &v);

  void declareInitializer(const onnx::TensorProto &t);

  // ---- nodes -------------------------------------------------------------------------

  const onnx::AttributeProto *attribute(const onnx::NodeProto &n, const char *name);

  int64_t intAttr(const onnx::NodeProto &n, const char *name, int64_t otherwise);

  float floatAttr(const onnx::NodeProto &n, const char *name, float otherwise);

  std::vector<int64_t> intsAttr(const onnx::NodeProto &n, const char *name);

  /// An error naming the node.
  void fail(const onnx::NodeProto &n, const std::string &what);

  /// A float constant as nnc text: nnc's numbers are finite, so an infinity
  /// becomes the largest finite f32 of its sign (a -inf mask masks the same
  /// through a softmax); NaN is an error at the node being converted.
  std::string number(double v);

  /// The operands as known values; false (and an error) when one is not.
  bool operands(const onnx::NodeProto &n, std::vector<Known> &out, size_t least);

  /// An operand read as a tensor: an integer initializer becomes an i32 const.
  std::string tensorName(Known &k);

  /// Defines the node's first output as `expr` with `shape`.
  void define(const onnx::NodeProto &n, const std::string &expr, Dims shape, bool integer = false);
  /// Defines the node's output k.
  void defineOutput(const onnx::NodeProto &n, int k, const std::string &expr, Dims shape,
                    bool integer);

  void node(const onnx::NodeProto &n);

  /// Constant: integers are kept for shape ops (and declared as an i32 const
  /// if read as a tensor), a float scalar becomes an immediate number, other
  /// floats a const with a literal.
  void constant(const onnx::NodeProto &n);

  /// An axis attribute (or constant) in [0, rank), or nullopt (and an error).
  std::optional<int64_t> axisIn(const onnx::NodeProto &n, int64_t axis, size_t rank);

  /// A constant operand's integers (input k), or an attribute's before the
  /// opset where it became an input.
  std::optional<std::vector<int64_t>>
  constantInts(const onnx::NodeProto &n, const std::vector<Known> &in, size_t k, const char *attr);

  /// The single float of a constant operand, if it is one.
  static std::optional<std::string> scalarOf(const Known &k);

  void clip(const onnx::NodeProto &n);

  void gather(const onnx::NodeProto &n);

  void concat(const onnx::NodeProto &n);

  /// Unsqueeze and Squeeze as a reshape to the new dims.
  void squeeze(const onnx::NodeProto &n);

  void reduce(const onnx::NodeProto &n);

  /// Slice with constant starts, ends, axes and steps: one nnc slice per axis.
  void slice(const onnx::NodeProto &n);

  void batchNorm(const onnx::NodeProto &n);
  void batchNormFormula(const onnx::NodeProto &n, std::vector<Known> &in);
  void batchNormTraining(const onnx::NodeProto &n, std::vector<Known> &in);

  void layerNorm(const onnx::NodeProto &n);

  void matMul(const onnx::NodeProto &n);

  void gemm(const onnx::NodeProto &n);

  void softmax(const onnx::NodeProto &n);

  /// The product of dims [from, to) when all are static.
  static std::optional<int64_t> product(const Dims &d, size_t from, size_t to);

  void flatten(const onnx::NodeProto &n);

  void reshape(const onnx::NodeProto &n);

  void transpose(const onnx::NodeProto &n);

  // ---- frontend/onnx/WindowOps.cpp: Conv and the pools ------------------------------

  /// The window of Conv or a pool over x [N, C, H, W] (static H, W):
  /// strides, the padding at each side (pads, auto_pad, and for ceil_mode
  /// the extra rows and columns at the end), the output size; nullopt (and
  /// an error) for what nnc cannot express (dilations).
  std::optional<Window> window(const onnx::NodeProto &n, const Dims &x,
                               const std::vector<int64_t> &kernel);
  /// x [N, C, H, W] padded: rows and columns read through a gather of
  /// clamped indices, and `fill` where a const mask says padding.
  std::string padded(const onnx::NodeProto &n, const std::string &x, const Window &w,
                     const std::string &fill, const std::string &mode = "constant");
  void pad(const onnx::NodeProto &n);
  void conv(const onnx::NodeProto &n);
  void pool(const onnx::NodeProto &n);

  // ---- shape arithmetic, frontend/onnx/ShapeArithmetic.cpp ---------------------------

  /// The values of an integer tensor the importer knows (numbers or dim names).
  static std::optional<Dims> entriesOf(const Known &k);
  /// Defines the node's first output as an integer tensor of known `entries`.
  void defineEntries(const onnx::NodeProto &n, Dims entries, Dims shape);
  /// Defines the node's first output as known `values` in a new `shape`.
  void defineFolded(const onnx::NodeProto &n, const Known &values, Dims shape);
  /// `shape` (static numbers, one -1) for known values: -1 resolved;
  /// nullopt when it does not hold exactly that many values.
  static std::optional<Dims> staticReshape(const Dims &values, const Dims &shape);
  std::optional<std::vector<int64_t>> staticShapeOperand(const onnx::NodeProto &n, const Known &k);
  /// Integer Add/Sub/Mul/Div of known values, folded; false when not such a node.
  bool foldIntegerArithmetic(const onnx::NodeProto &n, const std::vector<Known> &in);
  void shapeOf(const onnx::NodeProto &n);
  void sizeOf(const onnx::NodeProto &n);
  void constantOfShape(const onnx::NodeProto &n);
  void expand(const onnx::NodeProto &n);
  void range(const onnx::NodeProto &n);
  void cast(const onnx::NodeProto &n);

  // ---- frontend/onnx/TensorOps.cpp ----------------------------------------------------

  void trilu(const onnx::NodeProto &n);
  void argMax(const onnx::NodeProto &n);
  void split(const onnx::NodeProto &n);
  void equal(const onnx::NodeProto &n);
  void compare(const onnx::NodeProto &n);

  // ---- frontend/onnx/ActivationOps.cpp ------------------------------------------------

  /// Elu, Selu, HardSigmoid, HardSwish, Softsign.
  void activation(const onnx::NodeProto &n);
  void prelu(const onnx::NodeProto &n);
  /// Sum and Mean (variadic).
  void variadicSum(const onnx::NodeProto &n);
  /// `op` folded left over the operands (broadcasting): the expression and
  /// its shape; nullopt (and an error) when the shapes do not broadcast.
  std::optional<std::pair<std::string, Dims>> chain(const onnx::NodeProto &n,
                                                    std::vector<Known> &in, const char *op);

  // ---- element-wise converters, frontend/onnx/ElementwiseOps.cpp ----------------------

  void identity(const onnx::NodeProto &n);
  /// Dropout in inference (training_mode absent or false): the identity.
  void dropout(const onnx::NodeProto &n);
  void leakyRelu(const onnx::NodeProto &n);
  void extremum(const onnx::NodeProto &n);
  void where(const onnx::NodeProto &n);
  void globalAveragePool(const onnx::NodeProto &n);

  const onnx::ModelProto &model_;
  const onnx::NodeProto *current_ = nullptr; ///< the node being converted
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

} // namespace nnc::onnximport
